// `updraft operator` end to end for the operator_ha tests: the Kubernetes API test server
// (tools/kube-test-apiserver) and `updraft operator` as child processes, a local metrics-api
// source, and the KEDA objects the tests create. Every test starts its own server and operators;
// an operator's log goes to a file whose tail is printed when a REQUIRE fails while it runs.
#pragma once

#include <httplib.h>
#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "kube_test_server/kube_support.h"

namespace updraft::operator_ha_test {

using json = nlohmann::json;
using kubetest_test::Client;
using kubetest_test::ServerProcess;
using kubetest_test::TempDir;
using namespace std::chrono_literals;

inline constexpr const char* kNs = "apps";               // where the test objects live
inline constexpr const char* kPodNs = "updraft-system";  // --pod-namespace: the Lease
inline constexpr const char* kLeaseName = "updraft-operator";

std::string updraftBinary();
// A TCP port on 127.0.0.1 that was free a moment ago.
int freePort();

// The test API server (--state-file in its directory, so it can be restarted with its objects on
// the same port and with the same certificates) and a client, with KEDA's CRDs (deploy/crds) and
// the namespaces kNs and kPodNs.
class ApiServer {
 public:
  // withCrds false: start without the CRDs (installCrds() later).
  explicit ApiServer(bool withCrds = true);
  ~ApiServer();
  const std::string& dir() const { return dir_.path(); }
  std::string kubeconfig() const { return server_->kubeconfig(); }
  const Client& api() const { return *api_; }
  int port() const { return port_; }
  void installCrds() const;
  // SIGTERM (the state file is written), then a new server on the same port and directory.
  void restart();
  // SIGTERM only; start() brings it back.
  void stop();
  void start();

 private:
  TempDir dir_;
  std::string stateFile_;
  int port_ = 0;
  std::unique_ptr<ServerProcess> server_;
  std::unique_ptr<Client> api_;
};

// `updraft operator` against `server`: --bind-address 127.0.0.1, the metrics API and webhooks
// off, /healthz + /readyz on a free port, Prometheus on a free port when `prometheus` is true,
// --pod-namespace kPodNs. stdout and stderr go to <dir>/<name>.log.
class OperatorProcess {
 public:
  OperatorProcess(const ApiServer& server, std::string name,
                  std::vector<std::string> extraArgs = {}, bool prometheus = false);
  ~OperatorProcess();  // SIGKILL when still running; prints the log tail when a REQUIRE failed
  OperatorProcess(const OperatorProcess&) = delete;
  OperatorProcess& operator=(const OperatorProcess&) = delete;

  const std::string& name() const { return name_; }
  pid_t pid() const { return pid_; }
  int healthPort() const { return healthPort_; }
  int prometheusPort() const { return prometheusPort_; }
  bool running();
  void signal(int sig);
  // Waits for the exit; the exit code (128+signal when killed), or -1 after `timeout`.
  int wait(std::chrono::milliseconds timeout);
  std::string log() const;
  std::string logTail(size_t lines = 60) const;

  // GET on the health port; {code, body} (code 0 when nothing answered).
  std::pair<int, std::string> health(const std::string& path) const;
  // GET /metrics on the Prometheus port.
  std::string prometheusText() const;
  // /readyz answered 200 within `timeout`.
  bool waitReady(std::chrono::milliseconds timeout = 20s) const;

 private:
  std::string name_;
  std::string logFile_;
  pid_t pid_ = -1;
  int exitCode_ = -1;
  int healthPort_ = 0;
  int prometheusPort_ = 0;
};

// An HTTP server on 127.0.0.1 answering GET /metric/<name> with {"value": N} (N from set(), 0 by
// default): the metrics-api triggers' source.
class MetricSource {
 public:
  MetricSource();
  ~MetricSource();
  void set(const std::string& name, double value);
  std::string url(const std::string& name) const;
  int requests(const std::string& name) const;

 private:
  httplib::Server server_;
  std::thread thread_;
  int port_ = 0;
  mutable std::mutex mutex_;
  std::map<std::string, double> values_;
  std::map<std::string, int> requests_;
};

// Objects and paths.
std::string deploymentsPath(const std::string& ns = kNs);
std::string scaledObjectsPath(const std::string& ns = kNs);
std::string scaledJobsPath(const std::string& ns = kNs);
std::string jobsPath(const std::string& ns = kNs);
std::string hpasPath(const std::string& ns = kNs);
std::string configMapsPath(const std::string& ns = kNs);
std::string leasePath();

// A ScaledObject for Deployment `name` (minReplicaCount 0, maxReplicaCount 5, pollingInterval 1,
// cooldownPeriod 3) with one trigger.
json scaledObject(const std::string& name, const json& trigger);
// A metrics-api trigger reading `url`'s `value`, targetValue `target`.
json metricsApiTrigger(const std::string& url, const std::string& target = "5");

// Creates (POST) and REQUIREs 201.
void create(const Client& api, const std::string& collection, const json& object);
// GET; nullopt on 404, REQUIRE otherwise.
std::optional<json> get(const Client& api, const std::string& path);
// The Deployment's spec.replicas (-1 when missing).
int replicas(const Client& api, const std::string& name);
// Items of a list (REQUIRE 200).
std::vector<json> list(const Client& api, const std::string& pathAndQuery);
// The Lease's spec.holderIdentity ("" when missing or empty).
std::string leaseHolder(const Client& api);
// Whether status.conditions has `type` with status `status`.
bool hasCondition(const json& object, const std::string& type, const std::string& status);

// Polls `check` until true; on timeout, FAILs with `what` (operator log tails are printed by the
// OperatorProcess destructors).
#define HA_WAIT_FOR(what, timeout, ...)                                              \
  do {                                                                               \
    if (!::updraft::kubetest_test::eventually([&] { return bool(__VA_ARGS__); },     \
                                              std::chrono::milliseconds(timeout))) { \
      FAIL("timed out after " << std::chrono::milliseconds(timeout).count()          \
                              << " ms waiting for: " << what);                       \
    }                                                                                \
  } while (0)

}  // namespace updraft::operator_ha_test
