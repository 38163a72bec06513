// The `lua` formula language for spec.advanced.scalingModifiers.formula:
//
//   formula: "lua: math.max(queue, 2 * rate)"                      -- an expression
//   formula: |
//     lua:
//     if queue > 100 then return queue end                         -- or statements with return
//     return (triggers["kafka-lag"] or 0) + queue
//
// The body is compiled once, in a sandbox of its own, as the global function
//   function __formula(triggers, <trigger names>, ...) return <body>\nend
// and, when `return <body>` is not valid Lua, as
//   function __formula(triggers, <trigger names>, ...) <body>\nend
// Each trigger whose name is a Lua identifier (not a keyword, not `triggers`) is a parameter
// (a local of the body); `triggers` maps every trigger name to its value (so "my-trigger" is
// triggers["my-trigger"]). A trigger with no value is nil. The result must be a number or nil (no
// value, as expr-lang's nil); anything else is an error naming its type. The body starts on line 1
// of the chunk, so Lua's line numbers are the formula's ("formula:2: ...").
//
// As KEDA does for its own syntax, compile() runs the formula once with every trigger = -1 and
// rejects it when that fails (a misspelt global, a syntax error, a runaway loop).
//
// evaluate() is const and thread-safe: a mutex serialises the sandbox. Each evaluation runs under
// the sandbox deadline (100 ms) and memory cap; the host API (time, json, ...) is available.
#include <cctype>
#include <lua.hpp>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "updraft/formula.h"
#include "updraft/lua/sandbox.h"

namespace updraft {
namespace {

constexpr const char* kFunction = "__formula";
constexpr const char* kTriggersKey = "updraft.formula.triggers";  // registry: the triggers table

bool isLuaIdentifier(const std::string& s) {
  static const char* const kKeywords[] = {"and",   "break", "do",       "else", "elseif", "end",
                                          "false", "for",   "function", "goto", "if",     "in",
                                          "local", "nil",   "not",      "or",   "repeat", "return",
                                          "then",  "true",  "until",    "while"};
  if (s.empty()) return false;
  auto start = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; };
  if (!start(s[0])) return false;
  for (char c : s) {
    if (!start(c) && !(c >= '0' && c <= '9')) return false;
  }
  for (const char* k : kKeywords) {
    if (s == k) return false;
  }
  return true;
}

// True when `body` holds the word `return` outside strings and comments (roughly: enough to tell
// which of the two compile errors to report).
bool mentionsReturn(std::string_view body) {
  size_t at = 0;
  while ((at = body.find("return", at)) != std::string_view::npos) {
    const bool before =
        at == 0 || !(std::isalnum(static_cast<unsigned char>(body[at - 1])) || body[at - 1] == '_');
    const size_t end = at + 6;
    const bool after = end >= body.size() ||
                       !(std::isalnum(static_cast<unsigned char>(body[end])) || body[end] == '_');
    if (before && after) return true;
    at = end;
  }
  return false;
}

void pushValue(lua_State* L, const std::optional<double>& v) {
  if (v) {
    lua_pushnumber(L, *v);
  } else {
    lua_pushnil(L);
  }
}

class LuaFormula final : public CompiledFormula {
 public:
  LuaFormula(std::unique_ptr<lua::Sandbox> sandbox, std::vector<std::string> variables,
             std::vector<size_t> parameters)
      : sandbox_(std::move(sandbox)),
        variables_(std::move(variables)),
        parameters_(std::move(parameters)) {}

  Result<std::optional<double>> evaluate(
      const std::vector<std::optional<double>>& values) const override {
    if (values.size() != variables_.size()) {
      return Status::invalidArgument("lua formula expects " + std::to_string(variables_.size()) +
                                     " values, got " + std::to_string(values.size()));
    }
    std::lock_guard<std::mutex> lock(mutex_);
    std::optional<double> out;
    auto pushArgs = [&](lua_State* L) -> int {
      lua_getfield(L, LUA_REGISTRYINDEX, kTriggersKey);
      if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        lua_createtable(L, 0, static_cast<int>(variables_.size()));
        lua_pushvalue(L, -1);
        lua_setfield(L, LUA_REGISTRYINDEX, kTriggersKey);
      }
      for (size_t i = 0; i < variables_.size(); ++i) {
        lua_pushlstring(L, variables_[i].data(), variables_[i].size());
        pushValue(L, values[i]);
        lua_rawset(L, -3);
      }
      for (size_t index : parameters_) pushValue(L, values[index]);
      return 1 + static_cast<int>(parameters_.size());
    };
    auto readResults = [&](lua_State* L, int n) -> Status {
      if (n == 0 || lua_isnil(L, 1)) return Status::ok();
      if (lua_type(L, 1) != LUA_TNUMBER) {
        return Status::invalidArgument(
            std::string("lua formula must return a number or nil, got ") + luaL_typename(L, 1));
      }
      out = lua_tonumber(L, 1);
      return Status::ok();
    };
    UPDRAFT_RETURN_IF_ERROR(sandbox_->call(kFunction, pushArgs, readResults));
    return out;
  }

 private:
  mutable std::mutex mutex_;
  std::unique_ptr<lua::Sandbox> sandbox_;  // guarded by mutex_
  std::vector<std::string> variables_;
  std::vector<size_t> parameters_;  // indexes of the variables that are parameters, in order
};

class LuaFormulaLanguage final : public FormulaLanguage {
 public:
  Result<std::unique_ptr<CompiledFormula>> compile(
      std::string_view body, const std::vector<std::string>& variables) const override {
    std::vector<size_t> parameters;
    std::string header = std::string("function ") + kFunction + "(triggers";
    for (size_t i = 0; i < variables.size(); ++i) {
      if (!isLuaIdentifier(variables[i]) || variables[i] == "triggers") continue;
      parameters.push_back(i);
      header += ", " + variables[i];
    }
    header += ", ...) ";

    lua::SandboxOptions options;
    options.chunkName = "formula";
    options.logTag = "formula";
    options.allowIo = false;
    auto sandbox = lua::Sandbox::create(options);
    if (!sandbox.isOk()) return sandbox.status();
    lua::Sandbox& sb = **sandbox;

    // An expression (list) first, then statements. The syntax is checked on the body alone, so
    // messages speak of the formula's text only ("formula:3: unexpected symbol near <eof>").
    const std::string text(body);
    std::string chunk;
    auto asExpression = sb.compile("return " + text);
    if (asExpression.isOk()) {
      chunk = header + "return " + text + "\nend";
    } else {
      auto asBlock = sb.compile(text);
      if (asBlock.isOk()) {
        chunk = header + text + "\nend";
      } else {
        const bool block =
            mentionsReturn(body) || asBlock.status().code() != StatusCode::kInvalidArgument;
        return Status::invalidArgument(block ? asBlock.status().message()
                                             : asExpression.status().message());
      }
    }
    UPDRAFT_RETURN_IF_ERROR(sb.load(chunk));
    if (!sb.hasFunction(kFunction)) {
      return Status::internal("lua formula: the compiled body defines no function");
    }
    auto formula =
        std::make_unique<LuaFormula>(std::move(sandbox.value()), variables, std::move(parameters));
    // KEDA's admission check, as for its own syntax: one run with every trigger = -1.
    std::vector<std::optional<double>> trial(variables.size(), -1.0);
    auto r = formula->evaluate(trial);
    if (!r.isOk()) {
      return Status::invalidArgument(r.status().message() +
                                     " (in a trial run with every trigger = -1)");
    }
    return std::unique_ptr<CompiledFormula>(std::move(formula));
  }
};

struct Registrar {
  Registrar() { registerFormulaLanguage("lua", std::make_shared<LuaFormulaLanguage>()); }
};
const Registrar registrar;

}  // namespace
}  // namespace updraft
