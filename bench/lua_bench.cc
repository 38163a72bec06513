// lua_bench: what Lua costs on the hot paths.
//
//  1. A scalingModifiers formula: Formula::evaluate of `lua: <expr>` against the same expression in
//     KEDA's syntax (the expr-lang bytecode VM), ns per evaluation and the ratio. Target: Lua
//     <= 2 us.
//  2. A `lua` trigger's poll beyond its I/O: getMetricsAndActivity of a script whose getMetric
//     returns a constant (parsed and created through ScalerRegistry::global().find("lua"), as the
//     engine does) against a native in-process scaler doing the same (ConstScaler below), ns per
//     poll and the difference. Target: <= 5 us.
//  3. 1,000 `lua` triggers on one script: how often it is compiled, and memory per instance.
//
//   lua_bench [--seconds S]     (S: time per measurement, default 1)
//
// The default build (RelWithDebInfo, -O2) gives the README's figures:
//   cmake --build build --target lua_bench && build/bench/lua_bench
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "bench_util.h"
#include "updraft/formula.h"
#include "updraft/lua/script_store.h"
#include "updraft/scaler.h"

using namespace updraft;

namespace {

double gSeconds = 1.0;
volatile double gSink = 0;  // keeps results alive

// Runs `body` in batches until gSeconds have passed (after a short warm-up); ns per call.
double nsPerCall(const std::function<void()>& body) {
  for (int i = 0; i < 1000; ++i) body();
  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  const auto until = start + std::chrono::duration<double>(gSeconds);
  long calls = 0;
  Clock::time_point now;
  do {
    for (int i = 0; i < 1000; ++i) body();
    calls += 1000;
    now = Clock::now();
  } while (now < until);
  return std::chrono::duration<double, std::nano>(now - start).count() / static_cast<double>(calls);
}

[[noreturn]] void die(const std::string& what, const Status& s) {
  std::fprintf(stderr, "lua_bench: %s: %s\n", what.c_str(), s.toString().c_str());
  std::exit(1);
}

// ---- 1. formulas ----

struct FormulaCase {
  const char* name;
  const char* expr;  // KEDA's syntax
  const char* lua;
};

void benchFormulas() {
  const std::vector<std::string> variables = {"queue", "rate"};
  const FormulaCase cases[] = {
      {"arithmetic", "queue * 2 + rate", "lua: queue * 2 + rate"},
      {"max + ternary", "queue > 100 ? queue : max(queue, rate * 3)",
       "lua: queue > 100 and queue or math.max(queue, rate * 3)"},
      {"nil default", "(rate ?? 0) + queue", "lua: (rate or 0) + queue"},
  };
  std::printf("1. scalingModifiers formula, Formula::evaluate (2 triggers)\n");
  std::printf("   %-14s %14s %14s %8s\n", "formula", "expr-lang ns", "lua ns", "ratio");
  for (const auto& c : cases) {
    auto expr = Formula::compile(c.expr, variables);
    if (!expr.isOk()) die(c.expr, expr.status());
    auto lua = Formula::compile(c.lua, variables);
    if (!lua.isOk()) die(c.lua, lua.status());
    std::vector<std::optional<double>> values = {37.0, 12.5};
    const double exprNs = nsPerCall([&] {
      values[0] = *values[0] + 1e-9;
      gSink = gSink + **expr->evaluate(values);
    });
    const double luaNs = nsPerCall([&] {
      values[0] = *values[0] + 1e-9;
      gSink = gSink + **lua->evaluate(values);
    });
    std::printf("   %-14s %14.0f %14.0f %7.1fx\n", c.name, exprNs, luaNs, luaNs / exprNs);
    std::printf("      %s  |  %s\n", c.expr, c.lua);
  }
  std::printf("   target: lua <= 2000 ns per evaluation\n\n");
}

// ---- 2. scaler polls ----

class ConstScaler final : public Scaler {
 public:
  Result<MetricsAndActivity> getMetricsAndActivity(const std::string& metricName,
                                                   TimePoint /*deadline*/) override {
    MetricsAndActivity out;
    out.isActive = true;
    out.metrics.push_back(MetricValue{metricName, 42});
    return out;
  }
};

class ConstDefinition final : public ScalerDefinition {
 public:
  explicit ConstDefinition(MetricSpec spec) : spec_(std::move(spec)) {}
  std::vector<MetricSpec> metricSpecs() const override { return {spec_}; }
  double activationThreshold() const override { return 0; }
  Result<std::unique_ptr<Scaler>> createScaler(const ScalerContext&) const override {
    return std::unique_ptr<Scaler>(std::make_unique<ConstScaler>());
  }

 private:
  MetricSpec spec_;
};

// The native baseline: parsed the same way, but in-process C++.
class ConstScalerFactory final : public ScalerFactory {
 public:
  std::string type() const override { return "bench-const"; }
  Result<std::unique_ptr<ScalerDefinition>> parse(const ScalerConfig& config) const override {
    return std::unique_ptr<ScalerDefinition>(std::make_unique<ConstDefinition>(
        externalMetricSpec(config, "bench-const", MetricTargetType::kAverageValue, 10)));
  }
};

std::unique_ptr<Scaler> makeScaler(const ScalerFactory& factory, const ScalerConfig& config,
                                   std::string& metricName) {
  auto def = factory.parse(config);
  if (!def.isOk()) die("parse " + config.triggerType, def.status());
  metricName = (*def)->metricSpecs().front().metricName;
  auto scaler = (*def)->createScaler(ScalerContext{});
  if (!scaler.isOk()) die("createScaler " + config.triggerType, scaler.status());
  return std::move(scaler.value());
}

double nsPerPoll(Scaler& scaler, const std::string& metricName) {
  return nsPerCall([&] {
    auto r = scaler.getMetricsAndActivity(
        metricName, std::chrono::system_clock::now() + std::chrono::seconds(5));
    if (!r.isOk()) die("poll", r.status());
    gSink = gSink + r->metrics.front().value;
  });
}

void benchScalers() {
  ScalerConfig config;
  config.scalableObjectName = "orders";
  config.scalableObjectNamespace = "shop";
  config.scalableObjectType = "ScaledObject";
  config.triggerIndex = 0;
  config.triggerName = "queue";
  config.triggerMetadata = {{"targetValue", "10"}, {"queue", "orders"}, {"region", "eu-west-1"}};

  ConstScalerFactory nativeFactory;
  ScalerConfig nativeConfig = config;
  nativeConfig.triggerType = "bench-const";
  std::string nativeMetric;
  auto native = makeScaler(nativeFactory, nativeConfig, nativeMetric);

  auto luaFactory = ScalerRegistry::global().find("lua");
  if (!luaFactory) die("lua", Status::internal("the lua trigger type is not linked in"));
  ScalerConfig luaConfig = config;
  luaConfig.triggerType = "lua";
  luaConfig.triggerMetadata["script"] = "function getMetric(ctx) return 42 end";
  std::string luaMetric;
  auto lua = makeScaler(*luaFactory, luaConfig, luaMetric);

  ScalerConfig readsCtx = luaConfig;
  readsCtx.triggerMetadata["script"] =
      "local polls = 0\n"
      "function getMetric(ctx)\n"
      "  polls = polls + 1\n"
      "  ctx.state.last = polls\n"
      "  return #ctx.metadata.queue * 7, true\n"
      "end";
  std::string readsMetric;
  auto luaCtx = makeScaler(*luaFactory, readsCtx, readsMetric);

  const double nativeNs = nsPerPoll(*native, nativeMetric);
  const double luaNs = nsPerPoll(*lua, luaMetric);
  const double luaCtxNs = nsPerPoll(*luaCtx, readsMetric);
  std::printf("2. trigger poll without I/O, Scaler::getMetricsAndActivity\n");
  std::printf("   %-44s %10.0f ns\n", "native in-process scaler (constant)", nativeNs);
  std::printf("   %-44s %10.0f ns   (+%.0f ns)\n", "lua: getMetric returns a constant", luaNs,
              luaNs - nativeNs);
  std::printf("   %-44s %10.0f ns   (+%.0f ns)\n", "lua: reads ctx.metadata, writes ctx.state",
              luaCtxNs, luaCtxNs - nativeNs);
  std::printf("   target: lua - native <= 5000 ns per poll\n");
}

// 3. Many objects on one script: compilations, time to create them, memory per instance.
void benchSharedScript() {
  constexpr int kObjects = 1000;
  auto luaFactory = ScalerRegistry::global().find("lua");
  if (!luaFactory) die("lua", Status::internal("the lua trigger type is not linked in"));
  const std::string script =
      "-- one script, many objects\n"
      "local polls = 0\n"
      "function getMetric(ctx)\n"
      "  polls = polls + 1\n"
      "  ctx.state.n = polls\n"
      "  return tonumber(ctx.metadata.base) + polls\n"
      "end\n";
  const size_t compilationsBefore = lua::ScriptCache::global().compilations();
  const long rssBefore = bench::residentBytes();
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::unique_ptr<Scaler>> scalers;
  scalers.reserve(kObjects);
  for (int i = 0; i < kObjects; ++i) {
    ScalerConfig c;
    c.scalableObjectName = "so-" + std::to_string(i);
    c.scalableObjectNamespace = "shop";
    c.scalableObjectType = "ScaledObject";
    c.triggerType = "lua";
    c.triggerName = "queue";
    c.triggerMetadata = {{"targetValue", "10"}, {"base", "5"}, {"script", script}};
    std::string metric;
    scalers.push_back(makeScaler(*luaFactory, c, metric));
    auto r = scalers.back()->getMetricsAndActivity(
        metric, std::chrono::system_clock::now() + std::chrono::seconds(5));
    if (!r.isOk()) die("shared script poll", r.status());
  }
  const double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  const long rssAfter = bench::residentBytes();
  std::printf("\n3. %d lua triggers on one script (parse, create, first poll)\n", kObjects);
  std::printf("   compilations %zu, %.1f ms in all (%.0f us per object), %.1f KiB RSS per object\n",
              lua::ScriptCache::global().compilations() - compilationsBefore, ms,
              ms * 1000 / kObjects, (rssAfter - rssBefore) / 1024.0 / kObjects);
}

}  // namespace

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--seconds") == 0 && i + 1 < argc) {
      gSeconds = std::atof(argv[++i]);
    } else {
      std::fprintf(stderr, "usage: lua_bench [--seconds S]\n");
      return 2;
    }
  }
  if (!(gSeconds > 0)) gSeconds = 1;
  benchFormulas();
  benchScalers();
  benchSharedScript();
  return 0;
}
