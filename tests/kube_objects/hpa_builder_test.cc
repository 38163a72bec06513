// The owned HPA in KEDA's exact shape (controllers/keda/hpa.go), built from ScaledObjects parsed
// from YAML with the real scalers, and KEDA's rule for when an existing HPA must be updated.
#include "updraft/operator/hpa_builder.h"

#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "updraft/parse.h"
#include "updraft/triggers.h"

using namespace updraft;
using namespace updraft::kube;
using nlohmann::json;

namespace {

const char* const kUid = "6b1e4c2a-0f4d-4a57-9a43-2f1f9d3c1a10";

struct Parsed {
  ScaledObject so;
  json raw;
  std::vector<BuiltTrigger> triggers;
};

Parsed parse(const std::string& yaml) {
  auto docs = parseDocuments(yaml, "so.yaml");
  REQUIRE(docs.isOk());
  REQUIRE(docs->size() == 1);
  const Document& doc = docs->front();
  INFO((doc.errors.empty() ? std::string() : toString(doc.errors.front())));
  REQUIRE(doc.ok());
  REQUIRE(doc.scaledObject());
  Parsed p{*doc.scaledObject(), doc.raw, {}};
  auto built = buildTriggers(p.so.metadata, p.so.spec.triggers, TriggerBuildOptions{});
  INFO(built.status().toString());
  REQUIRE(built.isOk());
  p.triggers = std::move(*built);
  return p;
}

const ScaleTargetGvkr kDeployment{"apps", "v1", "Deployment", "deployments"};

Result<json> build(const Parsed& p, ScaleTargetGvkr target = kDeployment) {
  HpaBuildInput in;
  in.object = &p.so;
  in.objectJson = &p.raw;
  in.triggers = &p.triggers;
  in.target = std::move(target);
  return buildHpa(in);
}

json buildOk(const Parsed& p) {
  Result<json> hpa = build(p);
  INFO(hpa.status().toString());
  REQUIRE(hpa.isOk());
  return *hpa;
}

const char* const kOrders = R"(
apiVersion: keda.sh/v1alpha1
kind: ScaledObject
metadata:
  name: orders
  namespace: shop
  uid: 6b1e4c2a-0f4d-4a57-9a43-2f1f9d3c1a10
  labels:
    team: payments
    scaledobject.keda.sh/name: orders
  annotations:
    example.com/owner: payments-team
spec:
  scaleTargetRef:
    name: web
  minReplicaCount: 0
  maxReplicaCount: 20
  triggers:
    - type: cpu
      metricType: Utilization
      metadata:
        value: "60"
    - type: kafka
      metadata:
        bootstrapServers: kafka.shop:9092
        consumerGroup: orders-workers
        topic: orders
        lagThreshold: "1000"
)";

json owner() {
  return json::array({{{"apiVersion", "keda.sh/v1alpha1"},
                       {"kind", "ScaledObject"},
                       {"name", "orders"},
                       {"uid", kUid},
                       {"controller", true},
                       {"blockOwnerDeletion", true}}});
}

json kafkaMetric(const std::string& target = "1k") {
  return {{"type", "External"},
          {"external",
           {{"metric",
             {{"name", "s1-kafka-orders"},
              {"selector", {{"matchLabels", {{"scaledobject.keda.sh/name", "orders"}}}}}}},
            {"target", {{"type", "AverageValue"}, {"averageValue", target}}}}}};
}

json cpuMetric() {
  return {{"type", "Resource"},
          {"resource",
           {{"name", "cpu"}, {"target", {{"type", "Utilization"}, {"averageUtilization", 60}}}}}};
}

}  // namespace

TEST_CASE("the HPA of a ScaledObject with kafka and cpu triggers is KEDA's field for field") {
  const json expected = {
      {"apiVersion", "autoscaling/v2"},
      {"kind", "HorizontalPodAutoscaler"},
      {"metadata",
       {{"name", "keda-hpa-orders"},
        {"namespace", "shop"},
        {"labels",
         {{"app.kubernetes.io/name", "keda-hpa-orders"},
          {"app.kubernetes.io/version", "0.1.0"},
          {"app.kubernetes.io/part-of", "orders"},
          {"app.kubernetes.io/managed-by", "keda-operator"},
          {"team", "payments"},
          {"scaledobject.keda.sh/name", "orders"}}},
        {"annotations", {{"example.com/owner", "payments-team"}}},
        {"ownerReferences", owner()}}},
      {"spec",
       {{"scaleTargetRef", {{"apiVersion", "apps/v1"}, {"kind", "Deployment"}, {"name", "web"}}},
        {"minReplicas", 1},  // minReplicaCount 0 -> 1
        {"maxReplicas", 20},
        // External sorts before Resource although cpu is trigger 0; lagThreshold 1000 -> "1k".
        {"metrics", json::array({kafkaMetric(), cpuMetric()})}}}};
  CHECK(buildOk(parse(kOrders)) == expected);
}

TEST_CASE("defaults without labels or annotations or min/max; the UID comes from the API object") {
  Parsed p = parse(R"(
apiVersion: keda.sh/v1alpha1
kind: ScaledObject
metadata: {name: orders, namespace: shop}
spec:
  scaleTargetRef: {name: web, apiVersion: v1, kind: ReplicationController}
  triggers:
    - type: kafka
      metadata: {bootstrapServers: "k:9092", consumerGroup: g, topic: orders, lagThreshold: "5"}
)");
  p.raw["metadata"]["uid"] = "from-the-api";
  Result<json> hpa = build(p, {"", "v1", "ReplicationController", "replicationcontrollers"});
  REQUIRE(hpa.isOk());
  const json& meta = (*hpa)["metadata"];
  CHECK_FALSE(meta.contains("annotations"));
  CHECK(meta["labels"].size() == 4);
  CHECK(meta["ownerReferences"][0]["uid"] == "from-the-api");
  const json& spec = (*hpa)["spec"];
  CHECK(spec["scaleTargetRef"] ==
        json{{"apiVersion", "v1"}, {"kind", "ReplicationController"}, {"name", "web"}});
  CHECK(spec["minReplicas"] == 1);
  CHECK(spec["maxReplicas"] == 100);
  CHECK_FALSE(spec.contains("behavior"));
  CHECK(spec["metrics"][0]["external"]["metric"]["name"] == "s0-kafka-orders");
  CHECK(spec["metrics"][0]["external"]["target"] ==
        json{{"type", "AverageValue"}, {"averageValue", "5"}});
}

TEST_CASE("paused-scale-in disables the HPA's scale-down and keeps the configured behavior") {
  Parsed p = parse(R"(
apiVersion: keda.sh/v1alpha1
kind: ScaledObject
metadata:
  name: orders
  namespace: shop
  annotations:
    autoscaling.keda.sh/paused-scale-in: "true"
spec:
  scaleTargetRef: {name: web}
  minReplicaCount: 2
  advanced:
    horizontalPodAutoscalerConfig:
      name: orders-hpa
      behavior:
        scaleUp:
          policies:
            - {type: Pods, value: 10, periodSeconds: 5}
          tolerance: "0.05"
        scaleDown:
          stabilizationWindowSeconds: 60
  triggers:
    - type: kafka
      metadata: {bootstrapServers: "k:9092", consumerGroup: g, topic: orders, lagThreshold: "5"}
)");
  json hpa = buildOk(p);
  CHECK(hpa["metadata"]["name"] == "orders-hpa");
  CHECK(hpa["metadata"]["labels"]["app.kubernetes.io/name"] == "orders-hpa");
  // All annotations are copied verbatim, the pause annotation included.
  CHECK(hpa["metadata"]["annotations"] == json{{"autoscaling.keda.sh/paused-scale-in", "true"}});
  CHECK(hpa["spec"]["minReplicas"] == 2);
  CHECK(hpa["spec"]["behavior"] ==
        json{{"scaleUp",
              {{"policies", {{{"type", "Pods"}, {"value", 10}, {"periodSeconds", 5}}}},
               {"tolerance", "50m"}}},
             {"scaleDown", {{"stabilizationWindowSeconds", 60}, {"selectPolicy", "Disabled"}}}});
}

TEST_CASE("paused-scale-out without a behavior creates one; a non-bool value counts as true") {
  Parsed p = parse(R"(
apiVersion: keda.sh/v1alpha1
kind: ScaledObject
metadata:
  name: orders
  namespace: shop
  annotations:
    autoscaling.keda.sh/paused-scale-out: "yes please"
    autoscaling.keda.sh/paused-scale-in: "false"
spec:
  scaleTargetRef: {name: web}
  triggers:
    - type: kafka
      metadata: {bootstrapServers: "k:9092", consumerGroup: g, topic: orders, lagThreshold: "5"}
)");
  CHECK(buildOk(p)["spec"]["behavior"] == json{{"scaleUp", {{"selectPolicy", "Disabled"}}}});
}

TEST_CASE("scalingModifiers replace the External metrics with one composite metric") {
  Parsed p = parse(R"(
apiVersion: keda.sh/v1alpha1
kind: ScaledObject
metadata: {name: orders, namespace: shop}
spec:
  scaleTargetRef: {name: web}
  advanced:
    scalingModifiers:
      formula: "a + b"
      target: "2.5"
      metricType: Value
  triggers:
    - type: kafka
      name: a
      metadata: {bootstrapServers: "k:9092", consumerGroup: g, topic: orders, lagThreshold: "5"}
    - type: memory
      metricType: AverageValue
      metadata: {value: 512Mi}
    - type: kafka
      name: b
      metadata: {bootstrapServers: "k:9092", consumerGroup: g, topic: refunds, lagThreshold: "5"}
)");
  const json expected = json::array(
      {{{"type", "Resource"},
        {"resource",
         {{"name", "memory"},
          {"target", {{"type", "AverageValue"}, {"averageValue", "536870912"}}}}}},
       {{"type", "External"},
        {"external",
         {{"metric",
           {{"name", "composite-metric"},
            {"selector", {{"matchLabels", {{"scaledobject.keda.sh/name", "orders"}}}}}}},
          {"target", {{"type", "Value"}, {"value", "2500m"}}}}}}});
  CHECK(buildOk(p)["spec"]["metrics"] == expected);

  SECTION("metricType defaults to AverageValue") {
    p.so.spec.advanced->scalingModifiers.metricType.clear();
    CHECK(buildOk(p)["spec"]["metrics"][1]["external"]["target"] ==
          json{{"type", "AverageValue"}, {"averageValue", "2500m"}});
  }
  SECTION("without a positive target the triggers' own metrics stay") {
    p.so.spec.advanced->scalingModifiers.target = "0";
    json metrics = buildOk(p)["spec"]["metrics"];
    REQUIRE(metrics.size() == 3);
    CHECK(metrics[0]["external"]["metric"]["name"] == "s0-kafka-orders");
    CHECK(metrics[1]["external"]["metric"]["name"] == "s2-kafka-refunds");
    CHECK(metrics[2]["type"] == "Resource");
  }
}

TEST_CASE("hpa-excluded-labels keeps the listed SO labels off the HPA without trimming") {
  Parsed p = parse(R"(
apiVersion: keda.sh/v1alpha1
kind: ScaledObject
metadata:
  name: orders
  namespace: shop
  labels: {team: payments, env: prod, tier: backend, app.kubernetes.io/part-of: shop}
  annotations:
    scaledobject.keda.sh/hpa-excluded-labels: "team, env,tier"
spec:
  scaleTargetRef: {name: web}
  triggers:
    - type: kafka
      metadata: {bootstrapServers: "k:9092", consumerGroup: g, topic: orders, lagThreshold: "5"}
)");
  const json labels = buildOk(p)["metadata"]["labels"];
  CHECK_FALSE(labels.contains("team"));
  CHECK_FALSE(labels.contains("tier"));
  CHECK(labels["env"] == "prod");  // " env" was excluded, not "env"
  // An SO label overrides KEDA's own.
  CHECK(labels["app.kubernetes.io/part-of"] == "shop");
}

TEST_CASE("the name label is cut to 63 characters without trailing non-alphanumerics") {
  const std::string name = std::string(52, 'a') + "--" + "tail12";  // 60 characters
  Parsed p = parse(R"(
apiVersion: keda.sh/v1alpha1
kind: ScaledObject
metadata: {name: )" +
                   name + R"(, namespace: shop}
spec:
  scaleTargetRef: {name: web}
  triggers:
    - type: kafka
      metadata: {bootstrapServers: "k:9092", consumerGroup: g, topic: orders, lagThreshold: "5"}
)");
  json hpa = buildOk(p);
  CHECK(hpa["metadata"]["name"] == "keda-hpa-" + name);  // the name itself is not cut
  CHECK(hpa["metadata"]["labels"]["app.kubernetes.io/name"] == "keda-hpa-" + std::string(52, 'a'));
  CHECK(hpaNameFor(p.so) == "keda-hpa-" + name);
}

TEST_CASE("KEDA's HPA errors: duplicate external metric names and no metrics at all") {
  Parsed p = parse(kOrders);
  SECTION("duplicate") {
    BuiltTrigger twice = p.triggers[1];
    twice.specs.push_back(twice.specs.front());
    p.triggers = {twice};
    Result<json> hpa = build(p);
    REQUIRE_FALSE(hpa.isOk());
    CHECK(hpa.status().code() == StatusCode::kInvalidArgument);
    CHECK(hpa.status().message() ==
          "metricName s1-kafka-orders defined multiple times in ScaledObject orders");
  }
  SECTION("no metrics") {
    p.triggers.clear();
    Result<json> hpa = build(p);
    REQUIRE_FALSE(hpa.isOk());
    CHECK(hpa.status().code() == StatusCode::kInvalidArgument);
  }
  SECTION("missing input") { CHECK_FALSE(buildHpa(HpaBuildInput{}).isOk()); }
}

TEST_CASE("ContainerResource metrics and AverageValue cpu targets") {
  Parsed p = parse(R"(
apiVersion: keda.sh/v1alpha1
kind: ScaledObject
metadata: {name: orders, namespace: shop}
spec:
  scaleTargetRef: {name: web}
  triggers:
    - type: memory
      metricType: Utilization
      metadata: {value: "70"}
    - type: cpu
      metricType: AverageValue
      metadata: {value: 1500m, containerName: app}
)");
  const json metrics = buildOk(p)["spec"]["metrics"];
  REQUIRE(metrics.size() == 2);
  // "ContainerResource" < "Resource".
  CHECK(metrics[0] == json{{"type", "ContainerResource"},
                           {"containerResource",
                            {{"name", "cpu"},
                             {"container", "app"},
                             {"target", {{"type", "AverageValue"}, {"averageValue", "1500m"}}}}}});
  CHECK(
      metrics[1]["resource"] ==
      json{{"name", "memory"}, {"target", {{"type", "Utilization"}, {"averageUtilization", 70}}}});
}

TEST_CASE("quantities in Kubernetes' canonical form") {
  CHECK(milliQuantityString(0) == "0");
  CHECK(milliQuantityString(5000) == "5");
  CHECK(milliQuantityString(1500) == "1500m");
  CHECK(milliQuantityString(10) == "10m");
  CHECK(milliQuantityString(100000) == "100");
  CHECK(milliQuantityString(1500000) == "1500");
  CHECK(milliQuantityString(2000000) == "2k");
  CHECK(milliQuantityString(100000000000) == "100M");
  CHECK(milliQuantityString(-2500) == "-2500m");
}

TEST_CASE("the scale target's GVKR strings") {
  CHECK(kDeployment.apiVersion() == "apps/v1");
  CHECK(kDeployment.kindString() == "apps/v1.Deployment");
  ScaleTargetGvkr core{"", "v1", "ReplicationController", "replicationcontrollers"};
  CHECK(core.apiVersion() == "v1");
  CHECK(core.kindString() == "v1.ReplicationController");
}

namespace {

// `hpa` as the API server returns it: identity, status, managed fields, defaulted behavior.
json asStored(json hpa) {
  hpa["metadata"]["resourceVersion"] = "4711";
  hpa["metadata"]["uid"] = "0d7c3a1e-hpa";
  hpa["metadata"]["creationTimestamp"] = "2024-05-01T12:00:00Z";
  hpa["metadata"]["managedFields"] = json::array({{{"manager", "updraft"}}});
  hpa["status"] = {{"currentReplicas", 3}, {"desiredReplicas", 3}};
  return hpa;
}

}  // namespace

TEST_CASE("an HPA needs no update when only the server added fields") {
  json desired = buildOk(parse(kOrders));
  CHECK_FALSE(hpaNeedsUpdate(desired, desired));
  json stored = asStored(desired);
  stored["metadata"]["labels"]["added-by-someone"] = "x";  // extra labels are tolerated
  CHECK_FALSE(hpaNeedsUpdate(stored, desired));

  SECTION("a behavior completed by the server's defaults") {
    desired["spec"]["behavior"] = {{"scaleDown", {{"stabilizationWindowSeconds", 60}}}};
    stored["spec"]["behavior"] = {
        {"scaleUp",
         {{"stabilizationWindowSeconds", 0},
          {"selectPolicy", "Max"},
          {"policies",
           {{{"type", "Pods"}, {"value", 4}, {"periodSeconds", 15}},
            {{"type", "Percent"}, {"value", 100}, {"periodSeconds", 15}}}}}},
        {"scaleDown",
         {{"stabilizationWindowSeconds", 60},
          {"selectPolicy", "Max"},
          {"policies", {{{"type", "Percent"}, {"value", 100}, {"periodSeconds", 15}}}}}}};
    CHECK_FALSE(hpaNeedsUpdate(stored, desired));
    // paused-scale-in removed: the stored Disabled must go back to the default.
    stored["spec"]["behavior"]["scaleDown"]["selectPolicy"] = "Disabled";
    CHECK(hpaNeedsUpdate(stored, desired));
  }
  SECTION("quantities compare by value") {
    stored["spec"]["metrics"][0]["external"]["target"]["averageValue"] = "1000";
    CHECK_FALSE(hpaNeedsUpdate(stored, desired));
    stored["spec"]["metrics"][0]["external"]["target"]["averageValue"] = "2k";
    CHECK(hpaNeedsUpdate(stored, desired));
  }
}

TEST_CASE("an HPA needs an update when anything KEDA sets differs") {
  json desired = buildOk(parse(kOrders));
  json stored = asStored(desired);
  SECTION("maxReplicas edited by hand") { stored["spec"]["maxReplicas"] = 5; }
  SECTION("a metric more (a trigger was removed)") {
    stored["spec"]["metrics"].push_back(cpuMetric());
  }
  SECTION("a metric target") { stored["spec"]["metrics"][1] = kafkaMetric("7"); }
  SECTION("a behavior that should not be there (pause annotation removed)") {
    stored["spec"]["behavior"] = {{"scaleDown", {{"selectPolicy", "Disabled"}}}};
  }
  SECTION("a label value") { stored["metadata"]["labels"]["team"] = "search"; }
  SECTION("a missing annotation") { stored["metadata"].erase("annotations"); }
  SECTION("annotations the SO no longer has") { desired["metadata"].erase("annotations"); }
  SECTION("no controller reference to the SO") { stored["metadata"].erase("ownerReferences"); }
  SECTION("a reference to another object") {
    stored["metadata"]["ownerReferences"][0]["uid"] = "someone-else";
  }
  CHECK(hpaNeedsUpdate(stored, desired));
}

TEST_CASE("the PUT body keeps the stored identity and takes KEDA's metadata and spec") {
  const json desired = buildOk(parse(kOrders));
  json stored = asStored(desired);
  stored["metadata"]["labels"] = {{"stale", "x"}};
  stored["metadata"].erase("ownerReferences");
  stored["spec"]["maxReplicas"] = 5;

  json put = hpaForUpdate(stored, desired);
  CHECK(put["metadata"]["resourceVersion"] == "4711");
  CHECK(put["metadata"]["uid"] == "0d7c3a1e-hpa");
  CHECK(put["metadata"]["name"] == "keda-hpa-orders");
  CHECK(put["metadata"]["labels"] == desired["metadata"]["labels"]);
  CHECK(put["metadata"]["ownerReferences"] == owner());
  CHECK(put["spec"] == desired["spec"]);
  CHECK(put["status"] == stored["status"]);
  CHECK_FALSE(hpaNeedsUpdate(put, desired));

  json noAnnotations = desired;
  noAnnotations["metadata"].erase("annotations");
  CHECK_FALSE(hpaForUpdate(stored, noAnnotations)["metadata"].contains("annotations"));
}
