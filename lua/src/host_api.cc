// The host API scripts see as plain globals:
//   json.encode(v) / json.decode(s)   nlohmann::json; null decodes to nil; an empty table encodes
//                                     as {}; a table with keys 1..n only encodes as an array.
//   time.now()                        wall-clock seconds since the epoch (float)
//   time.parts(t [, tz])              {year, month, day, hour, min, sec, wday (1 = Sunday), yday,
//                                     isdst} of epoch seconds t in IANA zone tz (default "UTC")
//   log.info(msg) / log.warn(msg)     spdlog, prefixed "lua: "
//   base64.encode(s) / base64.decode(s), hex.encode(s) / hex.decode(s)
//   sha256(s [, raw]) / hmac_sha256(key, msg [, raw])   lowercase hex, or raw bytes when raw
//   http.get / http.post / http.request   blocking HTTP(S) requests (http_api.cc)
// Errors raise Lua errors (scripts may pcall them).
#include <date/date.h>
#include <date/tz.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <lua.hpp>
#include <nlohmann/json.hpp>
#include <string>

#include "json_bridge.h"
#include "updraft/lua/sandbox.h"

namespace updraft::lua {
namespace {

constexpr int kMaxJsonDepth = 64;

std::string checkString(lua_State* L, int idx) {
  size_t n = 0;
  const char* p = luaL_checklstring(L, idx, &n);
  return std::string(p, n);
}

void pushBytes(lua_State* L, const std::string& s) { lua_pushlstring(L, s.data(), s.size()); }

std::string toHex(const unsigned char* p, size_t n) {
  static const char* const kDigits = "0123456789abcdef";
  std::string out;
  out.reserve(n * 2);
  for (size_t i = 0; i < n; ++i) {
    out += kDigits[p[i] >> 4];
    out += kDigits[p[i] & 15];
  }
  return out;
}

// Lua value at idx -> JSON. Returns an error text instead of raising (no C++ objects are alive
// when the caller raises).
bool toJson(lua_State* L, int idx, int depth, nlohmann::json& out, std::string& err) {
  if (depth > kMaxJsonDepth) {
    err = "nesting too deep (or a cycle)";
    return false;
  }
  switch (lua_type(L, idx)) {
    case LUA_TNIL:
      out = nullptr;
      return true;
    case LUA_TBOOLEAN:
      out = lua_toboolean(L, idx) != 0;
      return true;
    case LUA_TNUMBER: {
      double d = lua_tonumber(L, idx);
      if (!std::isfinite(d)) {
        err = "cannot encode a NaN or infinite number";
        return false;
      }
      if (d == std::floor(d) && std::fabs(d) < 9.007199254740992e15) {
        out = static_cast<int64_t>(d);
      } else {
        out = d;
      }
      return true;
    }
    case LUA_TSTRING: {
      size_t n = 0;
      const char* p = lua_tolstring(L, idx, &n);
      out = std::string(p, n);
      return true;
    }
    case LUA_TTABLE: {
      if (idx < 0) idx = lua_gettop(L) + idx + 1;
      size_t len = lua_objlen(L, idx);
      size_t count = 0;
      bool allStrings = true;
      lua_pushnil(L);
      while (lua_next(L, idx) != 0) {
        ++count;
        if (lua_type(L, -2) != LUA_TSTRING) allStrings = false;
        lua_pop(L, 1);
      }
      if (count == 0) {
        out = nlohmann::json::object();
        return true;
      }
      if (len == count) {
        out = nlohmann::json::array();
        for (size_t i = 1; i <= len; ++i) {
          lua_rawgeti(L, idx, static_cast<int>(i));
          nlohmann::json v;
          bool ok = toJson(L, -1, depth + 1, v, err);
          lua_pop(L, 1);
          if (!ok) return false;
          out.push_back(std::move(v));
        }
        return true;
      }
      if (!allStrings) {
        err = "cannot encode a table mixing non-string keys (not an array 1..n)";
        return false;
      }
      out = nlohmann::json::object();
      lua_pushnil(L);
      while (lua_next(L, idx) != 0) {
        nlohmann::json v;
        if (!toJson(L, -1, depth + 1, v, err)) {
          lua_pop(L, 2);
          return false;
        }
        out[lua_tostring(L, -2)] = std::move(v);
        lua_pop(L, 1);
      }
      return true;
    }
    default:
      err = std::string("cannot encode a ") + luaL_typename(L, idx);
      return false;
  }
}

void pushJson(lua_State* L, const nlohmann::json& j, int depth) {
  if (depth > kMaxJsonDepth) luaL_error(L, "json.decode: nesting too deep");
  luaL_checkstack(L, 4, "json.decode");
  switch (j.type()) {
    case nlohmann::json::value_t::null:
    case nlohmann::json::value_t::discarded:
      lua_pushnil(L);
      break;
    case nlohmann::json::value_t::boolean:
      lua_pushboolean(L, j.get<bool>());
      break;
    case nlohmann::json::value_t::number_integer:
    case nlohmann::json::value_t::number_unsigned:
    case nlohmann::json::value_t::number_float:
      lua_pushnumber(L, j.get<double>());
      break;
    case nlohmann::json::value_t::string: {
      const auto& s = j.get_ref<const std::string&>();
      lua_pushlstring(L, s.data(), s.size());
      break;
    }
    case nlohmann::json::value_t::array: {
      lua_createtable(L, static_cast<int>(j.size()), 0);
      int i = 1;
      for (const auto& v : j) {
        pushJson(L, v, depth + 1);
        lua_rawseti(L, -2, i++);
      }
      break;
    }
    case nlohmann::json::value_t::object: {
      lua_createtable(L, 0, static_cast<int>(j.size()));
      for (const auto& [k, v] : j.items()) {
        lua_pushlstring(L, k.data(), k.size());
        pushJson(L, v, depth + 1);
        lua_rawset(L, -3);
      }
      break;
    }
    case nlohmann::json::value_t::binary:
      lua_pushnil(L);
      break;
  }
}

int jsonEncode(lua_State* L) {
  luaL_checkany(L, 1);
  std::string err;
  std::string text;
  {
    nlohmann::json j;
    if (toJson(L, 1, 0, j, err)) {
      text = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    }
  }
  if (!err.empty()) return luaL_error(L, "json.encode: %s", err.c_str());
  pushBytes(L, text);
  return 1;
}

// Container nesting and a count of values of a JSON text, without parsing it. json.decode checks
// them first: nlohmann::json builds its document outside the state's memory cap (and its parser is
// iterative, so 10^7 '[' would take ~0.5 GB before failing), so a document too deep, or with more
// values than the state could hold once decoded, is refused before it is built.
struct JsonShape {
  int maxDepth = 0;
  size_t values = 1;
};

JsonShape scanJson(const char* p, size_t n) {
  JsonShape shape;
  int depth = 0;
  bool inString = false;
  for (size_t i = 0; i < n; ++i) {
    const char c = p[i];
    if (inString) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        inString = false;
      }
      continue;
    }
    switch (c) {
      case '"':
        inString = true;
        break;
      case '[':
      case '{':
        shape.maxDepth = std::max(shape.maxDepth, ++depth);
        break;
      case ']':
      case '}':
        --depth;
        break;
      case ',':
        ++shape.values;
        break;
      default:
        break;
    }
  }
  return shape;
}

int jsonDecode(lua_State* L) {
  size_t n = 0;
  const char* p = luaL_checklstring(L, 1, &n);
  const JsonShape shape = scanJson(p, n);
  if (shape.maxDepth > kMaxJsonDepth + 1) return luaL_error(L, "json.decode: nesting too deep");
  const Sandbox& sb = Sandbox::of(L);
  const size_t limit = sb.options().memoryLimitBytes;
  const size_t left = limit > sb.memoryUsed() ? limit - sb.memoryUsed() : 0;
  if (shape.values > left / 16) {
    return luaL_error(L, "json.decode: not enough memory for a document of %d values",
                      static_cast<int>(std::min<size_t>(shape.values, 2000000000)));
  }
  auto j = std::make_unique<nlohmann::json>(nlohmann::json::parse(p, p + n, nullptr, false));
  if (j->is_discarded()) {
    j.reset();
    return luaL_error(L, "json.decode: invalid JSON");
  }
  pushJson(L, *j, 0);
  return 1;
}

int timeNow(lua_State* L) {
  auto now = std::chrono::system_clock::now().time_since_epoch();
  lua_pushnumber(L, std::chrono::duration<double>(now).count());
  return 1;
}

// time.parts(t [, tz]): calendar fields of epoch seconds `t` (floored to a second) in the IANA zone
// `tz` (default UTC), with os.date("*t") names. Plain data only is alive when raising.
int timeParts(lua_State* L) {
  const double t = luaL_checknumber(L, 1);
  size_t tzLen = 0;
  const char* tz = luaL_optlstring(L, 2, "UTC", &tzLen);
  struct Parts {
    int year;
    unsigned month, day, hour, min, sec, wday, yday;
    bool isdst;
  } p{};
  char error[200] = {0};
  {
    // Years 1 to 9999.
    constexpr double kMin = -62135596800.0, kMax = 253402300799.0;
    if (!(t >= kMin && t <= kMax)) {
      std::snprintf(error, sizeof error, "time.parts: time %g is out of range", t);
    } else {
      const date::time_zone* zone = nullptr;
      try {
        zone = date::locate_zone(std::string(tz, tzLen));
      } catch (const std::exception&) {
        std::snprintf(error, sizeof error, "time.parts: unknown time zone \"%.*s\"",
                      static_cast<int>(std::min<size_t>(tzLen, 100)), tz);
      }
      if (zone) {
        const date::sys_seconds utc{std::chrono::seconds{static_cast<int64_t>(std::floor(t))}};
        const auto info = zone->get_info(utc);
        const auto local = date::local_seconds{utc.time_since_epoch() + info.offset};
        const auto days = date::floor<date::days>(local);
        const date::year_month_day ymd{days};
        const date::hh_mm_ss<std::chrono::seconds> tod{local - days};
        const auto jan1 = date::local_days{ymd.year() / date::January / 1};
        p.year = int(ymd.year());
        p.month = unsigned(ymd.month());
        p.day = unsigned(ymd.day());
        p.hour = static_cast<unsigned>(tod.hours().count());
        p.min = static_cast<unsigned>(tod.minutes().count());
        p.sec = static_cast<unsigned>(tod.seconds().count());
        p.wday = date::weekday{days}.c_encoding() + 1;
        p.yday = static_cast<unsigned>((days - jan1).count()) + 1;
        p.isdst = info.save != std::chrono::minutes{0};
      }
    }
  }
  if (error[0]) return luaL_error(L, "%s", error);
  lua_createtable(L, 0, 9);
  const std::pair<const char*, double> fields[] = {
      {"year", p.year}, {"month", p.month}, {"day", p.day},   {"hour", p.hour},
      {"min", p.min},   {"sec", p.sec},     {"wday", p.wday}, {"yday", p.yday}};
  for (const auto& [name, v] : fields) {
    lua_pushnumber(L, v);
    lua_setfield(L, -2, name);
  }
  lua_pushboolean(L, p.isdst);
  lua_setfield(L, -2, "isdst");
  return 1;
}

// Log lines carry the sandbox's tag (the object and trigger using the script) so a script shared
// by many objects still says whose poll wrote the line.
int logAt(lua_State* L, spdlog::level::level_enum level) {
  {
    const std::string msg = checkString(L, 1);
    const std::string& tag = Sandbox::of(L).options().logTag;
    if (tag.empty()) {
      spdlog::log(level, "lua: {}", msg);
    } else {
      spdlog::log(level, "lua {}: {}", tag, msg);
    }
  }
  return 0;
}

int logInfo(lua_State* L) { return logAt(L, spdlog::level::info); }
int logWarn(lua_State* L) { return logAt(L, spdlog::level::warn); }

int base64Encode(lua_State* L) {
  const std::string in = checkString(L, 1);
  std::string out(4 * ((in.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(in.data()),
                          static_cast<int>(in.size()));
  out.resize(static_cast<size_t>(n));
  pushBytes(L, out);
  return 1;
}

int base64Decode(lua_State* L) {
  std::string in = checkString(L, 1);
  bool ok = in.size() % 4 == 0;
  std::string out;
  if (ok && !in.empty()) {
    out.assign(3 * in.size() / 4 + 1, '\0');
    int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                            reinterpret_cast<const unsigned char*>(in.data()),
                            static_cast<int>(in.size()));
    if (n < 0) {
      ok = false;
    } else {
      size_t pad = 0;
      if (in.size() >= 1 && in[in.size() - 1] == '=') ++pad;
      if (in.size() >= 2 && in[in.size() - 2] == '=') ++pad;
      out.resize(static_cast<size_t>(n) - pad);
    }
  }
  if (!ok) {
    out.clear();
    in.clear();
    return luaL_error(L, "base64.decode: invalid base64");
  }
  pushBytes(L, out);
  return 1;
}

int hexEncode(lua_State* L) {
  size_t n = 0;
  const char* p = luaL_checklstring(L, 1, &n);
  pushBytes(L, toHex(reinterpret_cast<const unsigned char*>(p), n));
  return 1;
}

int hexDecode(lua_State* L) {
  size_t n = 0;
  const char* p = luaL_checklstring(L, 1, &n);
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  if (n % 2 != 0) return luaL_error(L, "hex.decode: odd length");
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  for (size_t i = 0; i < n; i += 2) {
    int hi = nibble(p[i]);
    int lo = nibble(p[i + 1]);
    if (hi < 0 || lo < 0) return luaL_error(L, "hex.decode: invalid hex digit");
    luaL_addchar(&b, static_cast<char>(hi * 16 + lo));
  }
  luaL_pushresult(&b);
  return 1;
}

void pushDigest(lua_State* L, const unsigned char* md, size_t n, bool raw) {
  if (raw) {
    lua_pushlstring(L, reinterpret_cast<const char*>(md), n);
  } else {
    pushBytes(L, toHex(md, n));
  }
}

int sha256(lua_State* L) {
  size_t n = 0;
  const char* p = luaL_checklstring(L, 1, &n);
  unsigned char md[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(p), n, md);
  pushDigest(L, md, sizeof md, lua_toboolean(L, 2) != 0);
  return 1;
}

int hmacSha256(lua_State* L) {
  size_t kn = 0;
  size_t mn = 0;
  const char* key = luaL_checklstring(L, 1, &kn);
  const char* msg = luaL_checklstring(L, 2, &mn);
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (!HMAC(EVP_sha256(), key, static_cast<int>(kn), reinterpret_cast<const unsigned char*>(msg),
            mn, md, &len)) {
    return luaL_error(L, "hmac_sha256: failed");
  }
  pushDigest(L, md, len, lua_toboolean(L, 3) != 0);
  return 1;
}

void setFunctions(lua_State* L, const char* table, const luaL_Reg* fns) {
  lua_newtable(L);
  for (const luaL_Reg* f = fns; f->name; ++f) {
    lua_pushcfunction(L, f->func);
    lua_setfield(L, -2, f->name);
  }
  lua_setfield(L, -2, table);
}

}  // namespace

bool luaToJson(lua_State* L, int idx, nlohmann::json& out, std::string& err) {
  return toJson(L, idx, 0, out, err);
}

void pushJsonValue(lua_State* L, const nlohmann::json& j) { pushJson(L, j, 0); }

// The `http` table (http_api.cc).
void openHttpApi(lua_State* L);

void openHostApi(lua_State* L) {
  static const luaL_Reg kJson[] = {
      {"encode", jsonEncode}, {"decode", jsonDecode}, {nullptr, nullptr}};
  static const luaL_Reg kTime[] = {{"now", timeNow}, {"parts", timeParts}, {nullptr, nullptr}};
  static const luaL_Reg kLog[] = {{"info", logInfo}, {"warn", logWarn}, {nullptr, nullptr}};
  static const luaL_Reg kBase64[] = {
      {"encode", base64Encode}, {"decode", base64Decode}, {nullptr, nullptr}};
  static const luaL_Reg kHex[] = {{"encode", hexEncode}, {"decode", hexDecode}, {nullptr, nullptr}};
  setFunctions(L, "json", kJson);
  setFunctions(L, "time", kTime);
  setFunctions(L, "log", kLog);
  setFunctions(L, "base64", kBase64);
  setFunctions(L, "hex", kHex);
  lua_pushcfunction(L, sha256);
  lua_setfield(L, -2, "sha256");
  lua_pushcfunction(L, hmacSha256);
  lua_setfield(L, -2, "hmac_sha256");
  openHttpApi(L);
}

}  // namespace updraft::lua
