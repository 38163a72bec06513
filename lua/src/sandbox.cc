#include "updraft/lua/sandbox.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <lua.hpp>

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
};

namespace {

constexpr int kHookInstructions = 1000;
constexpr const char* kEnvKey = "updraft.env";          // the read-only proxy every chunk gets
constexpr const char* kGlobalsKey = "updraft.globals";  // globals the script defined at load

void* countingAlloc(void* ud, void* ptr, size_t osize, size_t nsize) {
  auto& a = SandboxAccess::alloc(static_cast<Sandbox*>(ud));
  if (nsize == 0) {
    a.used -= osize;
    std::free(ptr);
    return nullptr;
  }
  const size_t old = ptr ? osize : 0;
  if (nsize > old && a.used - old + nsize > a.limit) return nullptr;
  void* p = std::realloc(ptr, nsize);
  if (p) a.used = a.used - old + nsize;
  return p;
}

void deadlineHook(lua_State* L, lua_Debug* /*ar*/) {
  Sandbox* sb = SandboxAccess::of(L);
  if (std::chrono::steady_clock::now() < SandboxAccess::deadline(sb)) return;
  SandboxAccess::markDeadlineHit(sb);
  // Re-arm on every instruction so a pcall in the script cannot run on for long.
  lua_sethook(L, deadlineHook, LUA_MASKCOUNT, 1);
  luaL_error(L, "script exceeded its deadline of %d ms",
             static_cast<int>(SandboxAccess::deadlineMs(sb)));
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

// Copies the global library `name` into a fresh table set as field `name` of the table at `dst`.
void copyLibrary(lua_State* L, int dst, const char* name) {
  lua_getglobal(L, name);
  lua_newtable(L);
  lua_pushnil(L);
  while (lua_next(L, -3) != 0) {
    lua_pushvalue(L, -2);
    lua_insert(L, -2);
    lua_rawset(L, -4);
  }
  lua_setfield(L, dst, name);
  lua_pop(L, 1);
}

int initState(lua_State* L) {
  auto* sb = static_cast<Sandbox*>(lua_touserdata(L, 1));
  const struct {
    lua_CFunction open;
    const char* name;
  } libs[] = {{luaopen_base, ""},
              {luaopen_table, LUA_TABLIBNAME},
              {luaopen_string, LUA_STRLIBNAME},
              {luaopen_math, LUA_MATHLIBNAME},
              {luaopen_bit, LUA_BITLIBNAME}};
  for (const auto& lib : libs) {
    lua_pushcfunction(L, lib.open);
    lua_pushstring(L, lib.name);
    lua_call(L, 1, 0);
  }
  // string.dump is reachable through ("").dump too, so remove it from the real library.
  lua_getglobal(L, LUA_STRLIBNAME);
  lua_pushnil(L);
  lua_setfield(L, -2, "dump");
  lua_pop(L, 1);

  // The whitelist.
  lua_newtable(L);
  const int w = lua_gettop(L);
  static const char* const kBase[] = {"assert",       "error",   "ipairs",   "next",     "pairs",
                                      "pcall",        "xpcall",  "select",   "tonumber", "tostring",
                                      "type",         "unpack",  "rawequal", "rawget",   "rawset",
                                      "setmetatable", "_VERSION"};
  for (const char* name : kBase) {
    lua_getglobal(L, name);
    lua_setfield(L, w, name);
  }
  lua_getglobal(L, "getmetatable");
  lua_pushcclosure(L, safeGetmetatable, 1);
  lua_setfield(L, w, "getmetatable");
  for (const char* lib : {LUA_STRLIBNAME, LUA_TABLIBNAME, LUA_MATHLIBNAME, LUA_BITLIBNAME}) {
    copyLibrary(L, w, lib);
  }
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

std::string errorMessage(lua_State* L) {
  if (lua_type(L, -1) == LUA_TSTRING) return lua_tostring(L, -1);
  if (lua_type(L, -1) == LUA_TNUMBER) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.14g", lua_tonumber(L, -1));
    return buf;
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

struct CallFrame {
  const std::string* name;
  const std::function<int(lua_State*)>* pushArgs;
  const std::function<Status(lua_State*, int)>* readResults;
  Status result;
};

int callTrampoline(lua_State* L) {
  auto* frame = static_cast<CallFrame*>(lua_touserdata(L, 1));
  lua_settop(L, 0);
  lua_getfield(L, LUA_REGISTRYINDEX, kGlobalsKey);
  lua_getfield(L, -1, frame->name->c_str());
  if (lua_type(L, -1) != LUA_TFUNCTION) {
    return luaL_error(L, "the script defines no global function '%s'", frame->name->c_str());
  }
  lua_remove(L, 1);
  int nargs = (*frame->pushArgs)(L);
  lua_call(L, nargs, LUA_MULTRET);
  frame->result = (*frame->readResults)(L, lua_gettop(L));
  return 0;
}

}  // namespace

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

Status Sandbox::protectedCall(int nargs, int nresults,
                              std::chrono::steady_clock::time_point deadline,
                              std::chrono::steady_clock::time_point hardDeadline) {
  deadline_ = deadline;
  hardDeadline_ = hardDeadline;
  deadlineHit_ = false;
  lua_sethook(L_, deadlineHook, LUA_MASKCOUNT, kHookInstructions);
  const int rc = lua_pcall(L_, nargs, nresults, 0);
  lua_sethook(L_, nullptr, 0, 0);
  std::string deadlineMsg =
      "script exceeded its deadline of " + std::to_string(options_.callDeadline.count()) + " ms";
  if (rc != 0) {
    std::string msg = errorMessage(L_);
    lua_pop(L_, 1);
    lua_gc(L_, LUA_GCCOLLECT, 0);
    if (deadlineHit_ && msg.find("deadline") == std::string::npos) msg = deadlineMsg + ": " + msg;
    return Status::scriptError(msg);
  }
  if (deadlineHit_)
    return Status::scriptError(deadlineMsg + " (the error was caught by the script)");
  return Status::ok();
}

Status Sandbox::loadChunk(std::string_view chunk, const char* mode) {
  const int top = lua_gettop(L_);
  const std::string name = "=" + options_.chunkName;
  int rc = luaL_loadbufferx(L_, chunk.data(), chunk.size(), name.c_str(), mode);
  if (rc != 0) {
    std::string msg = errorMessage(L_);
    lua_settop(L_, top);
    if (rc == LUA_ERRMEM) return Status::scriptError(msg);
    return Status::invalidArgument(msg);
  }
  lua_getfield(L_, LUA_REGISTRYINDEX, kEnvKey);
  lua_setfenv(L_, -2);
  loading_ = true;
  const auto until = std::chrono::steady_clock::now() + options_.callDeadline;
  Status s = protectedCall(0, 0, until, until);
  loading_ = false;
  lua_settop(L_, top);
  return s;
}

Status Sandbox::load(std::string_view source) { return loadChunk(source, "t"); }

Status Sandbox::loadCompiled(std::string_view bytecode) { return loadChunk(bytecode, "b"); }

Result<std::string> Sandbox::compile(std::string_view source) {
  const int top = lua_gettop(L_);
  const std::string name = "=" + options_.chunkName;
  int rc = luaL_loadbufferx(L_, source.data(), source.size(), name.c_str(), "t");
  if (rc != 0) {
    std::string msg = errorMessage(L_);
    lua_settop(L_, top);
    if (rc == LUA_ERRMEM) return Status::scriptError(msg);
    return Status::invalidArgument(msg);
  }
  std::string out;
  auto writer = [](lua_State*, const void* p, size_t n, void* ud) -> int {
    static_cast<std::string*>(ud)->append(static_cast<const char*>(p), n);
    return 0;
  };
  rc = lua_dump(L_, writer, &out);
  lua_settop(L_, top);
  if (rc != 0) return Status::internal("lua: cannot dump the compiled chunk");
  return out;
}

Result<std::vector<std::string>> Sandbox::run(std::string_view source) {
  const int top = lua_gettop(L_);
  const std::string chunk = "=" + options_.chunkName;
  int rc = luaL_loadbufferx(L_, source.data(), source.size(), chunk.c_str(), "t");
  if (rc != 0) {
    std::string msg = errorMessage(L_);
    lua_settop(L_, top);
    if (rc == LUA_ERRMEM) return Status::scriptError(msg);
    return Status::invalidArgument(msg);
  }
  lua_getfield(L_, LUA_REGISTRYINDEX, kEnvKey);
  lua_setfenv(L_, -2);
  const auto until = std::chrono::steady_clock::now() + options_.callDeadline;
  Status s = protectedCall(0, LUA_MULTRET, until, until);
  if (!s.isOk()) {
    lua_settop(L_, top);
    return s;
  }
  std::vector<std::string> out;
  for (int i = top + 1; i <= lua_gettop(L_); ++i) {
    switch (lua_type(L_, i)) {
      case LUA_TNIL:
        out.emplace_back("nil");
        break;
      case LUA_TBOOLEAN:
        out.emplace_back(lua_toboolean(L_, i) ? "true" : "false");
        break;
      case LUA_TNUMBER: {
        char buf[64];
        std::snprintf(buf, sizeof buf, "%.14g", lua_tonumber(L_, i));
        out.emplace_back(buf);
        break;
      }
      case LUA_TSTRING: {
        size_t n = 0;
        const char* p = lua_tolstring(L_, i, &n);
        out.emplace_back(p, n);
        break;
      }
      default:
        out.emplace_back(luaL_typename(L_, i));
    }
  }
  lua_settop(L_, top);
  return out;
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

Status Sandbox::call(const std::string& name, const std::function<int(lua_State*)>& pushArgs,
                     const std::function<Status(lua_State*, int)>& readResults,
                     std::optional<std::chrono::steady_clock::time_point> deadline) {
  auto until = std::chrono::steady_clock::now() + options_.callDeadline;
  auto hard = until;
  if (deadline) {
    hard = *deadline;
    if (*deadline < until) until = *deadline;
  }
  const int top = lua_gettop(L_);
  CallFrame frame{&name, &pushArgs, &readResults, Status::ok()};
  lua_pushcfunction(L_, callTrampoline);
  lua_pushlightuserdata(L_, &frame);
  Status s = protectedCall(1, 0, until, hard);
  lua_settop(L_, top);
  UPDRAFT_RETURN_IF_ERROR(s);
  return frame.result;
}

}  // namespace updraft::lua
