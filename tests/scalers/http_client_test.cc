#include "common/http_client.h"

#include <catch2/catch.hpp>
#include <chrono>
#include <thread>

#include "test_server.h"

using namespace updraft;
using namespace updraft::http;
using updraft::testing::TestServer;

namespace {

void echoHandlers(httplib::Server& s) {
  s.Get("/hello", [](const httplib::Request& req, httplib::Response& res) {
    res.set_header("X-Reply", "yes");
    res.set_content("hello " + req.get_header_value("X-Name"), "text/plain");
  });
  s.Post("/echo", [](const httplib::Request& req, httplib::Response& res) {
    res.status = 201;
    res.set_content(req.method + ":" + req.get_header_value("Content-Type") + ":" + req.body,
                    "text/plain");
  });
  s.Get("/auth", [](const httplib::Request& req, httplib::Response& res) {
    res.set_content(req.get_header_value("Authorization"), "text/plain");
  });
  s.Get("/status/404", [](const httplib::Request&, httplib::Response& res) {
    res.status = 404;
    res.set_content("nope", "text/plain");
  });
  s.Get("/slow", [](const httplib::Request&, httplib::Response& res) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    res.set_content("late", "text/plain");
  });
  s.Get("/big", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(std::string(5000, 'x'), "text/plain");
  });
  s.Get("/big-chunked", [](const httplib::Request&, httplib::Response& res) {
    res.set_chunked_content_provider("text/plain", [](size_t offset, httplib::DataSink& sink) {
      if (offset >= 50000) {
        sink.done();
        return true;
      }
      std::string chunk(1000, 'y');
      return sink.write(chunk.data(), chunk.size());
    });
  });
}

}  // namespace

TEST_CASE("http: GET and POST with headers and body; non-2xx is a response") {
  TestServer server;
  echoHandlers(server.server());
  server.start();
  HttpClient client;

  Request get;
  get.url = server.url("/hello");
  get.headers = {{"X-Name", "updraft"}};
  auto r = client.send(get);
  REQUIRE(r.isOk());
  CHECK(r->status == 200);
  CHECK(r->body == "hello updraft");
  REQUIRE(r->header("x-reply"));
  CHECK(*r->header("X-REPLY") == "yes");
  CHECK(r->header("X-Missing") == nullptr);

  Request post;
  post.method = "post";
  post.url = server.url("/echo");
  post.headers = {{"Content-Type", "application/json"}};
  post.body = R"({"a":1})";
  r = client.send(post);
  REQUIRE(r.isOk());
  CHECK(r->status == 201);
  CHECK(r->body == R"(POST:application/json:{"a":1})");

  r = client.get(server.url("/status/404"), Millis(2000));
  REQUIRE(r.isOk());
  CHECK(r->status == 404);
  CHECK(r->body == "nope");
}

TEST_CASE("http: basic and bearer authentication") {
  TestServer server;
  echoHandlers(server.server());
  server.start();
  HttpClient client;
  Request req;
  req.url = server.url("/auth");
  req.basicAuth = BasicAuth{"alice", "s3cret"};
  auto r = client.send(req);
  REQUIRE(r.isOk());
  CHECK(r->body == "Basic YWxpY2U6czNjcmV0");  // base64("alice:s3cret")

  Request bearer;
  bearer.url = server.url("/auth");
  bearer.bearerToken = "tok-123";
  r = client.send(bearer);
  REQUIRE(r.isOk());
  CHECK(r->body == "Bearer tok-123");
}

TEST_CASE("http: keep-alive connections are reused, per origin, until closeIdle()") {
  TestServer a;
  TestServer b;
  echoHandlers(a.server());
  echoHandlers(b.server());
  a.start();
  b.start();
  HttpClient client;
  for (int i = 0; i < 5; ++i) {
    REQUIRE(client.get(a.url("/hello"), Millis(2000)).isOk());
    REQUIRE(client.get(b.url("/hello"), Millis(2000)).isOk());
  }
  CHECK(a.requests() == 5);
  CHECK(a.connections() == 1);
  CHECK(b.connections() == 1);
  CHECK(client.idleHandlesForTest() == 1);  // one handle serves both, keeping both connections

  client.closeIdle();
  CHECK(client.idleHandlesForTest() == 0);
  REQUIRE(client.get(a.url("/hello"), Millis(2000)).isOk());
  CHECK(a.connections() == 2);
}

TEST_CASE("http: concurrent requests each get their own handle") {
  TestServer server;
  echoHandlers(server.server());
  server.start();
  HttpClient client;
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 10; ++i) {
        auto r = client.get(server.url("/hello"), Millis(5000));
        if (r.isOk() && r->status == 200) ++ok;
      }
    });
  }
  for (auto& t : threads) t.join();
  CHECK(ok == 40);
  CHECK(server.connections() <= 4);
  CHECK(client.idleHandlesForTest() <= 4);
}

TEST_CASE("http: timeouts, refused connections and oversized bodies are clear errors") {
  TestServer server;
  echoHandlers(server.server());
  server.start();
  HttpClient client;

  SECTION("timeout") {
    auto begin = std::chrono::steady_clock::now();
    auto r = client.get(server.url("/slow"), Millis(200));
    auto took = std::chrono::steady_clock::now() - begin;
    REQUIRE_FALSE(r.isOk());
    CHECK(r.status().code() == StatusCode::kTimeout);
    CHECK(r.status().message() == "GET " + server.url("/slow") + ": timed out after 200 ms");
    CHECK(took < std::chrono::milliseconds(1200));
  }
  SECTION("no time left: fails without I/O") {
    auto r = client.get(server.url("/hello"), Millis(0));
    REQUIRE_FALSE(r.isOk());
    CHECK(r.status().code() == StatusCode::kTimeout);
    CHECK(server.requests() == 0);
  }
  SECTION("connection refused") {
    int port = updraft::testing::closedPort();
    std::string url = "http://127.0.0.1:" + std::to_string(port) + "/metrics";
    auto r = client.get(url, Millis(2000));
    REQUIRE_FALSE(r.isOk());
    CHECK(r.status().code() == StatusCode::kUnavailable);
    CHECK(r.status().message() == "GET " + url + ": connection refused");
  }
  SECTION("response too large, with and without Content-Length") {
    Request req;
    req.url = server.url("/big");
    req.maxResponseBytes = 1000;
    auto r = client.send(req);
    REQUIRE_FALSE(r.isOk());
    CHECK(r.status().message() ==
          "GET " + server.url("/big") + ": response body is larger than 1000 bytes");
    req.url = server.url("/big-chunked");
    req.maxResponseBytes = 20000;
    r = client.send(req);
    REQUIRE_FALSE(r.isOk());
    CHECK_THAT(r.status().message(), Catch::EndsWith("response body is larger than 20000 bytes"));
    req.maxResponseBytes = 100000;
    r = client.send(req);
    REQUIRE(r.isOk());
    CHECK(r->body.size() == 50000);
  }
  SECTION("not an http URL") {
    auto r = client.get("ftp://example.com/x", Millis(1000));
    REQUIRE_FALSE(r.isOk());
    CHECK(r.status().code() == StatusCode::kInvalidArgument);
  }
}

TEST_CASE("http: errors never contain credentials, tokens or query strings") {
  HttpClient client;
  int port = updraft::testing::closedPort();
  Request req;
  req.url = "http://bob:hunter2pass@127.0.0.1:" + std::to_string(port) +
            "/api/v1?api_key=k3y-123456&x=1#frag";
  req.basicAuth = BasicAuth{"bob", "p4ssw0rd-secret"};
  req.headers = {{"X-API-KEY", "header-key-98765"}};
  auto r = client.send(req);
  REQUIRE_FALSE(r.isOk());
  const std::string& m = r.status().message();
  CHECK(m == "GET http://127.0.0.1:" + std::to_string(port) + "/api/v1: connection refused");
  for (const char* secret : {"hunter2pass", "bob:", "k3y-123456", "p4ssw0rd", "header-key"}) {
    CHECK(m.find(secret) == std::string::npos);
  }

  req.basicAuth.reset();
  req.bearerToken = "bearer-tok-555";
  r = client.send(req);
  REQUIRE_FALSE(r.isOk());
  CHECK(r.status().message().find("bearer-tok") == std::string::npos);
}

TEST_CASE("http: URL redaction and deadline arithmetic") {
  CHECK(HttpClient::redactUrl("https://u:p@Example.COM:8443/a/b?token=x#f") ==
        "https://example.com:8443/a/b");
  CHECK(HttpClient::redactUrl("http://host") == "http://host");
  CHECK(HttpClient::redactUrl("http://host?x=1") == "http://host");
  CHECK(HttpClient::redactUrl("user:pw@host/path?q") == "host/path");
  const TimePoint now = TimePoint(std::chrono::seconds(1000));
  CHECK(HttpClient::timeoutUntil(now + Millis(500), now, Millis(3000)) == Millis(500));
  CHECK(HttpClient::timeoutUntil(now + Millis(9000), now, Millis(3000)) == Millis(3000));
  CHECK(HttpClient::timeoutUntil(now - Millis(5), now, Millis(3000)) == Millis(0));
}

TEST_CASE("http: TLS with a private CA and a client certificate from memory") {
  TestServer server(updraft::testing::makeMutualTlsServer());
  server.server().Get("/tls", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("secure", "text/plain");
  });
  server.start();
  const std::string url = server.url("/tls", "https");
  HttpClient client;
  Request req;
  req.url = url;
  req.tls.caPem = updraft::testing::readTestdata("ca.pem");
  req.tls.clientCertPem = updraft::testing::readTestdata("client.pem");
  req.tls.clientKeyPem = updraft::testing::readTestdata("client.key");
  auto r = client.send(req);
  INFO(r.status().message());
  REQUIRE(r.isOk());
  CHECK(r->body == "secure");

  SECTION("the CA can come from a file") {
    Request fromFile = req;
    fromFile.tls.caPem.clear();
    fromFile.tls.caFile = updraft::testing::testdataPath("ca.pem");
    auto f = client.send(fromFile);
    INFO(f.status().message());
    CHECK(f.isOk());
  }
  SECTION("without the CA the server is not trusted") {
    Request untrusted = req;
    untrusted.tls.caPem.clear();
    auto u = client.send(untrusted);
    REQUIRE_FALSE(u.isOk());
    CHECK_THAT(u.status().message(), Catch::StartsWith("GET " + url + ": TLS error"));
    CHECK(u.status().message().find("PRIVATE KEY") == std::string::npos);
  }
  SECTION("unsafeSsl skips verification") {
    Request insecure = req;
    insecure.tls.caPem.clear();
    insecure.tls.insecureSkipVerify = true;
    CHECK(client.send(insecure).isOk());
  }
  SECTION("without a client certificate the server refuses") {
    Request noCert = req;
    noCert.tls.clientCertPem.clear();
    noCert.tls.clientKeyPem.clear();
    HttpClient fresh;  // no cached TLS session
    auto n = fresh.send(noCert);
    CHECK_FALSE(n.isOk());
  }
}
