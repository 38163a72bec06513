// updraft::Formula: KEDA scalingModifiers formulas (expr-lang subset). See formula_internal.h for
// the pipeline and formula.h for the API.
//
// KEDA semantics reproduced here (scaledobject_webhook.go, pkg/scaling/modifiers):
//  * variables are the named triggers; any other identifier is "unknown name X (line:col)";
//  * the formula is compiled and then run once with every variable bound to -1.0; an error in
//    that trial run rejects the formula (so do static type errors);
//  * KEDA rewrites the formula to `float(F)`, or, when the text contains "??", to
//    `F == nil ? nil : float(F)`: the result is a number, or nil only when "??" appears. A bool or
//    string result is rejected (at compile time when the types say so, else at evaluation).
//  * float division by zero gives ±Inf/NaN (Go float64), only `int % 0` is an error.
#include "updraft/formula.h"

#include <map>
#include <mutex>
#include <utility>

#include "formula_internal.h"

namespace updraft {

using formula::Type;
using formula::Value;

namespace {

struct LanguageRegistry {
  std::mutex mutex;
  std::map<std::string, std::shared_ptr<const FormulaLanguage>, std::less<>> languages;

  static LanguageRegistry& instance() {
    static LanguageRegistry* registry = new LanguageRegistry();  // never destroyed
    return *registry;
  }
};

bool isNameStart(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool isNameChar(char c) { return isNameStart(c) || (c >= '0' && c <= '9') || c == '_'; }
bool isSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

// For `  name: body`: the name, and the offset just past the colon. `name:` never starts an
// expr-lang expression (a map literal starts with '{', a ternary's ':' follows a '?').
std::optional<std::pair<std::string, size_t>> languagePrefix(std::string_view source) {
  size_t i = 0;
  while (i < source.size() && isSpace(source[i])) ++i;
  if (i == source.size() || !isNameStart(source[i])) return std::nullopt;
  const size_t start = i;
  while (i < source.size() && isNameChar(source[i])) ++i;
  if (i == source.size() || source[i] != ':') return std::nullopt;
  return std::make_pair(std::string(source.substr(start, i - start)), i + 1);
}

}  // namespace

void registerFormulaLanguage(std::string name, std::shared_ptr<const FormulaLanguage> language) {
  auto& r = LanguageRegistry::instance();
  std::lock_guard<std::mutex> lock(r.mutex);
  if (language) {
    r.languages[std::move(name)] = std::move(language);
  } else {
    r.languages.erase(name);
  }
}

struct Formula::Impl {
  std::optional<formula::Program> program;       // KEDA's syntax
  std::unique_ptr<const CompiledFormula> other;  // a registered language
  std::string source;                            // of `other`
  size_t numVariables = 0;
  bool mayBeNil = false;  // the source contains "??" (KEDA's textual test)

  explicit Impl(formula::Program p) : program(std::move(p)) {}
  Impl(std::string text, std::unique_ptr<const CompiledFormula> compiled)
      : other(std::move(compiled)), source(std::move(text)) {}

  Result<std::optional<double>> run(const std::optional<double>* values) const {
    Value out;
    formula::StringPool arena;
    UPDRAFT_RETURN_IF_ERROR(program->execute(values, out, arena));
    switch (out.type) {
      case Type::kFloat:
        return std::optional<double>(out.f);
      case Type::kInt:
        return std::optional<double>(static_cast<double>(out.i));
      case Type::kNil:
        if (mayBeNil) return std::optional<double>();
        return Status::invalidArgument(
            "formula evaluated to nil (a trigger has no value; use ?? to give a default)");
      default:
        return Status::invalidArgument("formula must evaluate to a number, got " +
                                       std::string(formula::typeName(out.type)));
    }
  }
};

Result<Formula> Formula::compile(std::string_view source,
                                 const std::vector<std::string>& variables) {
  if (auto prefix = languagePrefix(source)) {
    const std::string& name = prefix->first;
    std::shared_ptr<const FormulaLanguage> language;
    std::string available;
    {
      auto& r = LanguageRegistry::instance();
      std::lock_guard<std::mutex> lock(r.mutex);
      auto it = r.languages.find(name);
      if (it != r.languages.end()) language = it->second;
      for (const auto& [n, l] : r.languages) available += (available.empty() ? "" : ", ") + n;
    }
    if (!language) {
      return Status::invalidArgument(
          "formula language '" + name + "' is not available in this build" +
          (available.empty() ? std::string(" (no languages besides KEDA's syntax)")
                             : " (available: " + available + ")"));
    }
    // The body keeps its place: the prefix and what precedes it become spaces, newlines stay.
    std::string body(source);
    for (size_t i = 0; i < prefix->second; ++i) {
      if (body[i] != '\n') body[i] = ' ';
    }
    auto compiled = language->compile(body, variables);
    if (!compiled.isOk()) return compiled.status();
    if (!*compiled) return Status::internal("formula language '" + name + "' compiled nothing");
    auto impl = std::make_unique<Impl>(std::string(source), std::move(compiled.value()));
    impl->numVariables = variables.size();
    return Formula(std::move(impl));
  }
  formula::Ast ast;
  UPDRAFT_RETURN_IF_ERROR(formula::parse(source, variables, ast));
  auto program = formula::Program::build(std::string(source), std::move(ast));
  if (!program.isOk()) return program.status();

  bool mayBeNil = source.find("??") != std::string_view::npos;
  formula::TypeMask result = program->resultMask();
  if ((result & formula::kNumberMask) == 0) {
    return Status::invalidArgument("formula must evaluate to a number, got " +
                                   formula::maskName(result));
  }

  auto impl = std::make_unique<Impl>(std::move(*program));
  impl->numVariables = variables.size();
  impl->mayBeNil = mayBeNil;

  // KEDA's admission check: run once with every trigger bound to -1.
  std::vector<std::optional<double>> dummy(variables.size(), -1.0);
  auto trial = impl->run(dummy.data());
  if (!trial.isOk()) {
    return Status::invalidArgument(trial.status().message() +
                                   " (in a trial run with every trigger = -1)");
  }
  return Formula(std::move(impl));
}

Result<std::optional<double>> Formula::evaluate(
    const std::vector<std::optional<double>>& values) const {
  if (values.size() != impl_->numVariables) {
    return Status::invalidArgument("formula expects " + std::to_string(impl_->numVariables) +
                                   " values, got " + std::to_string(values.size()));
  }
  if (impl_->other) return impl_->other->evaluate(values);
  return impl_->run(values.data());
}

const std::string& Formula::source() const {
  return impl_->other ? impl_->source : impl_->program->source();
}

Formula::Formula(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Formula::Formula(Formula&&) noexcept = default;
Formula& Formula::operator=(Formula&&) noexcept = default;
Formula::~Formula() = default;

}  // namespace updraft
