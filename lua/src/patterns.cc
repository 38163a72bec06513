// string.find, string.match, string.gmatch and string.gsub for the sandbox: Lua 5.1's pattern
// matching (after lstrlib.c, MIT licence, with LuaJIT 2.1's behaviour where the two differ), so
// that a match can be stopped at the script's deadline.
//
// Why not LuaJIT's own: its matcher is one C call that the count hook cannot interrupt, and a
// backtracking pattern is exponential, e.g. ("a"):rep(40):find(("a-"):rep(9) .. "b") takes hours.
// Here every step of the matcher is counted and the clock is read every kStepsPerCheck steps
// (internal::checkDeadline raises the deadline error). A plain find uses memmem (two-way search:
// linear, where LuaJIT's memchr+memcmp loop is quadratic on "aaa...ab"). gsub checks the C stack on
// entry (a replacement function calling gsub again recurses on the C stack).
//
// Differences from LuaJIT, all unreachable from a sandboxed script: none known; the test
// "pattern functions match LuaJIT's" runs the same calls through both and compares.
#include <cstddef>
#include <cstring>
#include <lua.hpp>

#include "sandbox_internal.h"

namespace updraft::lua::internal {
namespace {

constexpr int kMaxCaptures = 32;  // LUA_MAXCAPTURES
constexpr int kMaxDepth = 200;    // LuaJIT's LJ_MAX_XLEVEL: "pattern too complex"
constexpr size_t kStepsPerCheck = 1 << 14;
constexpr char kEsc = '%';
constexpr const char kSpecials[] = "^$*+?.([%-";
constexpr ptrdiff_t kCapUnfinished = -1;
constexpr ptrdiff_t kCapPosition = -2;

// ASCII classes, independent of the C locale (as LuaJIT's lj_char.h).
bool isAlpha(int c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool isDigit(int c) { return c >= '0' && c <= '9'; }
bool isLower(int c) { return c >= 'a' && c <= 'z'; }
bool isUpper(int c) { return c >= 'A' && c <= 'Z'; }
bool isCntrl(int c) { return c < 32 || c == 127; }
bool isSpace(int c) { return c == ' ' || (c >= '\t' && c <= '\r'); }
bool isAlnum(int c) { return isAlpha(c) || isDigit(c); }
bool isPunct(int c) { return c > 32 && c < 127 && !isAlnum(c); }
bool isXDigit(int c) { return isDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
int toLower(int c) { return isUpper(c) ? c + ('a' - 'A') : c; }
int uchar(char c) { return static_cast<unsigned char>(c); }

struct MatchState {
  const char* srcInit;
  const char* srcEnd;
  lua_State* L;
  int level;  // captures in use
  int depth;  // recursion depth of match()
  size_t steps;
  size_t nextCheck;
  struct {
    const char* init;
    ptrdiff_t len;
  } capture[kMaxCaptures];
};

void initState(MatchState& ms, lua_State* L, const char* s, size_t len) {
  ms.L = L;
  ms.srcInit = s;
  ms.srcEnd = s + len;
  ms.level = 0;
  ms.depth = 0;
  ms.steps = 0;
  ms.nextCheck = kStepsPerCheck;
}

// Counts `n` steps of work; reads the clock now and then.
inline void tick(MatchState* ms, size_t n = 1) {
  ms->steps += n;
  if (ms->steps >= ms->nextCheck) {
    ms->nextCheck = ms->steps + kStepsPerCheck;
    checkDeadline(ms->L);
  }
}

int checkCapture(MatchState* ms, int l) {
  l -= '1';
  if (l < 0 || l >= ms->level || ms->capture[l].len == kCapUnfinished) {
    return luaL_error(ms->L, "invalid capture index");
  }
  return l;
}

int captureToClose(MatchState* ms) {
  int level = ms->level;
  for (level--; level >= 0; level--) {
    if (ms->capture[level].len == kCapUnfinished) return level;
  }
  return luaL_error(ms->L, "invalid pattern capture");
}

const char* classEnd(MatchState* ms, const char* p) {
  switch (*p++) {
    case kEsc:
      if (*p == '\0') luaL_error(ms->L, "malformed pattern (ends with '%%')");
      return p + 1;
    case '[':
      if (*p == '^') p++;
      do {  // look for a ']'
        if (*p == '\0') luaL_error(ms->L, "malformed pattern (missing ']')");
        if (*(p++) == kEsc && *p != '\0') p++;  // skip escapes (e.g. '%]')
      } while (*p != ']');
      return p + 1;
    default:
      return p;
  }
}

bool matchClass(int c, int cl) {
  bool res;
  switch (toLower(cl)) {
    case 'a':
      res = isAlpha(c);
      break;
    case 'c':
      res = isCntrl(c);
      break;
    case 'd':
      res = isDigit(c);
      break;
    case 'l':
      res = isLower(c);
      break;
    case 'p':
      res = isPunct(c);
      break;
    case 's':
      res = isSpace(c);
      break;
    case 'u':
      res = isUpper(c);
      break;
    case 'w':
      res = isAlnum(c);
      break;
    case 'x':
      res = isXDigit(c);
      break;
    case 'z':
      res = (c == 0);
      break;
    default:
      return cl == c;
  }
  return isLower(cl) ? res : !res;
}

bool matchBracketClass(int c, const char* p, const char* ec) {
  bool sig = true;
  if (*(p + 1) == '^') {
    sig = false;
    p++;  // skip the '^'
  }
  while (++p < ec) {
    if (*p == kEsc) {
      p++;
      if (matchClass(c, uchar(*p))) return sig;
    } else if (*(p + 1) == '-' && p + 2 < ec) {
      p += 2;
      if (uchar(*(p - 2)) <= c && c <= uchar(*p)) return sig;
    } else if (uchar(*p) == c) {
      return sig;
    }
  }
  return !sig;
}

bool singleMatch(int c, const char* p, const char* ep) {
  switch (*p) {
    case '.':
      return true;
    case kEsc:
      return matchClass(c, uchar(*(p + 1)));
    case '[':
      return matchBracketClass(c, p, ep - 1);
    default:
      return uchar(*p) == c;
  }
}

const char* match(MatchState* ms, const char* s, const char* p);

const char* matchBalance(MatchState* ms, const char* s, const char* p) {
  if (*p == '\0' || *(p + 1) == '\0') luaL_error(ms->L, "unbalanced pattern");
  if (*s != *p) return nullptr;
  const int b = *p;
  const int e = *(p + 1);
  int cont = 1;
  const char* start = s;
  while (++s < ms->srcEnd) {
    if (*s == e) {
      if (--cont == 0) {
        tick(ms, static_cast<size_t>(s - start));
        return s + 1;
      }
    } else if (*s == b) {
      cont++;
    }
  }
  tick(ms, static_cast<size_t>(s - start));
  return nullptr;  // string ends out of balance
}

const char* maxExpand(MatchState* ms, const char* s, const char* p, const char* ep) {
  ptrdiff_t i = 0;  // counts maximum expand for item
  while (s + i < ms->srcEnd && singleMatch(uchar(*(s + i)), p, ep)) i++;
  tick(ms, static_cast<size_t>(i));
  // Keeps trying to match with the maximum repetitions.
  while (i >= 0) {
    const char* res = match(ms, s + i, ep + 1);
    if (res) return res;
    i--;  // else didn't match; reduce 1 repetition to try again
  }
  return nullptr;
}

const char* minExpand(MatchState* ms, const char* s, const char* p, const char* ep) {
  for (;;) {
    const char* res = match(ms, s, ep + 1);
    if (res != nullptr) return res;
    if (s < ms->srcEnd && singleMatch(uchar(*s), p, ep)) {
      s++;  // try with one more repetition
    } else {
      return nullptr;
    }
  }
}

const char* startCapture(MatchState* ms, const char* s, const char* p, ptrdiff_t what) {
  const int level = ms->level;
  if (level >= kMaxCaptures) luaL_error(ms->L, "too many captures");
  ms->capture[level].init = s;
  ms->capture[level].len = what;
  ms->level = level + 1;
  const char* res = match(ms, s, p);
  if (res == nullptr) ms->level--;  // undo capture
  return res;
}

const char* endCapture(MatchState* ms, const char* s, const char* p) {
  const int l = captureToClose(ms);
  ms->capture[l].len = s - ms->capture[l].init;  // close capture
  const char* res = match(ms, s, p);
  if (res == nullptr) ms->capture[l].len = kCapUnfinished;  // undo capture
  return res;
}

const char* matchCapture(MatchState* ms, const char* s, int l) {
  l = checkCapture(ms, l);
  const size_t len = static_cast<size_t>(ms->capture[l].len);
  tick(ms, len);
  if (static_cast<size_t>(ms->srcEnd - s) >= len && std::memcmp(ms->capture[l].init, s, len) == 0) {
    return s + len;
  }
  return nullptr;
}

const char* doMatch(MatchState* ms, const char* s, const char* p) {
init:  // gotos for tail calls
  tick(ms);
  switch (*p) {
    case '(':  // start capture
      if (*(p + 1) == ')') return startCapture(ms, s, p + 2, kCapPosition);
      return startCapture(ms, s, p + 1, kCapUnfinished);
    case ')':  // end capture
      return endCapture(ms, s, p + 1);
    case kEsc:
      switch (*(p + 1)) {
        case 'b':  // balanced string
          s = matchBalance(ms, s, p + 2);
          if (s == nullptr) return nullptr;
          p += 4;
          goto init;
        case 'f': {  // frontier
          p += 2;
          if (*p != '[') luaL_error(ms->L, "missing '[' after '%%f' in pattern");
          const char* ep = classEnd(ms, p);  // points to what is next
          const char previous = (s == ms->srcInit) ? '\0' : *(s - 1);
          // At the end of the subject *s is the terminating NUL of the Lua string.
          if (matchBracketClass(uchar(previous), p, ep - 1) ||
              !matchBracketClass(uchar(*s), p, ep - 1)) {
            return nullptr;
          }
          p = ep;
          goto init;
        }
        default:
          if (isDigit(uchar(*(p + 1)))) {  // capture results (%0-%9)
            s = matchCapture(ms, s, uchar(*(p + 1)));
            if (s == nullptr) return nullptr;
            p += 2;
            goto init;
          }
          goto dflt;
      }
    case '\0':  // end of pattern
      return s;
    case '$':
      if (*(p + 1) == '\0') return (s == ms->srcEnd) ? s : nullptr;  // end of the subject
      goto dflt;
    default:
    dflt : {                             // a single-character pattern item, maybe with a quantifier
      const char* ep = classEnd(ms, p);  // points to what is next
      const bool m = s < ms->srcEnd && singleMatch(uchar(*s), p, ep);
      switch (*ep) {
        case '?': {
          const char* res;
          if (m && ((res = match(ms, s + 1, ep + 1)) != nullptr)) return res;
          p = ep + 1;
          goto init;
        }
        case '*':
          return maxExpand(ms, s, p, ep);
        case '+':
          return m ? maxExpand(ms, s + 1, p, ep) : nullptr;
        case '-':
          return minExpand(ms, s, p, ep);
        default:
          if (!m) return nullptr;
          s++;
          p = ep;
          goto init;
      }
    }
  }
}

const char* match(MatchState* ms, const char* s, const char* p) {
  if (++ms->depth > kMaxDepth) luaL_error(ms->L, "pattern too complex");
  const char* res = doMatch(ms, s, p);
  ms->depth--;
  return res;
}

void pushOneCapture(MatchState* ms, int i, const char* s, const char* e) {
  if (i >= ms->level) {
    if (i == 0) {
      lua_pushlstring(ms->L, s, static_cast<size_t>(e - s));  // the whole match
    } else {
      luaL_error(ms->L, "invalid capture index");
    }
    return;
  }
  const ptrdiff_t l = ms->capture[i].len;
  if (l == kCapUnfinished) luaL_error(ms->L, "unfinished capture");
  if (l == kCapPosition) {
    lua_pushinteger(ms->L, ms->capture[i].init - ms->srcInit + 1);
  } else {
    lua_pushlstring(ms->L, ms->capture[i].init, static_cast<size_t>(l));
  }
}

int pushCaptures(MatchState* ms, const char* s, const char* e) {
  const int n = (ms->level == 0 && s) ? 1 : ms->level;
  luaL_checkstack(ms->L, n, "too many captures");
  for (int i = 0; i < n; i++) pushOneCapture(ms, i, s, e);
  return n;
}

bool hasSpecials(const char* p, size_t len) {
  for (const char* c = kSpecials; *c; ++c) {
    if (std::memchr(p, *c, len) != nullptr) return true;
  }
  return false;
}

int findAux(lua_State* L, bool find) {
  size_t ls = 0;
  size_t lp = 0;
  const char* s = luaL_checklstring(L, 1, &ls);
  const char* p = luaL_checklstring(L, 2, &lp);
  ptrdiff_t init = luaL_optinteger(L, 3, 1);
  if (init < 0) {
    init += static_cast<ptrdiff_t>(ls);
  } else {
    init--;
  }
  if (init < 0) init = 0;
  if (static_cast<size_t>(init) > ls) init = static_cast<ptrdiff_t>(ls);
  if (find && (lua_toboolean(L, 4) || !hasSpecials(p, lp))) {
    // Plain search. memmem is glibc's two-way search: linear in the worst case.
    const void* q = lp == 0 ? s + init : memmem(s + init, ls - static_cast<size_t>(init), p, lp);
    if (q) {
      const ptrdiff_t at = static_cast<const char*>(q) - s;
      lua_pushinteger(L, at + 1);
      lua_pushinteger(L, at + static_cast<ptrdiff_t>(lp));
      return 2;
    }
  } else {
    MatchState ms;
    initState(ms, L, s, ls);
    const bool anchor = (*p == '^');
    if (anchor) p++;
    const char* s1 = s + init;
    do {
      ms.level = 0;
      ms.depth = 0;
      const char* res = match(&ms, s1, p);
      if (res != nullptr) {
        if (find) {
          lua_pushinteger(L, s1 - s + 1);  // start
          lua_pushinteger(L, res - s);     // end
          return pushCaptures(&ms, nullptr, nullptr) + 2;
        }
        return pushCaptures(&ms, s1, res);
      }
    } while (s1++ < ms.srcEnd && !anchor);
  }
  lua_pushnil(L);  // not found
  return 1;
}

int strFind(lua_State* L) { return findAux(L, true); }

int strMatch(lua_State* L) { return findAux(L, false); }

// Upvalues: the subject, the pattern, the position to continue from.
int gmatchAux(lua_State* L) {
  size_t ls = 0;
  const char* s = lua_tolstring(L, lua_upvalueindex(1), &ls);
  const char* p = lua_tostring(L, lua_upvalueindex(2));
  MatchState ms;
  initState(ms, L, s, ls);
  for (const char* src = s + static_cast<size_t>(lua_tointeger(L, lua_upvalueindex(3)));
       src <= ms.srcEnd; src++) {
    ms.level = 0;
    ms.depth = 0;
    const char* e = match(&ms, src, p);
    if (e != nullptr) {
      lua_Integer next = e - s;
      if (e == src) next++;  // empty match: go at least one position
      lua_pushinteger(L, next);
      lua_replace(L, lua_upvalueindex(3));
      return pushCaptures(&ms, src, e);
    }
  }
  return 0;  // not found
}

int strGmatch(lua_State* L) {
  luaL_checkstring(L, 1);
  luaL_checkstring(L, 2);
  lua_settop(L, 2);
  lua_pushinteger(L, 0);
  lua_pushcclosure(L, gmatchAux, 3);
  return 1;
}

void addString(MatchState* ms, luaL_Buffer* b, const char* s, const char* e) {
  size_t l = 0;
  const char* news = lua_tolstring(ms->L, 3, &l);
  for (size_t i = 0; i < l; i++) {
    if (news[i] != kEsc) {
      luaL_addchar(b, news[i]);
      continue;
    }
    i++;  // skip the escape
    if (!isDigit(uchar(news[i]))) {
      luaL_addchar(b, news[i]);
    } else if (news[i] == '0') {
      luaL_addlstring(b, s, static_cast<size_t>(e - s));
    } else {
      pushOneCapture(ms, news[i] - '1', s, e);
      luaL_addvalue(b);  // add the capture to the accumulated result
    }
  }
}

void addValue(MatchState* ms, luaL_Buffer* b, const char* s, const char* e) {
  lua_State* L = ms->L;
  switch (lua_type(L, 3)) {
    case LUA_TNUMBER:
    case LUA_TSTRING:
      addString(ms, b, s, e);
      return;
    case LUA_TFUNCTION: {
      lua_pushvalue(L, 3);
      const int n = pushCaptures(ms, s, e);
      lua_call(L, n, 1);
      break;
    }
    case LUA_TTABLE:
      pushOneCapture(ms, 0, s, e);
      lua_gettable(L, 3);
      break;
    default:
      break;
  }
  if (!lua_toboolean(L, -1)) {  // nil or false: keep the original text
    lua_pop(L, 1);
    lua_pushlstring(L, s, static_cast<size_t>(e - s));
  } else if (!lua_isstring(L, -1)) {
    luaL_error(L, "invalid replacement value (a %s)", luaL_typename(L, -1));
  }
  luaL_addvalue(b);  // add the result to the accumulator
}

int strGsub(lua_State* L) {
  checkCStack(L);
  size_t srcl = 0;
  const char* src = luaL_checklstring(L, 1, &srcl);
  const char* p = luaL_checkstring(L, 2);
  const int tr = lua_type(L, 3);
  const lua_Integer maxS = luaL_optinteger(L, 4, static_cast<lua_Integer>(srcl) + 1);
  const bool anchor = (*p == '^');
  if (anchor) p++;
  luaL_argcheck(L,
                tr == LUA_TNUMBER || tr == LUA_TSTRING || tr == LUA_TFUNCTION || tr == LUA_TTABLE,
                3, "string/function/table expected");
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  MatchState ms;
  initState(ms, L, src, srcl);
  lua_Integer n = 0;
  while (n < maxS) {
    ms.level = 0;
    ms.depth = 0;
    const char* e = match(&ms, src, p);
    if (e) {
      n++;
      addValue(&ms, &b, src, e);
    }
    if (e && e > src) {  // non-empty match: skip it
      src = e;
    } else if (src < ms.srcEnd) {
      luaL_addchar(&b, *src++);
    } else {
      break;
    }
    if (anchor) break;
  }
  luaL_addlstring(&b, src, static_cast<size_t>(ms.srcEnd - src));
  luaL_pushresult(&b);
  lua_pushinteger(L, n);  // number of substitutions
  return 2;
}

}  // namespace

void openPatternFunctions(lua_State* L, int index) {
  if (index < 0 && index > LUA_REGISTRYINDEX) index = lua_gettop(L) + index + 1;
  const luaL_Reg fns[] = {{"find", strFind},
                          {"match", strMatch},
                          {"gmatch", strGmatch},
                          {"gsub", strGsub},
                          {nullptr, nullptr}};
  for (const luaL_Reg* f = fns; f->name; ++f) {
    lua_pushcfunction(L, f->func);
    lua_setfield(L, index, f->name);
  }
}

}  // namespace updraft::lua::internal
