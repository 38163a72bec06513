// autoscaling.keda.sh/paused-replicas: the target held at that count without an HPA, and back.
#include <catch2/catch.hpp>

#include "operator_support.h"

using namespace updraft::operator_test;

TEST_CASE("operator: paused-replicas scales to that count, removes the HPA, and unpauses") {
  KedaCluster k;
  ValueServer values;
  values.set(10);  // active: the target stays at 1 (no HPA controller here)
  k.create(deploymentPath(), deploymentObject("web", 1));
  k.create(soPath(), scaledObjectObject("web", "web", {metricsApiTrigger(values.url("/value"))}));
  OperatorProcess op(k.cluster);
  REQUIRE(op.waitReady());
  REQUIRE(eventually([&] {
    return conditionStatus(k.scaledObject("web"), "Active") == "True" &&
           k.hpa("keda-hpa-web").is_object();
  }));
  CHECK(k.replicas("web") == 1);

  // Pause at 3.
  Response r = k.api().patch(
      soPath("web"),
      {{"metadata", {{"annotations", {{"autoscaling.keda.sh/paused-replicas", "3"}}}}}});
  REQUIRE(r.code == 200);
  REQUIRE(eventually([&] { return k.replicas("web") == 3; }));
  REQUIRE(eventually([&] { return !k.hpa("keda-hpa-web").is_object(); }));
  REQUIRE(eventually([&] {
    json so = k.scaledObject("web");
    return conditionStatus(so, "Paused") == "True" &&
           so.value("/status/pausedReplicaCount"_json_pointer, -1) == 3;
  }));
  {
    json so = k.scaledObject("web");
    INFO(so.dump(2));
    CHECK(condition(so, "Paused")["reason"] == "ScaledObjectPaused");
    CHECK(conditionStatus(so, "Ready") == "True");
    CHECK_FALSE(so["status"].contains("hpaName"));
  }
  CHECK(eventually([&] { return k.hasEvent("web", "ScaledObjectPaused"); }));

  // While paused nothing polls or scales: the value is not read, the replicas stay.
  values.set(0);
  const size_t reads = values.valueRequests();
  std::this_thread::sleep_for(4s);  // longer than pollingInterval + cooldownPeriod
  CHECK(values.valueRequests() <= reads + 1);
  CHECK(k.replicas("web") == 3);
  CHECK_FALSE(k.hpa("keda-hpa-web").is_object());

  // Unpause: the HPA comes back, Paused False, and the scale loop runs again.
  values.set(10);
  r = k.api().patch(
      soPath("web"),
      {{"metadata", {{"annotations", {{"autoscaling.keda.sh/paused-replicas", nullptr}}}}}});
  REQUIRE(r.code == 200);
  REQUIRE(eventually([&] { return k.hpa("keda-hpa-web").is_object(); }));
  REQUIRE(eventually([&] { return conditionStatus(k.scaledObject("web"), "Paused") == "False"; }));
  {
    json so = k.scaledObject("web");
    INFO(so.dump(2));
    CHECK(condition(so, "Paused")["reason"] == "ScaledObjectUnpaused");
    CHECK_FALSE(so["status"].contains("pausedReplicaCount"));
    CHECK(so["status"]["hpaName"] == "keda-hpa-web");
    CHECK(conditionStatus(so, "Ready") == "True");
  }
  CHECK(eventually([&] { return k.hasEvent("web", "ScaledObjectUnpaused"); }));
  // Scaling resumes: inactive -> 0 after the cooldown.
  values.set(0);
  CHECK(eventually([&] { return k.replicas("web") == 0; }, 20s));
  CHECK(op.running());
}
