#include "updraft/operator/metrics_api.h"

#include <httplib.h>
#include <netinet/in.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <ctime>
#include <deque>
#include <fstream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

namespace updraft::kube {
namespace {

using nlohmann::json;

constexpr std::string_view kGroup = "external.metrics.k8s.io";
constexpr std::string_view kGroupVersion = "external.metrics.k8s.io/v1beta1";
constexpr std::string_view kGroupPath = "/apis/external.metrics.k8s.io";
constexpr std::string_view kVersionPath = "/apis/external.metrics.k8s.io/v1beta1";
constexpr std::string_view kNamespacesPrefix = "/apis/external.metrics.k8s.io/v1beta1/namespaces/";
constexpr std::string_view kOpenApiV3GroupPath = "/openapi/v3/apis/external.metrics.k8s.io/v1beta1";
constexpr const char* kJson = "application/json";

// ---- JSON writing (Go's encoding/json escaping: <, >, & and controls as \u00XX) ----

void appendJsonString(std::string& out, std::string_view s) {
  static const char* kHex = "0123456789abcdef";
  out.push_back('"');
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      case '<':
      case '>':
      case '&':
        out += "\\u00";
        out.push_back(kHex[c >> 4]);
        out.push_back(kHex[c & 0xf]);
        break;
      default:
        if (c < 0x20) {
          out += "\\u00";
          out.push_back(kHex[c >> 4]);
          out.push_back(kHex[c & 0xf]);
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
  }
  out.push_back('"');
}

void appendRfc3339(std::string& out, TimePoint t) {
  auto secs = std::chrono::floor<std::chrono::seconds>(t.time_since_epoch()).count();
  time_t tt = static_cast<time_t>(secs);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  auto digits = [&](int v, int width) {
    char buf[8];
    for (int i = width - 1; i >= 0; --i) {
      buf[i] = static_cast<char>('0' + v % 10);
      v /= 10;
    }
    out.append(buf, static_cast<size_t>(width));
  };
  digits(tm.tm_year + 1900, 4);
  out += '-';
  digits(tm.tm_mon + 1, 2);
  out += '-';
  digits(tm.tm_mday, 2);
  out += 'T';
  digits(tm.tm_hour, 2);
  out += ':';
  digits(tm.tm_min, 2);
  out += ':';
  digits(tm.tm_sec, 2);
  out += 'Z';
}

void appendMilliQuantity(std::string& out, double value) {
  if (!(value > 0) || !std::isfinite(value)) {  // NaN, infinities, <= 0
    out += '0';
    return;
  }
  // KEDA: fmt.Sprintf("%.3f", v) -> resource.MustParse. glibc's %f is exact decimal rounding of
  // the binary value, as Go's strconv is.
  char buf[400];
  int n = std::snprintf(buf, sizeof buf, "%.3f", value);
  if (n <= 0 || static_cast<size_t>(n) >= sizeof buf) {
    out += '0';
    return;
  }
  // Digits without the point: the value is digits * 10^-3.
  char digits[400];
  size_t len = 0;
  for (int i = 0; i < n; ++i) {
    if (buf[i] != '.') digits[len++] = buf[i];
  }
  size_t start = 0;
  while (start < len && digits[start] == '0') ++start;
  if (start == len) {  // rounds to 0 (e.g. 0.0004)
    out += '0';
    return;
  }
  int exponent = -3;
  while (len > start && digits[len - 1] == '0') {
    --len;
    ++exponent;
  }
  // apimachinery's canonical form: an integer mantissa and an exponent that is a multiple of 3.
  std::string mantissa(digits + start, len - start);
  while (exponent % 3 != 0) {
    mantissa.push_back('0');
    --exponent;
  }
  if (exponent > 18) {  // no suffix beyond E: keep the value exact with a longer mantissa
    mantissa.append(static_cast<size_t>(exponent - 18), '0');
    exponent = 18;
  }
  out += mantissa;
  switch (exponent) {
    case -3:
      out += 'm';
      break;
    case 3:
      out += 'k';
      break;
    case 6:
      out += 'M';
      break;
    case 9:
      out += 'G';
      break;
    case 12:
      out += 'T';
      break;
    case 15:
      out += 'P';
      break;
    case 18:
      out += 'E';
      break;
    default:
      break;
  }
}

void appendListJson(std::string& out, const std::vector<ExternalMetricValue>& items,
                    TimePoint now) {
  out += R"({"kind":"ExternalMetricValueList","apiVersion":"external.metrics.k8s.io/v1beta1",)"
         R"("metadata":{},"items":[)";
  bool first = true;
  for (const auto& item : items) {
    if (!first) out += ',';
    first = false;
    out += "{\"metricName\":";
    appendJsonString(out, item.metricName);
    out += ",\"metricLabels\":";
    if (item.labels.empty()) {
      out += "null";
    } else {
      out += '{';
      bool firstLabel = true;
      for (const auto& [k, v] : item.labels) {
        if (!firstLabel) out += ',';
        firstLabel = false;
        appendJsonString(out, k);
        out += ':';
        appendJsonString(out, v);
      }
      out += '}';
    }
    out += ",\"timestamp\":\"";
    appendRfc3339(out, item.timestamp == TimePoint{} ? now : item.timestamp);
    out += '"';
    if (item.windowSeconds) {
      out += ",\"window\":";
      out += std::to_string(*item.windowSeconds);
    }
    out += ",\"value\":\"";
    appendMilliQuantity(out, item.value);
    out += "\"}";
  }
  out += "]}\n";
}

// ---- Status objects ----

const char* reasonFor(int code) {
  switch (code) {
    case 400:
      return "BadRequest";
    case 404:
      return "NotFound";
    case 405:
      return "MethodNotAllowed";
    case 503:
      return "ServiceUnavailable";
    case 504:
      return "Timeout";
    default:
      return "InternalError";
  }
}

int httpCodeFor(StatusCode code) {
  switch (code) {
    case StatusCode::kNotFound:
      return 404;
    case StatusCode::kInvalidArgument:
      return 400;
    case StatusCode::kUnavailable:
      return 503;
    case StatusCode::kTimeout:
      return 504;
    default:
      return 500;
  }
}

// `metricName` non-empty: details name the metric (as the API server names the object).
std::string statusJson(int code, std::string_view message, std::string_view metricName = {}) {
  std::string out =
      R"({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":)";
  appendJsonString(out, message);
  out += ",\"reason\":\"";
  out += reasonFor(code);
  out += "\",\"details\":{";
  if (!metricName.empty()) {
    out += "\"name\":";
    appendJsonString(out, metricName);
    out += R"(,"group":"external.metrics.k8s.io","kind":"externalmetrics")";
  }
  out += "},\"code\":";
  out += std::to_string(code);
  out += "}\n";
  return out;
}

// ---- discovery and OpenAPI documents (built once) ----

json groupVersionForDiscovery() {
  return {{"groupVersion", kGroupVersion}, {"version", "v1beta1"}};
}

json apiGroup() {
  return {{"name", kGroup},
          {"versions", json::array({groupVersionForDiscovery()})},
          {"preferredVersion", groupVersionForDiscovery()}};
}

std::string apiGroupListJson() {
  json doc = {
      {"kind", "APIGroupList"}, {"apiVersion", "v1"}, {"groups", json::array({apiGroup()})}};
  return doc.dump() + "\n";
}

std::string apiGroupJson() {
  json doc = apiGroup();
  json out = {{"kind", "APIGroup"}, {"apiVersion", "v1"}};
  for (auto& [k, v] : doc.items()) out[k] = v;
  return out.dump() + "\n";
}

std::string apiResourceListJson() {
  // nlohmann sorts keys; the real server's order is kind, apiVersion, groupVersion, resources.
  std::string out =
      R"({"kind":"APIResourceList","apiVersion":"v1","groupVersion":"external.metrics.k8s.io/v1beta1",)"
      R"("resources":[{"name":"externalmetrics","singularName":"","namespaced":true,)"
      R"("kind":"ExternalMetricValueList","verbs":["get"]}]})";
  return out + "\n";
}

json schemaDefinitions(const std::string& refPrefix) {
  auto ref = [&](const char* name) { return json{{"$ref", refPrefix + name}}; };
  json value = {
      {"description", "ExternalMetricValue is a metric value for external metric"},
      {"type", "object"},
      {"required", {"metricName", "metricLabels", "timestamp", "value"}},
      {"properties",
       {{"metricName", {{"description", "the name of the metric"}, {"type", "string"}}},
        {"metricLabels",
         {{"description", "a set of labels that identify a single time series for the metric"},
          {"type", "object"},
          {"additionalProperties", {{"type", "string"}}}}},
        {"timestamp", ref("io.k8s.apimachinery.pkg.apis.meta.v1.Time")},
        {"window", {{"type", "integer"}, {"format", "int64"}}},
        {"value", ref("io.k8s.apimachinery.pkg.api.resource.Quantity")}}}};
  json list = {
      {"description", "ExternalMetricValueList is a list of values for a given metric"},
      {"type", "object"},
      {"required", {"items"}},
      {"properties",
       {{"kind", {{"type", "string"}}},
        {"apiVersion", {{"type", "string"}}},
        {"metadata", ref("io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta")},
        {"items",
         {{"type", "array"},
          {"items",
           ref("io.k8s.metrics.pkg.apis.external_metrics.v1beta1.ExternalMetricValue")}}}}},
      {"x-kubernetes-group-version-kind",
       json::array(
           {{{"group", kGroup}, {"kind", "ExternalMetricValueList"}, {"version", "v1beta1"}}})}};
  return {
      {"io.k8s.metrics.pkg.apis.external_metrics.v1beta1.ExternalMetricValue", value},
      {"io.k8s.metrics.pkg.apis.external_metrics.v1beta1.ExternalMetricValueList", list},
      {"io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta",
       {{"type", "object"},
        {"properties",
         {{"continue", {{"type", "string"}}},
          {"remainingItemCount", {{"type", "integer"}, {"format", "int64"}}},
          {"resourceVersion", {{"type", "string"}}},
          {"selfLink", {{"type", "string"}}}}}}},
      {"io.k8s.apimachinery.pkg.apis.meta.v1.Time", {{"type", "string"}, {"format", "date-time"}}},
      {"io.k8s.apimachinery.pkg.api.resource.Quantity", {{"type", "string"}}},
  };
}

json pathParameters(bool v3) {
  auto param = [&](const char* name, const char* in, const char* description, bool required) {
    json p = {{"name", name}, {"in", in}, {"description", description}};
    if (required) p["required"] = true;
    if (v3) {
      p["schema"] = {{"type", "string"}, {"uniqueItems", true}};
    } else {
      p["type"] = "string";
      p["uniqueItems"] = true;
    }
    return p;
  };
  return json::array(
      {param("namespace", "path", "object name and auth scope", true),
       param("name", "path", "the name of the external metric", true),
       param("labelSelector", "query",
             "A selector to restrict the list of returned objects by their labels.", false)});
}

std::string openApiV2Json() {
  json op = {{"description", "list the values of an external metric"},
             {"consumes", {"*/*"}},
             {"produces", {"application/json"}},
             {"schemes", {"https"}},
             {"tags", {"externalMetrics_v1beta1"}},
             {"operationId", "listExternalMetricsV1beta1NamespacedExternalMetricValueList"},
             {"responses",
              {{"200",
                {{"description", "OK"},
                 {"schema",
                  {{"$ref",
                    "#/definitions/"
                    "io.k8s.metrics.pkg.apis.external_metrics.v1beta1.ExternalMetricValueList"}}}}},
               {"401", {{"description", "Unauthorized"}}}}},
             {"x-kubernetes-action", "list"},
             {"x-kubernetes-group-version-kind",
              {{"group", kGroup}, {"kind", "ExternalMetricValueList"}, {"version", "v1beta1"}}}};
  json doc = {{"swagger", "2.0"},
              {"info", {{"title", "Updraft external metrics API"}, {"version", "v1beta1"}}},
              {"paths",
               {{"/apis/external.metrics.k8s.io/v1beta1/namespaces/{namespace}/{name}",
                 {{"get", op}, {"parameters", pathParameters(false)}}}}},
              {"definitions", schemaDefinitions("#/definitions/")}};
  return doc.dump() + "\n";
}

std::string openApiV3GroupJson() {
  json op = {{"description", "list the values of an external metric"},
             {"tags", {"externalMetrics_v1beta1"}},
             {"operationId", "listExternalMetricsV1beta1NamespacedExternalMetricValueList"},
             {"responses",
              {{"200",
                {{"description", "OK"},
                 {"content",
                  {{"application/json",
                    {{"schema",
                      {{"$ref",
                        "#/components/schemas/"
                        "io.k8s.metrics.pkg.apis.external_metrics.v1beta1."
                        "ExternalMetricValueList"}}}}}}}}},
               {"401", {{"description", "Unauthorized"}}}}},
             {"x-kubernetes-action", "list"},
             {"x-kubernetes-group-version-kind",
              {{"group", kGroup}, {"kind", "ExternalMetricValueList"}, {"version", "v1beta1"}}}};
  json doc = {{"openapi", "3.0.0"},
              {"info", {{"title", "Updraft external metrics API"}, {"version", "v1beta1"}}},
              {"paths",
               {{"/apis/external.metrics.k8s.io/v1beta1/namespaces/{namespace}/{name}",
                 {{"get", op}, {"parameters", pathParameters(true)}}}}},
              {"components", {{"schemas", schemaDefinitions("#/components/schemas/")}}}};
  return doc.dump() + "\n";
}

std::string sha512Hex(std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), md, &len, EVP_sha512(), nullptr);
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (unsigned int i = 0; i < len; ++i) {
    out.push_back(kHex[md[i] >> 4]);
    out.push_back(kHex[md[i] & 0xf]);
  }
  return out;
}

// ---- Go durations (the `timeout` query parameter: "32s", "1m30s", "500ms") ----

std::optional<std::chrono::nanoseconds> parseGoDuration(std::string_view s) {
  if (s.empty()) return std::nullopt;
  double total = 0;
  size_t i = 0;
  if (s == "0") return std::chrono::nanoseconds(0);
  while (i < s.size()) {
    size_t start = i;
    while (i < s.size() && ((s[i] >= '0' && s[i] <= '9') || s[i] == '.')) ++i;
    if (i == start) return std::nullopt;
    double n = std::strtod(std::string(s.substr(start, i - start)).c_str(), nullptr);
    size_t unitStart = i;
    while (i < s.size() && !((s[i] >= '0' && s[i] <= '9') || s[i] == '.')) ++i;
    std::string_view unit = s.substr(unitStart, i - unitStart);
    double scale = 0;
    if (unit == "ns") {
      scale = 1;
    } else if (unit == "us" || unit == "\xc2\xb5s" || unit == "\xce\xbcs") {
      scale = 1e3;
    } else if (unit == "ms") {
      scale = 1e6;
    } else if (unit == "s") {
      scale = 1e9;
    } else if (unit == "m") {
      scale = 60e9;
    } else if (unit == "h") {
      scale = 3600e9;
    } else {
      return std::nullopt;
    }
    total += n * scale;
  }
  if (!(total >= 0) || total > 1e18) return std::nullopt;
  return std::chrono::nanoseconds(static_cast<int64_t>(total));
}

// ---- TLS material ----

struct TlsIdentity {
  X509* cert = nullptr;
  EVP_PKEY* key = nullptr;
  STACK_OF(X509) * chain = nullptr;
  uint64_t generation = 0;

  TlsIdentity() = default;
  TlsIdentity(const TlsIdentity&) = delete;
  TlsIdentity& operator=(const TlsIdentity&) = delete;
  ~TlsIdentity() {
    X509_free(cert);
    EVP_PKEY_free(key);
    if (chain) sk_X509_pop_free(chain, X509_free);
  }
};

Result<std::shared_ptr<TlsIdentity>> parseIdentity(const std::string& certPem,
                                                   const std::string& keyPem) {
  auto id = std::make_shared<TlsIdentity>();
  BIO* bio = BIO_new_mem_buf(certPem.data(), static_cast<int>(certPem.size()));
  id->cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
  if (!id->cert) {
    BIO_free(bio);
    return Status::invalidArgument("serving certificate: no PEM certificate found");
  }
  id->chain = sk_X509_new_null();
  while (X509* extra = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr)) {
    sk_X509_push(id->chain, extra);
  }
  BIO_free(bio);
  bio = BIO_new_mem_buf(keyPem.data(), static_cast<int>(keyPem.size()));
  id->key = PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  if (!id->key) return Status::invalidArgument("serving certificate: no PEM private key found");
  if (X509_check_private_key(id->cert, id->key) != 1) {
    return Status::invalidArgument("serving certificate: the private key does not match it");
  }
  return id;
}

std::string readFile(const std::string& path, bool* ok) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  if (in) s << in.rdbuf();
  *ok = static_cast<bool>(in);
  return s.str();
}

// ---- worker pool (httplib's TaskQueue: every thread runs onThreadStart; grows when busy) ----

// `min` workers from the start; when a job (a new connection) arrives and every worker is busy,
// another worker is started, up to `max`. Workers stay until shutdown.
class WorkerPool final : public httplib::TaskQueue {
 public:
  WorkerPool(size_t min, size_t max, std::function<void()> onStart)
      : max_(std::max(min, max)), onStart_(std::move(onStart)) {
    std::lock_guard lock(mutex_);
    for (size_t i = 0; i < min; ++i) spawnLocked();
  }
  ~WorkerPool() override = default;

  void enqueue(std::function<void()> fn) override {
    {
      std::lock_guard lock(mutex_);
      jobs_.push_back(std::move(fn));
      if (jobs_.size() > idle_ && threads_.size() < max_ && !shutdown_) spawnLocked();
    }
    cv_.notify_one();
  }

  void shutdown() override {
    std::vector<std::thread> threads;
    {
      std::lock_guard lock(mutex_);
      shutdown_ = true;
      threads.swap(threads_);
    }
    cv_.notify_all();
    for (auto& t : threads) t.join();
  }

 private:
  void spawnLocked() {
    threads_.emplace_back([this] {
      if (onStart_) onStart_();
      run();
    });
  }

  void run() {
    std::unique_lock lock(mutex_);
    while (true) {
      ++idle_;
      cv_.wait(lock, [&] { return shutdown_ || !jobs_.empty(); });
      --idle_;
      if (jobs_.empty()) return;  // shut down and drained
      std::function<void()> fn = std::move(jobs_.front());
      jobs_.pop_front();
      lock.unlock();
      fn();
      lock.lock();
    }
  }

  const size_t max_;
  const std::function<void()> onStart_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<std::thread> threads_;
  std::deque<std::function<void()>> jobs_;
  size_t idle_ = 0;  // workers waiting for a job
  bool shutdown_ = false;
};

// Per-connection data hung on the SSL object: its socket (so stop() can end idle keep-alive
// connections at once) and the generation of the certificate its handshake used.
struct ConnectionTag {
  MetricsApiServer::Impl* impl = nullptr;
  int fd = -1;
  uint64_t generation = 0;
  std::atomic<bool> busy{false};  // from routing a request until its response is written
};

int connectionIndex();

}  // namespace

struct MetricsApiServer::Impl {
  MetricsApiServerOptions options;
  ExternalMetricsProvider* provider = nullptr;
  std::unique_ptr<httplib::SSLServer> server;
  std::thread acceptor;
  std::atomic<bool> acceptorDone{false};
  int port = 0;

  std::mutex identityMutex;
  std::shared_ptr<TlsIdentity> identity;
  std::atomic<uint64_t> generation{0};

  std::mutex connectionsMutex;
  std::map<int, ConnectionTag*> connections;  // by fd: connections past their ClientHello
  bool stopping = false;                      // guarded by connectionsMutex
  std::once_flag stopOnce;

  std::atomic<bool> ready{true};
  std::atomic<uint64_t> requests{0};
  std::atomic<uint64_t> metricCalls{0};
  std::atomic<uint64_t> errors{0};
  std::atomic<uint64_t> handshakes{0};

  // Constant documents.
  std::string apisBody = apiGroupListJson();
  std::string groupBody = apiGroupJson();
  std::string versionBody = apiResourceListJson();
  std::string openApiV2 = openApiV2Json();
  std::string openApiV2Etag = "\"" + sha512Hex(openApiV2) + "\"";
  std::string openApiV3Group = openApiV3GroupJson();
  std::string openApiV3GroupHash = sha512Hex(openApiV3Group);
  std::string openApiV3Discovery =
      json{{"paths",
            {{"apis/external.metrics.k8s.io/v1beta1",
              {{"serverRelativeURL",
                std::string(kOpenApiV3GroupPath) + "?hash=" + openApiV3GroupHash}}}}}}
          .dump() +
      "\n";
  std::string openApiV3DiscoveryEtag = "\"" + sha512Hex(openApiV3Discovery) + "\"";

  TimePoint now() const {
    return options.clock ? options.clock->now() : std::chrono::system_clock::now();
  }

  std::shared_ptr<TlsIdentity> currentIdentity() {
    std::lock_guard lock(identityMutex);
    return identity;
  }

  void install(std::shared_ptr<TlsIdentity> id) {
    std::lock_guard lock(identityMutex);
    id->generation = generation.load() + 1;
    identity = std::move(id);
    generation.store(identity->generation);
  }

  // SSL_CTX_set_cert_cb: picks the current certificate for each handshake.
  static int certCallback(SSL* ssl, void* arg) {
    auto* self = static_cast<Impl*>(arg);
    self->handshakes.fetch_add(1, std::memory_order_relaxed);
    std::shared_ptr<TlsIdentity> id = self->currentIdentity();
    if (!id) return 0;
    if (SSL_use_cert_and_key(ssl, id->cert, id->key, id->chain, 1) != 1) return 0;
    auto* tag = static_cast<ConnectionTag*>(SSL_get_ex_data(ssl, connectionIndex()));
    if (!tag) {
      tag = new ConnectionTag;
      tag->impl = self;
      tag->fd = SSL_get_fd(ssl);
      tag->generation = id->generation;
      {
        std::lock_guard lock(self->connectionsMutex);
        if (self->stopping) {
          delete tag;
          return 0;  // no new connections while stopping
        }
        self->connections[tag->fd] = tag;
      }
      SSL_set_ex_data(ssl, connectionIndex(), tag);
    } else {
      tag->generation = id->generation;
    }
    return 1;
  }

  static int alpnCallback(SSL*, const unsigned char** out, unsigned char* outlen,
                          const unsigned char* in, unsigned int inlen, void*) {
    static const unsigned char kHttp11[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
    unsigned char* selected = nullptr;
    if (SSL_select_next_proto(&selected, outlen, kHttp11, sizeof kHttp11, in, inlen) ==
        OPENSSL_NPN_NEGOTIATED) {
      *out = selected;
      return SSL_TLSEXT_ERR_OK;
    }
    return SSL_TLSEXT_ERR_NOACK;
  }

  void forget(int fd) {
    std::lock_guard lock(connectionsMutex);
    connections.erase(fd);
  }

  bool setupContext(SSL_CTX& ctx) {
    SSL_CTX_set_min_proto_version(&ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(
        &ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
    SSL_CTX_set_verify(&ctx, SSL_VERIFY_NONE, nullptr);
    // No session resumption: a resumed session skips the certificate (and the callback below),
    // so a client could keep an old certificate's session across reconnects after a rotation.
    // Keep-alive makes handshakes rare; each one is a full one with the current certificate.
    SSL_CTX_set_session_cache_mode(&ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_options(&ctx, SSL_OP_NO_TICKET);  // TLS 1.2 tickets
    SSL_CTX_set_num_tickets(&ctx, 0);             // TLS 1.3 tickets
    SSL_CTX_set_cert_cb(&ctx, &Impl::certCallback, this);
    SSL_CTX_set_alpn_select_cb(&ctx, &Impl::alpnCallback, nullptr);
    return true;
  }

  void answer(httplib::Response& res, int code, const std::string& body) {
    res.status = code;
    res.set_content(body, kJson);
    if (code >= 400) errors.fetch_add(1, std::memory_order_relaxed);
  }

  void answerStatus(httplib::Response& res, int code, std::string_view message,
                    std::string_view metricName = {}) {
    answer(res, code, statusJson(code, message, metricName));
  }

  void answerCached(const httplib::Request& req, httplib::Response& res, const std::string& body,
                    const std::string& etag) {
    res.set_header("ETag", etag);
    if (req.get_header_value("If-None-Match") == etag) {
      res.status = 304;
      return;
    }
    answer(res, 200, body);
  }

  void handleMetric(const httplib::Request& req, httplib::Response& res, const std::string& ns,
                    const std::string& metric) {
    auto selector = LabelSelector::parse(req.get_param_value("labelSelector"));
    if (!selector.isOk()) {
      answerStatus(res, 400, selector.status().message());
      return;
    }
    TimePoint start = now();
    auto budget = std::chrono::duration_cast<std::chrono::nanoseconds>(options.requestTimeout);
    if (req.has_param("timeout")) {
      auto asked = parseGoDuration(req.get_param_value("timeout"));
      if (asked && *asked > std::chrono::nanoseconds(0)) budget = std::min(budget, *asked);
    }
    TimePoint deadline = start + std::chrono::duration_cast<Duration>(budget);
    metricCalls.fetch_add(1, std::memory_order_relaxed);
    auto result = provider->getExternalMetric(ns, metric, *selector, deadline);
    if (!result.isOk()) {
      int code = httpCodeFor(result.status().code());
      answerStatus(res, code, result.status().message(), metric);
      return;
    }
    thread_local std::string body;
    body.clear();
    appendListJson(body, *result, now());
    res.status = 200;
    res.set_content(body.data(), body.size(), kJson);
  }

  static ConnectionTag* tagOf(const httplib::Request& req) {
    return req.ssl ? static_cast<ConnectionTag*>(SSL_get_ex_data(req.ssl, connectionIndex()))
                   : nullptr;
  }

  httplib::Server::HandlerResponse route(const httplib::Request& req, httplib::Response& res) {
    requests.fetch_add(1, std::memory_order_relaxed);
    ConnectionTag* tag = tagOf(req);
    if (tag) tag->busy.store(true);
    route2(req, res);
    if (options.closeStaleConnections && tag &&
        tag->generation != generation.load(std::memory_order_relaxed)) {
      res.set_header("Connection", "close");
    }
    return httplib::Server::HandlerResponse::Handled;
  }

  // httplib's logger runs after the response is written.
  void written(const httplib::Request& req) {
    if (ConnectionTag* tag = tagOf(req)) tag->busy.store(false);
  }

  void route2(const httplib::Request& req, httplib::Response& res) {
    std::string_view path = req.path;
    if (path.size() > 1 && path.back() == '/') path.remove_suffix(1);
    const bool read = req.method == "GET" || req.method == "HEAD";
    if (auto route = options.postRoutes.find(std::string(path));
        route != options.postRoutes.end()) {
      if (req.method != "POST") {
        answerStatus(res, 405, "the server does not allow this method on the requested resource");
        return;
      }
      auto [code, body] = route->second(req.body);
      answer(res, code, body);
      return;
    }
    auto known = [&](auto&& serve) {
      if (!read) {
        answerStatus(res, 405, "the server does not allow this method on the requested resource");
        return;
      }
      serve();
    };
    if (path == "/healthz" || path == "/livez" || path == "/readyz" || path == "/healthz/ping" ||
        path == "/livez/ping" || path == "/readyz/ping") {
      known([&] {
        bool ok = !path.starts_with("/readyz") || ready.load();
        res.status = ok ? 200 : 503;
        res.set_content(ok ? "ok" : "not ready", "text/plain; charset=utf-8");
        if (!ok) errors.fetch_add(1, std::memory_order_relaxed);
      });
      return;
    }
    if (path.starts_with(kNamespacesPrefix)) {
      std::string_view rest = path.substr(kNamespacesPrefix.size());
      size_t slash = rest.find('/');
      if (slash != std::string_view::npos && slash > 0 && slash + 1 < rest.size() &&
          rest.find('/', slash + 1) == std::string_view::npos) {
        known([&] {
          handleMetric(req, res, std::string(rest.substr(0, slash)),
                       std::string(rest.substr(slash + 1)));
        });
        return;
      }
    } else if (path == "/apis") {
      known([&] { answer(res, 200, apisBody); });
      return;
    } else if (path == kGroupPath) {
      known([&] { answer(res, 200, groupBody); });
      return;
    } else if (path == kVersionPath) {
      known([&] { answer(res, 200, versionBody); });
      return;
    } else if (path == "/openapi/v2") {
      known([&] { answerCached(req, res, openApiV2, openApiV2Etag); });
      return;
    } else if (path == "/openapi/v3") {
      known([&] { answerCached(req, res, openApiV3Discovery, openApiV3DiscoveryEtag); });
      return;
    } else if (path == kOpenApiV3GroupPath) {
      known([&] {
        answerCached(req, res, openApiV3Group, "\"" + openApiV3GroupHash + "\"");
        if (req.has_param("hash")) res.set_header("Cache-Control", "public, immutable");
      });
      return;
    }
    answerStatus(res, 404, "the server could not find the requested resource");
  }

  void stop() {
    std::call_once(stopOnce, [&] {
      {
        std::lock_guard lock(connectionsMutex);
        stopping = true;
      }
      if (server) server->stop();
      {
        // Idle keep-alive connections wait for their next request: end their reads so their
        // workers see the end at once. Busy ones are left alone (httplib refuses to write to a
        // socket whose read side has ended); their worker finishes the request, writes the
        // response and then sees the listener gone.
        std::lock_guard lock(connectionsMutex);
        for (const auto& [fd, tag] : connections) {
          if (!tag->busy.load()) ::shutdown(fd, SHUT_RD);
        }
      }
      if (acceptor.joinable()) acceptor.join();
    });
  }
};

namespace {

void freeConnectionTag(void*, void* ptr, CRYPTO_EX_DATA*, int, long, void*) {
  auto* tag = static_cast<ConnectionTag*>(ptr);
  if (!tag) return;
  tag->impl->forget(tag->fd);
  delete tag;
}

int connectionIndex() {
  static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, &freeConnectionTag);
  return index;
}

}  // namespace

MetricsApiServer::MetricsApiServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

MetricsApiServer::~MetricsApiServer() { stop(); }

Result<std::unique_ptr<MetricsApiServer>> MetricsApiServer::start(
    MetricsApiServerOptions options, ExternalMetricsProvider& provider) {
  std::string certPem = options.certPem;
  std::string keyPem = options.keyPem;
  if (certPem.empty() && !options.certFile.empty()) {
    bool ok = false;
    certPem = readFile(options.certFile, &ok);
    if (!ok) return Status::invalidArgument("cannot read certificate file " + options.certFile);
  }
  if (keyPem.empty() && !options.keyFile.empty()) {
    bool ok = false;
    keyPem = readFile(options.keyFile, &ok);
    if (!ok) return Status::invalidArgument("cannot read key file " + options.keyFile);
  }
  auto identity = parseIdentity(certPem, keyPem);
  if (!identity.isOk()) return identity.status();
  if (options.threads == 0) options.threads = 1;
  (void)connectionIndex();

  auto impl = std::make_unique<Impl>();
  impl->options = std::move(options);
  impl->provider = &provider;
  impl->install(std::move(identity).value());
  Impl* raw = impl.get();
  impl->server =
      std::make_unique<httplib::SSLServer>([raw](SSL_CTX& ctx) { return raw->setupContext(ctx); });
  if (!impl->server->is_valid()) return Status::internal("cannot create the TLS context");
  auto& server = *impl->server;
  const auto& o = impl->options;
  server.new_task_queue = [raw] {
    return new WorkerPool(raw->options.threads, raw->options.maxThreads,
                          raw->options.onThreadStart);
  };
  server.set_socket_options([](socket_t sock) {
    int yes = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  });
  server.set_tcp_nodelay(true);
  server.set_keep_alive_max_count(std::max<size_t>(1, o.keepAliveMaxRequests));
  server.set_keep_alive_timeout(std::max<time_t>(1, o.keepAliveTimeout.count()));
  server.set_read_timeout(std::max<time_t>(1, o.readTimeout.count()), 0);
  server.set_write_timeout(std::max<time_t>(1, o.writeTimeout.count()), 0);
  server.set_payload_max_length(std::max<size_t>(1024, o.maxBodyBytes));
  // The pre-routing handler runs before httplib reads a request body, so a POST (the admission
  // webhooks' AdmissionReviews) is left to the Post handler, which gets req.body filled.
  server.set_pre_routing_handler([raw](const httplib::Request& req, httplib::Response& res) {
    if (req.method == "POST") return httplib::Server::HandlerResponse::Unhandled;
    return raw->route(req, res);
  });
  server.Post(".*", [raw](const httplib::Request& req, httplib::Response& res) {
    (void)raw->route(req, res);
  });
  server.set_logger(
      [raw](const httplib::Request& req, const httplib::Response&) { raw->written(req); });

  if (o.port == 0) {
    impl->port = server.bind_to_any_port(o.bindAddress);
    if (impl->port <= 0) {
      return Status::unavailable("metrics API: cannot bind " + o.bindAddress + " to a free port");
    }
  } else {
    if (!server.bind_to_port(o.bindAddress, o.port)) {
      return Status::unavailable("metrics API: cannot bind " + o.bindAddress + ":" +
                                 std::to_string(o.port));
    }
    impl->port = o.port;
  }
  impl->acceptor = std::thread([raw] {
    if (raw->options.onThreadStart) raw->options.onThreadStart();
    raw->server->listen_after_bind();
    raw->acceptorDone.store(true);
  });
  // httplib 0.11 has no wait_until_ready(): stop() before the loop runs would be lost.
  while (!server.is_running() && !impl->acceptorDone.load()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  if (impl->acceptorDone.load()) {
    impl->acceptor.join();
    return Status::unavailable("metrics API: the listener on " + o.bindAddress + ":" +
                               std::to_string(impl->port) + " ended at once");
  }
  return std::unique_ptr<MetricsApiServer>(new MetricsApiServer(std::move(impl)));
}

int MetricsApiServer::port() const { return impl_->port; }

void MetricsApiServer::stop() { impl_->stop(); }

Status MetricsApiServer::setCertificate(const std::string& certPem, const std::string& keyPem) {
  auto identity = parseIdentity(certPem, keyPem);
  if (!identity.isOk()) return identity.status();
  impl_->install(std::move(identity).value());
  return Status::ok();
}

void MetricsApiServer::setReady(bool ready) { impl_->ready.store(ready); }

MetricsApiServerStats MetricsApiServer::stats() const {
  MetricsApiServerStats s;
  s.requests = impl_->requests.load();
  s.metricCalls = impl_->metricCalls.load();
  s.errors = impl_->errors.load();
  s.handshakes = impl_->handshakes.load();
  s.certificates = impl_->generation.load();
  return s;
}

std::string formatMilliQuantity(double value) {
  std::string out;
  appendMilliQuantity(out, value);
  return out;
}

std::string formatRfc3339(TimePoint t) {
  std::string out;
  appendRfc3339(out, t);
  return out;
}

std::string externalMetricValueListJson(const std::vector<ExternalMetricValue>& items,
                                        TimePoint now) {
  std::string out;
  appendListJson(out, items, now);
  return out;
}

}  // namespace updraft::kube
