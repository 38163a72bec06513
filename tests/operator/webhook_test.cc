// The admission webhook over HTTPS: AdmissionReviews posted directly, and the API server's
// ValidatingWebhookConfiguration call-out refusing a ScaledObject.
#include <catch2/catch.hpp>

#include "operator_support.h"

using namespace updraft::operator_test;

namespace {

json review(const std::string& uid, const json& object, const std::string& operation = "CREATE") {
  const json gvk = {{"group", "keda.sh"}, {"version", "v1alpha1"}, {"kind", "ScaledObject"}};
  const json gvr = {{"group", "keda.sh"}, {"version", "v1alpha1"}, {"resource", "scaledobjects"}};
  return {{"apiVersion", "admission.k8s.io/v1"},
          {"kind", "AdmissionReview"},
          {"request",
           {{"uid", uid},
            {"kind", gvk},
            {"resource", gvr},
            {"requestKind", gvk},
            {"requestResource", gvr},
            {"name", object["metadata"]["name"]},
            {"namespace", kNs},
            {"operation", operation},
            {"userInfo", {{"username", "kubernetes-admin"}, {"groups", {"system:masters"}}}},
            {"object", object},
            {"oldObject", nullptr},
            {"dryRun", false}}}};
}

const std::string kPath = "/validate-keda-sh-v1alpha1-scaledobject";

}  // namespace

TEST_CASE("operator: the admission webhook rejects a second ScaledObject on the same target") {
  KedaCluster k;
  ValueServer values;
  k.create(deploymentPath(), deploymentObject("web", 1));
  k.create(deploymentPath(), deploymentObject("api", 1));
  k.create(soPath(), scaledObjectObject("first", "web", {metricsApiTrigger(values.url("/value"))}));
  OperatorProcess op(k.cluster);
  REQUIRE(op.waitReady());
  REQUIRE(eventually([&] { return conditionStatus(k.scaledObject("first"), "Ready") == "True"; }));
  const Client webhook = op.webhookClient();

  const json second =
      scaledObjectObject("second", "web", {metricsApiTrigger(values.url("/value"))});
  const json other = scaledObjectObject("other", "api", {metricsApiTrigger(values.url("/value"))});

  {  // the same target: denied
    Response r = webhook.post(kPath, review("uid-1", second));
    INFO(r.body);
    REQUIRE(r.code == 200);
    json answer = r.json();
    CHECK(answer["apiVersion"] == "admission.k8s.io/v1");
    CHECK(answer["kind"] == "AdmissionReview");
    CHECK(answer["response"]["uid"] == "uid-1");
    CHECK(answer["response"]["allowed"] == false);
    CHECK(answer["response"]["status"]["code"] == 403);
    const std::string message = answer["response"]["status"].value("message", "");
    CHECK(message.find("the workload 'web'") != std::string::npos);
    CHECK(message.find("is already managed by the ScaledObject 'first'") != std::string::npos);
  }

  {  // another target: allowed
    Response r = webhook.post(kPath, review("uid-2", other));
    INFO(r.body);
    REQUIRE(r.code == 200);
    CHECK(r.json()["response"]["uid"] == "uid-2");
    CHECK(r.json()["response"]["allowed"] == true);
  }

  {  // the existing ScaledObject updated: not a conflict with itself
    json first = k.scaledObject("first");
    first["spec"]["maxReplicaCount"] = 9;
    Response r = webhook.post(kPath, review("uid-3", first, "UPDATE"));
    INFO(r.body);
    REQUIRE(r.code == 200);
    CHECK(r.json()["response"]["allowed"] == true);
  }

  {  // an invalid trigger
    json bad = other;
    bad["spec"]["triggers"][0]["type"] = "kafak";
    Response r = webhook.post(kPath, review("uid-4", bad));
    INFO(r.body);
    REQUIRE(r.code == 200);
    CHECK(r.json()["response"]["allowed"] == false);
    CHECK(r.json()["response"]["status"].value("message", "").find("kafak") != std::string::npos);
  }

  {  // not an AdmissionReview
    Response r = webhook.request("POST", kPath, "{not json");
    INFO(r.body);
    CHECK(r.code == 400);
  }

  // The API server calls the webhook (KEDA's configuration, with the operator's CA).
  json config = {{"apiVersion", "admissionregistration.k8s.io/v1"},
                 {"kind", "ValidatingWebhookConfiguration"},
                 {"metadata", {{"name", "updraft-admission"}}},
                 {"webhooks",
                  {{{"name", "vscaledobject.kb.io"},
                    {"admissionReviewVersions", {"v1"}},
                    {"sideEffects", "None"},
                    {"failurePolicy", "Fail"},
                    {"timeoutSeconds", 10},
                    {"clientConfig",
                     {{"url", "https://127.0.0.1:" + std::to_string(op.webhookPort()) + kPath},
                      {"caBundle", updraft::kubetest_test::base64(
                                       updraft::kubetest_test::readFile(op.caFile()))}}},
                    {"rules",
                     {{{"apiGroups", {"keda.sh"}},
                       {"apiVersions", {"v1alpha1"}},
                       {"operations", {"CREATE", "UPDATE"}},
                       {"resources", {"scaledobjects"}}}}}}}}};
  k.create("/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations", config);

  {
    Response r = k.api().post(soPath(), second);
    INFO(r.body);
    CHECK(r.code == 403);
    const std::string message = r.json().value("message", "");
    CHECK(message.starts_with("admission webhook \"vscaledobject.kb.io\" denied the request: "));
    CHECK(message.find("is already managed by the ScaledObject 'first'") != std::string::npos);
    CHECK_FALSE(k.scaledObject("second").is_object());
  }
  {
    Response r = k.api().post(soPath(), other);
    INFO(r.body);
    CHECK(r.code == 201);
    // It works: the operator gives it its HPA (its own finalizer patch passes the webhook too).
    CHECK(eventually([&] { return conditionStatus(k.scaledObject("other"), "Ready") == "True"; }));
    CHECK(k.hpa("keda-hpa-other").is_object());
  }
  CHECK(op.running());
}
