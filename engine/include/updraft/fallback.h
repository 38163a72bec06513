// KEDA's fallback (keda-behaviour.md §3.8): per-metric health counting and the replacement value
// that makes the HPA land on the fallback replica count.
#pragma once

#include <string>

#include "updraft/model.h"
#include "updraft/scaled_status.h"
#include "updraft/scaler.h"

namespace updraft {

// spec.fallback set with failureThreshold >= 0 and replicas >= 0, and, when scalingModifiers are
// used, a positive *integer* modifiers target (QUIRK: "2.5" silently disables fallback).
bool hasValidFallback(const ScaledObject& object);

// Records one fetch of `metricName` in status.health. Returns true when fallback now applies to
// that metric (numberOfFailures > failureThreshold). No-op (false) without a valid fallback.
bool recordMetricFetch(const ScaledObject& object, ScalableStatus& status,
                       const std::string& metricName, bool succeeded);

// The replica count R chosen by fallback.behavior given the target's current replicas.
int32_t fallbackReplicas(const Fallback& fallback, int32_t currentReplicas);

// The value served instead of the failing metric: target * R (R divided by ready pods for Value
// targets). Fails when a Value target has no ready pods ("error performing fallback").
Result<double> fallbackMetricValue(const MetricSpec& spec, int32_t replicas, int32_t readyPods);

// Recomputes the Fallback condition from status.health; emits ScaledObjectFallbackActivated /
// Deactivated on transitions.
void updateFallbackCondition(const ScaledObject& object, ScalableStatus& status, EventSink* events,
                             const std::string& objectKey);

}  // namespace updraft
