// Lua scaling policies (lua_policy.h): what policy(ctx) sees, what it may return, errors with
// their line, the annotations, hot reload through a file and a ConfigMap, and time.parts.
#include "updraft/lua/lua_policy.h"

#include <unistd.h>

#include <catch2/catch.hpp>
#include <cmath>
#include <deque>
#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>

#include "updraft/lua/sandbox.h"
#include "updraft/lua/script_store.h"

using namespace updraft;
using namespace std::chrono_literals;

namespace {

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

struct TempDir {
  std::filesystem::path path;
  TempDir() {
    char tmpl[] = "/tmp/updraft-policy-XXXXXX";
    path = ::mkdtemp(tmpl);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
  std::string file(const std::string& name) const { return (path / name).string(); }
};

void write(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    f << text;
  }
  std::filesystem::rename(tmp, path);
}

ScaledObject object(const char* annotation, const std::string& value) {
  ScaledObject so;
  so.metadata.name = "orders";
  so.metadata.namespace_ = "shop";
  if (annotation) so.metadata.annotations[annotation] = value;
  return so;
}

std::shared_ptr<ScalingPolicy> inlinePolicy(const std::string& source) {
  auto p = lua::luaPolicyFor(object(annotations::kPolicy, source));
  INFO(p.status().toString());
  REQUIRE(p.isOk());
  REQUIRE(*p);
  return *p;
}

PolicyInput input(int32_t current, int32_t proposed) {
  PolicyInput in;
  in.now = TimePoint{} + Seconds(1772434800);  // 2026-03-02T07:00:00Z, a Monday
  in.currentReplicas = current;
  in.minReplicas = 0;
  in.maxReplicas = 20;
  in.proposed = proposed;
  in.source = kPolicySourceHpa;
  return in;
}

// The policy's ctx as JSON: the script raises json.encode(ctx) (level 0: no position).
nlohmann::json seenContext(ScalingPolicy& policy, const PolicyInput& in) {
  auto r = policy.desiredReplicas(in);
  REQUIRE_FALSE(r.isOk());
  auto j = nlohmann::json::parse(r.status().message(), nullptr, false);
  INFO(r.status().message());
  REQUIRE(j.is_object());
  return j;
}

}  // namespace

TEST_CASE("lua policy: no annotation, no policy") {
  auto p = lua::luaPolicyFor(object(nullptr, ""));
  REQUIRE(p.isOk());
  CHECK(*p == nullptr);
}

TEST_CASE("lua policy: ctx carries replicas, triggers, history and scale times") {
  auto policy = inlinePolicy("function policy(ctx) error(json.encode(ctx), 0) end\n");
  PolicyInput in = input(3, 5);
  in.source = kPolicySourceActivation;
  in.active = true;
  in.minReplicas = 1;
  in.triggers.push_back({"queue", "kafka", 42.5, 10, true});
  in.triggers.push_back({"cpu", "cpu", std::nullopt, 80, false});
  std::deque<PolicySample> history;
  history.push_back({TimePoint{} + Seconds(1772434740), "hpa", 2, 2, 3, {40.0, 55.0}});
  history.push_back({TimePoint{} + Seconds(1772434770), "activation", 3, 3, 3, {41.0, {}}});
  in.history = &history;
  in.lastScaleUp = TimePoint{} + Seconds(1772434740);

  nlohmann::json ctx = seenContext(*policy, in);
  CHECK(ctx["now"] == 1772434800);
  CHECK(ctx["current"] == 3);
  CHECK(ctx["proposed"] == 5);
  CHECK(ctx["min"] == 1);
  CHECK(ctx["max"] == 20);
  CHECK(ctx["source"] == "activation");
  CHECK(ctx["active"] == true);
  CHECK(ctx["lastScaleUp"] == 1772434740);
  CHECK_FALSE(ctx.contains("lastScaleDown"));  // nil
  CHECK(ctx["state"] == nlohmann::json::object());
  CHECK(ctx["triggers"]["queue"]["value"] == 42.5);
  CHECK(ctx["triggers"]["queue"]["target"] == 10);
  CHECK(ctx["triggers"]["queue"]["active"] == true);
  CHECK(ctx["triggers"]["queue"]["type"] == "kafka");
  CHECK_FALSE(ctx["triggers"]["cpu"].contains("value"));  // failed fetch: nil
  CHECK(ctx["triggers"]["cpu"]["active"] == false);
  REQUIRE(ctx["history"].is_array());
  REQUIRE(ctx["history"].size() == 2);
  CHECK(ctx["history"][0]["time"] == 1772434740);  // oldest first
  CHECK(ctx["history"][0]["source"] == "hpa");
  CHECK(ctx["history"][0]["replicas"] == 2);
  CHECK(ctx["history"][0]["proposed"] == 2);
  CHECK(ctx["history"][0]["desired"] == 3);
  CHECK(ctx["history"][0]["triggers"]["queue"] == 40);
  CHECK(ctx["history"][0]["triggers"]["cpu"] == 55);
  CHECK(ctx["history"][1]["source"] == "activation");
  CHECK(ctx["history"][1]["triggers"]["queue"] == 41);
  CHECK_FALSE(ctx["history"][1]["triggers"].contains("cpu"));
}

TEST_CASE("lua policy: results, rounding toward the proposal and bad results") {
  auto result = [](const std::string& expr, int32_t proposed) {
    auto p = inlinePolicy("function policy(ctx) return " + expr + " end");
    return p->desiredReplicas(input(2, proposed));
  };
  CHECK(*result("4", 2) == 4);
  CHECK(*result("3.7", 2) == 3);  // toward the proposal 2: down
  CHECK(*result("3.2", 5) == 4);  // toward the proposal 5: up
  CHECK(*result("ctx.proposed + 0.5", 5) == 5);
  CHECK(*result("1e12", 2) == std::numeric_limits<int32_t>::max());  // the engine clamps it
  CHECK(*result("-3", 2) == -3);                                     // the engine clamps it too

  auto s = result("'7'", 2);
  REQUIRE_FALSE(s.isOk());
  CHECK(s.status().code() == StatusCode::kScriptError);
  CHECK(contains(s.status().message(), "policy must return a number of replicas"));
  CHECK(contains(s.status().message(), "it returned string"));
  auto nothing = inlinePolicy("function policy(ctx) end")->desiredReplicas(input(2, 2));
  REQUIRE_FALSE(nothing.isOk());
  CHECK(contains(nothing.status().message(), "it returned nothing"));
  auto nan = result("0/0", 2);
  REQUIRE_FALSE(nan.isOk());
  CHECK(contains(nan.status().message(), "finite"));
  auto table = result("{}", 2);
  REQUIRE_FALSE(table.isOk());
  CHECK(contains(table.status().message(), "table"));
}

TEST_CASE("lua policy: errors name the script line; bad annotations name their path") {
  auto runtime = inlinePolicy("function policy(ctx)\n  local x = nil\n  return x + 1\nend\n");
  auto r = runtime->desiredReplicas(input(1, 1));
  REQUIRE_FALSE(r.isOk());
  CHECK(contains(r.status().message(), "policy.lua:3:"));
  CHECK(contains(runtime->describe(), "Lua policy"));

  std::string path;
  auto syntax = lua::luaPolicyFor(
      object(annotations::kPolicy, "function policy(ctx)\n  return 1 +\nend\n"), &path);
  REQUIRE_FALSE(syntax.isOk());
  CHECK(contains(syntax.status().message(), "policy.lua:3:"));
  CHECK(path == "metadata.annotations[\"updraft.dev/policy\"]");

  auto missing = lua::luaPolicyFor(object(annotations::kPolicy, "function other() end"), &path);
  REQUIRE_FALSE(missing.isOk());
  CHECK(contains(missing.status().message(), "policy"));

  ScaledObject two = object(annotations::kPolicy, "function policy(ctx) return 1 end");
  two.metadata.annotations[annotations::kPolicyFile] = "/tmp/x.lua";
  auto both = lua::luaPolicyFor(two, &path);
  REQUIRE_FALSE(both.isOk());
  CHECK(contains(both.status().message(), "only one of"));

  auto badCm = lua::luaPolicyFor(object(annotations::kPolicyConfigMap, "no-key"), &path);
  REQUIRE_FALSE(badCm.isOk());
  CHECK(path == "metadata.annotations[\"updraft.dev/policy-configmap\"]");
  CHECK(contains(badCm.status().message(), "<configmap>/<key>"));

  auto noFile =
      lua::luaPolicyFor(object(annotations::kPolicyFile, "/nonexistent/dir/p.lua"), &path);
  REQUIRE_FALSE(noFile.isOk());
  CHECK(path == "metadata.annotations[\"updraft.dev/policy-file\"]");
  CHECK(contains(noFile.status().message(), "/nonexistent/dir/p.lua"));
}

TEST_CASE("lua policy: a file is hot reloaded; a bad version keeps the old one; state carries") {
  TempDir dir;
  const std::string file = dir.file("policy.lua");
  write(file,
        "function policy(ctx)\n"
        "  ctx.state.calls = (ctx.state.calls or 0) + 1\n"
        "  return 2\n"
        "end\n");
  auto p = lua::luaPolicyFor(object(annotations::kPolicyFile, file));
  REQUIRE(p.isOk());
  REQUIRE(*p);
  ScalingPolicy& policy = **p;
  CHECK(contains(policy.describe(), file));
  CHECK(*policy.desiredReplicas(input(1, 1)) == 2);
  CHECK(*policy.desiredReplicas(input(1, 1)) == 2);

  write(file, "function policy(ctx)\n  return 10 + ctx.state.calls\nend\n");
  lua::ScriptStore::global().checkFilesNow();
  CHECK(*policy.desiredReplicas(input(1, 1)) == 12);  // new version, ctx.state carried over

  write(file, "function policy(ctx)\n  return 1 +\nend\n");  // refused
  lua::ScriptStore::global().checkFilesNow();
  CHECK(*policy.desiredReplicas(input(1, 1)) == 12);

  write(file, "function nope(ctx) return 1 end\n");  // no policy(): refused too
  lua::ScriptStore::global().checkFilesNow();
  CHECK(*policy.desiredReplicas(input(1, 1)) == 12);

  write(file, "function policy(ctx) return 4 end\n");
  lua::ScriptStore::global().checkFilesNow();
  CHECK(*policy.desiredReplicas(input(1, 1)) == 4);
}

TEST_CASE("lua policy: a ConfigMap policy fails until the ConfigMap arrives") {
  auto p = lua::luaPolicyFor(object(annotations::kPolicyConfigMap, "scaling/p.lua"));
  REQUIRE(p.isOk());
  REQUIRE(*p);
  auto before = (*p)->desiredReplicas(input(1, 1));
  REQUIRE_FALSE(before.isOk());
  CHECK(contains(before.status().message(), "no version of the policy script is loaded"));
  lua::ScriptStore::global().putConfigMap("shop", "scaling",
                                          {{"p.lua", "function policy(ctx) return 6 end"}});
  CHECK(*(*p)->desiredReplicas(input(1, 1)) == 6);
  lua::ScriptStore::global().deleteConfigMap("shop", "scaling");
}

TEST_CASE("lua host: time.parts in UTC and in a zone with daylight saving time") {
  auto sb = lua::Sandbox::create();
  REQUIRE(sb.isOk());
  auto parts = [&](const std::string& args) {
    auto r = (*sb)->run("local p = time.parts(" + args +
                        ") return string.format('%04d-%02d-%02d %02d:%02d:%02d w%d y%d %s', "
                        "p.year, p.month, p.day, p.hour, p.min, p.sec, p.wday, p.yday, "
                        "tostring(p.isdst))");
    INFO(r.status().toString());
    REQUIRE(r.isOk());
    REQUIRE(r->size() == 1);
    return r->at(0);
  };
  CHECK(parts("0") == "1970-01-01 00:00:00 w5 y1 false");  // a Thursday
  CHECK(parts("1772434800.9") == "2026-03-02 07:00:00 w2 y61 false");
  // Europe/Paris springs forward at 01:00 UTC on Sunday 2026-03-29: 01:59:59 CET -> 03:00 CEST.
  CHECK(parts("1774745999, 'Europe/Paris'") == "2026-03-29 01:59:59 w1 y88 false");
  CHECK(parts("1774746000, 'Europe/Paris'") == "2026-03-29 03:00:00 w1 y88 true");
  // ... and falls back at 01:00 UTC on 2026-10-25: 02:30 happens twice.
  CHECK(parts("1792888200, 'Europe/Paris'") == "2026-10-25 02:30:00 w1 y298 true");
  CHECK(parts("1792891800, 'Europe/Paris'") == "2026-10-25 02:30:00 w1 y298 false");
  CHECK(parts("1772434800, 'America/New_York'") == "2026-03-02 02:00:00 w2 y61 false");
  CHECK(parts("-1, 'UTC'") == "1969-12-31 23:59:59 w4 y365 false");

  auto bad = (*sb)->run("return time.parts(0, 'Mars/Olympus')");
  REQUIRE_FALSE(bad.isOk());
  CHECK(contains(bad.status().message(), "unknown time zone \"Mars/Olympus\""));
  auto range = (*sb)->run("return time.parts(1e300)");
  REQUIRE_FALSE(range.isOk());
  CHECK(contains(range.status().message(), "out of range"));
  auto caught = (*sb)->run("return pcall(time.parts, 0, 'Nowhere')");
  REQUIRE(caught.isOk());
  CHECK(caught->at(0) == "false");
}
