// One user of a script (a `lua` trigger, a scaling policy): its own sandbox running the script's
// current version, switched to a newer checked version between two calls when the ScriptHandle's
// generation changes (a file or ConfigMap was edited). ctx.state lives in the sandbox's registry
// under the user's key and is carried to the new version through JSON (plain data only).
// Private to lua/. Not thread-safe: the owner serialises calls.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "updraft/lua/sandbox.h"
#include "updraft/lua/script_store.h"
#include "updraft/status.h"

struct lua_State;

namespace updraft::lua {

class ScriptInstance {
 public:
  // `logTag` prefixes the script's log lines and the reload messages ("ScaledObject default/orders
  // trigger queue"); `stateKey` names the registry field holding ctx.state.
  // `allowIo`: whether the script may call `http` (scalers yes; policies no).
  ScriptInstance(std::shared_ptr<ScriptHandle> script, std::string logTag, const char* stateKey,
                 bool allowIo);

  // Switches to the script's newest checked version if it changed since the last call. A version
  // that cannot start is logged and not retried; the previous version (if any) keeps running.
  Status switchIfChanged();

  // The running sandbox; null while no version could be started (a ConfigMap not delivered yet).
  Sandbox* sandbox() { return sandbox_.get(); }
  const ScriptHandle& script() const { return *script_; }
  const std::string& logTag() const { return logTag_; }

  // Pushes ctx.state (a table kept in the registry, created on first use). For call()'s pushArgs.
  void pushState(lua_State* L) const;

 private:
  std::shared_ptr<ScriptHandle> script_;
  std::string logTag_;
  const char* stateKey_;
  bool allowIo_;
  std::unique_ptr<Sandbox> sandbox_;
  uint64_t generation_ = 0;
};

}  // namespace updraft::lua
