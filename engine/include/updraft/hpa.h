// An HPA-faithful replica calculator: the Kubernetes HorizontalPodAutoscaler controller
// (kube-controller-manager, pkg/controller/podautoscaler: horizontal.go + replica_calculator.go)
// for ONE HPA, reproduced bit-for-bit where it matters (hpa-and-kube-api.md §1, §6.1).
//
// HpaCalculator keeps the controller's in-memory state for its HPA (recommendation history,
// scale-up and scale-down event lists, the status conditions and lastScaleTime) across
// evaluations. It is pure: time comes in as HpaInput::now, it never sleeps, reads a clock or
// starts a thread. Not thread-safe (one evaluation at a time, like one HPA key in the workqueue).
//
// What one evaluate() reproduces (reconcileAutoscaler after a successful GET /scale):
//   * seed the recommendation history with {spec.replicas, now} on first sight (§1.1);
//   * spec.replicas == 0 && minReplicas != 0 => scaling disabled (ScalingActive=False);
//     spec.replicas > max => max; spec.replicas < min => min (no metrics, no stabilization);
//   * else one proposal per metric (§1.4), max over valid ones, invalid-metric rules (§1.6), then
//     the legacy normalization (§1.7, behavior == nullptr) or the behavior one (§1.8);
//   * rescale = desired != spec.replicas. The rescale is ASSUMED to succeed (scale event stored,
//     AbleToScale=True/SucceededRescale, lastScaleTime = now); if the caller's PUT /scale then
//     fails it calls reportRescaleFailure() right away, which undoes exactly that bookkeeping.
//
// Arithmetic (§1.10): every metric value and target becomes int64 milli-units with ceil(q*1000)
// (see toMilli()), ratios are float64, proposals use ceil, scale-down Percent policies truncate,
// and the tolerance test is the two-sided (1 - tolDown) <= r <= (1 + tolUp) computed in double, so
// 110/100 with tolerance 0.1 is "within" (§6.1).
//
// Deliberate modelling choices (we have no pods, only counts):
//   * External Value and Resource/ContainerResource proposals use readyReplicas as the ready pod
//     count. "No pods returned by selector" is modelled as statusReplicas == 0 && readyReplicas ==
//     0.
//   * Resource/ContainerResource use only the simple form `within ? cur : ceil(r * ready)`. The
//     missing-pod / unready-pod re-computation of §1.4 is NOT modelled (no per-pod samples); with
//     readyReplicas == 0 (but pods present) the metric is invalid ("did not receive metrics for
//     targeted pods (pods might be unready)"), which is what upstream reports when every pod is
//     unready and none has a sample.
//   * Utilization values are truncated to whole percent (upstream computes them with integer
//     division) and the Utilization target is truncated to an int32 percent.
//   * External AverageValue with statusReplicas == 0: upstream divides by zero (ratio +Inf, or NaN
//     for usage 0) and ends up with ceil(usage / target); we compute that directly, and leave the
//     status averageValue unset instead of Go's overflowed int64(+Inf).
//   * A target that is <= 0 after milli conversion makes its metric invalid (upstream would divide
//     by zero; the apiserver and KEDA reject such targets anyway). A metric value that is negative
//     or NaN is taken as 0 (what Updraft serves to an HPA, scaler.h). Values are capped at
//     INT64_MAX milli, proposals at INT32_MAX.
//   * An empty metric list is reported as an error with no scaling (the apiserver would have
//     defaulted it to CPU 80 %).
//   * Stabilization boundaries follow the upstream code: the legacy window keeps a record exactly
//     `window` old (it drops only records strictly older: Time.Before(cutoff)); the behavior
//     windows and the policy periods keep only records strictly newer (Time.After(cutoff)).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "updraft/clock.h"
#include "updraft/model.h"
#include "updraft/scaler.h"
#include "updraft/status.h"

namespace updraft {

// kube-controller-manager flags (and feature gates) that shape the algorithm.
struct HpaConfig {
  double tolerance = 0.1;               // --horizontal-pod-autoscaler-tolerance
  Seconds downscaleStabilization{300};  // --horizontal-pod-autoscaler-downscale-stabilization
  bool configurableTolerance = true;    // HPAConfigurableTolerance gate (beta, on by default)
  std::string namespace_;               // for error messages ("unable to get external ...")
  // Go's %+v of the External metric selector, used in metric names and errors. "nil" when the HPA
  // has none; kedaMetricSelector() gives the one KEDA generates.
  std::string externalMetricSelector = "nil";
};

// The External metric selector KEDA puts in its HPAs ({scaledobject.keda.sh/name: <name>}),
// printed as Go prints it: "&LabelSelector{MatchLabels:map[string]string{scaledobject.keda.sh/
// name: <name>,},MatchExpressions:[]LabelSelectorRequirement{},}".
std::string kedaMetricSelector(const std::string& scaledObjectName);

// One metric of the HPA and what the metrics API returned for it.
struct HpaMetricInput {
  MetricSpec spec;
  // External: the sum of the items' values. Resource/ContainerResource with a Utilization target:
  // the average utilization in percent over ready pods; with an AverageValue target: the average
  // per-pod usage. An error when the fetch failed or returned no items (the message is the
  // metrics client's, e.g. "no metrics returned from external metrics API").
  Result<double> value = 0.0;
};

struct HpaInput {
  TimePoint now{};
  int32_t specReplicas = 0;    // scale.spec.replicas: the current replica count
  int32_t statusReplicas = 0;  // scale.status.replicas
  int32_t readyReplicas = 0;   // pods matching the selector that are Running and Ready
  int32_t minReplicas = 1;     // spec.minReplicas (the apiserver defaults nil to 1)
  int32_t maxReplicas = 1;
  const HpaBehavior* behavior = nullptr;  // nullptr = the legacy path (§1.7)
  std::vector<HpaMetricInput> metrics;
};

struct HpaCondition {
  bool status = false;  // True/False
  std::string reason;
  std::string message;
};

// One entry of status.currentMetrics (plus the metric's own proposal).
struct HpaMetricStatus {
  std::string metricName;  // from the spec
  MetricSpec::Source source = MetricSpec::Source::kExternal;
  MetricTargetType targetType = MetricTargetType::kAverageValue;
  bool valid = false;                         // false: the metric failed; only `error` is set
  int32_t proposal = 0;                       // this metric's replica proposal
  std::optional<int64_t> valueMilli;          // current.value (Value targets)
  std::optional<int64_t> averageValueMilli;   // current.averageValue (AverageValue targets)
  std::optional<int32_t> averageUtilization;  // current.averageUtilization (Utilization)
  std::string error;                          // when !valid: the per-metric error
};

struct HpaDecision {
  int32_t currentReplicas = 0;  // spec.replicas as given
  // What the target should be set to. Equals currentReplicas when !rescale (upstream then reports
  // status.desiredReplicas = currentReplicas, except after a metrics failure, where the previous
  // status value is kept; see HpaCalculator::statusDesiredReplicas()).
  int32_t desiredReplicas = 0;
  bool rescale = false;
  // The SuccessfulRescale event reason: "<metric> above target", "All metrics below target",
  // "Current number of replicas above Spec.MaxReplicas", "... below Spec.MinReplicas", or "".
  std::string reason;
  // The computeReplicasForMetrics result before normalization (-1: not computed or failed) and
  // the description of the metric that produced it (e.g. "external metric s0-queue(nil)").
  int32_t metricReplicas = -1;
  std::string metricName;
  // The HPA's conditions after this evaluation. Conditions persist across evaluations the way they
  // persist in the HPA status: a branch that does not set one leaves the previous value.
  std::optional<HpaCondition> ableToScale;
  std::optional<HpaCondition> scalingActive;
  std::optional<HpaCondition> scalingLimited;
  std::vector<HpaMetricStatus> metrics;  // status.currentMetrics, one per input metric
  // Non-ok when a metric failed: "invalid metrics (N invalid out of M), first error is: ...".
  // With rescale == false and metricReplicas == -1 the HPA did not scale because of it
  // (FailedComputeMetricsReplicas); otherwise it scaled up on the valid metrics anyway.
  Status error;
  std::optional<TimePoint> lastScaleTime;
  // After reportRescaleFailure(), read ableToScale/lastScaleTime from the HpaCalculator instead:
  // this struct still shows the assumed success.
};

// ---- Building blocks, exposed for tests and for `updraft simulate` explanations ----

// Quantity.MilliValue() of a plain number: ceil(q * 1000) as int64, where a product that is an
// integer up to binary rounding noise (1e-12 relative) counts as that integer, so 1.005 -> 1005
// and not 1006. NaN and negative values give 0; values beyond INT64_MAX milli give INT64_MAX.
int64_t toMilli(double q);

// The tolerance dead band: (1 - down) <= ratio <= (1 + up), in double.
struct HpaTolerances {
  double down = 0.1;
  double up = 0.1;
  bool isWithin(double ratio) const { return (1.0 - down) <= ratio && ratio <= (1.0 + up); }
};

// The per-direction rules after the apiserver's defaulting (§1.8); the scale-down window is
// already resolved (nil -> the KCM flag).
struct HpaEffectiveRules {
  int32_t stabilizationWindowSeconds = 0;
  std::string selectPolicy = "Max";
  std::vector<HpaScalingPolicy> policies;
};
// Defaulting of autoscaling/v2 for a non-nil behavior: scaleUp {window 0, Max, Pods 4/15 s +
// Percent 100/15 s}; scaleDown {window nil -> downscaleStabilization, Max, Percent 100/15 s}.
HpaEffectiveRules effectiveScaleUpRules(const HpaBehavior& behavior);
HpaEffectiveRules effectiveScaleDownRules(const HpaBehavior& behavior,
                                          Seconds downscaleStabilization);

class HpaCalculator {
 public:
  HpaCalculator() = default;
  explicit HpaCalculator(HpaConfig config) : config_(std::move(config)) {}

  // One reconcile of the HPA at input.now. Times must not go backwards between calls.
  HpaDecision evaluate(const HpaInput& input);

  // The caller's PUT /scale of the last evaluate() failed: AbleToScale=False/FailedUpdateScale,
  // the scale event and lastScaleTime recorded by that evaluate() are dropped. The recommendation
  // stays recorded (as upstream). No effect if the last evaluate() did not rescale.
  void reportRescaleFailure(const Status& error);

  // Forgets all state, as when the HPA is deleted or the controller restarts.
  void reset();

  const HpaConfig& config() const { return config_; }
  void setConfig(HpaConfig config) { config_ = std::move(config); }

  // The conditions and lastScaleTime as they stand (same values as the last decision's).
  const std::optional<HpaCondition>& ableToScale() const { return ableToScale_; }
  const std::optional<HpaCondition>& scalingActive() const { return scalingActive_; }
  const std::optional<HpaCondition>& scalingLimited() const { return scalingLimited_; }
  std::optional<TimePoint> lastScaleTime() const { return lastScaleTime_; }
  // status.desiredReplicas as upstream would report it: the decision's desiredReplicas, except
  // that a metrics failure or a failed rescale keeps the previous value (0 before any).
  int32_t statusDesiredReplicas() const { return statusDesired_; }

  // Introspection for tests and debugging: the stored history sizes (bounded by slot reuse).
  size_t recommendationCount() const { return recommendations_.size(); }
  size_t scaleUpEventCount() const { return scaleUpEvents_.size(); }
  size_t scaleDownEventCount() const { return scaleDownEvents_.size(); }

 private:
  struct Recommendation {
    int32_t replicas = 0;
    TimePoint time{};
  };
  struct ScaleEvent {
    int32_t change = 0;  // absolute value
    TimePoint time{};
    bool outdated = false;
  };
  struct Undo {
    bool active = false;
    bool up = false;
    std::optional<std::vector<ScaleEvent>> events;  // the list storeScaleEvent changed, before
    std::optional<TimePoint> lastScaleTime;
    int32_t statusDesired = 0;
  };

  int32_t stabilizeLegacy(TimePoint now, int32_t raw);
  int32_t stabilizeWithBehavior(TimePoint now, int32_t current, int32_t raw, int32_t upWindow,
                                int32_t downWindow);
  int64_t limitWithBehavior(TimePoint now, int32_t current, const HpaEffectiveRules& rules,
                            bool up) const;
  void storeScaleEvent(TimePoint now, const HpaEffectiveRules& rules, int32_t from, int32_t to);
  void setAbleToScale(bool status, std::string reason, std::string message);
  void setScalingActive(bool status, std::string reason, std::string message);
  void setScalingLimited(bool status, std::string reason, std::string message);

  HpaConfig config_;
  bool seeded_ = false;
  std::vector<Recommendation> recommendations_;
  std::vector<ScaleEvent> scaleUpEvents_;
  std::vector<ScaleEvent> scaleDownEvents_;
  std::optional<HpaCondition> ableToScale_;
  std::optional<HpaCondition> scalingActive_;
  std::optional<HpaCondition> scalingLimited_;
  std::optional<TimePoint> lastScaleTime_;
  int32_t statusDesired_ = 0;
  Undo undo_;
};

}  // namespace updraft
