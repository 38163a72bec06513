// `updraft operator` end to end: each test starts its own Kubernetes API test server
// (tests/kube_test_server/kube_support.h) with KEDA's CRDs from deploy/crds/, the `updraft`
// binary as a child process against it (free ports on 127.0.0.1, certificates in a temporary
// directory, no caBundle patching), and small local HTTP servers the triggers read.
//
// When an assertion fails, the tail of the running operator's log is printed (the listener in
// operator_support.cc).
#pragma once

#include <arpa/inet.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "kube_test_server/kube_support.h"
#include "lua_examples/server_process.h"

namespace updraft::operator_test {

using json = nlohmann::json;
using kubetest_test::Client;
using kubetest_test::Cluster;
using kubetest_test::Response;
using namespace std::chrono_literals;

inline constexpr const char* kNs = "test";

// A port on 127.0.0.1 that was free a moment ago (bound, then released).
int freePort();

std::string updraftBinary();

// The running operator whose log a failed assertion prints (set by OperatorProcess).
std::string currentOperatorLogTail();

// `updraft operator` as a child process, its output in <dir>/operator.log.
class OperatorProcess {
 public:
  OperatorProcess(const Cluster& cluster, std::vector<std::string> extraArgs = {});
  ~OperatorProcess();
  OperatorProcess(const OperatorProcess&) = delete;
  OperatorProcess& operator=(const OperatorProcess&) = delete;

  // Waits until /readyz answers 200 (informers synced); false after `timeout` or when the
  // process exited.
  bool waitReady(std::chrono::milliseconds timeout = 20s);
  bool running() { return process_.running(); }
  void stop();
  std::string log() const;
  std::string logTail(size_t max = 6000) const;

  int metricsPort() const { return metricsPort_; }
  int webhookPort() const { return webhookPort_; }
  int healthPort() const { return healthPort_; }
  std::string caFile() const { return dir_.file("certs/ca.crt"); }
  // Clients for the HTTPS ports, trusting the operator's CA.
  Client metricsClient() const;
  Client webhookClient() const;

 private:
  testing::TempDir dir_{"updraft-operator-test"};
  testing::ChildProcess process_;
  int metricsPort_ = 0, webhookPort_ = 0, healthPort_ = 0;
};

// A test API server with KEDA's CRDs (deploy/crds/*.yaml) and the namespace `test`.
struct KedaCluster {
  KedaCluster();
  Cluster cluster;
  const Client& api() const { return cluster.api; }

  // The object, or a null json on 404.
  json get(const std::string& path) const;
  // Fails the test when the answer is not 2xx.
  json create(const std::string& collection, const json& body) const;
  // GETs a ScaledObject / HPA / Deployment in the namespace `test`.
  json scaledObject(const std::string& name) const;
  json hpa(const std::string& name) const;
  json deployment(const std::string& name) const;
  std::optional<int> replicas(const std::string& deploymentName) const;
  // The core/v1 Events whose involvedObject is this ScaledObject.
  std::vector<json> events(const std::string& scaledObjectName) const;
  bool hasEvent(const std::string& scaledObjectName, const std::string& reason) const;
  // API requests logged by the server (GET /_test/requests) with this method whose path ends
  // with `pathSuffix`.
  size_t requestCount(const std::string& method, const std::string& pathSuffix) const;
};

std::string soPath(const std::string& name = "");
std::string hpaPath(const std::string& name = "");
std::string deploymentPath(const std::string& name = "");

// A Deployment in `test` with `replicas`, labels app=<name>.
json deploymentObject(const std::string& name, int replicas);
// A ScaledObject for Deployment `target` with the given triggers.
json scaledObjectObject(const std::string& name, const std::string& target, json triggers);
// A metrics-api trigger reading {"value": N} from `url`.
json metricsApiTrigger(const std::string& url, const std::string& targetValue = "5",
                       const std::string& activation = "1");

// The condition of that type in a ScaledObject's status, or null.
json condition(const json& so, const std::string& type);
std::string conditionStatus(const json& so, const std::string& type);

// A local HTTP server (cpp-httplib, 127.0.0.1, free port): GET /value answers {"value": <v>},
// GET /metrics a Prometheus gauge `updraft_test_queue_length <v>`. With a required bearer token
// set, /value answers 401 unless Authorization is "Bearer <token>".
class ValueServer {
 public:
  ValueServer();
  ~ValueServer();
  ValueServer(const ValueServer&) = delete;
  ValueServer& operator=(const ValueServer&) = delete;

  void set(double v) { value_ = v; }
  void requireToken(const std::string& token) {
    std::lock_guard lock(mutex_);
    token_ = token;
  }
  int port() const { return port_; }
  std::string url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }
  // Authorization headers seen on /value, in order.
  std::vector<std::string> authorizations() const {
    std::lock_guard lock(mutex_);
    return authorizations_;
  }
  size_t valueRequests() const { return valueRequests_; }
  size_t unauthorized() const { return unauthorized_; }

 private:
  httplib::Server server_;
  std::thread thread_;
  int port_ = 0;
  std::atomic<double> value_{0};
  std::atomic<size_t> valueRequests_{0};
  std::atomic<size_t> unauthorized_{0};
  mutable std::mutex mutex_;
  std::string token_;
  std::vector<std::string> authorizations_;
};

// eventually() with a longer default suited to the operator's 1 s polls.
template <class F>
bool eventually(F check, std::chrono::milliseconds timeout = 15s) {
  return kubetest_test::eventually(check, timeout);
}

}  // namespace updraft::operator_test
