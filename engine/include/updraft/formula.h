// scalingModifiers formulas in KEDA's syntax (expr-lang subset): arithmetic, comparison, logic,
// ternary, `??`, `let`, and the usual functions. Compiled once, evaluated on every poll.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "updraft/status.h"

namespace updraft {

class Formula {
 public:
  // Compiles `source` with the given variable names (the ScaledObject's named triggers).
  // An unknown name, a syntax error or a type error gives InvalidArgument with the position.
  static Result<Formula> compile(std::string_view source,
                                 const std::vector<std::string>& variables);

  // Evaluates with values[i] bound to variables[i] (nullopt = nil). The result is nullopt when the
  // formula yields nil (possible with `??`), else a number. Thread-safe (const).
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
