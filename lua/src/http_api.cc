// The `http` host API: blocking HTTP(S) requests from scripts through the engine's shared client
// (updraft::http::HttpClient::shared(): keep-alive per host, TLS, redacted errors).
//
//   http.get(url [, opts])            http.post(url, body [, opts])
//   http.request{method = "PUT", url = ..., body = ..., <opts>}
//   opts: headers (name -> value), timeout (seconds, default 3), basicAuth = {username, password},
//         bearerToken, insecureSkipVerify (boolean), maxBytes (default 1 MiB, at most 16 MiB)
//   -> {status = 200, body = "...", headers = {["content-type"] = "..."}}  (names lower-cased)
//
// A non-2xx status is a normal return. A transport failure (connection refused, timeout, body too
// large, TLS) raises a Lua error with the client's message, which names the method and the URL
// without userinfo or query string and never carries a header value, token or password. Bad
// arguments raise errors naming the function and the option, never an option's value.
//
// The request runs inside a Sandbox::IoScope (its time does not count against the script's CPU
// budget) and its timeout is capped by the time left before the sandbox's hard deadline (the
// poll's): with no time left it fails at once with a timeout error, without I/O.
//
// Lua errors are longjmps (or foreign exceptions) that must never skip a live C++ destructor. So
// every C++ object of a request lives in an Exchange owned by a Lua userdata (freed by its __gc if
// an error unwinds past it); the frames that call the Lua API hold only a pointer to it, and the
// request itself runs in perform(), which calls no Lua API and returns. The result is pushed from
// the Exchange, which is then deleted, and only then is an error raised.
#include <strings.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstring>
#include <exception>
#include <lua.hpp>
#include <new>
#include <string>
#include <utility>
#include <vector>

#include "common/http_client.h"
#include "updraft/lua/sandbox.h"

namespace updraft::lua {
namespace {

constexpr const char* kExchangeMeta = "updraft.http.exchange";
constexpr double kDefaultTimeoutSeconds = 3;
constexpr double kMaxTimeoutSeconds = 3600;
constexpr size_t kDefaultMaxBytes = 1u << 20;
constexpr size_t kMaxMaxBytes = http::kDefaultMaxResponseBytes;

enum class Verb { kGet, kPost, kRequest };

const char* functionName(Verb verb) {
  switch (verb) {
    case Verb::kGet:
      return "http.get";
    case Verb::kPost:
      return "http.post";
    case Verb::kRequest:
      break;
  }
  return "http.request";
}

// One request and its outcome. Owned by a userdata (see above).
struct Exchange {
  http::Request request;
  Millis requestedTimeout{static_cast<long long>(kDefaultTimeoutSeconds * 1000)};
  bool ok = false;
  http::Response response;
  std::string error;
};

// The userdata: a pointer, so the Exchange can be deleted as soon as it is no longer needed.
struct Box {
  Exchange* exchange;
};

int boxGc(lua_State* L) {
  auto* box = static_cast<Box*>(lua_touserdata(L, 1));
  if (box && box->exchange) {
    delete box->exchange;
    box->exchange = nullptr;
  }
  return 0;
}

// Pushes a new Box holding a fresh Exchange and returns the Exchange.
Exchange* newExchange(lua_State* L) {
  luaL_checkstack(L, 4, "http");
  luaL_getmetatable(L, kExchangeMeta);
  auto* box = static_cast<Box*>(lua_newuserdata(L, sizeof(Box)));
  box->exchange = nullptr;
  lua_pushvalue(L, -2);
  lua_setmetatable(L, -2);  // from here on __gc owns whatever box->exchange points to
  lua_remove(L, -2);
  box->exchange = new Exchange();
  return box->exchange;
}

void releaseExchange(lua_State* L, int boxIndex) {
  auto* box = static_cast<Box*>(lua_touserdata(L, boxIndex));
  delete box->exchange;
  box->exchange = nullptr;
}

bool isTokenChar(unsigned char c) {
  return std::isalnum(c) || (c != 0 && std::strchr("!#$%&'*+-.^_`|~", c) != nullptr);
}

// The string at `idx` (a string, not a number) or raises "<fn>: <what> must be a string".
const char* requireString(lua_State* L, int idx, const char* fn, const char* what, size_t* len) {
  if (lua_type(L, idx) != LUA_TSTRING) luaL_error(L, "%s: %s must be a string", fn, what);
  return lua_tolstring(L, idx, len);
}

void readUrl(lua_State* L, int idx, const char* fn, Exchange& ex) {
  size_t n = 0;
  const char* url = requireString(L, idx, fn, "url", &n);
  const bool http = n >= 7 && strncasecmp(url, "http://", 7) == 0;
  const bool https = n >= 8 && strncasecmp(url, "https://", 8) == 0;
  if (!http && !https) luaL_error(L, "%s: url must start with http:// or https://", fn);
  for (size_t i = 0; i < n; ++i) {
    const auto c = static_cast<unsigned char>(url[i]);
    if (c <= 0x20 || c == 0x7f) {
      luaL_error(L, "%s: url must not contain spaces or control characters", fn);
    }
  }
  ex.request.url.assign(url, n);
}

void readBody(lua_State* L, int idx, const char* fn, Exchange& ex) {
  size_t n = 0;
  const char* body = requireString(L, idx, fn, "body", &n);
  ex.request.body.assign(body, n);
}

void readMethod(lua_State* L, int idx, const char* fn, Exchange& ex) {
  size_t n = 0;
  const char* method = requireString(L, idx, fn, "method", &n);
  bool ok = n > 0 && n <= 16;
  for (size_t i = 0; ok && i < n; ++i) ok = std::isalpha(static_cast<unsigned char>(method[i]));
  if (!ok) luaL_error(L, "%s: method must be an HTTP method name such as \"GET\"", fn);
  ex.request.method.assign(method, n);
  for (char& c : ex.request.method)
    c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
}

void readHeaders(lua_State* L, int idx, const char* fn, Exchange& ex) {
  if (lua_type(L, idx) != LUA_TTABLE) luaL_error(L, "%s: headers must be a table", fn);
  lua_pushnil(L);
  while (lua_next(L, idx) != 0) {
    if (lua_type(L, -2) != LUA_TSTRING) luaL_error(L, "%s: header names must be strings", fn);
    size_t nameLen = 0;
    const char* name = lua_tolstring(L, -2, &nameLen);
    bool nameOk = nameLen > 0;
    for (size_t i = 0; nameOk && i < nameLen; ++i) {
      nameOk = isTokenChar(static_cast<unsigned char>(name[i]));
    }
    if (!nameOk) luaL_error(L, "%s: invalid header name", fn);
    const int type = lua_type(L, -1);
    if (type != LUA_TSTRING && type != LUA_TNUMBER) {
      luaL_error(L, "%s: header '%s' must be a string or a number", fn, name);
    }
    lua_pushvalue(L, -1);  // convert a copy: lua_next must see the original
    size_t valueLen = 0;
    const char* value = lua_tolstring(L, -1, &valueLen);
    for (size_t i = 0; i < valueLen; ++i) {
      if (value[i] == '\r' || value[i] == '\n' || value[i] == '\0') {
        luaL_error(L, "%s: header '%s' has a line break or NUL in its value", fn, name);
      }
    }
    ex.request.headers.emplace_back();
    ex.request.headers.back().first.assign(name, nameLen);
    ex.request.headers.back().second.assign(value, valueLen);
    lua_pop(L, 2);
  }
}

void readBasicAuth(lua_State* L, int idx, const char* fn, Exchange& ex) {
  if (lua_type(L, idx) != LUA_TTABLE) {
    luaL_error(L, "%s: basicAuth must be a table {username = ..., password = ...}", fn);
  }
  ex.request.basicAuth.emplace();
  bool haveUser = false;
  lua_pushnil(L);
  while (lua_next(L, idx) != 0) {
    const char* key = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : nullptr;
    size_t n = 0;
    if (key && std::strcmp(key, "username") == 0) {
      const char* v = requireString(L, -1, fn, "basicAuth.username", &n);
      ex.request.basicAuth->username.assign(v, n);
      haveUser = true;
    } else if (key && std::strcmp(key, "password") == 0) {
      const char* v = requireString(L, -1, fn, "basicAuth.password", &n);
      ex.request.basicAuth->password.assign(v, n);
    } else {
      luaL_error(L, "%s: basicAuth takes only username and password", fn);
    }
    lua_pop(L, 1);
  }
  if (!haveUser) luaL_error(L, "%s: basicAuth.username must be a string", fn);
}

double requireNumber(lua_State* L, int idx, const char* fn, const char* what) {
  if (lua_type(L, idx) != LUA_TNUMBER) luaL_error(L, "%s: %s must be a number", fn, what);
  return lua_tonumber(L, idx);
}

// One option `key` whose value is on top of the stack.
void readOption(lua_State* L, Verb verb, const char* fn, const char* key, Exchange& ex) {
  const int v = lua_gettop(L);
  size_t n = 0;
  if (std::strcmp(key, "headers") == 0) {
    readHeaders(L, v, fn, ex);
  } else if (std::strcmp(key, "timeout") == 0) {
    const double s = requireNumber(L, v, fn, "timeout");
    if (!(s > 0) || s > kMaxTimeoutSeconds) {
      luaL_error(L, "%s: timeout must be a number of seconds above 0 and at most %d", fn,
                 static_cast<int>(kMaxTimeoutSeconds));
    }
    // Whole milliseconds, rounding up (but 0.2 s is 200 ms despite binary fractions).
    ex.requestedTimeout = Millis(static_cast<long long>(std::ceil(s * 1000 - 1e-6)));
  } else if (std::strcmp(key, "basicAuth") == 0) {
    readBasicAuth(L, v, fn, ex);
  } else if (std::strcmp(key, "bearerToken") == 0) {
    const char* token = requireString(L, v, fn, "bearerToken", &n);
    ex.request.bearerToken.assign(token, n);
  } else if (std::strcmp(key, "insecureSkipVerify") == 0) {
    if (lua_type(L, v) != LUA_TBOOLEAN)
      luaL_error(L, "%s: insecureSkipVerify must be a boolean", fn);
    ex.request.tls.insecureSkipVerify = lua_toboolean(L, v) != 0;
  } else if (std::strcmp(key, "maxBytes") == 0) {
    const double b = requireNumber(L, v, fn, "maxBytes");
    if (!(b >= 1) || b > static_cast<double>(kMaxMaxBytes) || b != std::floor(b)) {
      luaL_error(L, "%s: maxBytes must be a whole number from 1 to %d", fn,
                 static_cast<int>(kMaxMaxBytes));
    }
    ex.request.maxResponseBytes = static_cast<size_t>(b);
  } else if (verb == Verb::kRequest && std::strcmp(key, "method") == 0) {
    readMethod(L, v, fn, ex);
  } else if (verb == Verb::kRequest && std::strcmp(key, "url") == 0) {
    readUrl(L, v, fn, ex);
  } else if (verb == Verb::kRequest && std::strcmp(key, "body") == 0) {
    readBody(L, v, fn, ex);
  } else {
    luaL_error(L, "%s: unknown option '%s'", fn, key);
  }
}

void readOptions(lua_State* L, int idx, Verb verb, const char* fn, Exchange& ex) {
  const int top = lua_gettop(L);
  lua_pushnil(L);
  while (lua_next(L, idx) != 0) {
    if (lua_type(L, -2) != LUA_TSTRING) luaL_error(L, "%s: option names must be strings", fn);
    readOption(L, verb, fn, lua_tostring(L, -2), ex);
    lua_settop(L, top + 1);  // keep only the key, for lua_next
  }
}

int maxArguments(Verb verb) {
  switch (verb) {
    case Verb::kGet:
      return 2;  // url, opts
    case Verb::kPost:
      return 3;  // url, body, opts
    case Verb::kRequest:
      break;
  }
  return 1;  // {...}
}

// Reads the arguments (stack slots 1..maxArguments(verb), absent ones nil) into `ex`; raises on a
// bad argument.
void readArguments(lua_State* L, Verb verb, const char* fn, Exchange& ex) {
  int optsIdx = 1;
  switch (verb) {
    case Verb::kGet:
      readUrl(L, 1, fn, ex);
      optsIdx = 2;
      break;
    case Verb::kPost:
      readUrl(L, 1, fn, ex);
      readBody(L, 2, fn, ex);
      ex.request.method = "POST";
      optsIdx = 3;
      break;
    case Verb::kRequest:
      if (lua_type(L, 1) != LUA_TTABLE) {
        luaL_error(L, "%s: expects one table {method = ..., url = ..., ...}", fn);
      }
      break;
  }
  const int t = lua_type(L, optsIdx);
  if (t != LUA_TNIL) {
    if (t != LUA_TTABLE) luaL_error(L, "%s: options must be a table", fn);
    readOptions(L, optsIdx, verb, fn, ex);
  }
  if (verb == Verb::kRequest && ex.request.url.empty()) {
    luaL_error(L, "%s: url must be a string", fn);
  }
}

// Header names lower-cased; repeated headers joined with ", " (RFC 9110 field combination).
void normalizeHeaders(std::vector<std::pair<std::string, std::string>>& headers) {
  std::vector<std::pair<std::string, std::string>> out;
  out.reserve(headers.size());
  for (auto& [name, value] : headers) {
    std::transform(name.begin(), name.end(), name.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    auto it = std::find_if(out.begin(), out.end(), [&](const auto& h) { return h.first == name; });
    if (it == out.end()) {
      out.emplace_back(std::move(name), std::move(value));
    } else {
      it->second += ", ";
      it->second += value;
    }
  }
  headers = std::move(out);
}

// The blocking part: no Lua API in here, nothing escapes (exceptions become ex.error).
void perform(Sandbox& sandbox, const char* fn, Exchange& ex) noexcept {
  try {
    // The time left before the poll's deadline, as HttpClient::timeoutUntil computes it (the
    // sandbox's deadline is on the steady clock, the client's helper on the system clock).
    const auto left = sandbox.hardDeadline() - std::chrono::steady_clock::now();
    const TimePoint now = std::chrono::system_clock::now();
    const TimePoint deadline = now + std::chrono::duration_cast<Duration>(left);
    ex.request.timeout = http::HttpClient::timeoutUntil(deadline, now, ex.requestedTimeout);
    const bool capped = ex.request.timeout < ex.requestedTimeout;
    Result<http::Response> result = [&] {
      Sandbox::IoScope io(sandbox);
      return http::HttpClient::shared().send(ex.request);
    }();
    if (result.isOk()) {
      ex.response = std::move(result.value());
      normalizeHeaders(ex.response.headers);
      ex.ok = true;
    } else {
      ex.error = std::string(fn) + ": " + result.status().message();
      if (capped && ex.request.timeout > Millis(0) &&
          result.status().code() == StatusCode::kTimeout) {
        ex.error += " (capped by the poll's deadline)";
      }
    }
  } catch (const std::bad_alloc&) {
    ex.error = std::string(fn) + ": out of memory";
  } catch (const std::exception& e) {
    ex.error = std::string(fn) + ": " + e.what();
  }
  // The request (with its credentials) is not needed any more.
  ex.request = http::Request();
}

void pushResponse(lua_State* L, const Exchange& ex) {
  const http::Response& r = ex.response;
  lua_createtable(L, 0, 3);
  lua_pushnumber(L, static_cast<lua_Number>(r.status));
  lua_setfield(L, -2, "status");
  lua_pushlstring(L, r.body.data(), r.body.size());
  lua_setfield(L, -2, "body");
  lua_createtable(L, 0, static_cast<int>(r.headers.size()));
  for (size_t i = 0; i < r.headers.size(); ++i) {
    lua_pushlstring(L, r.headers[i].first.data(), r.headers[i].first.size());
    lua_pushlstring(L, r.headers[i].second.data(), r.headers[i].second.size());
    lua_rawset(L, -3);
  }
  lua_setfield(L, -2, "headers");
}

// The body of http.get/post/request. Only trivially destructible locals in this frame.
int httpCall(lua_State* L, Verb verb) {
  const char* fn = functionName(verb);
  if (Sandbox::of(L).loading()) {
    luaL_error(L,
               "%s: http is not available while the script's top level runs; call it from "
               "getMetric",
               fn);
  }
  if (!Sandbox::of(L).options().allowIo) {
    luaL_error(L,
               "%s: http is available to scalers' getMetric only (not to policies, formulas "
               "or check())",
               fn);
  }
  const int nargs = lua_gettop(L);
  const int maxArgs = maxArguments(verb);
  if (nargs > maxArgs) luaL_error(L, "%s: too many arguments (%d, at most %d)", fn, nargs, maxArgs);
  lua_settop(L, maxArgs);  // absent arguments are nil; the box goes above them
  Exchange* ex = newExchange(L);
  const int box = lua_gettop(L);
  readArguments(L, verb, fn, *ex);
  perform(Sandbox::of(L), fn, *ex);
  lua_settop(L, box);
  if (!ex->ok) {
    luaL_where(L, 1);
    lua_pushlstring(L, ex->error.data(), ex->error.size());
    releaseExchange(L, box);
    lua_concat(L, 2);
    return lua_error(L);
  }
  pushResponse(L, *ex);
  releaseExchange(L, box);
  return 1;
}

int httpGet(lua_State* L) { return httpCall(L, Verb::kGet); }
int httpPost(lua_State* L) { return httpCall(L, Verb::kPost); }
int httpRequest(lua_State* L) { return httpCall(L, Verb::kRequest); }

}  // namespace

// Registers the `http` table into the table on top of the stack (called by openHostApi).
void openHttpApi(lua_State* L) {
  luaL_newmetatable(L, kExchangeMeta);
  lua_pushcfunction(L, boxGc);
  lua_setfield(L, -2, "__gc");
  lua_pushboolean(L, 0);
  lua_setfield(L, -2, "__metatable");
  lua_pop(L, 1);

  static const luaL_Reg kHttp[] = {
      {"get", httpGet}, {"post", httpPost}, {"request", httpRequest}, {nullptr, nullptr}};
  lua_newtable(L);
  for (const luaL_Reg* f = kHttp; f->name; ++f) {
    lua_pushcfunction(L, f->func);
    lua_setfield(L, -2, f->name);
  }
  lua_setfield(L, -2, "http");
}

}  // namespace updraft::lua
