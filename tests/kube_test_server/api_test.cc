// updraft-kube-test-apiserver: start-up, discovery, CRUD with Status errors, selectors,
// pagination, the patch types, /status and /scale, finalizers, garbage collection.
#include <sys/stat.h>

#include <catch2/catch.hpp>

#include "kube_test_server/kube_support.h"

using namespace updraft::kubetest_test;
using namespace std::chrono_literals;

namespace {

const char* kCm = "/api/v1/namespaces/shop/configmaps";
const char* kDeploy = "/apis/apps/v1/namespaces/shop/deployments";

std::string rvOf(const json& o) { return o["metadata"]["resourceVersion"].get<std::string>(); }

std::vector<std::string> names(const json& list) {
  std::vector<std::string> out;
  for (const auto& i : list["items"]) out.push_back(i["metadata"]["name"]);
  return out;
}

bool hasResource(const json& list, const std::string& name) {
  for (const auto& r : list["resources"]) {
    if (r["name"] == name) return true;
  }
  return false;
}

}  // namespace

TEST_CASE("start-up writes the CA, the kubeconfig and client certificates; discovery") {
  Cluster c;
  REQUIRE(c.server.url().rfind("https://127.0.0.1:", 0) == 0);
  for (const char* f : {"ca.crt", "server.crt", "client.crt", "client.key", "kubeconfig"}) {
    struct stat st;
    CHECK(stat((c.server.certDir() + "/" + f).c_str(), &st) == 0);
  }
  std::string kubeconfig = readFile(c.server.certDir() + "/kubeconfig");
  CHECK(kubeconfig.find("server: " + c.server.url()) != std::string::npos);
  CHECK(kubeconfig.find("token: test-token") != std::string::npos);
  CHECK(kubeconfig.find("certificate-authority-data: " + base64(readFile(c.server.caFile()))) !=
        std::string::npos);

  // /version needs no credentials; everything else does.
  Client anonymous(c.server.url(), c.server.caFile(), "");
  CHECK(anonymous.get("/version").code == 200);
  CHECK(anonymous.get("/version").json()["major"] == "1");
  Response denied = anonymous.get("/api/v1/namespaces");
  CHECK(denied.code == 401);
  CHECK(denied.json()["kind"] == "Status");
  CHECK(denied.json()["reason"] == "Unauthorized");
  Client wrong(c.server.url(), c.server.caFile(), "not-the-token");
  CHECK(wrong.get("/api").code == 401);
  Client byCert(c.server.url(), c.server.caFile());
  byCert.useClientCert(c.server.certDir() + "/client.crt", c.server.certDir() + "/client.key");
  CHECK(byCert.get("/api/v1/namespaces/default").code == 200);

  json api = c.api.get("/api").json();
  CHECK(api["kind"] == "APIVersions");
  CHECK(api["versions"] == json({"v1"}));
  json core = c.api.get("/api/v1").json();
  CHECK(core["groupVersion"] == "v1");
  for (const char* r : {"namespaces", "pods", "pods/status", "secrets", "configmaps", "services",
                        "serviceaccounts", "events"}) {
    CHECK(hasResource(core, r));
  }
  json groups = c.api.get("/apis").json();
  std::vector<std::string> groupNames;
  for (const auto& g : groups["groups"]) groupNames.push_back(g["name"]);
  for (const char* g :
       {"apps", "autoscaling", "batch", "coordination.k8s.io", "events.k8s.io",
        "apiregistration.k8s.io", "admissionregistration.k8s.io", "apiextensions.k8s.io"}) {
    CHECK(std::find(groupNames.begin(), groupNames.end(), g) != groupNames.end());
  }
  json apps = c.api.get("/apis/apps/v1").json();
  CHECK(hasResource(apps, "deployments/scale"));
  CHECK(hasResource(apps, "statefulsets/status"));
  for (const auto& r : apps["resources"]) {
    if (r["name"] == "deployments/scale") {
      CHECK(r["group"] == "autoscaling");
      CHECK(r["version"] == "v1");
      CHECK(r["kind"] == "Scale");
    }
    if (r["name"] == "deployments") {
      CHECK(r["namespaced"] == true);
      CHECK(r["kind"] == "Deployment");
      CHECK(r["verbs"].size() == 8);
    }
  }
  CHECK(c.api.get("/apis/autoscaling/v2").json()["resources"][0]["name"] ==
        "horizontalpodautoscalers");
  CHECK(c.api.get("/apis/apps").json()["preferredVersion"]["version"] == "v1");
  CHECK(c.api.get("/openapi/v2").code == 404);
  CHECK(c.api.get("/apis/keda.sh/v1alpha1").code == 404);

  // Creating the CRD serves its group, version and subresources.
  REQUIRE(c.api.post("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", scaledObjectCrd())
              .code == 201);
  REQUIRE(
      c.api.post("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", widgetCrd("Cluster"))
          .code == 201);
  json keda = c.api.get("/apis/keda.sh/v1alpha1").json();
  CHECK(hasResource(keda, "scaledobjects"));
  CHECK(hasResource(keda, "scaledobjects/status"));
  CHECK_FALSE(hasResource(keda, "scaledobjects/scale"));
  CHECK(keda["resources"][0]["shortNames"] == json({"so"}));
  json widgets = c.api.get("/apis/example.com/v1").json();
  CHECK(hasResource(widgets, "widgets/scale"));
  CHECK(widgets["resources"][0]["namespaced"] == false);
  json crd =
      c.api.get("/apis/apiextensions.k8s.io/v1/customresourcedefinitions/scaledobjects.keda.sh")
          .json();
  CHECK(crd["status"]["conditions"][1]["type"] == "Established");
  CHECK(crd["status"]["acceptedNames"]["kind"] == "ScaledObject");
  // A CRD whose name does not match its names is Invalid.
  json bad = widgetCrd();
  bad["metadata"]["name"] = "gadgets.example.com";
  Response invalid = c.api.post("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", bad);
  CHECK(invalid.code == 422);
  CHECK(invalid.json()["reason"] == "Invalid");
}

TEST_CASE("CRUD with resourceVersion preconditions and Status errors") {
  Cluster c;
  REQUIRE(c.createNamespace("shop") == 201);
  CHECK(c.createNamespace("shop") == 409);

  Response created = c.api.post(kCm, configMap("settings", {{"app", "web"}}, {{"a", "1"}}));
  REQUIRE(created.code == 201);
  json cm = created.json();
  CHECK(cm["metadata"]["uid"].get<std::string>().size() == 36);
  CHECK(cm["metadata"]["namespace"] == "shop");
  CHECK(cm["metadata"]["creationTimestamp"].get<std::string>().back() == 'Z');
  CHECK(cm["metadata"]["generation"] == 1);

  Response again = c.api.post(kCm, configMap("settings"));
  CHECK(again.code == 409);
  CHECK(again.json()["reason"] == "AlreadyExists");
  CHECK(again.json()["message"] == "configmaps \"settings\" already exists");
  CHECK(again.json()["details"] == json({{"name", "settings"}, {"kind", "configmaps"}}));

  json generated = {{"metadata", {{"generateName", "job-"}}}};
  Response gen = c.api.post(kCm, generated);
  REQUIRE(gen.code == 201);
  std::string genName = gen.json()["metadata"]["name"];
  CHECK(genName.size() == 9);
  CHECK(genName.rfind("job-", 0) == 0);

  // Update with the read resourceVersion; then a stale one conflicts.
  json update = cm;
  update["data"]["a"] = "2";
  Response updated = c.api.put(std::string(kCm) + "/settings", update);
  REQUIRE(updated.code == 200);
  CHECK(std::stoull(rvOf(updated.json())) > std::stoull(rvOf(cm)));
  CHECK(updated.json()["data"]["a"] == "2");
  update["data"]["a"] = "3";
  Response stale = c.api.put(std::string(kCm) + "/settings", update);
  CHECK(stale.code == 409);
  CHECK(stale.json()["reason"] == "Conflict");
  CHECK(stale.json()["message"] ==
        "Operation cannot be fulfilled on configmaps \"settings\": the object has been modified; "
        "please apply your changes to the latest version and try again");
  // Leases: two writers from the same read, one wins.
  json lease = {{"metadata", {{"name", "leader"}}},
                {"spec", {{"holderIdentity", "a"}, {"leaseDurationSeconds", 15}}}};
  Response l = c.api.post("/apis/coordination.k8s.io/v1/namespaces/shop/leases", lease);
  REQUIRE(l.code == 201);
  json mine = l.json(), theirs = l.json();
  mine["spec"]["holderIdentity"] = "b";
  theirs["spec"]["holderIdentity"] = "c";
  CHECK(c.api.put("/apis/coordination.k8s.io/v1/namespaces/shop/leases/leader", mine).code == 200);
  CHECK(c.api.put("/apis/coordination.k8s.io/v1/namespaces/shop/leases/leader", theirs).code ==
        409);

  // Errors are Status objects.
  Response missing = c.api.get(std::string(kCm) + "/nope");
  CHECK(missing.code == 404);
  CHECK(missing.json()["reason"] == "NotFound");
  CHECK(missing.json()["message"] == "configmaps \"nope\" not found");
  Response missingDeploy = c.api.get(std::string(kDeploy) + "/nope");
  CHECK(missingDeploy.json()["message"] == "deployments.apps \"nope\" not found");
  CHECK(missingDeploy.json()["details"]["group"] == "apps");
  CHECK(c.api.get("/apis/apps/v1/namespaces/shop/gizmos").code == 404);
  CHECK(c.api.get("/apis/nowhere.io/v1/things").code == 404);
  Response badJson = c.api.request("POST", kCm, "{\"metadata\": {\"name\": ");
  CHECK(badJson.code == 400);
  CHECK(badJson.json()["reason"] == "BadRequest");
  CHECK(badJson.json()["message"].get<std::string>().find("JSON") != std::string::npos);
  CHECK(c.api.request("POST", kCm, "[1,2]").code == 400);
  CHECK(c.api.request("POST", kCm, "{}", "application/yaml").code == 415);
  CHECK(c.api.post(std::string(kCm) + "/settings", configMap("x")).code == 405);
  CHECK(c.api.request("PUT", kCm, "{}").code == 405);
  CHECK(c.api.post("/api/v1/namespaces/nowhere/configmaps", configMap("x")).code == 404);
  Response badName = c.api.post(kCm, configMap("Not_Valid"));
  CHECK(badName.code == 422);
  CHECK(badName.json()["details"]["causes"][0]["field"] == "metadata.name");
  json mismatched = deployment("web", 1, "web");
  mismatched["spec"]["template"]["metadata"]["labels"]["app"] = "other";
  Response inv = c.api.post(kDeploy, mismatched);
  CHECK(inv.code == 422);
  CHECK(inv.json()["message"].get<std::string>().find("`selector` does not match template "
                                                      "`labels`") != std::string::npos);
  json wrongNs = configMap("x");
  wrongNs["metadata"]["namespace"] = "other";
  CHECK(c.api.post(kCm, wrongNs).code == 400);
  json wrongName = cm;
  wrongName["metadata"]["name"] = "other";
  CHECK(c.api.put(std::string(kCm) + "/settings", wrongName).code == 400);

  // Custom resources need a resourceVersion on PUT.
  REQUIRE(c.api.post("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", scaledObjectCrd())
              .code == 201);
  std::string so = "/apis/keda.sh/v1alpha1/namespaces/shop/scaledobjects";
  json obj = {{"apiVersion", "keda.sh/v1alpha1"},
              {"kind", "ScaledObject"},
              {"metadata", {{"name", "orders"}}},
              {"spec", {{"scaleTargetRef", {{"name", "web"}}}}}};
  REQUIRE(c.api.post(so, obj).code == 201);
  Response noRv = c.api.put(so + "/orders", obj);
  CHECK(noRv.code == 422);
  CHECK(noRv.json()["details"]["causes"][0]["field"] == "metadata.resourceVersion");
  CHECK(c.api.get("/apis/keda.sh/v1alpha1/scaledobjects").json()["items"].size() == 1);

  // Delete: a Status with the uid; then 404; preconditions conflict.
  Response pre =
      c.api.del(std::string(kCm) + "/settings", {{"preconditions", {{"resourceVersion", "1"}}}});
  CHECK(pre.code == 409);
  Response deleted = c.api.del(std::string(kCm) + "/settings");
  CHECK(deleted.code == 200);
  CHECK(deleted.json()["kind"] == "Status");
  CHECK(deleted.json()["status"] == "Success");
  CHECK(deleted.json()["details"]["uid"] == cm["metadata"]["uid"]);
  CHECK(c.api.get(std::string(kCm) + "/settings").code == 404);
  CHECK(c.api.del(std::string(kCm) + "/settings").code == 404);
}

TEST_CASE("lists: label and field selectors, all namespaces, pages, resourceVersion") {
  Cluster c;
  REQUIRE(c.createNamespace("shop") == 201);
  REQUIRE(c.createNamespace("other") == 201);
  struct Item {
    const char* ns;
    const char* name;
    json labels;
  };
  std::vector<Item> items = {
      {"shop", "a", {{"app", "web"}, {"tier", "front"}}},
      {"shop", "b", {{"app", "web"}, {"tier", "back"}}},
      {"shop", "c", {{"app", "db"}}},
      {"shop", "d", json::object()},
      {"other", "e", {{"app", "web"}}},
      {"other", "f", {{"app", "queue"}, {"tier", "back"}}},
  };
  for (const auto& i : items) {
    REQUIRE(c.api
                .post(std::string("/api/v1/namespaces/") + i.ns + "/configmaps",
                      configMap(i.name, i.labels))
                .code == 201);
  }
  auto select = [&](const std::string& query) {
    return names(c.api.get("/api/v1/configmaps?" + query).json());
  };
  using V = std::vector<std::string>;
  CHECK(select("labelSelector=app%3Dweb") == V{"e", "a", "b"});  // sorted by namespace, name
  CHECK(select("labelSelector=app%3D%3Dweb,tier%3Dback") == V{"b"});
  CHECK(select("labelSelector=app!%3Dweb") == V{"f", "c", "d"});
  CHECK(select("labelSelector=app%20in%20(db,queue)") == V{"f", "c"});
  CHECK(select("labelSelector=app%20notin%20(web),tier") == V{"f"});
  CHECK(select("labelSelector=!app") == V{"d"});
  CHECK(select("labelSelector=tier") == V{"f", "a", "b"});
  CHECK(select("fieldSelector=metadata.name%3Dc") == V{"c"});
  CHECK(select("fieldSelector=metadata.namespace%3Dother") == V{"e", "f"});
  CHECK(select("fieldSelector=metadata.namespace!%3Dother,metadata.name!%3Da") == V{"b", "c", "d"});
  CHECK(names(c.api.get("/api/v1/namespaces/shop/configmaps?labelSelector=app").json()) ==
        V{"a", "b", "c"});
  Response badSelector = c.api.get("/api/v1/configmaps?labelSelector=app%20in%20web");
  CHECK(badSelector.code == 400);
  CHECK(badSelector.json()["reason"] == "BadRequest");
  CHECK(c.api.get("/api/v1/configmaps?fieldSelector=spec.foo%3Dbar").code == 400);
  CHECK(c.api.get("/api/v1/pods?fieldSelector=status.phase%3DRunning").code == 200);

  // Pages are a consistent snapshot at the first page's resourceVersion.
  json page1 = c.api.get("/api/v1/configmaps?limit=4").json();
  CHECK(names(page1) == V{"e", "f", "a", "b"});
  std::string token = page1["metadata"]["continue"];
  CHECK(page1["metadata"]["remainingItemCount"] == 2);
  REQUIRE(c.api.post("/api/v1/namespaces/shop/configmaps", configMap("zz")).code == 201);
  REQUIRE(c.api.del("/api/v1/namespaces/shop/configmaps/d").code == 200);
  json page2 = c.api.get("/api/v1/configmaps?limit=4&continue=" + token).json();
  CHECK(names(page2) == V{"c", "d"});
  CHECK(page2["metadata"]["resourceVersion"] == page1["metadata"]["resourceVersion"]);
  CHECK_FALSE(page2["metadata"].contains("continue"));
  CHECK(select("") == V{"e", "f", "a", "b", "c", "zz"});
  CHECK(c.api.get("/api/v1/configmaps?limit=2&continue=garbage").code == 400);

  // resourceVersionMatch=Exact lists an earlier state; too old (after compaction) is 410.
  std::string oldRv = page1["metadata"]["resourceVersion"];
  json exact = c.api
                   .get("/api/v1/namespaces/shop/configmaps?resourceVersion=" + oldRv +
                        "&resourceVersionMatch=Exact")
                   .json();
  CHECK(names(exact) == V{"a", "b", "c", "d"});
  CHECK(
      c.api
          .get("/api/v1/configmaps?resourceVersion=" + oldRv + "&resourceVersionMatch=NotOlderThan")
          .code == 200);
  REQUIRE(c.api.control("/_test/compact").code == 200);
  Response expired = c.api.get("/api/v1/configmaps?limit=4&continue=" + token);
  CHECK(expired.code == 410);
  CHECK(expired.json()["reason"] == "Expired");
  Response tooOld = c.api.get("/api/v1/configmaps?resourceVersion=" + oldRv +
                              "&resourceVersionMatch=NotOlderThan");
  CHECK(tooOld.code == 410);
  CHECK(tooOld.json()["message"].get<std::string>().rfind("too old resource version: " + oldRv,
                                                          0) == 0);
  CHECK(c.api.get("/api/v1/configmaps?resourceVersion=0").code == 200);
  CHECK(c.api.get("/api/v1/configmaps?resourceVersion=999999&resourceVersionMatch=NotOlderThan")
            .code == 504);
}

TEST_CASE("patch: merge, JSON and strategic merge patches") {
  Cluster c;
  REQUIRE(c.createNamespace("shop") == 201);
  REQUIRE(c.api.post(kCm, configMap("cfg", {{"app", "web"}}, {{"a", "1"}, {"b", "2"}})).code ==
          201);
  std::string cm = std::string(kCm) + "/cfg";

  Response merged = c.api.patch(cm, {{"data", {{"a", nullptr}, {"c", "3"}}}});
  REQUIRE(merged.code == 200);
  CHECK(merged.json()["data"] == json({{"b", "2"}, {"c", "3"}}));
  // A merge patch carrying a stale resourceVersion conflicts.
  CHECK(c.api.patch(cm, {{"metadata", {{"resourceVersion", "1"}}}, {"data", {{"x", "y"}}}}).code ==
        409);

  json ops = json::array({{{"op", "test"}, {"path", "/data/b"}, {"value", "2"}},
                          {{"op", "replace"}, {"path", "/data/b"}, {"value", "20"}},
                          {{"op", "add"}, {"path", "/metadata/labels/tier"}, {"value", "x"}}});
  Response patched = c.api.patch(cm, ops, "application/json-patch+json");
  REQUIRE(patched.code == 200);
  CHECK(patched.json()["data"]["b"] == "20");
  CHECK(patched.json()["metadata"]["labels"]["tier"] == "x");
  json failing = json::array({{{"op", "test"}, {"path", "/data/b"}, {"value", "nope"}},
                              {{"op", "remove"}, {"path", "/data"}}});
  Response failed = c.api.patch(cm, failing, "application/json-patch+json");
  CHECK(failed.code == 422);
  CHECK(failed.json()["kind"] == "Status");
  CHECK(c.api.get(cm).json()["data"]["b"] == "20");
  CHECK(c.api.patch(cm, {{"op", "add"}}, "application/json-patch+json").code == 400);
  CHECK(c.api
            .patch(cm, json::array({{{"op", "remove"}, {"path", "/nothing/here"}}}),
                   "application/json-patch+json")
            .code == 422);
  CHECK(c.api.patch(cm, {{"data", nullptr}}, "text/plain").code == 415);
  CHECK(c.api.request("PATCH", cm, "{not json", "application/merge-patch+json").code == 400);

  // Strategic merge: containers by name, env by name, $patch: delete, finalizers as a set.
  REQUIRE(c.api.post(kDeploy, deployment("web", 2, "web")).code == 201);
  std::string web = std::string(kDeploy) + "/web";
  json smp = {
      {"metadata", {{"finalizers", {"example.com/a"}}}},
      {"spec",
       {{"template",
         {{"spec",
           {{"containers",
             {{{"name", "main"},
               {"image", "busybox:2"},
               {"env", {{{"name", "B"}, {"value", "22"}}, {{"name", "C"}, {"value", "3"}}}}},
              {{"name", "sidecar"}, {"$patch", "delete"}},
              {{"name", "extra"}, {"image", "extra:1"}}}}}}}}}}};
  Response s = c.api.patch(web, smp, "application/strategic-merge-patch+json");
  REQUIRE(s.code == 200);
  json containers = s.json()["spec"]["template"]["spec"]["containers"];
  REQUIRE(containers.size() == 2);
  CHECK(containers[0]["name"] == "main");
  CHECK(containers[0]["image"] == "busybox:2");
  CHECK(containers[0]["env"] == json::parse(R"([{"name":"A","value":"1"},{"name":"B","value":"22"},
                                                {"name":"C","value":"3"}])"));
  CHECK(containers[1]["name"] == "extra");
  CHECK(s.json()["metadata"]["generation"] == 2);
  Response s2 = c.api.patch(web, {{"metadata", {{"finalizers", {"example.com/b"}}}}},
                            "application/strategic-merge-patch+json");
  CHECK(s2.json()["metadata"]["finalizers"] == json({"example.com/a", "example.com/b"}));
  CHECK(s2.json()["metadata"]["generation"] == 2);  // metadata only: no new generation
  // The same list in a merge patch is replaced whole.
  Response m2 = c.api.patch(web, {{"metadata", {{"finalizers", {"example.com/c"}}}}});
  CHECK(m2.json()["metadata"]["finalizers"] == json({"example.com/c"}));

  // Custom resources take no strategic merge patch (415), merge patches work.
  REQUIRE(c.api.post("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", scaledObjectCrd())
              .code == 201);
  std::string so = "/apis/keda.sh/v1alpha1/namespaces/shop/scaledobjects";
  REQUIRE(c.api.post(so, {{"metadata", {{"name", "orders"}}}, {"spec", {{"maxReplicaCount", 5}}}})
              .code == 201);
  Response unsupported = c.api.patch(so + "/orders", {{"spec", {{"maxReplicaCount", 6}}}},
                                     "application/strategic-merge-patch+json");
  CHECK(unsupported.code == 415);
  CHECK(unsupported.json()["reason"] == "UnsupportedMediaType");
  Response soPatched = c.api.patch(so + "/orders", {{"spec", {{"maxReplicaCount", 6}}}});
  CHECK(soPatched.code == 200);
  CHECK(soPatched.json()["spec"]["maxReplicaCount"] == 6);
  CHECK(soPatched.json()["metadata"]["generation"] == 2);
  CHECK(c.api.patch(so + "/missing", {{"spec", json::object()}}).code == 404);
}

TEST_CASE("/status and /scale subresources, simulated controllers") {
  Cluster c({"--ready-delay", "0.6"});
  REQUIRE(c.createNamespace("shop") == 201);
  REQUIRE(c.api.post(kDeploy, deployment("web", 2, "web")).code == 201);
  std::string web = std::string(kDeploy) + "/web";

  // The deployment controller: replicas at once, ready after --ready-delay.
  REQUIRE(eventually([&] { return c.api.get(web).json()["status"].value("replicas", 0) == 2; }));
  json st = c.api.get(web).json()["status"];
  CHECK(st["observedGeneration"] == 1);
  CHECK(st.value("readyReplicas", 0) == 0);
  REQUIRE(
      eventually([&] { return c.api.get(web).json()["status"].value("readyReplicas", 0) == 2; }));
  CHECK(c.api.get(web).json()["status"]["availableReplicas"] == 2);

  json scale = c.api.get(web + "/scale").json();
  CHECK(scale["kind"] == "Scale");
  CHECK(scale["apiVersion"] == "autoscaling/v1");
  CHECK(scale["spec"]["replicas"] == 2);
  CHECK(scale["status"]["replicas"] == 2);
  CHECK(scale["status"]["selector"] == "app=web,tier in (api,web)");
  json stale = scale;
  scale["spec"]["replicas"] = 5;
  Response scaled = c.api.put(web + "/scale", scale);
  REQUIRE(scaled.code == 200);
  CHECK(scaled.json()["spec"]["replicas"] == 5);
  stale["spec"]["replicas"] = 1;
  Response conflict = c.api.put(web + "/scale", stale);
  CHECK(conflict.code == 409);
  CHECK(conflict.json()["details"]["kind"] == "deployments");
  json d = c.api.get(web).json();
  CHECK(d["spec"]["replicas"] == 5);
  CHECK(d["metadata"]["generation"] == 2);
  REQUIRE(eventually([&] {
    json s = c.api.get(web).json()["status"];
    return s.value("observedGeneration", 0) == 2 && s.value("readyReplicas", 0) == 5;
  }));
  CHECK(c.api.patch(web + "/scale", {{"spec", {{"replicas", 0}}}}).json()["spec"]["replicas"] == 0);
  Response negative = c.api.patch(web + "/scale", {{"spec", {{"replicas", -1}}}});
  CHECK(negative.code == 422);
  CHECK(c.api.get("/apis/apps/v1/namespaces/shop/statefulsets/none/scale").code == 404);
  CHECK(c.api.get("/api/v1/namespaces/shop/configmaps/x/scale").code == 404);

  // Writes to the main resource ignore status; /status writes change only status.
  json main = c.api.get(web).json();
  main["status"]["replicas"] = 99;
  main["metadata"]["labels"]["touched"] = "yes";
  Response u = c.api.put(web, main);
  REQUIRE(u.code == 200);
  CHECK(u.json()["status"]["replicas"] != 99);
  CHECK(u.json()["metadata"]["labels"]["touched"] == "yes");

  REQUIRE(c.api.post("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", scaledObjectCrd())
              .code == 201);
  std::string so = "/apis/keda.sh/v1alpha1/namespaces/shop/scaledobjects/orders";
  json obj = {{"metadata", {{"name", "orders"}}},
              {"spec", {{"maxReplicaCount", 5}}},
              {"status", {{"hpaName", "ignored"}}}};
  json created = c.api.post("/apis/keda.sh/v1alpha1/namespaces/shop/scaledobjects", obj).json();
  CHECK_FALSE(created.contains("status"));
  json withStatus = created;
  withStatus["status"] = {{"hpaName", "keda-hpa-orders"},
                          {"conditions", {{{"type", "Ready"}, {"status", "True"}}}}};
  withStatus["spec"]["maxReplicaCount"] = 50;
  Response ps = c.api.put(so + "/status", withStatus);
  REQUIRE(ps.code == 200);
  CHECK(ps.json()["status"]["hpaName"] == "keda-hpa-orders");
  CHECK(ps.json()["spec"]["maxReplicaCount"] == 5);
  CHECK(ps.json()["metadata"]["generation"] == 1);
  Response pp = c.api.patch(
      so + "/status", {{"status", {{"hpaName", "other"}}}, {"spec", {{"maxReplicaCount", 7}}}});
  CHECK(pp.json()["status"]["hpaName"] == "other");
  CHECK(pp.json()["spec"]["maxReplicaCount"] == 5);
  json mainWrite = pp.json();
  mainWrite["status"]["hpaName"] = "from-main";
  mainWrite["spec"]["maxReplicaCount"] = 9;
  Response mw = c.api.put(so, mainWrite);
  CHECK(mw.json()["status"]["hpaName"] == "other");
  CHECK(mw.json()["spec"]["maxReplicaCount"] == 9);
  CHECK(mw.json()["metadata"]["generation"] == 2);
  CHECK(c.api.get(so + "/scale").code == 404);  // the ScaledObject CRD declares no scale

  // A CRD with a scale subresource and its paths.
  REQUIRE(c.api.post("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", widgetCrd()).code ==
          201);
  std::string w = "/apis/example.com/v1/namespaces/shop/widgets";
  REQUIRE(c.api.post(w, {{"metadata", {{"name", "w"}}}, {"spec", {{"size", 3}}}}).code == 201);
  REQUIRE(c.api.patch(w + "/w/status", {{"status", {{"size", 2}, {"selector", "app=w"}}}}).code ==
          200);
  json ws = c.api.get(w + "/w/scale").json();
  CHECK(ws["spec"]["replicas"] == 3);
  CHECK(ws["status"]["replicas"] == 2);
  CHECK(ws["status"]["selector"] == "app=w");
  REQUIRE(c.api.patch(w + "/w/scale", {{"spec", {{"replicas", 7}}}}).code == 200);
  CHECK(c.api.get(w + "/w").json()["spec"]["size"] == 7);

  // Jobs get status.active=1 and stay; tests finish them through /status.
  json job = {{"metadata", {{"name", "j"}}},
              {"spec",
               {{"template",
                 {{"spec",
                   {{"restartPolicy", "Never"},
                    {"containers", {{{"name", "c"}, {"image", "busybox"}}}}}}}}}}};
  REQUIRE(c.api.post("/apis/batch/v1/namespaces/shop/jobs", job).code == 201);
  REQUIRE(eventually([&] {
    return c.api.get("/apis/batch/v1/namespaces/shop/jobs/j").json()["status"].value("active", 0) ==
           1;
  }));
  json done = {{"status",
                {{"active", 0},
                 {"succeeded", 1},
                 {"conditions", {{{"type", "Complete"}, {"status", "True"}}}}}}};
  REQUIRE(c.api.patch("/apis/batch/v1/namespaces/shop/jobs/j/status", done).code == 200);
  std::this_thread::sleep_for(300ms);
  CHECK(c.api.get("/apis/batch/v1/namespaces/shop/jobs/j").json()["status"]["succeeded"] == 1);
}

TEST_CASE("finalizers keep an object until the last one is removed") {
  Cluster c;
  REQUIRE(c.createNamespace("shop") == 201);
  json cm = configMap("guarded");
  cm["metadata"]["finalizers"] = {"finalizer.keda.sh"};
  REQUIRE(c.api.post(kCm, cm).code == 201);
  std::string path = std::string(kCm) + "/guarded";
  WatchStream watch(c.api, std::string(kCm) + "?watch=true&timeoutSeconds=10&resourceVersion=" +
                               rvOf(c.api.get(path).json()));

  Response deleting = c.api.del(path);
  REQUIRE(deleting.code == 200);
  CHECK(deleting.json()["kind"] == "ConfigMap");
  CHECK(deleting.json()["metadata"].contains("deletionTimestamp"));
  CHECK(deleting.json()["metadata"]["deletionGracePeriodSeconds"] == 0);
  json live = c.api.get(path).json();
  CHECK(live["metadata"]["finalizers"] == json({"finalizer.keda.sh"}));

  Response added =
      c.api.patch(path, {{"metadata", {{"finalizers", {"finalizer.keda.sh", "new"}}}}});
  CHECK(added.code == 422);
  CHECK(added.json()["message"].get<std::string>().find("no new finalizers can be added if the "
                                                        "object is being deleted") !=
        std::string::npos);
  // Other updates are still allowed while the object is being deleted.
  CHECK(c.api.patch(path, {{"data", {{"cleanup", "done"}}}}).code == 200);

  json removeOp = json::array(
      {{{"op", "test"}, {"path", "/metadata/finalizers/0"}, {"value", "finalizer.keda.sh"}},
       {{"op", "remove"}, {"path", "/metadata/finalizers/0"}}});
  Response removed = c.api.patch(path, removeOp, "application/json-patch+json");
  CHECK(removed.code == 200);
  CHECK(c.api.get(path).code == 404);
  auto e1 = watch.nextChange();
  auto e2 = watch.nextChange();
  auto e3 = watch.nextChange();
  REQUIRE((e1 && e2 && e3));
  CHECK((*e1)["type"] == "MODIFIED");  // deletionTimestamp set
  CHECK((*e2)["type"] == "MODIFIED");  // data patched
  CHECK((*e3)["type"] == "DELETED");
}

TEST_CASE("ownerReferences: background, foreground and orphan deletion") {
  Cluster c;
  REQUIRE(c.createNamespace("shop") == 201);
  auto make = [&](const std::string& name, const json& owners, const json& finalizers = nullptr) {
    json cm = configMap(name);
    if (!owners.is_null()) cm["metadata"]["ownerReferences"] = owners;
    if (!finalizers.is_null()) cm["metadata"]["finalizers"] = finalizers;
    Response r = c.api.post(kCm, cm);
    REQUIRE(r.code == 201);
    return r.json();
  };
  auto ref = [](const json& owner, bool block = false) {
    return json{{"apiVersion", "v1"},
                {"kind", "ConfigMap"},
                {"name", owner["metadata"]["name"]},
                {"uid", owner["metadata"]["uid"]},
                {"controller", true},
                {"blockOwnerDeletion", block}};
  };
  auto exists = [&](const std::string& name) {
    return c.api.get(std::string(kCm) + "/" + name).code == 200;
  };

  // Background (default): dependents and their dependents go.
  json owner = make("owner", nullptr);
  json child = make("child", json::array({ref(owner)}));
  make("grandchild", json::array({ref(child)}));
  json other = make("other-owner", nullptr);
  json shared = ref(other);
  shared["controller"] = false;
  make("shared", json::array({ref(owner), shared}));
  REQUIRE(c.api.del(std::string(kCm) + "/owner").code == 200);
  CHECK_FALSE(exists("owner"));
  CHECK_FALSE(exists("child"));
  CHECK_FALSE(exists("grandchild"));
  REQUIRE(exists("shared"));  // another owner is alive: only the dangling reference goes
  CHECK(c.api.get(std::string(kCm) + "/shared").json()["metadata"]["ownerReferences"].size() == 1);

  // Orphan: the dependent stays without the reference.
  json o2 = make("owner2", nullptr);
  make("kept", json::array({ref(o2)}));
  REQUIRE(c.api.del(std::string(kCm) + "/owner2", {{"propagationPolicy", "Orphan"}}).code == 200);
  REQUIRE(exists("kept"));
  CHECK_FALSE(c.api.get(std::string(kCm) + "/kept").json()["metadata"].contains("ownerReferences"));

  // Foreground: the owner waits for a blocking dependent that has a finalizer.
  json o3 = make("owner3", nullptr);
  make("blocker", json::array({ref(o3, true)}), json::array({"example.com/hold"}));
  Response fg = c.api.request("DELETE", std::string(kCm) + "/owner3?propagationPolicy=Foreground");
  REQUIRE(fg.code == 200);
  json waiting = c.api.get(std::string(kCm) + "/owner3").json();
  CHECK(waiting["metadata"]["finalizers"] == json({"foregroundDeletion"}));
  CHECK(waiting["metadata"].contains("deletionTimestamp"));
  REQUIRE(
      c.api.patch(std::string(kCm) + "/blocker", {{"metadata", {{"finalizers", nullptr}}}}).code ==
      200);
  CHECK_FALSE(exists("blocker"));
  CHECK_FALSE(exists("owner3"));

  // The garbage collector removes objects created with owners that do not exist.
  make("stray", json::array({{{"apiVersion", "v1"},
                              {"kind", "ConfigMap"},
                              {"name", "ghost"},
                              {"uid", "00000000-0000-4000-8000-000000000000"}}}));
  CHECK(eventually([&] { return !exists("stray"); }));

  // Cross-kind: deleting a ScaledObject removes the HPA it owns.
  REQUIRE(c.api.post("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", scaledObjectCrd())
              .code == 201);
  json so = c.api
                .post("/apis/keda.sh/v1alpha1/namespaces/shop/scaledobjects",
                      {{"metadata", {{"name", "orders"}}}, {"spec", json::object()}})
                .json();
  json hpa = {
      {"metadata",
       {{"name", "keda-hpa-orders"},
        {"ownerReferences",
         {{{"apiVersion", "keda.sh/v1alpha1"},
           {"kind", "ScaledObject"},
           {"name", "orders"},
           {"uid", so["metadata"]["uid"]},
           {"controller", true},
           {"blockOwnerDeletion", true}}}}}},
      {"spec",
       {{"scaleTargetRef", {{"apiVersion", "apps/v1"}, {"kind", "Deployment"}, {"name", "web"}}},
        {"minReplicas", 1},
        {"maxReplicas", 10}}}};
  std::string hpas = "/apis/autoscaling/v2/namespaces/shop/horizontalpodautoscalers";
  REQUIRE(c.api.post(hpas, hpa).code == 201);
  REQUIRE(c.api.del("/apis/keda.sh/v1alpha1/namespaces/shop/scaledobjects/orders").code == 200);
  CHECK(c.api.get(hpas + "/keda-hpa-orders").code == 404);

  // Deleting a namespace deletes what is in it.
  REQUIRE(c.api.post(kCm, configMap("last")).code == 201);
  Response nsDel = c.api.del("/api/v1/namespaces/shop");
  REQUIRE(nsDel.code == 200);
  CHECK(eventually([&] { return c.api.get("/api/v1/namespaces/shop").code == 404; }));
  CHECK(c.api.get(std::string(kCm) + "/last").code == 404);
}
