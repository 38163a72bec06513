// The `lua` trigger: a script whose global getMetric(ctx) returns the metric.
//
//   triggers:
//   - type: lua
//     metadata:
//       targetValue: "10"
//       activationTargetValue: "0"     # optional
//       scriptFile: queue.lua          # or scriptConfigMap: <name> (+ scriptKey), or script: |
//       queue: orders                  # every other key reaches the script as ctx.metadata
//
//   -- queue.lua
//   local polls = 0                    -- top-level locals persist across polls of this trigger
//   function getMetric(ctx)            -- globals may be defined only by the top level
//     polls = polls + 1
//     ctx.state.last = ctx.metadata.queue   -- ctx.state persists too (and across reloads)
//     return 5, true                   -- value [, active]
//   end
//
// parse() resolves the source through the ScriptStore (lua/script_store.h): the text is compiled
// and checked once per content (so `updraft validate` reports syntax errors with their line, and a
// missing getMetric). Each live scaler loads the shared bytecode into its own sandbox; before
// every poll it compares the script's generation and, when a new checked version arrived (file or
// ConfigMap changed), switches to it, carrying ctx.state over when it is JSON-encodable.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <lua.hpp>
#include <memory>
#include <mutex>
#include <set>
#include <string>

#include "script_instance.h"
#include "updraft/lua/sandbox.h"
#include "updraft/lua/script_store.h"
#include "updraft/metadata.h"
#include "updraft/scaler.h"

namespace updraft {
namespace {

constexpr const char* kStateKey = "updraft.lua_scaler.state";
constexpr const char* kDefaultScriptKey = "script.lua";

struct LuaSettings {
  std::shared_ptr<lua::ScriptHandle> script;
  std::string name;    // trigger name, or "script"
  std::string logTag;  // "ScaledObject default/orders trigger queue"
  double activation = 0;
  StringMap metadata;
  StringMap auth;
};

void pushStringMap(lua_State* L, const StringMap& m) {
  lua_createtable(L, 0, static_cast<int>(m.size()));
  for (const auto& [k, v] : m) {
    lua_pushlstring(L, v.data(), v.size());
    lua_setfield(L, -2, k.c_str());
  }
}

class LuaScaler final : public Scaler {
 public:
  explicit LuaScaler(std::shared_ptr<const LuaSettings> settings)
      : settings_(std::move(settings)),
        instance_(settings_->script, settings_->logTag, kStateKey,
                  /*allowIo=*/true) {}

  // Loads the script's current version (nothing yet for a ConfigMap not delivered).
  Status init() { return instance_.switchIfChanged(); }

  Result<MetricsAndActivity> getMetricsAndActivity(const std::string& metricName,
                                                   TimePoint deadline) override {
    std::lock_guard lock(mutex_);  // the operator's metrics API may call beside the poll loop
    const LuaSettings& s = *settings_;
    Status switched = instance_.switchIfChanged();
    lua::Sandbox* sandbox = instance_.sandbox();
    if (!sandbox) {
      std::string why = s.script->error();
      if (why.empty()) why = switched.message();
      return Status::unavailable(
          fmt::format("lua trigger {}: no script version loaded: {}", s.name, why));
    }
    auto left = deadline - std::chrono::system_clock::now();
    auto until = std::chrono::steady_clock::now() +
                 std::chrono::duration_cast<std::chrono::steady_clock::duration>(left);
    double value = 0;
    bool active = false;
    auto pushArgs = [&](lua_State* L) {
      lua_createtable(L, 0, 4);
      lua_pushlstring(L, s.name.data(), s.name.size());
      lua_setfield(L, -2, "name");
      pushStringMap(L, s.metadata);
      lua_setfield(L, -2, "metadata");
      pushStringMap(L, s.auth);
      lua_setfield(L, -2, "auth");
      instance_.pushState(L);
      lua_setfield(L, -2, "state");
      return 1;
    };
    auto readResults = [&](lua_State* L, int n) -> Status {
      auto describe = [&]() {
        std::string what;
        for (int i = 1; i <= n; ++i) {
          if (i > 1) what += ", ";
          what += luaL_typename(L, i);
        }
        return n == 0 ? std::string("nothing") : what;
      };
      if (n < 1 || n > 2 || lua_type(L, 1) != LUA_TNUMBER ||
          (n == 2 && lua_type(L, 2) != LUA_TBOOLEAN)) {
        return Status::scriptError(
            "getMetric must return a number, or a number and a boolean; it returned " + describe());
      }
      value = lua_tonumber(L, 1);
      active = n == 2 ? lua_toboolean(L, 2) != 0 : value > s.activation;
      return Status::ok();
    };
    Status st = sandbox->call("getMetric", pushArgs, readResults, until);
    if (!st.isOk()) return st.withContext("lua trigger " + s.name);
    MetricsAndActivity out;
    out.isActive = active;
    out.metrics.push_back(MetricValue{metricName, value});
    return out;
  }

 private:
  std::shared_ptr<const LuaSettings> settings_;
  std::mutex mutex_;
  lua::ScriptInstance instance_;
};

class LuaDefinition final : public ScalerDefinition {
 public:
  LuaDefinition(std::shared_ptr<const LuaSettings> settings, MetricSpec spec)
      : settings_(std::move(settings)), spec_(std::move(spec)) {}

  std::vector<MetricSpec> metricSpecs() const override { return {spec_}; }
  double activationThreshold() const override { return settings_->activation; }
  Result<std::unique_ptr<Scaler>> createScaler(const ScalerContext& /*context*/) const override {
    auto scaler = std::make_unique<LuaScaler>(settings_);
    Status s = scaler->init();
    // No version yet (a ConfigMap not delivered) is not fatal: polls report it until one comes.
    if (!s.isOk() && settings_->script->current()) {
      return s.withContext("lua trigger " + settings_->name);
    }
    return std::unique_ptr<Scaler>(std::move(scaler));
  }

 private:
  std::shared_ptr<const LuaSettings> settings_;
  MetricSpec spec_;
};

class LuaScalerFactory final : public ScalerFactory {
 public:
  std::string type() const override { return "lua"; }

  Result<std::unique_ptr<ScalerDefinition>> parse(const ScalerConfig& config) const override {
    MetadataReader r(config);
    auto inlineSource = r.string("script", {.optional = true});
    auto file = r.string("scriptFile", {.optional = true});
    auto configMap = r.string("scriptConfigMap", {.optional = true});
    auto key = r.string("scriptKey", {.defaultValue = kDefaultScriptKey});
    auto target = r.float64("targetValue");
    auto activation = r.float64("activationTargetValue", {.defaultValue = "0"});
    auto metricType = externalMetricTargetType(config);
    if (!metricType.isOk()) r.addError(metricType.status().message());

    const int sources = !!inlineSource + !!file + !!configMap;
    std::shared_ptr<lua::ScriptHandle> handle;
    const std::set<std::string> required = {"getMetric"};
    if (sources != 1) {
      r.addError("script", sources == 0
                               ? "one of script, scriptFile or scriptConfigMap is required"
                               : "give only one of script, scriptFile and scriptConfigMap");
    } else if (inlineSource) {
      auto h = lua::ScriptStore::global().openInline(*inlineSource, "script.lua", required);
      if (h.isOk())
        handle = *h;
      else
        r.addError("script", h.status().message());
    } else if (file) {
      auto h = lua::ScriptStore::global().openFile(*file, required);
      if (h.isOk())
        handle = *h;
      else
        r.addError("scriptFile", h.status().message());
    } else {
      handle = lua::ScriptStore::global().openConfigMap(config.scalableObjectNamespace, *configMap,
                                                        key.value_or(kDefaultScriptKey), required);
    }
    UPDRAFT_RETURN_IF_ERROR(r.finish());

    auto settings = std::make_shared<LuaSettings>();
    settings->script = std::move(handle);
    settings->name = config.triggerName.empty() ? "script" : config.triggerName;
    settings->logTag =
        fmt::format("{} {}/{} trigger {}", config.scalableObjectType,
                    config.scalableObjectNamespace, config.scalableObjectName, settings->name);
    settings->activation = activation.value_or(0);
    for (const auto& [k, v] : config.triggerMetadata) {
      if (k != "script" && k != "scriptFile" && k != "scriptConfigMap" && k != "scriptKey") {
        settings->metadata[k] = v;
      }
    }
    settings->auth = config.authParams;
    MetricSpec spec = externalMetricSpec(config, "lua-" + settings->name, *metricType, *target);
    return std::unique_ptr<ScalerDefinition>(
        std::make_unique<LuaDefinition>(std::move(settings), std::move(spec)));
  }
};

UPDRAFT_REGISTER_SCALER(LuaScalerFactory);

}  // namespace
}  // namespace updraft
