// HpaCalculator against hand-derived numbers. Each expectation says how it follows from
// hpa-and-kube-api.md §1 / §6.1 (and upstream horizontal.go / replica_calculator.go).
#include "updraft/hpa.h"

#include <catch2/catch.hpp>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

namespace updraft {
namespace {

const TimePoint kT0 = TimePoint{} + Seconds(1'000'000);

MetricSpec external(const std::string& name, MetricTargetType type, double target) {
  MetricSpec s;
  s.source = MetricSpec::Source::kExternal;
  s.metricName = name;
  s.targetType = type;
  s.target = target;
  return s;
}

MetricSpec resource(const std::string& name, MetricTargetType type, double target,
                    bool container = false) {
  MetricSpec s;
  s.source = container ? MetricSpec::Source::kContainerResource : MetricSpec::Source::kResource;
  s.metricName = name;
  s.targetType = type;
  s.target = target;
  s.containerName = container ? "app" : "";
  return s;
}

HpaMetricInput avgValue(double value, double target, const std::string& name = "s0-queue") {
  return {external(name, MetricTargetType::kAverageValue, target), value};
}

HpaMetricInput plainValue(double value, double target, const std::string& name = "s0-queue") {
  return {external(name, MetricTargetType::kValue, target), value};
}

HpaMetricInput failed(const std::string& name, const std::string& message) {
  return {external(name, MetricTargetType::kAverageValue, 1), Status::unavailable(message)};
}

// All replica counts equal (spec = status = ready), a typical steady Deployment.
HpaInput steady(TimePoint now, int32_t replicas, std::vector<HpaMetricInput> metrics,
                int32_t min = 1, int32_t max = 100, const HpaBehavior* behavior = nullptr) {
  HpaInput in;
  in.now = now;
  in.specReplicas = replicas;
  in.statusReplicas = replicas;
  in.readyReplicas = replicas;
  in.minReplicas = min;
  in.maxReplicas = max;
  in.behavior = behavior;
  in.metrics = std::move(metrics);
  return in;
}

// A proposal of exactly `n` replicas from an AverageValue metric: usage n, target 1 => ceil(n).
// (With statusReplicas == n it is "within" and also yields n.)
HpaMetricInput proposing(int32_t n) { return avgValue(n, 1); }

HpaConfig config() {
  HpaConfig c;
  c.namespace_ = "default";
  return c;
}

// Evaluates and returns the metric's own proposal (first metric).
int32_t proposalOf(HpaInput in, HpaConfig c = config()) {
  HpaCalculator hpa(std::move(c));
  HpaDecision d = hpa.evaluate(in);
  REQUIRE(d.metrics.size() == in.metrics.size());
  REQUIRE(d.metrics[0].valid);
  return d.metrics[0].proposal;
}

HpaScalingRules rules(std::optional<int32_t> window, std::optional<std::string> select,
                      std::optional<std::vector<HpaScalingPolicy>> policies) {
  HpaScalingRules r;
  r.stabilizationWindowSeconds = window;
  r.selectPolicy = std::move(select);
  r.policies = std::move(policies);
  return r;
}

// ---------------------------------------------------------------------------------------------
// Milli quantization

TEST_CASE("toMilli is ceil(q*1000) without binary noise", "[hpa][milli]") {
  CHECK(toMilli(1.005) == 1005);  // 1.005*1000 = 1004.9999999999999 in double: still 1005
  CHECK(toMilli(0.1) == 100);
  CHECK(toMilli(1.1) == 1100);
  CHECK(toMilli(2.5) == 2500);
  CHECK(toMilli(0.0001) == 1);     // 0.1 milli rounds UP (Quantity.MilliValue)
  CHECK(toMilli(1.0001) == 1001);  // 1000.1 -> 1001
  CHECK(toMilli(0) == 0);
  CHECK(toMilli(-3) == 0);  // negative values are served as 0
  CHECK(toMilli(std::nan("")) == 0);
  CHECK(toMilli(1e30) == std::numeric_limits<int64_t>::max());
  CHECK(toMilli(std::numeric_limits<double>::infinity()) == std::numeric_limits<int64_t>::max());
}

TEST_CASE("targets are quantized before the division", "[hpa][milli]") {
  // target 0.0005 -> MilliValue ceil(0.5) = 1m; usage 0.003 -> 3m; statusRep 1:
  // r = 3 / (1*1) = 3 -> not within -> ceil(3/1) = 3. Unquantized maths would give 6.
  CHECK(proposalOf(steady(kT0, 1, {avgValue(0.003, 0.0005)})) == 3);
}

// ---------------------------------------------------------------------------------------------
// Per-metric proposals

TEST_CASE("tolerance band edges (External AverageValue)", "[hpa][tolerance]") {
  struct Row {
    double usage;
    double target;
    int32_t statusReplicas;
    int32_t expected;
  };
  // r = usage_milli / (target_milli * statusRep); within => statusRep, else ceil(usage/target).
  const std::vector<Row> rows = {
      // r = 440000/400000 = 1.1: the same double as 1.0 + 0.1, so within (§6.1) => 4.
      {440, 100, 4, 4},
      // r = 360000/400000 = 0.9 == 1.0 - 0.1 in double: within => 4.
      {360, 100, 4, 4},
      // usage 11000.001 -> 11000001m, target 10000000m: r = 1.1000001 > 1.1 => ceil(1.1000001) = 2.
      {11000.001, 10000, 1, 2},
      // usage 8999.999 -> 8999999m, target 1000000m * 10: r = 0.8999999 < 0.9 => ceil(8.999999)
      // = 9.
      {8999.999, 1000, 10, 9},
      // r = 1.05: within => 10 (no change although ceil(10.5) would be 11).
      {1050, 100, 10, 10},
      // r = 2: outside => ceil(2000/100) = 20.
      {2000, 100, 10, 20},
      // r = 0.25: outside => ceil(250/100) = 3.
      {250, 100, 10, 3},
  };
  for (const Row& row : rows) {
    INFO("usage " << row.usage << " target " << row.target << " statusRep " << row.statusReplicas);
    HpaInput in = steady(kT0, row.statusReplicas, {avgValue(row.usage, row.target)});
    CHECK(proposalOf(in) == row.expected);
  }
}

TEST_CASE("tolerance band edges (External Value, ready pods)", "[hpa][tolerance]") {
  // Value: r = usage/target; within => spec.replicas, else ceil(r * ready).
  // usage 110, target 100: r = 1.1 => within => 10.
  CHECK(proposalOf(steady(kT0, 10, {plainValue(110, 100)})) == 10);
  // usage 110.00001 -> 110000.01m -> ceil 110001m: r = 1.10001 => ceil(11.0001) = 12.
  CHECK(proposalOf(steady(kT0, 10, {plainValue(110.00001, 100)})) == 12);
  // usage 90: r = 0.9 => within => 10.
  CHECK(proposalOf(steady(kT0, 10, {plainValue(90, 100)})) == 10);
}

TEST_CASE("Value uses ready pods and spec.replicas, AverageValue uses status.replicas",
          "[hpa][proposal]") {
  HpaInput in;
  in.now = kT0;
  in.specReplicas = 2;
  in.statusReplicas = 3;
  in.readyReplicas = 2;
  in.minReplicas = 1;
  in.maxReplicas = 100;
  // AverageValue: r = 1000/(100*3) = 3.33 => ceil(1000/100) = 10; averageValue = ceil(1000000m/3).
  in.metrics = {avgValue(1000, 100)};
  HpaCalculator a(config());
  HpaDecision da = a.evaluate(in);
  CHECK(da.metrics[0].proposal == 10);
  CHECK(da.metrics[0].averageValueMilli == 333334);
  CHECK_FALSE(da.metrics[0].valueMilli);
  // Value: r = 1000/100 = 10 => ceil(10 * ready 2) = 20; current value = usage.
  in.metrics = {plainValue(1000, 100)};
  HpaCalculator v(config());
  HpaDecision dv = v.evaluate(in);
  CHECK(dv.metrics[0].proposal == 20);
  CHECK(dv.metrics[0].valueMilli == 1000000);
  CHECK_FALSE(dv.metrics[0].averageValueMilli);
}

TEST_CASE("unready pods lower a Value proposal (§1.4 example)", "[hpa][proposal]") {
  // 3 replicas, 1 ready, r = 195/100 = 1.95 => ceil(1.95 * 1) = 2: a scale-down proposal.
  HpaInput in = steady(kT0, 3, {plainValue(195, 100)});
  in.readyReplicas = 1;
  HpaCalculator hpa(config());
  HpaDecision d = hpa.evaluate(in);
  CHECK(d.metricReplicas == 2);
  CHECK(d.reason == "All metrics below target");
  // The seeded history {3, now} holds the count on the first sync (legacy stabilization).
  CHECK(d.desiredReplicas == 3);
  CHECK_FALSE(d.rescale);
}

TEST_CASE("scale from zero with minReplicas 0", "[hpa][proposal]") {
  SECTION("Value: ceil(r), no tolerance, no pods") {
    // usage 250, target 100, spec 0: ceil(2.5) = 3; legacy cap max(2*0, 4) = 4 => 3.
    HpaInput in = steady(kT0, 0, {plainValue(250, 100)}, /*min=*/0);
    HpaCalculator hpa(config());
    HpaDecision d = hpa.evaluate(in);
    CHECK(d.metricReplicas == 3);
    CHECK(d.desiredReplicas == 3);
    CHECK(d.rescale);
    CHECK(d.reason == "external metric s0-queue(nil) above target");
    REQUIRE(d.lastScaleTime);
    CHECK(*d.lastScaleTime == kT0);
  }
  SECTION("Value: r = 1.05 is not held by tolerance at zero") {
    // ceil(1.05) = 2 (the tolerance test only applies when spec.replicas != 0).
    CHECK(proposalOf(steady(kT0, 0, {plainValue(105, 100)}, 0)) == 2);
  }
  SECTION("Value: usage 0 at zero stays 0") {
    HpaCalculator hpa(config());
    HpaDecision d = hpa.evaluate(steady(kT0, 0, {plainValue(0, 100)}, 0));
    CHECK(d.metricReplicas == 0);
    CHECK(d.desiredReplicas == 0);
    CHECK_FALSE(d.rescale);
  }
}

TEST_CASE("status.replicas == 0 is special-cased for AverageValue", "[hpa][proposal]") {
  // spec 2 but no pods yet (status 0): upstream's +Inf ratio => ceil(usage/target).
  HpaInput in = steady(kT0, 2, {avgValue(350, 100)});
  in.statusReplicas = 0;
  in.readyReplicas = 0;
  HpaCalculator hpa(config());
  HpaDecision d = hpa.evaluate(in);
  CHECK(d.metrics[0].proposal == 4);  // ceil(3.5)
  CHECK_FALSE(d.metrics[0].averageValueMilli);
  // usage 0: upstream NaN ratio => ceil(0) = 0.
  in.metrics = {avgValue(0, 100)};
  HpaCalculator zero(config());
  CHECK(zero.evaluate(in).metrics[0].proposal == 0);
}

TEST_CASE("External Value with no pods at all is an invalid metric", "[hpa][proposal]") {
  HpaInput in = steady(kT0, 2, {plainValue(500, 100)});
  in.statusReplicas = 0;
  in.readyReplicas = 0;
  HpaCalculator hpa(config());
  HpaDecision d = hpa.evaluate(in);
  CHECK_FALSE(d.rescale);
  CHECK_FALSE(d.metrics[0].valid);
  CHECK(d.error.message() ==
        "invalid metrics (1 invalid out of 1), first error is: failed to get s0-queue external "
        "metric value: failed to get external metric s0-queue: unable to calculate ready pods: no "
        "pods returned by selector while calculating replica count");
}

TEST_CASE("Resource and ContainerResource metrics (simple form)", "[hpa][proposal]") {
  SECTION("Utilization: whole percent, ceil(r * ready)") {
    // 75.9 % -> 75 (integer percent); r = 75/50 = 1.5; ready 4 => ceil(6.0) = 6.
    HpaInput in = steady(kT0, 4, {{resource("cpu", MetricTargetType::kUtilization, 50), 75.9}});
    HpaCalculator hpa(config());
    HpaDecision d = hpa.evaluate(in);
    CHECK(d.metrics[0].proposal == 6);
    CHECK(d.metrics[0].averageUtilization == 75);
    CHECK(d.metricName == "cpu resource utilization (percentage of request)");
  }
  SECTION("Utilization within tolerance") {
    // r = 54/50 = 1.08 => within => spec.replicas.
    CHECK(proposalOf(steady(kT0, 4, {{resource("cpu", MetricTargetType::kUtilization, 50), 54}})) ==
          4);
  }
  SECTION("ContainerResource name") {
    HpaInput in =
        steady(kT0, 2, {{resource("memory", MetricTargetType::kUtilization, 80, true), 160}});
    HpaCalculator hpa(config());
    HpaDecision d = hpa.evaluate(in);
    CHECK(d.metrics[0].proposal == 4);  // r = 2 => ceil(2 * 2)
    CHECK(d.metricName == "memory container resource utilization (percentage of request)");
  }
  SECTION("AverageValue: average usage / target") {
    // 200m / 500m = 0.4; ready 3 => ceil(1.2) = 2.
    HpaInput in = steady(kT0, 3, {{resource("cpu", MetricTargetType::kAverageValue, 0.5), 0.2}});
    HpaCalculator hpa(config());
    HpaDecision d = hpa.evaluate(in);
    CHECK(d.metrics[0].proposal == 2);
    CHECK(d.metrics[0].averageValueMilli == 200);
    CHECK(d.metricName == "cpu resource");
  }
  SECTION("no ready pods => invalid") {
    HpaInput in = steady(kT0, 3, {{resource("cpu", MetricTargetType::kUtilization, 50), 90}});
    in.readyReplicas = 0;
    HpaCalculator hpa(config());
    HpaDecision d = hpa.evaluate(in);
    CHECK_FALSE(d.metrics[0].valid);
    REQUIRE(d.scalingActive);
    CHECK(d.scalingActive->reason == "FailedGetResourceMetric");
    CHECK(d.scalingActive->message ==
          "the HPA was unable to compute the replica count: failed to get cpu utilization: did "
          "not receive metrics for targeted pods (pods might be unready)");
  }
  SECTION("Value target is not valid for a resource") {
    HpaInput in = steady(kT0, 3, {{resource("cpu", MetricTargetType::kValue, 50), 90}});
    HpaCalculator hpa(config());
    HpaDecision d = hpa.evaluate(in);
    CHECK_FALSE(d.metrics[0].valid);
    CHECK(d.error.message().find("neither an average utilization target nor an average value") !=
          std::string::npos);
  }
}

TEST_CASE("External Utilization is rejected like upstream", "[hpa][proposal]") {
  HpaInput in = steady(kT0, 3, {{external("s0-x", MetricTargetType::kUtilization, 50), 90}});
  HpaCalculator hpa(config());
  HpaDecision d = hpa.evaluate(in);
  REQUIRE(d.scalingActive);
  CHECK(d.scalingActive->reason == "FailedGetExternalMetric");
  CHECK(d.scalingActive->message ==
        "the HPA was unable to compute the replica count: invalid external metric source: neither "
        "a value target nor an average value target was set");
}

// ---------------------------------------------------------------------------------------------
// Multiple metrics and invalid metrics (§1.6)

TEST_CASE("multiple metrics: max of the proposals", "[hpa][metrics]") {
  // statusRep 2: proposals ceil(3/1)=3, ceil(7/1)=7, ceil(5/1)=5 => 7 from s1-b.
  HpaInput in =
      steady(kT0, 2, {avgValue(3, 1, "s0-a"), avgValue(7, 1, "s1-b"), avgValue(5, 1, "s2-c")});
  HpaCalculator hpa(config());
  HpaDecision d = hpa.evaluate(in);
  CHECK(d.metricReplicas == 7);
  CHECK(d.metricName == "external metric s1-b(nil)");
  // Legacy cap max(2*2, 4) = 4 < maxReplicas 100 => ScaleUpLimit.
  CHECK(d.desiredReplicas == 4);
  CHECK(d.reason == "external metric s1-b(nil) above target");
  REQUIRE(d.scalingActive);
  CHECK(d.scalingActive->status);
  CHECK(d.scalingActive->reason == "ValidMetricFound");
  CHECK(d.scalingActive->message ==
        "the HPA was able to successfully calculate a replica count from external metric "
        "s1-b(nil)");
  REQUIRE(d.scalingLimited);
  CHECK(d.scalingLimited->status);
  CHECK(d.scalingLimited->reason == "ScaleUpLimit");
}

TEST_CASE("one invalid metric blocks a scale-down", "[hpa][metrics]") {
  HpaCalculator hpa(config());
  // Valid metric proposes ceil(200/100) = 2 < spec 5, the other failed => no scaling at all.
  HpaDecision d =
      hpa.evaluate(steady(kT0, 5, {avgValue(200, 100, "s0-a"), failed("s1-b", "boom")}));
  CHECK_FALSE(d.rescale);
  CHECK(d.desiredReplicas == 5);
  CHECK(d.metricReplicas == -1);
  CHECK(d.error.message() ==
        "invalid metrics (1 invalid out of 2), first error is: failed to get s1-b external metric "
        "value: failed to get s1-b external metric: unable to get external metric "
        "default/s1-b/nil: boom");
  REQUIRE(d.scalingActive);
  CHECK_FALSE(d.scalingActive->status);
  CHECK(d.scalingActive->reason == "FailedGetExternalMetric");
  CHECK(d.scalingActive->message ==
        "the HPA was unable to compute the replica count: unable to get external metric "
        "default/s1-b/nil: boom");
  CHECK(d.metrics[0].valid);
  CHECK(d.metrics[0].proposal == 2);
  CHECK_FALSE(d.metrics[1].valid);
  // No normalization ran: only the seed is in the history.
  CHECK(hpa.recommendationCount() == 1);
}

TEST_CASE("one invalid metric still allows a scale-up", "[hpa][metrics]") {
  HpaCalculator hpa(config());
  // Valid: statusRep 5, r = 800/500 = 1.6 => ceil(8) = 8 >= 5 => scale on the valid one.
  HpaDecision d =
      hpa.evaluate(steady(kT0, 5, {failed("s0-a", "down"), avgValue(800, 100, "s1-b")}));
  CHECK(d.rescale);
  CHECK(d.desiredReplicas == 8);  // legacy cap max(10, 4) = 10
  CHECK_FALSE(d.error.isOk());    // still reported (the reconcile's error)
  REQUIRE(d.scalingActive);
  CHECK(d.scalingActive->status);
  CHECK(d.scalingActive->reason == "ValidMetricFound");
}

TEST_CASE("one invalid metric with an equal proposal proceeds without change", "[hpa][metrics]") {
  HpaCalculator hpa(config());
  HpaDecision d = hpa.evaluate(steady(kT0, 5, {failed("s0-a", "x"), avgValue(5, 1, "s1-b")}));
  CHECK(d.metricReplicas == 5);  // 5 >= spec 5: not a scale-down
  CHECK_FALSE(d.rescale);
  CHECK(d.scalingActive->reason == "ValidMetricFound");
}

TEST_CASE("all metrics invalid: no scaling", "[hpa][metrics]") {
  HpaCalculator hpa(config());
  HpaDecision first = hpa.evaluate(steady(kT0, 3, {proposing(3)}));
  CHECK(hpa.statusDesiredReplicas() == 3);
  HpaDecision d = hpa.evaluate(steady(kT0 + Seconds(15), 3,
                                      {failed("s0-queue",
                                              "no metrics returned from external "
                                              "metrics API")}));
  CHECK_FALSE(d.rescale);
  CHECK(d.desiredReplicas == 3);
  CHECK(d.metricReplicas == -1);
  CHECK(d.error.message().rfind("invalid metrics (1 invalid out of 1), first error is: ", 0) == 0);
  CHECK_FALSE(d.scalingActive->status);
  CHECK(d.scalingActive->reason == "FailedGetExternalMetric");
  // The metrics failure leaves AbleToScale at SucceededGetScale (no normalization ran).
  CHECK(d.ableToScale->reason == "SucceededGetScale");
}

TEST_CASE("kedaMetricSelector names metrics like KEDA's HPAs", "[hpa][metrics]") {
  HpaConfig c = config();
  c.externalMetricSelector = kedaMetricSelector("my-so");
  HpaCalculator hpa(c);
  HpaDecision d = hpa.evaluate(steady(kT0, 1, {avgValue(3, 1, "s0-rabbitmq-queue")}));
  CHECK(d.reason ==
        "external metric s0-rabbitmq-queue(&LabelSelector{MatchLabels:map[string]string{"
        "scaledobject.keda.sh/name: my-so,},MatchExpressions:[]LabelSelectorRequirement{},}) "
        "above target");
}

// ---------------------------------------------------------------------------------------------
// Reconcile branches

TEST_CASE("spec.replicas == 0 with minReplicas != 0 disables scaling", "[hpa][branches]") {
  HpaCalculator hpa(config());
  HpaDecision d = hpa.evaluate(steady(kT0, 0, {proposing(50)}, /*min=*/1));
  CHECK_FALSE(d.rescale);
  CHECK(d.desiredReplicas == 0);
  CHECK(d.metrics.empty());  // metrics are not even computed
  REQUIRE(d.scalingActive);
  CHECK_FALSE(d.scalingActive->status);
  CHECK(d.scalingActive->reason == "ScalingDisabled");
  CHECK(d.scalingActive->message ==
        "scaling is disabled since the replica count of the target is zero");
  CHECK(d.ableToScale->reason == "SucceededGetScale");
}

TEST_CASE("spec.replicas outside [min, max] goes straight to the bound", "[hpa][branches]") {
  SECTION("above max") {
    HpaCalculator hpa(config());
    // The metric would say 50 and the legacy cap would say 24; neither applies.
    HpaDecision d = hpa.evaluate(steady(kT0, 12, {failed("s0-queue", "ignored")}, 1, 10));
    CHECK(d.rescale);
    CHECK(d.desiredReplicas == 10);
    CHECK(d.reason == "Current number of replicas above Spec.MaxReplicas");
    CHECK(d.metrics.empty());
    CHECK_FALSE(d.scalingLimited);  // not touched by this branch
    CHECK(d.ableToScale->reason == "SucceededRescale");
    CHECK(d.ableToScale->message == "the HPA controller was able to update the target scale to 10");
  }
  SECTION("below min, with behavior: stores a scale event, no rate limit") {
    HpaBehavior behavior;  // defaults would allow only +4 per 15 s
    HpaCalculator hpa(config());
    HpaDecision d = hpa.evaluate(steady(kT0, 1, {proposing(1)}, 20, 30, &behavior));
    CHECK(d.desiredReplicas == 20);
    CHECK(d.reason == "Current number of replicas below Spec.MinReplicas");
    CHECK(hpa.scaleUpEventCount() == 1);
    CHECK(hpa.recommendationCount() == 1);  // only the seed: no stabilization ran
  }
}

TEST_CASE("an empty metric list is an error without scaling", "[hpa][branches]") {
  HpaCalculator hpa(config());
  HpaDecision d = hpa.evaluate(steady(kT0, 3, {}));
  CHECK_FALSE(d.rescale);
  CHECK(d.desiredReplicas == 3);
  CHECK(d.error.code() == StatusCode::kInvalidArgument);
}

// ---------------------------------------------------------------------------------------------
// Legacy normalization (§1.7)

TEST_CASE("legacy: scale-down only after the window of higher recommendations", "[hpa][legacy]") {
  HpaCalculator hpa(config());
  // spec 10, metric proposes ceil(200/100) = 2 every 15 s.
  auto at = [&](Duration dt) { return hpa.evaluate(steady(kT0 + dt, 10, {avgValue(200, 100)})); };

  // t0: the seed {10, t0} is inside the window => max(2, 10) = 10.
  HpaDecision d = at(Seconds(0));
  CHECK(d.metricReplicas == 2);
  CHECK(d.desiredReplicas == 10);
  CHECK_FALSE(d.rescale);
  CHECK(d.reason == "All metrics below target");
  CHECK(d.ableToScale->reason == "ScaleDownStabilized");
  CHECK(d.ableToScale->message ==
        "recent recommendations were higher than current one, applying the highest recent "
        "recommendation");
  for (int s = 15; s < 300; s += 15) CHECK(at(Seconds(s)).desiredReplicas == 10);

  // t0+300 s: the seed is exactly `window` old. Upstream drops a record only when it is
  // Before(now - window), so it still counts (boundary inclusive in the legacy path).
  d = at(Seconds(300));
  CHECK(d.desiredReplicas == 10);
  CHECK_FALSE(d.rescale);

  // One nanosecond later the seed (and the first raw 2) are out => max(2, 2...) = 2; the legacy
  // path has no scale-down rate limit: 10 -> 2 at once.
  d = at(Seconds(300) + std::chrono::nanoseconds(1));
  CHECK(d.desiredReplicas == 2);
  CHECK(d.rescale);
  CHECK(d.ableToScale->reason == "SucceededRescale");
  CHECK(d.scalingLimited->reason == "DesiredWithinRange");
  CHECK_FALSE(d.scalingLimited->status);
}

TEST_CASE("legacy: a configured downscale stabilization window", "[hpa][legacy]") {
  HpaConfig c = config();
  c.downscaleStabilization = Seconds(60);
  HpaCalculator hpa(c);
  CHECK(hpa.evaluate(steady(kT0, 10, {avgValue(200, 100)})).desiredReplicas == 10);
  CHECK(hpa.evaluate(steady(kT0 + Seconds(60), 10, {avgValue(200, 100)})).desiredReplicas == 10);
  CHECK(hpa.evaluate(steady(kT0 + Seconds(61), 10, {avgValue(200, 100)})).desiredReplicas == 2);
}

TEST_CASE("legacy: the seeded history holds the count after a restart", "[hpa][legacy]") {
  HpaCalculator hpa(config());
  hpa.evaluate(steady(kT0, 10, {avgValue(200, 100)}));
  hpa.reset();  // controller restart: history lost, then re-seeded with the current count
  HpaDecision d = hpa.evaluate(steady(kT0 + Seconds(3600), 10, {avgValue(200, 100)}));
  CHECK(d.desiredReplicas == 10);
  CHECK_FALSE(d.rescale);
}

TEST_CASE("legacy: scale-up cap max(2*cur, 4) and min/max clamps", "[hpa][legacy]") {
  struct Row {
    int32_t current;
    int32_t proposal;
    int32_t min;
    int32_t max;
    int32_t expected;
    const char* condition;
    bool limited;
  };
  const std::vector<Row> rows = {
      {1, 10, 1, 100, 4, "ScaleUpLimit", true},         // max(2, 4) = 4
      {3, 10, 1, 100, 6, "ScaleUpLimit", true},         // max(6, 4) = 6
      {5, 20, 1, 8, 8, "TooManyReplicas", true},        // limit 10 but maxReplicas 8 <= 10
      {5, 10, 1, 10, 10, "DesiredWithinRange", false},  // max 10 == limit 10: not above
      {2, 3, 1, 100, 3, "DesiredWithinRange", false},   // up to 4 allowed
  };
  for (const Row& r : rows) {
    INFO("cur " << r.current << " proposal " << r.proposal);
    HpaCalculator hpa(config());
    HpaDecision d = hpa.evaluate(steady(kT0, r.current, {proposing(r.proposal)}, r.min, r.max));
    CHECK(d.desiredReplicas == r.expected);
    CHECK(d.scalingLimited->reason == r.condition);
    CHECK(d.scalingLimited->status == r.limited);
  }
  SECTION("TooFewReplicas once the window has passed") {
    HpaCalculator hpa(config());
    // A proposal of 0 (usage 0) stabilized to 0 after the window => below min 2 => 2.
    hpa.evaluate(steady(kT0, 3, {avgValue(0, 1)}, 2, 10));
    HpaDecision d = hpa.evaluate(steady(kT0 + Seconds(301), 3, {avgValue(0, 1)}, 2, 10));
    CHECK(d.desiredReplicas == 2);
    CHECK(d.rescale);
    CHECK(d.scalingLimited->reason == "TooFewReplicas");
    CHECK(d.scalingLimited->status);
  }
}

TEST_CASE("legacy: history memory is bounded by slot reuse", "[hpa][legacy]") {
  HpaCalculator hpa(config());
  for (int i = 0; i < 240; ++i) {  // one hour at 15 s
    hpa.evaluate(steady(kT0 + Seconds(15 * i), 10, {proposing(10)}));
  }
  // At most the records of one 300 s window (21 ticks incl. both ends) plus the new one.
  CHECK(hpa.recommendationCount() <= 22);
}

// ---------------------------------------------------------------------------------------------
// Behavior normalization (§1.8)

TEST_CASE("behavior defaults: cur=1 grows to 5 in 15 s (legacy would give 4)", "[hpa][behavior]") {
  HpaBehavior behavior;  // non-nil, everything defaulted
  HpaCalculator hpa(config());
  // Proposal 20. Up rules: Pods 4/15 => 1+4 = 5; Percent 100/15 => ceil(1*2) = 2; Max => 5.
  HpaDecision d = hpa.evaluate(steady(kT0, 1, {proposing(20)}, 1, 100, &behavior));
  CHECK(d.desiredReplicas == 5);
  CHECK(d.rescale);
  CHECK(d.scalingLimited->reason == "ScaleUpLimit");
  CHECK(d.scalingLimited->message ==
        "the desired replica count is increasing faster than the maximum scale rate");
  CHECK(d.ableToScale->reason == "SucceededRescale");
  CHECK(hpa.scaleUpEventCount() == 1);

  SECTION("14 s later the +4 event is inside the period") {
    // start = 5 - 4 = 1 => Pods 5, Percent 2 => limit 5 == cur: nothing more yet.
    HpaDecision e = hpa.evaluate(steady(kT0 + Seconds(14), 5, {proposing(20)}, 1, 100, &behavior));
    CHECK(e.desiredReplicas == 5);
    CHECK_FALSE(e.rescale);
    CHECK(e.scalingLimited->reason == "ScaleUpLimit");
  }
  SECTION("exactly 15 s later it is not (strict After)") {
    // start = 5 => Pods 9, Percent ceil(5*2) = 10 => 10.
    HpaDecision e = hpa.evaluate(steady(kT0 + Seconds(15), 5, {proposing(20)}, 1, 100, &behavior));
    CHECK(e.desiredReplicas == 10);
  }
  SECTION("legacy comparison") {
    HpaCalculator legacy(config());
    CHECK(legacy.evaluate(steady(kT0, 1, {proposing(20)})).desiredReplicas == 4);
  }
}

TEST_CASE("behavior: each policy kind", "[hpa][behavior]") {
  struct Row {
    const char* name;
    bool up;
    HpaScalingPolicy policy;
    int32_t current;
    int32_t proposal;
    int32_t expected;
  };
  const std::vector<Row> rows = {
      {"Pods up: 3 + 2", true, {"Pods", 2, 60}, 3, 10, 5},
      {"Percent up rounds up: ceil(3 * 1.5 = 4.5)", true, {"Percent", 50, 60}, 3, 10, 5},
      {"Percent up rounds up: ceil(1 * 1.1 = 1.1)", true, {"Percent", 10, 60}, 1, 10, 2},
      {"Pods down: 5 - 1", false, {"Pods", 1, 60}, 5, 1, 4},
      {"Percent down truncates: trunc(5 * 0.5 = 2.5)", false, {"Percent", 50, 60}, 5, 1, 2},
      {"Percent down truncates: trunc(7 * 0.5 = 3.5)", false, {"Percent", 50, 60}, 7, 1, 3},
      {"Percent down truncates: trunc(10 * 0.9 = 9.0)", false, {"Percent", 10, 60}, 10, 1, 9},
  };
  for (const Row& r : rows) {
    INFO(r.name);
    HpaBehavior behavior;
    // Window 0 in both directions so that only the rate limit acts.
    behavior.scaleUp = rules(0, std::nullopt, std::nullopt);
    behavior.scaleDown = rules(0, std::nullopt, std::nullopt);
    (r.up ? behavior.scaleUp : behavior.scaleDown)->policies =
        std::vector<HpaScalingPolicy>{r.policy};
    HpaCalculator hpa(config());
    HpaDecision d =
        hpa.evaluate(steady(kT0, r.current, {proposing(r.proposal)}, 1, 100, &behavior));
    CHECK(d.desiredReplicas == r.expected);
    CHECK(d.scalingLimited->reason == (r.up ? "ScaleUpLimit" : "ScaleDownLimit"));
  }
}

TEST_CASE("behavior: selectPolicy Max/Min/Disabled in each direction", "[hpa][behavior]") {
  struct Row {
    bool up;
    const char* select;
    int32_t expected;
    bool rescale;
  };
  // Up: cur 10, proposal 100, policies Pods 4 (=> 14) and Percent 100 (=> 20).
  // Down: cur 10, proposal 1, policies Pods 4 (=> 6) and Percent 50 (=> 5).
  const std::vector<Row> rows = {
      {true, "Max", 20, true},        // largest limit
      {true, "Min", 14, true},        // smallest limit
      {true, "Disabled", 10, false},  // limit = cur
      {false, "Max", 5, true},        // largest change = smallest limit
      {false, "Min", 6, true},        // smallest change = largest limit
      {false, "Disabled", 10, false},
  };
  for (const Row& r : rows) {
    INFO((r.up ? "up " : "down ") << r.select);
    HpaBehavior behavior;
    behavior.scaleUp = rules(0, std::nullopt, std::nullopt);
    behavior.scaleDown = rules(0, std::nullopt, std::nullopt);
    if (r.up) {
      behavior.scaleUp->selectPolicy = r.select;
      behavior.scaleUp->policies =
          std::vector<HpaScalingPolicy>{{"Pods", 4, 60}, {"Percent", 100, 60}};
    } else {
      behavior.scaleDown->selectPolicy = r.select;
      behavior.scaleDown->policies =
          std::vector<HpaScalingPolicy>{{"Pods", 4, 60}, {"Percent", 50, 60}};
    }
    HpaCalculator hpa(config());
    HpaDecision d = hpa.evaluate(steady(kT0, 10, {proposing(r.up ? 100 : 1)}, 1, 1000, &behavior));
    CHECK(d.desiredReplicas == r.expected);
    CHECK(d.rescale == r.rescale);
    CHECK(d.scalingLimited->status);
  }
}

TEST_CASE("behavior: scale-up stabilization window", "[hpa][behavior]") {
  HpaBehavior behavior;
  behavior.scaleUp = rules(60, std::nullopt, std::nullopt);
  HpaCalculator hpa(config());
  auto at = [&](int s) {
    return hpa.evaluate(steady(kT0 + Seconds(s), 2, {proposing(6)}, 1, 100, &behavior));
  };
  // t0: upRec = min(6, seed 2) = 2, downRec = max(6, 2) = 6 => clamp(2 into [2, 6]) = 2.
  HpaDecision d = at(0);
  CHECK(d.desiredReplicas == 2);
  CHECK(d.ableToScale->reason == "ScaleUpStabilized");
  CHECK(d.ableToScale->message ==
        "recent recommendations were lower than current one, applying the lowest recent "
        "recommendation");
  CHECK(at(30).desiredReplicas == 2);  // the seed {2, t0} is inside (t0 > now - 60)
  CHECK(at(59).desiredReplicas == 2);
  // At t0+60 the seed is exactly 60 s old: not After(now - 60), so excluded. Left in the window:
  // the raw 6s from t30 and t59 => upRec 6; rate limit max(2+4, ceil(2*2)) = 6 => 6.
  d = at(60);
  CHECK(d.desiredReplicas == 6);
  CHECK(d.rescale);
  CHECK(d.ableToScale->reason == "SucceededRescale");
}

TEST_CASE("behavior: scale-down window defaults to the KCM flag (strict boundary)",
          "[hpa][behavior]") {
  HpaBehavior behavior;  // scaleDown window nil => --horizontal-pod-autoscaler-downscale-...
  HpaCalculator hpa(config());
  auto at = [&](int s) {
    return hpa.evaluate(steady(kT0 + Seconds(s), 10, {avgValue(200, 100)}, 1, 100, &behavior));
  };
  // downRec = max(2, seed 10) = 10 => clamp(10 into [2, 10]) = 10.
  HpaDecision d = at(0);
  CHECK(d.desiredReplicas == 10);
  CHECK(d.ableToScale->reason == "ScaleDownStabilized");
  for (int s = 15; s < 300; s += 15) CHECK(at(s).desiredReplicas == 10);
  CHECK(at(299).desiredReplicas == 10);
  // t0+300: the seed is exactly 300 s old, excluded (strict After), unlike the legacy path.
  // downRec = 2; default scale-down policy Percent 100/15 => trunc(10 * 0) = 0 => min 1 => 2.
  d = at(300);
  CHECK(d.desiredReplicas == 2);
  CHECK(d.rescale);
  CHECK(hpa.scaleDownEventCount() == 1);

  SECTION("a configured flag value fills the nil window") {
    HpaConfig c = config();
    c.downscaleStabilization = Seconds(60);
    HpaCalculator short_(c);
    CHECK(
        short_.evaluate(steady(kT0, 10, {avgValue(200, 100)}, 1, 100, &behavior)).desiredReplicas ==
        10);
    CHECK(short_.evaluate(steady(kT0 + Seconds(60), 10, {avgValue(200, 100)}, 1, 100, &behavior))
              .desiredReplicas == 2);
  }
}

TEST_CASE("behavior: history straddling the current count holds it", "[hpa][behavior]") {
  HpaBehavior behavior;
  behavior.scaleUp = rules(60, std::nullopt, std::nullopt);
  behavior.scaleDown = rules(60, std::nullopt, std::nullopt);
  HpaCalculator hpa(config());
  // t0: seed 5, raw 8: upRec = min(8, 5) = 5 => stays 5.
  CHECK(hpa.evaluate(steady(kT0, 5, {proposing(8)}, 1, 100, &behavior)).desiredReplicas == 5);
  // t15: raw 3: upRec = min(3, 5, 8) = 3, downRec = max(3, 5, 8) = 8 => clamp(5) = 5.
  HpaDecision d = hpa.evaluate(steady(kT0 + Seconds(15), 5, {avgValue(3, 1)}, 1, 100, &behavior));
  CHECK(d.metricReplicas == 3);
  CHECK(d.desiredReplicas == 5);
  CHECK_FALSE(d.rescale);
  CHECK(d.ableToScale->reason == "ScaleDownStabilized");
}

TEST_CASE("behavior: the period start counts scale-downs too", "[hpa][behavior]") {
  HpaBehavior behavior;
  behavior.scaleUp = rules(0, std::nullopt, std::vector<HpaScalingPolicy>{{"Pods", 2, 60}});
  behavior.scaleDown = rules(0, std::nullopt, std::vector<HpaScalingPolicy>{{"Pods", 10, 60}});
  HpaCalculator hpa(config());
  // t0: 10 -> 5 (down limit 10 - 10 = 0 => min 1; 5 is within). Stores a down event of 5.
  HpaDecision d = hpa.evaluate(steady(kT0, 10, {proposing(5)}, 1, 100, &behavior));
  CHECK(d.desiredReplicas == 5);
  // t15: proposal 20. start = cur - added + removed = 5 - 0 + 5 = 10 => Pods 2 => 12.
  d = hpa.evaluate(steady(kT0 + Seconds(15), 5, {proposing(20)}, 1, 100, &behavior));
  CHECK(d.desiredReplicas == 12);
  // t30: cur 12, events: down 5 @t0, up 7 @t15 => start = 12 - 7 + 5 = 10 => 12 = cur.
  d = hpa.evaluate(steady(kT0 + Seconds(30), 12, {proposing(20)}, 1, 100, &behavior));
  CHECK(d.desiredReplicas == 12);
  CHECK_FALSE(d.rescale);
  // t61: the down event (t0) left the 60 s period, the up one (t15) did not: 12 - 7 + 0 = 5 =>
  // limit 7 < cur => raised to cur 12 (never forces a scale-down).
  d = hpa.evaluate(steady(kT0 + Seconds(61), 12, {proposing(20)}, 1, 100, &behavior));
  CHECK(d.desiredReplicas == 12);
  // t75: both gone => 12 + 2 = 14.
  d = hpa.evaluate(steady(kT0 + Seconds(75), 12, {proposing(20)}, 1, 100, &behavior));
  CHECK(d.desiredReplicas == 14);
}

TEST_CASE("behavior: TooManyReplicas / TooFewReplicas / DesiredWithinRange", "[hpa][behavior]") {
  HpaBehavior behavior;
  behavior.scaleDown = rules(0, std::nullopt, std::nullopt);
  SECTION("max bound") {
    // cur 5, proposal 20: limit max(5+4, ceil(5*2)) = 10; maxReplicas 6 <= 10 => TooManyReplicas.
    HpaCalculator hpa(config());
    HpaDecision d = hpa.evaluate(steady(kT0, 5, {proposing(20)}, 1, 6, &behavior));
    CHECK(d.desiredReplicas == 6);
    CHECK(d.scalingLimited->reason == "TooManyReplicas");
    CHECK(d.scalingLimited->message ==
          "the desired replica count is more than the maximum replica count");
  }
  SECTION("min bound") {
    // cur 5, proposal 1: default Percent 100 => trunc(5 * 0) = 0 => max(min 3, 0) = 3.
    HpaCalculator hpa(config());
    HpaDecision d = hpa.evaluate(steady(kT0, 5, {proposing(1)}, 3, 10, &behavior));
    CHECK(d.desiredReplicas == 3);
    CHECK(d.scalingLimited->reason == "TooFewReplicas");
    CHECK(d.scalingLimited->status);
  }
  SECTION("within") {
    HpaCalculator hpa(config());
    HpaDecision d = hpa.evaluate(steady(kT0, 5, {proposing(7)}, 1, 10, &behavior));
    CHECK(d.desiredReplicas == 7);
    CHECK(d.scalingLimited->reason == "DesiredWithinRange");
    CHECK_FALSE(d.scalingLimited->status);
    CHECK(d.ableToScale->reason == "SucceededRescale");
  }
}

TEST_CASE("behavior: defaulting details", "[hpa][behavior]") {
  HpaBehavior behavior;
  SECTION("defaults per direction") {
    HpaEffectiveRules up = effectiveScaleUpRules(behavior);
    CHECK(up.stabilizationWindowSeconds == 0);
    CHECK(up.selectPolicy == "Max");
    REQUIRE(up.policies.size() == 2);
    CHECK(up.policies[0].type == "Pods");
    CHECK(up.policies[0].value == 4);
    CHECK(up.policies[0].periodSeconds == 15);
    CHECK(up.policies[1].type == "Percent");
    CHECK(up.policies[1].value == 100);
    HpaEffectiveRules down = effectiveScaleDownRules(behavior, Seconds(300));
    CHECK(down.stabilizationWindowSeconds == 300);
    REQUIRE(down.policies.size() == 1);
    CHECK(down.policies[0].type == "Percent");
    CHECK(down.policies[0].value == 100);
    CHECK(down.policies[0].periodSeconds == 15);
  }
  SECTION("only set fields override") {
    behavior.scaleUp = rules(std::nullopt, "Min", std::nullopt);
    HpaEffectiveRules up = effectiveScaleUpRules(behavior);
    CHECK(up.selectPolicy == "Min");
    CHECK(up.stabilizationWindowSeconds == 0);
    CHECK(up.policies.size() == 2);
    // cur 1: Min(1+4, ceil(1*2)) = 2.
    HpaCalculator hpa(config());
    CHECK(hpa.evaluate(steady(kT0, 1, {proposing(20)}, 1, 100, &behavior)).desiredReplicas == 2);
  }
  SECTION("an unknown selectPolicy acts as Max") {
    behavior.scaleUp = rules(std::nullopt, "max", std::nullopt);
    HpaCalculator hpa(config());
    CHECK(hpa.evaluate(steady(kT0, 1, {proposing(20)}, 1, 100, &behavior)).desiredReplicas == 5);
  }
}

TEST_CASE("behavior: per-direction tolerance", "[hpa][tolerance]") {
  HpaBehavior behavior;
  behavior.scaleUp = rules(std::nullopt, std::nullopt, std::nullopt);
  behavior.scaleUp->tolerance = 0.05;
  behavior.scaleDown = rules(0, std::nullopt, std::nullopt);
  behavior.scaleDown->tolerance = 0.5;
  // statusRep 10, target 100. usage 1070: r = 1.07 > 1.05 => ceil(10.7) = 11.
  CHECK(proposalOf(steady(kT0, 10, {avgValue(1070, 100)}, 1, 100, &behavior)) == 11);
  // usage 600: r = 0.6 >= 1 - 0.5 => within => 10 (the default 0.1 would give 6).
  CHECK(proposalOf(steady(kT0, 10, {avgValue(600, 100)}, 1, 100, &behavior)) == 10);
  CHECK(proposalOf(steady(kT0, 10, {avgValue(600, 100)})) == 6);
  // The cluster-wide default still applies to the direction without an override.
  HpaBehavior upOnly;
  upOnly.scaleUp = behavior.scaleUp;
  CHECK(proposalOf(steady(kT0, 10, {avgValue(910, 100)}, 1, 100, &upOnly)) == 10);  // 0.91
  CHECK(proposalOf(steady(kT0, 10, {avgValue(890, 100)}, 1, 100, &upOnly)) == 9);   // 0.89
  // With the HPAConfigurableTolerance gate off the field is ignored: r = 1.07 is within 0.1.
  HpaConfig gateOff = config();
  gateOff.configurableTolerance = false;
  CHECK(proposalOf(steady(kT0, 10, {avgValue(1070, 100)}, 1, 100, &behavior), gateOff) == 10);
  // Cluster-wide tolerance 0.2: r = 1.15 is within.
  HpaConfig wide = config();
  wide.tolerance = 0.2;
  CHECK(proposalOf(steady(kT0, 10, {avgValue(1150, 100)}), wide) == 10);
}

TEST_CASE("a failed rescale is undone", "[hpa][rescale]") {
  HpaBehavior behavior;
  HpaCalculator hpa(config());
  HpaDecision d = hpa.evaluate(steady(kT0, 1, {proposing(20)}, 1, 100, &behavior));
  REQUIRE(d.desiredReplicas == 5);
  REQUIRE(hpa.scaleUpEventCount() == 1);
  hpa.reportRescaleFailure(Status::unavailable("conflict"));
  CHECK(hpa.scaleUpEventCount() == 0);
  CHECK_FALSE(hpa.lastScaleTime());
  CHECK(hpa.statusDesiredReplicas() == 0);
  REQUIRE(hpa.ableToScale());
  CHECK_FALSE(hpa.ableToScale()->status);
  CHECK(hpa.ableToScale()->reason == "FailedUpdateScale");
  CHECK(hpa.ableToScale()->message ==
        "the HPA controller was unable to update the target scale: conflict");
  // The next sync (still at 1 replica) gets the full +4 again: no phantom event in the period.
  d = hpa.evaluate(steady(kT0 + Seconds(5), 1, {proposing(20)}, 1, 100, &behavior));
  CHECK(d.desiredReplicas == 5);
  // A second report without a new rescale changes nothing.
  hpa.evaluate(steady(kT0 + Seconds(6), 5, {proposing(5)}, 1, 100, &behavior));
  hpa.reportRescaleFailure(Status::unavailable("late"));
  CHECK(hpa.ableToScale()->reason == "ReadyForNewScale");
}

TEST_CASE("behavior: scale event memory is bounded by slot reuse", "[hpa][behavior]") {
  HpaBehavior behavior;
  HpaCalculator hpa(config());
  int32_t current = 1;
  for (int i = 0; i < 200; ++i) {
    // Always ask for one more replica every 15 s: one up event per sync. (statusReplicas 1 keeps
    // the ratio out of the tolerance band: proposal = ceil((current + 1) / 1).)
    HpaInput in =
        steady(kT0 + Seconds(15 * i), current, {proposing(current + 1)}, 1, 1000, &behavior);
    in.statusReplicas = 1;
    HpaDecision d = hpa.evaluate(in);
    REQUIRE(d.rescale);
    current = d.desiredReplicas;
  }
  CHECK(current == 201);
  // Longest period 15 s: an event older than that is outdated and its slot is reused.
  CHECK(hpa.scaleUpEventCount() <= 3);
  CHECK(hpa.recommendationCount() <= 22);
}

}  // namespace
}  // namespace updraft
