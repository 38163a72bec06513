// examples/lua/json-endpoint.lua against a local cpp-httplib server.
#include <catch2/catch.hpp>
#include <mutex>
#include <string>

#include "lua_example_util.h"
#include "scalers/test_server.h"

using namespace updraft;
using updraft::testing::contains;
using updraft::testing::liveExample;
using updraft::testing::TestServer;

namespace {

class JsonServer {
 public:
  JsonServer() {
    server_.server().Get("/stats", [this](const httplib::Request& req, httplib::Response& res) {
      std::lock_guard lock(mutex_);
      authorization = req.get_header_value("Authorization");
      apiKey = req.get_header_value("X-Team-Key");
      res.status = status;
      res.set_content(body, "application/json");
    });
    server_.start();
  }
  ~JsonServer() { updraft::testing::closeIdleConnections(); }
  std::string url() const { return server_.url("/stats"); }
  void serve(std::string b, int s = 200) {
    std::lock_guard lock(mutex_);
    body = std::move(b);
    status = s;
  }
  std::string seenAuthorization() {
    std::lock_guard lock(mutex_);
    return authorization;
  }
  std::string seenApiKey() {
    std::lock_guard lock(mutex_);
    return apiKey;
  }

 private:
  std::mutex mutex_;
  std::string body = "{}";
  int status = 200;
  std::string authorization, apiKey;
  TestServer server_;
};

const char* kDoc = R"({
  "queues": {"batch": {"pending": 37, "ratio": "0.25"}, "empty": {}},
  "items": [{"count": "12.5"}, {"count": 3}],
  "words": {"name": "abc", "flag": true, "nothing": null},
  "0": {"zero": 1e3}
})";

}  // namespace

TEST_CASE("json-endpoint.lua: dotted paths, numbers and numeric strings") {
  JsonServer server;
  server.serve(kDoc);
  auto at = [&](const std::string& path) {
    return liveExample("json-endpoint.lua", {{"url", server.url()}, {"valueLocation", path}});
  };
  CHECK(at("queues.batch.pending").value() == 37);
  CHECK(at("queues.batch.ratio").value() == 0.25);  // a numeric string
  CHECK(at("items.0.count").value() == 12.5);       // arrays count from 0
  CHECK(at("items.1.count").value() == 3);
  CHECK(at("0.zero").value() == 1000);  // an object key that looks like an index

  // Values flow through: the same scaler sees the endpoint change, and activity follows.
  auto live = at("queues.batch.pending");
  server.serve(R"({"queues": {"batch": {"pending": "0"}}})");
  auto r = live.poll();
  REQUIRE(r.isOk());
  CHECK(r->metrics.at(0).value == 0);
  CHECK_FALSE(r->isActive);
  server.serve(R"({"queues": {"batch": {"pending": 41}}})");
  r = live.poll();
  REQUIRE(r.isOk());
  CHECK(r->metrics.at(0).value == 41);
  CHECK(r->isActive);
}

TEST_CASE("json-endpoint.lua: missing paths and non-numbers are errors naming the step") {
  JsonServer server;
  server.serve(kDoc);
  auto errorAt = [&](const std::string& path) {
    return liveExample("json-endpoint.lua", {{"url", server.url()}, {"valueLocation", path}})
        .error();
  };
  CHECK(contains(errorAt("queues.batch.nope"),
                 "json-endpoint: valueLocation 'queues.batch.nope': no 'nope' in 'queues.batch'"));
  CHECK(contains(errorAt("missing"), "json-endpoint: valueLocation 'missing': no 'missing'"));
  CHECK(contains(errorAt("items.2.count"), "no '2' in 'items'"));
  CHECK(contains(errorAt("words.nothing"), "no 'nothing' in 'words'"));  // null is absent
  CHECK(contains(errorAt("queues.batch.pending.deeper"),
                 "'queues.batch.pending' is a number, not an object"));
  CHECK(contains(errorAt("words.name"), "valueLocation 'words.name' is \"abc\", not a number"));
  CHECK(contains(errorAt("words.flag"), "valueLocation 'words.flag' is boolean, not a number"));
  CHECK(contains(errorAt("queues.empty"), "valueLocation 'queues.empty' is table, not a number"));

  server.serve("not json");
  CHECK(contains(errorAt("a"), "json-endpoint: the answer is not JSON"));
  server.serve(R"({"a": 1})", 500);
  CHECK(contains(errorAt("a"), "json-endpoint: HTTP 500 from the endpoint"));
}

TEST_CASE("json-endpoint.lua: credentials from the TriggerAuthentication") {
  JsonServer server;
  server.serve(R"({"v": 5})");
  StringMap m = {{"url", server.url()}, {"valueLocation", "v"}};
  CHECK(liveExample("json-endpoint.lua", m, {{"token", "t0k"}}).value() == 5);
  CHECK(server.seenAuthorization() == "Bearer t0k");
  CHECK(liveExample("json-endpoint.lua", m, {{"username", "u"}, {"password", "p"}}).value() == 5);
  CHECK(server.seenAuthorization() == "Basic dTpw");
  m["apiKeyHeader"] = "X-Team-Key";
  CHECK(liveExample("json-endpoint.lua", m, {{"apiKey", "k-1"}}).value() == 5);
  CHECK(server.seenApiKey() == "k-1");
  CHECK(server.seenAuthorization().empty());
}
