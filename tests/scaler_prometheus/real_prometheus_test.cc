// The prometheus trigger against the real Prometheus server from Debian's package (2.42), scraping
// a gauge this test serves. The server runs in a temporary directory on a free port and is stopped
// by a destructor (and killed with the test process through PR_SET_PDEATHSIG), so nothing is left
// running even when a check fails.
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "prom_test_util.h"

using namespace updraft;
using updraft::testing::closedPort;
using updraft::testing::LiveScaler;
using updraft::testing::promConfig;
using updraft::testing::requireLive;
using updraft::testing::TestServer;

namespace {

using Steady = std::chrono::steady_clock;

// The prometheus binary (scripts/setup.sh installs Debian's package), or "". UPDRAFT_PROMETHEUS_BIN
// names another one (and only that one).
std::string findPrometheus() {
  std::vector<std::string> candidates;
  if (const char* bin = std::getenv("UPDRAFT_PROMETHEUS_BIN"); bin && *bin) {
    candidates.push_back(bin);
  } else {
    candidates.push_back("/usr/bin/prometheus");
    if (const char* path = std::getenv("PATH")) {
      std::stringstream ss(path);
      std::string dir;
      while (std::getline(ss, dir, ':')) {
        if (!dir.empty()) candidates.push_back(dir + "/prometheus");
      }
    }
  }
  for (const auto& c : candidates) {
    if (::access(c.c_str(), X_OK) == 0) return c;
  }
  return "";
}

// A Prometheus server in a temporary directory. Stopped (and the directory removed) on
// destruction.
class PrometheusServer {
 public:
  PrometheusServer(std::string binary, int scrapePort)
      : binary_(std::move(binary)), port_(closedPort()) {
    char tmpl[] = "/tmp/updraft-prometheus-test-XXXXXX";
    if (!::mkdtemp(tmpl)) throw std::runtime_error("mkdtemp failed");
    dir_ = tmpl;
    std::ofstream config(dir_ + "/prometheus.yml");
    config << "global:\n"
              "  scrape_interval: 1s\n"
              "  scrape_timeout: 1s\n"
              "  evaluation_interval: 1s\n"
              "scrape_configs:\n"
              "  - job_name: updraft-test\n"
              "    static_configs:\n"
              "      - targets: ['127.0.0.1:"
           << scrapePort << "']\n";
  }
  ~PrometheusServer() {
    stop();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  PrometheusServer(const PrometheusServer&) = delete;
  PrometheusServer& operator=(const PrometheusServer&) = delete;

  int port() const { return port_; }
  std::string address() const { return "http://127.0.0.1:" + std::to_string(port_); }

  void start() {
    REQUIRE(pid_ <= 0);
    const std::vector<std::string> args = {
        binary_,
        "--config.file=" + dir_ + "/prometheus.yml",
        "--storage.tsdb.path=" + dir_ + "/data",
        "--web.listen-address=127.0.0.1:" + std::to_string(port_),
        "--log.level=warn",
    };
    std::vector<char*> argv;
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    const std::string log = dir_ + "/prometheus.log";
    const pid_t parent = ::getpid();
    pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      // Only async-signal-safe calls until exec.
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != parent) ::_exit(1);
      int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      if (fd >= 0) {
        ::dup2(fd, 1);
        ::dup2(fd, 2);
        ::close(fd);
      }
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    pid_ = pid;
  }

  void stop() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    const auto until = Steady::now() + std::chrono::seconds(10);
    int status = 0;
    while (::waitpid(pid_, &status, WNOHANG) == 0) {
      if (Steady::now() > until) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, &status, 0);
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    pid_ = -1;
  }

  // Polls /-/ready until it answers 200.
  bool waitReady(std::chrono::milliseconds timeout) {
    const auto until = Steady::now() + timeout;
    httplib::Client client("127.0.0.1", port_);
    client.set_connection_timeout(0, 200000);
    client.set_read_timeout(1, 0);
    while (Steady::now() < until) {
      int status = 0;
      if (pid_ > 0 && ::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return false;  // exited
      }
      if (auto res = client.Get("/-/ready"); res && res->status == 200) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
  }

  std::string logTail() const {
    std::ifstream in(dir_ + "/prometheus.log");
    std::stringstream ss;
    ss << in.rdbuf();
    std::string s = ss.str();
    return s.size() > 3000 ? s.substr(s.size() - 3000) : s;
  }

 private:
  std::string binary_;
  int port_;
  std::string dir_;
  pid_t pid_ = -1;
};

// A /metrics endpoint with gauges the test sets.
class MetricsTarget {
 public:
  MetricsTarget() {
    server_.server().Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
      std::lock_guard lock(mutex_);
      res.set_content(
          "# TYPE updraft_test_gauge gauge\n"
          "updraft_test_gauge{kind=\"value\"} " +
              value_ +
              "\n"
              "updraft_test_gauge{kind=\"nan\"} NaN\n"
              "updraft_test_gauge{kind=\"inf\"} +Inf\n"
              "# TYPE updraft_test_multi gauge\n"
              "updraft_test_multi{instance_id=\"a\"} 1\n"
              "updraft_test_multi{instance_id=\"b\"} 2\n",
          "text/plain; version=0.0.4");
    });
    server_.start();
  }
  void set(const std::string& value) {
    std::lock_guard lock(mutex_);
    value_ = value;
  }
  int port() const { return server_.port(); }

 private:
  TestServer server_;
  std::mutex mutex_;
  std::string value_ = "7";
};

// Polls until the scaler reports `want` (errors and other values count as "not yet").
bool eventually(LiveScaler& live, double want, std::chrono::seconds timeout, std::string& last) {
  const auto until = Steady::now() + timeout;
  while (Steady::now() < until) {
    auto r = live.poll(Millis(2000));
    if (r.isOk() && r->metrics.at(0).value == want) return true;
    last = r.isOk() ? "value " + std::to_string(r->metrics.at(0).value) : r.status().message();
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  return false;
}

StringMap trigger(const std::string& address, const std::string& query, StringMap extra = {}) {
  StringMap m = {{"serverAddress", address}, {"query", query}, {"threshold", "10"}};
  for (auto& [k, v] : extra) m[k] = v;
  return m;
}

}  // namespace

TEST_CASE("prometheus: against a real Prometheus server") {
  const std::string binary = findPrometheus();
  if (binary.empty()) FAIL("prometheus not found: run scripts/setup.sh");

  MetricsTarget target;
  PrometheusServer prometheus(binary, target.port());
  std::string last;  // the last poll's outcome while waiting
  auto require = [&](bool ok, const std::string& what) {
    if (!ok) FAIL(what << "\nlast poll: " << last << "\nprometheus log:\n" << prometheus.logTail());
  };
  prometheus.start();
  require(prometheus.waitReady(std::chrono::seconds(30)), "prometheus did not become ready");
  const std::string address = prometheus.address();

  // The first scrape lands a few seconds after start (targets are applied on a ~5 s tick).
  auto gauge = requireLive(promConfig(
      trigger(address, "updraft_test_gauge{kind=\"value\"}",
              {{"ignoreNullValues", "false"}, {"activationThreshold", "10"}, {"timeout", "2s"}})));
  require(eventually(gauge, 7, std::chrono::seconds(40), last), "no first sample");
  auto r = gauge.poll();
  REQUIRE(r.isOk());
  CHECK_FALSE(r->isActive);  // 7 <= activationThreshold 10

  target.set("42.5");
  require(eventually(gauge, 42.5, std::chrono::seconds(15), last), "the new value");
  r = gauge.poll();
  REQUIRE(r.isOk());
  CHECK(r->isActive);
  CHECK(r->metrics[0].metricName == "s0-prometheus");

  // An aggregation over the gauge, with a query parameter Prometheus understands.
  auto summed = requireLive(promConfig(
      trigger(address, "sum(updraft_test_multi) + 0 * sum(updraft_test_gauge{kind=\"value\"})",
              {{"queryParameters", "timeout=5s"}})));
  CHECK(summed.value() == 3);

  // A missing series: an empty vector.
  auto missing = requireLive(promConfig(trigger(address, "updraft_no_such_series")));
  CHECK(missing.value() == 0);  // ignoreNullValues defaults to true
  auto missingStrict = requireLive(
      promConfig(trigger(address, "updraft_no_such_series", {{"ignoreNullValues", "false"}})));
  CHECK_THAT(missingStrict.error(),
             Catch::EndsWith("prometheus metrics 'prometheus' target may be lost, the result is "
                             "empty"));

  // NaN and +Inf samples, and NaN computed by PromQL.
  auto nan = requireLive(promConfig(trigger(address, "updraft_test_gauge{kind=\"nan\"}")));
  CHECK(nan.value() == 0);
  auto nanStrict = requireLive(promConfig(
      trigger(address, "updraft_test_gauge{kind=\"nan\"}", {{"ignoreNullValues", "false"}})));
  CHECK(nanStrict.error() == "prometheus " + address +
                                 " query \"updraft_test_gauge{kind=\\\"nan\\\"}\": prometheus "
                                 "query returns NaN");
  auto infStrict = requireLive(promConfig(
      trigger(address, "updraft_test_gauge{kind=\"inf\"}", {{"ignoreNullValues", "false"}})));
  CHECK_THAT(infStrict.error(), Catch::EndsWith("prometheus query returns +Inf"));
  auto computedNan =
      requireLive(promConfig(trigger(address, "vector(0/0)", {{"ignoreNullValues", "false"}})));
  CHECK_THAT(computedNan.error(), Catch::EndsWith("prometheus query returns NaN"));

  // Two series.
  auto multi = requireLive(promConfig(trigger(address, "updraft_test_multi")));
  CHECK_THAT(multi.error(), Catch::Contains("query \"updraft_test_multi\": returned multiple "
                                            "elements (2 series"));

  // A scalar result (KEDA fails to decode it) and a PromQL syntax error (HTTP 400).
  auto scalar = requireLive(promConfig(trigger(address, "scalar(sum(updraft_test_multi))")));
  CHECK_THAT(scalar.error(), Catch::Contains("resultType \"scalar\""));
  auto syntax = requireLive(promConfig(trigger(address, "sum(")));
  CHECK_THAT(syntax.error(), Catch::Contains("prometheus query api returned error. status: 400 "
                                             "(bad_data: "));

  // The server goes away: a clear error naming it; then it comes back on the same port.
  prometheus.stop();
  auto down = gauge.poll();
  REQUIRE_FALSE(down.isOk());
  CHECK(down.status().code() == StatusCode::kUnavailable);
  CHECK(down.status().message() == "prometheus " + address +
                                       " query \"updraft_test_gauge{kind=\\\"value\\\"}\": "
                                       "connection refused");
  prometheus.start();
  require(prometheus.waitReady(std::chrono::seconds(30)), "prometheus did not restart");
  // The samples are in the TSDB (WAL), so the same scaler recovers at once.
  require(eventually(gauge, 42.5, std::chrono::seconds(20), last), "recovery after restart");
  target.set("3");
  require(eventually(gauge, 3, std::chrono::seconds(20), last), "scraping after restart");
}
