// KEDA's RequestScale decision table (keda-behaviour.md §3.4) and fallback (§3.8).
#include "updraft/executor.h"

#include <catch2/catch.hpp>

#include "executor/fakes.h"
#include "updraft/fallback.h"
#include "updraft/triggers.h"

using namespace updraft;
using namespace updraft::testing;

namespace {

struct Fixture {
  ScaledObject so = makeScaledObject();
  FakeTarget target{0};
  ScalableStatus status;
  RecordingEvents events;
  TimePoint created = TimePoint{} + Seconds(1000);

  ScaleOutcome run(bool active, bool error, TimePoint now) {
    ScaleRequest req;
    req.object = &so;
    req.isActive = active;
    req.isError = error;
    req.now = now;
    req.createdAt = created;
    req.activeMetricNames = {"s0-fake"};
    return requestScale(req, target, status, &events, "ScaledObject/default/so");
  }
  TimePoint at(int seconds) const { return created + Seconds(seconds); }
};

}  // namespace

TEST_CASE("active at zero scales to max(min,1) and records lastActiveTime") {
  Fixture f;
  auto out = f.run(true, false, f.at(5));
  CHECK(out.scaled);
  CHECK(f.target.replicas == 1);
  REQUIRE(f.status.lastActiveTime);
  CHECK(*f.status.lastActiveTime == f.at(5));
  CHECK(f.status.active.reason == "ScalerActive");
  REQUIRE(f.events.events.size() == 1);
  CHECK(f.events.events[0].reason == "KEDAScaleTargetActivated");
  CHECK(f.events.events[0].message ==
        "Scaled Deployment default/app from 0 to 1, triggered by s0-fake");

  Fixture g;
  g.so.spec.minReplicaCount = 3;
  g.run(true, false, g.at(5));
  CHECK(g.target.replicas == 3);
}

TEST_CASE("active from idle goes to min; active above zero leaves N to the HPA") {
  Fixture f;
  f.so.spec.idleReplicaCount = 0;
  f.so.spec.minReplicaCount = 2;
  f.target.replicas = 0;
  f.run(true, false, f.at(1));
  CHECK(f.target.replicas == 2);

  Fixture g;
  g.target.replicas = 4;
  auto out = g.run(true, false, g.at(1));
  CHECK_FALSE(out.scaled);
  CHECK(g.target.replicas == 4);
  CHECK(g.status.lastActiveTime == g.at(1));
}

TEST_CASE("active with a trigger error: partial error, lastActiveTime not refreshed") {
  Fixture f;
  f.target.replicas = 2;
  f.run(true, true, f.at(10));
  CHECK(f.status.ready.status == ConditionStatus::kUnknown);
  CHECK(f.status.ready.reason == "PartialTriggerError");
  CHECK_FALSE(f.status.lastActiveTime);

  // ...but scale-from-zero still happens with an error.
  Fixture g;
  g.run(true, true, g.at(10));
  CHECK(g.target.replicas == 1);
}

TEST_CASE("paused-scale-out blocks activation but not the below-min correction") {
  Fixture f;
  f.so.metadata.annotations[annotations::kPausedScaleOut] = "true";
  f.run(true, false, f.at(1));
  CHECK(f.target.replicas == 0);

  Fixture g;
  g.so.metadata.annotations[annotations::kPausedScaleOut] = "true";
  g.so.spec.minReplicaCount = 3;
  g.target.replicas = 1;
  g.run(false, false, g.at(1));
  CHECK(g.target.replicas == 3);
}

TEST_CASE("force-activation scales from zero without active triggers") {
  Fixture f;
  f.so.metadata.annotations[annotations::kForceActivation] = "yes-please";  // unparsable = true
  f.run(false, false, f.at(1));
  CHECK(f.target.replicas == 1);
  CHECK(f.status.active.message ==
        "Scaling is performed because activation is being forced by annotation");
  CHECK(f.events.events.back().message.find("caused by forced activation annotation") !=
        std::string::npos);
}

TEST_CASE("errors never scale to zero without fallback") {
  Fixture f;
  f.target.replicas = 3;
  f.status.lastActiveTime = f.at(0);
  auto out = f.run(false, true, f.at(10000));
  CHECK_FALSE(out.scaled);
  CHECK(f.target.replicas == 3);
  CHECK(f.status.ready.reason == "TriggerError");

  Fixture g;  // fallback with replicas != 0: leave it to the HPA's fallback
  g.so.spec.fallback = Fallback{3, 5, "static"};
  g.target.replicas = 3;
  g.status.lastActiveTime = g.at(0);
  g.run(false, true, g.at(10000));
  CHECK(g.target.replicas == 3);

  Fixture h;  // fallback.replicas == 0: the scale-to-zero path applies
  h.so.spec.fallback = Fallback{3, 0, "static"};
  h.target.replicas = 3;
  h.status.lastActiveTime = h.at(0);
  h.run(false, true, h.at(10000));
  CHECK(h.target.replicas == 0);
}

TEST_CASE("cooldown is measured from lastActiveTime, strictly") {
  Fixture f;
  f.target.replicas = 2;
  f.status.lastActiveTime = f.at(0);
  auto out = f.run(false, false, f.at(300));  // exactly cooldownPeriod: not yet
  CHECK_FALSE(out.scaled);
  CHECK(f.status.active.reason == "ScalerCooldown");
  out = f.run(false, false, f.at(301));
  CHECK(out.scaled);
  CHECK(f.target.replicas == 0);
  CHECK(f.events.events.back().reason == "KEDAScaleTargetDeactivated");
  CHECK(f.events.events.back().message == "Deactivated Deployment default/app from 2 to 0");

  Fixture g;
  g.so.spec.cooldownPeriod = 30;
  g.target.replicas = 2;
  g.status.lastActiveTime = g.at(0);
  g.run(false, false, g.at(31));
  CHECK(g.target.replicas == 0);
}

TEST_CASE("a new object with inactive triggers scales down at once, unless initialCooldown") {
  Fixture f;
  f.target.replicas = 4;
  f.run(false, false, f.at(1));
  CHECK(f.target.replicas == 0);

  Fixture g;
  g.so.spec.initialCooldownPeriod = 60;
  g.target.replicas = 4;
  g.run(false, false, g.at(30));
  CHECK(g.target.replicas == 4);
  g.run(false, false, g.at(61));
  CHECK(g.target.replicas == 0);
}

TEST_CASE("idleReplicaCount: inactive goes to idle after cooldown") {
  Fixture f;
  f.so.spec.idleReplicaCount = 0;
  f.so.spec.minReplicaCount = 2;
  f.target.replicas = 5;
  f.status.lastActiveTime = f.at(0);
  f.run(false, false, f.at(301));
  CHECK(f.target.replicas == 0);
}

TEST_CASE("below min without idle is corrected immediately") {
  Fixture f;
  f.so.spec.minReplicaCount = 3;
  f.target.replicas = 1;
  f.status.lastActiveTime = f.at(0);
  auto out = f.run(false, false, f.at(1));
  CHECK(out.scaled);
  CHECK(f.target.replicas == 3);
}

TEST_CASE("paused-scale-in keeps replicas; paused freezes everything") {
  Fixture f;
  f.so.metadata.annotations[annotations::kPausedScaleIn] = "true";
  f.target.replicas = 2;
  f.status.lastActiveTime = f.at(0);
  f.run(false, false, f.at(1000));
  CHECK(f.target.replicas == 2);

  Fixture g;
  g.so.metadata.annotations[annotations::kPaused] = "true";
  g.run(true, false, g.at(1));
  CHECK(g.target.replicas == 0);
  CHECK(g.status.paused.status == ConditionStatus::kTrue);

  Fixture h;  // "false" does not pause
  h.so.metadata.annotations[annotations::kPaused] = "false";
  h.run(true, false, h.at(1));
  CHECK(h.target.replicas == 1);
}

TEST_CASE("failing to read replicas sets Ready False") {
  Fixture f;
  f.target.failReads = true;
  f.run(true, false, f.at(1));
  CHECK(f.status.ready.status == ConditionStatus::kFalse);
  CHECK(f.status.ready.reason == "ErrorGettingCurrentReplicas");
}

TEST_CASE("pause annotations parse like KEDA") {
  ObjectMeta m;
  m.annotations[annotations::kPausedReplicas] = "4";
  m.annotations[annotations::kPaused] = "false";
  PauseState p = readPauseState(m);
  CHECK(p.paused);  // paused-replicas presence wins
  CHECK(p.pausedReplicas == 4);
  m.annotations[annotations::kPausedReplicas] = "four";
  p = readPauseState(m);
  CHECK(p.paused);
  CHECK(p.pausedReplicasInvalid);
}

TEST_CASE("fallback validity, health counting and replicas") {
  ScaledObject so = makeScaledObject();
  CHECK_FALSE(hasValidFallback(so));
  so.spec.fallback = Fallback{3, 6, "static"};
  CHECK(hasValidFallback(so));
  so.spec.advanced = AdvancedConfig{};
  so.spec.advanced->scalingModifiers.formula = "a";
  so.spec.advanced->scalingModifiers.target = "2.5";
  CHECK_FALSE(hasValidFallback(so));  // QUIRK: non-integer modifiers target disables fallback
  so.spec.advanced->scalingModifiers.target = "2";
  CHECK(hasValidFallback(so));
  so.spec.advanced.reset();

  ScalableStatus st;
  for (int i = 1; i <= 3; ++i) CHECK_FALSE(recordMetricFetch(so, st, "s0-x", false));
  CHECK(st.health["s0-x"].numberOfFailures == 3);
  CHECK(recordMetricFetch(so, st, "s0-x", false));  // 4th failure > threshold 3
  CHECK(recordMetricFetch(so, st, "s0-x", true) == false);
  CHECK(st.health["s0-x"].numberOfFailures == 0);
  CHECK_FALSE(st.health["s0-x"].failing);

  Fallback f{0, 5, "static"};
  CHECK(fallbackReplicas(f, 2) == 5);
  f.behavior = "currentReplicas";
  CHECK(fallbackReplicas(f, 2) == 2);
  f.behavior = "currentReplicasIfHigher";
  CHECK(fallbackReplicas(f, 2) == 5);
  CHECK(fallbackReplicas(f, 9) == 9);
  f.behavior = "currentReplicasIfLower";
  CHECK(fallbackReplicas(f, 2) == 2);
  CHECK(fallbackReplicas(f, 9) == 5);

  MetricSpec avg;
  avg.target = 5;
  CHECK(*fallbackMetricValue(avg, 3, 1) == Approx(15));
  MetricSpec val;
  val.targetType = MetricTargetType::kValue;
  val.target = 10;
  CHECK(*fallbackMetricValue(val, 4, 2) == Approx(20));
  CHECK_FALSE(fallbackMetricValue(val, 4, 0).isOk());
}

TEST_CASE("fallback condition and events follow the health map") {
  ScaledObject so = makeScaledObject();
  so.spec.fallback = Fallback{0, 2, "static"};
  ScalableStatus st;
  RecordingEvents ev;
  recordMetricFetch(so, st, "s0-x", false);
  updateFallbackCondition(so, st, &ev, "k");
  CHECK(st.fallback.status == ConditionStatus::kTrue);
  CHECK(ev.events.back().reason == "ScaledObjectFallbackActivated");
  recordMetricFetch(so, st, "s0-x", true);
  updateFallbackCondition(so, st, &ev, "k");
  CHECK(st.fallback.reason == "NoFallbackFound");
  CHECK(ev.events.back().reason == "ScaledObjectFallbackDeactivated");
}

TEST_CASE("the scaler label of KEDA's metrics is the trigger name or KEDA's Go type name") {
  BuiltTrigger t;
  t.trigger.type = "metrics-api";
  CHECK(t.scalerLabel() == "metricsAPIScaler");  // KEDA's Go type name
  t.trigger.type = "kafka";
  CHECK(t.scalerLabel() == "kafkaScaler");
  t.trigger.name = "orders";
  CHECK(t.scalerLabel() == "orders");
}
