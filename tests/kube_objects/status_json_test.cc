// ScaledObject / ScaledJob .status as KEDA writes it, read back after a restart, and the merge
// patch that writes a change.
#include "updraft/operator/status_json.h"

#include <catch2/catch.hpp>
#include <chrono>
#include <string>

#include "updraft/parse.h"

using namespace updraft;
using namespace updraft::kube;
using nlohmann::json;

namespace {

TimePoint at(const char* rfc3339) {
  auto t = parseRfc3339(rfc3339);
  REQUIRE(t.isOk());
  return *t;
}

ScalableStatus fullStatus() {
  ScalableStatus s;
  s.ready = {ConditionStatus::kTrue, "ScaledObjectReady",
             "ScaledObject is defined correctly and is ready for scaling"};
  s.active = {ConditionStatus::kTrue, "ScalerActive",
              "Scaling is performed because triggers are active"};
  s.fallback = {ConditionStatus::kFalse, "NoFallbackFound",
                "No fallbacks are active on this scaled object"};
  s.paused = {ConditionStatus::kFalse, "", ""};
  // Sub-second parts are dropped, as metav1.Time does.
  s.lastActiveTime = at("2024-05-01T12:00:00Z") + std::chrono::milliseconds(750);
  s.originalReplicaCount = 3;
  s.health["s0-kafka-orders"] = {2, true};
  s.health["s1-prometheus"] = {0, false};
  s.triggersActivity["s0-kafka-orders"] = true;
  s.triggersActivity["s1-prometheus"] = false;
  s.externalMetricNames = {"s0-kafka-orders", "s1-prometheus"};
  s.resourceMetricNames = {"cpu"};
  return s;
}

StatusExtras extras() {
  StatusExtras e;
  e.gvkr = ScaleTargetGvkr{"apps", "v1", "Deployment", "deployments"};
  e.hpaName = "keda-hpa-orders";
  e.triggersTypes = "kafka,prometheus,cpu";
  e.authenticationsTypes = "kafka-auth";
  return e;
}

}  // namespace

TEST_CASE("a ScaledObject's status has KEDA's field names and order of conditions and formats") {
  const json expected = {
      {"scaleTargetKind", "apps/v1.Deployment"},
      {"scaleTargetGVKR",
       {{"group", "apps"}, {"version", "v1"}, {"kind", "Deployment"}, {"resource", "deployments"}}},
      {"originalReplicaCount", 3},
      {"lastActiveTime", "2024-05-01T12:00:00Z"},
      {"externalMetricNames", {"s0-kafka-orders", "s1-prometheus"}},
      {"resourceMetricNames", {"cpu"}},
      {"conditions",
       {{{"type", "Ready"},
         {"status", "True"},
         {"reason", "ScaledObjectReady"},
         {"message", "ScaledObject is defined correctly and is ready for scaling"}},
        {{"type", "Active"},
         {"status", "True"},
         {"reason", "ScalerActive"},
         {"message", "Scaling is performed because triggers are active"}},
        {{"type", "Fallback"},
         {"status", "False"},
         {"reason", "NoFallbackFound"},
         {"message", "No fallbacks are active on this scaled object"}},
        {{"type", "Paused"}, {"status", "False"}}}},
      {"health",
       {{"s0-kafka-orders", {{"numberOfFailures", 2}, {"status", "Failing"}}},
        {"s1-prometheus", {{"numberOfFailures", 0}, {"status", "Happy"}}}}},
      {"hpaName", "keda-hpa-orders"},
      {"triggersTypes", "kafka,prometheus,cpu"},
      {"authenticationsTypes", "kafka-auth"},
      {"triggersActivity",
       {{"s0-kafka-orders", {{"isActive", true}}}, {"s1-prometheus", {{"isActive", false}}}}}};
  CHECK(scaledObjectStatusJson(fullStatus(), extras()) == expected);
}

TEST_CASE("unset status fields are left out (omitempty)") {
  const json fresh = scaledObjectStatusJson(ScalableStatus{}, StatusExtras{});
  CHECK(fresh == json{{"conditions",
                       {{{"type", "Ready"}, {"status", "Unknown"}},
                        {{"type", "Active"}, {"status", "Unknown"}},
                        {{"type", "Fallback"}, {"status", "Unknown"}},
                        {{"type", "Paused"}, {"status", "False"}}}}});

  ScalableStatus paused;
  paused.paused = {ConditionStatus::kTrue, "ScaledObjectPaused", "ScaledObject is paused"};
  paused.pausedReplicaCount = 0;  // set to zero is still written
  paused.compositeScalerName = "composite-metric";
  StatusExtras e;
  e.scaleTargetKind = "argoproj.io/v1alpha1.Rollout";
  const json s = scaledObjectStatusJson(paused, e);
  CHECK(s["pausedReplicaCount"] == 0);
  CHECK(s["compositeScalerName"] == "composite-metric");
  CHECK(s["scaleTargetKind"] == "argoproj.io/v1alpha1.Rollout");
  CHECK_FALSE(s.contains("scaleTargetGVKR"));
  CHECK(s["conditions"][3] == json{{"type", "Paused"},
                                   {"status", "True"},
                                   {"reason", "ScaledObjectPaused"},
                                   {"message", "ScaledObject is paused"}});
}

TEST_CASE("a ScaledJob's status") {
  ScalableStatus s;
  s.ready = {ConditionStatus::kTrue, "ScaledJobReady",
             "ScaledJob is defined correctly and is ready for scaling"};
  s.active = {ConditionStatus::kFalse, "ScalerNotActive",
              "Scaling is not performed because triggers are not active"};
  s.lastActiveTime = at("2024-05-01T12:00:00+02:00");
  const json expected = {
      {"lastActiveTime", "2024-05-01T10:00:00Z"},
      {"conditions",
       {{{"type", "Ready"},
         {"status", "True"},
         {"reason", "ScaledJobReady"},
         {"message", "ScaledJob is defined correctly and is ready for scaling"}},
        {{"type", "Active"},
         {"status", "False"},
         {"reason", "ScalerNotActive"},
         {"message", "Scaling is not performed because triggers are not active"}},
        {{"type", "Fallback"}, {"status", "Unknown"}},
        {{"type", "Paused"}, {"status", "False"}}}},
      {"triggersTypes", "rabbitmq"},
      {"authenticationsTypes", "rabbit-auth"}};
  CHECK(scaledJobStatusJson(s, "rabbitmq", "rabbit-auth") == expected);
}

TEST_CASE("a stored status reads back into the same ScalableStatus") {
  ScalableStatus original = fullStatus();
  original.pausedReplicaCount = 4;
  original.compositeScalerName = "composite-metric";
  const json stored = scaledObjectStatusJson(original, extras());
  const ScalableStatus back = scalableStatusFromJson(stored);

  CHECK(back.ready.status == ConditionStatus::kTrue);
  CHECK(back.ready.reason == "ScaledObjectReady");
  CHECK(back.active.message == original.active.message);
  CHECK(back.fallback.status == ConditionStatus::kFalse);
  CHECK(back.paused.status == ConditionStatus::kFalse);
  REQUIRE(back.lastActiveTime);
  CHECK(*back.lastActiveTime == at("2024-05-01T12:00:00Z"));  // whole seconds
  CHECK(back.originalReplicaCount == 3);
  CHECK(back.pausedReplicaCount == 4);
  REQUIRE(back.health.size() == 2);
  CHECK(back.health.at("s0-kafka-orders").numberOfFailures == 2);
  CHECK(back.health.at("s0-kafka-orders").failing);
  CHECK_FALSE(back.health.at("s1-prometheus").failing);
  CHECK(back.triggersActivity == original.triggersActivity);
  CHECK(back.externalMetricNames == original.externalMetricNames);
  CHECK(back.resourceMetricNames == original.resourceMetricNames);
  CHECK(back.compositeScalerName == "composite-metric");
  // And writing it again gives the same JSON.
  CHECK(scaledObjectStatusJson(back, extras()) == stored);
}

TEST_CASE("reading a status ignores values of the wrong type") {
  const json odd = {
      {"conditions",
       {"Ready",
        {{"type", "HPAActive"}, {"status", "True"}},
        {{"type", "Active"}, {"status", 1}, {"reason", 7}},
        {{"type", "Paused"}, {"status", "True"}, {"reason", "ScaledObjectPaused"}}}},
      {"lastActiveTime", "yesterday"},
      {"originalReplicaCount", "3"},
      {"pausedReplicaCount", 5000000000LL},
      {"health", {{"s0-x", "Happy"}, {"s1-y", {{"numberOfFailures", "2"}, {"status", "Failing"}}}}},
      {"triggersActivity", {{"s0-x", {{"isActive", "yes"}}}}},
      {"externalMetricNames", {"s0-x", 3}},
      {"compositeScalerName", json::array()}};
  const ScalableStatus s = scalableStatusFromJson(odd);
  CHECK(s.ready.status == ConditionStatus::kUnknown);
  CHECK(s.active.status == ConditionStatus::kUnknown);  // a non-string status
  CHECK(s.active.reason.empty());
  CHECK(s.paused.status == ConditionStatus::kTrue);
  CHECK_FALSE(s.lastActiveTime);
  CHECK_FALSE(s.originalReplicaCount);
  CHECK_FALSE(s.pausedReplicaCount);  // out of int32 range
  REQUIRE(s.health.size() == 1);
  CHECK(s.health.at("s1-y").numberOfFailures == 0);
  CHECK(s.health.at("s1-y").failing);
  CHECK(s.triggersActivity.at("s0-x") == false);
  CHECK(s.externalMetricNames == std::vector<std::string>{"s0-x"});
  CHECK(s.compositeScalerName.empty());

  const ScalableStatus none = scalableStatusFromJson(json("not an object"));
  CHECK(none.ready.status == ConditionStatus::kUnknown);
  CHECK(none.paused.status == ConditionStatus::kFalse);
  CHECK(none.health.empty());
}

TEST_CASE("the merge patch between two statuses (RFC 7386)") {
  const json before = scaledObjectStatusJson(fullStatus(), extras());
  CHECK(mergePatchDiff(before, before) == json::object());

  ScalableStatus changed = fullStatus();
  changed.health.erase("s1-prometheus");  // a metric went away
  changed.health["s0-kafka-orders"] = {3, true};
  changed.externalMetricNames = {"s0-kafka-orders"};
  changed.active = {ConditionStatus::kFalse, "ScalerNotActive",
                    "Scaling is not performed because triggers are not active"};
  changed.originalReplicaCount.reset();
  const json after = scaledObjectStatusJson(changed, extras());

  const json patch = mergePatchDiff(before, after);
  CHECK(
      patch ==
      json{{"health", {{"s1-prometheus", nullptr}, {"s0-kafka-orders", {{"numberOfFailures", 3}}}}},
           {"externalMetricNames", {"s0-kafka-orders"}},  // arrays are replaced whole
           {"conditions", after["conditions"]},
           {"originalReplicaCount", nullptr}});
  json applied = before;
  applied.merge_patch(patch);
  CHECK(applied == after);

  // A value that was not an object before is replaced whole.
  CHECK(mergePatchDiff(json{{"a", 1}}, json{{"a", {{"b", 2}}}}) == json{{"a", {{"b", 2}}}});
}

TEST_CASE("triggersTypes and authenticationsTypes as KEDA joins them") {
  auto trigger = [](std::string type, std::string auth) {
    ScaleTriggers t;
    t.type = std::move(type);
    if (!auth.empty())
      t.authenticationRef = AuthenticationRef{auth, "ClusterTriggerAuthentication"};
    return t;
  };
  const std::vector<ScaleTriggers> triggers = {trigger("kafka", "kafka-auth"),
                                               trigger("prometheus", ""), trigger("kafka", "other"),
                                               trigger("cpu", "kafka-auth")};
  CHECK(triggersTypesOf(triggers) == "kafka,prometheus,cpu");
  CHECK(authenticationsTypesOf(triggers) == "kafka-auth,other");
  CHECK(triggersTypesOf({}).empty());
  CHECK(authenticationsTypesOf({trigger("cpu", "")}).empty());
}
