// The external metrics API (external.metrics.k8s.io/v1beta1) served over HTTPS, as KEDA's
// keda-metrics-apiserver (custom-metrics-apiserver) serves it to the kube-aggregator and, through
// it, to the HPA controller (hpa-and-kube-api.md §3.13, keda-behaviour.md §3.11).
//
//   class Handlers : public ExternalMetricsProvider { ... };     // the operator's
//   MetricsApiServerOptions o;  o.port = 6443;  o.certPem = ...; o.keyPem = ...;
//   auto server = MetricsApiServer::start(o, handlers);          // binds, serves on its threads
//   certs.onRotated([&](auto&, auto& cert, auto& key) { (*server)->setCertificate(cert, key); });
//
// Paths (GET; HEAD too; other methods on them: 405):
//   /apis/external.metrics.k8s.io/v1beta1/namespaces/{ns}/{metric}?labelSelector=...
//       -> ExternalMetricValueList from the provider; `labelSelector` is parsed (400 when bad)
//   /apis                                   APIGroupList with external.metrics.k8s.io
//   /apis/external.metrics.k8s.io           APIGroup (preferredVersion v1beta1)
//   /apis/external.metrics.k8s.io/v1beta1   APIResourceList: one resource "externalmetrics",
//                                           namespaced, kind ExternalMetricValueList, verbs [get]
//                                           (what custom-metrics-apiserver lists today; the
//                                           aggregator's availability probe, 5 s timeout)
//   /openapi/v2, /openapi/v3, /openapi/v3/apis/external.metrics.k8s.io/v1beta1
//                                           small OpenAPI documents of the one path (ETag +
//                                           If-None-Match), so the aggregator's downloader logs
//                                           no failures
//   /healthz, /livez, /readyz               "ok" (readyz: 503 while setReady(false))
//   anything else                           404 Status "the server could not find the requested
//                                           resource"
// Bodies are JSON (Content-Type application/json) whatever the Accept header asks: client-go picks
// its decoder from the response's Content-Type, so a client that prefers protobuf still decodes it.
// Errors are `Status` objects (kind Status, apiVersion v1, status Failure, message, reason, code):
//   provider kNotFound -> 404 NotFound, kInvalidArgument -> 400 BadRequest,
//   kUnavailable -> 503 ServiceUnavailable, kTimeout -> 504 Timeout, others -> 500 InternalError.
// The message is the provider's Status message (which never carries secrets, by the project's
// rule); the server adds nothing from the request but the metric and namespace names.
//
// Authentication: none yet. The kube-aggregator connects with its front-proxy client certificate
// and X-Remote-User/X-Remote-Group headers; this server does not request client certificates and
// ignores those headers and any bearer token, so any client that reaches the port is served. A
// later piece adds delegated authentication (requestheader client CA and allowed names from
// kube-system/extension-apiserver-authentication, TokenReview for bearer tokens) and
// SubjectAccessReview authorization. Until then, keep the port reachable by the API server only
// (NetworkPolicy).
//
// Concurrency model (cpp-httplib's): one acceptor thread and a pool of workers; a worker owns one
// connection at a time, for as long as it is kept alive, and calls the provider synchronously for
// each request on it. So a slow provider call holds one worker and one connection and nothing
// else: requests on other connections are answered by the other workers ("a slow source never
// blocks answers for other objects"; tested). The aggregator (a Go HTTP/1.1 transport) opens a
// connection per concurrent request, and the HPA controller runs 5 workers by default, so a
// handful of connections are busy at once. The pool starts with `threads` workers (32) and, when
// a new connection arrives while every worker holds one (busy or idle keep-alive), starts another,
// up to `maxThreads` (256); past that, new connections wait in the queue until a worker frees up.
// An idle keep-alive connection holds its worker until `keepAliveTimeout` (then the server closes
// it; Go clients retry idempotent GETs on a fresh connection).
// Each request gets a deadline: now + min(requestTimeout, the request's `timeout` query
// parameter, which client-go adds when its client has a timeout). The kube-apiserver gives up on
// a proxied request after its --request-timeout (60 s by default); the 30 s default answers well
// before that. The provider must honour the deadline: the server does not abandon a call.
//
// Certificates: the serving certificate (and chain) can be replaced at any time with
// setCertificate(). The TLS context selects the certificate in a per-handshake callback from an
// atomically swapped snapshot, so the next handshake uses the new one and nothing is restarted:
// no listener gap, no in-flight request dropped. Connections that were established with an older
// certificate finish their current request, and (with closeStaleConnections) that response
// carries `Connection: close`, so keep-alive clients reconnect and see the new certificate.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "updraft/clock.h"
#include "updraft/operator/label_selector.h"
#include "updraft/status.h"

namespace updraft::kube {

// One item of an ExternalMetricValueList.
struct ExternalMetricValue {
  std::string metricName;
  std::map<std::string, std::string> labels;  // "metricLabels"; serialized as null when empty
  // As reported: serialized as a milli-precision quantity (formatMilliQuantity).
  double value = 0;
  // RFC 3339 seconds in UTC; the epoch (a default TimePoint) means "now" at serialization, as
  // KEDA stamps metav1.Now().
  TimePoint timestamp{};
  std::optional<int64_t> windowSeconds;  // "window", omitted when unset (KEDA never sets it)
};

// What the operator implements from its handlers. Called from the server's worker threads,
// concurrently (one call per request): implementations must be thread-safe and should return by
// `deadline`. `ns` and `metricName` are the decoded path segments, as requested; `selector` is
// the parsed labelSelector (empty when absent). KEDA's own rules are the provider's business:
// the selector must name the ScaledObject (`scaledobject.keda.sh/name=<name>`, else KEDA answers
// "scaledObject name is not specified"), metric names match case-insensitively, cached values
// with useCachedMetrics, fallback (keda-behaviour.md §3.8, §3.11). An empty vector is answered as
// an empty list, which the HPA treats as a failed metric.
class ExternalMetricsProvider {
 public:
  virtual ~ExternalMetricsProvider() = default;
  virtual Result<std::vector<ExternalMetricValue>> getExternalMetric(const std::string& ns,
                                                                     const std::string& metricName,
                                                                     const LabelSelector& selector,
                                                                     TimePoint deadline) = 0;
};

struct MetricsApiServerOptions {
  std::string bindAddress = "0.0.0.0";
  int port = 6443;  // 0: any free port (see MetricsApiServer::port())
  // The serving certificate (PEM; the leaf first, then any intermediates) and its private key:
  // in memory, or files read once at start (setCertificate() replaces either).
  std::string certPem;
  std::string keyPem;
  std::string certFile;
  std::string keyFile;

  size_t threads = 32;      // workers started at once (see the concurrency model above)
  size_t maxThreads = 256;  // the pool grows to this when every worker holds a connection
  std::chrono::milliseconds requestTimeout{30000};
  std::chrono::seconds keepAliveTimeout{5};
  size_t keepAliveMaxRequests = 100000;  // requests per connection before the server closes it
  std::chrono::seconds readTimeout{5};   // a request's bytes, once it has started
  std::chrono::seconds writeTimeout{5};
  // After setCertificate(), the next response on a connection established with an older
  // certificate says `Connection: close`.
  bool closeStaleConnections = true;
  // Runs first on every thread the server starts (acceptor and workers): naming, CPU pinning.
  std::function<void()> onThreadStart;
  // Extra POST endpoints by exact path (the admission webhooks share this HTTPS server code):
  // the handler gets the body and returns the status code and a JSON answer.
  using PostHandler = std::function<std::pair<int, std::string>(const std::string& body)>;
  std::map<std::string, PostHandler> postRoutes;
  size_t maxBodyBytes = 64 * 1024;  // requests with a larger body get 413
  const Clock* clock = nullptr;  // for deadlines and default timestamps; the system clock if null
};

struct MetricsApiServerStats {
  uint64_t requests = 0;      // every HTTP request answered
  uint64_t metricCalls = 0;   // provider calls
  uint64_t errors = 0;        // answers >= 400
  uint64_t handshakes = 0;    // TLS handshakes started
  uint64_t certificates = 0;  // certificates installed (1 at start, +1 per setCertificate)
};

class MetricsApiServer {
 public:
  // Binds and starts serving. `provider` must outlive the server. Errors: InvalidArgument (bad
  // certificate or key, or they do not match), Unavailable (cannot bind).
  static Result<std::unique_ptr<MetricsApiServer>> start(MetricsApiServerOptions options,
                                                         ExternalMetricsProvider& provider);
  ~MetricsApiServer();  // stop()
  MetricsApiServer(const MetricsApiServer&) = delete;
  MetricsApiServer& operator=(const MetricsApiServer&) = delete;

  int port() const;  // the bound port

  // Stops accepting, lets requests in flight finish (their responses are written), closes idle
  // keep-alive connections at once, and joins every thread. Idempotent.
  void stop();

  // Replaces the serving certificate for every later handshake (see above). InvalidArgument when
  // the PEMs do not parse or the key does not match; the previous certificate stays then.
  Status setCertificate(const std::string& certPem, const std::string& keyPem);

  // /readyz answers 503 while false (true at start).
  void setReady(bool ready);

  MetricsApiServerStats stats() const;

  struct Impl;

 private:
  explicit MetricsApiServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// A metric value as KEDA serves it: `fmt.Sprintf("%.3f", v)` parsed into a Quantity and written
// in canonical DecimalSI form (apimachinery's Quantity.String of a milli quantity): 0 -> "0",
// 1 -> "1", 1.5 -> "1500m", 0.001 -> "1m", 0.0004 -> "0", 1500 -> "1500", 2000 -> "2k",
// 2.5e6 -> "2500k", 1e18 -> "1E". NaN, infinities and negative values give "0" (KEDA clamps
// them). Beyond 999E the mantissa grows ("1000E") instead of apimachinery's lost exponent.
// Note: KEDA's MustParse keeps the literal text when it is already canonical-looking ("1.500"),
// so a real adapter may send "1.500" where this sends "1500m": the same quantity to every parser
// (the HPA reads MilliValue()).
std::string formatMilliQuantity(double value);

// metav1.Time's JSON form: "2026-05-01T10:00:00Z" (UTC, whole seconds, truncated).
std::string formatRfc3339(TimePoint t);

// The JSON of an ExternalMetricValueList with these items (Go's field order, a trailing newline
// as apimachinery's encoder writes). `now` replaces epoch timestamps.
std::string externalMetricValueListJson(const std::vector<ExternalMetricValue>& items,
                                        TimePoint now);

}  // namespace updraft::kube
