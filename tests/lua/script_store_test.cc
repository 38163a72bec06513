// Scripts from files and ConfigMaps: compile once per content, hot reload, bad versions refused,
// and many objects on one script polled at once from the scheduler's threads.
#include "updraft/lua/script_store.h"

#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "updraft/scaler.h"
#include "updraft/scheduler.h"

using namespace updraft;
using namespace std::chrono_literals;

namespace {

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

struct TempDir {
  std::filesystem::path path;
  TempDir() {
    char tmpl[] = "/tmp/updraft-lua-XXXXXX";
    path = ::mkdtemp(tmpl);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
  std::string file(const std::string& name) const { return (path / name).string(); }
};

void write(const std::string& path, const std::string& text) {
  // Write a new file and rename it over the old one, as editors and kubelet do (atomic swap).
  const std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    f << text;
  }
  std::filesystem::rename(tmp, path);
}

std::string returning(double v) {
  return "function getMetric(ctx) return " + std::to_string(v) + " end\n";
}

ScalerConfig config(StringMap metadata, const std::string& name = "so") {
  ScalerConfig c;
  c.scalableObjectName = name;
  c.scalableObjectNamespace = "default";
  c.scalableObjectType = "ScaledObject";
  c.triggerType = "lua";
  c.triggerName = "t";
  c.triggerMetadata = std::move(metadata);
  c.triggerMetadata["targetValue"] = "10";
  return c;
}

std::unique_ptr<Scaler> live(const ScalerConfig& c) {
  auto def = ScalerRegistry::global().find("lua")->parse(c);
  INFO(def.status().toString());
  REQUIRE(def.isOk());
  auto scaler = (*def)->createScaler(ScalerContext{});
  INFO(scaler.status().toString());
  REQUIRE(scaler.isOk());
  return std::move(scaler.value());
}

Result<double> value(Scaler& s) {
  auto r = s.getMetricsAndActivity("m", std::chrono::system_clock::now() + 5s);
  if (!r.isOk()) return r.status();
  return r->metrics.at(0).value;
}

// Polls until the scaler reports `want` or `limit` passes; returns how long it took.
std::optional<std::chrono::milliseconds> waitFor(Scaler& s, double want,
                                                 std::chrono::milliseconds limit = 3000ms) {
  const auto start = std::chrono::steady_clock::now();
  while (std::chrono::steady_clock::now() - start < limit) {
    auto v = value(s);
    if (v.isOk() && *v == want) {
      return std::chrono::duration_cast<std::chrono::milliseconds>(
          std::chrono::steady_clock::now() - start);
    }
    std::this_thread::sleep_for(10ms);
  }
  return std::nullopt;
}

struct Events {
  std::mutex mutex;
  std::vector<lua::ReloadEvent> list;
  int id;
  Events() {
    id = lua::ScriptStore::global().addListener([this](const lua::ReloadEvent& e) {
      std::lock_guard lock(mutex);
      list.push_back(e);
    });
  }
  ~Events() { lua::ScriptStore::global().removeListener(id); }
  std::optional<lua::ReloadEvent> last() {
    std::lock_guard lock(mutex);
    if (list.empty()) return std::nullopt;
    return list.back();
  }
};

}  // namespace

TEST_CASE("script store: 1,000 objects on one script compile it once, each with its own state") {
  const std::string script =
      "local polls = 0  -- 1,000 objects test\n"
      "function getMetric(ctx) polls = polls + 1; return polls end\n";
  const size_t before = lua::ScriptCache::global().compilations();
  std::vector<std::unique_ptr<Scaler>> scalers;
  for (int i = 0; i < 1000; ++i) {
    scalers.push_back(live(config({{"script", script}}, "so-" + std::to_string(i))));
  }
  CHECK(lua::ScriptCache::global().compilations() - before == 1);
  // Top-level locals belong to each object: the first poll of every object returns 1.
  CHECK(*value(*scalers[0]) == 1);
  CHECK(*value(*scalers[0]) == 2);
  CHECK(*value(*scalers[999]) == 1);
}

TEST_CASE("script store: a file script is reloaded within a second of a change") {
  TempDir dir;
  const std::string path = dir.file("queue.lua");
  write(path, returning(1));
  auto scaler = live(config({{"scriptFile", path}}));
  CHECK(*value(*scaler) == 1);
  Events events;

  write(path, returning(2));
  auto took = waitFor(*scaler, 2);
  REQUIRE(took);
  CHECK(*took < 1000ms);
  auto e = events.last();
  REQUIRE(e);
  CHECK(e->ok);
  CHECK(contains(e->script, "queue.lua"));
}

TEST_CASE("script store: bad versions keep the old one running and report why") {
  TempDir dir;
  const std::string path = dir.file("policy.lua");
  write(path, returning(1));
  auto def = ScalerRegistry::global().find("lua")->parse(config({{"scriptFile", path}}));
  REQUIRE(def.isOk());
  auto scaler = std::move((*def)->createScaler(ScalerContext{}).value());
  Events events;
  auto refused = [&](const std::string& text, const std::string& why) {
    write(path, text);
    lua::ScriptStore::global().checkFilesNow();
    auto e = events.last();
    REQUIRE(e);
    CHECK_FALSE(e->ok);
    INFO(e->error);
    CHECK(contains(e->error, why));
    CHECK(*value(*scaler) == 1);  // still the first version
  };
  SECTION("syntax error, with its line") {
    refused("function getMetric(ctx)\n  return 1 +\nend\n", "policy.lua:3:");
  }
  SECTION("missing function") { refused("function other() return 1 end\n", "getMetric"); }
  SECTION("failing self-check") {
    refused(returning(5) + "function check() return false, 'target too low' end\n",
            "target too low");
  }
  SECTION("self-check raising") {
    refused(returning(5) + "function check() error('bad config') end\n", "bad config");
  }
  SECTION("top level hitting the deadline") {
    refused(returning(5) + "while true do end\n", "deadline");
  }
  SECTION("file deleted, then restored") {
    std::filesystem::remove(path);
    lua::ScriptStore::global().checkFilesNow();
    auto e = events.last();
    REQUIRE(e);
    CHECK_FALSE(e->ok);
    CHECK(contains(e->error, "deleted"));
    CHECK(*value(*scaler) == 1);
    write(path, returning(3));
    lua::ScriptStore::global().checkFilesNow();
    CHECK(*value(*scaler) == 3);
  }
  // A good version after the bad one is taken.
  write(path, returning(4));
  lua::ScriptStore::global().checkFilesNow();
  CHECK(*value(*scaler) == 4);
}

TEST_CASE("script store: rapid changes end on the last version") {
  TempDir dir;
  const std::string path = dir.file("rapid.lua");
  write(path, returning(0));
  auto scaler = live(config({{"scriptFile", path}}));
  for (int i = 1; i <= 30; ++i) {
    write(path, returning(i));
    if (i % 3 == 0) std::this_thread::sleep_for(20ms);  // some land between watcher passes
  }
  auto took = waitFor(*scaler, 30);
  REQUIRE(took);
  CHECK(*took < 1000ms);
}

TEST_CASE("script store: ctx.state survives a reload, top-level locals do not") {
  TempDir dir;
  const std::string path = dir.file("state.lua");
  write(path,
        "local n = 0\n"
        "function getMetric(ctx)\n"
        "  n = n + 1\n"
        "  ctx.state.total = (ctx.state.total or 0) + 10\n"
        "  return ctx.state.total + n\n"
        "end\n");
  auto scaler = live(config({{"scriptFile", path}}));
  CHECK(*value(*scaler) == 11);
  CHECK(*value(*scaler) == 22);
  write(path,
        "local n = 0\n"
        "function getMetric(ctx)\n"
        "  n = n + 1\n"
        "  ctx.state.total = (ctx.state.total or 0) + 100\n"
        "  return ctx.state.total + n\n"
        "end\n");
  lua::ScriptStore::global().checkFilesNow();
  CHECK(*value(*scaler) == 121);  // total 20 carried over, +100; n restarted at 1
}

TEST_CASE("script store: errors at run time carry the file's name and line") {
  TempDir dir;
  const std::string path = dir.file("broken.lua");
  write(path, "function getMetric(ctx)\n  local t = nil\n  return t.x\nend\n");
  auto scaler = live(config({{"scriptFile", path}}));
  auto r = value(*scaler);
  REQUIRE_FALSE(r.isOk());
  CHECK(contains(r.status().message(), "broken.lua:3:"));
  CHECK(contains(r.status().message(), "lua trigger t"));
}

TEST_CASE("script store: a missing file fails parse with the path") {
  auto def = ScalerRegistry::global().find("lua")->parse(
      config({{"scriptFile", "/nonexistent/updraft/x.lua"}}));
  REQUIRE_FALSE(def.isOk());
  CHECK(contains(def.status().message(), "/nonexistent/updraft/x.lua"));
  auto both = ScalerRegistry::global().find("lua")->parse(
      config({{"scriptFile", "/x.lua"}, {"script", returning(1)}}));
  REQUIRE_FALSE(both.isOk());
  CHECK(contains(both.status().message(), "only one of"));
}

TEST_CASE("script store: ConfigMap scripts come and go with the informer") {
  auto& store = lua::ScriptStore::global();
  auto scaler = live(config({{"scriptConfigMap", "scripts"}, {"scriptKey", "queue.lua"}}));
  auto none = value(*scaler);
  REQUIRE_FALSE(none.isOk());
  CHECK(contains(none.status().message(), "waiting for ConfigMap default/scripts"));

  store.putConfigMap("default", "scripts", {{"queue.lua", returning(7)}, {"other", "x"}});
  CHECK(*value(*scaler) == 7);
  // Another namespace's ConfigMap of the same name is not ours.
  store.putConfigMap("other", "scripts", {{"queue.lua", returning(8)}});
  CHECK(*value(*scaler) == 7);

  Events events;
  store.putConfigMap("default", "scripts", {{"queue.lua", "function getMetric( return end"}});
  CHECK(*value(*scaler) == 7);
  REQUIRE(events.last());
  CHECK(contains(events.last()->error, "scripts/queue.lua:1:"));

  store.putConfigMap("default", "scripts", {{"other", "x"}});
  CHECK(contains(events.last()->error, "has no key queue.lua"));
  store.deleteConfigMap("default", "scripts");
  CHECK(contains(events.last()->error, "deleted"));
  CHECK(*value(*scaler) == 7);

  store.putConfigMap("default", "scripts", {{"queue.lua", returning(9)}});
  CHECK(*value(*scaler) == 9);
  CHECK(events.last()->ok);
}

TEST_CASE("script store: many objects poll one script at once from the scheduler's threads") {
  TempDir dir;
  const std::string path = dir.file("shared.lua");
  write(path,
        "function getMetric(ctx)\n"
        "  local s = 0\n"
        "  for i = 1, 2000 do s = s + i end\n"  // some work, so runs overlap
        "  ctx.state.n = (ctx.state.n or 0) + 1\n"
        "  return tonumber(ctx.metadata.id) * 1000 + ctx.state.n\n"
        "end\n");
  constexpr int kObjects = 64;
  struct Object {
    std::unique_ptr<Scaler> scaler;
    std::atomic<int> polls{0};
    std::atomic<int> wrong{0};
  };
  std::vector<std::shared_ptr<Object>> objects;
  for (int i = 0; i < kObjects; ++i) {
    auto o = std::make_shared<Object>();
    o->scaler = live(
        config({{"scriptFile", path}, {"id", std::to_string(i + 1)}}, "so-" + std::to_string(i)));
    objects.push_back(o);
  }
  SchedulerOptions opts;
  opts.workerThreads = 8;
  Scheduler scheduler(SystemClock::instance(), opts);
  for (int i = 0; i < kObjects; ++i) {
    TaskSpec spec;
    spec.interval = 5ms;
    spec.timeout = 2s;
    spec.run = [o = objects[i], i](const PollContext& ctx) {
      auto r = o->scaler->getMetricsAndActivity("m", ctx.deadline);
      const int n = o->polls.fetch_add(1) + 1;
      // Each object sees its own metadata and its own ctx.state, whatever thread runs it.
      if (!r.isOk() || r->metrics.at(0).value != (i + 1) * 1000 + n) o->wrong.fetch_add(1);
    };
    REQUIRE(scheduler.add(std::move(spec)).isOk());
  }
  REQUIRE(scheduler.start().isOk());
  std::this_thread::sleep_for(400ms);
  REQUIRE(scheduler.stop().isOk());
  int polls = 0;
  for (auto& o : objects) {
    CHECK(o->wrong == 0);
    polls += o->polls;
  }
  CHECK(polls > kObjects * 5);
}

TEST_CASE("script store: no http while a script loads or checks itself") {
  // validate and reloads run the top level and check(): they must never reach the network.
  auto atTop = ScalerRegistry::global().find("lua")->parse(
      config({{"script", "local r = http.get('http://127.0.0.1:9/')\n" + returning(1)}}));
  REQUIRE_FALSE(atTop.isOk());
  CHECK(contains(atTop.status().message(), "not available while the script's top level runs"));
  auto inCheck = ScalerRegistry::global().find("lua")->parse(config(
      {{"script", returning(1) + "function check() http.get('http://127.0.0.1:9/') end\n"}}));
  REQUIRE_FALSE(inCheck.isOk());
  CHECK(contains(inCheck.status().message(), "http is available to scalers' getMetric only"));
}
