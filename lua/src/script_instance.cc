#include "script_instance.h"

#include <spdlog/spdlog.h>

#include <lua.hpp>
#include <nlohmann/json.hpp>

#include "json_bridge.h"

namespace updraft::lua {
namespace {

// Builds a sandbox running `script` (its top level runs now, in this state).
Result<std::unique_ptr<Sandbox>> instantiate(const CompiledScript& script,
                                             const std::string& logTag, bool allowIo) {
  SandboxOptions options;
  options.chunkName = script.chunkName;
  options.logTag = logTag;
  options.allowIo = allowIo;
  auto sb = Sandbox::create(options);
  if (!sb.isOk()) return sb.status();
  UPDRAFT_RETURN_IF_ERROR((*sb)->loadCompiled(script.bytecode));
  return std::move(*sb);
}

// Copies ctx.state from one sandbox to another through JSON (plain data only).
Status carryState(Sandbox& from, Sandbox& to, const char* stateKey) {
  nlohmann::json state;
  std::string err;
  bool present = false;
  UPDRAFT_RETURN_IF_ERROR(from.withStack([&](lua_State* L) {
    lua_getfield(L, LUA_REGISTRYINDEX, stateKey);
    present = !lua_isnil(L, -1);
    if (present && !luaToJson(L, -1, state, err)) present = false;
  }));
  if (!err.empty()) return Status::invalidArgument("ctx.state is not plain data: " + err);
  if (!present) return Status::ok();
  return to.withStack([&](lua_State* L) {
    pushJsonValue(L, state);
    if (!lua_istable(L, -1)) {
      lua_pop(L, 1);
      lua_newtable(L);
    }
    lua_setfield(L, LUA_REGISTRYINDEX, stateKey);
  });
}

}  // namespace

ScriptInstance::ScriptInstance(std::shared_ptr<ScriptHandle> script, std::string logTag,
                               const char* stateKey, bool allowIo)
    : script_(std::move(script)),
      logTag_(std::move(logTag)),
      stateKey_(stateKey),
      allowIo_(allowIo) {}

Status ScriptInstance::switchIfChanged() {
  const uint64_t generation = script_->generation();
  if (generation == generation_) return Status::ok();
  auto script = script_->current();
  if (!script) return Status::unavailable(script_->error());
  generation_ = generation;  // a version that fails here is not retried on every call
  auto next = instantiate(*script, logTag_, allowIo_);
  if (!next.isOk()) {
    spdlog::error("lua {}: cannot start {} version {}: {}{}", logTag_, script_->name(),
                  script->shortHash(), next.status().message(),
                  sandbox_ ? "; the previous version keeps running" : "");
    return next.status();
  }
  if (sandbox_) {
    Status carried = carryState(*sandbox_, **next, stateKey_);
    spdlog::info("lua {}: now running {} version {}{}", logTag_, script_->name(),
                 script->shortHash(),
                 carried.isOk() ? "" : "; ctx.state starts empty: " + carried.message());
  }
  sandbox_ = std::move(*next);
  return Status::ok();
}

void ScriptInstance::pushState(lua_State* L) const {
  lua_getfield(L, LUA_REGISTRYINDEX, stateKey_);
  if (lua_isnil(L, -1)) {
    lua_pop(L, 1);
    lua_newtable(L);
    lua_pushvalue(L, -1);
    lua_setfield(L, LUA_REGISTRYINDEX, stateKey_);
  }
}

}  // namespace updraft::lua
