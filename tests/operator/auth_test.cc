// A TriggerAuthentication reading a bearer token from a Secret, and a Secret rotation picked up
// by the running operator.
#include <algorithm>
#include <catch2/catch.hpp>

#include "operator_support.h"

using namespace updraft::operator_test;
using updraft::kubetest_test::base64;

namespace {

json secret(const std::string& token, const std::string& name = "api-token") {
  return {{"apiVersion", "v1"},
          {"kind", "Secret"},
          {"metadata", {{"name", name}, {"namespace", kNs}}},
          {"type", "Opaque"},
          {"data", {{"token", base64(token)}}}};
}

size_t countOf(const std::vector<std::string>& v, const std::string& s) {
  return static_cast<size_t>(std::count(v.begin(), v.end(), s));
}

}  // namespace

TEST_CASE("operator: TriggerAuthentication secretTargetRef, and a rotated Secret") {
  KedaCluster k;
  ValueServer api;
  api.requireToken("first-token");
  api.set(10);
  k.create(std::string("/api/v1/namespaces/") + kNs + "/secrets", secret("first-token"));
  k.create(std::string("/apis/keda.sh/v1alpha1/namespaces/") + kNs + "/triggerauthentications",
           {{"apiVersion", "keda.sh/v1alpha1"},
            {"kind", "TriggerAuthentication"},
            {"metadata", {{"name", "api-auth"}, {"namespace", kNs}}},
            {"spec",
             {{"secretTargetRef",
               {{{"parameter", "token"}, {"name", "api-token"}, {"key", "token"}}}}}}});
  json trigger = metricsApiTrigger(api.url("/value"));
  trigger["metadata"]["authModes"] = "bearer";
  trigger["authenticationRef"] = {{"name", "api-auth"}};
  k.create(deploymentPath(), deploymentObject("web", 0));
  k.create(soPath(), scaledObjectObject("web", "web", {trigger}));

  OperatorProcess op(k.cluster);
  REQUIRE(op.waitReady());
  // The token from the Secret authenticates the polls: 0 -> 1.
  REQUIRE(eventually([&] { return k.replicas("web") == 1; }));
  CHECK(countOf(api.authorizations(), "Bearer first-token") > 0);
  CHECK(api.unauthorized() == 0);
  {
    json so = k.scaledObject("web");
    INFO(so.dump(2));
    CHECK(conditionStatus(so, "Ready") == "True");
    CHECK(conditionStatus(so, "Active") == "True");
    CHECK(so["status"]["authenticationsTypes"] == "api-auth");
  }

  // Rotate: the endpoint now wants the new token, and the Secret has it.
  api.requireToken("second-token");
  Response r = k.api().put(std::string("/api/v1/namespaces/") + kNs + "/secrets/api-token",
                           secret("second-token"));
  REQUIRE(r.code == 200);
  REQUIRE(eventually([&] {
    auto seen = api.authorizations();
    return !seen.empty() && seen.back() == "Bearer second-token";
  }));
  // From then on only the new token is sent.
  const size_t switched = api.authorizations().size();
  REQUIRE(eventually([&] { return api.authorizations().size() >= switched + 3; }));
  {
    auto seen = api.authorizations();
    std::vector<std::string> after(seen.begin() + static_cast<std::ptrdiff_t>(switched),
                                   seen.end());
    CHECK(countOf(after, "Bearer first-token") == 0);
    CHECK(countOf(after, "Bearer second-token") == after.size());
  }
  // The scaler with the new token scales: the metrics API reads the value, and inactive -> 0.
  {
    const std::string metric = k.scaledObject("web")["status"]["externalMetricNames"][0];
    Response m =
        op.metricsClient().get("/apis/external.metrics.k8s.io/v1beta1/namespaces/test/" + metric +
                               "?labelSelector=scaledobject.keda.sh%2Fname%3Dweb");
    INFO(m.body);
    CHECK(m.code == 200);
    CHECK(m.json()["items"][0]["value"] == "10");
  }
  api.set(0);
  CHECK(eventually([&] { return k.replicas("web") == 0; }, 20s));
  CHECK(op.running());  // the same process all along
  CHECK(op.log().find("received SIGTERM") == std::string::npos);
}

TEST_CASE("operator: a Secret created after its ScaledObject") {
  KedaCluster k;
  ValueServer api;
  api.requireToken("late-token");
  api.set(10);
  k.create(std::string("/apis/keda.sh/v1alpha1/namespaces/") + kNs + "/triggerauthentications",
           {{"apiVersion", "keda.sh/v1alpha1"},
            {"kind", "TriggerAuthentication"},
            {"metadata", {{"name", "late-auth"}, {"namespace", kNs}}},
            {"spec",
             {{"secretTargetRef",
               {{{"parameter", "token"}, {"name", "late-token"}, {"key", "token"}}}}}}});
  json trigger = metricsApiTrigger(api.url("/value"));
  trigger["metadata"]["authModes"] = "bearer";
  trigger["authenticationRef"] = {{"name", "late-auth"}};
  k.create(deploymentPath(), deploymentObject("web", 0));
  k.create(soPath(), scaledObjectObject("web", "web", {trigger}));
  OperatorProcess op(k.cluster);
  REQUIRE(op.waitReady());
  REQUIRE(eventually([&] { return conditionStatus(k.scaledObject("web"), "Ready") != ""; }));
  {
    json so = k.scaledObject("web");
    INFO(so.dump(2));
    CHECK(conditionStatus(so, "Ready") == "False");
    CHECK(condition(so, "Ready").value("message", "").find("token") != std::string::npos);
  }
  CHECK(api.valueRequests() == 0);
  std::this_thread::sleep_for(1s);
  // The Secret appears: the ScaledObject is built again at once (not waiting for an edit).
  k.create(std::string("/api/v1/namespaces/") + kNs + "/secrets",
           secret("late-token", "late-token"));
  CHECK(eventually([&] { return conditionStatus(k.scaledObject("web"), "Ready") == "True"; }, 5s));
  CHECK(eventually([&] { return k.replicas("web") == 1; }));
  CHECK(api.unauthorized() == 0);
}
