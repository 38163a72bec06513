#include <catch2/catch.hpp>
#include <chrono>
#include <thread>

#include "metrics_api/value_extractors.h"
#include "test_server.h"
#include "updraft/scaler.h"

using namespace updraft;
using updraft::testing::scalerConfig;
using updraft::testing::TestServer;

namespace {

const char* kJson = R"({
  "components": {"worker": {"tasks": 12, "load": "250m"}},
  "queues": [{"name": "a", "depth": 3}, {"name": "b", "depth": 4}],
  "a.b": 7,
  "flag": true,
  "nothing": null,
  "text": "lots"
})";

const char* kProm = R"(# HELP queue_depth Messages waiting.
# TYPE queue_depth gauge
queue_depth{queue="a",env="prod"} 5
queue_depth{queue="b",env="prod"} 9
queue_depth{queue="c"} 1.5e3
# TYPE jobs_total counter
jobs_total 42
up 1 1700000000000
)";

const char* kXml = R"(<?xml version="1.0" encoding="UTF-8"?>
<!-- status document -->
<status xmlns:x="urn:x">
  <tasks kind="queue"><pending>7</pending><x:running>2</x:running></tasks>
  <load><![CDATA[250m]]></load>
  <empty/>
  <escaped>&#49;&#x30;</escaped>
</status>)";

const char* kYaml = R"(tasks:
  pending: 8
  load: 250m
  list:
    - 1
    - 2
enabled: true
)";

double extract(metrics_api::Format format, const char* location, std::string_view body) {
  auto loc = metrics_api::ValueLocation::parse(format, location);
  INFO(location << ": " << loc.status().message());
  REQUIRE(loc.isOk());
  auto v = loc->extract(body);
  INFO(v.status().message());
  REQUIRE(v.isOk());
  return *v;
}

std::string extractError(metrics_api::Format format, const char* location, std::string_view body) {
  auto loc = metrics_api::ValueLocation::parse(format, location);
  if (!loc.isOk()) return "parse: " + loc.status().message();
  auto v = loc->extract(body);
  REQUIRE_FALSE(v.isOk());
  return v.status().message();
}

// A server with one route per format and per auth mode.
void routes(httplib::Server& s) {
  auto serve = [&s](const char* path, const char* body, const char* type) {
    s.Get(path, [body, type](const httplib::Request&, httplib::Response& res) {
      res.set_content(body, type);
    });
  };
  serve("/json", kJson, "application/json");
  serve("/prom", kProm, "text/plain");
  serve("/xml", kXml, "application/xml");
  serve("/yaml", kYaml, "application/yaml");
  serve("/badjson", "{\"components\": ", "application/json");
  s.Get("/fail", [](const httplib::Request&, httplib::Response& res) {
    res.status = 503;
    res.set_content("down", "text/plain");
  });
  s.Get("/slow", [](const httplib::Request&, httplib::Response& res) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    res.set_content(kJson, "application/json");
  });
  // Auth checks: 200 with the JSON document only when the expected credential is present.
  auto guarded = [&s](const char* path, std::function<bool(const httplib::Request&)> check) {
    s.Get(path, [check](const httplib::Request& req, httplib::Response& res) {
      if (!check(req)) {
        res.status = 401;
        res.set_content("unauthorized", "text/plain");
        return;
      }
      res.set_content(kJson, "application/json");
    });
  };
  guarded("/apikey-header",
          [](const httplib::Request& r) { return r.get_header_value("X-API-KEY") == "key-123"; });
  guarded("/apikey-custom-header",
          [](const httplib::Request& r) { return r.get_header_value("X-Token") == "key-123"; });
  guarded("/apikey-query", [](const httplib::Request& r) {
    return r.get_param_value("api_key") == "key 123&=" && r.get_param_value("keep") == "1";
  });
  guarded("/apikey-custom-query",
          [](const httplib::Request& r) { return r.get_param_value("token") == "key-123"; });
  guarded("/basic", [](const httplib::Request& r) {
    return r.get_header_value("Authorization") == "Basic dXNlcjpwYXNzLXdvcmQ=";  // user:pass-word
  });
  guarded("/bearer", [](const httplib::Request& r) {
    return r.get_header_value("Authorization") == "Bearer tok-abc-123";
  });
  guarded("/custom",
          [](const httplib::Request& r) { return r.get_header_value("X-Custom") == "cv-1"; });
}

struct Live {
  std::unique_ptr<ScalerDefinition> definition;
  std::unique_ptr<Scaler> scaler;
  Result<MetricsAndActivity> poll(Millis budget = Millis(5000)) {
    return scaler->getMetricsAndActivity(definition->metricSpecs()[0].metricName,
                                         SystemClock::instance().now() + budget);
  }
};

Result<Live> live(StringMap metadata, StringMap auth = {}, Millis globalTimeout = Millis(3000)) {
  auto config = scalerConfig("metrics-api", std::move(metadata), std::move(auth));
  config.globalHttpTimeout = globalTimeout;
  auto def = ScalerRegistry::global().find("metrics-api")->parse(config);
  if (!def.isOk()) return def.status();
  auto scaler = def.value()->createScaler(ScalerContext{});
  if (!scaler.isOk()) return scaler.status();
  return Live{std::move(def.value()), std::move(scaler.value())};
}

double pollValue(Live& l) {
  auto r = l.poll();
  INFO(r.status().message());
  REQUIRE(r.isOk());
  REQUIRE(r->metrics.size() == 1);
  return r->metrics[0].value;
}

}  // namespace

TEST_CASE("metrics-api: JSON paths (GJSON subset)") {
  using metrics_api::Format;
  CHECK(extract(Format::kJson, "components.worker.tasks", kJson) == 12);
  CHECK(extract(Format::kJson, "components.worker.load", kJson) == Approx(0.25));
  CHECK(extract(Format::kJson, "queues.1.depth", kJson) == 4);
  CHECK(extract(Format::kJson, "queues.#", kJson) == 2);
  CHECK(extract(Format::kJson, "a\\.b", kJson) == 7);
  CHECK(extract(Format::kJson, "comp*.work?r.tasks", kJson) == 12);
  CHECK(extract(Format::kJson, "0", "[5, 6]") == 5);
  CHECK(extract(Format::kJson, "n", R"({"n": 1e3})") == 1000);
  CHECK(extractError(Format::kJson, "flag", kJson) ==
        "valueLocation must point to value of type number or a string representing a Quantity "
        "got: 'True'");
  CHECK(extractError(Format::kJson, "text", kJson) ==
        "valueLocation must point to value of type number or a string representing a Quantity "
        "got: 'lots'");
  CHECK(extractError(Format::kJson, "components", kJson) ==
        "valueLocation must point to value of type number or a string representing a Quantity "
        "got: 'JSON'");
  CHECK(extractError(Format::kJson, "components.manager.tasks", kJson) ==
        "valueLocation \"components.manager.tasks\" was not found in the JSON response");
  CHECK(extractError(Format::kJson, "queues.5.depth", kJson) ==
        "valueLocation \"queues.5.depth\" was not found in the JSON response");
  CHECK(extractError(Format::kJson, "a", "{\"a\": ") == "the response is not valid JSON");
  for (const char* unsupported : {"queues.#.depth", "queues.#(name==\"a\").depth", "@reverse",
                                  "a|b", "[a,b]", "..a", "a..b", "a\\"}) {
    INFO(unsupported);
    CHECK_THAT(extractError(Format::kJson, unsupported, kJson), Catch::StartsWith("parse: "));
  }
}

TEST_CASE("metrics-api: Prometheus, XML and YAML extraction") {
  using metrics_api::Format;
  CHECK(extract(Format::kPrometheus, "queue_depth{queue=\"b\"}", kProm) == 9);
  CHECK(extract(Format::kPrometheus, "queue_depth{queue=\"a\", env=\"prod\"}", kProm) == 5);
  CHECK(extract(Format::kPrometheus, "queue_depth{queue=~\"c|d\"}", kProm) == 1500);
  CHECK(extract(Format::kPrometheus, "queue_depth{env!=\"prod\"}", kProm) == 1500);
  CHECK(extract(Format::kPrometheus, "queue_depth", kProm) == 5);
  CHECK(extract(Format::kPrometheus, "{__name__=\"jobs_total\"}", kProm) == 42);
  CHECK(extract(Format::kPrometheus, " up ", kProm) == 1);
  CHECK(extract(Format::kPrometheus, "up", "up 3\r\n") == 3);
  CHECK(extractError(Format::kPrometheus, "missing_metric", kProm) ==
        "metric \"missing_metric\" not found");
  CHECK(extractError(Format::kPrometheus, "queue_depth{queue=\"z\"}", kProm) ==
        "value queue_depth{queue=\"z\"} not found (no sample matches the labels)");
  CHECK_THAT(extractError(Format::kPrometheus, "up", "up{ 1\n"),
             Catch::StartsWith("prometheus format parsing error: line 1"));
  for (const char* bad :
       {"queue_depth{queue=\"a\"", "{queue=\"a\"}", "q{a~\"x\"}", "q{a=~\"(\"}", "q x"}) {
    INFO(bad);
    CHECK_THAT(extractError(Format::kPrometheus, bad, kProm),
               Catch::Contains("is not a valid Prometheus selector"));
  }

  CHECK(extract(Format::kXml, "tasks.pending", kXml) == 7);
  CHECK(extract(Format::kXml, "status.tasks.pending", kXml) == 7);
  CHECK(extract(Format::kXml, "tasks.running", kXml) == 2);
  CHECK(extract(Format::kXml, "load", kXml) == Approx(0.25));
  CHECK(extract(Format::kXml, "escaped", kXml) == 10);
  CHECK(extractError(Format::kXml, "tasks.done", kXml) ==
        "valueLocation \"tasks.done\" was not found in the XML response");
  CHECK_THAT(extractError(Format::kXml, "tasks", kXml),
             Catch::StartsWith("valueLocation must point to value of type number"));
  CHECK_THAT(extractError(Format::kXml, "a", "<a><b>1</a>"),
             Catch::StartsWith("the response is not valid XML"));

  CHECK(extract(Format::kYaml, "tasks.pending", kYaml) == 8);
  CHECK(extract(Format::kYaml, "tasks.load", kYaml) == Approx(0.25));
  CHECK(extract(Format::kYaml, "tasks.list.1", kYaml) == 2);
  CHECK(extractError(Format::kYaml, "tasks.missing", kYaml) ==
        "valueLocation \"tasks.missing\": key \"missing\" was not found in the YAML response");
  CHECK(extractError(Format::kYaml, "enabled", kYaml) ==
        "valueLocation must point to value of type number or a string representing a Quantity "
        "got: 'true'");
  CHECK(extractError(Format::kYaml, "a", "a: [1, 2") == "the response is not valid YAML");
}

TEST_CASE("metrics-api: metadata rules") {
  auto factory = ScalerRegistry::global().find("metrics-api");
  REQUIRE(factory);
  const StringMap base = {{"url", "http://127.0.0.1:8080/api"},
                          {"valueLocation", "components.worker.tasks"},
                          {"targetValue", "5"}};
  auto with = [&](StringMap extra) {
    StringMap m = base;
    for (auto& [k, v] : extra) m[k] = v;
    return m;
  };
  SECTION("a valid trigger: metric name, target and activation") {
    auto config = scalerConfig("metrics-api", with({{"activationTargetValue", "2.5"}}));
    config.triggerIndex = 3;
    auto def = factory->parse(config);
    REQUIRE(def.isOk());
    auto spec = def.value()->metricSpecs().at(0);
    CHECK(spec.metricName == "s3-metric-api-components-worker-tasks");
    CHECK(spec.target == 5);
    CHECK(spec.targetType == MetricTargetType::kAverageValue);
    CHECK(def.value()->activationThreshold() == 2.5);
  }
  SECTION("missing parameters are all reported") {
    auto def = factory->parse(scalerConfig("metrics-api", {}));
    REQUIRE_FALSE(def.isOk());
    CHECK(def.status().message() ==
          "missing required parameter \"url\" in [triggerMetadata]; "
          "missing required parameter \"valueLocation\" in [triggerMetadata]; "
          "no targetValue given in metadata (parameter \"targetValue\" must be non-zero)");
  }
  SECTION("targetValue may be absent when the trigger is only a metric source") {
    auto config = scalerConfig("metrics-api", {{"url", "http://h/x"}, {"valueLocation", "v"}});
    config.asMetricSource = true;
    CHECK(factory->parse(config).isOk());
  }
  SECTION("bad values") {
    struct Row {
      StringMap extra;
      const char* error;
    };
    const Row rows[] = {
        {{{"format", "csv"}},
         "parameter \"format\": \"csv\" must be one of prometheus, json, xml, yaml"},
        {{{"targetValue", "0"}}, "no targetValue given in metadata"},
        {{{"unsafeSsl", "yes"}}, "parameter \"unsafeSsl\": \"yes\" is not a valid boolean"},
        {{{"timeout", "-1s"}}, "parameter \"timeout\": \"-1s\" must not be negative"},
        {{{"authMode", "oauth"}}, "parameter \"authModes\": element \"oauth\" must be one of"},
        {{{"authModes", "basic,bearer"}}, "may contain only one of bearer, basic"},
        {{{"method", "body"}}, "parameter \"method\": \"body\" must be one of header, query"},
        {{{"url", "ftp://u:pw@host/x?k=v"}},
         "parameter \"url\": \"ftp://host/x\" is not an http:// or https:// URL with a host"},
        {{{"url", "http://"}}, "is not an http:// or https:// URL with a host"},
        {{{"valueLocation", "a|b"}},
         "parameter \"valueLocation\": valueLocation \"a|b\" uses a pipe"},
        {{{"format", "prometheus"}, {"valueLocation", "q{a=}"}},
         "is not a valid Prometheus selector"},
        {{{"authModes", "basic"}}, "missing required parameter \"username\" in [authParams]"},
        {{{"authModes", "bearer"}}, "missing required parameter \"token\" in [authParams]"},
        {{{"authModes", "tls"}},
         "missing required parameter \"cert\" in [authParams]; missing required parameter \"key\""},
        {{{"authModes", "apiKey"}}, "missing required parameter \"apiKey\" in [authParams]"},
        {{{"authModes", "custom"}}, "missing required parameter \"customAuthHeader\""},
    };
    for (const auto& row : rows) {
      INFO(row.error);
      auto def = factory->parse(scalerConfig("metrics-api", with(row.extra)));
      REQUIRE_FALSE(def.isOk());
      CHECK_THAT(def.status().message(), Catch::Contains(row.error));
      CHECK(def.status().message().find("pw") == std::string::npos);
    }
  }
  SECTION("an invalid targetValue is reported once") {
    auto def = factory->parse(scalerConfig("metrics-api", with({{"targetValue", "abc"}})));
    REQUIRE_FALSE(def.isOk());
    CHECK(def.status().message() == "parameter \"targetValue\": \"abc\" is not a valid number");
  }
  SECTION("metricType") {
    auto config = scalerConfig("metrics-api", base);
    config.metricType = MetricTargetType::kValue;
    auto def = factory->parse(config);
    REQUIRE(def.isOk());
    CHECK(def.value()->metricSpecs()[0].targetType == MetricTargetType::kValue);
    config.metricType = MetricTargetType::kUtilization;
    CHECK_FALSE(factory->parse(config).isOk());
  }
  SECTION("offline validation accepts auth modes whose secrets are not resolved") {
    auto config = scalerConfig("metrics-api", with({{"authModes", "basic,tls"}}));
    config.secretsUnresolved = true;
    CHECK(factory->parse(config).isOk());
  }
  SECTION("aggregateFromKubeServiceEndpoints parses but cannot run outside Kubernetes") {
    auto def = factory->parse(scalerConfig(
        "metrics-api",
        with({{"aggregateFromKubeServiceEndpoints", "true"}, {"aggregationType", "max"}})));
    REQUIRE(def.isOk());
    auto scaler = def.value()->createScaler(ScalerContext{});
    REQUIRE_FALSE(scaler.isOk());
    CHECK(scaler.status().code() == StatusCode::kFailedPrecondition);
    CHECK_THAT(scaler.status().message(), Catch::Contains("not available outside Kubernetes"));
  }
}

TEST_CASE("metrics-api: each format against a live server") {
  TestServer server;
  routes(server.server());
  server.start();
  struct Row {
    const char* path;
    const char* format;
    const char* location;
    double want;
  };
  const Row rows[] = {
      {"/json", "json", "components.worker.tasks", 12},
      {"/json", "json", "queues.#", 2},
      {"/prom", "prometheus", "queue_depth{queue=\"b\"}", 9},
      {"/xml", "xml", "tasks.pending", 7},
      {"/yaml", "yaml", "tasks.load", 0.25},
  };
  for (const auto& row : rows) {
    INFO(row.format);
    auto l = live({{"url", server.url(row.path)},
                   {"format", row.format},
                   {"valueLocation", row.location},
                   {"targetValue", "5"}});
    REQUIRE(l.isOk());
    CHECK(pollValue(*l) == Approx(row.want));
  }
}

TEST_CASE("metrics-api: activity compares the value with activationTargetValue") {
  TestServer server;
  routes(server.server());
  server.start();
  for (auto [activation, active] : {std::pair{"11.9", true}, std::pair{"12", false}}) {
    auto l = live({{"url", server.url("/json")},
                   {"valueLocation", "components.worker.tasks"},
                   {"targetValue", "5"},
                   {"activationTargetValue", activation}});
    REQUIRE(l.isOk());
    auto r = l->poll();
    REQUIRE(r.isOk());
    CHECK(r->isActive == active);
    CHECK(r->metrics[0].value == 12);
  }
}

TEST_CASE("metrics-api: every auth mode sends what the server checks") {
  TestServer server;
  routes(server.server());
  server.start();
  struct Row {
    const char* name;
    StringMap metadata;
    StringMap auth;
  };
  const Row rows[] = {
      {"apiKey header",
       {{"url", server.url("/apikey-header")}, {"authModes", "apiKey"}},
       {{"apiKey", "key-123"}}},
      {"apiKey custom header",
       {{"url", server.url("/apikey-custom-header")},
        {"authMode", "apiKey"},
        {"keyParamName", "X-Token"}},
       {{"apiKey", "key-123"}}},
      {"apiKey query (escaped, other params kept)",
       {{"url", server.url("/apikey-query?keep=1&api_key=old")},
        {"authModes", "apiKey"},
        {"method", "query"}},
       {{"apiKey", "key 123&="}}},
      {"apiKey custom query",
       {{"url", server.url("/apikey-custom-query")},
        {"authModes", "apiKey"},
        {"method", "query"},
        {"keyParamName", "token"}},
       {{"apiKey", "key-123"}}},
      {"basic",
       {{"url", server.url("/basic")}, {"authModes", "basic"}},
       {{"username", "user"}, {"password", "pass-word"}}},
      {"bearer",
       {{"url", server.url("/bearer")}, {"authModes", "bearer"}},
       {{"token", "tok-abc-123"}}},
      {"bearer (bearerToken alias)",
       {{"url", server.url("/bearer")}, {"authModes", "bearer"}},
       {{"bearerToken", "tok-abc-123"}}},
      {"custom",
       {{"url", server.url("/custom")}, {"authModes", "custom"}},
       {{"customAuthHeader", "X-Custom"}, {"customAuthValue", "cv-1"}}},
  };
  for (const auto& row : rows) {
    INFO(row.name);
    StringMap metadata = row.metadata;
    metadata["valueLocation"] = "components.worker.tasks";
    metadata["targetValue"] = "5";
    auto l = live(metadata, row.auth);
    INFO(l.status().message());
    REQUIRE(l.isOk());
    CHECK(pollValue(*l) == 12);
  }
  SECTION("a wrong password is a 401, and the error shows neither password nor user") {
    auto l = live({{"url", server.url("/basic")},
                   {"authModes", "basic"},
                   {"valueLocation", "v"},
                   {"targetValue", "1"}},
                  {{"username", "user"}, {"password", "wrong-secret"}});
    REQUIRE(l.isOk());
    auto r = l->poll();
    REQUIRE_FALSE(r.isOk());
    CHECK(r.status().message() ==
          "metrics-api: GET " + server.url("/basic") + ": api returned 401");
    CHECK(r.status().message().find("wrong-secret") == std::string::npos);
  }
}

TEST_CASE("metrics-api: tls auth mode presents the client certificate") {
  TestServer server(updraft::testing::makeMutualTlsServer());
  routes(server.server());
  server.start();
  StringMap metadata = {{"url", server.url("/json", "https")},
                        {"authModes", "tls"},
                        {"valueLocation", "components.worker.tasks"},
                        {"targetValue", "5"}};
  StringMap auth = {{"ca", updraft::testing::readTestdata("ca.pem")},
                    {"cert", updraft::testing::readTestdata("client.pem")},
                    {"key", updraft::testing::readTestdata("client.key")}};
  auto l = live(metadata, auth);
  REQUIRE(l.isOk());
  CHECK(pollValue(*l) == 12);

  // unsafeSsl without the CA still presents the certificate.
  auth.erase("ca");
  metadata["unsafeSsl"] = "true";
  auto insecure = live(metadata, auth);
  REQUIRE(insecure.isOk());
  CHECK(pollValue(*insecure) == 12);

  // Without unsafeSsl and without the CA the server is not trusted; no key material in the error.
  metadata.erase("unsafeSsl");
  auto untrusted = live(metadata, auth);
  REQUIRE(untrusted.isOk());
  auto r = untrusted->poll();
  REQUIRE_FALSE(r.isOk());
  CHECK_THAT(r.status().message(), Catch::Contains("TLS error"));
  CHECK(r.status().message().find("BEGIN") == std::string::npos);
}

TEST_CASE("metrics-api: failures are clear errors") {
  TestServer server;
  routes(server.server());
  server.start();
  auto meta = [&](const std::string& path, StringMap extra = {}) {
    StringMap m = {{"url", server.url(path)},
                   {"valueLocation", "components.worker.tasks"},
                   {"targetValue", "5"}};
    for (auto& [k, v] : extra) m[k] = v;
    return m;
  };
  SECTION("non-200") {
    auto l = live(meta("/fail"));
    auto r = l->poll();
    REQUIRE_FALSE(r.isOk());
    CHECK(r.status().code() == StatusCode::kUnavailable);
    CHECK(r.status().message() == "metrics-api: GET " + server.url("/fail") + ": api returned 503");
    CHECK_THAT(r.status().message(), Catch::EndsWith("/fail: api returned 503"));
  }
  SECTION("timeout from metadata") {
    auto l = live(meta("/slow", {{"timeout", "200"}}));
    auto begin = std::chrono::steady_clock::now();
    auto r = l->poll();
    REQUIRE_FALSE(r.isOk());
    CHECK(r.status().code() == StatusCode::kTimeout);
    CHECK(r.status().message() ==
          "metrics-api: GET " + server.url("/slow") + ": timed out after 200 ms");
    CHECK(std::chrono::steady_clock::now() - begin < std::chrono::milliseconds(1200));
  }
  SECTION("timeout from globalHttpTimeout") {
    auto l = live(meta("/slow"), {}, Millis(250));
    auto r = l->poll();
    REQUIRE_FALSE(r.isOk());
    CHECK_THAT(r.status().message(), Catch::EndsWith("timed out after 250 ms"));
  }
  SECTION("the poll deadline caps the timeout") {
    auto l = live(meta("/slow", {{"timeout", "10s"}}));
    auto r = l->poll(Millis(300));
    REQUIRE_FALSE(r.isOk());
    CHECK(r.status().code() == StatusCode::kTimeout);
    CHECK_THAT(r.status().message(), Catch::Contains("timed out after"));
  }
  SECTION("connection refused, without the query string's API key") {
    int port = updraft::testing::closedPort();
    std::string url = "http://127.0.0.1:" + std::to_string(port) + "/m";
    auto l = live({{"url", url},
                   {"authModes", "apiKey"},
                   {"method", "query"},
                   {"valueLocation", "v"},
                   {"targetValue", "1"}},
                  {{"apiKey", "qk-secret-777"}});
    auto r = l->poll();
    REQUIRE_FALSE(r.isOk());
    CHECK(r.status().message() == "metrics-api: GET " + url + ": connection refused");
    CHECK(r.status().message().find("qk-secret") == std::string::npos);
  }
  SECTION("bad JSON") {
    auto r = live(meta("/badjson"))->poll();
    REQUIRE_FALSE(r.isOk());
    CHECK(r.status().message() ==
          "metrics-api: GET " + server.url("/badjson") + ": the response is not valid JSON");
  }
  SECTION("missing path") {
    auto r = live(meta("/json", {{"valueLocation", "components.manager.tasks"}}))->poll();
    REQUIRE_FALSE(r.isOk());
    CHECK(r.status().message() ==
          "metrics-api: GET " + server.url("/json") +
              ": valueLocation \"components.manager.tasks\" was not found in the JSON response");
  }
  SECTION("connections are reused across polls") {
    auto l = live(meta("/json"));
    for (int i = 0; i < 4; ++i) CHECK(pollValue(*l) == 12);
    CHECK(server.connections() == 1);
    l->scaler->close();
  }
}
