// scalingModifiers formulas in KEDA's syntax (expr-lang subset): arithmetic, comparison, logic,
// ternary, `??`, `let`, and the usual functions. Compiled once, evaluated on every poll.
//
// Other formula languages plug in by prefix: a formula whose text starts with `<name>:` (after
// optional whitespace, e.g. `lua: a + b`) is compiled by the language registered under <name>
// (registerFormulaLanguage), which lives outside the engine (the engine does not depend on Lua).
// Without a prefix the text is KEDA's syntax, unchanged (`name:` can never start an expr-lang
// expression).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "updraft/status.h"

namespace updraft {

// A formula compiled by a registered language.
class CompiledFormula {
 public:
  virtual ~CompiledFormula() = default;
  // values[i] is variables[i] of compile() (nullopt: the trigger has no value). nullopt result:
  // no value (as expr-lang's nil). Called from several threads at once: must be thread-safe.
  virtual Result<std::optional<double>> evaluate(
      const std::vector<std::optional<double>>& values) const = 0;
};

class FormulaLanguage {
 public:
  virtual ~FormulaLanguage() = default;
  // `body` is the formula text with the `<name>:` prefix (and what precedes it) blanked out:
  // newlines are kept, so lines and columns in `body` are those of the whole formula. Errors are
  // InvalidArgument naming the line; never throws.
  virtual Result<std::unique_ptr<CompiledFormula>> compile(
      std::string_view body, const std::vector<std::string>& variables) const = 0;
};

// Registers `language` for formulas written `<name>: ...`; nullptr removes the registration.
// Thread-safe; languages usually register from a static initialiser of the library providing them.
void registerFormulaLanguage(std::string name, std::shared_ptr<const FormulaLanguage> language);

class Formula {
 public:
  // Compiles `source` with the given variable names (the ScaledObject's named triggers).
  // An unknown name, a syntax error or a type error gives InvalidArgument with the position.
  // `<name>: ...` is compiled by that registered language; an unregistered one is an
  // InvalidArgument ("formula language 'lua' is not available in this build").
  static Result<Formula> compile(std::string_view source,
                                 const std::vector<std::string>& variables);

  // Evaluates with values[i] bound to variables[i] (nullopt = nil). The result is nullopt when the
  // formula yields nil (possible with `??`, or a registered language's "no value"), else a number.
  // Thread-safe (const).
  // Arithmetic follows expr-lang/Go: float division by zero is not an error (it gives +Inf, -Inf
  // or NaN); only `int % 0` and type errors (e.g. arithmetic on a nil trigger) fail.
  Result<std::optional<double>> evaluate(const std::vector<std::optional<double>>& values) const;

  const std::string& source() const;

  Formula(Formula&&) noexcept;
  Formula& operator=(Formula&&) noexcept;
  ~Formula();

  struct Impl;

 private:
  explicit Formula(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace updraft
