// Lua formulas for scalingModifiers (`formula: "lua: ..."`, lua/src/lua_formula.cc): both forms,
// nil, trigger names that are not identifiers, errors with their line through validate, the
// deadline, threads, and a ScaledObject simulated with one.
#include <catch2/catch.hpp>
#include <chrono>
#include <cmath>
#include <string>
#include <thread>
#include <vector>

#include "updraft/formula.h"
#include "updraft/parse.h"
#include "updraft/simulator.h"
#include "updraft/trace.h"
#include "updraft/validate.h"

using namespace updraft;

namespace {

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

Formula compiled(const std::string& source, const std::vector<std::string>& variables) {
  auto f = Formula::compile(source, variables);
  INFO(source);
  INFO(f.status().toString());
  REQUIRE(f.isOk());
  return std::move(*f);
}

std::optional<double> eval(const Formula& f, const std::vector<std::optional<double>>& values) {
  auto r = f.evaluate(values);
  INFO(f.source());
  INFO(r.status().toString());
  REQUIRE(r.isOk());
  return *r;
}

std::string compileError(const std::string& source, const std::vector<std::string>& variables) {
  auto f = Formula::compile(source, variables);
  INFO(source);
  REQUIRE_FALSE(f.isOk());
  CHECK(f.status().code() == StatusCode::kInvalidArgument);
  return f.status().message();
}

const std::vector<std::string> kAB = {"a", "b"};

}  // namespace

TEST_CASE("lua formula: an expression or statements with return") {
  auto sum = compiled("lua: a + b", kAB);
  CHECK(eval(sum, {1.0, 2.0}) == 3.0);
  CHECK(eval(sum, {0.5, -2.0}) == -1.5);
  CHECK(sum.source() == "lua: a + b");

  CHECK(eval(compiled("lua: math.max(a, b * 2)", kAB), {3.0, 2.0}) == 4.0);
  CHECK(eval(compiled("  lua:a", kAB), {7.0, 0.0}) == 7.0);  // whitespace around the prefix
  CHECK(eval(compiled("lua: a -- a comment", kAB), {7.0, 0.0}) == 7.0);

  auto block = compiled("lua: if a > 10 then return a else return b end", kAB);
  CHECK(eval(block, {11.0, 5.0}) == 11.0);
  CHECK(eval(block, {1.0, 5.0}) == 5.0);

  auto lines = compiled("lua:\nlocal s = a + b\n-- twice the sum\nreturn s * 2\n", kAB);
  CHECK(eval(lines, {1.0, 2.0}) == 6.0);

  // Helpers of scripts are there (time, json, ...); state does not leak between evaluations.
  CHECK(eval(compiled("lua: time.now() > 1.7e9 and 1 or 0", kAB), {0.0, 0.0}) == 1.0);
  CHECK(eval(compiled("lua: #json.encode({a, b})", kAB), {1.0, 2.0}) == 5.0);  // [1,2]
  // Globals are read-only at run time.
  CHECK(contains(compileError("lua: x = 1 return 1", kAB), "formula:1: attempt to set global 'x'"));

  // KEDA's syntax is unchanged in the same build.
  CHECK(eval(compiled("a + b", kAB), {1.0, 2.0}) == 3.0);
  CHECK(eval(compiled("a > b ? a : b", kAB), {1.0, 2.0}) == 2.0);
}

TEST_CASE("lua formula: nil is a trigger without a value, and no value") {
  auto f = compiled("lua: a", kAB);
  CHECK(eval(f, {std::nullopt, 1.0}) == std::nullopt);
  CHECK(eval(compiled("lua: (a or 0) + b", kAB), {std::nullopt, 4.0}) == 4.0);
  CHECK(eval(compiled("lua: if a == nil then return nil end return a", kAB), {std::nullopt, 1.0}) ==
        std::nullopt);
  CHECK(eval(compiled("lua: local x = a", kAB), {1.0, 1.0}) == std::nullopt);  // no return

  auto sum = compiled("lua: a + b", kAB);
  auto r = sum.evaluate({std::nullopt, 1.0});
  REQUIRE_FALSE(r.isOk());
  CHECK(contains(r.status().message(), "formula:1: attempt to perform arithmetic on local 'a'"));

  // Anything but a number or nil is an error naming the type.
  auto typed = compiled("lua: a > 0 and 'big' or a", kAB);
  CHECK(eval(typed, {-3.0, 0.0}) == -3.0);
  auto bad = typed.evaluate({5.0, 0.0});
  REQUIRE_FALSE(bad.isOk());
  CHECK(bad.status().message() == "lua formula must return a number or nil, got string");
  CHECK(contains(compileError("lua: true", kAB), "got boolean"));
  CHECK(contains(compileError("lua: {a}", kAB), "got table"));
  // Numbers of any value pass through, as expr-lang's float division does.
  CHECK(std::isinf(*eval(compiled("lua: a / 0", kAB), {1.0, 0.0})));
}

TEST_CASE("lua formula: trigger names that are not Lua identifiers") {
  const std::vector<std::string> names = {"my-trigger", "end", "ok_1", "triggers", "2nd"};
  auto f = compiled(
      R"(lua: triggers["my-trigger"] + triggers["end"] + ok_1 + triggers.triggers + triggers["2nd"])",
      names);
  CHECK(eval(f, {1.0, 2.0, 4.0, 8.0, 16.0}) == 31.0);
  auto missing =
      compiled(R"(lua: triggers["my-trigger"] == nil and -1 or triggers["my-trigger"])", names);
  CHECK(eval(missing, {std::nullopt, 0.0, 0.0, 0.0, 0.0}) == -1.0);
  CHECK(eval(missing, {3.0, 0.0, 0.0, 0.0, 0.0}) == 3.0);
  // Identifiers are also in `triggers`.
  CHECK(eval(compiled("lua: triggers.ok_1 * 10", names), {0.0, 0.0, 4.0, 0.0, 0.0}) == 40.0);
  // A name that is not a variable is a global (nil here): caught by the trial run.
  CHECK(contains(compileError("lua: c + a", kAB),
                 "attempt to perform arithmetic on global 'c' (a nil value)"));
}

TEST_CASE("lua formula: errors carry the formula's line, also through validate") {
  CHECK(contains(compileError("lua:\nlocal x = a +\nreturn x", kAB),
                 "formula:3: unexpected symbol near 'return'"));
  CHECK(contains(compileError("lua: a +", kAB), "formula:1:"));
  CHECK(contains(compileError("\n\n  lua: a + (", kAB), "formula:3:"));
  CHECK(contains(compileError("lua: mth.max(a, b)", kAB),
                 "formula:1: attempt to index global 'mth' (a nil value) (in a trial run with "
                 "every trigger = -1)"));

  const char* yaml = R"(apiVersion: keda.sh/v1alpha1
kind: ScaledObject
metadata: {name: orders, namespace: shop}
spec:
  scaleTargetRef: {name: worker}
  advanced:
    scalingModifiers:
      target: "10"
      formula: |
        lua:
        local total = queue + rate
        if total > 100 then
          return total
        end
        return total *
  triggers:
    - type: lua
      name: queue
      metadata: {targetValue: "10", script: "function getMetric() return 1 end"}
    - type: lua
      name: rate
      metadata: {targetValue: "10", script: "function getMetric() return 1 end"}
)";
  auto docs = parseDocuments(yaml, "so.yaml");
  REQUIRE(docs.isOk());
  REQUIRE(docs->size() == 1);
  auto report = validateDocument((*docs)[0]);
  REQUIRE(report.errors.size() == 1);
  CHECK(report.errors[0].path == "spec.advanced.scalingModifiers.formula");
  CHECK(report.errors[0].message ==
        "error validating formula in ScalingModifiers: formula:7: unexpected symbol near '<eof>'");

  std::string fixed = yaml;
  fixed.replace(fixed.find("return total *"), 14, "return total * 2");
  auto ok = parseDocuments(fixed, "so.yaml");
  REQUIRE(ok.isOk());
  auto okReport = validateDocument((*ok)[0]);
  for (const auto& e : okReport.errors) INFO(toString(e));
  CHECK(okReport.errors.empty());
}

TEST_CASE("lua formula: a runtime error fails that evaluation only") {
  auto f = compiled("lua: if a > 100 then error('too big: ' .. a) end return a", kAB);
  auto r = f.evaluate({101.0, 0.0});
  REQUIRE_FALSE(r.isOk());
  CHECK(r.status().message() == "formula:1: too big: 101");
  CHECK(eval(f, {5.0, 0.0}) == 5.0);
  auto wrongCount = f.evaluate({1.0});
  REQUIRE_FALSE(wrongCount.isOk());
  CHECK(contains(wrongCount.status().message(), "expects 2 values"));
}

TEST_CASE("lua formula: the deadline") {
  // Caught by the trial run (every trigger = -1) when it always loops...
  auto start = std::chrono::steady_clock::now();
  CHECK(contains(compileError("lua: while true do end", kAB), "deadline of 100 ms"));
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(1));
  // ...and at evaluation when it loops for some values only.
  auto f = compiled("lua: if a > 0 then while true do end end return a", kAB);
  start = std::chrono::steady_clock::now();
  auto r = f.evaluate({1.0, 0.0});
  const auto took = std::chrono::steady_clock::now() - start;
  REQUIRE_FALSE(r.isOk());
  CHECK(contains(r.status().message(), "script exceeded its deadline of 100 ms"));
  CHECK(took >= std::chrono::milliseconds(95));
  CHECK(took < std::chrono::seconds(1));
  CHECK(eval(f, {-5.0, 0.0}) == -5.0);  // the next evaluation is fine
}

TEST_CASE("lua formula: several threads evaluate one formula") {
  auto f = compiled("lua: local s = 0 for i = 1, 10 do s = s + a end return s + b", kAB);
  constexpr int kThreads = 4;
  constexpr int kEvaluations = 3000;
  std::vector<int> wrong(kThreads, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEvaluations; ++i) {
        const double a = t * 1000 + i;
        auto r = f.evaluate({a, static_cast<double>(t)});
        if (!r.isOk() || !*r || **r != 10 * a + t) ++wrong[t];
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int t = 0; t < kThreads; ++t) CHECK(wrong[t] == 0);
}

TEST_CASE("lua formula: a simulated ScaledObject follows it") {
  // composite = max(queue, 3 * rate) against target 10: replicas = ceil(composite / 10) once the
  // HPA has caught up (KEDA's 0 -> 1, then the HPA's legacy max(2 * current, 4) scale-up cap).
  const char* yaml = R"(apiVersion: keda.sh/v1alpha1
kind: ScaledObject
metadata: {name: orders, namespace: shop}
spec:
  scaleTargetRef: {name: worker}
  pollingInterval: 15
  maxReplicaCount: 30
  advanced:
    scalingModifiers:
      target: "10"
      formula: |
        lua:
        local arrivals = 3 * (rate or 0)
        if arrivals > queue then return arrivals end
        return queue
  triggers:
    - type: lua
      name: queue
      metadata: {targetValue: "10", script: "function getMetric() return 1 end"}
    - type: lua
      name: rate
      metadata: {targetValue: "10", script: "function getMetric() return 1 end"}
)";
  auto docs = parseDocuments(yaml, "so.yaml");
  REQUIRE(docs.isOk());
  REQUIRE((*docs)[0].scaledObject());
  auto trace = Trace::parse("time,queue,rate\n0,0,0\n30,40,5\n120,20,20\n300,90,1\n");
  REQUIRE(trace.isOk());
  SimulationOptions options;
  options.untilSeconds = 420;
  std::vector<std::pair<double, int>> hpaRows;
  auto summary = simulateScaledObject(
      *(*docs)[0].scaledObject(), *trace, options,
      [&](const SimulationRow& row, const std::vector<std::optional<double>>&) {
        if (row.hpa) hpaRows.emplace_back(row.time, row.replicas);
      });
  INFO(summary.status().toString());
  REQUIRE(summary.isOk());
  auto replicasAt = [&](double t) {
    for (const auto& [time, replicas] : hpaRows) {
      if (time == t) return replicas;
    }
    return -1;
  };
  CHECK(replicasAt(45) == 4);   // max(40, 15) = 40
  CHECK(replicasAt(150) == 6);  // max(20, 60) = 60
  CHECK(replicasAt(330) == 9);  // max(90, 3) = 90
  CHECK(replicasAt(420) == 9);
}
