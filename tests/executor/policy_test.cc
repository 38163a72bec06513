// Scaling policies (scaling_policy.h) in ScaledObjectHandler: the policy has the final word on
// every replica change the engine makes, is asked at every HPA sync (also at 0 replicas), sees the
// executor's own scale requests, is clamped, is skipped while paused, and never breaks scaling when
// it fails.
#include <catch2/catch.hpp>
#include <functional>

#include "executor/fakes.h"
#include "updraft/scaled_object_handler.h"
#include "updraft/scaling_policy.h"

using namespace updraft;
using namespace updraft::testing;

namespace {

TimePoint at(int s) { return TimePoint{} + Seconds(1000 + s); }

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

// A policy whose answer the test programs; it records what it was asked.
class FakePolicy final : public ScalingPolicy {
 public:
  struct Call {
    PolicyInput input;          // history pointer not followed after the call
    size_t historySize = 0;     // history->size() at the call
    PolicySample lastSample{};  // history->back() at the call, when any
  };
  std::function<Result<int32_t>(const PolicyInput&)> answer = [](const PolicyInput& in) {
    return Result<int32_t>(in.proposed);
  };
  std::vector<Call> calls;

  Result<int32_t> desiredReplicas(const PolicyInput& in) override {
    Call c;
    c.input = in;
    c.historySize = in.history ? in.history->size() : 0;
    if (in.history && !in.history->empty()) c.lastSample = in.history->back();
    calls.push_back(std::move(c));
    return answer(in);
  }
  std::string describe() const override { return "fake policy"; }
};

struct PolicyFixture {
  FakeSource source;
  FakeTarget target{0};
  RecordingEvents events;
  std::shared_ptr<FakePolicy> policy = std::make_shared<FakePolicy>();

  std::unique_ptr<ScaledObjectHandler> make(ScaledObject so, std::vector<BuiltTrigger> triggers) {
    ScaledObjectHandlerOptions opts;
    opts.events = &events;
    opts.createdAt = at(0);
    opts.policy = policy;
    ScalerBuilder builder = [this](const BuiltTrigger& t) -> Result<std::unique_ptr<Scaler>> {
      return std::unique_ptr<Scaler>(
          std::make_unique<FakeScaler>(source, t.key(), t.definition->activationThreshold()));
    };
    auto h = ScaledObjectHandler::create(std::move(so), std::move(triggers), target, builder, opts);
    REQUIRE(h.isOk());
    return std::move(*h);
  }
  const Event* event(const std::string& reason) const {
    for (const auto& e : events.events) {
      if (e.reason == reason) return &e;
    }
    return nullptr;
  }
  int count(const std::string& reason) const {
    int n = 0;
    for (const auto& e : events.events) n += e.reason == reason;
    return n;
  }
};

}  // namespace

TEST_CASE("policy: asked at every HPA sync, also when the HPA proposes no change") {
  PolicyFixture f;
  f.target.replicas = 2;
  ScaledObject so = makeScaledObject();
  so.spec.maxReplicaCount = 10;
  auto h = f.make(so, {fakeTrigger(0, "queue", 5)});
  f.source.values["queue"] = 10;  // ceil(10/5) = 2: the HPA holds
  f.policy->answer = [](const PolicyInput& in) { return Result<int32_t>(in.proposed + 1); };

  HpaReport r = h->hpaSync(at(1), at(2));
  REQUIRE(f.policy->calls.size() == 1);
  const PolicyInput& in = f.policy->calls[0].input;
  CHECK(in.source == kPolicySourceHpa);
  CHECK(in.currentReplicas == 2);
  CHECK(in.proposed == 2);
  CHECK(in.minReplicas == 0);
  CHECK(in.maxReplicas == 10);
  CHECK(in.now == at(1));
  REQUIRE(in.triggers.size() == 1);
  CHECK(in.triggers[0].name == "queue");
  CHECK(in.triggers[0].type == "fake");
  CHECK(in.triggers[0].value == 10);
  CHECK(in.triggers[0].target == 5);
  CHECK(r.evaluated);
  CHECK(r.rescaled);
  CHECK(r.from == 2);
  CHECK(r.to == 3);
  CHECK(f.target.replicas == 3);
  CHECK(contains(r.reason, "policy: 3 instead of 2"));
  CHECK(r.policyError.empty());

  // The HPA's own change goes through the policy too: it proposes ceil(40/5) = 8 from 3 (legacy
  // cap max(2*3, 4) = 6); the policy trims it to 4.
  f.source.values["queue"] = 40;
  f.policy->answer = [](const PolicyInput& in) {
    return Result<int32_t>(std::min(in.proposed, in.currentReplicas + 1));
  };
  r = h->hpaSync(at(16), at(17));
  CHECK(f.policy->calls.back().input.proposed == 6);
  CHECK(f.target.replicas == 4);
  CHECK(r.to == 4);
}

TEST_CASE("policy: raises a target at 0 replicas, where the HPA is disabled") {
  PolicyFixture f;
  auto h = f.make(makeScaledObject(), {fakeTrigger(0, "", 5)});
  f.source.values["trigger0"] = 0;
  f.policy->answer = [](const PolicyInput&) { return Result<int32_t>(3); };  // a time-of-day min
  HpaReport r = h->hpaSync(at(1), at(2));
  REQUIRE(f.policy->calls.size() == 1);
  CHECK(f.policy->calls[0].input.proposed == 0);
  CHECK(f.policy->calls[0].input.currentReplicas == 0);
  CHECK_FALSE(r.evaluated);
  CHECK(r.rescaled);
  CHECK(r.to == 3);
  CHECK(f.target.replicas == 3);

  // Holding 0 writes nothing.
  FakeTarget& t = f.target;
  t.replicas = 0;
  t.writes = 0;
  f.policy->answer = [](const PolicyInput& in) { return Result<int32_t>(in.proposed); };
  r = h->hpaSync(at(16), at(17));
  CHECK_FALSE(r.rescaled);
  CHECK(t.writes == 0);
}

TEST_CASE("policy: the executor's activation goes through the policy") {
  PolicyFixture f;
  auto h = f.make(makeScaledObject(), {fakeTrigger(0, "", 5)});
  f.source.values["trigger0"] = 23;
  f.policy->answer = [](const PolicyInput& in) {
    return Result<int32_t>(in.source == kPolicySourceActivation ? 3 : in.proposed);
  };
  PollReport p = h->poll(at(1), at(2));
  REQUIRE(f.policy->calls.size() == 1);
  const PolicyInput& in = f.policy->calls[0].input;
  CHECK(in.source == kPolicySourceActivation);
  CHECK(in.proposed == 1);
  CHECK(in.currentReplicas == 0);
  CHECK(in.triggers.at(0).value == 23);
  CHECK(in.triggers.at(0).active);
  CHECK(f.target.replicas == 3);
  CHECK(p.outcome.scaled);
  CHECK(p.outcome.to == 3);
  CHECK(contains(p.outcome.decision, "activated 0 -> 1; policy: 3 instead of 1"));
  const Event* e = f.event("KEDAScaleTargetActivated");
  REQUIRE(e);
  CHECK(contains(e->message, "(scaling policy: 3 instead of 1)"));
}

TEST_CASE("policy: holding replicas against the executor's scale to zero writes nothing") {
  PolicyFixture f;
  f.target.replicas = 2;
  auto h = f.make(makeScaledObject(), {fakeTrigger(0, "", 5)});
  f.source.values["trigger0"] = 0;  // inactive; no lastActiveTime: eligible after createdAt
  f.policy->answer = [](const PolicyInput& in) {
    return Result<int32_t>(std::max(in.proposed, 2));
  };
  PollReport p = h->poll(at(1), at(2));
  REQUIRE(f.policy->calls.size() == 1);
  CHECK(f.policy->calls[0].input.proposed == 0);
  CHECK(f.target.replicas == 2);
  CHECK(f.target.writes == 0);
  CHECK_FALSE(p.outcome.scaled);
  CHECK(p.outcome.to == 2);
  CHECK(contains(p.outcome.decision, "policy holds 2"));
  CHECK_FALSE(f.events.has("KEDAScaleTargetDeactivated"));

  // Letting it through: 2 -> 0 with the executor's event.
  f.policy->answer = [](const PolicyInput& in) { return Result<int32_t>(in.proposed); };
  p = h->poll(at(31), at(32));
  CHECK(f.target.replicas == 0);
  CHECK(p.outcome.scaled);
  const Event* e = f.event("KEDAScaleTargetDeactivated");
  REQUIRE(e);
  CHECK_FALSE(contains(e->message, "scaling policy"));
}

TEST_CASE("policy: results are clamped to [min(minReplicaCount, proposal), maxReplicaCount]") {
  PolicyFixture f;
  f.target.replicas = 3;
  ScaledObject so = makeScaledObject();
  so.spec.minReplicaCount = 2;
  so.spec.maxReplicaCount = 10;
  auto h = f.make(so, {fakeTrigger(0, "", 5)});
  f.source.values["trigger0"] = 15;  // HPA: 3, holds
  f.policy->answer = [](const PolicyInput&) { return Result<int32_t>(1000); };
  h->hpaSync(at(1), at(2));
  CHECK(f.target.replicas == 10);
  f.policy->answer = [](const PolicyInput&) { return Result<int32_t>(-5); };
  h->hpaSync(at(16), at(17));
  CHECK(f.target.replicas == 2);

  // A proposal below min (idleReplicaCount) lowers the floor to the proposal.
  PolicyFixture g;
  g.target.replicas = 3;
  ScaledObject idle = makeScaledObject();
  idle.spec.minReplicaCount = 2;
  idle.spec.idleReplicaCount = 0;
  auto hi = g.make(idle, {fakeTrigger(0, "", 5)});
  g.source.values["trigger0"] = 0;
  g.policy->answer = [](const PolicyInput&) { return Result<int32_t>(-1); };
  PollReport p = hi->poll(at(1), at(2));
  REQUIRE(g.policy->calls.size() == 1);
  CHECK(g.policy->calls[0].input.proposed == 0);
  CHECK(g.target.replicas == 0);
  CHECK(p.outcome.to == 0);
}

TEST_CASE("policy: not asked while paused; paused-scale-in keeps it from scaling in") {
  PolicyFixture f;
  f.target.replicas = 4;
  ScaledObject so = makeScaledObject();
  so.metadata.annotations[annotations::kPaused] = "true";
  auto h = f.make(so, {fakeTrigger(0, "", 5)});
  f.source.values["trigger0"] = 100;
  f.policy->answer = [](const PolicyInput&) { return Result<int32_t>(1); };
  h->poll(at(1), at(2));
  h->hpaSync(at(2), at(3));
  CHECK(f.policy->calls.empty());
  CHECK(f.target.replicas == 4);

  PolicyFixture g;
  g.target.replicas = 5;
  ScaledObject in = makeScaledObject();
  in.metadata.annotations[annotations::kPausedScaleIn] = "true";
  auto hg = g.make(in, {fakeTrigger(0, "", 5)});
  g.source.values["trigger0"] = 5;  // the HPA would go to 1, but scale-down is Disabled
  g.policy->answer = [](const PolicyInput&) { return Result<int32_t>(1); };
  hg->hpaSync(at(1), at(2));
  REQUIRE(g.policy->calls.size() == 1);
  CHECK(g.target.replicas == 5);
  g.policy->answer = [](const PolicyInput&) { return Result<int32_t>(7); };  // up is allowed
  hg->hpaSync(at(16), at(17));
  CHECK(g.target.replicas == 7);

  PolicyFixture o;
  o.target.replicas = 2;
  ScaledObject out = makeScaledObject();
  out.metadata.annotations[annotations::kPausedScaleOut] = "true";
  auto ho = o.make(out, {fakeTrigger(0, "", 5)});
  o.source.values["trigger0"] = 10;  // HPA holds 2
  o.policy->answer = [](const PolicyInput&) { return Result<int32_t>(9); };
  ho->hpaSync(at(1), at(2));
  CHECK(o.target.replicas == 2);
}

TEST_CASE("policy: an error uses the engine's proposal, is reported and never stops scaling") {
  PolicyFixture f;
  auto h = f.make(makeScaledObject(), {fakeTrigger(0, "", 5)});
  f.policy->answer = [](const PolicyInput&) -> Result<int32_t> {
    return Status::scriptError("policy.lua:3: boom");
  };
  f.source.values["trigger0"] = 23;
  PollReport p = h->poll(at(1), at(2));
  CHECK(f.target.replicas == 1);  // the executor's activation
  CHECK(contains(p.outcome.decision, "policy failed (using 1): policy.lua:3: boom"));
  CHECK(h->policyError() == "policy.lua:3: boom");

  HpaReport r = h->hpaSync(at(2), at(3));
  CHECK(f.target.replicas == 4);  // the HPA's ceil(23/5)=5 under the legacy cap
  CHECK(r.rescaled);
  CHECK(r.policyError == "policy.lua:3: boom");
  CHECK(contains(r.reason, "policy failed (using 4): policy.lua:3: boom"));
  h->hpaSync(at(17), at(18));
  CHECK(f.target.replicas == 5);
  CHECK(f.count("ScalingPolicyFailed") == 1);  // once per distinct error
  const Event* e = f.event("ScalingPolicyFailed");
  REQUIRE(e);
  CHECK(e->type == Event::Type::kWarning);
  CHECK(contains(e->message, "fake policy"));
  CHECK(contains(e->message, "boom"));
  // The history records the proposal as applied.
  CHECK(h->policyHistory().back().desired == 5);

  f.policy->answer = [](const PolicyInput& in) { return Result<int32_t>(in.proposed); };
  r = h->hpaSync(at(32), at(33));
  CHECK(r.policyError.empty());
  CHECK(h->policyError().empty());
  CHECK(f.count("ScalingPolicyRecovered") == 1);

  // Failing on and off does not flood the log: the same error again within 10 minutes is not said
  // again (nor its recovery); after 10 minutes it is.
  auto boom = [](const PolicyInput&) -> Result<int32_t> {
    return Status::scriptError("policy.lua:3: boom");
  };
  auto fine = [](const PolicyInput& in) { return Result<int32_t>(in.proposed); };
  f.policy->answer = boom;
  r = h->hpaSync(at(47), at(48));
  CHECK(r.policyError == "policy.lua:3: boom");
  f.policy->answer = fine;
  h->hpaSync(at(62), at(63));
  CHECK(f.count("ScalingPolicyFailed") == 1);
  CHECK(f.count("ScalingPolicyRecovered") == 1);
  f.policy->answer = boom;
  h->hpaSync(at(700), at(701));
  CHECK(f.count("ScalingPolicyFailed") == 2);
  f.policy->answer = fine;
  h->hpaSync(at(715), at(716));
  CHECK(f.count("ScalingPolicyRecovered") == 2);
}

TEST_CASE("policy: history of earlier decisions and the last scale-up / scale-down times") {
  PolicyFixture f;
  f.target.replicas = 2;
  ScaledObject so = makeScaledObject();
  so.spec.maxReplicaCount = 50;
  auto h = f.make(so, {fakeTrigger(0, "a", 5), fakeTrigger(1, "b", 1)});
  f.source.values["a"] = 10;
  f.source.values["b"] = 0.5;
  f.policy->answer = [](const PolicyInput& in) {
    return Result<int32_t>(in.now == at(16) ? 6 : in.now == at(31) ? 5 : in.proposed);
  };
  h->hpaSync(at(1), at(2));
  h->hpaSync(at(16), at(17));  // 2 -> 6
  h->hpaSync(at(31), at(32));  // 6 -> 5
  h->hpaSync(at(46), at(47));
  REQUIRE(f.policy->calls.size() == 4);
  CHECK(f.policy->calls[0].historySize == 0);
  CHECK_FALSE(f.policy->calls[0].input.lastScaleUp);
  CHECK_FALSE(f.policy->calls[0].input.lastScaleDown);
  CHECK(f.policy->calls[2].historySize == 2);
  const PolicySample& s = f.policy->calls[2].lastSample;
  CHECK(s.time == at(16));
  CHECK(s.source == kPolicySourceHpa);
  CHECK(s.replicas == 2);
  CHECK(s.proposed == 2);
  CHECK(s.desired == 6);
  REQUIRE(s.values.size() == 2);
  CHECK(s.values[0] == 10);
  CHECK(s.values[1] == 0.5);
  CHECK(f.policy->calls[2].input.lastScaleUp == at(16));
  CHECK(f.policy->calls[3].input.lastScaleUp == at(16));
  CHECK(f.policy->calls[3].input.lastScaleDown == at(31));
  CHECK(f.policy->calls[3].input.triggers.at(1).name == "b");

  // Bounded: at most kPolicyHistoryMaxSamples, and nothing older than kPolicyHistoryWindow.
  f.policy->answer = [](const PolicyInput& in) { return Result<int32_t>(in.currentReplicas); };
  for (int i = 0; i < 800; ++i) h->hpaSync(at(100 + i), at(101 + i));
  CHECK(f.policy->calls.back().historySize == kPolicyHistoryMaxSamples - 1);
  CHECK(h->policyHistory().size() == kPolicyHistoryMaxSamples);
  h->hpaSync(at(100 + 799 + 3601), at(100 + 799 + 3602));
  CHECK(f.policy->calls.back().historySize == 0);
  CHECK(h->policyHistory().size() == 1);
}
