// `updraft simulate` end to end: the CSV contract, the chart, and bad traces.
#include <catch2/catch.hpp>
#include <fstream>
#include <sstream>

#include "e2e/cli_support.h"

using namespace updraft::e2e;

namespace {

const char* kScaledObject = R"(apiVersion: keda.sh/v1alpha1
kind: ScaledObject
metadata:
  name: orders
  namespace: shop
spec:
  scaleTargetRef:
    name: worker
  pollingInterval: 10
  cooldownPeriod: 30
  maxReplicaCount: 10
  triggers:
    - type: metrics-api
      name: q
      metadata:
        url: http://127.0.0.1:1/metrics
        valueLocation: depth
        targetValue: "10"
)";

std::vector<std::vector<std::string>> parseCsv(const std::string& text) {
  std::vector<std::vector<std::string>> rows;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    std::vector<std::string> cells;
    std::string cell;
    std::istringstream ls(line);
    while (std::getline(ls, cell, ',')) cells.push_back(cell);
    rows.push_back(cells);
  }
  return rows;
}

// The replicas column of the row for (time, event).
std::string replicasAt(const std::vector<std::vector<std::string>>& rows, const std::string& t,
                       const std::string& event) {
  for (const auto& r : rows) {
    if (r.size() > 2 && r[0] == t && r[1] == event) return r[2];
  }
  return "<no row>";
}

}  // namespace

TEST_CASE("simulate follows KEDA's activation and the HPA, poll before hpa at equal times") {
  TempDir dir;
  auto so = dir.write("so.yaml", kScaledObject);
  auto trace = dir.write("trace.csv", "time,q\n0,0\n20,55\n60,0\n");
  auto r = runCommand({updraftBinary(), "simulate", so, "--trace", trace, "--until", "120"});
  INFO(r.err);
  REQUIRE(r.exitCode == 0);
  auto rows = parseCsv(r.out);
  REQUIRE(rows.size() > 3);
  REQUIRE(rows[0].size() >= 3);
  CHECK(rows[0][0] == "time");
  CHECK(rows[0][1] == "event");
  CHECK(rows[0][2] == "replicas");
  CHECK(rows[1][0] == "0");
  CHECK(rows[1][1] == "poll");  // at t=0 the poll comes first; no hpa row while at 0 replicas
  CHECK(replicasAt(rows, "0", "hpa") == "<no row>");
  CHECK(replicasAt(rows, "10", "poll") == "0");
  CHECK(replicasAt(rows, "20", "poll") == "1");  // 55 > activation 0: 0 -> 1
  CHECK(replicasAt(rows, "30", "hpa") == "4");   // ceil(55/10)=6, legacy cap max(2*1,4)=4
  CHECK(replicasAt(rows, "45", "hpa") == "6");
  CHECK(replicasAt(rows, "60", "hpa") == "6");   // scale-down stabilization holds 6
  CHECK(replicasAt(rows, "80", "poll") == "6");  // lastActive 50 + cooldown 30: not before 80
  CHECK(replicasAt(rows, "90", "poll") == "0");  // cooldown over: KEDA scales to zero
  CHECK(replicasAt(rows, "120", "poll") == "0");
  CHECK(rows.back()[0] == "120");
}

TEST_CASE("simulate keeps replicas when the source fails and writes a chart") {
  TempDir dir;
  auto so = dir.write("so.yaml", kScaledObject);
  auto trace = dir.write("trace.csv", "time,q\n0,30\n40,error\n");
  auto svg = dir.path() + "/chart.svg";
  auto r = runCommand(
      {updraftBinary(), "simulate", so, "--trace", trace, "--until", "600", "--plot", svg});
  INFO(r.err);
  REQUIRE(r.exitCode == 0);
  auto rows = parseCsv(r.out);
  CHECK(replicasAt(rows, "40", "poll") == "3");
  CHECK(replicasAt(rows, "600", "poll") == "3");  // errors never scale to zero without fallback
  std::ifstream f(svg);
  std::stringstream content;
  content << f.rdbuf();
  CHECK(content.str().find("<svg") != std::string::npos);
  CHECK(content.str().find("replicas") != std::string::npos);
}

TEST_CASE("simulate reports bad traces with the line number") {
  TempDir dir;
  auto so = dir.write("so.yaml", kScaledObject);
  struct Case {
    std::string trace;
    std::string expected;
  };
  std::vector<Case> cases = {
      {"time,nope\n0,1\n", "line 1: column \"nope\" names no trigger"},
      {"time,q\n0,1\n5,abc\n", "line 3: column \"q\": \"abc\" is not a number"},
      {"time,q\n0,1\n10,2\n5,3\n", "line 4: time 5 goes backwards"},
      {"", "the trace is empty"},
  };
  for (const auto& c : cases) {
    auto trace = dir.write("bad.csv", c.trace);
    auto r = runCommand({updraftBinary(), "simulate", so, "--trace", trace});
    INFO(c.trace << " -> " << r.err);
    CHECK(r.exitCode == 1);
    CHECK(r.err.find(c.expected) != std::string::npos);
  }
  auto r = runCommand({updraftBinary(), "simulate", so, "--trace", dir.path() + "/missing.csv"});
  CHECK(r.exitCode == 1);
  CHECK(r.err.find("missing.csv") != std::string::npos);
}

TEST_CASE("simulate runs ScaledJobs: one job per event, jobs finish after --job-duration") {
  TempDir dir;
  auto sj = dir.write("sj.yaml", R"(apiVersion: keda.sh/v1alpha1
kind: ScaledJob
metadata:
  name: batch
spec:
  pollingInterval: 10
  maxReplicaCount: 20
  jobTargetRef:
    template:
      spec:
        containers:
          - name: work
            image: busybox
            command: ["sh", "-c", "sleep 5"]
  triggers:
    - type: metrics-api
      metadata:
        url: http://127.0.0.1:1/q
        valueLocation: n
        targetValue: "1"
)");
  auto trace = dir.write("trace.csv", "time,trigger0\n0,4\n10,0\n");
  auto r = runCommand(
      {updraftBinary(), "simulate", sj, "--trace", trace, "--job-duration", "15", "--until", "40"});
  INFO(r.err);
  REQUIRE(r.exitCode == 0);
  auto rows = parseCsv(r.out);
  REQUIRE(rows[0].size() >= 4);
  CHECK(rows[0][3] == "created");
  REQUIRE(rows[1].size() == 7);  // time,event,replicas,created,active,trigger0,decision
  CHECK(std::vector<std::string>(rows[1].begin(), rows[1].begin() + 6) ==
        std::vector<std::string>{"0", "poll", "4", "4", "1", "4"});
  CHECK(replicasAt(rows, "10", "poll") == "4");  // still running (15 s each)
  CHECK(replicasAt(rows, "20", "poll") == "0");  // finished at t=15
}
