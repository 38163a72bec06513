// ScaledObjects the operator cannot run: each gets Ready False with the reason, and the operator
// keeps running the others.
#include <catch2/catch.hpp>

#include "operator_support.h"

using namespace updraft::operator_test;

namespace {

bool failedWith(const json& so, const std::string& text) {
  json ready = condition(so, "Ready");
  return ready.is_object() && ready.value("status", "") == "False" &&
         ready.value("reason", "") == "ScaledObjectCheckFailed" &&
         ready.value("message", "").find(text) != std::string::npos;
}

}  // namespace

TEST_CASE("operator: bad ScaledObjects fail their checks, the others keep working") {
  KedaCluster k;
  ValueServer values;
  k.create(deploymentPath(), deploymentObject("web", 0));
  // A target that does not exist (yet).
  k.create(soPath(),
           scaledObjectObject("ghost", "missing", {metricsApiTrigger(values.url("/value"))}));
  // A kind the cluster does not know.
  json gizmo = scaledObjectObject("gizmo", "g1", {metricsApiTrigger(values.url("/value"))});
  gizmo["spec"]["scaleTargetRef"] = {
      {"apiVersion", "example.com/v1"}, {"kind", "Gizmo"}, {"name", "g1"}};
  k.create(soPath(), gizmo);
  // A trigger whose metadata does not parse (no webhook configured, so the API server takes it).
  json bad = scaledObjectObject("bad", "web", {metricsApiTrigger(values.url("/value"), "abc")});
  k.create(soPath(), bad);

  OperatorProcess op(k.cluster);
  REQUIRE(op.waitReady());
  CHECK(eventually([&] { return failedWith(k.scaledObject("ghost"), "missing"); }));
  {
    json so = k.scaledObject("ghost");
    INFO(so.dump(2));
    CHECK(failedWith(so, "Target resource doesn't exist"));
    CHECK(conditionStatus(so, "Active") == "Unknown");
    CHECK_FALSE(k.hpa("keda-hpa-ghost").is_object());
  }
  CHECK(eventually([&] { return failedWith(k.scaledObject("gizmo"), "example.com/v1"); }));
  CHECK(eventually([&] { return failedWith(k.scaledObject("bad"), "targetValue"); }));
  CHECK(eventually([&] { return k.hasEvent("ghost", "ScaledObjectCheckFailed"); }));
  for (const json& e : k.events("ghost")) {
    if (e["reason"] == "ScaledObjectCheckFailed") CHECK(e["type"] == "Warning");
  }

  // A good one next to them works: HPA, 0 -> 1 on activity.
  values.set(10);
  k.create(deploymentPath(), deploymentObject("api", 0));
  k.create(soPath(), scaledObjectObject("good", "api", {metricsApiTrigger(values.url("/value"))}));
  CHECK(eventually([&] { return conditionStatus(k.scaledObject("good"), "Ready") == "True"; }));
  CHECK(eventually([&] { return k.hpa("keda-hpa-good").is_object(); }));
  CHECK(eventually([&] { return k.replicas("api") == 1; }));
  // A broken object does not hold the others.
  CHECK(conditionStatus(k.scaledObject("bad"), "Ready") == "False");
  CHECK(k.replicas("web") == 0);

  // The missing target appears: the ScaledObject recovers without being edited (KEDA requeues a
  // failed reconcile with a backoff).
  k.create(deploymentPath(), deploymentObject("missing", 0));
  CHECK(
      eventually([&] { return conditionStatus(k.scaledObject("ghost"), "Ready") == "True"; }, 40s));
  CHECK(eventually([&] { return k.replicas("missing") == 1; }));
  CHECK(k.hpa("keda-hpa-ghost").is_object());

  // Fixing the bad one's spec makes it Ready.
  Response r = k.api().patch(
      soPath("bad"), {{"spec", {{"triggers", {metricsApiTrigger(values.url("/value"), "5")}}}}});
  REQUIRE(r.code == 200);
  CHECK(eventually([&] { return conditionStatus(k.scaledObject("bad"), "Ready") == "True"; }));
  CHECK(eventually([&] { return k.replicas("web") == 1; }));
  CHECK(op.running());
}
