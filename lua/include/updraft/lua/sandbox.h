// A sandboxed LuaJIT state for user scripts (one lua_State per compiled script instance).
//
// Isolation (see the decision table in lua/README.md):
// - The state is created with lua_newstate and a counting allocator that refuses allocations past
//   SandboxOptions::memoryLimitBytes, so a memory bomb fails with "not enough memory" in this state
//   only.
// - The JIT engine is switched off right after creation (a count hook does not run inside compiled
//   traces). Scripts see base functions and copies of string, table, math, bit and coroutine (name
//   by name). No io, os, debug, ffi, jit, package, load*, dofile, string.dump, collectgarbage,
//   getfenv/setfenv, newproxy.
// - A count hook checks a wall-clock deadline every kHookInstructions VM instructions; past it the
//   running call fails with "script exceeded its deadline of <n> ms". The pattern functions (find,
//   match, gmatch, gsub) are reimplemented to check it too (LuaJIT's matcher cannot be stopped).
// - Library functions that call back into Lua (gsub, format, sort, resume, wrap) check a C-stack
//   budget, so recursion through them is an error ("C stack overflow"), never a crash.
// - User code is loaded only as text (luaL_loadbufferx mode "t") into a whitelisted environment.
//   The top-level chunk given to load() may define globals (functions, tables); after it returns
//   the globals are read-only and setting one raises "attempt to set global 'x'".
// - Errors (script errors, limits) come back as StatusCode::kScriptError with Lua's message, e.g.
//   "script.lua:3: attempt to perform arithmetic on a nil value". A non-string error object gives
//   its raw string field `message` if it has one, else "(error object is a <type> value)"; no
//   script code (__tostring, __index) runs while an error becomes a message.
//
// A Sandbox is single-threaded: never use one from two threads at once.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
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
  // Whether `http` may be called (scalers' getMetric only; never while the top level runs). Off
  // for policies and formulas, which must decide from their inputs (and replay under simulate),
  // and for the sandbox that checks a new version.
  bool allowIo = true;
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
  // True while load()/loadCompiled() runs the script's top level.
  bool loading() const { return loading_; }
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
  // Runs `body` in one lua_cpcall under the deadline hook and the C-stack budget; a Lua error
  // becomes a ScriptError. Everything that may allocate in the state happens inside.
  Status protectedRun(const std::function<void(lua_State*)>& body,
                      std::chrono::steady_clock::time_point deadline,
                      std::chrono::steady_clock::time_point hardDeadline);
  Status loadChunk(std::string_view chunk, const char* mode);

  struct Alloc {
    size_t used = 0;
    size_t limit = 0;
    // True while script code runs. The host's own work around it (a call frame, arguments,
    // results, error handling) may use a small reserve above `limit`, so a script that filled the
    // state to the brim gets clean errors, and a host that frees its memory can recover.
    bool script = false;
    // True during the full collection after a failed call: the collector may need to allocate
    // (a smaller string table) before it frees anything, so it is not capped.
    bool collecting = false;
  };
  SandboxOptions options_;
  Alloc alloc_;
  lua_State* L_ = nullptr;
  bool loading_ = false;
  std::chrono::steady_clock::time_point deadline_{};      // the script's budget, moved by IoScope
  std::chrono::steady_clock::time_point hardDeadline_{};  // never moved
  bool deadlineHit_ = false;
  uintptr_t cStackFloor_ = 0;  // host C functions called by the script stay above it (0: none)

  friend struct SandboxAccess;
};

// Registers the host API (json, log, time, base64, hex, sha256, hmac_sha256) into the table on
// top of the stack. Defined in host_api.cc.
void openHostApi(lua_State* L);

}  // namespace updraft::lua
