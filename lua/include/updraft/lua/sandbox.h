// A sandboxed LuaJIT state for user scripts (one lua_State per compiled script instance).
//
// Isolation (see docs in lua/README.md):
// - The state is created with lua_newstate and a counting allocator that refuses allocations past
//   SandboxOptions::memoryLimitBytes, so a memory bomb fails with "not enough memory" in this state
//   only.
// - The JIT engine is switched off right after creation (a count hook does not run inside compiled
//   traces), and only base, table, string, math and bit are opened. No io, os, debug, ffi, jit,
//   package, coroutine.
// - A count hook checks a wall-clock deadline every kHookInstructions VM instructions; past it the
//   running call fails with "script exceeded its deadline of <n> ms".
// - User code is loaded only as text (luaL_loadbufferx mode "t") into a whitelisted environment.
//   The top-level chunk given to load() may define globals (functions, tables); after it returns
//   the globals are read-only and setting one raises "attempt to set global 'x'".
// - Errors (script errors, limits) come back as StatusCode::kScriptError with Lua's message, e.g.
//   "script.lua:3: attempt to perform arithmetic on a nil value".
//
// A Sandbox is single-threaded: never use one from two threads at once.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "updraft/status.h"

struct lua_State;

namespace updraft::lua {

struct SandboxOptions {
  // Total bytes the state may hold; allocations past it fail ("not enough memory").
  size_t memoryLimitBytes = 16u << 20;
  // Wall-clock budget of one load()/run()/call().
  std::chrono::milliseconds callDeadline{100};
  // Name used in error messages ("script.lua:3: ...").
  std::string chunkName = "script.lua";
  // Prefix of log.info/log.warn lines, e.g. "ScaledObject default/orders trigger queue".
  std::string logTag;
};

class Sandbox {
 public:
  static Result<std::unique_ptr<Sandbox>> create(const SandboxOptions& options = {});
  ~Sandbox();
  Sandbox(const Sandbox&) = delete;
  Sandbox& operator=(const Sandbox&) = delete;

  // Compiles `source` (text only) and runs its top level; globals it sets are kept, then the
  // globals become read-only. A syntax error is an InvalidArgument with the line; a runtime
  // error or limit is a ScriptError.
  Status load(std::string_view source);

  // Like load() for a chunk this process compiled itself with compile() (trusted bytecode, never
  // user-supplied: scripts cannot load bytecode). Errors carry the chunk name given to compile().
  Status loadCompiled(std::string_view bytecode);

  // Compiles `source` (text only) without running it and returns its bytecode with debug info
  // (so error messages keep "<chunkName>:<line>:"). A syntax error is InvalidArgument.
  Result<std::string> compile(std::string_view source);

  // Compiles and runs `source` with read-only globals; returns its results converted with
  // tostring rules ("nil", "true", numbers as Lua prints them, type names for tables/functions).
  // Mostly for tests and diagnostics.
  Result<std::vector<std::string>> run(std::string_view source);

  // True when the script defined a global function `name`.
  bool hasFunction(const std::string& name);
  // Names of the global functions the script defined.
  std::vector<std::string> globalFunctions();

  // Calls global function `name`. `pushArgs` pushes the arguments and returns how many;
  // `readResults` gets the number of results (all kept, LUA_MULTRET), which sit on top of the
  // stack. Both run in protected mode (a memory error in them becomes a Status). Stops at the
  // earlier of `deadline` (when given) and now + callDeadline.
  Status call(const std::string& name, const std::function<int(lua_State*)>& pushArgs,
              const std::function<Status(lua_State*, int)>& readResults,
              std::optional<std::chrono::steady_clock::time_point> deadline = std::nullopt);

  // The sandbox running in `L` (any Lua state made by Sandbox::create), for host functions.
  static Sandbox& of(lua_State* L);

  // Host functions doing blocking I/O hold an IoScope: the time spent inside does not count
  // against the script's callDeadline budget (a slow server is bounded by the I/O's own timeout
  // and the caller's hard deadline instead).
  class IoScope {
   public:
    explicit IoScope(Sandbox& sb);
    ~IoScope();
    IoScope(const IoScope&) = delete;
    IoScope& operator=(const IoScope&) = delete;

   private:
    Sandbox& sb_;
    std::chrono::steady_clock::time_point start_;
  };
  // The deadline given to the running call() (the poll's), or now + callDeadline for load/run.
  // I/O started by a host function must end by then.
  std::chrono::steady_clock::time_point hardDeadline() const { return hardDeadline_; }

  // Runs `fn` in protected mode with no deadline, for host-side stack work only (never user
  // code): a Lua error or a memory error in it becomes a ScriptError. Restores the stack top.
  Status withStack(const std::function<void(lua_State*)>& fn);

  // Bytes currently allocated by the state.
  size_t memoryUsed() const;
  const SandboxOptions& options() const { return options_; }
  lua_State* state() { return L_; }

 private:
  explicit Sandbox(const SandboxOptions& options);
  Status init();
  // Runs the function on top of the stack (with `nargs` args above it) under the deadline.
  Status protectedCall(int nargs, int nresults, std::chrono::steady_clock::time_point deadline,
                       std::chrono::steady_clock::time_point hardDeadline);
  Status loadChunk(std::string_view chunk, const char* mode);

  struct Alloc {
    size_t used = 0;
    size_t limit = 0;
  };
  SandboxOptions options_;
  Alloc alloc_;
  lua_State* L_ = nullptr;
  bool loading_ = false;
  std::chrono::steady_clock::time_point deadline_{};      // the script's budget, moved by IoScope
  std::chrono::steady_clock::time_point hardDeadline_{};  // never moved
  bool deadlineHit_ = false;

  friend struct SandboxAccess;
};

// Registers the host API (json, log, time, base64, hex, sha256, hmac_sha256) into the table on
// top of the stack. Defined in host_api.cc.
void openHostApi(lua_State* L);

}  // namespace updraft::lua
