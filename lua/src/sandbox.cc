// The sandbox (see sandbox.h and the decision table in lua/README.md).
//
// Every entry point that runs script code goes through Sandbox::protectedRun: the deadline hook is
// armed, the C-stack floor for host C functions is set, and the work (loading the chunk, pushing
// arguments, calling, reading results) runs inside one lua_cpcall, so that no Lua API call that may
// allocate runs unprotected (a memory error there would end the process through the panic
// function). Turning an error into a message never runs script code (no tostring, no metamethods).
#include "updraft/lua/sandbox.h"

#include <pthread.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <lua.hpp>

#include "sandbox_internal.h"

namespace updraft::lua {

// Lets the C callbacks below reach the private parts of a Sandbox.
struct SandboxAccess {
  static Sandbox* of(lua_State* L) {
    void* ud = nullptr;
    lua_getallocf(L, &ud);
    return static_cast<Sandbox*>(ud);
  }
  static Sandbox::Alloc& alloc(Sandbox* sb) { return sb->alloc_; }
  static bool loading(Sandbox* sb) { return sb->loading_; }
  static std::chrono::steady_clock::time_point deadline(Sandbox* sb) { return sb->deadline_; }
  static void markDeadlineHit(Sandbox* sb) { sb->deadlineHit_ = true; }
  static long long deadlineMs(Sandbox* sb) {
    return static_cast<long long>(sb->options_.callDeadline.count());
  }
  static uintptr_t cStackFloor(Sandbox* sb) { return sb->cStackFloor_; }
};

namespace {

constexpr int kHookInstructions = 1000;
constexpr const char* kEnvKey = "updraft.env";          // the read-only proxy every chunk gets
constexpr const char* kGlobalsKey = "updraft.globals";  // globals the script defined at load
// C stack that host C functions called from a script (and the Lua code they call back) may use
// below the frame that started the call; less when the thread's stack is smaller.
constexpr uintptr_t kMaxCStackBytes = 1u << 20;
// Bytes above the memory limit the host side of a call may use (see Sandbox::Alloc::script).
constexpr size_t kHostReserveBytes = 64u << 10;

// The whitelist. Libraries are copied name by name (a LuaJIT upgrade adding a function does not
// widen the sandbox); `string.dump` is not among them.
const char* const kBaseFunctions[] = {"assert",       "error",   "ipairs",   "next",     "pairs",
                                      "pcall",        "xpcall",  "select",   "tonumber", "tostring",
                                      "type",         "unpack",  "rawequal", "rawget",   "rawset",
                                      "setmetatable", "_VERSION"};
const char* const kStringFunctions[] = {"byte",    "char", "find",  "format", "gmatch",
                                        "gsub",    "len",  "lower", "match",  "rep",
                                        "reverse", "sub",  "upper"};
const char* const kTableFunctions[] = {"concat", "foreach", "foreachi", "getn", "insert",
                                       "maxn",   "move",    "remove",   "sort"};
const char* const kMathFunctions[] = {
    "abs",   "acos", "asin",  "atan",   "atan2",      "ceil", "cos",   "cosh", "deg", "exp",
    "floor", "fmod", "frexp", "huge",   "ldexp",      "log",  "log10", "max",  "min", "modf",
    "pi",    "pow",  "rad",   "random", "randomseed", "sin",  "sinh",  "sqrt", "tan", "tanh"};
const char* const kBitFunctions[] = {"arshift", "band", "bnot", "bor",    "bswap", "bxor",
                                     "lshift",  "rol",  "ror",  "rshift", "tobit", "tohex"};
const char* const kCoroutineFunctions[] = {"create", "isyieldable", "resume", "running",
                                           "status", "wrap",        "yield"};

void* countingAlloc(void* ud, void* ptr, size_t osize, size_t nsize) {
  auto& a = SandboxAccess::alloc(static_cast<Sandbox*>(ud));
  if (nsize == 0) {
    a.used -= osize;
    std::free(ptr);
    return nullptr;
  }
  const size_t old = ptr ? osize : 0;
  const size_t cap = a.script ? a.limit : a.limit + kHostReserveBytes;
  if (nsize > old && a.used - old + nsize > cap && !a.collecting) return nullptr;
  void* p = std::realloc(ptr, nsize);
  if (p) a.used = a.used - old + nsize;
  return p;
}

[[noreturn]] void raiseDeadline(lua_State* L, Sandbox* sb) {
  SandboxAccess::markDeadlineHit(sb);
  // Re-arm on every instruction so a pcall in the script cannot run on for long.
  lua_sethook(L, lua_gethook(L), LUA_MASKCOUNT, 1);
  luaL_error(L, "script exceeded its deadline of %d ms",
             static_cast<int>(SandboxAccess::deadlineMs(sb)));
  std::abort();  // not reached: luaL_error does not return
}

void deadlineHook(lua_State* L, lua_Debug* /*ar*/) {
  Sandbox* sb = SandboxAccess::of(L);
  if (std::chrono::steady_clock::now() < SandboxAccess::deadline(sb)) return;
  raiseDeadline(L, sb);
}

// The lowest frame address host C code may reach in a call starting at frame address `here`.
uintptr_t cStackFloorBelow(uintptr_t here) {
  thread_local uintptr_t threadStackLow = 0;  // 0: unknown
  thread_local bool looked = false;
  if (!looked) {
    looked = true;
    pthread_attr_t attr;
    if (pthread_getattr_np(pthread_self(), &attr) == 0) {
      void* addr = nullptr;
      size_t size = 0;
      if (pthread_attr_getstack(&attr, &addr, &size) == 0) {
        threadStackLow = reinterpret_cast<uintptr_t>(addr);
      }
      pthread_attr_destroy(&attr);
    }
  }
  uintptr_t budget = kMaxCStackBytes;
  if (threadStackLow != 0 && here > threadStackLow) {
    budget = std::min(budget, (here - threadStackLow) / 2);
  }
  return here > budget ? here - budget : 0;
}

uintptr_t frameAddress() { return reinterpret_cast<uintptr_t>(__builtin_frame_address(0)); }

// lua_call for script code: the memory limit applies without the host reserve while it runs.
void callScript(lua_State* L, int nargs, int nresults) {
  auto& a = SandboxAccess::alloc(SandboxAccess::of(L));
  a.script = true;
  lua_call(L, nargs, nresults);
  a.script = false;
}

// __newindex of the environment proxy: globals may be defined only while load() runs the top
// level. Upvalue 1: the sandbox (light userdata); upvalue 2: the user globals table.
int envNewIndex(lua_State* L) {
  auto* sb = static_cast<Sandbox*>(lua_touserdata(L, lua_upvalueindex(1)));
  if (SandboxAccess::loading(sb)) {
    lua_pushvalue(L, 2);
    lua_pushvalue(L, 3);
    lua_rawset(L, lua_upvalueindex(2));
    return 0;
  }
  const char* key = lua_type(L, 2) == LUA_TSTRING ? lua_tostring(L, 2) : "?";
  return luaL_error(L, "attempt to set global '%s'", key);
}

// getmetatable for tables only: strings' metatable (whose __index is the real string library)
// stays unreachable. Upvalue 1: the original getmetatable.
int safeGetmetatable(lua_State* L) {
  if (lua_type(L, 1) != LUA_TTABLE) {
    lua_pushnil(L);
    return 1;
  }
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_pushvalue(L, 1);
  lua_call(L, 1, 1);
  return 1;
}

bool hasLocation(const char* msg, size_t len) {
  // "<chunk>:<line>:" as Lua's error position.
  const char* colon = static_cast<const char*>(std::memchr(msg, ':', len));
  if (!colon || colon == msg) return false;
  const char* p = colon + 1;
  const char* end = msg + len;
  if (p == end || *p < '0' || *p > '9') return false;
  while (p < end && *p >= '0' && *p <= '9') ++p;
  return p < end && *p == ':';
}

// A library function that calls back into Lua (string.format via __tostring, table.sort,
// coroutine.resume and the functions coroutine.wrap returns), wrapped so that recursion through it
// stops at the C-stack limit. Upvalue 1: the original; upvalue 2: its name. Errors the original
// raises itself lack the caller's position and name (it is called from C), so they get them here:
// "script.lua:3: bad argument #2 to 'format' (number expected, got string)".
int guardedCall(lua_State* L) {
  internal::checkCStack(L);
  const int n = lua_gettop(L);
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_insert(L, 1);
  if (lua_pcall(L, n, LUA_MULTRET, 0) == 0) return lua_gettop(L);
  size_t len = 0;
  const char* msg = lua_type(L, -1) == LUA_TSTRING ? lua_tolstring(L, -1, &len) : nullptr;
  if (msg && !hasLocation(msg, len) &&
      (std::strncmp(msg, "bad argument", 12) == 0 || std::strncmp(msg, "invalid ", 8) == 0 ||
       std::strncmp(msg, "cannot resume", 13) == 0)) {
    const char* unnamed = std::strstr(msg, " to '?'");
    luaL_where(L, 1);
    if (unnamed) {
      lua_pushlstring(L, msg, static_cast<size_t>(unnamed - msg));
      lua_pushstring(L, " to '");
      lua_pushvalue(L, lua_upvalueindex(2));
      lua_pushstring(L, unnamed + 6);  // from the closing quote
      lua_concat(L, 5);
    } else {
      lua_pushvalue(L, -2);
      lua_concat(L, 2);
    }
  }
  return lua_error(L);
}

// coroutine.wrap(f): the original's function, guarded. Upvalue 1: the original wrap.
int guardedWrap(lua_State* L) {
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_insert(L, 1);
  lua_call(L, lua_gettop(L) - 1, 1);
  lua_pushstring(L, "wrap");
  lua_pushcclosure(L, guardedCall, 2);
  return 1;
}

// Replaces `table[name]` by a guarded version of itself.
void guardField(lua_State* L, int table, const char* name) {
  lua_getfield(L, table, name);
  lua_pushstring(L, name);
  lua_pushcclosure(L, guardedCall, 2);
  lua_setfield(L, table, name);
}

// Copies the fields `names` of the global library `lib` into a fresh table set as field `lib` of
// the table at `dst`.
template <size_t N>
void copyLibrary(lua_State* L, int dst, const char* lib, const char* const (&names)[N]) {
  lua_getglobal(L, lib);
  lua_createtable(L, 0, static_cast<int>(N));
  for (const char* name : names) {
    lua_getfield(L, -2, name);  // nil (nothing set) if this LuaJIT lacks it
    lua_setfield(L, -2, name);
  }
  lua_setfield(L, dst, lib);
  lua_pop(L, 1);
}

int initState(lua_State* L) {
  auto* sb = static_cast<Sandbox*>(lua_touserdata(L, 1));
  const struct {
    lua_CFunction open;
    const char* name;
  } libs[] = {{luaopen_base, ""},  // also opens coroutine
              {luaopen_table, LUA_TABLIBNAME},
              {luaopen_string, LUA_STRLIBNAME},
              {luaopen_math, LUA_MATHLIBNAME},
              {luaopen_bit, LUA_BITLIBNAME}};
  for (const auto& lib : libs) {
    lua_pushcfunction(L, lib.open);
    lua_pushstring(L, lib.name);
    lua_call(L, 1, 0);
  }
  // Changes to the real libraries (string methods reach the real string library through the
  // string metatable, so these must be made there, not only in the copies).
  lua_getglobal(L, LUA_STRLIBNAME);
  lua_pushnil(L);
  lua_setfield(L, -2, "dump");  // also reachable as ("").dump
  internal::openPatternFunctions(L, lua_gettop(L));
  guardField(L, lua_gettop(L), "format");
  lua_pop(L, 1);
  lua_getglobal(L, LUA_TABLIBNAME);
  guardField(L, lua_gettop(L), "sort");
  lua_pop(L, 1);
  lua_getglobal(L, LUA_COLIBNAME);
  guardField(L, lua_gettop(L), "resume");
  lua_getfield(L, -1, "wrap");
  lua_pushcclosure(L, guardedWrap, 1);
  lua_setfield(L, -2, "wrap");
  lua_pop(L, 1);

  // The whitelist.
  lua_newtable(L);
  const int w = lua_gettop(L);
  for (const char* name : kBaseFunctions) {
    lua_getglobal(L, name);
    lua_setfield(L, w, name);
  }
  lua_getglobal(L, "getmetatable");
  lua_pushcclosure(L, safeGetmetatable, 1);
  lua_setfield(L, w, "getmetatable");
  copyLibrary(L, w, LUA_STRLIBNAME, kStringFunctions);
  copyLibrary(L, w, LUA_TABLIBNAME, kTableFunctions);
  copyLibrary(L, w, LUA_MATHLIBNAME, kMathFunctions);
  copyLibrary(L, w, LUA_BITLIBNAME, kBitFunctions);
  copyLibrary(L, w, LUA_COLIBNAME, kCoroutineFunctions);
  lua_pushvalue(L, w);
  openHostApi(L);
  lua_pop(L, 1);

  // User globals: own table, falling back to the whitelist.
  lua_newtable(L);
  const int u = lua_gettop(L);
  lua_newtable(L);
  lua_pushvalue(L, w);
  lua_setfield(L, -2, "__index");
  lua_setmetatable(L, u);
  lua_pushvalue(L, u);
  lua_setfield(L, LUA_REGISTRYINDEX, kGlobalsKey);

  // The environment proxy: empty, reads through to U, writes through envNewIndex.
  lua_newtable(L);
  const int p = lua_gettop(L);
  lua_newtable(L);
  lua_pushvalue(L, u);
  lua_setfield(L, -2, "__index");
  lua_pushlightuserdata(L, sb);
  lua_pushvalue(L, u);
  lua_pushcclosure(L, envNewIndex, 2);
  lua_setfield(L, -2, "__newindex");
  lua_pushboolean(L, 0);
  lua_setfield(L, -2, "__metatable");
  lua_setmetatable(L, p);
  lua_setfield(L, LUA_REGISTRYINDEX, kEnvKey);
  return 0;
}

// The error object on top of the stack as a message. Runs no script code (no __tostring, no
// __index) and allocates nothing in the state, so it is safe outside protected mode:
//   string -> itself; number -> as Lua prints it; table with a string field `message` (raw) -> that
//   string; anything else -> "(error object is a <type> value)".
std::string errorMessage(lua_State* L) {
  switch (lua_type(L, -1)) {
    case LUA_TSTRING: {
      size_t n = 0;
      const char* p = lua_tolstring(L, -1, &n);
      return std::string(p, n);
    }
    case LUA_TNUMBER: {
      char buf[64];
      std::snprintf(buf, sizeof buf, "%.14g", lua_tonumber(L, -1));
      return buf;
    }
    case LUA_TTABLE: {
      if (!lua_checkstack(L, 2)) break;
      std::string message;
      bool found = false;
      lua_pushnil(L);
      while (lua_next(L, -2) != 0) {
        size_t n = 0;
        if (!found && lua_type(L, -2) == LUA_TSTRING && lua_type(L, -1) == LUA_TSTRING) {
          const char* k = lua_tolstring(L, -2, &n);
          if (n == 7 && std::memcmp(k, "message", 7) == 0) {
            const char* v = lua_tolstring(L, -1, &n);
            message.assign(v, n);
            found = true;
          }
        }
        lua_pop(L, 1);
      }
      if (found) return message;
      break;
    }
    default:
      break;
  }
  return std::string("(error object is a ") + luaL_typename(L, -1) + " value)";
}

// Runs `fn` in protected mode (no user code, only C-side stack work).
Status protect(lua_State* L, const std::function<void(lua_State*)>& fn) {
  auto trampoline = [](lua_State* S) -> int {
    auto* f = static_cast<const std::function<void(lua_State*)>*>(lua_touserdata(S, 1));
    lua_remove(S, 1);
    (*f)(S);
    return 0;
  };
  const int top = lua_gettop(L);
  int rc = lua_cpcall(L, trampoline, const_cast<std::function<void(lua_State*)>*>(&fn));
  if (rc != 0) {
    std::string msg = errorMessage(L);
    lua_settop(L, top);
    return Status::scriptError(msg);
  }
  return Status::ok();
}

int atPanic(lua_State* L) {
  // Unreachable by design (every entry point is protected); if it happens, fail loudly.
  std::fprintf(stderr, "updraft: unprotected Lua error: %s\n",
               lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "(not a string)");
  std::abort();
}

struct ChunkResult {
  int loadStatus = 0;
  std::string loadError;
};

// Loads `chunk` (mode "t" or "b") with the sandbox environment and leaves it on the stack; on a
// syntax error records it in `out` and returns false (without raising).
bool pushChunk(lua_State* L, std::string_view chunk, const std::string& name, const char* mode,
               ChunkResult& out) {
  int rc = luaL_loadbufferx(L, chunk.data(), chunk.size(), name.c_str(), mode);
  if (rc == LUA_ERRMEM) lua_error(L);
  if (rc != 0) {
    out.loadStatus = rc;
    out.loadError = errorMessage(L);
    lua_pop(L, 1);
    return false;
  }
  lua_getfield(L, LUA_REGISTRYINDEX, kEnvKey);
  lua_setfenv(L, -2);
  return true;
}

}  // namespace

namespace internal {

void checkDeadline(lua_State* L) {
  Sandbox* sb = SandboxAccess::of(L);
  if (std::chrono::steady_clock::now() >= SandboxAccess::deadline(sb)) raiseDeadline(L, sb);
}

void checkCStack(lua_State* L) {
  const uintptr_t floor = SandboxAccess::cStackFloor(SandboxAccess::of(L));
  if (floor != 0 && frameAddress() < floor) {
    luaL_error(L, "C stack overflow (recursion through a library function is too deep)");
  }
}

}  // namespace internal

Sandbox::Sandbox(const SandboxOptions& options) : options_(options) {
  alloc_.limit = options.memoryLimitBytes;
}

Sandbox::~Sandbox() {
  if (L_) lua_close(L_);
}

Result<std::unique_ptr<Sandbox>> Sandbox::create(const SandboxOptions& options) {
  std::unique_ptr<Sandbox> sb(new Sandbox(options));
  UPDRAFT_RETURN_IF_ERROR(sb->init());
  return sb;
}

Status Sandbox::init() {
  L_ = lua_newstate(countingAlloc, this);
  if (!L_) return Status::internal("lua: cannot create a state (memory limit too small?)");
  lua_atpanic(L_, atPanic);
  luaJIT_setmode(L_, 0, LUAJIT_MODE_ENGINE | LUAJIT_MODE_OFF);
  if (lua_cpcall(L_, initState, this) != 0) {
    return Status::internal("lua: cannot initialise the sandbox: " + errorMessage(L_));
  }
  lua_settop(L_, 0);
  return Status::ok();
}

size_t Sandbox::memoryUsed() const { return alloc_.used; }

Sandbox& Sandbox::of(lua_State* L) { return *SandboxAccess::of(L); }

Sandbox::IoScope::IoScope(Sandbox& sb) : sb_(sb), start_(std::chrono::steady_clock::now()) {}

Sandbox::IoScope::~IoScope() {
  sb_.deadline_ += std::chrono::steady_clock::now() - start_;
  if (sb_.deadline_ > sb_.hardDeadline_) sb_.deadline_ = sb_.hardDeadline_;
}

Status Sandbox::protectedRun(const std::function<void(lua_State*)>& body,
                             std::chrono::steady_clock::time_point deadline,
                             std::chrono::steady_clock::time_point hardDeadline) {
  deadline_ = deadline;
  hardDeadline_ = hardDeadline;
  deadlineHit_ = false;
  cStackFloor_ = cStackFloorBelow(frameAddress());
  const int top = lua_gettop(L_);
  lua_sethook(L_, deadlineHook, LUA_MASKCOUNT, kHookInstructions);
  auto trampoline = [](lua_State* S) -> int {
    auto* f = static_cast<const std::function<void(lua_State*)>*>(lua_touserdata(S, 1));
    lua_settop(S, 0);
    (*f)(S);
    return 0;
  };
  const int rc = lua_cpcall(L_, trampoline, const_cast<std::function<void(lua_State*)>*>(&body));
  lua_sethook(L_, nullptr, 0, 0);
  cStackFloor_ = 0;
  alloc_.script = false;
  if (rc == 0) {
    lua_settop(L_, top);
    if (deadlineHit_) {
      return Status::scriptError("script exceeded its deadline of " +
                                 std::to_string(options_.callDeadline.count()) +
                                 " ms (the error was caught by the script)");
    }
    return Status::ok();
  }
  std::string msg = errorMessage(L_);
  lua_settop(L_, top);
  // Give the memory of a failed call back now (a bomb's garbage would otherwise count against
  // the next call until the collector gets to it). The collector may allocate before it frees
  // (a cycle interrupted by the memory error, then a smaller string table), so it is not capped.
  alloc_.collecting = true;
  (void)protect(L_, [](lua_State* L) { lua_gc(L, LUA_GCCOLLECT, 0); });
  alloc_.collecting = false;
  if (deadlineHit_ && msg.find("deadline") == std::string::npos) {
    msg = "script exceeded its deadline of " + std::to_string(options_.callDeadline.count()) +
          " ms: " + msg;
  }
  return Status::scriptError(msg);
}

Status Sandbox::loadChunk(std::string_view chunk, const char* mode) {
  const std::string name = "=" + options_.chunkName;
  ChunkResult chunkResult;
  loading_ = true;
  const auto until = std::chrono::steady_clock::now() + options_.callDeadline;
  Status s = protectedRun(
      [&](lua_State* L) {
        if (pushChunk(L, chunk, name, mode, chunkResult)) callScript(L, 0, 0);
      },
      until, until);
  loading_ = false;
  if (chunkResult.loadStatus != 0) return Status::invalidArgument(chunkResult.loadError);
  return s;
}

Status Sandbox::load(std::string_view source) { return loadChunk(source, "t"); }

Status Sandbox::loadCompiled(std::string_view bytecode) { return loadChunk(bytecode, "b"); }

Result<std::string> Sandbox::compile(std::string_view source) {
  const std::string name = "=" + options_.chunkName;
  std::string out;
  ChunkResult chunkResult;
  Status s = protect(L_, [&](lua_State* L) {
    int rc = luaL_loadbufferx(L, source.data(), source.size(), name.c_str(), "t");
    if (rc == LUA_ERRMEM) lua_error(L);
    if (rc != 0) {
      chunkResult.loadStatus = rc;
      chunkResult.loadError = errorMessage(L);
      return;
    }
    auto writer = [](lua_State*, const void* p, size_t n, void* ud) -> int {
      static_cast<std::string*>(ud)->append(static_cast<const char*>(p), n);
      return 0;
    };
    if (lua_dump(L, writer, &out) != 0) luaL_error(L, "lua: cannot dump the compiled chunk");
  });
  if (chunkResult.loadStatus != 0) return Status::invalidArgument(chunkResult.loadError);
  UPDRAFT_RETURN_IF_ERROR(s);
  return out;
}

Result<std::vector<std::string>> Sandbox::run(std::string_view source) {
  const std::string name = "=" + options_.chunkName;
  ChunkResult chunkResult;
  std::vector<std::string> out;
  const auto until = std::chrono::steady_clock::now() + options_.callDeadline;
  Status s = protectedRun(
      [&](lua_State* L) {
        if (!pushChunk(L, source, name, "t", chunkResult)) return;
        callScript(L, 0, LUA_MULTRET);
        // Converted without metamethods (type names for tables, functions, ...).
        for (int i = 1; i <= lua_gettop(L); ++i) {
          switch (lua_type(L, i)) {
            case LUA_TNIL:
              out.emplace_back("nil");
              break;
            case LUA_TBOOLEAN:
              out.emplace_back(lua_toboolean(L, i) ? "true" : "false");
              break;
            case LUA_TNUMBER: {
              char buf[64];
              std::snprintf(buf, sizeof buf, "%.14g", lua_tonumber(L, i));
              out.emplace_back(buf);
              break;
            }
            case LUA_TSTRING: {
              size_t n = 0;
              const char* p = lua_tolstring(L, i, &n);
              out.emplace_back(p, n);
              break;
            }
            default:
              out.emplace_back(luaL_typename(L, i));
          }
        }
      },
      until, until);
  if (chunkResult.loadStatus != 0) return Status::invalidArgument(chunkResult.loadError);
  UPDRAFT_RETURN_IF_ERROR(s);
  return out;
}

bool Sandbox::hasFunction(const std::string& name) {
  bool found = false;
  Status s = protect(L_, [&](lua_State* L) {
    lua_getfield(L, LUA_REGISTRYINDEX, kGlobalsKey);
    lua_pushstring(L, name.c_str());
    lua_rawget(L, -2);
    found = lua_type(L, -1) == LUA_TFUNCTION;
  });
  return s.isOk() && found;
}

std::vector<std::string> Sandbox::globalFunctions() {
  std::vector<std::string> out;
  Status s = protect(L_, [&](lua_State* L) {
    lua_getfield(L, LUA_REGISTRYINDEX, kGlobalsKey);
    lua_pushnil(L);
    while (lua_next(L, -2) != 0) {
      if (lua_type(L, -2) == LUA_TSTRING && lua_type(L, -1) == LUA_TFUNCTION) {
        out.emplace_back(lua_tostring(L, -2));
      }
      lua_pop(L, 1);
    }
  });
  if (!s.isOk()) out.clear();
  return out;
}

Status Sandbox::withStack(const std::function<void(lua_State*)>& fn) { return protect(L_, fn); }

Status Sandbox::call(const std::string& name, const std::function<int(lua_State*)>& pushArgs,
                     const std::function<Status(lua_State*, int)>& readResults,
                     std::optional<std::chrono::steady_clock::time_point> deadline) {
  auto until = std::chrono::steady_clock::now() + options_.callDeadline;
  auto hard = until;
  if (deadline) {
    hard = *deadline;
    if (*deadline < until) until = *deadline;
  }
  Status result = Status::ok();
  Status s = protectedRun(
      [&](lua_State* L) {
        lua_getfield(L, LUA_REGISTRYINDEX, kGlobalsKey);
        lua_getfield(L, -1, name.c_str());
        if (lua_type(L, -1) != LUA_TFUNCTION) {
          luaL_error(L, "the script defines no global function '%s'", name.c_str());
        }
        lua_remove(L, 1);
        const int nargs = pushArgs(L);
        callScript(L, nargs, LUA_MULTRET);
        result = readResults(L, lua_gettop(L));
      },
      until, hard);
  UPDRAFT_RETURN_IF_ERROR(s);
  return result;
}

}  // namespace updraft::lua
