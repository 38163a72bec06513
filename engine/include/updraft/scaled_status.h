// The status the engine keeps per ScaledObject / ScaledJob (mirrors KEDA's status fields and
// conditions, keda-behaviour.md §1.2–1.3), and the events it emits (§6.5).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "updraft/clock.h"

namespace updraft {

enum class ConditionStatus { kTrue, kFalse, kUnknown };
const char* conditionStatusName(ConditionStatus s);  // "True" | "False" | "Unknown"

struct Condition {
  ConditionStatus status = ConditionStatus::kUnknown;
  std::string reason;
  std::string message;
};

struct HealthStatus {
  int32_t numberOfFailures = 0;
  bool failing = false;  // "Failing" when true, else "Happy"
};

struct ScalableStatus {
  Condition ready;
  Condition active;
  Condition fallback;
  Condition paused{ConditionStatus::kFalse, "", ""};
  std::optional<TimePoint> lastActiveTime;
  std::optional<int32_t> originalReplicaCount;
  std::optional<int32_t> pausedReplicaCount;
  std::map<std::string, HealthStatus> health;  // external metric name -> health
  std::map<std::string, bool> triggersActivity;
  std::vector<std::string> externalMetricNames;
  std::vector<std::string> resourceMetricNames;
  std::string compositeScalerName;
};

struct Event {
  enum class Type { kNormal, kWarning };
  Type type = Type::kNormal;
  std::string reason;   // KEDA's reason, e.g. "KEDAScaleTargetActivated"
  std::string message;  // KEDA's text
};

// Receives events; implementations log them (run), drop them (simulate) or post Kubernetes Events.
class EventSink {
 public:
  virtual ~EventSink() = default;
  // `object` is "<Kind>/<namespace>/<name>". Thread-safe.
  virtual void emit(const std::string& object, const Event& event) = 0;
};

// KEDA's bool annotation rule: strconv.ParseBool, and a value that fails to parse counts as true.
bool parseKedaBoolAnnotation(const std::string& value);

}  // namespace updraft
