#include "updraft/lua/sandbox.h"

#include <catch2/catch.hpp>
#include <chrono>
#include <string>

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

}  // namespace

TEST_CASE("forbidden libraries and functions are absent") {
  auto sb = make();
  for (const char* name :
       {"io",      "os",         "debug",    "ffi",      "jit",     "package", "coroutine",
        "load",    "loadstring", "dofile",   "loadfile", "require", "module",  "collectgarbage",
        "getfenv", "setfenv",    "newproxy", "print",    "gcinfo",  "_G",      "string.dump"}) {
    INFO(name);
    CHECK(one(*sb, std::string("return type(") + name + ")") == "nil");
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
