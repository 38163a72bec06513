// updraft-kube-test-apiserver: watch streams (events, selectors, bookmarks, timeouts, resume,
// 410 Gone, dropped connections) and restarts with --state-file.
#include <catch2/catch.hpp>

#include "kube_test_server/kube_support.h"

using namespace updraft::kubetest_test;
using namespace std::chrono_literals;

namespace {

const std::string kCm = "/api/v1/namespaces/shop/configmaps";

std::string rvOf(const json& o) { return o["metadata"]["resourceVersion"].get<std::string>(); }
uint64_t rvNum(const json& o) { return std::stoull(rvOf(o)); }

}  // namespace

TEST_CASE("watch: events in order, label selector transitions, bookmarks, timeout") {
  Cluster c({"--bookmark-interval", "0.2"});
  REQUIRE(c.createNamespace("shop") == 201);
  REQUIRE(c.api.post(kCm, configMap("before", {{"app", "web"}})).code == 201);
  std::string listRv = c.api.get(kCm).json()["metadata"]["resourceVersion"];

  WatchStream all(c.api, kCm + "?watch=true&resourceVersion=" + listRv + "&timeoutSeconds=30");
  WatchStream web(c.api, kCm +
                             "?watch=1&labelSelector=app%3Dweb&allowWatchBookmarks=true"
                             "&resourceVersion=" +
                             listRv + "&timeoutSeconds=30");
  // Without resourceVersion a watch starts with synthetic ADDED events for what exists.
  WatchStream fresh(c.api, "/api/v1/configmaps?watch=true&timeoutSeconds=30");
  auto first = fresh.nextChange();
  REQUIRE(first);
  CHECK((*first)["type"] == "ADDED");
  CHECK((*first)["object"]["metadata"]["name"] == "before");

  json created = c.api.post(kCm, configMap("a", {{"app", "web"}})).json();
  json modified = c.api.patch(kCm + "/a", {{"data", {{"k", "v"}}}}).json();
  json relabeled = c.api.patch(kCm + "/a", {{"metadata", {{"labels", {{"app", "db"}}}}}}).json();
  REQUIRE(c.api.del(kCm + "/a").code == 200);

  std::vector<std::string> types;
  uint64_t last = 0;
  for (int i = 0; i < 4; ++i) {
    auto e = all.nextChange();
    REQUIRE(e);
    types.push_back((*e)["type"]);
    CHECK((*e)["object"]["kind"] == "ConfigMap");
    CHECK((*e)["object"]["apiVersion"] == "v1");
    CHECK(rvNum((*e)["object"]) > last);
    last = rvNum((*e)["object"]);
  }
  CHECK(types == std::vector<std::string>{"ADDED", "MODIFIED", "MODIFIED", "DELETED"});

  // Through the selector the relabel is a DELETED, and the real delete is not seen.
  auto w1 = web.nextChange(), w2 = web.nextChange(), w3 = web.nextChange();
  REQUIRE((w1 && w2 && w3));
  CHECK((*w1)["type"] == "ADDED");
  CHECK((*w2)["type"] == "MODIFIED");
  CHECK((*w3)["type"] == "DELETED");
  CHECK(rvOf((*w3)["object"]) == rvOf(relabeled));
  // Bookmarks carry the newest resourceVersion and nothing else meaningful.
  std::optional<json> bookmark;
  for (int i = 0; i < 20 && !bookmark; ++i) {
    auto e = web.next(2s);
    if (e && (*e)["type"] == "BOOKMARK") bookmark = e;
  }
  REQUIRE(bookmark);
  CHECK((*bookmark)["object"]["kind"] == "ConfigMap");
  CHECK(rvNum((*bookmark)["object"]) >= last);
  // The first watch asked for no bookmarks.
  CHECK_FALSE(all.next(500ms));

  // timeoutSeconds ends the stream cleanly.
  WatchStream shortWatch(c.api, kCm + "?watch=true&timeoutSeconds=1");
  CHECK(shortWatch.waitEnd(5s));
  CHECK(shortWatch.result() == CURLE_OK);
  CHECK(shortWatch.httpCode() == 200);
  auto before = shortWatch.nextChange(100ms);
  REQUIRE(before);
  CHECK((*before)["object"]["metadata"]["name"] == "before");

  // sendInitialEvents: ADDED for all, then a BOOKMARK marking the end of the initial events.
  WatchStream initial(c.api, kCm +
                                 "?watch=true&sendInitialEvents=true&allowWatchBookmarks=true"
                                 "&resourceVersionMatch=NotOlderThan&timeoutSeconds=5");
  auto i1 = initial.next(), i2 = initial.next();
  REQUIRE((i1 && i2));
  CHECK((*i1)["type"] == "ADDED");
  CHECK((*i2)["type"] == "BOOKMARK");
  CHECK((*i2)["object"]["metadata"]["annotations"]["k8s.io/initial-events-end"] == "true");

  // A watch of one object by name (fieldSelector), cluster-wide watch of a namespaced resource.
  WatchStream byName(c.api,
                     "/api/v1/configmaps?watch=true&fieldSelector=metadata.name%3Db"
                     "&resourceVersion=" +
                         std::to_string(last) + "&timeoutSeconds=10");
  REQUIRE(c.api.post(kCm, configMap("not-b")).code == 201);
  REQUIRE(c.api.post(kCm, configMap("b")).code == 201);
  auto onlyB = byName.nextChange();
  REQUIRE(onlyB);
  CHECK((*onlyB)["object"]["metadata"]["name"] == "b");
}

TEST_CASE("watch: resume from a resourceVersion, 410 after compaction, dropped connections") {
  Cluster c({"--watch-window", "5"});
  REQUIRE(c.createNamespace("shop") == 201);
  json a = c.api.post(kCm, configMap("a")).json();
  json b = c.api.post(kCm, configMap("b")).json();
  json b2 = c.api.patch(kCm + "/b", {{"data", {{"x", "1"}}}}).json();

  // Resume after `a`: exactly the later changes.
  {
    WatchStream resume(c.api, kCm + "?watch=true&timeoutSeconds=10&resourceVersion=" + rvOf(a));
    auto e1 = resume.nextChange(), e2 = resume.nextChange();
    REQUIRE((e1 && e2));
    CHECK((*e1)["type"] == "ADDED");
    CHECK((*e1)["object"]["metadata"]["name"] == "b");
    CHECK((*e2)["type"] == "MODIFIED");
    CHECK(rvOf((*e2)["object"]) == rvOf(b2));
    CHECK_FALSE(resume.nextChange(300ms));
  }

  // Past the watch window (5 changes), the old resourceVersion is gone: 200, then an ERROR event.
  for (int i = 0; i < 6; ++i) {
    REQUIRE(c.api.patch(kCm + "/b", {{"data", {{"x", std::to_string(i)}}}}).code == 200);
  }
  {
    WatchStream tooOld(c.api, kCm + "?watch=true&timeoutSeconds=10&resourceVersion=" + rvOf(a));
    auto e = tooOld.next();
    REQUIRE(e);
    CHECK((*e)["type"] == "ERROR");
    CHECK((*e)["object"]["kind"] == "Status");
    CHECK((*e)["object"]["code"] == 410);
    CHECK((*e)["object"]["reason"] == "Expired");
    CHECK((*e)["object"]["message"].get<std::string>().rfind(
              "too old resource version: " + rvOf(a) + " (", 0) == 0);
    CHECK(tooOld.waitEnd(3s));
    CHECK(tooOld.httpCode() == 200);
  }

  // /_test/compact: even the newest resourceVersion but one is then too old.
  json now = c.api.get(kCm + "/b").json();
  json newer = c.api.patch(kCm + "/b", {{"data", {{"y", "1"}}}}).json();
  REQUIRE(c.api.control("/_test/compact").code == 200);
  {
    WatchStream gone(c.api, kCm + "?watch=true&timeoutSeconds=10&resourceVersion=" + rvOf(now));
    auto e = gone.next();
    REQUIRE(e);
    CHECK((*e)["object"]["code"] == 410);
    WatchStream ok(c.api, kCm + "?watch=true&timeoutSeconds=10&resourceVersion=" + rvOf(newer));
    REQUIRE(c.api.patch(kCm + "/b", {{"data", {{"y", "2"}}}}).code == 200);
    auto e2 = ok.nextChange();
    REQUIRE(e2);
    CHECK((*e2)["type"] == "MODIFIED");
  }

  // /_test/close-watches drops open streams (the client sees the connection end, not a clean
  // chunked end); ?graceful=true ends them cleanly.
  {
    WatchStream dropped(c.api, kCm + "?watch=true&timeoutSeconds=60");
    REQUIRE(dropped.nextChange());  // initial ADDED: the watch is registered
    REQUIRE(eventually([&] { return c.api.get("/_test/watches").json()["open"] == 1; }));
    json closed = c.api.control("/_test/close-watches").json();
    CHECK(closed["closed"] == 1);
    REQUIRE(dropped.waitEnd(3s));
    CHECK(dropped.result() != CURLE_OK);
    WatchStream graceful(c.api, kCm + "?watch=true&timeoutSeconds=60");
    REQUIRE(graceful.nextChange());
    REQUIRE(eventually([&] { return c.api.get("/_test/watches").json()["open"] == 1; }));
    c.api.control("/_test/close-watches?graceful=true");
    REQUIRE(graceful.waitEnd(3s));
    CHECK(graceful.result() == CURLE_OK);
  }
  // Bad requests on watches.
  CHECK(c.api.get(kCm + "?watch=true&resourceVersion=abc").code == 400);
  CHECK(c.api.get(kCm + "?watch=true&labelSelector=a%20in").code == 400);
}

TEST_CASE("restart with --state-file keeps objects and resourceVersions keep increasing") {
  TempDir dir;
  std::string state = dir.path() + "/state.json";
  std::string lastRv, uid;
  {
    ServerProcess server(dir.path(), {"--state-file", state});
    Client api(server.url(), server.caFile());
    REQUIRE(api.post("/api/v1/namespaces", {{"metadata", {{"name", "shop"}}}}).code == 201);
    REQUIRE(api.post("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", scaledObjectCrd())
                .code == 201);
    json so = api.post("/apis/keda.sh/v1alpha1/namespaces/shop/scaledobjects",
                       {{"metadata", {{"name", "orders"}}}, {"spec", {{"maxReplicaCount", 3}}}})
                  .json();
    uid = so["metadata"]["uid"];
    json cm = api.post(kCm, configMap("a")).json();
    lastRv = rvOf(cm);
    CHECK(server.stop() == 0);
  }
  ServerProcess server(dir.path(), {"--state-file", state});
  Client api(server.url(), server.caFile());
  json so = api.get("/apis/keda.sh/v1alpha1/namespaces/shop/scaledobjects/orders").json();
  CHECK(so["metadata"]["uid"] == uid);
  CHECK(so["spec"]["maxReplicaCount"] == 3);
  // A watch resumes across the restart from the last resourceVersion seen before it.
  WatchStream resume(api, kCm + "?watch=true&timeoutSeconds=10&resourceVersion=" + lastRv);
  json b = api.post(kCm, configMap("b")).json();
  CHECK(std::stoull(rvOf(b)) > std::stoull(lastRv));
  auto e = resume.nextChange();
  REQUIRE(e);
  CHECK((*e)["object"]["metadata"]["name"] == "b");
  CHECK(api.get(kCm).json()["items"].size() == 2);
}
