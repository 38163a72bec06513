// A small HTTP(S) client over libcurl for scalers (metrics-api, prometheus, Lua's http module,
// ...).
//
//   HttpClient client;
//   Request req{.url = "http://127.0.0.1:8080/metrics", .timeout = HttpClient::timeoutUntil(
//                                                             deadline, clock.now(),
//                                                             Millis(3000))};
//   req.bearerToken = token;
//   Result<Response> r = client.send(req);   // a non-2xx status is a Response, not an error
//
// Connection reuse: a client keeps a pool of libcurl easy handles. Each easy handle owns its own
// connection cache (keep-alive connections, TLS sessions, DNS entries), which survives
// curl_easy_reset() between requests. A request takes an idle handle that last talked to the same
// origin (scheme://host:port) when there is one, otherwise the most recently used idle handle,
// otherwise a new one; it puts the handle back when done. So sequential requests to one server
// reuse one TCP/TLS connection, concurrent requests each get their own handle, and no handle or
// connection is ever used by two threads at once. (libcurl's shared connection cache, CURLSH with
// CURL_LOCK_DATA_CONNECT, is documented as unsafe across concurrent threads, hence the pool.)
//
// Errors name the method and the URL without userinfo, query string or fragment, and never contain
// the password, bearer token or header values of the request:
//   "GET http://127.0.0.1:9/metrics: connection refused"                      (Unavailable)
//   "GET http://127.0.0.1:8080/slow: timed out after 3000 ms"                 (Timeout)
//   "GET https://api/x: response body is larger than 16777216 bytes"         (Unavailable)
//
// Private CAs: when the environment variable UPDRAFT_EXTRA_CA_FILE names a PEM file, its
// certificates are trusted in addition to libcurl's default CA bundle for every https request that
// sets neither TlsOptions::caPem nor caFile (a request's own CA still replaces the defaults). The
// file is re-read when it changes; an unreadable file fails the request (InvalidArgument, naming
// the variable and the path).
//
// Thread-safe: one HttpClient may be used from many threads. curl_global_init runs once per process
// (on first construction) and is never undone.
#pragma once

#include <cstddef>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "updraft/clock.h"
#include "updraft/status.h"

namespace updraft::http {

inline constexpr size_t kDefaultMaxResponseBytes = 16 * 1024 * 1024;
// Names a PEM file of extra trusted CA certificates (see above).
inline constexpr const char* kExtraCaFileEnv = "UPDRAFT_EXTRA_CA_FILE";

struct TlsOptions {
  std::string caFile;               // PEM bundle on disk (CURLOPT_CAINFO)
  std::string caPem;                // PEM in memory (CURLOPT_CAINFO_BLOB); wins over caFile
  std::string clientCertPem;        // client certificate, PEM in memory (CURLOPT_SSLCERT_BLOB)
  std::string clientKeyPem;         // its private key, PEM in memory (CURLOPT_SSLKEY_BLOB)
  bool insecureSkipVerify = false;  // KEDA's unsafeSsl: no peer or host name verification
};

struct BasicAuth {
  std::string username;
  std::string password;
};

struct Request {
  std::string method = "GET";  // GET, POST, PUT, DELETE, HEAD, PATCH, ...
  std::string url;             // http:// or https:// only
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;  // sent when non-empty (and always for POST)
  std::optional<BasicAuth> basicAuth;
  std::string bearerToken;  // "Authorization: Bearer <token>" when non-empty
  TlsOptions tls;
  // Whole-request budget (connect + send + receive). <= 0 fails at once with Timeout, no I/O.
  Millis timeout{3000};
  size_t maxResponseBytes = kDefaultMaxResponseBytes;
  bool followRedirects = true;  // up to 10, http/https only (as Go's http.Client)
};

struct Response {
  long status = 0;
  std::string body;
  // Headers of the final response, names as received.
  std::vector<std::pair<std::string, std::string>> headers;

  // The first header with this name (case-insensitive), or nullptr.
  const std::string* header(std::string_view name) const;
};

class HttpClient {
 public:
  struct Options {
    size_t maxIdleHandles = 8;  // idle easy handles kept (each with its connections)
    std::string userAgent = "updraft";
  };

  HttpClient();
  explicit HttpClient(Options options);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Performs the request. An error only when no HTTP response was obtained (or it was too large).
  Result<Response> send(const Request& request);
  Result<Response> get(std::string url, Millis timeout);

  // Closes idle handles and their connections (a scaler's close()).
  void closeIdle();
  // A process-wide client; never destroyed.
  static HttpClient& shared();

  // min(cap, deadline - now), at least 0 ms: the timeout for a request that must end by deadline.
  static Millis timeoutUntil(TimePoint deadline, TimePoint now, Millis cap);
  // "scheme://host[:port]/path" without userinfo, query or fragment (for messages and logs).
  static std::string redactUrl(std::string_view url);

  size_t idleHandlesForTest() const;

  struct Handle;

 private:
  std::unique_ptr<Handle> acquire(const std::string& origin);
  void release(std::unique_ptr<Handle> handle, std::string origin);

  Options options_;
  mutable std::mutex mutex_;
  std::vector<std::unique_ptr<Handle>> idle_;  // most recently used last
};

}  // namespace updraft::http
