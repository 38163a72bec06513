// The `lua` trigger: an inline script whose global getMetric(ctx) returns the metric.
//
//   triggers:
//   - type: lua
//     metadata:
//       targetValue: "10"
//       activationTargetValue: "0"     # optional
//       script: |
//         local polls = 0                -- top-level locals persist across polls
//         function getMetric(ctx)        -- globals may be defined only by the top level
//           polls = polls + 1
//           ctx.state.last = ctx.metadata.queue   -- ctx.state persists too
//           return 5, true               -- value [, active]
//         end
//
// parse() compiles and runs the top level once in a sandbox (so `updraft validate` reports syntax
// errors with their line and a missing getMetric). Each live scaler has its own sandbox, loaded
// once; getMetric(ctx) is called on every poll with ctx = {name, metadata (every trigger metadata
// key except script), auth (authParams), state (a table kept across polls)}.
#include <lua.hpp>
#include <memory>
#include <string>

#include "updraft/lua/sandbox.h"
#include "updraft/metadata.h"
#include "updraft/scaler.h"

namespace updraft {
namespace {

constexpr const char* kStateKey = "updraft.lua_scaler.state";

struct LuaSettings {
  std::string source;
  std::string name;
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
  LuaScaler(std::shared_ptr<const LuaSettings> settings, std::unique_ptr<lua::Sandbox> sandbox)
      : settings_(std::move(settings)), sandbox_(std::move(sandbox)) {}

  Result<MetricsAndActivity> getMetricsAndActivity(const std::string& metricName,
                                                   TimePoint deadline) override {
    const LuaSettings& s = *settings_;
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
      lua_getfield(L, LUA_REGISTRYINDEX, kStateKey);
      if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        lua_newtable(L);
        lua_pushvalue(L, -1);
        lua_setfield(L, LUA_REGISTRYINDEX, kStateKey);
      }
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
    Status st = sandbox_->call("getMetric", pushArgs, readResults, until);
    if (!st.isOk()) return st.withContext("lua trigger " + s.name);
    MetricsAndActivity out;
    out.isActive = active;
    out.metrics.push_back(MetricValue{metricName, value});
    return out;
  }

 private:
  std::shared_ptr<const LuaSettings> settings_;
  std::unique_ptr<lua::Sandbox> sandbox_;
};

class LuaDefinition final : public ScalerDefinition {
 public:
  LuaDefinition(std::shared_ptr<const LuaSettings> settings, MetricSpec spec)
      : settings_(std::move(settings)), spec_(std::move(spec)) {}

  std::vector<MetricSpec> metricSpecs() const override { return {spec_}; }
  double activationThreshold() const override { return settings_->activation; }
  Result<std::unique_ptr<Scaler>> createScaler(const ScalerContext& /*context*/) const override {
    auto sandbox = lua::Sandbox::create();
    if (!sandbox.isOk()) return sandbox.status();
    Status s = (*sandbox)->load(settings_->source);
    if (!s.isOk()) return s.withContext("lua trigger " + settings_->name);
    return std::unique_ptr<Scaler>(
        std::make_unique<LuaScaler>(settings_, std::move(sandbox.value())));
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
    auto source = r.string("script");
    auto target = r.float64("targetValue");
    auto activation = r.float64("activationTargetValue", {.defaultValue = "0"});
    auto metricType = externalMetricTargetType(config);
    if (!metricType.isOk()) r.addError(metricType.status().message());
    if (source) {
      auto sandbox = lua::Sandbox::create();
      if (!sandbox.isOk()) {
        r.addError("script", sandbox.status().message());
      } else {
        Status s = (*sandbox)->load(*source);
        if (!s.isOk()) {
          r.addError("script", s.message());
        } else if (!(*sandbox)->hasFunction("getMetric")) {
          r.addError("script", "must define a global function getMetric(ctx)");
        }
      }
    }
    UPDRAFT_RETURN_IF_ERROR(r.finish());

    auto settings = std::make_shared<LuaSettings>();
    settings->source = *source;
    settings->name = config.triggerName.empty() ? "script" : config.triggerName;
    settings->activation = activation.value_or(0);
    for (const auto& [k, v] : config.triggerMetadata) {
      if (k != "script") settings->metadata[k] = v;
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
