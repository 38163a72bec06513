// Go (RE2) regular expressions, as KEDA's scalers compile them with regexp.Compile, evaluated with
// std::regex after a translation of Go's syntax to ECMAScript.
//
// Only "does the whole string match" is offered. That is exactly what KEDA's
// `re.Longest(); re.FindString(name) == name` computes: a leftmost-longest match equals the whole
// name if and only if the pattern matches the whole name.
//
// Translated: Go escapes (\A \z \Q..\E \x{..} \a, octal, escaped punctuation), (?P<name>..) and
// (?<name>..) groups, flag groups (?flags) / (?flags:..) (flags i m s U; since only whole-string
// matching of single-line names is asked for, m, s and U change nothing; i is honoured only for the
// whole pattern, as a leading (?i)), a '{' that does not start a repetition (a literal in Go),
// POSIX classes [[:alpha:]].
// Rejected as invalid, as Go does: lookarounds, backreferences, unknown escapes, nested repetition
// operators (a**), repetition counts over 1000, unbalanced brackets and parentheses.
// Rejected as unsupported (valid in Go): \p{..} / \pL Unicode classes, negated POSIX classes
// [[:^alpha:]], (?i) that does not cover the whole pattern, code points above U+00FF.
#pragma once

#include <memory>
#include <regex>
#include <string>
#include <string_view>

#include "updraft/status.h"

namespace updraft {

class GoRegex {
 public:
  // InvalidArgument: Go would reject the pattern too (message says why).
  // FailedPrecondition: valid Go syntax that this translation does not support (says which).
  static Result<GoRegex> compile(std::string_view pattern);

  // True when the pattern matches all of `s`.
  bool fullMatch(std::string_view s) const;

  const std::string& pattern() const { return pattern_; }
  // The translated ECMAScript pattern (for tests and messages).
  const std::string& ecmaScript() const { return ecma_; }

 private:
  std::string pattern_;
  std::string ecma_;
  std::shared_ptr<const std::regex> regex_;
};

}  // namespace updraft
