// examples/lua/formula.yaml (a scalingModifiers formula in Lua) through `updraft validate` and
// `updraft simulate`: the replicas follow max(backlog, 3 * rate) / target.
#include <catch2/catch.hpp>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "e2e/cli_support.h"

using namespace updraft::e2e;

namespace {

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

std::string replicasAt(const std::vector<std::vector<std::string>>& rows, const std::string& t,
                       const std::string& event) {
  for (const auto& r : rows) {
    if (r.size() > 2 && r[0] == t && r[1] == event) return r[2];
  }
  return "<no row>";
}

const std::string kExample = std::string(UPDRAFT_SOURCE_DIR) + "/examples/lua/formula.yaml";
const std::string kTrace = std::string(UPDRAFT_SOURCE_DIR) + "/examples/lua/formula-trace.csv";

}  // namespace

TEST_CASE("examples/lua/formula.yaml validates") {
  auto r = runCommand({updraftBinary(), "validate", kExample});
  INFO(r.out << r.err);
  CHECK(r.exitCode == 0);
}

TEST_CASE("examples/lua/formula.yaml: simulated replicas follow the Lua formula") {
  auto r = runCommand({updraftBinary(), "simulate", kExample, "--trace", kTrace});
  INFO(r.err);
  REQUIRE(r.exitCode == 0);
  auto rows = parseCsv(r.out);
  REQUIRE(rows.size() > 3);
  CHECK(rows[0][0] == "time");
  // ceil(max(backlog, 3 * rate) / 10), after KEDA's 0 -> 1 and the HPA's max(2 * current, 4)
  // scale-up cap.
  CHECK(replicasAt(rows, "15", "poll") == "0");  // 0 and 0: inactive
  CHECK(replicasAt(rows, "30", "poll") == "1");  // max(40, 15) = 40 > 0: activation
  CHECK(replicasAt(rows, "45", "hpa") == "4");   // 40 / 10
  CHECK(replicasAt(rows, "150", "hpa") == "6");  // max(20, 60) = 60 (rate alone would say 2)
  CHECK(replicasAt(rows, "315", "hpa") == "9");  // max(90, 3) = 90
  // 0 from t=420: KEDA scales to zero after the cooldown (120 s after the last active poll).
  CHECK(replicasAt(rows, "540", "poll") == "0");
}

TEST_CASE("a Lua formula with a syntax error fails validate with its line") {
  TempDir dir;
  std::ifstream in(kExample);
  std::stringstream text;
  text << in.rdbuf();
  std::string yaml = text.str();
  const std::string good = "return queued\n";
  REQUIRE(yaml.find(good) != std::string::npos);
  yaml.replace(yaml.find(good), good.size(), "return queued +\n");
  auto r = runCommand({updraftBinary(), "validate", dir.write("broken.yaml", yaml)});
  INFO(r.out << r.err);
  CHECK(r.exitCode == 1);
  // `return queued +` is the formula's 9th line (line 1 is `lua:`); Lua finds the end of the text
  // on line 10.
  CHECK(r.out.find("spec.advanced.scalingModifiers.formula: error validating formula in "
                   "ScalingModifiers: formula:10: unexpected symbol near '<eof>'") !=
        std::string::npos);
}
