#include "operator_ha/operator_ha_support.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <exception>
#include <filesystem>
#include <iostream>
#include <sstream>
#include <stdexcept>

#include "updraft/parse.h"

extern char** environ;

namespace updraft::operator_ha_test {

using kubetest_test::eventually;
using kubetest_test::readFile;

std::string updraftBinary() { return std::string(UPDRAFT_BINARY_DIR) + "/app/updraft"; }

int freePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  socklen_t len = sizeof addr;
  REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
  ::close(fd);
  return ntohs(addr.sin_port);
}

// ---------------------------------------------------------------------------------------------
// ApiServer

ApiServer::ApiServer(bool withCrds) : stateFile_(dir_.path() + "/state.json") {
  start();
  const std::string& url = server_->url();
  port_ = std::stoi(url.substr(url.rfind(':') + 1));
  for (const char* ns : {kNs, kPodNs}) {
    auto r = api_->post("/api/v1/namespaces", {{"metadata", {{"name", ns}}}});
    REQUIRE(r.code == 201);
  }
  if (withCrds) installCrds();
}

ApiServer::~ApiServer() { stop(); }

void ApiServer::start() {
  std::vector<std::string> args = {"--state-file", stateFile_};
  if (port_) {
    args.push_back("--port");  // the last --port wins over ServerProcess's "--port 0"
    args.push_back(std::to_string(port_));
  }
  // The port was just freed by the previous server: retry while it is not bindable yet.
  for (int attempt = 0;; ++attempt) {
    try {
      server_ = std::make_unique<ServerProcess>(dir_.path(), args);
      break;
    } catch (const std::exception&) {
      if (attempt >= 20) throw;
      std::this_thread::sleep_for(100ms);
    }
  }
  api_ = std::make_unique<Client>(server_->url(), server_->caFile());
}

void ApiServer::stop() {
  if (server_) server_->stop();
}

void ApiServer::restart() {
  REQUIRE(server_->stop() == 0);
  start();
}

void ApiServer::installCrds() const {
  const std::string dir = std::string(UPDRAFT_SOURCE_DIR) + "/deploy/crds";
  int installed = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.path().extension() != ".yaml") continue;
    auto docs = yamlToJsonDocuments(readFile(entry.path().string()), entry.path().string());
    REQUIRE(docs.isOk());
    for (const auto& d : *docs) {
      auto r = api_->post("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", d.value);
      INFO(entry.path().string() << ": " << r.body);
      REQUIRE(r.code == 201);
      ++installed;
    }
  }
  REQUIRE(installed == 4);
}

// ---------------------------------------------------------------------------------------------
// OperatorProcess

namespace {

int decodeStatus(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

}  // namespace

OperatorProcess::OperatorProcess(const ApiServer& server, std::string name,
                                 std::vector<std::string> extraArgs, bool prometheus)
    : name_(std::move(name)) {
  logFile_ = server.dir() + "/" + name_ + ".log";
  healthPort_ = freePort();
  prometheusPort_ = prometheus ? freePort() : 0;
  std::vector<std::string> args = {updraftBinary(),     "operator",
                                   "--kubeconfig",      server.kubeconfig(),
                                   "--bind-address",    "127.0.0.1",
                                   "--metrics-port",    "0",
                                   "--webhook-port",    "0",
                                   "--prometheus-port", std::to_string(prometheusPort_),
                                   "--health-port",     std::to_string(healthPort_),
                                   "--cert-dir",        server.dir() + "/" + name_ + "-certs",
                                   "--pod-namespace",   kPodNs,
                                   "--no-ca-patching"};
  args.insert(args.end(), extraArgs.begin(), extraArgs.end());
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  int fd = ::open(logFile_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  REQUIRE(fd >= 0);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, fd, 1);
  posix_spawn_file_actions_adddup2(&fa, fd, 2);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  const int rc = posix_spawn(&pid_, argv[0], &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  ::close(fd);
  REQUIRE(rc == 0);
}

OperatorProcess::~OperatorProcess() {
  if (std::uncaught_exceptions() > 0) {
    std::cerr << "---- updraft operator " << name_ << " (pid " << pid_ << "), last lines of "
              << logFile_ << ":\n"
              << logTail() << "---- end of " << name_ << "\n";
  }
  if (running()) {
    ::kill(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
  }
}

bool OperatorProcess::running() {
  if (exitCode_ >= 0 || pid_ <= 0) return false;
  int status = 0;
  if (::waitpid(pid_, &status, WNOHANG) == pid_) {
    exitCode_ = decodeStatus(status);
    return false;
  }
  return true;
}

void OperatorProcess::signal(int sig) {
  if (running()) ::kill(pid_, sig);
}

int OperatorProcess::wait(std::chrono::milliseconds timeout) {
  eventually([&] { return !running(); }, timeout);
  return exitCode_;
}

std::string OperatorProcess::log() const { return readFile(logFile_); }

std::string OperatorProcess::logTail(size_t lines) const {
  const std::string text = log();
  size_t pos = text.size();
  // Skip a final newline, then step back over `lines` line breaks.
  if (pos > 0 && text[pos - 1] == '\n') --pos;
  for (size_t n = 0; n < lines && pos > 0; ++n) {
    const size_t nl = text.rfind('\n', pos - 1);
    pos = nl == std::string::npos ? 0 : nl;
  }
  return text.substr(pos == 0 ? 0 : pos + 1);
}

std::pair<int, std::string> OperatorProcess::health(const std::string& path) const {
  httplib::Client c("127.0.0.1", healthPort_);
  c.set_connection_timeout(1, 0);
  c.set_read_timeout(2, 0);
  auto r = c.Get(path);
  if (!r) return {0, ""};
  return {r->status, r->body};
}

std::string OperatorProcess::prometheusText() const {
  httplib::Client c("127.0.0.1", prometheusPort_);
  c.set_connection_timeout(1, 0);
  c.set_read_timeout(2, 0);
  auto r = c.Get("/metrics");
  return r && r->status == 200 ? r->body : std::string();
}

bool OperatorProcess::waitReady(std::chrono::milliseconds timeout) const {
  return eventually([&] { return health("/readyz").first == 200; }, timeout);
}

// ---------------------------------------------------------------------------------------------
// MetricSource

MetricSource::MetricSource() {
  server_.Get(R"(/metric/([A-Za-z0-9_-]+))",
              [this](const httplib::Request& req, httplib::Response& res) {
                const std::string name = req.matches[1];
                double v = 0;
                {
                  std::lock_guard lock(mutex_);
                  v = values_[name];
                  ++requests_[name];
                }
                res.set_content(json{{"value", v}}.dump(), "application/json");
              });
  port_ = server_.bind_to_any_port("127.0.0.1");
  REQUIRE(port_ > 0);
  thread_ = std::thread([this] { server_.listen_after_bind(); });
}

MetricSource::~MetricSource() {
  server_.stop();
  if (thread_.joinable()) thread_.join();
}

void MetricSource::set(const std::string& name, double value) {
  std::lock_guard lock(mutex_);
  values_[name] = value;
}

std::string MetricSource::url(const std::string& name) const {
  return "http://127.0.0.1:" + std::to_string(port_) + "/metric/" + name;
}

int MetricSource::requests(const std::string& name) const {
  std::lock_guard lock(mutex_);
  auto it = requests_.find(name);
  return it == requests_.end() ? 0 : it->second;
}

// ---------------------------------------------------------------------------------------------
// Objects

std::string deploymentsPath(const std::string& ns) {
  return "/apis/apps/v1/namespaces/" + ns + "/deployments";
}
std::string scaledObjectsPath(const std::string& ns) {
  return "/apis/keda.sh/v1alpha1/namespaces/" + ns + "/scaledobjects";
}
std::string scaledJobsPath(const std::string& ns) {
  return "/apis/keda.sh/v1alpha1/namespaces/" + ns + "/scaledjobs";
}
std::string jobsPath(const std::string& ns) { return "/apis/batch/v1/namespaces/" + ns + "/jobs"; }
std::string hpasPath(const std::string& ns) {
  return "/apis/autoscaling/v2/namespaces/" + ns + "/horizontalpodautoscalers";
}
std::string configMapsPath(const std::string& ns) {
  return "/api/v1/namespaces/" + ns + "/configmaps";
}
std::string leasePath() {
  return std::string("/apis/coordination.k8s.io/v1/namespaces/") + kPodNs + "/leases/" + kLeaseName;
}

json scaledObject(const std::string& name, const json& trigger) {
  return {{"apiVersion", "keda.sh/v1alpha1"},
          {"kind", "ScaledObject"},
          {"metadata", {{"name", name}, {"namespace", kNs}}},
          {"spec",
           {{"scaleTargetRef", {{"name", name}}},
            {"minReplicaCount", 0},
            {"maxReplicaCount", 5},
            {"pollingInterval", 1},
            {"cooldownPeriod", 3},
            {"triggers", json::array({trigger})}}}};
}

json metricsApiTrigger(const std::string& url, const std::string& target) {
  return {{"type", "metrics-api"},
          {"metadata", {{"url", url}, {"valueLocation", "value"}, {"targetValue", target}}}};
}

void create(const Client& api, const std::string& collection, const json& object) {
  auto r = api.post(collection, object);
  INFO("POST " << collection << ": " << r.code << " " << r.body);
  REQUIRE(r.code == 201);
}

std::optional<json> get(const Client& api, const std::string& path) {
  auto r = api.get(path);
  if (r.code == 404) return std::nullopt;
  INFO("GET " << path << ": " << r.code << " " << r.body);
  REQUIRE(r.code == 200);
  return r.json();
}

int replicas(const Client& api, const std::string& name) {
  auto d = get(api, deploymentsPath() + "/" + name);
  if (!d) return -1;
  return d->value("/spec/replicas"_json_pointer, -1);
}

std::vector<json> list(const Client& api, const std::string& pathAndQuery) {
  auto r = api.get(pathAndQuery);
  INFO("GET " << pathAndQuery << ": " << r.code << " " << r.body);
  REQUIRE(r.code == 200);
  return r.json().value("items", std::vector<json>{});
}

std::string leaseHolder(const Client& api) {
  auto r = api.get(leasePath());
  if (r.code != 200) return "";
  return r.json().value("/spec/holderIdentity"_json_pointer, std::string());
}

bool hasCondition(const json& object, const std::string& type, const std::string& status) {
  for (const auto& c : object.value("/status/conditions"_json_pointer, json::array())) {
    if (c.value("type", "") == type && c.value("status", "") == status) return true;
  }
  return false;
}

}  // namespace updraft::operator_ha_test
