// A Kubernetes API client over libcurl: in-cluster and kubeconfig credentials, JSON requests with
// client-go's retry rules, a client-side token bucket, and line-by-line watch streams.
//
//   auto config = KubeConfig::load({});               // $KUBECONFIG, ~/.kube/config or in-cluster
//   KubeClient client(*config);
//   auto r = client.get("/apis/keda.sh/v1alpha1/namespaces/default/scaledobjects/x");
//   if (r.isOk() && r->ok()) use(r->body);            // a 4xx/5xx is an ApiResponse, not an error
//
// Rules (hpa-and-kube-api.md §3):
// - A response carrying Retry-After with 429 or 5xx is retried up to `maxRetries` times, sleeping
//   max(Retry-After, backoff). A 401 re-reads the token file once and retries.
// - The token file (in-cluster: a projected, rotating token) is re-read at most every 60 s, and
//   at once after a 401. The CA file is re-read when it changes.
// - Requests wait for the token bucket (qps/burst; qps <= 0 turns it off). Watches count once, at
//   connect.
// - Error texts name the method and the path, never the token or a client key.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "updraft/status.h"

namespace updraft::kube {

struct KubeConfig {
  std::string server;  // https://host:port (no trailing slash)
  std::string caPem;   // empty: the system CAs
  std::string caFile;  // re-read when it changes (in-cluster); caPem wins when both are set
  std::string clientCertPem;
  std::string clientKeyPem;
  std::string token;      // a static bearer token
  std::string tokenFile;  // a token re-read at most every 60 s and after a 401
  bool insecureSkipVerify = false;
  std::string tlsServerName;
  std::string namespace_;  // the default namespace (in-cluster file or the context's)

  // In-cluster: KUBERNETES_SERVICE_HOST/PORT and the service account files under `root`.
  static Result<KubeConfig> inCluster(
      const std::string& root = "/var/run/secrets/kubernetes.io/serviceaccount");
  // A kubeconfig file (or several joined by ':' as $KUBECONFIG, first definition wins); `context`
  // empty = current-context. Relative file paths resolve against the file's directory.
  static Result<KubeConfig> fromKubeconfig(const std::string& paths,
                                           const std::string& context = {});
  // `kubeconfig` when given, else $KUBECONFIG, else in-cluster when KUBERNETES_SERVICE_HOST is set,
  // else ~/.kube/config.
  static Result<KubeConfig> load(const std::string& kubeconfig, const std::string& context = {});
};

struct ApiResponse {
  long code = 0;
  std::string raw;
  nlohmann::json body;  // parsed JSON; null when the body is not JSON
  std::vector<std::pair<std::string, std::string>> headers;

  bool ok() const { return code >= 200 && code < 300; }
  // The Status reason of an error answer ("NotFound", "Conflict", "AlreadyExists", "Expired",
  // "Invalid", ...), or "" when absent.
  std::string reason() const;
  // A Status for a non-2xx answer: NotFound -> kNotFound, AlreadyExists -> kAlreadyExists,
  // Conflict/Gone/Expired -> kFailedPrecondition, 4xx -> kInvalidArgument, 5xx -> kUnavailable.
  // The message is "<what>: <code> <reason>: <server message>".
  Status status(std::string_view what) const;
};

enum class PatchType { kMerge, kJson, kStrategicMerge, kApply };
const char* contentType(PatchType type);

struct KubeClientOptions {
  double qps = 20;  // KEDA's --kube-api-qps
  int burst = 30;   // KEDA's --kube-api-burst
  std::chrono::milliseconds timeout{30000};
  int maxRetries = 10;
  std::string userAgent = "updraft";
};

class KubeClient {
 public:
  KubeClient(KubeConfig config, KubeClientOptions options = {});
  ~KubeClient();
  KubeClient(const KubeClient&) = delete;
  KubeClient& operator=(const KubeClient&) = delete;

  // One request; `path` starts with '/' and may carry a query. Transport failures are errors;
  // any HTTP answer is an ApiResponse.
  Result<ApiResponse> request(std::string_view method, const std::string& path,
                              const std::string& body = {}, std::string_view contentType = {});
  Result<ApiResponse> get(const std::string& path) { return request("GET", path); }
  Result<ApiResponse> create(const std::string& path, const nlohmann::json& object);
  Result<ApiResponse> update(const std::string& path, const nlohmann::json& object);
  Result<ApiResponse> patch(const std::string& path, const nlohmann::json& patch, PatchType type);
  Result<ApiResponse> remove(const std::string& path, const nlohmann::json& options = nullptr);

  // Streams a watch: calls `onLine` with each line of the answer until the server ends it,
  // `onLine` returns false, or stop() is called. An error answer (e.g. 410 on the request) comes
  // back as the ApiResponse (its body read whole); a normal end as code 200 with an empty body.
  Result<ApiResponse> stream(const std::string& path,
                             const std::function<bool(std::string_view)>& onLine);

  // Ends every stream() in flight, now and later (shutdown).
  void stop();
  bool stopped() const { return stopped_.load(); }

  const KubeConfig& config() const { return config_; }
  // Requests sent (each retry counts). For tests and benchmarks.
  uint64_t requestCount() const { return requests_.load(); }

  struct Impl;

 private:
  KubeConfig config_;
  KubeClientOptions options_;
  std::unique_ptr<Impl> impl_;
  std::atomic<bool> stopped_{false};
  std::atomic<uint64_t> requests_{0};
};

// "/api/v1" for the core group, else "/apis/<group>/<version>"; `apiVersion` as in objects.
std::string apiPrefix(std::string_view apiVersion);
// The path of a resource collection or object: <prefix>[/namespaces/<ns>]/<resource>[/<name>].
std::string resourcePath(std::string_view apiVersion, std::string_view resource,
                         std::string_view ns = {}, std::string_view name = {});
// Percent-encodes a query parameter value.
std::string queryEscape(std::string_view value);

}  // namespace updraft::kube
