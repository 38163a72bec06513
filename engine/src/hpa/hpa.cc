// The HPA controller for one HPA. Function by function this follows kube-controller-manager's
// pkg/controller/podautoscaler (horizontal.go, replica_calculator.go); the upstream names are
// given in comments so the two can be read side by side.
#include "updraft/hpa.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <utility>
#include <vector>

namespace updraft {

namespace {

constexpr int32_t kMaxInt32 = std::numeric_limits<int32_t>::max();
constexpr int32_t kMinInt32 = std::numeric_limits<int32_t>::min();
constexpr int64_t kMaxInt64 = std::numeric_limits<int64_t>::max();
constexpr double kTwoPow63 = 9223372036854775808.0;

// int32(x) for an x that is already integral (a ceil/trunc result); saturates instead of Go's
// implementation-defined out-of-range conversion.
int32_t toInt32(double x) {
  if (std::isnan(x)) return 0;
  if (x >= static_cast<double>(kMaxInt32)) return kMaxInt32;
  if (x <= static_cast<double>(kMinInt32)) return kMinInt32;
  return static_cast<int32_t>(x);
}

int32_t clampToInt32(int64_t x) {
  return static_cast<int32_t>(std::clamp<int64_t>(x, kMinInt32, kMaxInt32));
}

// The ready pod count for pod-based proposals (getReadyPodsCount); see the header for how "no
// pods returned by selector" is modelled.
constexpr const char* kNoPods = "no pods returned by selector while calculating replica count";

struct MetricOutcome {
  bool ok = false;
  int32_t proposal = 0;
  std::string description;  // metricNameProposal
  HpaMetricStatus status;
  // On failure: the error computeReplicasForMetric returns and the would-be condition.
  Status error;
  HpaCondition condition;
};

MetricOutcome fail(MetricOutcome out, StatusCode code, const std::string& reason,
                   const std::string& conditionError, const std::string& error) {
  out.ok = false;
  out.condition = {false, reason,
                   "the HPA was unable to compute the replica count: " + conditionError};
  out.status.valid = false;
  out.status.error = error;
  switch (code) {
    case StatusCode::kInvalidArgument:
      out.error = Status::invalidArgument(error);
      break;
    case StatusCode::kTimeout:
      out.error = Status::timeout(error);
      break;
    default:
      out.error = Status::unavailable(error);
      break;
  }
  return out;
}

struct MetricContext {
  int32_t specReplicas = 0;
  int32_t statusReplicas = 0;
  int32_t readyReplicas = 0;
  HpaTolerances tolerances;
  const HpaConfig* config = nullptr;
};

// computeStatusForExternalMetric + GetExternalPerPodMetricReplicas / GetExternalMetricReplicas.
MetricOutcome externalMetric(const HpaMetricInput& m, const MetricContext& c) {
  MetricOutcome out;
  const std::string& name = m.spec.metricName;
  out.status.metricName = name;
  out.status.source = m.spec.source;
  out.status.targetType = m.spec.targetType;
  const std::string outer = "failed to get " + name + " external metric value: ";
  const bool average = m.spec.targetType == MetricTargetType::kAverageValue;
  if (!average && m.spec.targetType != MetricTargetType::kValue) {
    const std::string msg =
        "invalid external metric source: neither a value target nor an average value target was "
        "set";
    return fail(std::move(out), StatusCode::kInvalidArgument, "FailedGetExternalMetric", msg,
                outer + msg);
  }
  // The wrapping computeStatusForExternalMetric adds differs between the two target types.
  const std::string middle = average ? "failed to get " + name + " external metric: "
                                     : "failed to get external metric " + name + ": ";
  const int64_t target = toMilli(m.spec.target);
  if (target <= 0) {
    const std::string msg = std::string("invalid external metric target: ") +
                            (average ? "averageValue" : "value") + " must be positive";
    return fail(std::move(out), StatusCode::kInvalidArgument, "FailedGetExternalMetric", msg,
                outer + middle + msg);
  }
  if (!m.value.isOk()) {
    const std::string msg = "unable to get external metric " + c.config->namespace_ + "/" + name +
                            "/" + c.config->externalMetricSelector + ": " +
                            m.value.status().message();
    return fail(std::move(out), m.value.status().code(), "FailedGetExternalMetric", msg,
                outer + middle + msg);
  }
  const int64_t usage = toMilli(*m.value);
  out.description = "external metric " + name + "(" + c.config->externalMetricSelector + ")";

  if (average) {
    // GetExternalPerPodMetricReplicas: uses status.replicas, never looks at pods.
    int32_t replicas = c.statusReplicas;
    if (c.statusReplicas == 0) {
      // Upstream: ratio = usage / (target * 0) = +Inf (NaN for usage 0), never within, so the
      // proposal is ceil(usage / target) (0 for usage 0). The averageValue is left unset.
      replicas = toInt32(std::ceil(static_cast<double>(usage) / static_cast<double>(target)));
    } else {
      const double ratio = static_cast<double>(usage) /
                           (static_cast<double>(target) * static_cast<double>(c.statusReplicas));
      if (!c.tolerances.isWithin(ratio)) {
        replicas = toInt32(std::ceil(static_cast<double>(usage) / static_cast<double>(target)));
      }
      if (static_cast<double>(usage) >= static_cast<double>(kMaxInt64)) {
        out.status.averageValueMilli = kMaxInt64;
      } else {
        const double avg =
            std::ceil(static_cast<double>(usage) / static_cast<double>(c.statusReplicas));
        out.status.averageValueMilli = avg >= kTwoPow63 ? kMaxInt64 : static_cast<int64_t>(avg);
      }
    }
    out.ok = true;
    out.proposal = replicas;
    out.status.valid = true;
    out.status.proposal = replicas;
    return out;
  }

  // GetExternalMetricReplicas -> getUsageRatioReplicaCount.
  const double ratio = static_cast<double>(usage) / static_cast<double>(target);
  int32_t replicas = 0;
  if (c.specReplicas != 0) {
    if (c.tolerances.isWithin(ratio)) {
      replicas = c.specReplicas;
    } else {
      if (c.statusReplicas == 0 && c.readyReplicas == 0) {
        const std::string msg = std::string("unable to calculate ready pods: ") + kNoPods;
        return fail(std::move(out), StatusCode::kUnavailable, "FailedGetExternalMetric", msg,
                    outer + middle + msg);
      }
      const double x = ratio * static_cast<double>(c.readyReplicas);
      replicas = x > static_cast<double>(kMaxInt32) ? kMaxInt32 : toInt32(std::ceil(x));
    }
  } else {
    // Scale from zero: ceil(ratio), no tolerance, no pods.
    replicas = toInt32(std::ceil(ratio));
  }
  out.ok = true;
  out.proposal = replicas;
  out.status.valid = true;
  out.status.proposal = replicas;
  out.status.valueMilli = usage;
  return out;
}

// computeStatusForResourceMetricGeneric + GetResourceReplicas / GetRawResourceReplicas, in the
// simple form only (every pod ready and with a sample).
MetricOutcome resourceMetric(const HpaMetricInput& m, const MetricContext& c) {
  MetricOutcome out;
  const bool container = m.spec.source == MetricSpec::Source::kContainerResource;
  const std::string& resource = m.spec.metricName;
  out.status.metricName = resource;
  out.status.source = m.spec.source;
  out.status.targetType = m.spec.targetType;
  const std::string reason =
      container ? "FailedGetContainerResourceMetric" : "FailedGetResourceMetric";
  const std::string outer =
      container ? "failed to get " + m.spec.containerName + " container metric value: "
                : "failed to get " + resource + " resource metric value: ";
  const bool average = m.spec.targetType == MetricTargetType::kAverageValue;
  if (!average && m.spec.targetType != MetricTargetType::kUtilization) {
    const std::string msg =
        "invalid resource metric source: neither an average utilization target nor an average "
        "value (usage) target was set";
    return fail(std::move(out), StatusCode::kInvalidArgument, reason, msg, outer + msg);
  }
  const std::string middle = average ? "failed to get " + resource + " usage: "
                                     : "failed to get " + resource + " utilization: ";
  auto failInner = [&](StatusCode code, const std::string& msg) {
    return fail(std::move(out), code, reason, middle + msg, outer + middle + msg);
  };
  // Utilization targets are int32 percent upstream: truncate.
  const int32_t targetUtilization =
      std::isnan(m.spec.target) || m.spec.target <= 0
          ? 0
          : toInt32(std::trunc(std::min(m.spec.target, 2147483647.0)));
  if (average ? toMilli(m.spec.target) <= 0 : targetUtilization <= 0) {
    return failInner(StatusCode::kInvalidArgument,
                     std::string("invalid resource metric target: ") +
                         (average ? "averageValue" : "averageUtilization") + " must be positive");
  }
  if (!m.value.isOk()) {
    return failInner(m.value.status().code(), "unable to get metrics for resource " + resource +
                                                  ": " + m.value.status().message());
  }
  if (c.statusReplicas == 0 && c.readyReplicas == 0) {
    return failInner(StatusCode::kUnavailable, kNoPods);
  }
  if (c.readyReplicas == 0) {
    return failInner(StatusCode::kUnavailable,
                     "did not receive metrics for targeted pods (pods might be unready)");
  }

  double ratio = 0;
  if (average) {
    // GetMetricUsageRatio: average usage (milli) / target (milli).
    const int64_t usage = toMilli(*m.value);
    ratio = static_cast<double>(usage) / static_cast<double>(toMilli(m.spec.target));
    out.status.averageValueMilli = usage;
    out.description = resource + " resource";
  } else {
    // GetResourceUtilizationRatio: int32 percent (integer division upstream) / int32 target.
    const double v = *m.value;
    const int32_t utilization =
        std::isnan(v) || v <= 0 ? 0 : toInt32(std::trunc(std::min(v, 2147483647.0)));
    ratio = static_cast<double>(utilization) / static_cast<double>(targetUtilization);
    out.status.averageUtilization = utilization;
    out.description = resource + (container ? " container" : "") +
                      " resource utilization (percentage of request)";
  }
  int32_t replicas = c.specReplicas;
  if (!c.tolerances.isWithin(ratio)) {
    replicas = toInt32(std::ceil(ratio * static_cast<double>(c.readyReplicas)));
  }
  out.ok = true;
  out.proposal = replicas;
  out.status.valid = true;
  out.status.proposal = replicas;
  return out;
}

MetricOutcome computeReplicasForMetric(const HpaMetricInput& m, const MetricContext& c) {
  switch (m.spec.source) {
    case MetricSpec::Source::kExternal:
      return externalMetric(m, c);
    case MetricSpec::Source::kResource:
    case MetricSpec::Source::kContainerResource:
      return resourceMetric(m, c);
  }
  MetricOutcome out;
  const std::string msg = "unknown metric source type";
  return fail(std::move(out), StatusCode::kInvalidArgument, "InvalidMetricSourceType", msg, msg);
}

HpaEffectiveRules applyRules(HpaEffectiveRules defaults,
                             const std::optional<HpaScalingRules>& from) {
  // copyHPAScalingRules: every non-nil field of `from` wins (an explicit empty policy list too).
  if (!from) return defaults;
  if (from->selectPolicy) defaults.selectPolicy = *from->selectPolicy;
  if (from->stabilizationWindowSeconds) {
    defaults.stabilizationWindowSeconds = *from->stabilizationWindowSeconds;
  }
  if (from->policies) defaults.policies = *from->policies;
  return defaults;
}

// getReplicasChangePerPeriod: events strictly newer than now - period.
template <typename Events>
int64_t changeInPeriod(const Events& events, TimePoint now, int32_t periodSeconds) {
  const TimePoint cutoff = now - Seconds(periodSeconds);
  int64_t sum = 0;
  for (const auto& e : events) {
    if (e.time > cutoff) sum += e.change;
  }
  return sum;
}

}  // namespace

int64_t toMilli(double q) {
  if (std::isnan(q) || q <= 0) return 0;
  double m = q * 1000.0;
  if (m >= kTwoPow63) return kMaxInt64;
  const double nearest = std::nearbyint(m);
  m = std::fabs(m - nearest) <= m * 1e-12 ? nearest : std::ceil(m);
  if (m >= kTwoPow63) return kMaxInt64;
  return static_cast<int64_t>(m);
}

std::string kedaMetricSelector(const std::string& scaledObjectName) {
  return "&LabelSelector{MatchLabels:map[string]string{scaledobject.keda.sh/name: " +
         scaledObjectName + ",},MatchExpressions:[]LabelSelectorRequirement{},}";
}

HpaEffectiveRules effectiveScaleUpRules(const HpaBehavior& behavior) {
  HpaEffectiveRules d;
  d.stabilizationWindowSeconds = 0;
  d.selectPolicy = "Max";
  d.policies = {{"Pods", 4, 15}, {"Percent", 100, 15}};
  return applyRules(std::move(d), behavior.scaleUp);
}

HpaEffectiveRules effectiveScaleDownRules(const HpaBehavior& behavior,
                                          Seconds downscaleStabilization) {
  HpaEffectiveRules d;
  // The apiserver leaves the window nil; maybeInitScaleDownStabilizationWindow fills the flag.
  d.stabilizationWindowSeconds = static_cast<int32_t>(downscaleStabilization.count());
  d.selectPolicy = "Max";
  d.policies = {{"Percent", 100, 15}};
  return applyRules(std::move(d), behavior.scaleDown);
}

HpaDecision HpaCalculator::evaluate(const HpaInput& in) {
  undo_ = Undo{};
  const TimePoint now = in.now;
  const int32_t current = in.specReplicas;
  const int32_t minReplicas = in.minReplicas;
  const int32_t maxReplicas = in.maxReplicas;

  HpaDecision d;
  d.currentReplicas = current;
  auto finish = [&](HpaDecision& out) {
    out.ableToScale = ableToScale_;
    out.scalingActive = scalingActive_;
    out.scalingLimited = scalingLimited_;
    out.lastScaleTime = lastScaleTime_;
    return out;
  };

  setAbleToScale(true, "SucceededGetScale",
                 "the HPA controller was able to get the target's current scale");
  // recordInitialRecommendation.
  if (!seeded_) {
    recommendations_.push_back({current, now});
    seeded_ = true;
  }

  std::optional<HpaEffectiveRules> upRules;
  std::optional<HpaEffectiveRules> downRules;
  if (in.behavior != nullptr) {
    upRules = effectiveScaleUpRules(*in.behavior);
    downRules = effectiveScaleDownRules(*in.behavior, config_.downscaleStabilization);
  }

  int32_t desired = 0;
  bool rescale = true;
  std::string reason;
  if (current == 0 && minReplicas != 0) {
    desired = 0;
    rescale = false;
    setScalingActive(false, "ScalingDisabled",
                     "scaling is disabled since the replica count of the target is zero");
  } else if (current > maxReplicas) {
    reason = "Current number of replicas above Spec.MaxReplicas";
    desired = maxReplicas;
  } else if (current < minReplicas) {
    reason = "Current number of replicas below Spec.MinReplicas";
    desired = minReplicas;
  } else {
    // computeReplicasForMetrics.
    MetricContext ctx;
    ctx.specReplicas = current;
    ctx.statusReplicas = in.statusReplicas;
    ctx.readyReplicas = in.readyReplicas;
    ctx.tolerances = {config_.tolerance, config_.tolerance};
    if (in.behavior != nullptr && config_.configurableTolerance) {
      // tolerancesForHpa.
      if (in.behavior->scaleDown && in.behavior->scaleDown->tolerance) {
        ctx.tolerances.down = *in.behavior->scaleDown->tolerance;
      }
      if (in.behavior->scaleUp && in.behavior->scaleUp->tolerance) {
        ctx.tolerances.up = *in.behavior->scaleUp->tolerance;
      }
    }
    ctx.config = &config_;

    if (in.metrics.empty()) {
      d.desiredReplicas = current;
      d.rescale = false;
      d.error = Status::invalidArgument("the HPA has no metrics");
      return finish(d);
    }

    int32_t replicas = 0;
    std::string metric;
    size_t invalid = 0;
    Status firstError;
    HpaCondition firstCondition;
    d.metrics.reserve(in.metrics.size());
    for (const HpaMetricInput& m : in.metrics) {
      MetricOutcome o = computeReplicasForMetric(m, ctx);
      d.metrics.push_back(o.status);
      if (!o.ok) {
        if (invalid == 0) {
          firstError = o.error;
          firstCondition = o.condition;
        }
        ++invalid;
        continue;
      }
      if (replicas == 0 || o.proposal > replicas) {
        replicas = o.proposal;
        metric = o.description;
      }
    }
    Status metricsError;
    if (invalid > 0) {
      const std::string msg = "invalid metrics (" + std::to_string(invalid) + " invalid out of " +
                              std::to_string(in.metrics.size()) +
                              "), first error is: " + firstError.message();
      metricsError = firstError.code() == StatusCode::kInvalidArgument
                         ? Status::invalidArgument(msg)
                         : Status::unavailable(msg);
    }
    if (invalid >= in.metrics.size() || (invalid > 0 && replicas < current)) {
      // All invalid, or a scale-down on partial data: no scaling (FailedComputeMetricsReplicas);
      // status.desiredReplicas keeps its previous value.
      setScalingActive(firstCondition.status, firstCondition.reason, firstCondition.message);
      d.desiredReplicas = current;
      d.rescale = false;
      d.error = metricsError;
      return finish(d);
    }
    setScalingActive(true, "ValidMetricFound",
                     "the HPA was able to successfully calculate a replica count from " + metric);
    d.error = metricsError;
    d.metricReplicas = replicas;
    d.metricName = metric;

    std::string rescaleMetric;
    if (replicas > desired) {
      desired = replicas;
      rescaleMetric = metric;
    }
    if (desired > current) reason = rescaleMetric + " above target";
    if (desired < current) reason = "All metrics below target";

    if (in.behavior == nullptr) {
      // normalizeDesiredReplicas.
      const int32_t stabilized = stabilizeLegacy(now, desired);
      if (stabilized != desired) {
        setAbleToScale(true, "ScaleDownStabilized",
                       "recent recommendations were higher than current one, applying the "
                       "highest recent recommendation");
      } else {
        setAbleToScale(true, "ReadyForNewScale", "recommended size matches current size");
      }
      // convertDesiredReplicasWithRules; calculateScaleUpLimit = max(2 * cur, 4).
      const int32_t scaleUpLimit = toInt32(std::max(2.0 * static_cast<double>(current), 4.0));
      int32_t maxAllowed = 0;
      std::string condition;
      std::string message;
      if (maxReplicas > scaleUpLimit) {
        maxAllowed = scaleUpLimit;
        condition = "ScaleUpLimit";
        message = "the desired replica count is increasing faster than the maximum scale rate";
      } else {
        maxAllowed = maxReplicas;
        condition = "TooManyReplicas";
        message = "the desired replica count is more than the maximum replica count";
      }
      int32_t result = stabilized;
      if (stabilized < minReplicas) {
        result = minReplicas;
        condition = "TooFewReplicas";
        message = "the desired replica count is less than the minimum replica count";
      } else if (stabilized > maxAllowed) {
        result = maxAllowed;
      } else {
        condition = "DesiredWithinRange";
        message = "the desired count is within the acceptable range";
      }
      setScalingLimited(result != stabilized, condition, message);
      desired = result;
    } else {
      // normalizeDesiredReplicasWithBehaviors.
      const int32_t stabilized =
          stabilizeWithBehavior(now, current, desired, upRules->stabilizationWindowSeconds,
                                downRules->stabilizationWindowSeconds);
      if (stabilized != desired) {
        if (desired >= current) {
          setAbleToScale(true, "ScaleUpStabilized",
                         "recent recommendations were lower than current one, applying the "
                         "lowest recent recommendation");
        } else {
          setAbleToScale(true, "ScaleDownStabilized",
                         "recent recommendations were higher than current one, applying the "
                         "highest recent recommendation");
        }
      } else {
        setAbleToScale(true, "ReadyForNewScale", "recommended size matches current size");
      }
      // convertDesiredReplicasWithBehaviorRate.
      int32_t result = stabilized;
      std::string condition = "DesiredWithinRange";
      std::string message = "the desired count is within the acceptable range";
      if (stabilized > current) {
        int64_t limit = limitWithBehavior(now, current, *upRules, true);
        if (limit < current) limit = current;
        int64_t maxAllowed = maxReplicas;
        std::string c;
        std::string msg;
        if (maxAllowed > limit) {
          maxAllowed = limit;
          c = "ScaleUpLimit";
          msg = "the desired replica count is increasing faster than the maximum scale rate";
        } else {
          c = "TooManyReplicas";
          msg = "the desired replica count is more than the maximum replica count";
        }
        if (stabilized > maxAllowed) {
          result = clampToInt32(maxAllowed);
          condition = c;
          message = msg;
        }
      } else if (stabilized < current) {
        int64_t limit = limitWithBehavior(now, current, *downRules, false);
        if (limit > current) limit = current;
        int64_t minAllowed = minReplicas;
        std::string c;
        std::string msg;
        if (minAllowed < limit) {
          minAllowed = limit;
          c = "ScaleDownLimit";
          msg = "the desired replica count is decreasing faster than the maximum scale rate";
        } else {
          c = "TooFewReplicas";
          msg = "the desired replica count is less than the minimum replica count";
        }
        if (stabilized < minAllowed) {
          result = clampToInt32(minAllowed);
          condition = c;
          message = msg;
        }
      }
      setScalingLimited(result != stabilized, condition, message);
      desired = result;
    }
    rescale = desired != current;
  }

  if (rescale) {
    undo_.active = true;
    undo_.lastScaleTime = lastScaleTime_;
    undo_.statusDesired = statusDesired_;
    setAbleToScale(
        true, "SucceededRescale",
        "the HPA controller was able to update the target scale to " + std::to_string(desired));
    if (in.behavior != nullptr) {
      storeScaleEvent(now, desired > current ? *upRules : *downRules, current, desired);
    }
    lastScaleTime_ = now;
  } else {
    desired = current;
  }
  statusDesired_ = desired;
  d.desiredReplicas = desired;
  d.rescale = rescale;
  d.reason = reason;
  return finish(d);
}

void HpaCalculator::reportRescaleFailure(const Status& error) {
  if (!undo_.active) return;
  if (undo_.events) {
    (undo_.up ? scaleUpEvents_ : scaleDownEvents_) = std::move(*undo_.events);
  }
  lastScaleTime_ = undo_.lastScaleTime;
  statusDesired_ = undo_.statusDesired;
  setAbleToScale(false, "FailedUpdateScale",
                 "the HPA controller was unable to update the target scale: " + error.message());
  undo_ = Undo{};
}

void HpaCalculator::reset() {
  HpaConfig config = std::move(config_);
  *this = HpaCalculator(std::move(config));
}

// stabilizeRecommendation: max over the raw proposal and every record not older than the window
// (a record exactly `window` old still counts: upstream drops only Time.Before(cutoff)).
int32_t HpaCalculator::stabilizeLegacy(TimePoint now, int32_t raw) {
  int32_t result = raw;
  const TimePoint cutoff = now - config_.downscaleStabilization;
  std::optional<size_t> oldSlot;
  for (size_t i = 0; i < recommendations_.size(); ++i) {
    const Recommendation& r = recommendations_[i];
    if (r.time < cutoff) {
      oldSlot = i;
    } else if (r.replicas > result) {
      result = r.replicas;
    }
  }
  if (oldSlot) {
    recommendations_[*oldSlot] = {raw, now};
  } else {
    recommendations_.push_back({raw, now});
  }
  return result;
}

// stabilizeRecommendationWithBehaviors: clamp the current count into [upRec, downRec].
int32_t HpaCalculator::stabilizeWithBehavior(TimePoint now, int32_t current, int32_t raw,
                                             int32_t upWindow, int32_t downWindow) {
  int32_t upRec = raw;
  int32_t downRec = raw;
  const TimePoint upCutoff = now - Seconds(upWindow);
  const TimePoint downCutoff = now - Seconds(downWindow);
  std::optional<size_t> oldSlot;
  for (size_t i = 0; i < recommendations_.size(); ++i) {
    const Recommendation& r = recommendations_[i];
    if (r.time > upCutoff) upRec = std::min(r.replicas, upRec);
    if (r.time > downCutoff) downRec = std::max(r.replicas, downRec);
    if (r.time < upCutoff && r.time < downCutoff) oldSlot = i;
  }
  int32_t result = current;
  if (result < upRec) result = upRec;
  if (result > downRec) result = downRec;
  if (oldSlot) {
    recommendations_[*oldSlot] = {raw, now};
  } else {
    recommendations_.push_back({raw, now});
  }
  return result;
}

// calculateScaleUpLimitWithScalingRules / calculateScaleDownLimitWithBehaviors.
int64_t HpaCalculator::limitWithBehavior(TimePoint now, int32_t current,
                                         const HpaEffectiveRules& rules, bool up) const {
  if (rules.selectPolicy == "Disabled") return current;
  const bool minPolicy = rules.selectPolicy == "Min";
  // Up: Max picks the largest limit, Min the smallest. Down: Max (largest change) picks the
  // smallest limit, Min the largest. Anything but Min/Disabled behaves as Max.
  const bool pickLargest = up ? !minPolicy : minPolicy;
  int64_t result = pickLargest ? kMinInt32 : kMaxInt32;
  int64_t proposed = 0;  // upstream reuses the variable: an unknown policy type repeats the last
  for (const HpaScalingPolicy& p : rules.policies) {
    const int64_t added = changeInPeriod(scaleUpEvents_, now, p.periodSeconds);
    const int64_t removed = changeInPeriod(scaleDownEvents_, now, p.periodSeconds);
    const int64_t start = static_cast<int64_t>(current) - added + removed;
    if (p.type == "Pods") {
      proposed = up ? start + p.value : start - p.value;
    } else if (p.type == "Percent") {
      if (up) {
        // Rounded up so that a small Percent still adds a replica.
        proposed = toInt32(
            std::ceil(static_cast<double>(start) * (1 + static_cast<double>(p.value) / 100)));
      } else {
        // int32() conversion: truncation toward zero (may be negative).
        proposed = toInt32(
            std::trunc(static_cast<double>(start) * (1 - static_cast<double>(p.value) / 100)));
      }
    }
    result = pickLargest ? std::max(result, proposed) : std::min(result, proposed);
  }
  return result;
}

// storeScaleEvent (only called with a behavior): reuse the last outdated slot, else append.
void HpaCalculator::storeScaleEvent(TimePoint now, const HpaEffectiveRules& rules, int32_t from,
                                    int32_t to) {
  const bool up = to > from;
  std::vector<ScaleEvent>& events = up ? scaleUpEvents_ : scaleDownEvents_;
  undo_.up = up;
  undo_.events = events;
  int32_t longest = 0;
  for (const HpaScalingPolicy& p : rules.policies) longest = std::max(longest, p.periodSeconds);
  const TimePoint cutoff = now - Seconds(longest);
  std::optional<size_t> oldSlot;
  for (size_t i = 0; i < events.size(); ++i) {
    if (events[i].time < cutoff) events[i].outdated = true;
    if (events[i].outdated) oldSlot = i;
  }
  const ScaleEvent event{up ? to - from : from - to, now, false};
  if (oldSlot) {
    events[*oldSlot] = event;
  } else {
    events.push_back(event);
  }
}

void HpaCalculator::setAbleToScale(bool status, std::string reason, std::string message) {
  ableToScale_ = HpaCondition{status, std::move(reason), std::move(message)};
}

void HpaCalculator::setScalingActive(bool status, std::string reason, std::string message) {
  scalingActive_ = HpaCondition{status, std::move(reason), std::move(message)};
}

void HpaCalculator::setScalingLimited(bool status, std::string reason, std::string message) {
  scalingLimited_ = HpaCondition{status, std::move(reason), std::move(message)};
}

}  // namespace updraft
