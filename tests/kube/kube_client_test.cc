// The Kubernetes client and informer against the Kubernetes API test server
// (tools/kube-test-apiserver), over HTTPS with the kubeconfig it writes.
#include "updraft/operator/kube_client.h"

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include "kube_test_server/kube_support.h"
#include "updraft/operator/informer.h"

using namespace updraft;
using namespace updraft::kube;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

// The test API server in a temporary directory, removed afterwards.
struct TestApiServer {
  kubetest_test::TempDir dir;
  kubetest_test::ServerProcess process{dir.path()};
  std::string kubeconfig() const { return process.kubeconfig(); }
};

json configMap(const std::string& name, const std::string& value) {
  return {{"apiVersion", "v1"},
          {"kind", "ConfigMap"},
          {"metadata", {{"name", name}, {"namespace", "default"}}},
          {"data", {{"k", value}}}};
}

const std::string kConfigMaps = "/api/v1/namespaces/default/configmaps";

}  // namespace

TEST_CASE("kube client: kubeconfig, CRUD, conflicts and patches over HTTPS") {
  TestApiServer server;
  auto config = KubeConfig::fromKubeconfig(server.kubeconfig());
  INFO(config.status().toString());
  REQUIRE(config.isOk());
  CHECK(config->namespace_ == "default");
  KubeClient client(*config);

  auto created = client.create(kConfigMaps, configMap("a", "1"));
  REQUIRE(created.isOk());
  REQUIRE(created->code == 201);
  const std::string rv = created->body["metadata"]["resourceVersion"];

  auto again = client.create(kConfigMaps, configMap("a", "1"));
  REQUIRE(again.isOk());
  CHECK(again->code == 409);
  CHECK(again->status("create a").code() == StatusCode::kAlreadyExists);

  json changed = created->body;
  changed["data"]["k"] = "2";
  auto updated = client.update(kConfigMaps + "/a", changed);
  REQUIRE(updated.isOk());
  CHECK(updated->code == 200);
  // The same resourceVersion again: someone else (we) wrote meanwhile.
  changed["data"]["k"] = "3";
  auto stale = client.update(kConfigMaps + "/a", changed);
  REQUIRE(stale.isOk());
  CHECK(stale->code == 409);
  CHECK(stale->reason() == "Conflict");
  CHECK(stale->status("update a").code() == StatusCode::kFailedPrecondition);
  CHECK(stale->status("update a").message().find("update a: 409 Conflict") == 0);
  CHECK(rv != updated->body["metadata"]["resourceVersion"]);

  auto merged = client.patch(kConfigMaps + "/a", {{"data", {{"x", "y"}}}}, PatchType::kMerge);
  REQUIRE(merged.isOk());
  CHECK(merged->body["data"]["k"] == "2");
  CHECK(merged->body["data"]["x"] == "y");
  auto jsonPatch = client.patch(
      kConfigMaps + "/a", json::array({{{"op", "remove"}, {"path", "/data/x"}}}), PatchType::kJson);
  INFO(jsonPatch.status().toString());
  REQUIRE(jsonPatch.isOk());
  CHECK_FALSE(jsonPatch->body["data"].contains("x"));

  auto gone = client.remove(kConfigMaps + "/a");
  REQUIRE(gone.isOk());
  CHECK(gone->ok());
  auto missing = client.get(kConfigMaps + "/a");
  REQUIRE(missing.isOk());
  CHECK(missing->code == 404);
  CHECK(missing->status("get a").code() == StatusCode::kNotFound);

  // The client-certificate user of the same kubeconfig works too.
  auto certConfig = KubeConfig::fromKubeconfig(server.kubeconfig(), "updraft-test-cert");
  REQUIRE(certConfig.isOk());
  CHECK(certConfig->token.empty());
  KubeClient certClient(*certConfig);
  auto viaCert = certClient.get(kConfigMaps);
  REQUIRE(viaCert.isOk());
  CHECK(viaCert->code == 200);
}

TEST_CASE("kube client: 429 with Retry-After is retried; a rotated token file is re-read on 401") {
  TestApiServer server;
  auto config = KubeConfig::fromKubeconfig(server.kubeconfig());
  REQUIRE(config.isOk());
  KubeClient client(*config);

  REQUIRE(client.request("POST", "/_test/fail?status=429&count=2&retryAfter=1")->ok());
  const auto before = client.requestCount();
  const auto start = std::chrono::steady_clock::now();
  auto r = client.get(kConfigMaps);
  REQUIRE(r.isOk());
  CHECK(r->code == 200);
  CHECK(client.requestCount() - before == 3);
  CHECK(std::chrono::steady_clock::now() - start >= 2s);

  // A token file whose content changes (the kubelet's projected token rotation).
  const std::string tokenFile = server.dir.path() + "/sa-token";
  { std::ofstream(tokenFile) << "not-the-token\n"; }
  KubeConfig rotated = *config;
  const std::string good = rotated.token;
  rotated.token.clear();
  rotated.tokenFile = tokenFile;
  KubeClient sa(rotated);
  auto denied = sa.get(kConfigMaps);
  REQUIRE(denied.isOk());
  CHECK(denied->code == 401);
  CHECK(denied->status("list").message().find("not-the-token") == std::string::npos);
  { std::ofstream(tokenFile) << good << "\n"; }
  auto allowed = sa.get(kConfigMaps);  // 401 with the cached token, re-read, 200
  REQUIRE(allowed.isOk());
  CHECK(allowed->code == 200);
}

TEST_CASE("kube client: the token bucket spaces requests") {
  TestApiServer server;
  auto config = KubeConfig::fromKubeconfig(server.kubeconfig());
  REQUIRE(config.isOk());
  KubeClientOptions slow;
  slow.qps = 10;
  slow.burst = 1;
  KubeClient client(*config, slow);
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 6; ++i) REQUIRE(client.get(kConfigMaps)->ok());
  CHECK(std::chrono::steady_clock::now() - start >= 450ms);
}

TEST_CASE("informer: list, watch, and a relist after 410 that loses nothing") {
  TestApiServer server;
  auto config = KubeConfig::fromKubeconfig(server.kubeconfig());
  REQUIRE(config.isOk());
  KubeClient client(*config);
  for (const char* n : {"one", "two"}) REQUIRE(client.create(kConfigMaps, configMap(n, "0"))->ok());

  std::mutex mutex;
  std::multiset<std::string> adds, updates, deletes;
  InformerHandlers handlers;
  handlers.onAdd = [&](const json& o) {
    std::lock_guard lock(mutex);
    adds.insert(o["metadata"]["name"].get<std::string>());
  };
  handlers.onUpdate = [&](const json&, const json& o) {
    std::lock_guard lock(mutex);
    updates.insert(o["metadata"]["name"].get<std::string>() + "=" +
                   o["data"]["k"].get<std::string>());
  };
  handlers.onDelete = [&](const json& o) {
    std::lock_guard lock(mutex);
    deletes.insert(o["metadata"]["name"].get<std::string>());
  };
  InformerOptions opts;
  opts.apiVersion = "v1";
  opts.resource = "configmaps";
  opts.namespace_ = "default";
  opts.initialBackoff = 50ms;
  Informer informer(client, opts, handlers);
  informer.start();
  REQUIRE(informer.waitForSync(10s));
  auto eventually = [&](const std::function<bool()>& cond) {
    for (int i = 0; i < 200; ++i) {
      {
        std::lock_guard lock(mutex);
        if (cond()) return true;
      }
      std::this_thread::sleep_for(25ms);
    }
    return false;
  };
  CHECK(eventually([&] { return adds.count("one") && adds.count("two"); }));

  REQUIRE(client.create(kConfigMaps, configMap("three", "0"))->ok());
  REQUIRE(client.patch(kConfigMaps + "/one", {{"data", {{"k", "1"}}}}, PatchType::kMerge)->ok());
  REQUIRE(client.remove(kConfigMaps + "/two")->ok());
  CHECK(eventually(
      [&] { return adds.count("three") && updates.count("one=1") && deletes.count("two"); }));

  // Expire the watch history and cut the stream; changes made meanwhile must still arrive
  // (through the relist), including a delete.
  REQUIRE(client.request("POST", "/_test/compact")->ok());
  REQUIRE(client.request("POST", "/_test/close-watches")->ok());
  REQUIRE(client.patch(kConfigMaps + "/three", {{"data", {{"k", "3"}}}}, PatchType::kMerge)->ok());
  REQUIRE(client.remove(kConfigMaps + "/one")->ok());
  REQUIRE(client.request("POST", "/_test/compact")->ok());
  CHECK(eventually([&] { return updates.count("three=3") && deletes.count("one"); }));
  CHECK(informer.stats().lists >= 1);
  CHECK_FALSE(informer.get("default", "one"));
  auto three = informer.get("default", "three");
  REQUIRE(three);
  CHECK((*three)["data"]["k"] == "3");
  CHECK(informer.list().size() == 1);

  client.stop();
  informer.stop();
}
