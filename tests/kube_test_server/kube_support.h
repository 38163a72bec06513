// Helpers for tests that need updraft-kube-test-apiserver: the server as a child process, a small
// libcurl client for its REST API, and a watch stream read line by line. Built once as the
// library updraft_kube_test_support (tests/CMakeLists.txt) for every test component using the
// server.
#pragma once

#include <curl/curl.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace updraft::kubetest_test {

using json = nlohmann::json;

std::string serverBinary();
std::string base64(const std::string& data);
std::string readFile(const std::string& path);

class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }
  std::string write(const std::string& name, const std::string& content) const;

 private:
  std::string path_;
};

// updraft-kube-test-apiserver on port 0 with --cert-dir <dir>/certs and --token test-token.
class ServerProcess {
 public:
  ServerProcess(const std::string& dir, std::vector<std::string> extraArgs = {});
  ~ServerProcess();  // SIGTERM, then SIGKILL after 10 s
  const std::string& url() const { return url_; }
  std::string caFile() const { return certDir_ + "/ca.crt"; }
  // The kubeconfig the server wrote (token context "updraft-test", client-certificate context
  // "updraft-test-cert").
  std::string kubeconfig() const { return certDir_ + "/kubeconfig"; }
  const std::string& certDir() const { return certDir_; }
  // SIGTERM and wait; returns the exit code (128+signal when killed).
  int stop();

 private:
  int pid_ = -1;
  int outFd_ = -1;
  std::string url_;
  std::string certDir_;
};

struct Response {
  long code = 0;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased
  nlohmann::json json() const;
  std::string header(const std::string& lowerName) const;
};

class Client {
 public:
  Client(std::string base, std::string caFile, std::string token = "test-token");
  // Use the client certificate instead of the token.
  void useClientCert(const std::string& certFile, const std::string& keyFile);
  void setToken(std::string token) { token_ = std::move(token); }

  Response request(const std::string& method, const std::string& path, const std::string& body = "",
                   const std::string& contentType = "application/json") const;
  Response get(const std::string& path) const { return request("GET", path); }
  Response post(const std::string& path, const json& body) const {
    return request("POST", path, body.dump());
  }
  Response put(const std::string& path, const json& body) const {
    return request("PUT", path, body.dump());
  }
  Response patch(const std::string& path, const json& body,
                 const std::string& type = "application/merge-patch+json") const {
    return request("PATCH", path, body.dump(), type);
  }
  Response del(const std::string& path, const json& options = nullptr) const {
    return request("DELETE", path, options.is_null() ? "" : options.dump());
  }
  // POST with an empty body (the /_test/ controls).
  Response control(const std::string& pathAndQuery) const { return request("POST", pathAndQuery); }

  const std::string& base() const { return base_; }
  const std::string& caFile() const { return caFile_; }
  const std::string& token() const { return token_; }
  const std::string& certFile() const { return certFile_; }
  const std::string& keyFile() const { return keyFile_; }

 private:
  std::string base_;
  std::string caFile_;
  std::string token_;
  std::string certFile_;
  std::string keyFile_;
};

// A watch request read on a thread; events are the JSON lines received.
class WatchStream {
 public:
  WatchStream(const Client& client, const std::string& pathAndQuery);
  ~WatchStream();  // aborts the transfer
  // The next event, or nullopt after `timeout` or when the stream ended with nothing left.
  std::optional<json> next(std::chrono::milliseconds timeout = std::chrono::milliseconds(5000));
  // The next event that is not a BOOKMARK.
  std::optional<json> nextChange(
      std::chrono::milliseconds timeout = std::chrono::milliseconds(5000));
  // Waits for the end of the stream; true when it ended within `timeout`.
  bool waitEnd(std::chrono::milliseconds timeout);
  long httpCode() const { return code_; }
  CURLcode result() const { return result_; }

 private:
  static size_t onData(char* data, size_t size, size_t n, void* self);
  static int onProgress(void* self, curl_off_t, curl_off_t, curl_off_t, curl_off_t);
  std::mutex mu_;
  std::condition_variable cv_;
  std::string partial_;
  std::deque<json> events_;
  bool ended_ = false;
  std::atomic<bool> abort_{false};
  long code_ = 0;
  CURLcode result_ = CURLE_OK;
  std::thread thread_;
};

// A running server and a client for it, in a fresh temporary directory.
struct Cluster {
  explicit Cluster(std::vector<std::string> args = {})
      : server(dir.path(), std::move(args)), api(server.url(), server.caFile()) {}
  TempDir dir;
  ServerProcess server;
  Client api;
  // Creates a namespace; returns the response code.
  long createNamespace(const std::string& name) const {
    return api.post("/api/v1/namespaces", {{"metadata", {{"name", name}}}}).code;
  }
};

json configMap(const std::string& name, const json& labels = json::object(),
               const json& data = json::object());
json deployment(const std::string& name, int replicas, const std::string& app);
// The KEDA ScaledObject CRD reduced to what the server reads (keda.sh/v1alpha1, namespaced,
// status subresource), plus a `widgets.example.com` CRD with status and scale subresources.
json scaledObjectCrd();
json widgetCrd(const std::string& scope = "Namespaced");

// Polls `check` every 50 ms until it is true or `timeout` passes.
template <class F>
bool eventually(F check, std::chrono::milliseconds timeout = std::chrono::milliseconds(5000)) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    if (check()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

struct CommandResult {
  int exitCode = -1;
  std::string output;  // stdout and stderr
};
// Runs argv (PATH lookup) to completion, killed after `timeout`.
CommandResult run(const std::vector<std::string>& argv, std::chrono::seconds timeout);
// The absolute path of `name` on PATH, or "".
std::string findOnPath(const std::string& name);

}  // namespace updraft::kubetest_test
