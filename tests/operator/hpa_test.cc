// The HPA the operator owns, in KEDA's exact shape, and what it writes on the ScaledObject.
#include <algorithm>
#include <catch2/catch.hpp>

#include "operator_support.h"

using namespace updraft::operator_test;

namespace {

bool settled(const KedaCluster& k, const std::string& so, const std::string& hpa) {
  json o = k.scaledObject(so);
  return conditionStatus(o, "Ready") == "True" && conditionStatus(o, "Active") != "Unknown" &&
         !o.value("/status/externalMetricNames"_json_pointer, json::array()).empty() &&
         k.hpa(hpa).is_object();
}

}  // namespace

TEST_CASE("operator: the HPA in KEDA's shape, finalizer, label and status of the ScaledObject") {
  KedaCluster k;
  ValueServer values;
  k.create(deploymentPath(), deploymentObject("web", 0));
  k.create(deploymentPath(), deploymentObject("api", 0));

  json web = scaledObjectObject("web", "web", {metricsApiTrigger(values.url("/value"), "5", "1")});
  web["metadata"]["labels"] = {{"team", "payments"}};
  web["metadata"]["annotations"] = {{"example.com/owner", "alice"}};
  web["spec"]["maxReplicaCount"] = 7;
  const json scaleDown = {
      {"stabilizationWindowSeconds", 30},
      {"policies", {{{"type", "Percent"}, {"value", 50}, {"periodSeconds", 15}}}}};
  web["spec"]["advanced"] = {
      {"horizontalPodAutoscalerConfig", {{"behavior", {{"scaleDown", scaleDown}}}}}};
  const json created = k.create(soPath(), web);
  const std::string uid = created["metadata"]["uid"];

  json api = scaledObjectObject("api", "api", {metricsApiTrigger(values.url("/value"), "2.5")});
  api["spec"]["minReplicaCount"] = 2;
  api["spec"]["maxReplicaCount"] = 4;
  k.create(soPath(), api);

  OperatorProcess op(k.cluster);
  REQUIRE(op.waitReady());
  REQUIRE(eventually([&] { return settled(k, "web", "keda-hpa-web"); }));
  REQUIRE(eventually([&] { return settled(k, "api", "keda-hpa-api"); }));

  const json so = k.scaledObject("web");
  const json hpa = k.hpa("keda-hpa-web");
  INFO("ScaledObject: " << so.dump(2) << "\nHPA: " << hpa.dump(2));

  {  // the ScaledObject gets KEDA's finalizer and name label
    CHECK(so["metadata"]["finalizers"] == json::array({"finalizer.keda.sh"}));
    CHECK(so["metadata"]["labels"] ==
          json({{"team", "payments"}, {"scaledobject.keda.sh/name", "web"}}));
  }

  {  // status
    const json& st = so["status"];
    for (const char* type : {"Ready", "Active", "Fallback", "Paused"}) {
      CAPTURE(type);
      CHECK(condition(so, type).is_object());
    }
    CHECK(condition(so, "Ready")["reason"] == "ScaledObjectReady");
    CHECK(condition(so, "Ready")["message"] ==
          "ScaledObject is defined correctly and is ready for scaling");
    CHECK(conditionStatus(so, "Active") == "False");
    CHECK(conditionStatus(so, "Fallback") == "False");
    CHECK(conditionStatus(so, "Paused") == "False");
    REQUIRE(st["externalMetricNames"].size() == 1);
    CHECK(st["externalMetricNames"][0].get<std::string>().starts_with("s0-"));
    CHECK(st["hpaName"] == "keda-hpa-web");
    CHECK(st["scaleTargetKind"] == "apps/v1.Deployment");
    CHECK(st["scaleTargetGVKR"] == json({{"group", "apps"},
                                         {"version", "v1"},
                                         {"kind", "Deployment"},
                                         {"resource", "deployments"}}));
    CHECK(st["originalReplicaCount"] == 0);
    CHECK(st["triggersTypes"] == "metrics-api");
  }

  {  // the HPA
    const json& meta = hpa["metadata"];
    CHECK(hpa["apiVersion"] == "autoscaling/v2");
    CHECK(meta["name"] == "keda-hpa-web");
    CHECK(meta["namespace"] == kNs);
    const json& labels = meta["labels"];
    CHECK(labels["app.kubernetes.io/name"] == "keda-hpa-web");
    CHECK(labels["app.kubernetes.io/part-of"] == "web");
    CHECK(labels["app.kubernetes.io/managed-by"] == "keda-operator");
    CHECK(labels.value("app.kubernetes.io/version", "") != "");
    CHECK(labels["scaledobject.keda.sh/name"] == "web");
    CHECK(labels["team"] == "payments");  // the ScaledObject's labels are copied
    CHECK(labels.size() == 6);
    CHECK(meta["annotations"] == json({{"example.com/owner", "alice"}}));
    REQUIRE(meta["ownerReferences"].size() == 1);
    CHECK(meta["ownerReferences"][0] == json({{"apiVersion", "keda.sh/v1alpha1"},
                                              {"kind", "ScaledObject"},
                                              {"name", "web"},
                                              {"uid", uid},
                                              {"controller", true},
                                              {"blockOwnerDeletion", true}}));

    const json& spec = hpa["spec"];
    CHECK(spec["scaleTargetRef"] ==
          json({{"apiVersion", "apps/v1"}, {"kind", "Deployment"}, {"name", "web"}}));
    CHECK(spec["minReplicas"] == 1);  // max(minReplicaCount 0, 1)
    CHECK(spec["maxReplicas"] == 7);
    REQUIRE(spec["metrics"].size() == 1);
    CHECK(spec["metrics"][0] ==
          json({{"type", "External"},
                {"external",
                 {{"metric",
                   {{"name", so["status"]["externalMetricNames"][0]},
                    {"selector", {{"matchLabels", {{"scaledobject.keda.sh/name", "web"}}}}}}},
                  {"target", {{"type", "AverageValue"}, {"averageValue", "5"}}}}}}));
    CHECK(spec["behavior"] == json({{"scaleDown", scaleDown}}));
  }

  {  // minReplicaCount above 1, a fractional target, no behavior
    const json other = k.hpa("keda-hpa-api");
    INFO(other.dump(2));
    CHECK(other["spec"]["minReplicas"] == 2);
    CHECK(other["spec"]["maxReplicas"] == 4);
    CHECK(other["spec"]["metrics"][0]["external"]["target"] ==
          json({{"type", "AverageValue"}, {"averageValue", "2500m"}}));
    CHECK_FALSE(other["spec"].contains("behavior"));
    CHECK_FALSE(other["metadata"].contains("annotations"));
    // KEDA scales a target below minReplicaCount up to it.
    CHECK(eventually([&] { return k.replicas("api") == 2; }));
  }

  {  // once settled, the HPA is not rewritten
    const std::string version = hpa["metadata"]["resourceVersion"];
    const std::string soVersion = k.scaledObject("web")["metadata"]["resourceVersion"];
    auto lastSeq = [&] {
      int64_t seq = 0;
      const json log =
          k.api().get("/_test/requests").json();  // the range must not be a temporary's
      for (const json& r : log["requests"]) {
        seq = std::max<int64_t>(seq, r.value("seq", int64_t{0}));
      }
      return seq;
    };
    const int64_t before = lastSeq();
    std::this_thread::sleep_for(4s);  // four polls
    // No writes at all while nothing changes (no status, HPA or Event churn).
    std::vector<std::string> writes;
    const json after = k.api().get("/_test/requests").json();
    for (const json& r : after["requests"]) {
      if (r.value("seq", int64_t{0}) > before && r.value("method", "") != "GET") {
        writes.push_back(r.value("method", "") + " " + r.value("path", ""));
      }
    }
    CAPTURE(writes);
    CHECK(writes.empty());
    const json again = k.hpa("keda-hpa-web");
    CHECK(again["metadata"]["resourceVersion"] == version);
    // Nothing changed, so no status write either.
    CHECK(k.scaledObject("web")["metadata"]["resourceVersion"] == soVersion);
    // Created once, never updated, not even right after creation.
    CHECK(k.requestCount("POST", hpaPath()) >= 2);
    CHECK(k.requestCount("PUT", hpaPath("keda-hpa-web")) == 0);
    CHECK(k.requestCount("PATCH", hpaPath("keda-hpa-web")) == 0);
    CHECK(op.log().find("updated HPA") == std::string::npos);
  }

  CHECK(op.running());
}
