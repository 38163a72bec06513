// ScaledJob scaling maths, reproducing KEDA (keda-behaviour.md §4) exactly:
//   pkg/scaling/scaledjob/metrics.go   CalculateQueueLengthAndMaxValue, IsScaledJobActive
//   pkg/scaling/executor/scale_jobs.go RequestJobScale, getScalingDecision
//   pkg/scaling/executor/scale_jobs_strategies.go (default, custom, accurate, eager)
// Pure functions: no I/O, no clock. The caller queries the scalers, counts Jobs and creates them.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "updraft/model.h"
#include "updraft/scale_target.h"
#include "updraft/scaler.h"

namespace updraft {

// What one trigger reported on this poll.
struct ScaledJobTriggerInput {
  double queueLength = 0;         // Σ values of the scaler's (first) metric
  double targetAverageValue = 0;  // the spec's AverageValue target; 0 when not AverageValue
  bool isActive = false;          // value > activationThreshold
  bool isError = false;           // the query failed: the trigger is skipped
};

// Builds a trigger's input from its metric specs and the values it returned
// (CalculateQueueLengthAndMaxValue + GetTargetAverageValue): queueLength sums the values named
// like the first spec; targetAverageValue is the mean over all specs of their AverageValue target
// (0 for a spec whose target is not AverageValue). nullopt when the trigger has no spec or its
// first spec is not External (cpu/memory are ignored by ScaledJobs).
std::optional<ScaledJobTriggerInput> scaledJobTriggerInput(const std::vector<MetricSpec>& specs,
                                                           const std::vector<MetricValue>& values,
                                                           bool isActive);

// maxValue = target != 0 ? min(queueLength / target, maxReplicaCount) : 0 (float, no ceil).
double scaledJobMaxValue(double queueLength, double targetAverageValue, int64_t maxReplicaCount);

// IsScaledJobActive's result.
struct ScaledJobMetrics {
  bool isActive = false;
  int64_t scaleTo = 0;     // ceil(combined queueLength): the raw metric, not divided by target
  int64_t maxScale = 0;    // ceil(min(combined maxValue, MaxReplicaCount()))
  double queueLength = 0;  // combined, before ceil
  double maxValue = 0;     // combined and capped, before ceil
};

// Combines the triggers by spec.scalingStrategy.multipleScalersCalculation ("" = max). Triggers
// with isError are skipped; only active ones count:
//   max: the active trigger with the largest queueLength, strictly above the running best that
//        starts at 0. QUIRK: an active trigger with queueLength 0 is never picked, so on its own
//        it leaves the ScaledJob inactive.
//   min: the active trigger with the smallest queueLength; a picked 0 is replaced by the next
//        active trigger (upstream's `queueLength == 0 ||` test).
//   avg: means of queueLength and maxValue over the active triggers.
//   sum: sums over the active triggers.
// isActive is forced true when MinReplicaCount() > 0. An unknown mode behaves as max.
ScaledJobMetrics combineScaledJobMetrics(const ScaledJob& sj,
                                         const std::vector<ScaledJobTriggerInput>& triggers);

// The scaling strategy KEDA selects: "default", "custom", "accurate" or "eager". "custom" with an
// unparsable (or non-finite) customScalingRunningJobPercentage falls back to "default"; an unknown
// or empty strategy is "default".
std::string scaledJobStrategyName(const ScaledJob& sj);

struct ScaledJobDecision {
  int64_t jobsToCreate = 0;
  // running < MinReplicaCount(): jobsToCreate = min - running regardless of activity and queue.
  bool belowMin = false;
  std::string strategy;           // as scaledJobStrategyName(); empty when belowMin
  int64_t effectiveMaxScale = 0;  // the strategy's effMax, negative values raised to 0
  int64_t scaleTo = 0;            // the strategy's scaleTo' (eager: MaxReplicaCount())
  // The executor sets status.lastActiveTime = now (active and not belowMin).
  bool updateLastActiveTime = false;
};

// getScalingDecision + RequestJobScale for the given Job counts. With r = running - min and
// p = pending, maxRC = MaxReplicaCount():
//   default:  effMax = maxScale - r
//   custom:   effMax = min(maxScale - deduction - int64(r * percentage), maxRC)  (truncation)
//   accurate: effMax = maxScale + r - p > maxRC ? maxRC - r : maxScale - p
//   eager:    effMax = min(maxRC - r - p, maxScale), scaleTo' = maxRC
// effMax < 0 -> 0; when active and effMax > 0: create min(scaleTo', effMax) (never negative).
ScaledJobDecision decideScaledJobScale(const ScaledJob& sj, const ScaledJobMetrics& metrics,
                                       const JobCounts& counts);

}  // namespace updraft
