#include "updraft/lua/sandbox.h"

#include <catch2/catch.hpp>
#include <chrono>
#include <lua.hpp>
#include <string>
#include <thread>
#include <vector>

using updraft::StatusCode;
using updraft::lua::Sandbox;
using updraft::lua::SandboxOptions;

namespace {

std::unique_ptr<Sandbox> make(SandboxOptions options = {}) {
  auto sb = Sandbox::create(options);
  REQUIRE(sb.isOk());
  return std::move(sb.value());
}

std::string one(Sandbox& sb, const std::string& source) {
  auto r = sb.run(source);
  INFO(r.status().toString());
  REQUIRE(r.isOk());
  REQUIRE(r->size() == 1);
  return (*r)[0];
}

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

// The message of a run() that must fail with a ScriptError.
std::string failure(Sandbox& sb, const std::string& source) {
  auto r = sb.run(source);
  INFO(source);
  REQUIRE_FALSE(r.isOk());
  CHECK(r.status().code() == StatusCode::kScriptError);
  return r.status().message();
}

using Clock = std::chrono::steady_clock;

long long msSince(Clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
}

}  // namespace

TEST_CASE("forbidden libraries and functions are absent") {
  auto sb = make();
  for (const char* name :
       {"io",      "os",         "debug",    "ffi",      "jit",     "package", "string.dump",
        "load",    "loadstring", "dofile",   "loadfile", "require", "module",  "collectgarbage",
        "getfenv", "setfenv",    "newproxy", "print",    "gcinfo",  "_G",      "_ENV"}) {
    INFO(name);
    CHECK(one(*sb, std::string("return type(") + name + ")") == "nil");
    // Not inside a coroutine either.
    CHECK(one(*sb, std::string("return coroutine.wrap(function() return type(") + name +
                       ") end)()") == "nil");
    // Calling one is a clean error naming it.
    if (std::string(name).find('.') == std::string::npos && std::string(name) != "_VERSION") {
      auto r = sb->run(std::string("return ") + name + "()");
      REQUIRE_FALSE(r.isOk());
      CHECK(contains(r.status().message(), "attempt to call global '" + std::string(name) + "'"));
    }
  }
  // The safe parts are there.
  CHECK(one(*sb, "return string.format('%d-%s', 3, 'x')") == "3-x");
  CHECK(one(*sb, "return math.floor(2.5) + bit.band(7, 3)") == "5");
  CHECK(one(*sb, "return table.concat({1,2,3}, ',')") == "1,2,3");
}

TEST_CASE("string methods cannot reach dump or the string metatable") {
  auto sb = make();
  CHECK(one(*sb, "return type(('x').dump)") == "nil");
  CHECK(one(*sb, "return ('abc'):upper()") == "ABC");
  CHECK(one(*sb, "return getmetatable('x')") == "nil");
  // Changing the exposed string table does not change string methods.
  CHECK(one(*sb, "string.upper = nil return ('a'):upper()") == "A");
  // getmetatable still works for plain tables; setmetatable on tables is allowed.
  CHECK(one(*sb, "local t = setmetatable({}, {__index = function() return 7 end}) return t.x") ==
        "7");
  auto r = sb->run("return setmetatable('x', {})");
  CHECK_FALSE(r.isOk());
}

TEST_CASE("globals are read-only after load") {
  auto sb = make();
  REQUIRE(sb->load("function f() x = 1 end\nlimit = 3").isOk());
  auto r = sb->run("f()");
  REQUIRE_FALSE(r.isOk());
  CHECK(r.status().code() == StatusCode::kScriptError);
  CHECK(contains(r.status().message(), "attempt to set global 'x'"));
  auto r2 = sb->run("\nlimit = 4");
  REQUIRE_FALSE(r2.isOk());
  CHECK(r2.status().message() == "script.lua:2: attempt to set global 'limit'");
  CHECK(one(*sb, "return limit") == "3");
}

TEST_CASE("bytecode is refused") {
  auto sb = make();
  auto r = sb->run(std::string("\x1bLJ\x02\x00\x00", 6));
  REQUIRE_FALSE(r.isOk());
  INFO(r.status().message());
  CHECK(r.status().code() == StatusCode::kInvalidArgument);
  CHECK(contains(r.status().message(), "wrong mode"));
  auto r2 = sb->run(std::string("\x1bLua\x51\x00", 6));
  REQUIRE_FALSE(r2.isOk());
  CHECK(contains(r2.status().message(), "wrong mode"));
}

TEST_CASE("errors carry the chunk name and line") {
  auto sb = make();
  auto r = sb->run("local a = 1\nlocal b = 2\nreturn a + nil");
  REQUIRE_FALSE(r.isOk());
  CHECK(r.status().code() == StatusCode::kScriptError);
  CHECK(contains(r.status().message(), "script.lua:3: attempt to perform arithmetic"));
  auto syntax = sb->load("local x = \nfunction (");
  REQUIRE_FALSE(syntax.isOk());
  CHECK(syntax.code() == StatusCode::kInvalidArgument);
  CHECK(contains(syntax.message(), "script.lua:2:"));
  auto custom = sb->run("error({})");
  REQUIRE_FALSE(custom.isOk());
  CHECK(contains(custom.status().message(), "table"));
}

TEST_CASE("runaway loops stop at the deadline") {
  SandboxOptions options;
  options.callDeadline = std::chrono::milliseconds(300);
  auto sb = make(options);
  for (const char* loop : {"while true do end", "for i = 1, math.huge do end",
                           "local function f() return f() end return f()",
                           "while true do pcall(function() while true do end end) end"}) {
    INFO(loop);
    auto start = std::chrono::steady_clock::now();
    auto r = sb->run(loop);
    auto took = std::chrono::steady_clock::now() - start;
    REQUIRE_FALSE(r.isOk());
    CHECK(contains(r.status().message(), "deadline of 300 ms"));
    CHECK(took >= std::chrono::milliseconds(290));
    CHECK(took < std::chrono::milliseconds(600));  // within 2x the deadline
  }
  // The sandbox still works afterwards.
  CHECK(one(*sb, "return 1 + 1") == "2");
}

TEST_CASE("deep recursion is an error, not a crash") {
  auto sb = make();
  auto r = sb->run("local function f(n) return 1 + f(n + 1) end return f(1)");
  REQUIRE_FALSE(r.isOk());
  CHECK(r.status().code() == StatusCode::kScriptError);
  CHECK((contains(r.status().message(), "stack overflow") ||
         contains(r.status().message(), "not enough memory")));
}

TEST_CASE("the memory cap stops bombs in one sandbox only") {
  SandboxOptions options;
  options.callDeadline = std::chrono::seconds(5);
  auto bombed = make(options);
  auto other = make();
  REQUIRE(other->load("local n = 0\nfunction inc() n = n + 1 return n end").isOk());

  auto r = bombed->run("return #string.rep('x', 2^28)");
  REQUIRE_FALSE(r.isOk());
  CHECK(contains(r.status().message(), "not enough memory"));

  auto t = bombed->run("local t = {} for i = 1, 1e9 do t[i] = {i} end");
  REQUIRE_FALSE(t.isOk());
  CHECK(contains(t.status().message(), "not enough memory"));
  CHECK(bombed->memoryUsed() <= options.memoryLimitBytes);

  CHECK(one(*other, "return inc()") == "1");
  CHECK(one(*other, "return inc()") == "2");
  // The bombed sandbox recovers once its garbage is collected.
  CHECK(one(*bombed, "return #string.rep('x', 1000)") == "1000");
}

TEST_CASE("host API") {
  auto sb = make();
  CHECK(one(*sb, "return sha256('abc')") ==
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(one(*sb, "return #sha256('abc', true)") == "32");
  // RFC 4231 test case 2.
  CHECK(one(*sb, "return hmac_sha256('Jefe', 'what do ya want for nothing?')") ==
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  CHECK(one(*sb, "return base64.encode('hello!?')") == "aGVsbG8hPw==");
  CHECK(one(*sb, "return base64.decode('aGVsbG8hPw==')") == "hello!?");
  CHECK(one(*sb, "return hex.encode('\\1\\255')") == "01ff");
  CHECK(one(*sb, "return hex.decode('01FF') == '\\1\\255'") == "true");
  CHECK(one(*sb, "return json.encode({a = {1, 2, 'x'}, b = true, c = 1.5})") ==
        R"({"a":[1,2,"x"],"b":true,"c":1.5})");
  CHECK(one(*sb, R"(local v = json.decode('{"q":{"depth":[3,4]},"s":"t"}')
                    return v.q.depth[2] + #v.s)") == "5");
  CHECK(one(*sb, "return json.encode(json.decode('[1,{\"k\":\"v\"}]'))") == R"([1,{"k":"v"}])");
  CHECK(one(*sb, "return (pcall(json.decode, '{bad'))") == "false");
  auto cyc = sb->run("local t = {} t.t = t return json.encode(t)");
  REQUIRE_FALSE(cyc.isOk());
  CHECK(contains(cyc.status().message(), "json.encode"));
  CHECK(one(*sb, "return time.now() > 1.7e9") == "true");
  CHECK(one(*sb, "log.info('hello from a test') return 1") == "1");
}

// ---- Libraries ----

TEST_CASE("the copied libraries hold exactly the whitelisted functions") {
  auto sb = make();
  const char* listing = R"(
    local out = {}
    for _, lib in ipairs({"string", "table", "math", "bit", "coroutine"}) do
      local names = {}
      for k in pairs(_G_lib(lib)) do names[#names + 1] = k end
      table.sort(names)
      out[#out + 1] = lib .. ": " .. table.concat(names, " ")
    end
    return table.concat(out, "\n"))";
  std::string src = listing;
  src.replace(src.find("_G_lib(lib)"), 11,
              "({string = string, table = table, math = math, bit = bit, "
              "coroutine = coroutine})[lib]");
  CHECK(one(*sb, src) ==
        "string: byte char find format gmatch gsub len lower match rep reverse sub upper\n"
        "table: concat foreach foreachi getn insert maxn move remove sort\n"
        "math: abs acos asin atan atan2 ceil cos cosh deg exp floor fmod frexp huge ldexp log "
        "log10 max min modf pi pow rad random randomseed sin sinh sqrt tan tanh\n"
        "bit: arshift band bnot bor bswap bxor lshift rol ror rshift tobit tohex\n"
        "coroutine: create isyieldable resume running status wrap yield");
  // Library copies are per sandbox: changing one does not change string methods or the others.
  CHECK(one(*sb, "coroutine.create = nil return type(coroutine.wrap)") == "function");
}

TEST_CASE("argument errors of guarded library functions keep the caller's line and name") {
  // (As in LuaJIT, a tail call `return f(...)` has neither: its caller's frame is gone.)
  auto sb = make();
  CHECK(failure(*sb, "\nlocal s = string.format('%d', 'x')") ==
        "script.lua:2: bad argument #2 to 'format' (number expected, got string)");
  CHECK(failure(*sb, "\n\ntable.sort({3, 2, 1}, 5)") ==
        "script.lua:3: bad argument #2 to 'sort' (function expected, got number)");
  CHECK(contains(failure(*sb, "table.sort({1, 2, 3, 4, 5}, function() return true end)"),
                 "script.lua:1: invalid order function for sorting"));
  CHECK(failure(*sb, "local ok = coroutine.resume(1)") ==
        "script.lua:1: bad argument #1 to 'resume' (coroutine expected)");
  CHECK(contains(failure(*sb, "local f = coroutine.wrap(function() end) f() f()"),
                 "script.lua:1: cannot resume dead coroutine"));
  // Our own pattern functions report like LuaJIT's.
  CHECK(failure(*sb, "local i = ('x'):find('%')") ==
        "script.lua:1: malformed pattern (ends with '%')");
  CHECK(failure(*sb, "local s = ('x'):gsub('x', true)") ==
        "script.lua:1: bad argument #2 to 'gsub' (string/function/table expected)");
}

// ---- Coroutines ----

TEST_CASE("coroutines work: generators, status, yield across pcall") {
  auto sb = make();
  CHECK(one(*sb, R"(
    local gen = coroutine.wrap(function() for i = 1, 3 do coroutine.yield(i) end end)
    return gen() + gen() + gen())") == "6");
  CHECK(one(*sb, R"(
    local co = coroutine.create(function(a) local b = coroutine.yield(a + 1) return b * 2 end)
    local _, x = coroutine.resume(co, 1)
    local _, y = coroutine.resume(co, 10)
    return x .. " " .. y .. " " .. coroutine.status(co))") == "2 20 dead");
  // LuaJIT lets a coroutine yield across pcall (and across a metamethod).
  CHECK(one(*sb, R"(
    local co = coroutine.create(function()
      local ok, v = pcall(function() return coroutine.yield(1) + 1 end)
      return ok, v
    end)
    local _, first = coroutine.resume(co)
    local _, ok, v = coroutine.resume(co, 41)
    return first .. " " .. tostring(ok) .. " " .. v)") == "1 true 42");
  CHECK(one(*sb, R"(
    local t = setmetatable({}, {__index = function(_, k) return coroutine.yield(k) end})
    local co = coroutine.wrap(function() return "got " .. t.x end)
    local asked = co()
    return asked .. " " .. co(5))") == "x got 5");
  // Errors inside a coroutine keep their line.
  CHECK(one(*sb,
            "local ok, e = coroutine.resume(coroutine.create(function()\n"
            "  error('inner')\nend))\nreturn e") == "script.lua:2: inner");
  CHECK(failure(*sb, "local f = coroutine.wrap(function()\n  error('inner')\nend)\nf()") ==
        "script.lua:2: inner");
}

TEST_CASE("coroutines: the deadline stops loops inside them") {
  SandboxOptions options;
  options.callDeadline = std::chrono::milliseconds(200);
  auto sb = make(options);
  for (const char* loop : {
           // an endless loop in a coroutine
           "coroutine.wrap(function() while true do end end)()",
           "local co = coroutine.create(function() while true do end end) "
           "return coroutine.resume(co)",
           // a coroutine resumed again and again
           "local co = coroutine.wrap(function() while true do coroutine.yield() end end) "
           "while true do co() end",
           "local co = coroutine.create(function() while true do coroutine.yield() end end) "
           "while true do coroutine.resume(co) end",
           // new coroutines that each die at the deadline, from a loop that ignores the failures
           "while true do coroutine.resume(coroutine.create(function() while true do end end)) end",
           // pcall inside the coroutine swallowing the error
           "coroutine.wrap(function() while true do pcall(function() while true do end end) end "
           "end)()",
           // nested coroutines
           "coroutine.wrap(function() coroutine.wrap(function() while true do end end)() end)()",
       }) {
    INFO(loop);
    const auto start = Clock::now();
    auto r = sb->run(loop);
    REQUIRE_FALSE(r.isOk());
    CHECK(contains(r.status().message(), "deadline of 200 ms"));
    CHECK(msSince(start) >= 190);
    CHECK(msSince(start) < 1000);
  }
  CHECK(one(*sb, "return 1 + 1") == "2");
}

TEST_CASE("coroutines: memory bombs inside them hit the cap") {
  SandboxOptions options;
  options.callDeadline = std::chrono::seconds(10);
  auto sb = make(options);
  auto other = make();
  for (const char* bomb : {
           "coroutine.wrap(function() local t = {} for i = 1, 1e9 do t[i] = {i} end end)()",
           "local t = {} for i = 1, 1e9 do t[i] = coroutine.create(function() end) end",
           "local t = {} for i = 1, 1e9 do local co = coroutine.wrap(function() "
           "coroutine.yield() end) co() t[i] = co end",
           "return coroutine.wrap(function() return #string.rep('x', 2^28) end)()",
       }) {
    INFO(bomb);
    CHECK(contains(failure(*sb, bomb), "not enough memory"));
    CHECK(sb->memoryUsed() <= options.memoryLimitBytes);
    CHECK(one(*sb, "return 1 + 1") == "2");
  }
  // resume reports the memory error as a value; the script goes on.
  CHECK(one(*sb, R"(
    local ok, e = coroutine.resume(coroutine.create(function() return string.rep('x', 2^28) end))
    return tostring(ok) .. " " .. e)") == "false not enough memory");
  CHECK(one(*other, "return 2 + 2") == "4");
}

TEST_CASE("coroutines: yielding outside a coroutine is a clean error") {
  auto sb = make();
  auto top = failure(*sb, "coroutine.yield(1)");
  CHECK(contains(top, "attempt to yield"));
  CHECK(one(*sb, "return coroutine.isyieldable()") == "false");
  // From a function called by the host (getMetric is called from C).
  REQUIRE(sb->load("function getMetric() coroutine.yield(1) return 2 end\n"
                   "function nested() return coroutine.wrap(function() return getMetric() "
                   "end)() end")
              .isOk());
  auto r = sb->call(
      "getMetric", [](lua_State*) { return 0; },
      [](lua_State*, int) { return updraft::Status::ok(); });
  REQUIRE_FALSE(r.isOk());
  CHECK(r.code() == StatusCode::kScriptError);
  CHECK(contains(r.message(), "attempt to yield"));
  // Yielding inside a coroutine started by the script is fine, even from the same function.
  int n = 0;
  auto r2 = sb->call(
      "nested", [](lua_State*) { return 0; },
      [&](lua_State* L, int count) {
        n = count;
        CHECK(lua_type(L, 1) == LUA_TNUMBER);
        return updraft::Status::ok();
      });
  CHECK(r2.isOk());
  CHECK(n == 1);
  // A gsub callback cannot yield (C boundary), but fails cleanly.
  CHECK(contains(failure(*sb,
                         "coroutine.wrap(function() ('x'):gsub('x', function() "
                         "coroutine.yield() end) end)()"),
                 "attempt to yield"));
  CHECK(one(*sb, "return 1 + 1") == "2");
}

TEST_CASE("coroutines cannot reach the real globals") {
  auto sb = make();
  REQUIRE(sb->load("local co = coroutine.wrap(function() defined = 1 end) co()").isOk());
  CHECK(one(*sb, "return defined") == "1");  // the top level may define globals, also this way
  CHECK(contains(failure(*sb, "coroutine.wrap(function() x = 1 end)()"),
                 "attempt to set global 'x'"));
  CHECK(contains(failure(*sb, "coroutine.wrap(function() string = 1 end)()"),
                 "attempt to set global 'string'"));
  // The thread object gives nothing away.
  CHECK(one(*sb, "return getmetatable(coroutine.running())") == "nil");
  CHECK(one(*sb,
            "return coroutine.wrap(function() return type(getfenv) .. type(_G) .. "
            "type(debug) end)()") == "nilnilnil");
}

// ---- Error objects ----

TEST_CASE("error objects are turned into messages without running script code") {
  SandboxOptions options;
  options.callDeadline = std::chrono::milliseconds(200);
  auto sb = make(options);
  auto fast = [&](const std::string& source) {
    const auto start = Clock::now();
    auto msg = failure(*sb, source);
    CHECK(msSince(start) < 150);  // no metamethod ran until the deadline
    return msg;
  };
  CHECK(fast("error(setmetatable({}, {__tostring = function() while true do end end}))") ==
        "(error object is a table value)");
  CHECK(fast("error(setmetatable({}, {__index = function() error('boom') end}))") ==
        "(error object is a table value)");
  CHECK(fast("error(setmetatable({}, {__index = function() while true do end end}))") ==
        "(error object is a table value)");
  // A raw string field `message` is used; one provided by __index is not.
  CHECK(fast("error({message = 'queue is unreachable', code = 7})") == "queue is unreachable");
  CHECK(fast("error(setmetatable({}, {__index = {message = 'x'}}))") ==
        "(error object is a table value)");
  CHECK(fast("error({message = 42})") == "(error object is a table value)");
  CHECK(fast("error()") == "(error object is a nil value)");
  CHECK(fast("error(nil)") == "(error object is a nil value)");
  CHECK(fast("error(true)") == "(error object is a boolean value)");
  CHECK(fast("error(12.5)") == "script.lua:1: 12.5");  // numbers are messages, with a position
  CHECK(fast("error('plain', 0)") == "plain");
  CHECK(fast("error(coroutine.create(function() end))") == "(error object is a thread value)");
  CHECK(fast("error(print or error)") == "(error object is a function value)");
  // Through coroutine.wrap and from a sort comparator.
  CHECK(fast("coroutine.wrap(function() error(setmetatable({}, {__tostring = function() while "
             "true do end end})) end)()") == "(error object is a table value)");
  CHECK(fast("table.sort({3, 2, 1}, function() error({message = 'from sort'}) end)") ==
        "from sort");
  // Through call(): the same.
  REQUIRE(sb->load("function getMetric() error(setmetatable({}, {__tostring = function() while "
                   "true do end end})) end")
              .isOk());
  auto r = sb->call(
      "getMetric", [](lua_State*) { return 0; },
      [](lua_State*, int) { return updraft::Status::ok(); });
  REQUIRE_FALSE(r.isOk());
  CHECK(r.message() == "(error object is a table value)");
  // Results are read without metamethods too.
  CHECK(one(*sb, "return setmetatable({}, {__tostring = function() while true do end end})") ==
        "table");
  // Tables have no __gc in Lua 5.1 (and newproxy is gone): nothing runs at collection or close.
  const auto start = Clock::now();
  REQUIRE(sb->run("for i = 1, 1000 do setmetatable({}, {__gc = function() while true do end "
                  "end}) end local t = {} for i = 1, 1e5 do t[i] = {} end")
              .isOk());
  sb.reset();
  CHECK(msSince(start) < 150);
}

// ---- Deep recursion ----

TEST_CASE("deep recursion of every kind fails with an error, never a crash") {
  SandboxOptions options;
  options.callDeadline = std::chrono::seconds(2);
  auto sb = make(options);
  struct Case {
    const char* source;
    std::vector<const char*> anyOf;  // the message contains one of these
  };
  const std::vector<Case> cases = {
      // Lua recursion
      {"local function f() return 1 + f() end return f()", {"stack overflow"}},
      {"local function f(...) return 1 + f(1, ...) end return f()",
       {"stack overflow", "not enough memory"}},
      // metamethod chains and recursion (the VM, no C frames)
      {"local t = {} for i = 1, 1000 do t = setmetatable({}, {__index = t}) end return t.x",
       {"loop in gettable"}},
      {"local t = setmetatable({}, {}) getmetatable(t).__index = function(t, k) return t[k] end "
       "return t.x",
       {"stack overflow"}},
      {"local t = setmetatable({}, {__tostring = function(self) return (tostring(self)) end}) "
       "return tostring(t)",
       {"stack overflow"}},
      // the same as a tail call runs in constant stack: only the deadline stops it
      {"local t = setmetatable({}, {__tostring = function(self) return tostring(self) end}) "
       "return tostring(t)",
       {"deadline"}},
      {"local t = setmetatable({}, {__concat = function(a, b) return a .. b end}) return t .. 'x'",
       {"stack overflow"}},
      // C functions calling back into Lua
      {"local t = setmetatable({}, {__tostring = function(self) return string.format('%s', "
       "self) end}) return tostring(t)",
       {"C stack overflow", "stack overflow"}},
      {"local function f(s) return (s:gsub('.', f)) end return f('x')",
       {"C stack overflow", "stack overflow"}},
      {"local t t = setmetatable({}, {__index = function(_, k) return (k:gsub('.', t)) end}) "
       "return ('x'):gsub('.', t)",
       {"C stack overflow", "stack overflow"}},
      {"local function cmp(a, b) table.sort({3, 2, 1}, cmp) return a < b end "
       "table.sort({3, 2, 1}, cmp)",
       {"C stack overflow", "stack overflow"}},
      {"local mt = {} mt.__lt = function(a, b) table.sort({setmetatable({}, mt), "
       "setmetatable({}, mt)}) return false end "
       "table.sort({setmetatable({}, mt), setmetatable({}, mt)})",
       {"C stack overflow", "stack overflow"}},
      {"local function f() return coroutine.wrap(f)() end return f()",
       {"C stack overflow", "stack overflow", "not enough memory"}},
      {"local function f() local ok, e = coroutine.resume(coroutine.create(f)) error(e, 0) end "
       "f()",
       {"C stack overflow", "stack overflow", "not enough memory"}},
      {"local function f(s) return (('%s'):format(setmetatable({}, {__tostring = function() "
       "return (s:gsub('.', f)) end}))) end return f('x')",
       {"C stack overflow", "stack overflow"}},
      // error handlers
      {"local function h(e) return xpcall(error, h) end local ok, e = xpcall(error, h) error(e)",
       {"error in error handling", "stack overflow", "(error object is a boolean value)"}},
      {"xpcall(function() error('x') end, function(e) error(e) end) error('after')", {"after"}},
      {"local function h(e) local t = {} for i = 1, 1e9 do t[i] = i end end "
       "local ok, e = xpcall(error, h) error(e, 0)",
       {"not enough memory", "error in error handling"}},
      // json nesting
      {"return json.decode(string.rep('[', 1e5) .. string.rep(']', 1e5))", {"nesting too deep"}},
      {"return json.decode(string.rep('{\"a\":', 1e5) .. '1' .. string.rep('}', 1e5))",
       {"nesting too deep"}},
      {"return json.decode(string.rep('[', 1e6))", {"nesting too deep", "invalid JSON"}},
      {"local t = {} for i = 1, 1e5 do t = {t} end return json.encode(t)", {"nesting too deep"}},
      {"local t = {} for i = 1, 1e5 do t = {a = t} end return json.encode(t)",
       {"nesting too deep"}},
  };
  for (const auto& c : cases) {
    INFO(c.source);
    auto msg = failure(*sb, c.source);
    INFO(msg);
    bool matched = false;
    for (const char* part : c.anyOf) matched = matched || contains(msg, part);
    CHECK(matched);
    CHECK(one(*sb, "return 1 + 1") == "2");
  }
  // pcall chains unwind normally.
  CHECK(one(*sb, "local function f() return pcall(f) end return (f())") == "true");
  // Deeply nested source is a syntax error.
  for (const char* open : {"(", "{", "- ", "not "}) {
    std::string src = "return ";
    for (int i = 0; i < 100000; ++i) src += open;
    src += "1";
    auto r = sb->run(src);
    REQUIRE_FALSE(r.isOk());
    CHECK(r.status().code() == StatusCode::kInvalidArgument);
  }
}

TEST_CASE("recursion through library functions also stops on a thread with a small stack") {
  // 256 KiB of stack: the budget shrinks with it.
  std::string message;
  auto body = [&] {
    auto sb = Sandbox::create();
    if (!sb.isOk()) return;
    auto r = (*sb)->run("local function f(s) return (s:gsub('.', f)) end return f('x')");
    message = r.isOk() ? "ok" : r.status().message();
  };
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, 256 * 1024);
  pthread_t thread;
  auto trampoline = [](void* arg) -> void* {
    (*static_cast<decltype(body)*>(arg))();
    return nullptr;
  };
  REQUIRE(pthread_create(&thread, &attr, trampoline, &body) == 0);
  pthread_join(thread, nullptr);
  pthread_attr_destroy(&attr);
  CHECK(contains(message, "stack overflow"));
}

// ---- Bombs ----

TEST_CASE("bombs fail with the memory cap or the deadline; the sandbox goes on working") {
  SandboxOptions options;
  options.callDeadline = std::chrono::seconds(2);
  auto sb = make(options);
  auto other = make();
  REQUIRE(other->load("local n = 0\nfunction inc() n = n + 1 return n end").isOk());
  for (const char* bomb : {
           "return string.rep('x', 1e9)",
           "return ('x'):rep(2^20):rep(2^20)",
           "return string.rep('abc', 1e8, ',')",
           "local t = {} while true do t[#t + 1] = 1 end",
           "local t, i = {}, 0 while true do i = i + 1 t['k' .. i] = i end",
           "local t = {} for i = 1, 1e9 do t[i] = {i} end",
           "local s = 'x' while true do s = s .. s end",
           "local s = '' for i = 1, 1e9 do s = s .. 'x' end",
           "local t, s = {}, string.rep('x', 2^20) for i = 1, 64 do t[i] = s end "
           "return #table.concat(t)",
           "local t = {} for i = 1, 1e8 do t[i] = 'x' end return #table.concat(t)",
           "return #string.format('%s%s%s', string.rep('x', 2^22), string.rep('y', 2^22), "
           "string.rep('z', 2^22)):rep(4)",
           "local s = string.rep('x', 2^22) return #s:gsub('x', '%0%0%0%0')",
           "return #json.encode(string.rep('x', 2^23)):rep(2)",
           "local t = {} for i = 1, 1e7 do t[i] = i end return #json.encode(t)",
           "return #table.concat({string.rep('x', 2^23), string.rep('x', 2^23)})",
       }) {
    INFO(bomb);
    auto msg = failure(*sb, bomb);
    INFO(msg);
    CHECK((contains(msg, "not enough memory") || contains(msg, "deadline")));
    CHECK(sb->memoryUsed() <= options.memoryLimitBytes);
    CHECK(one(*sb, "return #string.rep('x', 1000)") == "1000");
  }
  CHECK(contains(failure(*sb, "return unpack({}, 1, 1e8)"), "too many results to unpack"));
  CHECK(one(*other, "return inc()") == "1");
}

TEST_CASE("a state filled to the brim still fails cleanly, and recovers once freed") {
  SandboxOptions options;
  options.memoryLimitBytes = 4u << 20;
  options.callDeadline = std::chrono::seconds(5);
  auto sb = make(options);
  REQUIRE(sb->load(R"(
    local hog
    function fill() pcall(function() while true do hog = {hog} end end) return 0 end
    function free() hog = nil return 0 end
    function getMetric() return 1 end)")
              .isOk());
  auto noArgs = [](lua_State*) { return 0; };
  auto ignore = [](lua_State*, int) { return updraft::Status::ok(); };
  REQUIRE(sb->call("fill", noArgs, ignore).isOk());
  CHECK(sb->memoryUsed() <= options.memoryLimitBytes);
  CHECK(sb->memoryUsed() + 1024 > options.memoryLimitBytes);  // full
  // The host's part of a call (frame, arguments, results, error handling) has a small reserve of
  // its own: calls that allocate nothing in the script still work, the others fail cleanly.
  for (int i = 0; i < 20; ++i) CHECK(sb->call("getMetric", noArgs, ignore).isOk());
  CHECK(contains(failure(*sb, "return {}"), "not enough memory"));
  CHECK(sb->hasFunction("getMetric"));
  CHECK(sb->globalFunctions().size() == 3);
  CHECK(sb->compile("return 1").isOk());
  // The hog is reachable, so only freeing it helps.
  CHECK(sb->call("free", noArgs, ignore).isOk());
  // Its memory comes back with the collector (a failed call runs a full collection): at the
  // latest the second attempt succeeds.
  const char* big = "local t = {} for i = 1, 1e5 do t[i] = i end return #t";
  auto r = sb->run(big);
  if (!r.isOk()) r = sb->run(big);
  CHECK(r.isOk());
}

// ---- Patterns ----

TEST_CASE("pattern matching stops at the deadline") {
  SandboxOptions options;
  options.callDeadline = std::chrono::milliseconds(200);
  auto sb = make(options);
  for (const char* evil : {
           "return string.find(string.rep('a', 40), string.rep('a-', 9) .. 'b')",
           "return string.match(string.rep('a', 40), string.rep('a*', 9) .. 'b')",
           "for x in string.gmatch(string.rep('a', 40), string.rep('a-', 9) .. 'b') do end",
           "return string.gsub(string.rep('a', 40), string.rep('a-', 9) .. 'b', '')",
           "return ('a'):rep(40):find(('a-'):rep(9) .. 'b')",
           "return string.find(string.rep('(', 1e6), '%b()')",
           "return string.find(string.rep('a', 1e6), '(.-)%1b')",
           // pcall cannot keep it going
           "while true do pcall(string.find, ('a'):rep(40), ('a-'):rep(9) .. 'b') end",
       }) {
    INFO(evil);
    const auto start = Clock::now();
    auto msg = failure(*sb, evil);
    CHECK(contains(msg, "deadline of 200 ms"));
    CHECK(msSince(start) < 1000);
  }
  // A plain find is linear (LuaJIT's is quadratic on this input).
  const auto start = Clock::now();
  CHECK(one(*sb,
            "return string.find(string.rep('a', 2^20), string.rep('a', 2^19) .. 'b', 1, "
            "true)") == "nil");
  CHECK(one(*sb,
            "return (string.find(string.rep('a', 2^20) .. 'b', string.rep('a', 2^19) .. "
            "'b'))") == "524289");
  CHECK(msSince(start) < 150);
  CHECK(contains(failure(*sb, "return string.find('x', string.rep('(', 300) .. 'x')"),
                 "too many captures"));
  CHECK(contains(failure(*sb, "return string.find(string.rep('x', 300), string.rep('x?', 300))"),
                 "pattern too complex"));
}

TEST_CASE("pattern functions match LuaJIT's") {
  // The same calls through LuaJIT's own string library (a plain state) and through the sandbox's.
  const char* script = R"LUA(
    local cases = {
      {"find", "hello world", "o w"}, {"find", "hello world", "l+"}, {"find", "hello", "l", 1, true},
      {"find", "hello", "", 10}, {"find", "hello", "h", -10}, {"find", "hello", "lo", -2},
      {"find", "a.b", ".", 1, true}, {"find", "a.b", "%."}, {"find", "abc", "[a-"},
      {"find", "abc", "b", 2.7}, {"find", "", ""}, {"find", "abc", "", 4}, {"find", "abc", "", 5},
      {"find", "a\0b", "\0"}, {"find", "a\0b", "%z"}, {"find", "abc", "^b"}, {"find", "abc", "^a"},
      {"find", "x", "[]"}, {"find", "x", "[^]"}, {"find", "]", "[]]"},
      {"match", "key = value", "(%w+)%s*=%s*(%w+)"}, {"match", "  trim  ", "^%s*(.-)%s*$"},
      {"match", "THE (quick) fox", "%((%a+)%)"}, {"match", "f(a(b)c)d", "%b()"},
      {"match", "THE (quick) fox", "%f[%a]%a+", 5}, {"match", "hello", "()ll()"},
      {"match", "abcabc", "(abc)%1"}, {"match", "x=1, y=2", "(%a)=(%d)", -4},
      {"match", "abc", "%"}, {"match", "abc", "(()"}, {"match", "abc", "%1"},
      {"match", "abc", "a)"}, {"match", "abc", "%b"}, {"match", "abc", "%fa"},
      {"match", "date: 2024-01-15", "(%d+)-(%d+)-(%d+)"}, {"match", "[[x]]", "[%[]+"},
      {"match", "a]b", "[]]"}, {"match", "a-b", "[a%-]+"}, {"match", "hello", "[^aeiou]+"},
      {"match", "HeLLo", "%u+"}, {"match", "tab\there", "%c"}, {"match", "3.14abc", "^[+-]?%d+%.?%d*"},
      {"match", "end$", "d%$"}, {"match", "abc", "b$"}, {"match", "a$b", "$b"},
      {"match", "\200\201x", "[\128-\255]+"}, {"match", "\200x", "%A+"}, {"match", "caf\195\169", "%a+$"},
      {"match", "  x", "%S"}, {"match", "a,b;c", "%p"}, {"match", "AbC", "%L+"}, {"match", "ff0z", "%x+"},
      {"match", "x", ".-"}, {"match", "xyz", ".-$"}, {"match", "aaa", "a-b"}, {"match", "aaab", "a-b"},
      {"match", "aaa", "^a?a?a?a?$"}, {"match", "THE END", "%f[%w]%w+%f[%W]"},
      {"match", "hello", "(h)(e)(l)(l)(o)"}, {"match", "hello", "((h)(e))"},
      {"match", 123, 2}, {"match", "abc", "b", 100}, {"match", "abc", "()", 4},
      {"gsub", "hello world", "o", "0"}, {"gsub", "hello world", "(o)", "[%1]"},
      {"gsub", "hello world", "%w+", "%0 %0", 1}, {"gsub", "abc", "", "-"},
      {"gsub", "hello", "l", {l = "L"}}, {"gsub", "hello", ".", {h = 1, e = false}},
      {"gsub", "$name is $age", "%$(%w+)", {name = "bob", age = 42}}, {"gsub", "abc", "%w", "%%"},
      {"gsub", "abc", "%w", "%2"}, {"gsub", "abc", "^a", "x"}, {"gsub", "aaa", "a*", "-"},
      {"gsub", "abc", "b", true}, {"gsub", "hello world", "(%w+) (%w+)", "%2 %1"},
      {"gsub", 12345, 3, 9}, {"gsub", "x", "x", "%a"}, {"gsub", "abc", ".", "%"},
      {"gsub", "abc", "b", {b = {}}}, {"gsub", "abc", "()", "%1"}, {"gsub", "abc", ".", "x", 0},
      {"gsub", "abc", ".", "x", -1}, {"gsub", "abc", ".", "x", 2.5}, {"gsub", "a b", "%s*", "_"},
      {"gsub", "abc"}, {"find"}, {"match", "x"}, {"find", {}, "x"},
    }
    local out = {}
    local function show(...)
      local parts = {}
      for i = 1, select("#", ...) do
        local v = select(i, ...)
        parts[#parts + 1] = type(v) == "string" and string.format("%q", v) or tostring(v)
      end
      return table.concat(parts, ",")
    end
    for i, c in ipairs(cases) do
      out[#out + 1] = i .. " " .. c[1] .. ": " .. show(pcall(string[c[1]], unpack(c, 2, 5)))
    end
    local function collect(s, p)
      local all = {}
      for a, b in string.gmatch(s, p) do all[#all + 1] = show(a, b) end
      return table.concat(all, " | ")
    end
    out[#out + 1] = collect("a=1, b=2", "(%w+)=(%w+)")
    out[#out + 1] = collect("one two  three", "%a+")
    out[#out + 1] = collect("abc", "")
    out[#out + 1] = collect("^a^a", "^a")
    out[#out + 1] = collect("abc", "()")
    out[#out + 1] = collect("x1y22z333", "%d*")
    out[#out + 1] = show(pcall(string.gmatch("abc", "%"))) 
    out[#out + 1] = show(("hello"):gsub("l+", function(s) return #s end))
    out[#out + 1] = show(("abc"):gsub(".", function(c) return nil end))
    out[#out + 1] = show(("abc"):gsub("(b)(c)", function(b, c) return c .. b end))
    out[#out + 1] = show(pcall(string.gsub, "abc", ".", function() return {} end))
    out[#out + 1] = show(("hello world"):find("o", 6))
    out[#out + 1] = show(("hello"):match(".", -1))
    return table.concat(out, "\n")
  )LUA";
  // LuaJIT's own.
  lua_State* L = luaL_newstate();
  REQUIRE(L);
  luaL_openlibs(L);
  REQUIRE(luaL_loadstring(L, script) == 0);
  int rc = lua_pcall(L, 0, 1, 0);
  INFO((lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "?"));
  REQUIRE(rc == 0);
  std::string expected = lua_tostring(L, -1);
  lua_close(L);
  // The sandbox's. Error positions and names differ only in the chunk name.
  auto sb = make();
  std::string got = one(*sb, script);
  CHECK(got == expected);
}
