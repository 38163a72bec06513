// Listeners need Catch's external interfaces, declared before the first include of catch.hpp.
#define CATCH_CONFIG_EXTERNAL_INTERFACES
#include "operator_support.h"

#include <catch2/catch.hpp>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <set>

#include "updraft/parse.h"

namespace updraft::operator_test {
namespace {

std::mutex gOperatorsMutex;
std::vector<const OperatorProcess*> gOperators;

// Prints the operator's log tail after the first failed assertion of a test case.
class OperatorLogListener : public Catch::TestEventListenerBase {
 public:
  using TestEventListenerBase::TestEventListenerBase;
  void testCaseStarting(const Catch::TestCaseInfo& info) override {
    printed_ = false;
    TestEventListenerBase::testCaseStarting(info);
  }
  bool assertionEnded(const Catch::AssertionStats& stats) override {
    if (!stats.assertionResult.isOk() && !printed_) {
      const std::string tail = currentOperatorLogTail();
      if (!tail.empty()) {
        printed_ = true;
        std::cerr << "---------- updraft operator log (tail) ----------\n"
                  << tail << "\n---------- end of the operator log ----------\n";
      }
    }
    return TestEventListenerBase::assertionEnded(stats);
  }

 private:
  bool printed_ = false;
};

}  // namespace
}  // namespace updraft::operator_test

using updraft::operator_test::OperatorLogListener;
CATCH_REGISTER_LISTENER(OperatorLogListener)

namespace updraft::operator_test {

int freePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    if (fd >= 0) ::close(fd);
    throw std::runtime_error("freePort: socket/bind failed");
  }
  ::close(fd);
  return ntohs(addr.sin_port);
}

std::string updraftBinary() { return std::string(UPDRAFT_BINARY_DIR) + "/app/updraft"; }

std::string currentOperatorLogTail() {
  std::lock_guard lock(gOperatorsMutex);
  std::string out;
  for (const OperatorProcess* p : gOperators) out += p->logTail();
  return out;
}

// ---- OperatorProcess ----

OperatorProcess::OperatorProcess(const Cluster& cluster, std::vector<std::string> extraArgs) {
  // Three distinct free ports.
  std::set<int> ports;
  while (ports.size() < 3) ports.insert(freePort());
  auto it = ports.begin();
  metricsPort_ = *it++;
  webhookPort_ = *it++;
  healthPort_ = *it;
  std::vector<std::string> args = {updraftBinary(),     "operator",
                                   "--kubeconfig",      cluster.server.kubeconfig(),
                                   "--context",         "updraft-test",
                                   "--pod-namespace",   "updraft",
                                   "--bind-address",    "127.0.0.1",
                                   "--metrics-port",    std::to_string(metricsPort_),
                                   "--webhook-port",    std::to_string(webhookPort_),
                                   "--health-port",     std::to_string(healthPort_),
                                   "--prometheus-port", "0",
                                   "--cert-dir",        dir_.file("certs"),
                                   "--no-ca-patching"};
  args.insert(args.end(), extraArgs.begin(), extraArgs.end());
  process_.start(args, {{"WATCH_NAMESPACE", ""}}, dir_.file("operator.log"));
  std::lock_guard lock(gOperatorsMutex);
  gOperators.push_back(this);
}

OperatorProcess::~OperatorProcess() {
  {
    std::lock_guard lock(gOperatorsMutex);
    std::erase(gOperators, this);
  }
  stop();
}

void OperatorProcess::stop() { process_.stop(std::chrono::seconds(10)); }

bool OperatorProcess::waitReady(std::chrono::milliseconds timeout) {
  return kubetest_test::eventually(
             [&] {
               if (!process_.running()) return true;  // reported below
               httplib::Client c("127.0.0.1", healthPort_);
               c.set_connection_timeout(1);
               auto r = c.Get("/readyz");
               return r && r->status == 200;
             },
             timeout) &&
         process_.running();
}

std::string OperatorProcess::log() const {
  return kubetest_test::readFile(dir_.file("operator.log"));
}

std::string OperatorProcess::logTail(size_t max) const {
  return testing::fileTail(dir_.file("operator.log"), max);
}

Client OperatorProcess::metricsClient() const {
  return Client("https://127.0.0.1:" + std::to_string(metricsPort_), caFile(), "");
}

Client OperatorProcess::webhookClient() const {
  return Client("https://127.0.0.1:" + std::to_string(webhookPort_), caFile(), "");
}

// ---- KedaCluster ----

KedaCluster::KedaCluster() {
  const std::string dir = std::string(UPDRAFT_SOURCE_DIR) + "/deploy/crds";
  std::vector<std::string> files;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.path().extension() == ".yaml") files.push_back(entry.path().string());
  }
  REQUIRE(files.size() == 4);
  for (const std::string& file : files) {
    auto docs = yamlToJsonDocuments(kubetest_test::readFile(file), file);
    REQUIRE(docs.isOk());
    for (const YamlDocument& d : *docs) {
      if (d.value.value("kind", "") != "CustomResourceDefinition") continue;
      Response r = api().post("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", d.value);
      INFO(file << ": " << r.body);
      REQUIRE(r.code == 201);
    }
  }
  REQUIRE(cluster.createNamespace(kNs) == 201);
  REQUIRE(cluster.createNamespace("updraft") == 201);
}

json KedaCluster::get(const std::string& path) const {
  Response r = api().get(path);
  if (r.code == 404) return nullptr;
  INFO("GET " << path << ": " << r.code << " " << r.body);
  REQUIRE(r.code == 200);
  return r.json();
}

json KedaCluster::create(const std::string& collection, const json& body) const {
  Response r = api().post(collection, body);
  INFO("POST " << collection << ": " << r.code << " " << r.body);
  REQUIRE(r.code / 100 == 2);
  return r.json();
}

json KedaCluster::scaledObject(const std::string& name) const { return get(soPath(name)); }
json KedaCluster::hpa(const std::string& name) const { return get(hpaPath(name)); }
json KedaCluster::deployment(const std::string& name) const { return get(deploymentPath(name)); }

std::optional<int> KedaCluster::replicas(const std::string& deploymentName) const {
  json d = deployment(deploymentName);
  if (!d.is_object()) return std::nullopt;
  return d.value("/spec/replicas"_json_pointer, -1);
}

std::vector<json> KedaCluster::events(const std::string& scaledObjectName) const {
  json list = get(std::string("/api/v1/namespaces/") + kNs + "/events");
  std::vector<json> out;
  for (const json& e : list.value("items", json::array())) {
    const json& o = e.value("involvedObject", json::object());
    if (o.value("kind", "") == "ScaledObject" && o.value("name", "") == scaledObjectName &&
        o.value("namespace", "") == kNs) {
      out.push_back(e);
    }
  }
  return out;
}

bool KedaCluster::hasEvent(const std::string& scaledObjectName, const std::string& reason) const {
  for (const json& e : events(scaledObjectName)) {
    if (e.value("reason", "") == reason) return true;
  }
  return false;
}

size_t KedaCluster::requestCount(const std::string& method, const std::string& pathSuffix) const {
  json log = api().get("/_test/requests").json();
  size_t n = 0;
  for (const json& r : log.value("requests", json::array())) {
    const std::string path = r.value("path", "");
    if (r.value("method", "") == method && path.size() >= pathSuffix.size() &&
        path.compare(path.size() - pathSuffix.size(), pathSuffix.size(), pathSuffix) == 0) {
      ++n;
    }
  }
  return n;
}

std::string soPath(const std::string& name) {
  return std::string("/apis/keda.sh/v1alpha1/namespaces/") + kNs + "/scaledobjects" +
         (name.empty() ? "" : "/" + name);
}

std::string hpaPath(const std::string& name) {
  return std::string("/apis/autoscaling/v2/namespaces/") + kNs + "/horizontalpodautoscalers" +
         (name.empty() ? "" : "/" + name);
}

std::string deploymentPath(const std::string& name) {
  return std::string("/apis/apps/v1/namespaces/") + kNs + "/deployments" +
         (name.empty() ? "" : "/" + name);
}

json deploymentObject(const std::string& name, int replicas) {
  return {{"apiVersion", "apps/v1"},
          {"kind", "Deployment"},
          {"metadata", {{"name", name}, {"namespace", kNs}, {"labels", {{"app", name}}}}},
          {"spec",
           {{"replicas", replicas},
            {"selector", {{"matchLabels", {{"app", name}}}}},
            {"template",
             {{"metadata", {{"labels", {{"app", name}}}}},
              {"spec", {{"containers", {{{"name", "main"}, {"image", "busybox:1"}}}}}}}}}}};
}

json scaledObjectObject(const std::string& name, const std::string& target, json triggers) {
  return {{"apiVersion", "keda.sh/v1alpha1"},
          {"kind", "ScaledObject"},
          {"metadata", {{"name", name}, {"namespace", kNs}}},
          {"spec",
           {{"scaleTargetRef", {{"name", target}}},
            {"pollingInterval", 1},
            {"cooldownPeriod", 3},
            {"minReplicaCount", 0},
            {"maxReplicaCount", 5},
            {"triggers", std::move(triggers)}}}};
}

json metricsApiTrigger(const std::string& url, const std::string& targetValue,
                       const std::string& activation) {
  return {{"type", "metrics-api"},
          {"metadata",
           {{"url", url},
            {"valueLocation", "value"},
            {"targetValue", targetValue},
            {"activationTargetValue", activation}}}};
}

json condition(const json& so, const std::string& type) {
  if (!so.is_object()) return nullptr;
  for (const json& c : so.value("/status/conditions"_json_pointer, json::array())) {
    if (c.value("type", "") == type) return c;
  }
  return nullptr;
}

std::string conditionStatus(const json& so, const std::string& type) {
  json c = condition(so, type);
  return c.is_object() ? c.value("status", "") : "";
}

// ---- ValueServer ----

ValueServer::ValueServer() {
  server_.Get("/value", [this](const httplib::Request& req, httplib::Response& res) {
    ++valueRequests_;
    const std::string auth = req.get_header_value("Authorization");
    std::string token;
    {
      std::lock_guard lock(mutex_);
      authorizations_.push_back(auth);
      token = token_;
    }
    if (!token.empty() && auth != "Bearer " + token) {
      ++unauthorized_;
      res.status = 401;
      res.set_content(R"({"error":"unauthorized"})", "application/json");
      return;
    }
    res.set_content(json{{"value", value_.load()}}.dump(), "application/json");
  });
  server_.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    char text[256];
    std::snprintf(text, sizeof text,
                  "# TYPE updraft_test_queue_length gauge\nupdraft_test_queue_length %.6f\n",
                  value_.load());
    res.set_content(text, "text/plain; version=0.0.4");
  });
  port_ = server_.bind_to_any_port("127.0.0.1");
  if (port_ <= 0) throw std::runtime_error("ValueServer: bind failed");
  thread_ = std::thread([this] { server_.listen_after_bind(); });
  for (int i = 0; i < 500 && !server_.is_running(); ++i) std::this_thread::sleep_for(2ms);
}

ValueServer::~ValueServer() {
  server_.stop();
  if (thread_.joinable()) thread_.join();
}

}  // namespace updraft::operator_test
