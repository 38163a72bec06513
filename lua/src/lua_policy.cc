// Lua scaling policies: ScalingPolicy over a script's global policy(ctx) (lua_policy.h).
//
// ctx (rebuilt for every call):
//   now            the engine clock in epoch seconds (virtual time under `updraft simulate`)
//   current, min, max, proposed   replicas: the target's, minReplicaCount, maxReplicaCount, and
//                  the engine's proposal for this decision
//   source         "hpa" (the HPA step, every sync) or "activation" (KEDA's executor scaling)
//   active         the object's Active condition
//   triggers       {[name] = {value, target, active, type}}; value nil when the fetch failed
//   history        earlier decisions, oldest first: {time, source, replicas, proposed, desired,
//                  triggers = {[name] = value}}
//   lastScaleUp, lastScaleDown   epoch seconds of the engine's last increase / decrease, or nil
//   state          a table kept across calls (and carried across reloads when JSON-encodable)
// The result is a number of replicas; a fractional one is rounded toward ctx.proposed.
#include "updraft/lua/lua_policy.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <lua.hpp>
#include <mutex>
#include <set>
#include <string_view>

#include "script_instance.h"
#include "updraft/lua/script_store.h"

namespace updraft::lua {
namespace {

constexpr const char* kStateKey = "updraft.lua_policy.state";
constexpr const char* kFunction = "policy";
constexpr const char* kInlineChunk = "policy.lua";

void setNumber(lua_State* L, const char* key, double v) {
  lua_pushnumber(L, v);
  lua_setfield(L, -2, key);
}

void setString(lua_State* L, const char* key, const std::string& v) {
  lua_pushlstring(L, v.data(), v.size());
  lua_setfield(L, -2, key);
}

void setTime(lua_State* L, const char* key, const std::optional<TimePoint>& t) {
  if (t) setNumber(L, key, toSeconds(*t));
}

// The value in `v` toward `proposed` as an int32: fractions are dropped in the direction of the
// proposal (so 3.7 with a proposal of 2 is 3, with a proposal of 5 is 4).
int32_t towardProposal(double v, int32_t proposed) {
  double r = v > proposed ? std::floor(v) : std::ceil(v);
  constexpr double kMax = std::numeric_limits<int32_t>::max();
  constexpr double kMin = std::numeric_limits<int32_t>::min();
  return static_cast<int32_t>(std::clamp(r, kMin, kMax));
}

class LuaPolicy final : public ScalingPolicy {
 public:
  LuaPolicy(std::shared_ptr<ScriptHandle> script, std::string logTag)
      : instance_(std::move(script), std::move(logTag), kStateKey,
                  /*allowIo=*/false) {}

  // Loads the current version (nothing yet for a ConfigMap not delivered).
  Status init() { return instance_.switchIfChanged(); }

  Result<int32_t> desiredReplicas(const PolicyInput& in) override {
    std::lock_guard lock(mutex_);
    Status switched = instance_.switchIfChanged();
    Sandbox* sandbox = instance_.sandbox();
    if (!sandbox) {
      std::string why = instance_.script().error();
      if (why.empty()) why = switched.message();
      return Status::unavailable("no version of the policy script is loaded: " + why);
    }
    double value = 0;
    auto pushArgs = [&](lua_State* L) {
      pushContext(L, in);
      return 1;
    };
    auto readResults = [&](lua_State* L, int n) -> Status {
      if (n < 1 || lua_type(L, 1) != LUA_TNUMBER) {
        return Status::scriptError(
            fmt::format("policy must return a number of replicas; it returned {}",
                        n < 1 ? "nothing" : luaL_typename(L, 1)));
      }
      value = lua_tonumber(L, 1);
      return Status::ok();
    };
    UPDRAFT_RETURN_IF_ERROR(sandbox->call(kFunction, pushArgs, readResults));
    if (!std::isfinite(value)) {
      return Status::scriptError(
          fmt::format("policy must return a finite number of replicas; it returned {}", value));
    }
    return towardProposal(value, in.proposed);
  }

  std::string describe() const override { return "Lua policy " + instance_.script().name(); }

 private:
  void pushContext(lua_State* L, const PolicyInput& in) {
    lua_createtable(L, 0, 14);
    setNumber(L, "now", toSeconds(in.now));
    setNumber(L, "current", in.currentReplicas);
    setNumber(L, "min", in.minReplicas);
    setNumber(L, "max", in.maxReplicas);
    setNumber(L, "proposed", in.proposed);
    setString(L, "source", in.source);
    lua_pushboolean(L, in.active);
    lua_setfield(L, -2, "active");
    setTime(L, "lastScaleUp", in.lastScaleUp);
    setTime(L, "lastScaleDown", in.lastScaleDown);

    lua_createtable(L, 0, static_cast<int>(in.triggers.size()));
    for (const PolicyTrigger& t : in.triggers) {
      lua_createtable(L, 0, 4);
      if (t.value) setNumber(L, "value", *t.value);
      setNumber(L, "target", t.target);
      lua_pushboolean(L, t.active);
      lua_setfield(L, -2, "active");
      setString(L, "type", t.type);
      lua_setfield(L, -2, t.name.c_str());
    }
    lua_setfield(L, -2, "triggers");

    const size_t samples = in.history ? in.history->size() : 0;
    lua_createtable(L, static_cast<int>(samples), 0);
    for (size_t i = 0; i < samples; ++i) {
      const PolicySample& s = (*in.history)[i];
      lua_createtable(L, 0, 6);
      setNumber(L, "time", toSeconds(s.time));
      setString(L, "source", s.source);
      setNumber(L, "replicas", s.replicas);
      setNumber(L, "proposed", s.proposed);
      setNumber(L, "desired", s.desired);
      lua_createtable(L, 0, static_cast<int>(in.triggers.size()));
      for (size_t k = 0; k < s.values.size() && k < in.triggers.size(); ++k) {
        if (s.values[k]) setNumber(L, in.triggers[k].name.c_str(), *s.values[k]);
      }
      lua_setfield(L, -2, "triggers");
      lua_rawseti(L, -2, static_cast<int>(i + 1));
    }
    lua_setfield(L, -2, "history");

    instance_.pushState(L);
    lua_setfield(L, -2, "state");
  }

  std::mutex mutex_;
  ScriptInstance instance_;
};

std::string annotationPath(const char* annotation) {
  return fmt::format("metadata.annotations[\"{}\"]", annotation);
}

}  // namespace

Result<std::shared_ptr<ScalingPolicy>> luaPolicyFor(const ScaledObject& so,
                                                    std::string* errorPath) {
  const StringMap& ann = so.metadata.annotations;
  std::vector<const char*> set;
  for (const char* a :
       {annotations::kPolicy, annotations::kPolicyFile, annotations::kPolicyConfigMap}) {
    if (ann.count(a)) set.push_back(a);
  }
  if (set.empty()) return std::shared_ptr<ScalingPolicy>();
  auto fail = [&](const char* annotation, const Status& s) -> Status {
    if (errorPath) *errorPath = annotationPath(annotation);
    return s;
  };
  if (set.size() > 1) {
    return fail(set[1], Status::invalidArgument(
                            fmt::format("give only one of {}, {} and {}", annotations::kPolicy,
                                        annotations::kPolicyFile, annotations::kPolicyConfigMap)));
  }
  const char* which = set.front();
  const std::string& value = ann.at(which);
  const std::set<std::string> required = {kFunction};
  ScriptStore& store = ScriptStore::global();
  std::shared_ptr<ScriptHandle> handle;
  if (std::string_view(which) == annotations::kPolicy) {
    auto h = store.openInline(value, kInlineChunk, required);
    if (!h.isOk()) return fail(which, h.status());
    handle = *h;
  } else if (std::string_view(which) == annotations::kPolicyFile) {
    if (value.empty()) return fail(which, Status::invalidArgument("the file name is empty"));
    auto h = store.openFile(value, required);
    if (!h.isOk()) return fail(which, h.status());
    handle = *h;
  } else {
    const auto slash = value.find('/');
    if (slash == std::string::npos || slash == 0 || slash + 1 == value.size() ||
        value.find('/', slash + 1) != std::string::npos) {
      return fail(which,
                  Status::invalidArgument(fmt::format(
                      "\"{}\": expected <configmap>/<key>, e.g. scaling/policy.lua", value)));
    }
    handle = store.openConfigMap(so.metadata.namespace_, value.substr(0, slash),
                                 value.substr(slash + 1), required);
  }
  auto policy = std::make_shared<LuaPolicy>(
      handle, fmt::format("ScaledObject {}/{} policy", so.metadata.namespace_, so.metadata.name));
  Status s = policy->init();
  // No version yet (a ConfigMap not delivered) is not fatal: calls report it until one comes.
  if (!s.isOk() && handle->current()) return fail(which, s);
  return std::shared_ptr<ScalingPolicy>(std::move(policy));
}

}  // namespace updraft::lua
