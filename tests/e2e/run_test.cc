// `updraft run` end to end: a ProcessPool scaled from 0 up and back to 0 by a metrics-api trigger
// against a local HTTP server; /metrics and /healthz; clean stop with nothing left running.
#include <arpa/inet.h>
#include <httplib.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "e2e/cli_support.h"

using namespace updraft::e2e;
using namespace std::chrono_literals;

namespace {

// A metrics endpoint whose value the test sets.
class DepthServer {
 public:
  DepthServer() {
    server_.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
      res.set_content("{\"queue\": {\"depth\": " + std::to_string(depth.load()) + "}}",
                      "application/json");
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
  }
  ~DepthServer() {
    server_.stop();
    thread_.join();
  }
  int port() const { return port_; }
  std::atomic<int> depth{0};

 private:
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
};

// Waits for a JSON status line of `object` whose replicas satisfy `pred`.
nlohmann::json waitForReplicas(Child& child, const std::function<bool(int)>& pred,
                               std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    std::string line = child.waitForLine("\"replicas\"", left);
    if (line.empty()) break;
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_object() && j.contains("replicas") && pred(j["replicas"].get<int>())) return j;
  }
  return nullptr;
}

}  // namespace

TEST_CASE("run scales a ProcessPool from zero by a metrics-api trigger and back to zero") {
  DepthServer source;
  TempDir dir;
  const int listenPort = freeLocalPort();
  auto file = dir.write("run.yaml", R"(apiVersion: updraft.dev/v1alpha1
kind: ProcessPool
metadata:
  name: workers
spec:
  command: ["sleep", "1000"]
  gracePeriodSeconds: 1
---
apiVersion: keda.sh/v1alpha1
kind: ScaledObject
metadata:
  name: queue-workers
spec:
  scaleTargetRef:
    name: workers
  pollingInterval: 1
  cooldownPeriod: 3
  maxReplicaCount: 5
  triggers:
    - type: metrics-api
      name: depth
      metadata:
        url: http://127.0.0.1:)" + std::to_string(source.port()) +
                                        R"(/metrics
        valueLocation: queue.depth
        targetValue: "10"
)");
  const std::string chart = dir.path() + "/run.svg";
  Child run({updraftBinary(), "run", file, "--log-format", "json", "--hpa-sync", "1", "--listen",
             "127.0.0.1:" + std::to_string(listenPort), "--plot", chart});

  auto idle = waitForReplicas(
      run, [](int r) { return r == 0; }, 20s);
  INFO(run.output());
  REQUIRE(idle != nullptr);
  CHECK(countChildren(run.pid()) == 0);

  source.depth = 35;  // ceil(35/10) = 4 workers
  auto up = waitForReplicas(
      run, [](int r) { return r == 4; }, 30s);
  REQUIRE(up != nullptr);
  CHECK(up["active"] == true);
  CHECK(up["metrics"][0]["value"] == 35);

  // Four `sleep` members run as children of updraft.
  int children = 0;
  for (int i = 0; i < 50 && children != 4; ++i) {
    children = countChildren(run.pid());
    std::this_thread::sleep_for(100ms);
  }
  CHECK(children == 4);

  httplib::Client client("127.0.0.1", listenPort);
  auto metrics = client.Get("/metrics");
  REQUIRE(metrics);
  CHECK(metrics->status == 200);
  CHECK(metrics->body.find("keda_scaler_metrics_value{") != std::string::npos);
  CHECK(metrics->body.find("scaledObject=\"queue-workers\"") != std::string::npos);
  CHECK(metrics->body.find("keda_scaler_active{") != std::string::npos);
  auto health = client.Get("/healthz");
  REQUIRE(health);
  CHECK(health->status == 200);

  source.depth = 0;  // inactive: after the 3 s cooldown KEDA's executor scales to zero
  auto down = waitForReplicas(
      run, [](int r) { return r == 0; }, 40s);
  REQUIRE(down != nullptr);
  CHECK(run.output().find("KEDAScaleTargetDeactivated") != std::string::npos);
  CHECK(run.output().find("KEDAScaleTargetActivated") != std::string::npos);

  source.depth = 12;  // back up, then stop with SIGTERM while members run
  REQUIRE(waitForReplicas(
              run, [](int r) { return r >= 1; }, 30s) != nullptr);
  run.signal(SIGTERM);
  CHECK(run.wait(20s) == 0);
  CHECK(run.output().find("no process left running") != std::string::npos);
  std::ifstream svg(chart);
  std::stringstream content;
  content << svg.rdbuf();
  CHECK(content.str().find("<svg") != std::string::npos);
  CHECK(content.str().find("depth (s0-metric-api-queue-depth)") != std::string::npos);
}

TEST_CASE("run reports bad files before starting anything") {
  TempDir dir;
  auto missingPool = dir.write("so.yaml", R"(apiVersion: keda.sh/v1alpha1
kind: ScaledObject
metadata:
  name: so
spec:
  scaleTargetRef:
    name: nowhere
  triggers:
    - type: metrics-api
      metadata:
        url: http://127.0.0.1:1/
        valueLocation: x
        targetValue: "1"
)");
  auto r = runCommand({updraftBinary(), "run", missingPool, "--duration", "5"});
  CHECK(r.exitCode == 1);
  CHECK(r.err.find("\"nowhere\" names no ProcessPool") != std::string::npos);

  auto badMeta = dir.write("bad.yaml", R"(apiVersion: keda.sh/v1alpha1
kind: ScaledObject
metadata:
  name: so
spec:
  scaleTargetRef:
    name: w
  triggers:
    - type: metrics-api
      metadata:
        url: http://127.0.0.1:1/
        valueLocation: x
        targetValue: "lots"
)");
  r = runCommand({updraftBinary(), "run", badMeta, "--duration", "5"});
  CHECK(r.exitCode == 1);
  CHECK(r.err.find("targetValue") != std::string::npos);
  CHECK(r.err.find("nothing was started") != std::string::npos);

  r = runCommand({updraftBinary(), "run", dir.path() + "/absent.yaml"});
  CHECK(r.exitCode == 1);
  CHECK(r.err.find("absent.yaml") != std::string::npos);
}

TEST_CASE("run creates one local process per event for a ScaledJob") {
  DepthServer source;
  TempDir dir;
  auto file = dir.write("sj.yaml", R"(apiVersion: keda.sh/v1alpha1
kind: ScaledJob
metadata:
  name: batch
spec:
  pollingInterval: 1
  maxReplicaCount: 10
  jobTargetRef:
    template:
      spec:
        containers:
          - name: work
            image: busybox
            command: ["sh", "-c"]
            args: ["echo job $UPDRAFT_JOB done"]
  triggers:
    - type: metrics-api
      metadata:
        url: http://127.0.0.1:)" + std::to_string(source.port()) +
                                       R"(/metrics
        valueLocation: queue.depth
        targetValue: "1"
)");
  source.depth = 3;
  Child run({updraftBinary(), "run", file, "--log-format", "json"});
  REQUIRE_FALSE(run.waitForLine("Created 3 jobs", 20s).empty());
  int done = 0;
  for (int i = 0; i < 3; ++i) {
    if (!run.waitForLine("done", 20s).empty()) ++done;
  }
  CHECK(done == 3);
  source.depth = 0;
  run.signal(SIGINT);
  CHECK(run.wait(20s) == 0);
  CHECK(countChildren(run.pid()) == 0);
}
