// The prometheus trigger against a local cpp-httplib server returning canned bodies: the request
// KEDA sends, every response case, auth as KEDA applies it, TLS, oauth2, timeouts, keep-alive.
#include <catch2/catch.hpp>
#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>

#include "prom_test_util.h"

using namespace updraft;
using updraft::testing::closedPort;
using updraft::testing::LiveScaler;
using updraft::testing::liveScaler;
using updraft::testing::makeMutualTlsServer;
using updraft::testing::promConfig;
using updraft::testing::readTestdata;
using updraft::testing::requireLive;
using updraft::testing::testdataPath;
using updraft::testing::TestServer;

namespace {

std::string vectorBody(const std::string& value) {
  return R"({"status":"success","data":{"resultType":"vector","result":[{"metric":{"job":"api"},)"
         R"("value":[1772600767.89,")" +
         value + R"("]}]}})";
}

struct Seen {
  std::string method;
  std::string path;
  std::string target;
  httplib::Headers headers;
  httplib::Params params;
  std::string header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? "<absent>" : it->second;
  }
  std::string param(const std::string& name) const {
    auto it = params.find(name);
    return it == params.end() ? "<absent>" : it->second;
  }
};

// A fake Prometheus: /…/api/v1/query answers what answer() registered for the `query` parameter;
// POST /token is an OAuth2 token endpoint.
class PromStub {
 public:
  explicit PromStub(std::unique_ptr<httplib::Server> server = std::make_unique<httplib::Server>())
      : server_(std::move(server)) {
    auto& s = server_.server();
    s.Get(R"(.*/api/v1/query)", [this](const httplib::Request& req, httplib::Response& res) {
      std::unique_lock lock(mutex_);
      querySeen_.push_back(record(req));
      if (auth_ && !auth_(req)) {
        res.status = 401;
        res.set_content("Unauthorized", "text/plain");
        return;
      }
      const std::string q = req.get_param_value("query");
      if (q == "slow") {
        lock.unlock();
        std::this_thread::sleep_for(std::chrono::milliseconds(1500));
        res.set_content(vectorBody("1"), "application/json");
        return;
      }
      if (q == "redirect") {
        res.set_redirect("/moved/api/v1/query?query=up&time=" + req.get_param_value("time"));
        return;
      }
      auto it = answers_.find(q);
      if (it == answers_.end()) {
        res.status = 404;
        res.set_content("no canned answer for this query", "text/plain");
        return;
      }
      res.status = it->second.status;
      res.set_content(it->second.body, it->second.contentType);
    });
    s.Post("/token", [this](const httplib::Request& req, httplib::Response& res) {
      std::lock_guard lock(mutex_);
      tokenSeen_.push_back(record(req));
      const bool inHeader = req.has_header("Authorization");
      if ((inHeader && !tokenAcceptsHeader_) || (!inHeader && !tokenAcceptsParams_)) {
        res.status = 401;
        res.set_content(R"({"error":"invalid_client","error_description":"bad SECRET"})",
                        "application/json");
        return;
      }
      res.status = tokenStatus_;
      res.set_content(tokenBody_, tokenContentType_);
    });
    server_.start();
  }

  void answer(const std::string& query, int status, std::string body,
              std::string contentType = "application/json") {
    std::lock_guard lock(mutex_);
    answers_[query] = Answer{status, std::move(body), std::move(contentType)};
  }
  void requireAuth(std::function<bool(const httplib::Request&)> check) {
    std::lock_guard lock(mutex_);
    auth_ = std::move(check);
  }
  void tokenEndpoint(bool acceptsHeader, bool acceptsParams, std::string body,
                     std::string contentType = "application/json", int status = 200) {
    std::lock_guard lock(mutex_);
    tokenAcceptsHeader_ = acceptsHeader;
    tokenAcceptsParams_ = acceptsParams;
    tokenBody_ = std::move(body);
    tokenContentType_ = std::move(contentType);
    tokenStatus_ = status;
  }
  Seen lastQuery() {
    std::lock_guard lock(mutex_);
    REQUIRE_FALSE(querySeen_.empty());
    return querySeen_.back();
  }
  std::vector<Seen> tokenRequests() {
    std::lock_guard lock(mutex_);
    return tokenSeen_;
  }
  std::string address(const std::string& scheme = "http") const { return server_.url("", scheme); }
  TestServer& server() { return server_; }

 private:
  struct Answer {
    int status = 200;
    std::string body;
    std::string contentType;
  };
  static Seen record(const httplib::Request& req) {
    return Seen{req.method, req.path, req.target, req.headers, req.params};
  }

  TestServer server_;
  std::mutex mutex_;
  std::map<std::string, Answer> answers_;
  std::function<bool(const httplib::Request&)> auth_;
  std::vector<Seen> querySeen_;
  std::vector<Seen> tokenSeen_;
  bool tokenAcceptsHeader_ = true;
  bool tokenAcceptsParams_ = true;
  std::string tokenBody_;
  std::string tokenContentType_ = "application/json";
  int tokenStatus_ = 200;
};

StringMap trigger(const std::string& address, const std::string& query, StringMap extra = {}) {
  StringMap m = {{"serverAddress", address}, {"query", query}, {"threshold", "10"}};
  for (auto& [k, v] : extra) m[k] = v;
  return m;
}

TimePoint fixedTime() {
  using namespace std::chrono;
  return sys_days{year{2026} / 3 / 4} + hours{5} + minutes{6} + seconds{7} + milliseconds{890};
}

}  // namespace

TEST_CASE("prometheus: the request is KEDA's, over one kept-alive connection") {
  PromStub stub;
  const std::string query = R"(sum(rate(http_requests_total{job="api", code=~"5.."}[5m])) / 2)";
  stub.answer(query, 200, vectorBody("12.5"));
  ManualClock clock(fixedTime());
  auto live = requireLive(
      promConfig(trigger(stub.address() + "/prom", query,
                         {{"namespace", "team-a"},
                          {"queryParameters", "dedup=true, partial_response=false"},
                          {"customHeaders", "X-Scope-OrgID=org-1,X-Extra=a b,Host=evil"}})),
      &clock);

  auto r = live.poll();
  INFO(r.status().message());
  REQUIRE(r.isOk());
  REQUIRE(r->metrics.size() == 1);
  CHECK(r->metrics[0].metricName == "s0-prometheus");
  CHECK(r->metrics[0].value == 12.5);
  CHECK(r->isActive);

  Seen seen = stub.lastQuery();
  CHECK(seen.method == "GET");
  CHECK(seen.path == "/prom/api/v1/query");
  CHECK(seen.target ==
        "/prom/api/v1/query?query=sum%28rate%28http_requests_total%7Bjob%3D%22api%22%2C+code%3D~"
        "%225..%22%7D%5B5m%5D%29%29+%2F+2&time=2026-03-04T05:06:07Z&namespace=team-a&dedup=true&"
        "partial_response=false");
  CHECK(seen.param("query") == query);
  CHECK(seen.header("X-Scope-OrgID") == "org-1");
  CHECK(seen.header("X-Extra") == "a b");
  CHECK(seen.header("Host") == "127.0.0.1:" + std::to_string(stub.server().port()));
  CHECK(seen.header("Authorization") == "<absent>");

  clock.advance(std::chrono::seconds(61));
  for (int i = 0; i < 20; ++i) CHECK(live.value() == 12.5);
  CHECK(stub.lastQuery().param("time") == "2026-03-04T05:07:08Z");
  CHECK(stub.server().requests() == 21);
  CHECK(stub.server().connections() == 1);  // keep-alive through the shared HTTP client

  live.scaler->close();  // drops the idle connection
  CHECK(live.value() == 12.5);
  CHECK(stub.server().connections() == 2);
}

TEST_CASE("prometheus: activation is value > activationThreshold") {
  PromStub stub;
  stub.answer("at", 200, vectorBody("2.5"));
  stub.answer("above", 200, vectorBody("2.501"));
  stub.answer("negative", 200, vectorBody("-4"));
  auto at =
      requireLive(promConfig(trigger(stub.address(), "at", {{"activationThreshold", "2.5"}})));
  auto r = at.poll();
  REQUIRE(r.isOk());
  CHECK_FALSE(r->isActive);
  auto above =
      requireLive(promConfig(trigger(stub.address(), "above", {{"activationThreshold", "2.5"}})));
  r = above.poll();
  REQUIRE(r.isOk());
  CHECK(r->isActive);
  auto negative = requireLive(promConfig(trigger(stub.address(), "negative")));
  r = negative.poll();
  REQUIRE(r.isOk());
  CHECK(r->metrics[0].value == -4);  // raw; clamped only when served to an HPA
  CHECK_FALSE(r->isActive);
}

TEST_CASE("prometheus: response handling over HTTP, as KEDA") {
  PromStub stub;
  struct Row {
    const char* query;
    int status;
    std::string body;
    const char* contentType;
    std::optional<double> withIgnore;  // nullopt: an error containing `error`
    std::optional<double> withoutIgnore;
    const char* error;
  };
  const Row rows[] = {
      {"one", 200, vectorBody("42"), "application/json", 42.0, 42.0, ""},
      {"float", 200, vectorBody("0.25"), "application/json", 0.25, 0.25, ""},
      {"nan", 200, vectorBody("NaN"), "application/json", 0.0, std::nullopt,
       "prometheus query returns NaN"},
      {"inf", 200, vectorBody("+Inf"), "application/json", 0.0, std::nullopt,
       "prometheus query returns +Inf"},
      {"empty", 200, R"({"status":"success","data":{"resultType":"vector","result":[]}})",
       "application/json", 0.0, std::nullopt,
       "prometheus metrics 'prometheus' target may be lost, the result is empty"},
      {"two", 200,
       R"({"data":{"resultType":"vector","result":[{"metric":{"i":"a"},"value":[1,"1"]},)"
       R"({"metric":{"i":"b"},"value":[1,"2"]}]}})",
       "application/json", std::nullopt, std::nullopt, "returned multiple elements (2 series"},
      {"novalue", 200, R"({"data":{"result":[{"metric":{},"value":[]}]}})", "application/json", 0.0,
       std::nullopt, "the value list is empty"},
      {"short", 200, R"({"data":{"result":[{"metric":{},"value":[1]}]}})", "application/json",
       std::nullopt, std::nullopt, "didn't return enough values"},
      {"text", 200, vectorBody("lots"), "application/json", std::nullopt, std::nullopt,
       "strconv.ParseFloat: parsing \"lots\": invalid syntax"},
      {"scalar", 200, R"({"status":"success","data":{"resultType":"scalar","result":[1,"5"]}})",
       "application/json", std::nullopt, std::nullopt, "resultType \"scalar\""},
      {"html", 200, "<html>login</html>", "text/html", std::nullopt, std::nullopt,
       "the response is not valid JSON"},
      {"nocontent", 204, "", "application/json", std::nullopt, std::nullopt,
       "the response body is empty"},
      {"created", 201, vectorBody("3"), "application/json", 3.0, 3.0, ""},  // any 2xx
      {"bad", 400,
       R"({"status":"error","errorType":"bad_data","error":"invalid parameter \"query\": 1:5: parse error"})",
       "application/json", std::nullopt, std::nullopt,
       "prometheus query api returned error. status: 400 (bad_data: invalid parameter "
       "\"query\": 1:5: parse error)"},
      {"down", 503, "upstream unavailable", "text/plain", std::nullopt, std::nullopt,
       "prometheus query api returned error. status: 503"},
      {"missing", 404, "not found", "text/plain", std::nullopt, std::nullopt,
       "prometheus query api returned error. status: 404"},
  };
  for (const Row& row : rows) stub.answer(row.query, row.status, row.body, row.contentType);
  for (const Row& row : rows) {
    for (bool ignore : {true, false}) {
      INFO(row.query << " ignoreNullValues=" << ignore);
      auto live = requireLive(promConfig(
          trigger(stub.address(), row.query, {{"ignoreNullValues", ignore ? "true" : "false"}})));
      auto r = live.poll();
      const auto want = ignore ? row.withIgnore : row.withoutIgnore;
      if (want) {
        INFO(r.status().message());
        REQUIRE(r.isOk());
        CHECK(r->metrics.at(0).value == *want);
        CHECK(r->isActive == (*want > 0));
      } else {
        REQUIRE_FALSE(r.isOk());
        INFO(r.status().message());
        CHECK(r.status().code() == StatusCode::kUnavailable);
        CHECK_THAT(r.status().message(), Catch::Contains(row.error));
        // Every message names the server and the query.
        CHECK_THAT(r.status().message(), Catch::StartsWith("prometheus " + stub.address() +
                                                           " query \"" + row.query + "\": "));
      }
    }
  }
  SECTION("ignoreNullValues defaults to true") {
    auto live = requireLive(promConfig(trigger(stub.address(), "empty")));
    CHECK(live.value() == 0);
  }
  SECTION("redirects are followed, as Go's client does") {
    stub.answer("up", 200, vectorBody("9"));
    auto live = requireLive(promConfig(trigger(stub.address(), "redirect")));
    CHECK(live.value() == 9);
    CHECK(stub.lastQuery().path == "/moved/api/v1/query");
  }
}

TEST_CASE("prometheus: auth headers as KEDA applies them") {
  PromStub stub;
  stub.answer("up", 200, vectorBody("1"));
  const std::string address = stub.address();
  auto pollSeen = [&](StringMap metadata, StringMap auth, std::string server = "") {
    auto live = requireLive(
        promConfig(trigger(server.empty() ? address : server, "up", std::move(metadata)), auth));
    CHECK(live.value() == 1);
    return stub.lastQuery();
  };

  // bearer replaces a custom Authorization header; the token is trimmed.
  Seen seen = pollSeen({{"authModes", "bearer"}, {"customHeaders", "Authorization=Bearer x"}},
                       {{"bearerToken", " tok-SECRET-1\n"}});
  CHECK(seen.header("Authorization") == "Bearer tok-SECRET-1");
  CHECK(seen.headers.count("Authorization") == 1);

  seen = pollSeen({{"authMode", "basic"}}, {{"username", "u"}, {"password", "pw-SECRET-2"}});
  CHECK(seen.header("Authorization") == "Basic dTpwdy1TRUNSRVQtMg==");
  seen =
      pollSeen({{"authModes", "basic"}, {"customHeaders", "Authorization=x"}}, {{"username", "u"}});
  CHECK(seen.header("Authorization") == "Basic dTo=");  // an empty password is allowed
  CHECK(seen.headers.count("Authorization") == 1);

  seen = pollSeen({{"authModes", "custom"}, {"customHeaders", "X-Auth=other,X-Keep=1"}},
                  {{"customAuthHeader", "X-Auth"}, {"customAuthValue", "cv-SECRET-4"}});
  CHECK(seen.header("X-Auth") == "cv-SECRET-4");
  CHECK(seen.headers.count("X-Auth") == 1);
  CHECK(seen.header("X-Keep") == "1");

  // KEDA's switch applies one of bearer/basic/custom: with bearer, the custom header is not sent.
  seen = pollSeen({{"authModes", "custom,bearer"}}, {{"bearerToken", "tok-SECRET-1"},
                                                     {"customAuthHeader", "X-Auth"},
                                                     {"customAuthValue", "cv-SECRET-4"}});
  CHECK(seen.header("Authorization") == "Bearer tok-SECRET-1");
  CHECK(seen.header("X-Auth") == "<absent>");

  // apiKey is validated but not sent by KEDA's prometheus scaler.
  seen = pollSeen({{"authModes", "apiKey"}}, {{"apiKey", "api-SECRET-5"}});
  CHECK(seen.header("X-API-KEY") == "<absent>");
  CHECK(seen.param("api_key") == "<absent>");
  CHECK(seen.target.find("SECRET") == std::string::npos);

  // Credentials in serverAddress are used (Go does the same) and never shown.
  const std::string withUser =
      "http://user:pw-SECRET-9@127.0.0.1:" + std::to_string(stub.server().port());
  seen = pollSeen({}, {}, withUser);
  CHECK(seen.header("Authorization") == "Basic dXNlcjpwdy1TRUNSRVQtOQ==");

  // A rejected credential: the status, the server and the query, never the secret.
  stub.requireAuth([](const httplib::Request& req) {
    return req.get_header_value("Authorization") == "Bearer right";
  });
  for (const auto& [metadata, auth] : std::vector<std::pair<StringMap, StringMap>>{
           {{{"authModes", "bearer"}}, {{"bearerToken", "tok-SECRET-1"}}},
           {{{"authModes", "basic"}}, {{"username", "u"}, {"password", "pw-SECRET-2"}}},
           {{{"authModes", "custom"}},
            {{"customAuthHeader", "X-A"}, {"customAuthValue", "cv-SECRET-4"}}}}) {
    auto live = requireLive(promConfig(trigger(address, "up", metadata), auth));
    auto r = live.poll();
    REQUIRE_FALSE(r.isOk());
    CHECK(r.status().message() == "prometheus " + address +
                                      " query \"up\": prometheus query api returned error. "
                                      "status: 401");
  }
  auto live = requireLive(promConfig(trigger(withUser, "up")));
  CHECK_THAT(live.error(), !Catch::Contains("SECRET"));
}

TEST_CASE("prometheus: TLS, with KEDA's transport rules") {
  const std::string ca = readTestdata("ca.pem");
  const std::string cert = readTestdata("client.pem");
  const std::string key = readTestdata("client.key");

  SECTION("mutual TLS with the tls auth mode") {
    PromStub stub(makeMutualTlsServer());
    stub.answer("up", 200, vectorBody("5"));
    const std::string https = stub.address("https");
    auto live = requireLive(promConfig(trigger(https, "up", {{"authModes", "tls"}}),
                                       {{"cert", cert}, {"key", key}, {"ca", ca}}));
    CHECK(live.value() == 5);
    CHECK(live.value() == 5);
    CHECK(stub.server().connections() == 1);  // the TLS session is kept alive too

    // KEDA quirk: the TLS transport ignores unsafeSsl, so without the CA the server's
    // certificate is still verified and the request fails.
    auto unverified =
        requireLive(promConfig(trigger(https, "up", {{"authModes", "tls"}, {"unsafeSsl", "true"}}),
                               {{"cert", cert}, {"key", key}}));
    std::string error = unverified.error();
    CHECK_THAT(error, Catch::StartsWith("prometheus " + https + " query \"up\": TLS error"));
    CHECK_THAT(error, !Catch::Contains("PRIVATE KEY"));

    // Without a client certificate the server refuses the handshake.
    auto noCert = requireLive(promConfig(trigger(https, "up", {{"authModes", "bearer"}}),
                                         {{"bearerToken", "t-SECRET"}, {"ca", ca}}));
    CHECK_THAT(noCert.error(), !Catch::Contains("SECRET"));
  }
  SECTION("server verification, unsafeSsl, and a CA used only with an auth mode") {
    PromStub stub(std::make_unique<httplib::SSLServer>(testdataPath("server.pem").c_str(),
                                                       testdataPath("server.key").c_str()));
    stub.answer("up", 200, vectorBody("6"));
    const std::string https = stub.address("https");
    auto verifyFails = requireLive(promConfig(trigger(https, "up")));
    CHECK_THAT(verifyFails.error(), Catch::Contains("TLS error"));
    auto unsafe = requireLive(promConfig(trigger(https, "up", {{"unsafeSsl", "true"}})));
    CHECK(unsafe.value() == 6);
    // A CA with an auth mode replaces the transport: verified with the CA.
    auto withCa = requireLive(promConfig(trigger(https, "up", {{"authModes", "bearer"}}),
                                         {{"bearerToken", "t"}, {"ca", ca}}));
    CHECK(withCa.value() == 6);
    // A CA without an auth mode is not used (KEDA takes the no-auth path).
    auto caIgnored = requireLive(promConfig(trigger(https, "up"), {{"ca", ca}}));
    CHECK_THAT(caIgnored.error(), Catch::Contains("TLS error"));
    // A "CA" with no PEM certificate is ignored, as Go ignores AppendCertsFromPEM's result.
    auto badCa = requireLive(
        promConfig(trigger(https, "up", {{"authModes", "bearer"}, {"unsafeSsl", "true"}}),
                   {{"bearerToken", "t"}, {"ca", "not a certificate"}}));
    CHECK_THAT(badCa.error(), Catch::Contains("TLS error"));  // and unsafeSsl still ignored
  }
}

TEST_CASE("prometheus: oauth2 client credentials") {
  PromStub stub;
  stub.answer("up", 200, vectorBody("4"));
  stub.requireAuth([](const httplib::Request& req) {
    return req.get_header_value("Authorization") == "Bearer at-1";
  });
  const StringMap auth = {{"oauthTokenURI", stub.address() + "/token"},
                          {"clientID", "my id"},
                          {"clientSecret", "s&cret-SECRET"},
                          {"scopes", "read, write"},
                          {"endpointParams", "audience=prom&resource=https%3A%2F%2Fapi"}};
  ManualClock clock(fixedTime());

  SECTION("credentials in the Authorization header, token cached until 10 s before expiry") {
    stub.tokenEndpoint(true, false,
                       R"({"access_token":"at-1","token_type":"bearer","expires_in":60})");
    auto live = requireLive(
        promConfig(trigger(stub.address(), "up", {{"authModes", "oauth"}}), auth), &clock);
    CHECK(live.value() == 4);
    CHECK(live.value() == 4);
    auto tokens = stub.tokenRequests();
    REQUIRE(tokens.size() == 1);
    CHECK(tokens[0].header("Authorization") == "Basic bXkraWQ6cyUyNmNyZXQtU0VDUkVU");
    CHECK(tokens[0].header("Content-Type") == "application/x-www-form-urlencoded");
    CHECK(tokens[0].param("grant_type") == "client_credentials");
    CHECK(tokens[0].param("scope") == "read write");
    CHECK(tokens[0].param("audience") == "prom");
    CHECK(tokens[0].param("resource") == "https://api");
    CHECK(tokens[0].param("client_secret") == "<absent>");
    clock.advance(std::chrono::seconds(49));
    CHECK(live.value() == 4);
    CHECK(stub.tokenRequests().size() == 1);
    clock.advance(std::chrono::seconds(2));  // within 10 s of expiry
    CHECK(live.value() == 4);
    CHECK(stub.tokenRequests().size() == 2);
  }
  SECTION("credentials in the body when the header is refused; form-encoded answers") {
    stub.tokenEndpoint(false, true, "access_token=at-1&token_type=bearer",
                       "application/x-www-form-urlencoded");
    auto live = requireLive(
        promConfig(trigger(stub.address(), "up", {{"authModes", "oauth"}}), auth), &clock);
    CHECK(live.value() == 4);
    auto tokens = stub.tokenRequests();
    REQUIRE(tokens.size() == 2);  // header first, then params
    CHECK(tokens[1].header("Authorization") == "<absent>");
    CHECK(tokens[1].param("client_id") == "my id");
    CHECK(tokens[1].param("client_secret") == "s&cret-SECRET");
    // A 401 from Prometheus drops the token; the next poll gets a new one, in the body at once.
    stub.requireAuth([](const httplib::Request&) { return false; });
    CHECK_THAT(live.error(), Catch::Contains("status: 401"));
    stub.requireAuth([](const httplib::Request& req) {
      return req.get_header_value("Authorization") == "Bearer at-1";
    });
    CHECK(live.value() == 4);
    CHECK(stub.tokenRequests().size() == 3);
  }
  SECTION("a refused client: a clear error without secrets") {
    stub.tokenEndpoint(false, false, "");
    auto live = requireLive(
        promConfig(trigger(stub.address(), "up", {{"authModes", "oauth"}}), auth), &clock);
    std::string error = live.error();
    CHECK(error == "prometheus " + stub.address() + " query \"up\": oauth2 token endpoint " +
                       stub.address() + "/token: cannot fetch token: status 401 (invalid_client)");
    stub.tokenEndpoint(true, true, R"({"token_type":"bearer"})");
    CHECK_THAT(live.error(), Catch::EndsWith("server response missing access_token"));
    CHECK_THAT(live.error(), !Catch::Contains("SECRET"));
  }
  SECTION("an unreachable token endpoint") {
    StringMap closed = auth;
    closed["oauthTokenURI"] = "http://127.0.0.1:" + std::to_string(closedPort()) + "/token";
    auto live = requireLive(
        promConfig(trigger(stub.address(), "up", {{"authModes", "oauth"}}), closed), &clock);
    std::string error = live.error();
    CHECK_THAT(error, Catch::Contains("oauth2: cannot fetch token: POST " +
                                      closed["oauthTokenURI"] + ": connection refused"));
    CHECK_THAT(error, !Catch::Contains("SECRET"));
  }
}

TEST_CASE("prometheus: timeouts and deadlines") {
  PromStub stub;
  auto timed = [](LiveScaler& live, Millis budget) {
    auto start = std::chrono::steady_clock::now();
    auto r = live.poll(budget);
    auto elapsed = std::chrono::steady_clock::now() - start;
    REQUIRE_FALSE(r.isOk());
    CHECK(r.status().code() == StatusCode::kTimeout);
    CHECK(elapsed < std::chrono::milliseconds(1200));
    return r.status().message();
  };
  // The trigger's timeout, in milliseconds or as a Go duration.
  auto live = requireLive(promConfig(trigger(stub.address(), "slow", {{"timeout", "200"}})));
  CHECK(timed(live, Millis(5000)) ==
        "prometheus " + stub.address() + " query \"slow\": timed out after 200 ms");
  live = requireLive(promConfig(trigger(stub.address(), "slow", {{"timeout", "0.25s"}})));
  CHECK_THAT(timed(live, Millis(5000)), Catch::EndsWith("timed out after 250 ms"));
  // Without one, the global HTTP timeout (KEDA_HTTP_DEFAULT_TIMEOUT).
  auto config = promConfig(trigger(stub.address(), "slow"));
  config.globalHttpTimeout = Millis(300);
  live = requireLive(config);
  CHECK_THAT(timed(live, Millis(5000)), Catch::EndsWith("timed out after 300 ms"));
  // The poll deadline when it is sooner.
  live = requireLive(promConfig(trigger(stub.address(), "slow", {{"timeout", "3s"}})));
  CHECK_THAT(timed(live, Millis(250)), Catch::Contains("timed out after"));
  CHECK_THAT(timed(live, Millis(-1)), Catch::EndsWith("no time left before the deadline"));
}

TEST_CASE("prometheus: an unreachable server") {
  const std::string address = "http://127.0.0.1:" + std::to_string(closedPort());
  auto live = requireLive(promConfig(trigger(address, "up", {{"authModes", "bearer"}}),
                                     {{"bearerToken", "tok-SECRET-1"}}));
  auto r = live.poll();
  REQUIRE_FALSE(r.isOk());
  CHECK(r.status().code() == StatusCode::kUnavailable);
  CHECK(r.status().message() == "prometheus " + address + " query \"up\": connection refused");

  live = requireLive(promConfig(trigger("not-a-url", "up")));
  r = live.poll();
  REQUIRE_FALSE(r.isOk());
  CHECK(r.status().code() == StatusCode::kInvalidArgument);
  CHECK(r.status().message() ==
        "prometheus not-a-url query \"up\": not an http:// or https:// URL with a host");
}
