// One ScaledObject at run time: its scalers, KEDA's poll (activity, fallback, modifiers, the
// executor) and an HPA-faithful N<->M step for targets the engine scales itself.
//
// The same class runs under `updraft run` (real scalers, ProcessPool, real clock), `updraft
// simulate` (trace-driven scalers, a virtual target, a virtual clock) and the benchmarks, so all
// three exercise identical scaling logic. The caller decides when poll() and hpaSync() run.
// Not thread-safe: the scheduler never runs two calls for one object at once.
#pragma once

#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "updraft/clock.h"
#include "updraft/executor.h"
#include "updraft/formula.h"
#include "updraft/hpa.h"
#include "updraft/metrics_sink.h"
#include "updraft/model.h"
#include "updraft/scale_target.h"
#include "updraft/scaled_status.h"
#include "updraft/scaler.h"
#include "updraft/scaling_policy.h"
#include "updraft/triggers.h"

namespace updraft {

struct ScaledObjectHandlerOptions {
  double tolerance = 0.1;               // --horizontal-pod-autoscaler-tolerance
  Seconds downscaleStabilization{300};  // --horizontal-pod-autoscaler-downscale-stabilization
  EventSink* events = nullptr;          // optional
  MetricsSink* metrics = nullptr;       // optional
  TimePoint createdAt{};                // for initialCooldownPeriod
  // Optional: has the final word on every replica change (scaling_policy.h).
  std::shared_ptr<ScalingPolicy> policy;
  // The status stored so far (the operator's restart, a rebuilt handler): conditions,
  // lastActiveTime (cooldown), originalReplicaCount and health carry on from it.
  std::optional<ScalableStatus> initialStatus;
};

// The latest value of one trigger metric, from the last poll.
struct TriggerReading {
  std::string key;         // trigger name or trigger<i>
  std::string metricName;  // s<i>-...
  std::string type;        // trigger type
  std::optional<double> value;
  double target = 0;
  MetricTargetType targetType = MetricTargetType::kAverageValue;
  bool active = false;
  bool fallback = false;
  std::string error;  // empty when the fetch succeeded

  // A reading not yet polled for `spec` of trigger `t`.
  static TriggerReading of(const BuiltTrigger& t, const MetricSpec& spec);
};

struct PollReport {
  bool paused = false;
  bool isActive = false;
  bool isError = false;
  std::optional<double> composite;  // scalingModifiers value, when used
  ScaleOutcome outcome;
};

struct HpaReport {
  bool evaluated = false;  // false when paused or the target is at 0 (HPA disabled)
  int32_t from = 0;
  int32_t to = 0;
  bool rescaled = false;  // by the HPA's decision or by the policy
  std::string reason;
  std::string policyError;  // the policy failed this sync (the HPA's proposal was used)
};

class ScaledObjectHandler {
 public:
  // `object` must already be valid (validate.h). `triggers` come from buildTriggers().
  static Result<std::unique_ptr<ScaledObjectHandler>> create(ScaledObject object,
                                                             std::vector<BuiltTrigger> triggers,
                                                             ScaleTarget& target,
                                                             ScalerBuilder builder,
                                                             ScaledObjectHandlerOptions options);

  ~ScaledObjectHandler();

  // One KEDA poll: query every trigger, apply fallback and modifiers, run the executor.
  PollReport poll(TimePoint now, TimePoint deadline);

  // One HPA sync: fetch metrics the way the external metrics API serves them (live, or cached
  // with useCachedMetrics), apply fallback/modifiers, compute desired replicas, scale.
  HpaReport hpaSync(TimePoint now, TimePoint deadline);

  // What the external metrics API answers for `metricName` (matched case-insensitively, as KEDA):
  // the same fetch, useCachedMetrics, fallback and scalingModifiers as hpaSync, for that metric
  // only. NotFound when no trigger serves it; Unavailable ("metric:<name> encountered error: ...")
  // when the fetch failed and no fallback applies.
  Result<double> externalMetricValue(const std::string& metricName, TimePoint deadline);

  const ScaledObject& object() const { return object_; }
  const ScalableStatus& status() const { return status_; }
  const std::vector<TriggerReading>& readings() const { return readings_; }
  const std::string& key() const { return key_; }  // "ScaledObject/<ns>/<name>"
  const HpaReport& lastHpa() const { return lastHpa_; }
  // The error of the policy's last call; empty when it succeeded or there is no policy.
  const std::string& policyError() const { return policyError_; }
  // The policy's history (empty without a policy), oldest first.
  const std::deque<PolicySample>& policyHistory() const { return policyHistory_; }

 private:
  struct TriggerState;
  ScaledObjectHandler(ScaledObject object, ScaleTarget& target, ScalerBuilder builder,
                      ScaledObjectHandlerOptions options);

  std::optional<double> evaluateComposite(const std::vector<std::optional<double>>& values,
                                          std::string* error) const;
  void updatePauseCondition(const PauseState& pause);

  // Asks the policy (when there is one) and returns the replicas to apply, clamped; records the
  // decision in the history and the error in policyError_. `values` are the trigger values of this
  // decision, one per reading.
  struct PolicyOutcome {
    bool consulted = false;
    int32_t desired = 0;
    std::string error;
  };
  PolicyOutcome consultPolicy(const char* source, TimePoint now, int32_t current, int32_t proposed,
                              const std::vector<std::optional<double>>& values,
                              const PauseState& pause);
  // Sets the target's replicas and remembers the direction and time of the change.
  Status applyReplicas(int32_t from, int32_t to, TimePoint now);
  // The metrics an HPA sync sees (all of them, or only the external metric `only`), after
  // useCachedMetrics, fallback and scalingModifiers. `policyValues` (optional) receives the
  // values per reading. `current`/`ready` are the target's replicas (for fallback).
  std::vector<HpaMetricInput> collectHpaMetrics(const std::string* only, int32_t current,
                                                int32_t ready, TimePoint deadline,
                                                std::vector<std::optional<double>>* policyValues);
  class PolicyTarget;

  ScaledObject object_;
  ScaleTarget& target_;
  ScalerBuilder builder_;
  ScaledObjectHandlerOptions options_;
  std::string key_;
  std::vector<std::unique_ptr<TriggerState>> triggers_;
  std::optional<Formula> formula_;
  std::vector<std::string> formulaVariables_;
  double activationTarget_ = 0;
  double modifiersTarget_ = 0;
  ScalableStatus status_;
  std::vector<TriggerReading> readings_;
  HpaCalculator hpa_;
  HpaReport lastHpa_;
  std::unique_ptr<ObjectMetrics> objectMetrics_;
  std::deque<PolicySample> policyHistory_;
  std::optional<TimePoint> lastScaleUp_;
  std::optional<TimePoint> lastScaleDown_;
  std::string policyError_;
  std::string policyErrorSaid_;  // the last policy error logged, and when
  std::optional<TimePoint> policyErrorSaidAt_;
  bool policyRecoverySay_ = false;
};

}  // namespace updraft
