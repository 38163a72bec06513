// ScaledObjectHandler / ScaledJobHandler: KEDA's poll and the HPA step working together.
#include <catch2/catch.hpp>

#include "executor/fakes.h"
#include "updraft/scaled_job_handler.h"
#include "updraft/scaled_object_handler.h"

using namespace updraft;
using namespace updraft::testing;

namespace {

TimePoint at(int s) { return TimePoint{} + Seconds(1000 + s); }

struct HandlerFixture {
  FakeSource source;
  FakeTarget target{0};
  RecordingEvents events;

  std::unique_ptr<ScaledObjectHandler> make(ScaledObject so, std::vector<BuiltTrigger> triggers) {
    ScaledObjectHandlerOptions opts;
    opts.events = &events;
    opts.createdAt = at(0);
    ScalerBuilder builder = [this](const BuiltTrigger& t) -> Result<std::unique_ptr<Scaler>> {
      return std::unique_ptr<Scaler>(
          std::make_unique<FakeScaler>(source, t.key(), t.definition->activationThreshold()));
    };
    auto h = ScaledObjectHandler::create(std::move(so), std::move(triggers), target, builder, opts);
    REQUIRE(h.isOk());
    return std::move(*h);
  }
};

}  // namespace

TEST_CASE("handler: activity scales from zero, the HPA takes it to N, cooldown back to zero") {
  HandlerFixture f;
  auto h = f.make(makeScaledObject(), {fakeTrigger(0, "", 5, /*threshold=*/0)});
  f.source.values["trigger0"] = 0;
  auto p = h->poll(at(0), at(5));
  CHECK_FALSE(p.isActive);
  CHECK(f.target.replicas == 0);

  f.source.values["trigger0"] = 23;  // AverageValue target 5 => ceil(23/5) = 5 replicas
  p = h->poll(at(30), at(35));
  CHECK(p.isActive);
  CHECK(f.target.replicas == 1);
  auto r = h->hpaSync(at(31), at(36));
  CHECK(r.evaluated);
  CHECK(f.target.replicas == 4);  // legacy scale-up cap: max(2*1, 4)
  h->hpaSync(at(46), at(50));
  CHECK(f.target.replicas == 5);

  f.source.values["trigger0"] = 0;
  h->poll(at(60), at(65));
  CHECK(f.target.replicas == 5);  // cooldown: 300 s after the last active poll (t=30)
  h->poll(at(330), at(335));
  CHECK(f.target.replicas == 5);
  h->poll(at(331), at(335));
  CHECK(f.target.replicas == 0);
  CHECK(f.events.has("KEDAScaleTargetDeactivated"));
  CHECK_FALSE(h->hpaSync(at(340), at(345)).evaluated);  // HPA disabled at 0 replicas
}

TEST_CASE("handler: a trigger error is reported and never scales to zero") {
  HandlerFixture f;
  f.target.replicas = 3;
  auto h = f.make(makeScaledObject(), {fakeTrigger(0, "", 5)});
  f.source.errors["trigger0"] = "connection refused";
  auto p = h->poll(at(0), at(5));
  CHECK(p.isError);
  CHECK(f.target.replicas == 3);
  CHECK(f.events.has("KEDAScalerFailed"));
  CHECK(h->readings()[0].error == "connection refused");
  CHECK(h->status().ready.reason == "TriggerError");
  h->poll(at(1000), at(1005));
  CHECK(f.target.replicas == 3);
}

TEST_CASE("handler: fallback counts failures and makes the HPA land on fallback replicas") {
  HandlerFixture f;
  ScaledObject so = makeScaledObject();
  so.spec.fallback = Fallback{2, 6, "static"};
  f.target.replicas = 2;
  auto h = f.make(so, {fakeTrigger(0, "", 10)});
  f.source.errors["trigger0"] = "timeout";
  // Failures 1 and 2 are within the threshold; the HPA sees an invalid metric and holds.
  h->poll(at(0), at(1));
  h->hpaSync(at(1), at(2));
  CHECK(f.target.replicas == 2);
  CHECK(h->status().health.at("s0-fake").numberOfFailures == 2);
  // Failure 3 > threshold 2: the served value is target * 6 = 60 => ceil(60/10) = 6.
  h->hpaSync(at(16), at(17));
  CHECK(f.target.replicas == 4);  // legacy cap max(2*2, 4) = 4 this sync
  h->hpaSync(at(31), at(32));
  CHECK(f.target.replicas == 6);
  CHECK(h->status().fallback.status == ConditionStatus::kTrue);
  CHECK(f.events.has("ScaledObjectFallbackActivated"));

  // A successful fetch resets health.
  f.source.errors.clear();
  f.source.values["trigger0"] = 10;
  h->poll(at(40), at(41));
  CHECK(h->status().health.at("s0-fake").numberOfFailures == 0);
  CHECK(h->status().fallback.status == ConditionStatus::kFalse);
}

TEST_CASE("handler: a trigger in fallback activates the object from zero") {
  HandlerFixture f;
  ScaledObject so = makeScaledObject();
  so.spec.fallback = Fallback{0, 3, "static"};
  auto h = f.make(so, {fakeTrigger(0, "", 10)});
  f.source.errors["trigger0"] = "down";
  auto p = h->poll(at(0), at(1));
  CHECK(p.isActive);
  CHECK_FALSE(p.isError);
  CHECK(f.target.replicas == 1);
}

TEST_CASE("handler: scalingModifiers formula decides activity and feeds one composite metric") {
  HandlerFixture f;
  ScaledObject so = makeScaledObject();
  so.spec.advanced = AdvancedConfig{};
  so.spec.advanced->scalingModifiers.formula = "(a + b) / 2";
  so.spec.advanced->scalingModifiers.target = "10";
  so.spec.advanced->scalingModifiers.activationTarget = "5";
  auto h = f.make(so, {fakeTrigger(0, "a", 1), fakeTrigger(1, "b", 1)});
  f.source.values["a"] = 4;
  f.source.values["b"] = 6;  // composite 5: not > activationTarget 5
  auto p = h->poll(at(0), at(1));
  REQUIRE(p.composite);
  CHECK(*p.composite == Approx(5));
  CHECK_FALSE(p.isActive);
  CHECK(f.target.replicas == 0);

  f.source.values["a"] = 80;
  f.source.values["b"] = 40;  // composite 60 => HPA wants ceil(60/10) = 6
  p = h->poll(at(30), at(31));
  CHECK(p.isActive);
  CHECK(f.target.replicas == 1);
  h->hpaSync(at(31), at(32));
  CHECK(f.target.replicas == 4);
  h->hpaSync(at(46), at(47));
  CHECK(f.target.replicas == 6);
}

TEST_CASE("handler: paused-replicas pins the target and stops scaling") {
  HandlerFixture f;
  ScaledObject so = makeScaledObject();
  so.metadata.annotations[annotations::kPausedReplicas] = "2";
  f.target.replicas = 7;
  auto h = f.make(so, {fakeTrigger(0, "", 5)});
  f.source.values["trigger0"] = 100;
  auto p = h->poll(at(0), at(1));
  CHECK(p.paused);
  CHECK(f.target.replicas == 2);
  CHECK(h->status().pausedReplicaCount == 2);
  CHECK(f.events.has("ScaledObjectPaused"));
  CHECK_FALSE(h->hpaSync(at(1), at(2)).evaluated);
  CHECK(f.source.fetches == 0);  // no scaler is queried while paused
}

TEST_CASE("handler: paused-scale-in stops the HPA from scaling down") {
  HandlerFixture f;
  ScaledObject so = makeScaledObject();
  so.metadata.annotations[annotations::kPausedScaleIn] = "true";
  f.target.replicas = 8;
  auto h = f.make(so, {fakeTrigger(0, "", 5)});
  f.source.values["trigger0"] = 5;  // wants 1
  h->poll(at(0), at(1));
  for (int t = 1; t < 2000; t += 15) h->hpaSync(at(t), at(t + 1));
  CHECK(f.target.replicas == 8);
}

TEST_CASE("handler: useCachedMetrics serves the last poll's value to the HPA") {
  HandlerFixture f;
  f.target.replicas = 1;
  BuiltTrigger t = fakeTrigger(0, "", 5);
  t.trigger.useCachedMetrics = true;
  auto h = f.make(makeScaledObject(), {t});
  f.source.values["trigger0"] = 20;
  h->poll(at(0), at(1));
  const int fetchesAfterPoll = f.source.fetches;
  f.source.values["trigger0"] = 1000;  // not seen until the next poll
  h->hpaSync(at(1), at(2));
  CHECK(f.source.fetches == fetchesAfterPoll);
  CHECK(f.target.replicas == 4);  // ceil(20/5) = 4
}

namespace {
class FakeJobs : public JobRunner {
 public:
  std::string describe() const override { return "jobs"; }
  Result<JobCounts> counts() override { return JobCounts{running, 0}; }
  Result<int32_t> createJobs(int32_t n) override {
    running += n;
    created += n;
    return n;
  }
  int32_t running = 0;
  int32_t created = 0;
};
}  // namespace

TEST_CASE("scaled job handler creates one job per event up to the cap") {
  FakeSource source;
  FakeJobs jobs;
  ScaledJob sj;
  sj.metadata.name = "sj";
  sj.metadata.namespace_ = "default";
  sj.spec.maxReplicaCount = 10;
  ScalerBuilder builder = [&](const BuiltTrigger& t) -> Result<std::unique_ptr<Scaler>> {
    return std::unique_ptr<Scaler>(std::make_unique<FakeScaler>(source, t.key(), 0));
  };
  auto h = ScaledJobHandler::create(sj, {fakeTrigger(0, "", 1)}, jobs, builder, {});
  REQUIRE(h.isOk());
  source.values["trigger0"] = 3;
  auto r = (*h)->poll(at(0), at(1));
  CHECK(r.isActive);
  CHECK(r.created == 3);
  source.values["trigger0"] = 50;  // default strategy: maxScale 10 - running 3 = 7
  r = (*h)->poll(at(30), at(31));
  CHECK(r.created == 7);
  CHECK(jobs.running == 10);
  source.values["trigger0"] = 0;
  r = (*h)->poll(at(60), at(61));
  CHECK_FALSE(r.isActive);
  CHECK(r.created == 0);
}

TEST_CASE("handler: a cached error counts toward fallback and is served as the fallback value") {
  HandlerFixture f;
  ScaledObject so = makeScaledObject();
  so.spec.fallback = Fallback{0, 5, "static"};
  f.target.replicas = 1;
  BuiltTrigger t = fakeTrigger(0, "", 2);
  t.trigger.useCachedMetrics = true;
  auto h = f.make(so, {t});
  f.source.errors["trigger0"] = "broker down";
  h->poll(at(0), at(1));  // failure 1 > threshold 0: the poll falls back
  const int fetches = f.source.fetches;
  h->hpaSync(at(1), at(2));  // the cached error is failure 2; served value = 2 * 5 = 10
  CHECK(f.source.fetches == fetches);
  CHECK(h->status().health.at("s0-fake").numberOfFailures == 2);
  CHECK(f.target.replicas == 4);  // ceil(10/2) = 5, legacy cap max(2*1, 4) = 4
}
