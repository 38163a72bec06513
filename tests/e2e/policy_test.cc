// Lua scaling policies end to end: `updraft simulate` runs the example step policy
// (examples/lua/step-policy.lua) and the CSV shows its rules held; --policy overrides it;
// `validate` reports bad policy scripts at their annotation; `updraft run` scales a ProcessPool
// through a policy file that is edited while running.
#include <signal.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "e2e/cli_support.h"

using namespace updraft::e2e;
using namespace std::chrono_literals;

namespace {

const std::string kExamples = std::string(UPDRAFT_SOURCE_DIR) + "/examples/lua";

struct Row {
  double time = 0;
  std::string event;
  int replicas = 0;
  std::string decision;
};

// The CSV of `updraft simulate` (time,event,replicas,active,<trigger>...,decision).
std::vector<Row> parseRows(const std::string& csv) {
  std::vector<Row> rows;
  std::istringstream in(csv);
  std::string line;
  std::getline(in, line);  // header
  while (std::getline(in, line)) {
    std::vector<std::string> cells;
    std::string cell;
    std::istringstream ls(line);
    for (int i = 0; i < 5 && std::getline(ls, cell, ','); ++i) cells.push_back(cell);
    std::string rest;
    std::getline(ls, rest);
    if (cells.size() < 5) continue;
    rows.push_back({std::stod(cells[0]), cells[1], std::stoi(cells[2]), rest});
  }
  return rows;
}

// The example's step rules: an increase of at most 4 within any 60 s, decreases at least 300 s
// apart. Returns a description of the first violation, or "".
std::string stepRuleViolation(const std::vector<Row>& rows) {
  for (size_t i = 0; i < rows.size(); ++i) {
    for (size_t j = i + 1; j < rows.size() && rows[j].time - rows[i].time < 60; ++j) {
      if (rows[j].replicas - rows[i].replicas > 4) {
        return "increase from " + std::to_string(rows[i].replicas) + " at " +
               std::to_string(rows[i].time) + " to " + std::to_string(rows[j].replicas) + " at " +
               std::to_string(rows[j].time);
      }
    }
  }
  double lastDecrease = -1e9;
  for (size_t i = 1; i < rows.size(); ++i) {
    if (rows[i].replicas < rows[i - 1].replicas) {
      if (rows[i].time - lastDecrease < 300) {
        return "decreases at " + std::to_string(lastDecrease) + " and " +
               std::to_string(rows[i].time);
      }
      lastDecrease = rows[i].time;
    }
  }
  return "";
}

CommandResult simulateExample(const std::vector<std::string>& extra) {
  std::vector<std::string> argv = {updraftBinary(), "simulate",
                                   kExamples + "/policy-scaledobject.yaml", "--trace",
                                   kExamples + "/policy-trace.csv"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  return runCommand(argv);
}

// Waits for a JSON status line satisfying `pred`.
nlohmann::json waitForStatus(Child& child, const std::function<bool(const nlohmann::json&)>& pred,
                             std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    std::string line = child.waitForLine("\"replicas\"", left);
    if (line.empty()) break;
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_object() && j.contains("replicas") && pred(j)) return j;
  }
  return nullptr;
}

}  // namespace

TEST_CASE("simulate runs the example step policy: steps, cooldowns and the business-hours min") {
  // Monday 2026-03-02, 07:30 in Paris: business hours start at t = 1800.
  auto r = simulateExample({"--start", "2026-03-02T07:30:00+01:00"});
  INFO(r.err);
  REQUIRE(r.exitCode == 0);
  auto rows = parseRows(r.out);
  REQUIRE(rows.size() > 100);
  CHECK(stepRuleViolation(rows) == "");

  int maxReplicas = 0;
  double firstAtMax = -1;
  bool policyShown = false;
  for (const Row& row : rows) {
    INFO("t=" << row.time << " " << row.event << " replicas " << row.replicas << " "
              << row.decision);
    if (row.time < 1800) CHECK(row.replicas == 0);  // before 08:00 and no load: nothing runs
    if (row.time > 1800 || (row.time == 1800 && row.event == "hpa")) CHECK(row.replicas >= 2);
    if (row.replicas > maxReplicas) {
      maxReplicas = row.replicas;
      firstAtMax = row.time;
    }
    if (row.decision.find("policy: ") != std::string::npos) policyShown = true;
  }
  // The burst of 250 at t=2400 (target 10) reaches 25 replicas in steps: 2 -> 6 -> ... -> 25
  // takes at least six steps a minute apart.
  CHECK(maxReplicas == 25);
  CHECK(firstAtMax >= 2400 + 5 * 60);
  CHECK(policyShown);
}

TEST_CASE("simulate: the example policy lets the minimum go after 18:00, one step at a time") {
  auto r = simulateExample({"--start", "2026-03-02T17:30:00+01:00", "--until", "2399"});
  INFO(r.err);
  REQUIRE(r.exitCode == 0);
  auto rows = parseRows(r.out);
  REQUIRE_FALSE(rows.empty());
  CHECK(stepRuleViolation(rows) == "");
  for (const Row& row : rows) {
    INFO("t=" << row.time << " " << row.event << " replicas " << row.replicas);
    if (row.time > 0 && row.time < 1800) CHECK(row.replicas == 2);  // 17:30 - 18:00
    if (row.time >= 1800 && row.time < 2100) CHECK(row.replicas == 1);
    if (row.time >= 2100) CHECK(row.replicas == 0);  // 300 s later, the second step down
  }
  // Without --start the clock starts at the epoch (a Thursday, 01:00 in Paris): no minimum.
  auto night = simulateExample({"--until", "1799"});
  REQUIRE(night.exitCode == 0);
  for (const Row& row : parseRows(night.out)) CHECK(row.replicas == 0);
}

TEST_CASE("simulate --policy uses another policy file; bad ones are reported with their line") {
  TempDir dir;
  auto floor5 =
      dir.write("floor.lua", "function policy(ctx)\n  return math.max(ctx.proposed, 5)\nend\n");
  auto r = simulateExample({"--policy", floor5, "--until", "600"});
  INFO(r.err);
  REQUIRE(r.exitCode == 0);
  auto rows = parseRows(r.out);
  REQUIRE_FALSE(rows.empty());
  CHECK(rows[0].replicas == 0);  // the first poll comes before the first HPA sync
  for (size_t i = 1; i < rows.size(); ++i) CHECK(rows[i].replicas == 5);

  auto bad = dir.write("bad.lua", "function policy(ctx)\n  return 1 +\nend\n");
  r = simulateExample({"--policy", bad});
  CHECK(r.exitCode == 1);
  CHECK(r.err.find("bad.lua:3:") != std::string::npos);

  auto none = dir.write("none.lua", "function getMetric(ctx) return 1 end\n");
  r = simulateExample({"--policy", none});
  CHECK(r.exitCode == 1);
  CHECK(r.err.find("policy") != std::string::npos);

  r = simulateExample({"--start", "yesterday"});
  CHECK(r.exitCode == 1);
  CHECK(r.err.find("--start \"yesterday\"") != std::string::npos);
}

TEST_CASE("simulate: a policy failing at run time never stops scaling") {
  TempDir dir;
  auto failing = dir.write("failing.lua",
                           "function policy(ctx)\n  if ctx.current > 2 then error('too many') end\n"
                           "  return ctx.proposed\nend\n");
  auto r = simulateExample({"--policy", failing, "--until", "3000"});
  INFO(r.err);
  REQUIRE(r.exitCode == 0);
  auto rows = parseRows(r.out);
  int maxReplicas = 0;
  bool failureShown = false;
  for (const Row& row : rows) {
    maxReplicas = std::max(maxReplicas, row.replicas);
    if (row.decision.find("policy failed") != std::string::npos &&
        row.decision.find("failing.lua:2: too many") != std::string::npos) {
      failureShown = true;
    }
  }
  CHECK(maxReplicas == 25);  // the HPA's own decisions applied
  CHECK(failureShown);
  CHECK(r.err.find("too many") != std::string::npos);  // logged on stderr, not in the CSV
  CHECK(r.out.find("ScalingPolicyFailed") == std::string::npos);
}

TEST_CASE("validate reports a bad policy script at its annotation") {
  TempDir dir;
  dir.write("broken.lua", "function policy(ctx)\n  return\nend end\n");
  auto file = dir.write("so.yaml", R"(apiVersion: keda.sh/v1alpha1
kind: ScaledObject
metadata:
  name: inline
  annotations:
    updraft.dev/policy: |
      function policy(ctx)
        return 1 +
      end
spec:
  scaleTargetRef: {name: web}
  triggers:
    - type: cron
      metadata: {timezone: UTC, start: "0 8 * * *", end: "0 18 * * *", desiredReplicas: "2"}
---
apiVersion: keda.sh/v1alpha1
kind: ScaledObject
metadata:
  name: from-file
  annotations:
    updraft.dev/policy-file: broken.lua
spec:
  scaleTargetRef: {name: api}
  triggers:
    - type: cron
      metadata: {timezone: UTC, start: "0 8 * * *", end: "0 18 * * *", desiredReplicas: "2"}
---
apiVersion: keda.sh/v1alpha1
kind: ScaledObject
metadata:
  name: good
  annotations:
    updraft.dev/policy: "function policy(ctx) return ctx.proposed end"
spec:
  scaleTargetRef: {name: db}
  triggers:
    - type: cron
      metadata: {timezone: UTC, start: "0 8 * * *", end: "0 18 * * *", desiredReplicas: "2"}
)");
  auto r = runCommand({updraftBinary(), "validate", file});
  INFO(r.out << r.err);
  CHECK(r.exitCode == 1);
  CHECK(r.out.find("metadata.annotations[\"updraft.dev/policy\"]: policy.lua:3:") !=
        std::string::npos);
  CHECK(r.out.find("metadata.annotations[\"updraft.dev/policy-file\"]: broken.lua:3:") !=
        std::string::npos);
  CHECK(r.out.find("ScaledObject default/good: valid") != std::string::npos);

  auto example = runCommand({updraftBinary(), "validate", kExamples + "/policy-scaledobject.yaml"});
  INFO(example.out << example.err);
  CHECK(example.exitCode == 0);
}

TEST_CASE("run scales a ProcessPool through a policy file edited while running") {
  TempDir dir;
  const std::string policy = dir.path() + "/floor.lua";
  replaceFile(policy, "function policy(ctx) return math.max(ctx.proposed, 2) end\n");
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
  name: floored
  annotations:
    updraft.dev/policy-file: floor.lua
spec:
  scaleTargetRef:
    name: workers
  pollingInterval: 1
  cooldownPeriod: 1
  maxReplicaCount: 5
  triggers:
    - type: lua
      name: idle
      metadata:
        targetValue: "10"
        script: "function getMetric(ctx) return 0 end"
)");
  Child run({updraftBinary(), "run", file, "--log-format", "json", "--hpa-sync", "1"});
  auto replicas = [](int n) {
    return [n](const nlohmann::json& j) { return j["replicas"] == n && j["ready"] == n; };
  };
  // No load at all: the policy alone keeps two members up.
  auto two = waitForStatus(run, replicas(2), 20s);
  INFO(run.output());
  REQUIRE(two != nullptr);
  CHECK(countChildren(run.pid()) == 2);

  replaceFile(policy, "function policy(ctx) return math.max(ctx.proposed, 3) end\n");
  REQUIRE(waitForStatus(run, replicas(3), 20s) != nullptr);

  replaceFile(policy, "function policy(ctx) return math.max(ctx.proposed, 4) +\nend\n");
  REQUIRE_FALSE(run.waitForLine("keeps running", 10s).empty());
  std::this_thread::sleep_for(2s);
  CHECK(countChildren(run.pid()) == 3);  // the refused version changed nothing

  // A policy that fails: the engine's own decisions apply (no load: back to zero) and the
  // status says why.
  replaceFile(policy, "function policy(ctx)\n  error('no policy today')\nend\n");
  auto failing = waitForStatus(
      run,
      [](const nlohmann::json& j) {
        return j.contains("policyError") &&
               j["policyError"].get<std::string>().find("floor.lua:2: no policy today") !=
                   std::string::npos;
      },
      20s);
  REQUIRE(failing != nullptr);
  REQUIRE(waitForStatus(run, replicas(0), 20s) != nullptr);
  CHECK(run.output().find("ScalingPolicyFailed") != std::string::npos);

  run.signal(SIGTERM);
  CHECK(run.wait(20s) == 0);
}
