#include "updraft/fallback.h"

#include <algorithm>
#include <charconv>
#include <cmath>

namespace updraft {
namespace {

bool isPositiveInteger(const std::string& s) {
  int64_t v = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  return ec == std::errc() && ptr == s.data() + s.size() && v > 0;
}

}  // namespace

bool hasValidFallback(const ScaledObject& so) {
  if (!so.spec.fallback) return false;
  const Fallback& f = *so.spec.fallback;
  if (f.failureThreshold < 0 || f.replicas < 0) return false;
  if (so.isUsingModifiers() && !isPositiveInteger(so.spec.advanced->scalingModifiers.target)) {
    return false;
  }
  return true;
}

bool recordMetricFetch(const ScaledObject& so, ScalableStatus& status, const std::string& metric,
                       bool succeeded) {
  if (!hasValidFallback(so)) return false;
  HealthStatus& h = status.health[metric];
  if (succeeded) {
    h = HealthStatus{0, false};
    return false;
  }
  h.numberOfFailures++;
  h.failing = true;
  return h.numberOfFailures > so.spec.fallback->failureThreshold;
}

int32_t fallbackReplicas(const Fallback& f, int32_t current) {
  if (f.behavior == "currentReplicas") return current;
  if (f.behavior == "currentReplicasIfHigher") return std::max(current, f.replicas);
  if (f.behavior == "currentReplicasIfLower") return std::min(current, f.replicas);
  return f.replicas;  // static, scalingModifiers and unknown
}

Result<double> fallbackMetricValue(const MetricSpec& spec, int32_t replicas, int32_t readyPods) {
  double r = replicas;
  if (spec.targetType == MetricTargetType::kValue) {
    if (readyPods <= 0) {
      return Status::unavailable("error performing fallback: no ready pods for a Value target");
    }
    r /= readyPods;
  }
  // KEDA: int64(target * 1000 * R) milli-units.
  return std::trunc(spec.target * 1000.0 * r) / 1000.0;
}

void updateFallbackCondition(const ScaledObject& so, ScalableStatus& status, EventSink* events,
                             const std::string& key) {
  bool anyActive = false;
  if (hasValidFallback(so)) {
    for (const auto& [_, h] : status.health) {
      if (h.failing && h.numberOfFailures > so.spec.fallback->failureThreshold) anyActive = true;
    }
  }
  bool wasActive = status.fallback.status == ConditionStatus::kTrue;
  if (anyActive) {
    status.fallback = {ConditionStatus::kTrue, "FallbackExists",
                       "At least one trigger is falling back on this scaled object"};
  } else {
    status.fallback = {ConditionStatus::kFalse, "NoFallbackFound",
                       "No fallbacks are active on this scaled object"};
  }
  if (events && anyActive != wasActive) {
    if (anyActive) {
      events->emit(key, Event{Event::Type::kNormal, "ScaledObjectFallbackActivated",
                              "Fallback activated for ScaledObject"});
    } else if (wasActive) {
      events->emit(key, Event{Event::Type::kNormal, "ScaledObjectFallbackDeactivated",
                              "Fallback deactivated for ScaledObject"});
    }
  }
}

}  // namespace updraft
