// ScaledJob maths against worked numbers from keda-behaviour.md §1.5 and §4.
#include "updraft/scaled_job_logic.h"

#include <catch2/catch.hpp>
#include <string>
#include <vector>

namespace updraft {
namespace {

ScaledJob job(std::optional<int32_t> min, std::optional<int32_t> max, std::string strategy = "",
              std::string calculation = "") {
  ScaledJob sj;
  sj.metadata.name = "sj";
  sj.spec.minReplicaCount = min;
  sj.spec.maxReplicaCount = max;
  ScalingStrategy s;
  s.strategy = std::move(strategy);
  s.multipleScalersCalculation = std::move(calculation);
  sj.spec.scalingStrategy = s;
  return sj;
}

ScaledJobTriggerInput trig(double queue, double target, bool active, bool error = false) {
  return {queue, target, active, error};
}

ScaledJobMetrics metrics(bool active, int64_t scaleTo, int64_t maxScale) {
  ScaledJobMetrics m;
  m.isActive = active;
  m.scaleTo = scaleTo;
  m.maxScale = maxScale;
  return m;
}

TEST_CASE("trigger input from metric specs and values", "[scaledjob]") {
  MetricSpec q;
  q.metricName = "s0-queue";
  q.targetType = MetricTargetType::kAverageValue;
  q.target = 5;
  // queueLength sums only the values named like the first spec: 3 + 4 = 7.
  auto in = scaledJobTriggerInput({q}, {{"s0-queue", 3}, {"s0-queue", 4}, {"other", 100}}, true);
  REQUIRE(in);
  CHECK(in->queueLength == 7);
  CHECK(in->targetAverageValue == 5);
  CHECK(in->isActive);
  // A second spec with a Value target counts as 0 in the mean: (5 + 0) / 2 = 2.5.
  MetricSpec v = q;
  v.metricName = "s0-other";
  v.targetType = MetricTargetType::kValue;
  in = scaledJobTriggerInput({q, v}, {{"s0-queue", 10}}, false);
  REQUIRE(in);
  CHECK(in->targetAverageValue == 2.5);
  // cpu/memory (Resource) triggers and triggers without specs are ignored.
  MetricSpec cpu;
  cpu.source = MetricSpec::Source::kResource;
  cpu.metricName = "cpu";
  CHECK_FALSE(scaledJobTriggerInput({cpu}, {}, true));
  CHECK_FALSE(scaledJobTriggerInput({}, {}, true));
}

TEST_CASE("maxValue = min(queue / target, MaxReplicaCount)", "[scaledjob]") {
  CHECK(scaledJobMaxValue(10, 2, 100) == 5);
  CHECK(scaledJobMaxValue(10, 4, 100) == 2.5);  // float, no ceil yet
  CHECK(scaledJobMaxValue(1000, 2, 10) == 10);  // capped
  CHECK(scaledJobMaxValue(10, 0, 100) == 0);    // target 0 (not AverageValue)
}

TEST_CASE("combination by multipleScalersCalculation", "[scaledjob]") {
  // max unset => MaxReplicaCount() = 100 (not 100 - min). Triggers:
  //   A: queue 10, target 2 => maxValue 5 (active)
  //   B: queue 30, target 5 => maxValue 6 (active)
  //   C: queue 50, target 1 (inactive, ignored)
  //   D: queue 100 (error, skipped)
  const std::vector<ScaledJobTriggerInput> t = {trig(10, 2, true), trig(30, 5, true),
                                                trig(50, 1, false), trig(100, 1, true, true)};
  struct Row {
    const char* mode;
    int64_t scaleTo;
    int64_t maxScale;
  };
  const std::vector<Row> rows = {
      {"", 30, 6},      // default max: B has the largest queue
      {"max", 30, 6},   //
      {"min", 10, 5},   // A has the smallest queue
      {"avg", 20, 6},   // (10+30)/2 = 20; (5+6)/2 = 5.5 => ceil 6
      {"sum", 40, 11},  // 10+30; 5+6
      {"bogus", 30, 6},
  };
  for (const Row& r : rows) {
    INFO("mode '" << r.mode << "'");
    ScaledJobMetrics m = combineScaledJobMetrics(job(std::nullopt, std::nullopt, "", r.mode), t);
    CHECK(m.isActive);
    CHECK(m.scaleTo == r.scaleTo);
    CHECK(m.maxScale == r.maxScale);
  }
}

TEST_CASE("max QUIRK: an active trigger with queue 0 is never picked", "[scaledjob]") {
  ScaledJobMetrics m = combineScaledJobMetrics(job(std::nullopt, 10), {trig(0, 1, true)});
  CHECK_FALSE(m.isActive);
  CHECK(m.scaleTo == 0);
  // MinReplicaCount() > 0 forces activity.
  m = combineScaledJobMetrics(job(1, 10), {trig(0, 1, true)});
  CHECK(m.isActive);
  // avg/sum/min do count it as active.
  CHECK(combineScaledJobMetrics(job(std::nullopt, 10, "", "sum"), {trig(0, 1, true)}).isActive);
  CHECK(combineScaledJobMetrics(job(std::nullopt, 10, "", "avg"), {trig(0, 1, true)}).isActive);
  CHECK(combineScaledJobMetrics(job(std::nullopt, 10, "", "min"), {trig(0, 1, true)}).isActive);
}

TEST_CASE("min: a picked 0 is replaced by the next active trigger", "[scaledjob]") {
  ScaledJob sj = job(std::nullopt, 10, "", "min");
  ScaledJobMetrics m = combineScaledJobMetrics(sj, {trig(0, 1, true), trig(7, 1, true)});
  CHECK(m.scaleTo == 7);
  CHECK(m.maxScale == 7);
  // Inactive triggers never count, even with a smaller queue.
  m = combineScaledJobMetrics(sj, {trig(3, 1, true), trig(1, 1, false)});
  CHECK(m.scaleTo == 3);
  // No active trigger at all: inactive.
  m = combineScaledJobMetrics(sj, {trig(3, 1, false)});
  CHECK_FALSE(m.isActive);
  CHECK(m.scaleTo == 0);
}

TEST_CASE("combined maxValue is capped and ceiled; scaleTo is the raw queue", "[scaledjob]") {
  // sum: maxValue 80 + 90 = 170 > MaxReplicaCount 100 => 100.
  ScaledJobMetrics m = combineScaledJobMetrics(job(std::nullopt, std::nullopt, "", "sum"),
                                               {trig(80, 1, true), trig(90, 1, true)});
  CHECK(m.maxScale == 100);
  CHECK(m.scaleTo == 170);
  // queue 2.5, target 2 => maxValue 1.25 => maxScale 2; scaleTo ceil(2.5) = 3.
  m = combineScaledJobMetrics(job(std::nullopt, 10), {trig(2.5, 2, true)});
  CHECK(m.maxValue == 1.25);
  CHECK(m.maxScale == 2);
  CHECK(m.scaleTo == 3);
  // min 2, max 10 => MaxReplicaCount() = 8: queue 100 / target 1 capped at 8.
  m = combineScaledJobMetrics(job(2, 10), {trig(100, 1, true)});
  CHECK(m.maxScale == 8);
}

TEST_CASE("below min: create exactly min - running", "[scaledjob][decision]") {
  ScaledJobDecision d = decideScaledJobScale(job(3, 10), metrics(true, 50, 7), {1, 0});
  CHECK(d.belowMin);
  CHECK(d.jobsToCreate == 2);
  CHECK_FALSE(d.updateLastActiveTime);
  // Even when inactive.
  d = decideScaledJobScale(job(3, 10), metrics(false, 0, 0), {0, 0});
  CHECK(d.jobsToCreate == 3);
}

TEST_CASE("default strategy: effMax = maxScale - (running - min)", "[scaledjob][decision]") {
  // min 0, max 10: maxScale 10, running 4 => effMax 6 => min(scaleTo 30, 6) = 6.
  ScaledJobDecision d = decideScaledJobScale(job(std::nullopt, 10), metrics(true, 30, 10), {4, 2});
  CHECK(d.strategy == "default");
  CHECK(d.effectiveMaxScale == 6);
  CHECK(d.jobsToCreate == 6);
  CHECK(d.updateLastActiveTime);
  // min 2, max 10 (MaxReplicaCount 8): running 5 => r = 3; maxScale 8 => effMax 5; scaleTo 4 => 4.
  d = decideScaledJobScale(job(2, 10), metrics(true, 4, 8), {5, 0});
  CHECK(d.effectiveMaxScale == 5);
  CHECK(d.jobsToCreate == 4);
  // running 12 > maxScale 10 => -2 => 0 => nothing.
  d = decideScaledJobScale(job(std::nullopt, 20), metrics(true, 30, 10), {12, 0});
  CHECK(d.effectiveMaxScale == 0);
  CHECK(d.jobsToCreate == 0);
  CHECK(d.updateLastActiveTime);
  // Inactive: nothing, no lastActiveTime.
  d = decideScaledJobScale(job(std::nullopt, 10), metrics(false, 30, 10), {0, 0});
  CHECK(d.jobsToCreate == 0);
  CHECK_FALSE(d.updateLastActiveTime);
}

TEST_CASE("custom strategy", "[scaledjob][decision]") {
  ScaledJob sj = job(std::nullopt, 10, "custom");
  sj.spec.scalingStrategy->customScalingQueueLengthDeduction = 1;
  sj.spec.scalingStrategy->customScalingRunningJobPercentage = "0.5";
  // effMax = min(10 - 1 - int(5 * 0.5 = 2.5 -> 2), 10) = 7 => min(30, 7) = 7.
  ScaledJobDecision d = decideScaledJobScale(sj, metrics(true, 30, 10), {5, 3});
  CHECK(d.strategy == "custom");
  CHECK(d.effectiveMaxScale == 7);
  CHECK(d.jobsToCreate == 7);
  // Capped by MaxReplicaCount: deduction -20 => 10 + 20 - 0 = 30 => min(30, 10) = 10.
  sj.spec.scalingStrategy->customScalingQueueLengthDeduction = -20;
  d = decideScaledJobScale(sj, metrics(true, 30, 10), {0, 0});
  CHECK(d.effectiveMaxScale == 10);
  // Deduction nil => 0; "1e-1" parses (0.1): effMax = min(10 - 0 - int(5 * 0.1 = 0.5 -> 0), 10)
  // = 10 (default would give 10 - 5 = 5); create min(scaleTo 4, 10) = 4.
  sj.spec.scalingStrategy->customScalingQueueLengthDeduction.reset();
  sj.spec.scalingStrategy->customScalingRunningJobPercentage = "1e-1";
  d = decideScaledJobScale(sj, metrics(true, 4, 10), {5, 0});
  CHECK(d.strategy == "custom");
  CHECK(d.effectiveMaxScale == 10);
  CHECK(d.jobsToCreate == 4);
}

TEST_CASE("custom strategy with an unparsable percentage falls back to default",
          "[scaledjob][decision]") {
  for (const char* pct : {"", "abc", " 0.5", "0.5 ", "50%", "1e400"}) {
    INFO("percentage '" << pct << "'");
    ScaledJob sj = job(std::nullopt, 10, "custom");
    sj.spec.scalingStrategy->customScalingQueueLengthDeduction = 1;
    sj.spec.scalingStrategy->customScalingRunningJobPercentage = pct;
    // default: 10 - 5 = 5 (the deduction is not applied).
    ScaledJobDecision d = decideScaledJobScale(sj, metrics(true, 30, 10), {5, 0});
    CHECK(d.strategy == "default");
    CHECK(d.effectiveMaxScale == 5);
  }
}

TEST_CASE("accurate strategy", "[scaledjob][decision]") {
  ScaledJob sj = job(std::nullopt, 10, "accurate");
  // maxScale 6, r 3, p 1: 6 + 3 - 1 = 8 <= 10 => effMax = 6 - 1 = 5.
  ScaledJobDecision d = decideScaledJobScale(sj, metrics(true, 6, 6), {3, 1});
  CHECK(d.effectiveMaxScale == 5);
  CHECK(d.jobsToCreate == 5);
  // maxScale 9, r 4, p 1: 9 + 4 - 1 = 12 > 10 => effMax = 10 - 4 = 6.
  d = decideScaledJobScale(sj, metrics(true, 9, 9), {4, 1});
  CHECK(d.effectiveMaxScale == 6);
  CHECK(d.jobsToCreate == 6);
  // Exactly at the cap (8 + 3 - 1 = 10, not > 10) => 8 - 1 = 7. (Both branches agree there:
  // maxRC - r == maxScale - p, so `>` vs `>=` is not observable.)
  d = decideScaledJobScale(sj, metrics(true, 8, 8), {3, 1});
  CHECK(d.effectiveMaxScale == 7);
}

TEST_CASE("eager strategy", "[scaledjob][decision]") {
  ScaledJob sj = job(std::nullopt, 10, "eager");
  // effMax = min(10 - 2 - 1, 3) = 3; scaleTo' = MaxReplicaCount 10 => create min(10, 3) = 3,
  // although the queue (scaleTo) is only 1.
  ScaledJobDecision d = decideScaledJobScale(sj, metrics(true, 1, 3), {2, 1});
  CHECK(d.strategy == "eager");
  CHECK(d.scaleTo == 10);
  CHECK(d.effectiveMaxScale == 3);
  CHECK(d.jobsToCreate == 3);
  // Room limited by running and pending: min(10 - 6 - 2, 9) = 2.
  d = decideScaledJobScale(sj, metrics(true, 9, 9), {6, 2});
  CHECK(d.jobsToCreate == 2);
  // Compare default for the first case: effMax 3 - 2 = 1, create min(1, 1) = 1.
  CHECK(decideScaledJobScale(job(std::nullopt, 10), metrics(true, 1, 3), {2, 1}).jobsToCreate == 1);
}

TEST_CASE("strategy names", "[scaledjob]") {
  CHECK(scaledJobStrategyName(job(0, 1)) == "default");
  CHECK(scaledJobStrategyName(job(0, 1, "accurate")) == "accurate");
  CHECK(scaledJobStrategyName(job(0, 1, "eager")) == "eager");
  CHECK(scaledJobStrategyName(job(0, 1, "Eager")) == "default");  // case-sensitive
  ScaledJob none;
  CHECK(scaledJobStrategyName(none) == "default");
}

TEST_CASE("active via min but empty queue creates nothing beyond min", "[scaledjob][decision]") {
  // min 1, running 1: r = 0, maxScale 0 => effMax 0 => no job, but the SJ is active.
  ScaledJob sj = job(1, 10);
  ScaledJobMetrics m = combineScaledJobMetrics(sj, {trig(0, 1, false)});
  CHECK(m.isActive);
  ScaledJobDecision d = decideScaledJobScale(sj, m, {1, 0});
  CHECK_FALSE(d.belowMin);
  CHECK(d.jobsToCreate == 0);
  CHECK(d.updateLastActiveTime);
}

}  // namespace
}  // namespace updraft
