// The `http` host API (lua/src/http_api.cc) against a local cpp-httplib server on 127.0.0.1.
#include <strings.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdio>
#include <lua.hpp>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "lua_example_util.h"
#include "scalers/test_server.h"
#include "updraft/lua/sandbox.h"

using namespace updraft;
using updraft::testing::closedPort;
using updraft::testing::contains;
using updraft::testing::TestServer;

namespace {

using Steady = std::chrono::steady_clock;

// A sandbox with a script loaded; call() runs one of its global functions with string arguments
// and returns the results as strings (nil -> "nil", numbers as %.14g, booleans).
class Script {
 public:
  explicit Script(const std::string& source, const lua::SandboxOptions& options = {}) {
    auto sb = lua::Sandbox::create(options);
    REQUIRE(sb.isOk());
    sandbox_ = std::move(sb.value());
    Status s = sandbox_->load(source);
    INFO(s.message());
    REQUIRE(s.isOk());
  }

  // `deadline` is the hard deadline given to Sandbox::call (a poll's); default 5 s from now.
  Result<std::vector<std::string>> call(const std::string& fn, const std::vector<std::string>& args,
                                        std::optional<Steady::time_point> deadline = {}) {
    std::vector<std::string> out;
    auto push = [&](lua_State* L) {
      for (const auto& a : args) lua_pushlstring(L, a.data(), a.size());
      return static_cast<int>(args.size());
    };
    auto read = [&](lua_State* L, int n) {
      for (int i = 1; i <= n; ++i) {
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
          default: {
            size_t len = 0;
            const char* p = lua_tolstring(L, i, &len);
            out.emplace_back(p ? std::string(p, len) : std::string(luaL_typename(L, i)));
          }
        }
      }
      return Status::ok();
    };
    Status s =
        sandbox_->call(fn, push, read, deadline.value_or(Steady::now() + std::chrono::seconds(5)));
    if (!s.isOk()) return s;
    return out;
  }

  std::vector<std::string> ok(const std::string& fn, const std::vector<std::string>& args) {
    auto r = call(fn, args);
    INFO(r.status().message());
    REQUIRE(r.isOk());
    return r.value();
  }

  std::string error(const std::string& fn, const std::vector<std::string>& args) {
    auto r = call(fn, args);
    REQUIRE_FALSE(r.isOk());
    return r.status().message();
  }

 private:
  std::unique_ptr<lua::Sandbox> sandbox_;
};

// What the server saw of the last request.
struct Seen {
  std::mutex mutex;
  std::string method, path, body, query;
  std::multimap<std::string, std::string> headers;

  void record(const httplib::Request& req) {
    std::lock_guard lock(mutex);
    method = req.method;
    path = req.path;
    body = req.body;
    query.clear();
    for (const auto& [k, v] : req.params) query += k + "=" + v + ";";
    headers.clear();
    for (const auto& [k, v] : req.headers) headers.emplace(k, v);
  }
  std::string header(const std::string& name) {
    std::lock_guard lock(mutex);
    for (const auto& [k, v] : headers) {
      if (strcasecmp(k.c_str(), name.c_str()) == 0) return v;
    }
    return "<absent>";
  }
};

// A server with /echo (any method: records and answers with custom headers), /status/<n>,
// /slow (sleeps), /big (64 KiB).
class EchoServer {
 public:
  EchoServer() {
    auto& s = server_.server();
    auto echo = [this](const httplib::Request& req, httplib::Response& res) {
      seen.record(req);
      res.status = req.method == "POST" ? 201 : 200;
      res.set_header("X-Reply", "Yes");
      res.set_header("X-Multi", "a");
      res.set_header("X-Multi", "b");
      res.set_content(req.method + " " + req.get_header_value("Content-Type") + " " + req.body,
                      "text/plain");
    };
    s.Get("/echo", echo);
    s.Post("/echo", echo);
    s.Put("/echo", echo);
    s.Delete("/echo", echo);
    s.Patch("/echo", echo);
    s.Get(R"(/status/(\d+))", [this](const httplib::Request& req, httplib::Response& res) {
      seen.record(req);
      res.status = std::stoi(req.matches[1]);
      res.set_content("status body " + std::string(req.matches[1]), "text/plain");
    });
    s.Get("/slow", [this](const httplib::Request& req, httplib::Response& res) {
      seen.record(req);
      const int ms = req.has_param("ms") ? std::stoi(req.get_param_value("ms")) : 1500;
      for (int i = 0; i < ms / 10 && !stopping_; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
      res.set_content("slow", "text/plain");
    });
    s.Get("/big", [](const httplib::Request&, httplib::Response& res) {
      res.set_content(std::string(64 * 1024, 'x'), "text/plain");
    });
    s.Get("/huge", [](const httplib::Request&, httplib::Response& res) {
      res.set_content(std::string(4 << 20, 'x'), "text/plain");
    });
    server_.start();
  }
  ~EchoServer() {
    stopping_ = true;
    updraft::testing::closeIdleConnections();
  }

  std::string url(const std::string& path) const { return server_.url(path); }
  size_t requests() const { return server_.requests(); }

  Seen seen;

 private:
  std::atomic<bool> stopping_{false};
  TestServer server_;
};

}  // namespace

TEST_CASE("http.get: status, body, lower-cased response headers, request headers") {
  EchoServer server;
  Script script(R"(
    function get(url)
      local r = http.get(url, {headers = {["X-Test"] = "abc", ["X-Num"] = 42}})
      return r.status, r.body, r.headers["content-type"], r.headers["x-reply"],
             r.headers["X-Reply"], r.headers["x-multi"]
    end
  )");
  auto r = script.ok("get", {server.url("/echo?x=1&y=two")});
  REQUIRE(r.size() == 6);
  CHECK(r[0] == "200");
  CHECK(r[1] == "GET  ");
  CHECK(r[2] == "text/plain");
  CHECK(r[3] == "Yes");
  CHECK(r[4] == "nil");   // names are lower-cased
  CHECK(r[5] == "a, b");  // a repeated header is joined
  CHECK(server.seen.method == "GET");
  CHECK(server.seen.path == "/echo");
  CHECK(server.seen.query == "x=1;y=two;");
  CHECK(server.seen.header("X-Test") == "abc");
  CHECK(server.seen.header("X-Num") == "42");
  CHECK(server.seen.header("User-Agent") == "updraft");
}

TEST_CASE("http.post and http.request: methods, bodies, auth") {
  EchoServer server;
  Script script(R"(
    function post(url)
      local r = http.post(url, '{"a":1}', {headers = {["Content-Type"] = "application/json"}})
      return r.status, r.body
    end
    function put(url)
      local r = http.request{method = "put", url = url, body = "payload",
                             basicAuth = {username = "user", password = "pass"}}
      return r.status, r.body
    end
    function delete(url)
      local r = http.request{method = "DELETE", url = url, bearerToken = "tok-123", timeout = 2}
      return r.status, r.body
    end
    function patchDefault(url)
      return http.request{url = url}.body
    end
  )");
  auto post = script.ok("post", {server.url("/echo")});
  CHECK(post == std::vector<std::string>{"201", "POST application/json {\"a\":1}"});
  CHECK(server.seen.body == "{\"a\":1}");

  auto put = script.ok("put", {server.url("/echo")});
  CHECK(put[0] == "200");
  CHECK(put[1].rfind("PUT ", 0) == 0);
  CHECK(contains(put[1], " payload"));
  CHECK(server.seen.header("Authorization") == "Basic dXNlcjpwYXNz");  // user:pass

  auto del = script.ok("delete", {server.url("/echo")});
  CHECK(del[0] == "200");
  CHECK(server.seen.method == "DELETE");
  CHECK(server.seen.header("Authorization") == "Bearer tok-123");

  CHECK(script.ok("patchDefault", {server.url("/echo")})[0] == "GET  ");  // method defaults to GET
}

TEST_CASE("http: a non-2xx status is a normal return") {
  EchoServer server;
  Script script(R"(
    function get(url) local r = http.get(url) return r.status, r.body end
  )");
  CHECK(script.ok("get", {server.url("/status/404")}) ==
        std::vector<std::string>{"404", "status body 404"});
  CHECK(script.ok("get", {server.url("/status/503")}) ==
        std::vector<std::string>{"503", "status body 503"});
}

TEST_CASE("http: transport errors raise Lua errors the script can catch") {
  EchoServer server;
  Script script(R"(
    function get(url, opts) return http.get(url, opts and json.decode(opts) or nil).status end
    function caught(url)
      local ok, err = pcall(http.get, url)
      return ok, err
    end
  )");
  const std::string refused = "http://127.0.0.1:" + std::to_string(closedPort()) + "/x";
  CHECK(script.error("get", {refused}) ==
        "script.lua:2: http.get: GET " + refused + ": connection refused");
  auto c = script.ok("caught", {refused});
  CHECK(c[0] == "false");
  CHECK(contains(c[1], "connection refused"));

  // maxBytes: a body over the limit is an error, not a truncated body.
  CHECK(contains(script.error("get", {server.url("/big"), R"({"maxBytes": 1000})"}),
                 "response body is larger than 1000 bytes"));
  CHECK(script.ok("get", {server.url("/big"), R"({"maxBytes": 65536})"})[0] == "200");
}

TEST_CASE("http: a body over the state's memory cap fails as a Lua memory error") {
  EchoServer server;
  lua::SandboxOptions small;
  small.memoryLimitBytes = 2u << 20;
  Script script(R"(
    function get(url) return #http.get(url, {maxBytes = 8 * 1024 * 1024}).body end
    function caught(url)
      local ok, err = pcall(http.get, url, {maxBytes = 8 * 1024 * 1024})
      return ok, err, #http.get((url:gsub("huge", "big"))).body
    end
  )",
                small);
  CHECK(contains(script.error("get", {server.url("/huge")}), "not enough memory"));
  // The state stays usable: the script can catch it and make the next request.
  auto r = script.ok("caught", {server.url("/huge")});
  CHECK(r == std::vector<std::string>{"false", "not enough memory", "65536"});
}

TEST_CASE("http: timeouts, the poll's deadline and the CPU budget") {
  EchoServer server;
  Script script(R"(
    function get(url, timeout) return http.get(url, {timeout = tonumber(timeout)}).body end
  )");

  // The request's own timeout.
  auto t0 = Steady::now();
  std::string err = script.error("get", {server.url("/slow?ms=2000"), "0.2"});
  auto took = Steady::now() - t0;
  CHECK(contains(err, "http.get: GET " + server.url("/slow") + ": timed out after 200 ms"));
  CHECK_FALSE(contains(err, "capped"));
  CHECK(took < std::chrono::milliseconds(1500));

  // A timeout longer than the time left before the poll's deadline is capped by it.
  t0 = Steady::now();
  auto r = script.call("get", {server.url("/slow?ms=2000"), "10"},
                       Steady::now() + std::chrono::milliseconds(400));
  took = Steady::now() - t0;
  REQUIRE_FALSE(r.isOk());
  CHECK(contains(r.status().message(), "timed out after "));
  CHECK(contains(r.status().message(), "(capped by the poll's deadline)"));
  CHECK(took >= std::chrono::milliseconds(300));
  CHECK(took < std::chrono::milliseconds(1500));

  // No time left: a timeout error at once, and no request reaches the server.
  const size_t before = server.requests();
  r = script.call("get", {server.url("/echo"), "3"}, Steady::now() - std::chrono::milliseconds(1));
  REQUIRE_FALSE(r.isOk());
  CHECK(contains(r.status().message(),
                 "http.get: GET " + server.url("/echo") + ": no time left before the deadline"));
  CHECK(server.requests() == before);

  // Time spent waiting for the server does not count against the script's 100 ms budget.
  t0 = Steady::now();
  auto slow = script.call("get", {server.url("/slow?ms=400"), "3"});
  INFO(slow.status().message());
  REQUIRE(slow.isOk());
  CHECK(slow.value() == std::vector<std::string>{"slow"});
  CHECK(Steady::now() - t0 >= std::chrono::milliseconds(400));
}

TEST_CASE("http: bad arguments raise clear errors before any request") {
  EchoServer server;
  // Each case runs `http.<call>` with U bound to a valid URL and returns pcall's message.
  Script script(R"(
    function try(code, url)
      local U = url
      local f = assert(CHUNKS[code])
      local ok, err = pcall(f, U)
      if ok then return "no error" end
      return err
    end
    CHUNKS = {
      getNumber     = function(U) local r = http.get(42) return r end,
      getNil        = function(U) local r = http.get() return r end,
      ftp           = function(U) local r = http.get("ftp://127.0.0.1/x") return r end,
      relative      = function(U) local r = http.get("/echo") return r end,
      space         = function(U) local r = http.get(U .. " x") return r end,
      unknownGet    = function(U) local r = http.get(U, {foo = 1}) return r end,
      unknownReq    = function(U) local r = http.request{url = U, foo = 1} return r end,
      urlInGetOpts  = function(U) local r = http.get(U, {url = U}) return r end,
      optsString    = function(U) local r = http.get(U, "headers") return r end,
      tooMany       = function(U) local r = http.get(U, {}, 3) return r end,
      timeoutString = function(U) local r = http.get(U, {timeout = "3"}) return r end,
      timeoutZero   = function(U) local r = http.get(U, {timeout = 0}) return r end,
      postNoBody    = function(U) local r = http.post(U) return r end,
      requestString = function(U) local r = http.request(U) return r end,
      requestNoUrl  = function(U) local r = http.request{method = "GET"} return r end,
      badMethod     = function(U) local r = http.request{url = U, method = "GET /x"} return r end,
      headersString = function(U) local r = http.get(U, {headers = "X: 1"}) return r end,
      headerName    = function(U) local r = http.get(U, {headers = {["Bad Name"] = "x"}}) return r end,
      headerNul     = function(U) local r = http.get(U, {headers = {["X\0Y"] = "1"}}) return r end,
      headerValue   = function(U) local r = http.get(U, {headers = {X = "a\r\nInjected: yes"}}) return r end,
      headerTable   = function(U) local r = http.get(U, {headers = {X = {}}}) return r end,
      basicString   = function(U) local r = http.get(U, {basicAuth = "u:p"}) return r end,
      basicNoUser   = function(U) local r = http.get(U, {basicAuth = {password = "p"}}) return r end,
      basicExtra    = function(U) local r = http.get(U, {basicAuth = {username = "u", pass = "p"}}) return r end,
      bearerNumber  = function(U) local r = http.get(U, {bearerToken = 12345}) return r end,
      insecure      = function(U) local r = http.get(U, {insecureSkipVerify = "yes"}) return r end,
      maxBytesZero  = function(U) local r = http.get(U, {maxBytes = 0}) return r end,
      maxBytesHuge  = function(U) local r = http.get(U, {maxBytes = 2^40}) return r end,
    }
  )");
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"getNumber", "http.get: url must be a string"},
      {"getNil", "http.get: url must be a string"},
      {"ftp", "http.get: url must start with http:// or https://"},
      {"relative", "http.get: url must start with http:// or https://"},
      {"space", "http.get: url must not contain spaces or control characters"},
      {"unknownGet", "http.get: unknown option 'foo'"},
      {"unknownReq", "http.request: unknown option 'foo'"},
      {"urlInGetOpts", "http.get: unknown option 'url'"},
      {"optsString", "http.get: options must be a table"},
      {"tooMany", "http.get: too many arguments (3, at most 2)"},
      {"timeoutString", "http.get: timeout must be a number"},
      {"timeoutZero", "http.get: timeout must be a number of seconds above 0 and at most 3600"},
      {"postNoBody", "http.post: body must be a string"},
      {"requestString", "http.request: expects one table {method = ..., url = ..., ...}"},
      {"requestNoUrl", "http.request: url must be a string"},
      {"badMethod", "http.request: method must be an HTTP method name such as \"GET\""},
      {"headersString", "http.get: headers must be a table"},
      {"headerName", "http.get: invalid header name"},
      {"headerNul", "http.get: invalid header name"},
      {"headerValue", "http.get: header 'X' has a line break or NUL in its value"},
      {"headerTable", "http.get: header 'X' must be a string or a number"},
      {"basicString", "http.get: basicAuth must be a table {username = ..., password = ...}"},
      {"basicNoUser", "http.get: basicAuth.username must be a string"},
      {"basicExtra", "http.get: basicAuth takes only username and password"},
      {"bearerNumber", "http.get: bearerToken must be a string"},
      {"insecure", "http.get: insecureSkipVerify must be a boolean"},
      {"maxBytesZero", "http.get: maxBytes must be a whole number from 1 to 16777216"},
      {"maxBytesHuge", "http.get: maxBytes must be a whole number from 1 to 16777216"},
  };
  for (const auto& [code, want] : cases) {
    INFO(code);
    auto r = script.ok("try", {code, server.url("/echo")});
    REQUIRE(r.size() == 1);
    // Raised at the script's line of the call.
    CHECK_THAT(r[0], Catch::StartsWith("script.lua:") && Catch::EndsWith(": " + want));
  }
  CHECK(server.requests() == 0);
  // The rejected header value is not echoed.
  CHECK_FALSE(contains(script.ok("try", {"headerValue", server.url("/echo")})[0], "Injected"));
}

TEST_CASE("http: credentials never appear in an error") {
  EchoServer server;
  Script script(R"(
    function get(url, timeout)
      return http.get(url, {
        bearerToken = "tok-SECRET-1",
        headers = {["X-Api-Key"] = "key-SECRET-2"},
        timeout = tonumber(timeout),
      }).status
    end
    function basic(url)
      return http.get(url, {basicAuth = {username = "alice", password = "pw-SECRET-3"}}).status
    end
  )");
  const int port = closedPort();
  const std::string withSecrets =
      "http://bob:pw-SECRET-4@127.0.0.1:" + std::to_string(port) + "/x?token=SECRET-5#SECRET-6";
  std::vector<std::string> errors = {
      script.error("get", {withSecrets, "3"}),
      script.error("basic", {withSecrets}),
      script.error("get", {server.url("/slow?ms=1000&token=SECRET-7"), "0.1"}),
  };
  for (const auto& e : errors) {
    INFO(e);
    CHECK_FALSE(contains(e, "SECRET"));
    CHECK_FALSE(contains(e, "bob"));
  }
  CHECK(contains(errors[0],
                 "GET http://127.0.0.1:" + std::to_string(port) + "/x: connection refused"));
  CHECK(contains(errors[2], "timed out after 100 ms"));
  // The credentials did reach a server that answers.
  CHECK(script.ok("get", {server.url("/echo"), "3"})[0] == "200");
  CHECK(server.seen.header("Authorization") == "Bearer tok-SECRET-1");
  CHECK(server.seen.header("X-Api-Key") == "key-SECRET-2");
}
