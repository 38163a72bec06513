// The external metrics API server over real HTTPS (libcurl through the project's HttpClient, or a
// raw easy handle where the test needs to see connections and certificates), queried the way the
// kube-aggregator forwards the HPA controller's requests.
#include "updraft/operator/metrics_api.h"

#include <atomic>
#include <catch2/catch.hpp>
#include <cmath>
#include <future>
#include <limits>
#include <nlohmann/json.hpp>
#include <thread>

#include "common/http_client.h"
#include "metrics_api/support.h"

using namespace updraft;
using namespace updraft::kube;
using namespace updraft::testing;
using nlohmann::json;

namespace {

// What client-go sends (the aggregator passes these through).
const std::vector<std::pair<std::string, std::string>> kHpaHeaders = {
    {"Accept", "application/json, */*"},
    {"User-Agent",
     "kube-controller-manager/v1.31.0 (linux/amd64) kubernetes/9e1a3b2/"
     "system:serviceaccount:kube-system:horizontal-pod-autoscaler"},
    {"X-Remote-User", "system:serviceaccount:kube-system:horizontal-pod-autoscaler"},
    {"X-Remote-Group", "system:serviceaccounts"},
};

const std::string kMetricPath = "/apis/external.metrics.k8s.io/v1beta1/namespaces/";

TimePoint at(int64_t epochSeconds) { return TimePoint(std::chrono::seconds(epochSeconds)); }

class ServerFixture {
 public:
  explicit ServerFixture(MetricsApiServerOptions options = {}) : certs_(localCertificates()) {
    auto bundle = certs_->current();
    options.port = 0;
    options.bindAddress = "127.0.0.1";
    options.certPem = bundle.certPem;
    options.keyPem = bundle.keyPem;
    auto server = MetricsApiServer::start(options, provider);
    INFO(server.status().toString());
    REQUIRE(server.isOk());
    server_ = std::move(server).value();
    certs_->onRotated([this](const std::string&, const std::string& cert, const std::string& key) {
      REQUIRE(server_->setCertificate(cert, key).isOk());
    });
  }

  std::string url(const std::string& path) const {
    return "https://127.0.0.1:" + std::to_string(server_->port()) + path;
  }
  std::string caPem() const { return certs_->current().caPem; }

  Result<http::Response> get(const std::string& path, std::string method = "GET",
                             std::vector<std::pair<std::string, std::string>> extra = {}) {
    http::Request req;
    req.method = std::move(method);
    req.url = url(path);
    req.headers = kHpaHeaders;
    for (auto& h : extra) req.headers.push_back(std::move(h));
    req.tls.caPem = caPem();
    req.timeout = Millis(10000);
    return client.send(req);
  }

  json getJson(const std::string& path, long expectCode) {
    auto r = get(path);
    INFO(path << ": " << r.status().toString());
    REQUIRE(r.isOk());
    INFO(r->body);
    REQUIRE(r->status == expectCode);
    REQUIRE(r->header("Content-Type") != nullptr);
    CHECK(*r->header("Content-Type") == "application/json");
    return json::parse(r->body);
  }

  MetricsApiServer& server() { return *server_; }
  CertificateManager& certs() { return *certs_; }

  FakeProvider provider;
  http::HttpClient client;

 private:
  std::unique_ptr<CertificateManager> certs_;
  std::unique_ptr<MetricsApiServer> server_;
};

void checkStatus(const json& s, int code, const std::string& reason) {
  CHECK(s["kind"] == "Status");
  CHECK(s["apiVersion"] == "v1");
  CHECK(s["metadata"] == json::object());
  CHECK(s["status"] == "Failure");
  CHECK(s["code"] == code);
  CHECK(s["reason"] == reason);
  CHECK(s["message"].is_string());
  CHECK(s["details"].is_object());
}

}  // namespace

TEST_CASE("quantities are written as apimachinery writes KEDA's milli quantities") {
  CHECK(formatMilliQuantity(0) == "0");
  CHECK(formatMilliQuantity(1) == "1");
  CHECK(formatMilliQuantity(1.5) == "1500m");
  CHECK(formatMilliQuantity(0.001) == "1m");
  CHECK(formatMilliQuantity(0.1) == "100m");
  CHECK(formatMilliQuantity(0.0004) == "0");      // "%.3f" -> 0.000
  CHECK(formatMilliQuantity(0.0005) == "1m");     // binary 0.000500000000000000010 rounds up
  CHECK(formatMilliQuantity(2.0005) == "2001m");  // likewise
  CHECK(formatMilliQuantity(12) == "12");
  CHECK(formatMilliQuantity(12.345) == "12345m");
  CHECK(formatMilliQuantity(10.5) == "10500m");
  CHECK(formatMilliQuantity(100) == "100");
  CHECK(formatMilliQuantity(1500) == "1500");
  CHECK(formatMilliQuantity(2000) == "2k");
  CHECK(formatMilliQuantity(1234000) == "1234k");
  CHECK(formatMilliQuantity(2.5e6) == "2500k");
  CHECK(formatMilliQuantity(1e6) == "1M");
  CHECK(formatMilliQuantity(123456789.123) == "123456789123m");
  CHECK(formatMilliQuantity(9.3e15) == "9300T");  // past int64 milli-units: no overflow
  CHECK(formatMilliQuantity(1e18) == "1E");
  CHECK(formatMilliQuantity(1e21) == "1000E");
  // KEDA clamps what the HPA cannot use.
  CHECK(formatMilliQuantity(-1) == "0");
  CHECK(formatMilliQuantity(-0.0) == "0");
  CHECK(formatMilliQuantity(std::nan("")) == "0");
  CHECK(formatMilliQuantity(std::numeric_limits<double>::infinity()) == "0");
  CHECK(formatMilliQuantity(-std::numeric_limits<double>::infinity()) == "0");
  CHECK(formatMilliQuantity(std::numeric_limits<double>::max()).size() > 300);
}

TEST_CASE("timestamps are metav1.Time: RFC 3339 UTC seconds") {
  CHECK(formatRfc3339(at(1777629600)) == "2026-05-01T10:00:00Z");
  CHECK(formatRfc3339(at(1777629600) + std::chrono::milliseconds(999)) == "2026-05-01T10:00:00Z");
  CHECK(formatRfc3339(at(0)) == "1970-01-01T00:00:00Z");
  CHECK(formatRfc3339(at(4102444799)) == "2099-12-31T23:59:59Z");
}

TEST_CASE("the list JSON has Go's field order, null labels and a trailing newline") {
  std::vector<ExternalMetricValue> items(2);
  items[0].metricName = "s0-rabbitmq-orders";
  items[0].value = 1.5;
  items[0].timestamp = at(1777629600);
  items[1].metricName = "s1-\"odd\"<&>";
  items[1].labels = {{"queue", "orders"}, {"a", "b"}};
  items[1].value = 12;
  items[1].windowSeconds = 30;
  std::string body = externalMetricValueListJson(items, at(1777629601));
  CHECK(body ==
        R"({"kind":"ExternalMetricValueList","apiVersion":"external.metrics.k8s.io/v1beta1",)"
        R"("metadata":{},"items":[{"metricName":"s0-rabbitmq-orders","metricLabels":null,)"
        R"("timestamp":"2026-05-01T10:00:00Z","value":"1500m"},)"
        R"({"metricName":"s1-\"odd\"\u003c\u0026\u003e","metricLabels":{"a":"b","queue":"orders"},)"
        R"("timestamp":"2026-05-01T10:00:01Z","window":30,"value":"12"}]})"
        "\n");
  CHECK(externalMetricValueListJson({}, at(0)) ==
        R"({"kind":"ExternalMetricValueList","apiVersion":"external.metrics.k8s.io/v1beta1",)"
        R"("metadata":{},"items":[]})"
        "\n");
}

TEST_CASE("label selectors parse as apimachinery's labels.Parse") {
  auto keda = LabelSelector::parse("scaledobject.keda.sh/name=orders");
  REQUIRE(keda.isOk());
  CHECK(keda->equalityValue("scaledobject.keda.sh/name") == "orders");
  CHECK(keda->toString() == "scaledobject.keda.sh/name=orders");
  CHECK(keda->matches({{"scaledobject.keda.sh/name", "orders"}}));
  CHECK_FALSE(keda->matches({{"scaledobject.keda.sh/name", "other"}}));
  CHECK_FALSE(keda->matches({}));

  auto all = LabelSelector::parse(
      " tier notin (b, a) , env==prod,!legacy,zone!=x,app in (web),has, n>3,m<10,e= ");
  INFO(all.status().toString());
  REQUIRE(all.isOk());
  CHECK(all->toString() ==
        "app in (web),e=,env=prod,has,!legacy,m<10,n>3,tier notin (a,b),zone!=x");
  CHECK(all->equalityValue("app") == "web");
  CHECK(all->equalityValue("env") == "prod");
  CHECK(all->equalityValue("e") == "");
  CHECK_FALSE(all->equalityValue("tier").has_value());
  std::map<std::string, std::string> labels = {{"app", "web"}, {"env", "prod"}, {"has", ""},
                                               {"n", "4"},     {"m", "9"},      {"e", ""}};
  CHECK(all->matches(labels));
  labels["tier"] = "a";
  CHECK_FALSE(all->matches(labels));
  labels["tier"] = "c";
  labels["zone"] = "x";
  CHECK_FALSE(all->matches(labels));
  labels.erase("zone");
  labels["n"] = "3";
  CHECK_FALSE(all->matches(labels));
  labels["n"] = "four";
  CHECK_FALSE(all->matches(labels));
  labels["n"] = "4";
  labels["legacy"] = "1";
  CHECK_FALSE(all->matches(labels));

  auto empty = LabelSelector::parse("");
  REQUIRE(empty.isOk());
  CHECK(empty->empty());
  CHECK(empty->matches({{"x", "y"}}));
  auto emptySet = LabelSelector::parse("a in ()");  // the set {""}, as apimachinery
  REQUIRE(emptySet.isOk());
  CHECK(emptySet->toString() == "a in ()");
  auto emptyValue = LabelSelector::parse("a==");
  REQUIRE(emptyValue.isOk());
  CHECK(emptyValue->equalityValue("a") == "");
  auto keyword = LabelSelector::parse("in=notin");  // keywords are identifiers in key/value place
  REQUIRE(keyword.isOk());
  CHECK(keyword->equalityValue("in") == "notin");

  for (const char* bad :
       {"a in (x", "a in x", "a=b c", "=b", "a,", ",a", "a=(b)", "a>x", "a<1.5", "a notin (x y)",
        "Bad_Prefix/x=y", "a/b/c=d", "-a=b", "a=-b", "a=b!", "a!b", "!a=b", "a in (x,)y",
        "toolongtoolongtoolongtoolongtoolongtoolongtoolongtoolongtoolong1=x"}) {
    auto r = LabelSelector::parse(bad);
    INFO(bad);
    CHECK_FALSE(r.isOk());
    if (!r.isOk()) {
      CHECK(r.status().code() == StatusCode::kInvalidArgument);
      CHECK(r.status().message().find(std::string("label selector \"") + bad + "\"") == 0);
    }
  }
  auto bad = LabelSelector::parse("a in (x");
  CHECK(bad.status().message() ==
        "label selector \"a in (x\": found end of string, expected ',' or ')'");
}

TEST_CASE("metrics API: the list as the HPA asks for it, every field") {
  ServerFixture f;
  std::vector<ExternalMetricValue> values(2);
  values[0].metricName = "s0-rabbitmq-orders";
  values[0].value = 1.5;
  values[0].timestamp = at(1777629600);
  values[1].metricName = "s0-rabbitmq-orders";
  values[1].labels = {{"queue", "orders"}};
  values[1].value = 2000;
  values[1].windowSeconds = 30;
  f.provider.set("s0-rabbitmq-orders", values);

  auto before = std::chrono::system_clock::now();
  auto r = f.get(kMetricPath +
                 "shop/s0-rabbitmq-orders?labelSelector=" + "scaledobject.keda.sh%2Fname%3Dorders");
  REQUIRE(r.isOk());
  REQUIRE(r->status == 200);
  CHECK(*r->header("Content-Type") == "application/json");
  json list = json::parse(r->body);
  CHECK(list["kind"] == "ExternalMetricValueList");
  CHECK(list["apiVersion"] == "external.metrics.k8s.io/v1beta1");
  CHECK(list["metadata"] == json::object());
  REQUIRE(list["items"].size() == 2);
  const json& a = list["items"][0];
  CHECK(a.size() == 4);
  CHECK(a["metricName"] == "s0-rabbitmq-orders");
  CHECK(a["metricLabels"].is_null());
  CHECK(a["timestamp"] == "2026-05-01T10:00:00Z");
  CHECK(a["value"] == "1500m");
  const json& b = list["items"][1];
  CHECK(b.size() == 5);
  CHECK(b["metricLabels"] == json{{"queue", "orders"}});
  CHECK(b["window"] == 30);
  CHECK(b["value"] == "2k");
  // An unset timestamp is "now", as KEDA's metav1.Now().
  std::string stamp = b["timestamp"];
  CHECK(stamp >= formatRfc3339(before));
  CHECK(stamp <= formatRfc3339(std::chrono::system_clock::now()));

  auto calls = f.provider.calls();
  REQUIRE(calls.size() == 1);
  CHECK(calls[0].ns == "shop");
  CHECK(calls[0].metric == "s0-rabbitmq-orders");
  CHECK(calls[0].selector == "scaledobject.keda.sh/name=orders");
  auto budget = calls[0].deadline - calls[0].at;
  CHECK(budget > std::chrono::seconds(29));
  CHECK(budget <= std::chrono::seconds(30));

  // client-go's `timeout` shortens the deadline; no selector is an empty one.
  r = f.get(kMetricPath + "shop/s0-rabbitmq-orders?timeout=2s");
  REQUIRE(r.isOk());
  CHECK(r->status == 200);
  calls = f.provider.calls();
  REQUIRE(calls.size() == 2);
  CHECK(calls[1].selector.empty());
  budget = calls[1].deadline - calls[1].at;
  CHECK(budget > std::chrono::milliseconds(1500));
  CHECK(budget <= std::chrono::seconds(2));

  // An empty answer is an empty list (the HPA then reports the metric as failed).
  f.provider.set("s1-empty", std::vector<ExternalMetricValue>{});
  json emptyList = f.getJson(kMetricPath + "shop/s1-empty", 200);
  CHECK(emptyList["items"] == json::array());

  // HEAD is answered like GET, without a body.
  r = f.get(kMetricPath + "shop/s0-rabbitmq-orders", "HEAD");
  REQUIRE(r.isOk());
  CHECK(r->status == 200);
  CHECK(r->body.empty());
}

TEST_CASE("metrics API: discovery, OpenAPI and health documents") {
  ServerFixture f;
  json apis = f.getJson("/apis", 200);
  CHECK(apis == json::parse(R"({"kind":"APIGroupList","apiVersion":"v1","groups":[
      {"name":"external.metrics.k8s.io",
       "versions":[{"groupVersion":"external.metrics.k8s.io/v1beta1","version":"v1beta1"}],
       "preferredVersion":{"groupVersion":"external.metrics.k8s.io/v1beta1","version":"v1beta1"}}]})"));
  json group = f.getJson("/apis/external.metrics.k8s.io", 200);
  CHECK(group ==
        json::parse(R"({"kind":"APIGroup","apiVersion":"v1","name":"external.metrics.k8s.io",
      "versions":[{"groupVersion":"external.metrics.k8s.io/v1beta1","version":"v1beta1"}],
      "preferredVersion":{"groupVersion":"external.metrics.k8s.io/v1beta1","version":"v1beta1"}})"));
  CHECK(f.getJson("/apis/external.metrics.k8s.io/", 200) == group);

  // The aggregator's availability probe.
  auto r = f.get("/apis/external.metrics.k8s.io/v1beta1");
  REQUIRE(r.isOk());
  CHECK(r->status == 200);
  CHECK(
      r->body ==
      R"({"kind":"APIResourceList","apiVersion":"v1","groupVersion":"external.metrics.k8s.io/v1beta1",)"
      R"("resources":[{"name":"externalmetrics","singularName":"","namespaced":true,)"
      R"("kind":"ExternalMetricValueList","verbs":["get"]}]})"
      "\n");

  json v2 = f.getJson("/openapi/v2", 200);
  CHECK(v2["swagger"] == "2.0");
  CHECK(
      v2["paths"].contains("/apis/external.metrics.k8s.io/v1beta1/namespaces/{namespace}/{name}"));
  CHECK(v2["definitions"].contains(
      "io.k8s.metrics.pkg.apis.external_metrics.v1beta1.ExternalMetricValueList"));
  r = f.get("/openapi/v2");
  REQUIRE(r.isOk());
  REQUIRE(r->header("ETag") != nullptr);
  std::string etag = *r->header("ETag");
  auto cached = f.get("/openapi/v2", "GET", {{"If-None-Match", etag}});
  REQUIRE(cached.isOk());
  CHECK(cached->status == 304);
  CHECK(cached->body.empty());

  json v3 = f.getJson("/openapi/v3", 200);
  std::string relative = v3["paths"]["apis/external.metrics.k8s.io/v1beta1"]["serverRelativeURL"];
  CHECK(relative.rfind("/openapi/v3/apis/external.metrics.k8s.io/v1beta1?hash=", 0) == 0);
  json v3Group = f.getJson(relative, 200);
  CHECK(v3Group["openapi"] == "3.0.0");
  CHECK(v3Group["components"]["schemas"].contains(
      "io.k8s.metrics.pkg.apis.external_metrics.v1beta1.ExternalMetricValue"));

  for (const char* path : {"/healthz", "/livez", "/readyz"}) {
    auto h = f.get(path);
    REQUIRE(h.isOk());
    CHECK(h->status == 200);
    CHECK(h->body == "ok");
  }
  f.server().setReady(false);
  auto notReady = f.get("/readyz");
  REQUIRE(notReady.isOk());
  CHECK(notReady->status == 503);
  auto live = f.get("/livez");
  REQUIRE(live.isOk());
  CHECK(live->status == 200);
}

TEST_CASE("metrics API: errors are Status objects with the right codes") {
  ServerFixture f;
  f.provider.set("s0-down",
                 Status::unavailable("prometheus at http://prom:9090: connection refused"));
  f.provider.set("s0-bug", Status::internal("no matching metrics found for s0-bug"));
  f.provider.set("s0-slow", Status::timeout("query timed out after 3000 ms"));
  f.provider.set("s0-bad", Status::invalidArgument("scaledObject name is not specified"));

  json s = f.getJson("/apis/metrics.k8s.io/v1beta1", 404);
  checkStatus(s, 404, "NotFound");
  CHECK(s["message"] == "the server could not find the requested resource");
  checkStatus(f.getJson(kMetricPath + "shop/a/b", 404), 404, "NotFound");
  checkStatus(f.getJson(kMetricPath + "shop", 404), 404, "NotFound");
  checkStatus(f.getJson(kMetricPath + "shop/", 404), 404, "NotFound");

  s = f.getJson(kMetricPath + "shop/s9-missing?labelSelector=scaledobject.keda.sh%2Fname%3Dx", 404);
  checkStatus(s, 404, "NotFound");
  CHECK(s["message"] == "no metric \"s9-missing\" in namespace shop");
  CHECK(s["details"] == json{{"name", "s9-missing"},
                             {"group", "external.metrics.k8s.io"},
                             {"kind", "externalmetrics"}});

  s = f.getJson(kMetricPath + "shop/s0-down?labelSelector=a+in+(x", 400);
  checkStatus(s, 400, "BadRequest");
  CHECK(s["message"] == "label selector \"a in (x\": found end of string, expected ',' or ')'");
  CHECK(f.provider.calls().size() == 1);  // a bad selector never reaches the provider

  s = f.getJson(kMetricPath + "shop/s0-down", 503);
  checkStatus(s, 503, "ServiceUnavailable");
  CHECK(s["message"] == "prometheus at http://prom:9090: connection refused");
  checkStatus(f.getJson(kMetricPath + "shop/s0-bug", 500), 500, "InternalError");
  checkStatus(f.getJson(kMetricPath + "shop/s0-slow", 504), 504, "Timeout");
  checkStatus(f.getJson(kMetricPath + "shop/s0-bad", 400), 400, "BadRequest");

  auto post = f.get(kMetricPath + "shop/s0-down", "POST");
  REQUIRE(post.isOk());
  CHECK(post->status == 405);
  checkStatus(json::parse(post->body), 405, "MethodNotAllowed");
  auto del = f.get("/apis", "DELETE");
  REQUIRE(del.isOk());
  CHECK(del->status == 405);
  CHECK(f.server().stats().errors >= 10);
}

TEST_CASE("metrics API: a slow source does not delay answers for other objects") {
  MetricsApiServerOptions options;
  options.threads = 8;
  ServerFixture f(options);
  std::vector<ExternalMetricValue> one(1);
  one[0].metricName = "s0-fast";
  one[0].value = 1;
  f.provider.set("s0-fast", one);
  one[0].metricName = "s0-slow";
  f.provider.set("s0-slow", one, std::chrono::milliseconds(1500));

  // Three slow requests in flight on their own connections...
  std::vector<std::future<long>> slow;
  for (int i = 0; i < 3; ++i) {
    slow.push_back(std::async(std::launch::async, [&] {
      http::HttpClient own;
      http::Request req;
      req.url = f.url(kMetricPath + "shop/s0-slow");
      req.tls.caPem = f.caPem();
      req.timeout = Millis(10000);
      auto r = own.send(req);
      return r.isOk() ? r->status : -1L;
    }));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  // ...while another client's requests for other objects are answered at once.
  double worstMs = 0;
  auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 20; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    auto r = f.get(kMetricPath + "shop/s0-fast");
    auto ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0);
    REQUIRE(r.isOk());
    CHECK(r->status == 200);
    worstMs = std::max(worstMs, ms.count());
  }
  auto total = std::chrono::steady_clock::now() - start;
  INFO("worst fast request " << worstMs << " ms");
  CHECK(worstMs < 300);
  CHECK(total < std::chrono::milliseconds(1200));  // all done while the slow ones still wait
  for (auto& s : slow) CHECK(s.get() == 200);
}

TEST_CASE("metrics API: the pool grows past `threads` for more keep-alive connections") {
  MetricsApiServerOptions options;
  options.threads = 2;
  options.maxThreads = 8;
  std::atomic<int> started{0};
  options.onThreadStart = [&] { ++started; };
  ServerFixture f(options);
  // Threads run onThreadStart as they get scheduled: on a loaded machine, a moment after start().
  auto waitFor = [&](int n) {
    for (int i = 0; i < 200 && started != n; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return started.load();
  };
  CHECK(waitFor(3) == 3);  // the acceptor and two workers
  f.provider.set("s0-x", std::vector<ExternalMetricValue>{});
  // Six connections kept open at once: each holds a worker, yet none waits for another to close.
  std::vector<std::unique_ptr<RawClient>> clients;
  for (int i = 0; i < 6; ++i) clients.push_back(std::make_unique<RawClient>(f.caPem()));
  auto t0 = std::chrono::steady_clock::now();
  for (int round = 0; round < 3; ++round) {
    for (auto& c : clients) {
      auto r = c->get(f.url(kMetricPath + "ns/s0-x"));
      CHECK(r.status == 200);
      CHECK(r.newConnections == (round == 0 ? 1 : 0));
    }
  }
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(2));
  CHECK(waitFor(7) == 7);  // grown by four
}

TEST_CASE("metrics API: TLS with the generated CA, and not with another") {
  ServerFixture f;
  f.provider.set("s0-x", std::vector<ExternalMetricValue>{});
  auto ok = f.get(kMetricPath + "ns/s0-x");
  REQUIRE(ok.isOk());
  CHECK(ok->status == 200);

  auto other = localCertificates();
  http::HttpClient client;
  http::Request req;
  req.url = f.url(kMetricPath + "ns/s0-x");
  req.tls.caPem = other->current().caPem;
  auto wrong = client.send(req);
  REQUIRE_FALSE(wrong.isOk());
  CHECK(wrong.status().code() == StatusCode::kUnavailable);
  // The host name is checked too: the certificate names 127.0.0.1 and localhost only.
  req.url = "https://127.0.0.2:" + std::to_string(f.server().port()) + kMetricPath + "ns/s0-x";
  req.tls.caPem = f.caPem();
  auto wrongHost = client.send(req);
  CHECK_FALSE(wrongHost.isOk());

  // Bad certificate material is refused at start and on replacement.
  FakeProvider p;
  MetricsApiServerOptions o;
  o.port = 0;
  o.certPem = "not a certificate";
  o.keyPem = other->current().keyPem;
  auto refused = MetricsApiServer::start(o, p);
  REQUIRE_FALSE(refused.isOk());
  CHECK(refused.status().code() == StatusCode::kInvalidArgument);
  auto mismatch = f.server().setCertificate(f.certs().current().certPem, other->current().keyPem);
  CHECK(mismatch.code() == StatusCode::kInvalidArgument);
  CHECK(mismatch.message() == "serving certificate: the private key does not match it");
  CHECK(f.server().stats().certificates == 1);
}

TEST_CASE(
    "metrics API: certificate rotation reaches keep-alive clients without dropping "
    "requests") {
  ServerFixture f;
  std::vector<ExternalMetricValue> one(1);
  one[0].metricName = "s0-x";
  one[0].value = 3;
  f.provider.set("s0-x", one);
  one[0].metricName = "s0-slow";
  f.provider.set("s0-slow", one, std::chrono::milliseconds(800));
  const std::string ca = f.caPem();
  auto oldCert = inspectCertificate(f.certs().current().certPem);
  REQUIRE(oldCert.isOk());

  RawClient keepAlive(ca);
  auto first = keepAlive.get(f.url(kMetricPath + "ns/s0-x"));
  REQUIRE(first.code == CURLE_OK);
  CHECK(first.status == 200);
  CHECK(first.newConnections == 1);
  auto seen = inspectCertificate(first.serverCertPem);
  REQUIRE(seen.isOk());
  CHECK(seen->sha256Fingerprint == oldCert->sha256Fingerprint);
  auto second = keepAlive.get(f.url(kMetricPath + "ns/s0-x"));
  CHECK(second.newConnections == 0);  // kept alive

  // A request in flight while the certificate changes.
  auto inFlight = std::async(std::launch::async, [&] {
    RawClient c(ca);
    return c.get(f.url(kMetricPath + "ns/s0-slow"));
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  REQUIRE(f.certs().rotateNow().isOk());  // onRotated -> setCertificate
  auto newCert = inspectCertificate(f.certs().current().certPem);
  REQUIRE(newCert.isOk());
  REQUIRE(newCert->sha256Fingerprint != oldCert->sha256Fingerprint);
  CHECK(f.server().stats().certificates == 2);

  auto slow = inFlight.get();
  CHECK(slow.code == CURLE_OK);
  CHECK(slow.status == 200);
  CHECK(json::parse(slow.body)["items"][0]["value"] == "3");

  // The old connection answers once more, asking the client to close it...
  auto third = keepAlive.get(f.url(kMetricPath + "ns/s0-x"));
  CHECK(third.code == CURLE_OK);
  CHECK(third.status == 200);
  CHECK(third.newConnections == 0);
  CHECK(third.headers.find("Connection: close") != std::string::npos);
  // ...and the next request handshakes again and sees the new certificate.
  auto fourth = keepAlive.get(f.url(kMetricPath + "ns/s0-x"));
  CHECK(fourth.code == CURLE_OK);
  CHECK(fourth.status == 200);
  CHECK(fourth.newConnections == 1);
  seen = inspectCertificate(fourth.serverCertPem);
  REQUIRE(seen.isOk());
  CHECK(seen->sha256Fingerprint == newCert->sha256Fingerprint);
  auto fifth = keepAlive.get(f.url(kMetricPath + "ns/s0-x"));
  CHECK(fifth.newConnections == 0);
  CHECK(fifth.headers.find("Connection: close") == std::string::npos);
}

TEST_CASE(
    "metrics API: stop() is quick with idle keep-alive connections and finishes requests "
    "in flight") {
  ServerFixture f;
  std::vector<ExternalMetricValue> one(1);
  one[0].metricName = "s0-slow";
  f.provider.set("s0-slow", one, std::chrono::milliseconds(600));
  f.provider.set("s0-x", std::vector<ExternalMetricValue>{});
  RawClient idle(f.caPem());
  REQUIRE(idle.get(f.url(kMetricPath + "ns/s0-x")).status == 200);  // stays connected
  auto inFlight = std::async(std::launch::async, [&] {
    RawClient c(f.caPem());
    return c.get(f.url(kMetricPath + "ns/s0-slow"));
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  auto t0 = std::chrono::steady_clock::now();
  f.server().stop();
  auto took = std::chrono::steady_clock::now() - t0;
  CHECK(took < std::chrono::milliseconds(2000));  // not the 5 s keep-alive timeout
  auto slow = inFlight.get();
  CHECK(slow.code == CURLE_OK);
  CHECK(slow.status == 200);
  f.server().stop();  // idempotent
  auto after = idle.get(f.url(kMetricPath + "ns/s0-x"));
  CHECK(after.code != CURLE_OK);
}

TEST_CASE("metrics API: binding a port in use fails with Unavailable") {
  ServerFixture f;
  FakeProvider p;
  auto certs = localCertificates();
  MetricsApiServerOptions o;
  o.bindAddress = "127.0.0.1";
  o.port = f.server().port();
  o.certPem = certs->current().certPem;
  o.keyPem = certs->current().keyPem;
  auto second = MetricsApiServer::start(o, p);
  REQUIRE_FALSE(second.isOk());
  CHECK(second.status().code() == StatusCode::kUnavailable);
}
