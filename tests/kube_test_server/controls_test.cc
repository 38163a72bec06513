// updraft-kube-test-apiserver: the /_test/ controls, admission webhooks, kubectl as a
// conformance probe, and malformed input.
#include <httplib.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <iostream>
#include <mutex>

#include "kube_test_server/kube_support.h"

using namespace updraft::kubetest_test;
using namespace std::chrono_literals;

namespace {

const std::string kCm = "/api/v1/namespaces/shop/configmaps";

// A validating webhook over HTTPS (the API server's own certificate, which covers 127.0.0.1):
// denies ConfigMaps whose data.deny is "yes", with a warning for data.warn.
class Webhook {
 public:
  Webhook(const std::string& certDir)
      : server_((certDir + "/server.crt").c_str(), (certDir + "/server.key").c_str()) {
    server_.Post("/validate", [this](const httplib::Request& req, httplib::Response& res) {
      json review = json::parse(req.body);
      {
        std::lock_guard lock(mu_);
        reviews_.push_back(review);
      }
      const json& request = review["request"];
      json object = request["object"];
      bool deny = object.is_object() && object.contains("data") &&
                  object["data"].value("deny", "") == "yes";
      json response = {{"uid", request["uid"]}, {"allowed", !deny}};
      if (deny) response["status"] = {{"code", 403}, {"message", "deny is set"}};
      if (object.is_object() && object.contains("data") && object["data"].contains("warn")) {
        response["warnings"] = {"careful"};
      }
      res.set_content(json({{"apiVersion", "admission.k8s.io/v1"},
                            {"kind", "AdmissionReview"},
                            {"response", response}})
                          .dump(),
                      "application/json");
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
  }
  ~Webhook() {
    server_.stop();
    thread_.join();
  }
  int port() const { return port_; }
  std::vector<json> reviews() {
    std::lock_guard lock(mu_);
    return reviews_;
  }

 private:
  httplib::SSLServer server_;
  int port_ = 0;
  std::thread thread_;
  std::mutex mu_;
  std::vector<json> reviews_;
};

json webhookConfig(const std::string& name, const std::string& url, const std::string& caBundle,
                   const std::string& failurePolicy, const json& resources) {
  return {
      {"apiVersion", "admissionregistration.k8s.io/v1"},
      {"kind", "ValidatingWebhookConfiguration"},
      {"metadata", {{"name", name}}},
      {"webhooks",
       {{{"name", name + ".example.com"},
         {"clientConfig", {{"url", url}, {"caBundle", caBundle}}},
         {"rules",
          {{{"operations", {"CREATE", "UPDATE"}},
            {"apiGroups", {""}},
            {"apiVersions", {"v1"}},
            {"resources", resources},
            {"scope", "Namespaced"}}}},
         {"failurePolicy", failurePolicy},
         {"sideEffects", "None"},
         {"timeoutSeconds", 2},
         {"admissionReviewVersions", {"v1"}},
         {"objectSelector",
          {{"matchExpressions", {{{"key", "skip-webhook"}, {"operator", "DoesNotExist"}}}}}}}}}};
}

}  // namespace

TEST_CASE("test controls: failure injection, request log, token rotation") {
  Cluster c;
  REQUIRE(c.createNamespace("shop") == 201);
  REQUIRE(c.api.request("DELETE", "/_test/requests").code == 200);

  REQUIRE(c.api.control("/_test/fail?status=429&count=2&retryAfter=1").code == 200);
  Response f1 = c.api.get(kCm);
  CHECK(f1.code == 429);
  CHECK(f1.header("retry-after") == "1");
  CHECK(f1.json()["reason"] == "TooManyRequests");
  CHECK(f1.json()["details"]["retryAfterSeconds"] == 1);
  CHECK(c.api.get(kCm).code == 429);
  CHECK(c.api.get(kCm).code == 200);
  // Filtered by path and method.
  REQUIRE(c.api.control("/_test/fail?status=503&count=1&path=/configmaps&method=POST").code == 200);
  CHECK(c.api.get(kCm).code == 200);
  Response f2 = c.api.post(kCm, configMap("a"));
  CHECK(f2.code == 503);
  CHECK(f2.json()["reason"] == "ServiceUnavailable");
  CHECK(c.api.post(kCm, configMap("a")).code == 201);
  CHECK(c.api.control("/_test/fail?status=200").code == 400);

  c.api.patch(kCm + "/a", {{"data", {{"x", "1"}}}});
  json log = c.api.get("/_test/requests").json()["requests"];
  REQUIRE(log.size() == 7);
  CHECK(log[0]["method"] == "GET");
  CHECK(log[0]["code"] == 429);
  CHECK(log[4]["method"] == "POST");
  CHECK(log[4]["code"] == 503);
  CHECK(log[4]["contentType"] == "application/json");
  CHECK(log[6]["method"] == "PATCH");
  CHECK(log[6]["path"] == kCm + "/a");
  CHECK(log[6]["contentType"] == "application/merge-patch+json");
  CHECK(log[6]["userAgent"] == "kube-test-server-test/1.0");
  CHECK(log[6]["time"].get<double>() >= log[0]["time"].get<double>());
  c.api.get(kCm + "?labelSelector=app%3Dweb&limit=5");
  json last = c.api.get("/_test/requests").json()["requests"].back();
  CHECK(last["query"] == "labelSelector=app%3Dweb&limit=5");

  // Token rotation: the old token gets 401 until the client re-reads its token.
  REQUIRE(c.api.request("PUT", "/_test/tokens", R"({"tokens":["rotated"]})").code == 200);
  Response old = c.api.get(kCm);
  CHECK(old.code == 401);
  CHECK(old.json()["reason"] == "Unauthorized");
  c.api.setToken("rotated");
  CHECK(c.api.get(kCm).code == 200);
  CHECK(c.api.get("/_test/nothing").code == 404);
}

TEST_CASE("validating admission webhooks are called with an AdmissionReview") {
  Cluster c;
  REQUIRE(c.createNamespace("shop") == 201);
  Webhook hook(c.server.certDir());
  REQUIRE(hook.port() > 0);
  std::string ca = base64(readFile(c.server.caFile()));
  std::string url = "https://127.0.0.1:" + std::to_string(hook.port()) + "/validate";
  std::string vwc = "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations";
  REQUIRE(c.api.post(vwc, webhookConfig("cm", url, ca, "Fail", {"configmaps"})).code == 201);

  Response allowed = c.api.post(kCm, configMap("ok", json::object(), {{"warn", "1"}}));
  CHECK(allowed.code == 201);
  CHECK(allowed.header("warning") == "299 - \"careful\"");
  Response denied = c.api.post(kCm, configMap("bad", json::object(), {{"deny", "yes"}}));
  CHECK(denied.code == 403);
  CHECK(denied.json()["kind"] == "Status");
  CHECK(denied.json()["message"] ==
        "admission webhook \"cm.example.com\" denied the request: deny is set");
  CHECK(c.api.get(kCm + "/bad").code == 404);
  Response deniedUpdate = c.api.patch(kCm + "/ok", {{"data", {{"deny", "yes"}}}});
  CHECK(deniedUpdate.code == 403);
  // objectSelector: labelled objects skip the webhook.
  CHECK(c.api.post(kCm, configMap("skipped", {{"skip-webhook", "1"}}, {{"deny", "yes"}})).code ==
        201);

  auto reviews = hook.reviews();
  REQUIRE(reviews.size() == 3);
  const json& create = reviews[0];
  CHECK(create["apiVersion"] == "admission.k8s.io/v1");
  CHECK(create["kind"] == "AdmissionReview");
  CHECK(create["request"]["operation"] == "CREATE");
  CHECK(create["request"]["namespace"] == "shop");
  CHECK(create["request"]["name"] == "ok");
  CHECK(create["request"]["resource"] ==
        json({{"group", ""}, {"version", "v1"}, {"resource", "configmaps"}}));
  CHECK(create["request"]["kind"]["kind"] == "ConfigMap");
  CHECK(create["request"]["object"]["data"]["warn"] == "1");
  CHECK(create["request"]["oldObject"].is_null());
  CHECK(create["request"]["userInfo"]["username"] == "updraft-test");
  CHECK(reviews[2]["request"]["operation"] == "UPDATE");
  CHECK(reviews[2]["request"]["oldObject"]["metadata"]["name"] == "ok");

  // An unreachable webhook: failurePolicy Fail rejects, Ignore lets the request through.
  REQUIRE(c.api.del(vwc + "/cm").code == 200);
  REQUIRE(
      c.api
          .post(vwc, webhookConfig("down", "https://127.0.0.1:1/validate", ca, "Fail", {"secrets"}))
          .code == 201);
  Response failed = c.api.post("/api/v1/namespaces/shop/secrets", {{"metadata", {{"name", "s"}}}});
  CHECK(failed.code == 500);
  CHECK(failed.json()["message"].get<std::string>().rfind(
            "Internal error occurred: failed calling webhook \"down.example.com\"", 0) == 0);
  REQUIRE(c.api.del(vwc + "/down").code == 200);
  REQUIRE(c.api
              .post(vwc, webhookConfig("lenient", "https://127.0.0.1:1/validate", ca, "Ignore",
                                       {"secrets"}))
              .code == 201);
  CHECK(c.api.post("/api/v1/namespaces/shop/secrets", {{"metadata", {{"name", "s"}}}}).code == 201);
  // A CA that did not sign the webhook's certificate is a call failure.
  REQUIRE(c.api.del(vwc + "/lenient").code == 200);
  TempDir other;
  { ServerProcess otherCa(other.path()); }
  REQUIRE(
      c.api
          .post(vwc, webhookConfig("wrongca", url, base64(readFile(other.path() + "/certs/ca.crt")),
                                   "Fail", {"configmaps"}))
          .code == 201);
  CHECK(c.api.post(kCm, configMap("tls")).code == 500);
}

TEST_CASE("kubectl works against the server (conformance probe)") {
  std::string kubectl = findOnPath("kubectl");
  if (kubectl.empty()) {
    WARN("kubectl is not installed: skipping the kubectl conformance probe");
    return;
  }
  Cluster c;
  std::string kubeconfig = c.server.certDir() + "/kubeconfig";
  auto k = [&](std::vector<std::string> args) {
    args.insert(args.begin(), {kubectl, "--kubeconfig", kubeconfig, "--request-timeout=20s"});
    CommandResult r = run(args, 60s);
    INFO(r.output);
    return r;
  };
  CommandResult version = k({"version", "-o", "json"});
  if (version.output.find("serverVersion") == std::string::npos) {
    WARN("kubectl cannot talk to the server here: " + version.output);
    return;
  }
  CHECK(k({"create", "namespace", "shop"}).exitCode == 0);
  CommandResult ns = k({"get", "namespaces", "-o", "name"});
  CHECK(ns.exitCode == 0);
  CHECK(ns.output.find("namespace/shop") != std::string::npos);
  std::string manifest = c.dir.write("app.json", deployment("web", 1, "web").dump());
  CHECK(k({"-n", "shop", "apply", "--validate=false", "-f", manifest}).exitCode == 0);
  CommandResult scaled = k({"-n", "shop", "scale", "deployment/web", "--replicas=3"});
  CHECK(scaled.exitCode == 0);
  CHECK(c.api.get("/apis/apps/v1/namespaces/shop/deployments/web").json()["spec"]["replicas"] == 3);
  CHECK(
      k({"-n", "shop", "patch", "deployment", "web", "-p",
         R"({"spec":{"template":{"spec":{"containers":[{"name":"main","image":"busybox:9"}]}}}})"})
          .exitCode == 0);
  json d = c.api.get("/apis/apps/v1/namespaces/shop/deployments/web").json();
  CHECK(d["spec"]["template"]["spec"]["containers"].size() == 2);  // strategic merge by name
  CHECK(d["spec"]["template"]["spec"]["containers"][0]["image"] == "busybox:9");
  // apply again with a change: client-side apply patches with last-applied-configuration.
  json changed = deployment("web", 1, "web");
  changed["metadata"]["labels"]["version"] = "2";
  c.dir.write("app.json", changed.dump());
  CHECK(k({"-n", "shop", "apply", "--validate=false", "-f", manifest}).exitCode == 0);
  d = c.api.get("/apis/apps/v1/namespaces/shop/deployments/web").json();
  CHECK(d["metadata"]["labels"]["version"] == "2");
  CommandResult jp =
      k({"-n", "shop", "get", "deployment", "web", "-o", "jsonpath={.status.observedGeneration}"});
  CHECK(jp.exitCode == 0);
  CHECK(k({"apply", "--validate=false", "-f", c.dir.write("crd.json", scaledObjectCrd().dump())})
            .exitCode == 0);
  CHECK(k({"-n", "shop", "apply", "--validate=false", "-f",
           c.dir.write("so.json", json({{"apiVersion", "keda.sh/v1alpha1"},
                                        {"kind", "ScaledObject"},
                                        {"metadata", {{"name", "orders"}}},
                                        {"spec", {{"maxReplicaCount", 4}}}})
                                      .dump())})
            .exitCode == 0);
  CommandResult so =
      k({"-n", "shop", "get", "so", "orders", "-o", "jsonpath={.spec.maxReplicaCount}"});
  CHECK(so.output == "4");
  CHECK(k({"-n", "shop", "delete", "deployment", "web", "--wait=true"}).exitCode == 0);
  CHECK(c.api.get("/apis/apps/v1/namespaces/shop/deployments/web").code == 404);
  CHECK(k({"get", "--raw", "/apis/keda.sh/v1alpha1"}).output.find("scaledobjects") !=
        std::string::npos);
}

TEST_CASE("malformed input never crashes the server") {
  Cluster c;
  REQUIRE(c.createNamespace("shop") == 201);
  REQUIRE(c.api.post(kCm, configMap("a")).code == 201);
  std::vector<std::string> bodies = {"",
                                     "{",
                                     "[]",
                                     "null",
                                     "\"text\"",
                                     "{\"metadata\": 5}",
                                     "{\"metadata\": {\"name\": 7}}",
                                     "{\"metadata\": {\"labels\": [1]}}",
                                     "{\"metadata\": {\"ownerReferences\": {}}}",
                                     "{\"kind\": 3}",
                                     std::string(5000, '['),
                                     "\xff\xfe\x00garbage",
                                     "{\"metadata\": {\"name\": \"a\", \"resourceVersion\": 12}}",
                                     "{\"metadata\": {\"finalizers\": \"x\"}}"};
  std::vector<std::pair<std::string, std::string>> targets = {
      {"POST", kCm},
      {"PUT", kCm + "/a"},
      {"POST", "/apis/apps/v1/namespaces/shop/deployments"},
      {"PUT", "/apis/apps/v1/namespaces/shop/deployments/none/scale"},
      {"POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"},
      {"DELETE", kCm + "/a-missing"}};
  for (const auto& [method, path] : targets) {
    for (const auto& body : bodies) {
      Response r = c.api.request(method, path, body);
      INFO(method << " " << path << " " << body.substr(0, 40) << " → " << r.body.substr(0, 200));
      CHECK(r.code >= 400);
      CHECK(r.code < 500);
      CHECK(r.json()["kind"] == "Status");
    }
  }
  for (const char* type : {"application/merge-patch+json", "application/json-patch+json",
                           "application/strategic-merge-patch+json"}) {
    for (const auto& body : bodies) {
      Response r = c.api.request("PATCH", kCm + "/a", body, type);
      INFO(type << " " << body.substr(0, 40) << " → " << r.body.substr(0, 200));
      CHECK(r.code < 500);
      CHECK(r.json()["kind"] == (r.code == 200 ? "ConfigMap" : "Status"));
      CHECK((r.code >= 400 || body == "[]"));  // an empty JSON patch is valid
    }
  }
  for (const char* q :
       {"?labelSelector=%21%21%21", "?labelSelector=a%20in%20(", "?limit=-1", "?continue=%00",
        "?resourceVersion=-5", "?fieldSelector=x", "?watch=true&timeoutSeconds=abc",
        "?resourceVersionMatch=Bogus&resourceVersion=1"}) {
    Response r = c.api.get(kCm + q);
    INFO(q << " → " << r.body);
    CHECK(r.code == 400);
  }
  CHECK(c.api.request("OPTIONS", kCm).code == 405);
  // A POST without Content-Length (curl -X POST) is answered at once, as having no body.
  if (!findOnPath("curl").empty()) {
    auto start = std::chrono::steady_clock::now();
    CommandResult noLength = run({"curl", "-sS", "--cacert", c.server.caFile(), "-X", "POST", "-H",
                                  "Authorization: Bearer test-token", c.server.url() + kCm},
                                 20s);
    CHECK(noLength.output.find("\"code\":400") != std::string::npos);
    CHECK(std::chrono::steady_clock::now() - start < 5s);
  }
  std::string big = "{\"metadata\":{\"name\":\"big\"},\"data\":{\"x\":\"" +
                    std::string(4 * 1024 * 1024, 'a') + "\"}}";
  CHECK(c.api.request("POST", kCm, big).code == 413);
  CHECK(c.api.request("DELETE", kCm + "/a/status").code == 404);
  // Still alive and consistent.
  CHECK(c.api.get("/version").code == 200);
  CHECK(c.api.get(kCm + "/a").code == 200);
}
