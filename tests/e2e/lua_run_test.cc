// `updraft run` with a Lua scaler from a file next to the manifest: the file is edited while
// running; a good version takes over, a bad one is refused (logged, counted in /metrics) and the
// old one keeps scaling.
#include <arpa/inet.h>
#include <httplib.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "e2e/cli_support.h"

using namespace updraft::e2e;
using namespace std::chrono_literals;

namespace {

// Waits for a status line whose first metric value is `value`.
nlohmann::json waitForValue(Child& child, double value, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    std::string line = child.waitForLine("\"metrics\"", left);
    if (line.empty()) break;
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_object() && j.contains("metrics") && !j["metrics"].empty() &&
        j["metrics"][0].contains("value") && j["metrics"][0]["value"] == value) {
      return j;
    }
  }
  return nullptr;
}

}  // namespace

TEST_CASE("run hot-reloads a Lua scaler file and keeps the old version when the new one is bad") {
  TempDir dir;
  const int listenPort = freeLocalPort();
  const std::string script = dir.write("depth.lua",
                                       "function getMetric(ctx)\n"
                                       "  return tonumber(ctx.metadata.base) + 5\n"
                                       "end\n");
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
  name: lua-workers
spec:
  scaleTargetRef:
    name: workers
  pollingInterval: 1
  cooldownPeriod: 3
  maxReplicaCount: 10
  triggers:
    - type: lua
      name: depth
      metadata:
        scriptFile: depth.lua
        base: "20"
        targetValue: "10"
)");
  // Started from another directory: scriptFile is relative to the manifest, not the cwd.
  Child run({updraftBinary(), "run", file, "--log-format", "json", "--hpa-sync", "1", "--listen",
             "127.0.0.1:" + std::to_string(listenPort)});

  auto first = waitForValue(run, 25, 20s);
  INFO(run.output());
  REQUIRE(first != nullptr);

  replaceFile(script,
              "function getMetric(ctx)\n"
              "  return tonumber(ctx.metadata.base) * 2\n"
              "end\n");
  auto second = waitForValue(run, 40, 10s);
  REQUIRE(second != nullptr);
  CHECK(run.output().find("reloaded") != std::string::npos);

  replaceFile(script,
              "function getMetric(ctx)\n"
              "  return tonumber(ctx.metadata.base) *\n"
              "end\n");
  REQUIRE_FALSE(run.waitForLine("depth.lua:3:", 10s).empty());
  // The old version keeps scaling: values stay 40 after the refusal.
  auto still = waitForValue(run, 40, 10s);
  REQUIRE(still != nullptr);

  httplib::Client client("127.0.0.1", listenPort);
  auto metrics = client.Get("/metrics");
  REQUIRE(metrics);
  CHECK(metrics->body.find("updraft_lua_script_reload_error{script=\"file " + script + "\"} 1") !=
        std::string::npos);
  CHECK(metrics->body.find("result=\"failure\"") != std::string::npos);

  run.signal(SIGTERM);
  CHECK(run.wait(20s) == 0);
}

TEST_CASE("run refuses a Lua ConfigMap script (needs a cluster)") {
  TempDir dir;
  auto file = dir.write("run.yaml", R"(apiVersion: updraft.dev/v1alpha1
kind: ProcessPool
metadata: {name: workers}
spec: {command: ["sleep", "1000"]}
---
apiVersion: keda.sh/v1alpha1
kind: ScaledObject
metadata: {name: lua-workers}
spec:
  scaleTargetRef: {name: workers}
  triggers:
    - type: lua
      metadata: {scriptConfigMap: scripts, targetValue: "10"}
)");
  auto r = runCommand({updraftBinary(), "run", file, "--duration", "5"});
  CHECK(r.exitCode != 0);
  CHECK(r.err.find("scriptConfigMap: ConfigMaps need a cluster") != std::string::npos);
}
