#include "updraft/scaled_job_logic.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <string>

namespace updraft {

namespace {

constexpr double kTwoPow63 = 9223372036854775808.0;

// int64(x) for an integral double, saturating where Go's conversion is implementation-defined.
int64_t toInt64(double x) {
  if (std::isnan(x)) return 0;
  if (x >= kTwoPow63) return std::numeric_limits<int64_t>::max();
  if (x < -kTwoPow63) return std::numeric_limits<int64_t>::min();
  return static_cast<int64_t>(x);
}

// ceilToInt64.
int64_t ceilToInt64(double x) { return toInt64(std::ceil(x)); }

// strconv.ParseFloat(s, 64) succeeded with a finite value. No leading/trailing spaces (Go rejects
// them); strtod accepts the same decimal, exponent and hex forms for the cases that matter.
std::optional<double> parseGoFloat(const std::string& s) {
  if (s.empty() || std::isspace(static_cast<unsigned char>(s.front())) ||
      std::isspace(static_cast<unsigned char>(s.back()))) {
    return std::nullopt;
  }
  errno = 0;
  char* end = nullptr;
  const double v = std::strtod(s.c_str(), &end);
  if (end != s.c_str() + s.size() || errno == ERANGE || !std::isfinite(v)) return std::nullopt;
  return v;
}

}  // namespace

std::optional<ScaledJobTriggerInput> scaledJobTriggerInput(const std::vector<MetricSpec>& specs,
                                                           const std::vector<MetricValue>& values,
                                                           bool isActive) {
  if (specs.empty() || specs.front().source != MetricSpec::Source::kExternal) return std::nullopt;
  ScaledJobTriggerInput in;
  in.isActive = isActive;
  for (const MetricValue& v : values) {
    if (v.metricName == specs.front().metricName) in.queueLength += v.value;
  }
  double total = 0;
  for (const MetricSpec& s : specs) {
    total += s.targetType == MetricTargetType::kAverageValue ? s.target : 0.0;
  }
  in.targetAverageValue = total / static_cast<double>(specs.size());
  return in;
}

double scaledJobMaxValue(double queueLength, double targetAverageValue, int64_t maxReplicaCount) {
  if (targetAverageValue == 0) return 0;
  return std::min(queueLength / targetAverageValue, static_cast<double>(maxReplicaCount));
}

ScaledJobMetrics combineScaledJobMetrics(const ScaledJob& sj,
                                         const std::vector<ScaledJobTriggerInput>& triggers) {
  const int64_t maxReplicaCount = sj.maxReplicaCount();
  const std::string mode =
      sj.spec.scalingStrategy ? sj.spec.scalingStrategy->multipleScalersCalculation : "";
  double queueLength = 0;
  double maxValue = 0;
  bool isActive = false;

  auto each = [&](auto&& fn) {
    for (const ScaledJobTriggerInput& t : triggers) {
      if (t.isError) continue;  // getScaledJobMetrics skips a failed scaler
      fn(t, scaledJobMaxValue(t.queueLength, t.targetAverageValue, maxReplicaCount));
    }
  };

  if (mode == "min") {
    each([&](const ScaledJobTriggerInput& t, double mv) {
      if ((queueLength == 0 || t.queueLength < queueLength) && t.isActive) {
        queueLength = t.queueLength;
        maxValue = mv;
        isActive = t.isActive;
      }
    });
  } else if (mode == "avg") {
    double queueSum = 0;
    double maxSum = 0;
    int count = 0;
    each([&](const ScaledJobTriggerInput& t, double mv) {
      if (!t.isActive) return;
      queueSum += t.queueLength;
      maxSum += mv;
      isActive = true;
      ++count;
    });
    if (count != 0) {
      queueLength = queueSum / count;
      maxValue = maxSum / count;
    }
  } else if (mode == "sum") {
    each([&](const ScaledJobTriggerInput& t, double mv) {
      if (!t.isActive) return;
      queueLength += t.queueLength;
      maxValue += mv;
      isActive = true;
    });
  } else {  // "max" and anything else
    each([&](const ScaledJobTriggerInput& t, double mv) {
      if (t.queueLength > queueLength && t.isActive) {
        queueLength = t.queueLength;
        maxValue = mv;
        isActive = t.isActive;
      }
    });
  }

  if (sj.minReplicaCount() > 0) isActive = true;
  maxValue = std::min(static_cast<double>(maxReplicaCount), maxValue);
  ScaledJobMetrics out;
  out.isActive = isActive;
  out.queueLength = queueLength;
  out.maxValue = maxValue;
  out.scaleTo = ceilToInt64(queueLength);
  out.maxScale = ceilToInt64(maxValue);
  return out;
}

std::string scaledJobStrategyName(const ScaledJob& sj) {
  if (!sj.spec.scalingStrategy) return "default";
  const ScalingStrategy& s = *sj.spec.scalingStrategy;
  if (s.strategy == "custom") {
    return parseGoFloat(s.customScalingRunningJobPercentage) ? "custom" : "default";
  }
  if (s.strategy == "accurate" || s.strategy == "eager") return s.strategy;
  return "default";
}

ScaledJobDecision decideScaledJobScale(const ScaledJob& sj, const ScaledJobMetrics& metrics,
                                       const JobCounts& counts) {
  ScaledJobDecision d;
  const int64_t minReplicaCount = sj.minReplicaCount();
  const int64_t maxReplicaCount = sj.maxReplicaCount();
  const int64_t running = counts.running;
  const int64_t pending = counts.pending;
  if (running < minReplicaCount) {
    d.belowMin = true;
    d.jobsToCreate = minReplicaCount - running;
    d.effectiveMaxScale = d.jobsToCreate;
    d.scaleTo = d.jobsToCreate;
    return d;
  }

  d.strategy = scaledJobStrategyName(sj);
  const int64_t r = running - minReplicaCount;
  const int64_t maxScale = metrics.maxScale;
  int64_t effMax = 0;
  int64_t scaleTo = metrics.scaleTo;
  if (d.strategy == "custom") {
    const ScalingStrategy& s = *sj.spec.scalingStrategy;
    const double percentage = *parseGoFloat(s.customScalingRunningJobPercentage);
    const int64_t deduction = s.customScalingQueueLengthDeduction.value_or(0);
    // int64(float64(r) * percentage): truncation toward zero.
    const int64_t byRunning = toInt64(std::trunc(static_cast<double>(r) * percentage));
    effMax = std::min(maxScale - deduction - byRunning, maxReplicaCount);
  } else if (d.strategy == "accurate") {
    effMax = maxScale + r - pending > maxReplicaCount ? maxReplicaCount - r : maxScale - pending;
  } else if (d.strategy == "eager") {
    effMax = std::min(maxReplicaCount - r - pending, maxScale);
    scaleTo = maxReplicaCount;
  } else {
    effMax = maxScale - r;
  }
  if (effMax < 0) effMax = 0;
  d.effectiveMaxScale = effMax;
  d.scaleTo = scaleTo;
  if (metrics.isActive) {
    d.updateLastActiveTime = true;
    // createJobs: nothing when effMax <= 0, else min(scaleTo, effMax) (a loop to scaleTo, so a
    // negative scaleTo creates none).
    if (effMax > 0) d.jobsToCreate = std::max<int64_t>(0, std::min(scaleTo, effMax));
  }
  return d;
}

}  // namespace updraft
