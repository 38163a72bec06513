// Deleting a ScaledObject: KEDA's finalizer restores the original replicas when asked to, then
// lets the object go; the HPA goes with it (ownerReference garbage collection).
#include <catch2/catch.hpp>

#include "operator_support.h"

using namespace updraft::operator_test;

TEST_CASE("operator: deleting a ScaledObject restores the original replica count") {
  KedaCluster k;
  ValueServer values;
  values.set(0);  // inactive: both targets go to 0 after the cooldown
  k.create(deploymentPath(), deploymentObject("web", 2));
  k.create(deploymentPath(), deploymentObject("keep", 3));
  json restore = scaledObjectObject("web", "web", {metricsApiTrigger(values.url("/value"))});
  restore["spec"]["cooldownPeriod"] = 1;
  restore["spec"]["advanced"] = {{"restoreToOriginalReplicaCount", true}};
  k.create(soPath(), restore);
  json keep = scaledObjectObject("keep", "keep", {metricsApiTrigger(values.url("/value"))});
  keep["spec"]["cooldownPeriod"] = 1;
  k.create(soPath(), keep);

  OperatorProcess op(k.cluster);
  REQUIRE(op.waitReady());
  REQUIRE(eventually([&] { return k.replicas("web") == 0 && k.replicas("keep") == 0; }, 20s));
  REQUIRE(eventually([&] {
    return k.hpa("keda-hpa-web").is_object() && k.hpa("keda-hpa-keep").is_object() &&
           k.scaledObject("web").value("/status/originalReplicaCount"_json_pointer, -1) == 2 &&
           k.scaledObject("keep").value("/status/originalReplicaCount"_json_pointer, -1) == 3;
  }));

  // DELETE: the finalizer holds the object until the operator has restored the replicas.
  Response r = k.api().del(soPath("web"));
  INFO(r.body);
  REQUIRE(r.code == 200);
  {
    json deleting = r.json();
    CHECK(deleting["metadata"].contains("deletionTimestamp"));
    CHECK(deleting["metadata"]["finalizers"] == json::array({"finalizer.keda.sh"}));
  }
  REQUIRE(eventually([&] { return !k.scaledObject("web").is_object(); }));
  CHECK(k.replicas("web") == 2);
  CHECK_FALSE(k.hpa("keda-hpa-web").is_object());
  CHECK(eventually([&] { return k.hasEvent("web", "ScaledObjectDeleted"); }));

  // Without restoreToOriginalReplicaCount the target keeps what it has.
  r = k.api().del(soPath("keep"));
  REQUIRE(r.code == 200);
  REQUIRE(eventually([&] { return !k.scaledObject("keep").is_object(); }));
  CHECK_FALSE(k.hpa("keda-hpa-keep").is_object());
  std::this_thread::sleep_for(2s);
  CHECK(k.replicas("keep") == 0);
  CHECK(k.replicas("web") == 2);  // nothing scales a deleted object's target later

  // A ScaledObject created again under the same name is handled from scratch.
  k.create(soPath(), restore);
  CHECK(eventually([&] {
    json so = k.scaledObject("web");
    return conditionStatus(so, "Ready") == "True" &&
           so.value("/status/originalReplicaCount"_json_pointer, -1) == 2;
  }));
  CHECK(eventually([&] { return k.replicas("web") == 0; }, 20s));
  CHECK(op.running());
}
