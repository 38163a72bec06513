#include <catch2/catch.hpp>
#include <chrono>
#include <string>

#include "updraft/scaler.h"

using namespace updraft;

namespace {

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

ScalerConfig config(const std::string& script, StringMap extra = {}) {
  ScalerConfig c;
  c.triggerIndex = 2;
  c.triggerType = "lua";
  c.triggerMetadata = std::move(extra);
  c.triggerMetadata["script"] = script;
  if (!c.triggerMetadata.count("targetValue")) c.triggerMetadata["targetValue"] = "10";
  return c;
}

std::shared_ptr<const ScalerFactory> factory() {
  auto f = ScalerRegistry::global().find("lua");
  REQUIRE(f);
  return f;
}

std::unique_ptr<Scaler> live(const ScalerConfig& c) {
  auto def = factory()->parse(c);
  INFO(def.status().toString());
  REQUIRE(def.isOk());
  auto scaler = (*def)->createScaler(ScalerContext{});
  INFO(scaler.status().toString());
  REQUIRE(scaler.isOk());
  return std::move(scaler.value());
}

Result<MetricsAndActivity> poll(Scaler& s) {
  return s.getMetricsAndActivity("m", std::chrono::system_clock::now() + std::chrono::seconds(5));
}

}  // namespace

TEST_CASE("lua trigger: parse errors") {
  auto syntax = factory()->parse(config("function getMetric(ctx)\n  return 1 +\nend"));
  REQUIRE_FALSE(syntax.isOk());
  CHECK(contains(syntax.status().message(), "script.lua:3:"));

  auto missing = factory()->parse(config("local function getMetric() return 1 end"));
  REQUIRE_FALSE(missing.isOk());
  CHECK(contains(missing.status().message(), "getMetric"));

  auto c = config("function getMetric() return 1 end");
  c.triggerMetadata.erase("targetValue");
  auto noTarget = factory()->parse(c);
  REQUIRE_FALSE(noTarget.isOk());
  CHECK(contains(noTarget.status().message(), "targetValue"));

  ScalerConfig none;
  none.triggerType = "lua";
  none.triggerMetadata["targetValue"] = "1";
  auto noScript = factory()->parse(none);
  REQUIRE_FALSE(noScript.isOk());
  CHECK(contains(noScript.status().message(), "script"));

  auto runtime = factory()->parse(config("error('boom')\nfunction getMetric() return 1 end"));
  REQUIRE_FALSE(runtime.isOk());
  CHECK(contains(runtime.status().message(), "script.lua:1: boom"));
}

TEST_CASE("lua trigger: metric spec") {
  auto c = config("function getMetric() return 1 end", {{"activationTargetValue", "2.5"}});
  auto def = factory()->parse(c);
  REQUIRE(def.isOk());
  auto specs = (*def)->metricSpecs();
  REQUIRE(specs.size() == 1);
  CHECK(specs[0].metricName == "s2-lua-script");
  CHECK(specs[0].target == 10);
  CHECK(specs[0].targetType == MetricTargetType::kAverageValue);
  CHECK((*def)->activationThreshold() == 2.5);

  c.triggerName = "queue.depth";
  c.metricType = MetricTargetType::kValue;
  auto named = factory()->parse(c);
  REQUIRE(named.isOk());
  CHECK((*named)->metricSpecs()[0].metricName == "s2-lua-queue-depth");
  CHECK((*named)->metricSpecs()[0].targetType == MetricTargetType::kValue);
}

TEST_CASE("lua trigger: value, activity and ctx") {
  auto c = config(R"(
function getMetric(ctx)
  return tonumber(ctx.metadata.depth) + #ctx.auth.token, ctx.name == 'script'
end)",
                  {{"depth", "40"}});
  c.authParams["token"] = "abc";
  auto s = live(c);
  auto r = poll(*s);
  INFO(r.status().toString());
  REQUIRE(r.isOk());
  REQUIRE(r->metrics.size() == 1);
  CHECK(r->metrics[0].metricName == "m");
  CHECK(r->metrics[0].value == 43);
  CHECK(r->isActive);

  auto below = live(config("function getMetric() return 2 end", {{"activationTargetValue", "2"}}));
  auto rb = poll(*below);
  REQUIRE(rb.isOk());
  CHECK(rb->metrics[0].value == 2);
  CHECK_FALSE(rb->isActive);

  auto above =
      live(config("function getMetric() return 2.5 end", {{"activationTargetValue", "2"}}));
  auto ra = poll(*above);
  REQUIRE(ra.isOk());
  CHECK(ra->isActive);

  auto noMeta =
      live(config("function getMetric(ctx) return ctx.metadata.script == nil and 1 or 0 end"));
  auto rn = poll(*noMeta);
  REQUIRE(rn.isOk());
  CHECK(rn->metrics[0].value == 1);
}

TEST_CASE("lua trigger: bad return values") {
  for (auto [script, what] : std::vector<std::pair<std::string, std::string>>{
           {"function getMetric() return 'x' end", "returned string"},
           {"function getMetric() end", "returned nothing"},
           {"function getMetric() return 1, 2 end", "returned number, number"},
           {"function getMetric() return {} end", "returned table"}}) {
    INFO(script);
    auto s = live(config(script));
    auto r = poll(*s);
    REQUIRE_FALSE(r.isOk());
    CHECK(r.status().code() == StatusCode::kScriptError);
    CHECK(contains(r.status().message(), what));
  }
  auto s = live(config("function getMetric()\n  return nil + 1\nend"));
  auto r = poll(*s);
  REQUIRE_FALSE(r.isOk());
  CHECK(contains(r.status().message(), "script.lua:2:"));
  auto g = live(config("function getMetric()\n  counter = 1 return 1\nend"));
  auto rg = poll(*g);
  REQUIRE_FALSE(rg.isOk());
  CHECK(contains(rg.status().message(), "attempt to set global 'counter'"));
}

TEST_CASE("lua trigger: state persists across polls of one scaler") {
  auto c = config(R"(
local polls = 0
function getMetric(ctx)
  polls = polls + 1
  ctx.state.n = (ctx.state.n or 0) + 10
  return polls + ctx.state.n
end)");
  auto s = live(c);
  for (int i = 1; i <= 3; ++i) {
    auto r = poll(*s);
    REQUIRE(r.isOk());
    CHECK(r->metrics[0].value == 11 * i);
  }
  // Another scaler from the same trigger starts fresh.
  auto fresh = live(c);
  auto r = poll(*fresh);
  REQUIRE(r.isOk());
  CHECK(r->metrics[0].value == 11);
}

TEST_CASE("lua trigger: a runaway getMetric fails that poll only") {
  auto s = live(config(R"(
local n = 0
function getMetric()
  n = n + 1
  if n == 1 then while true do end end
  return n
end)"));
  auto start = std::chrono::steady_clock::now();
  auto r = poll(*s);
  REQUIRE_FALSE(r.isOk());
  CHECK(contains(r.status().message(), "deadline"));
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(2));
  auto r2 = poll(*s);
  REQUIRE(r2.isOk());
  CHECK(r2->metrics[0].value == 2);
}
