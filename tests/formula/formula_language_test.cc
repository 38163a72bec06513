// Formula languages selected by a `<name>:` prefix (registerFormulaLanguage), with a fake
// language: the engine alone has none registered.
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "updraft/formula.h"

using namespace updraft;

namespace {

// "sum:" adds its variables; the body must be empty or the word "nil" (which yields no value).
// Records what compile() received.
struct Seen {
  std::string body;
  std::vector<std::string> variables;
};

class SumFormula final : public CompiledFormula {
 public:
  explicit SumFormula(bool nil) : nil_(nil) {}
  Result<std::optional<double>> evaluate(
      const std::vector<std::optional<double>>& values) const override {
    if (nil_) return std::optional<double>();
    double s = 0;
    for (const auto& v : values) s += v.value_or(0);
    return std::optional<double>(s);
  }

 private:
  bool nil_;
};

class SumLanguage final : public FormulaLanguage {
 public:
  explicit SumLanguage(Seen* seen) : seen_(seen) {}
  Result<std::unique_ptr<CompiledFormula>> compile(
      std::string_view body, const std::vector<std::string>& variables) const override {
    seen_->body = std::string(body);
    seen_->variables = variables;
    std::string trimmed(body);
    trimmed.erase(0, trimmed.find_first_not_of(" \n"));
    trimmed.erase(trimmed.find_last_not_of(" \n") + 1);
    if (!trimmed.empty() && trimmed != "nil") {
      return Status::invalidArgument("sum: line 2: unexpected '" + trimmed + "'");
    }
    return std::unique_ptr<CompiledFormula>(std::make_unique<SumFormula>(trimmed == "nil"));
  }

 private:
  Seen* seen_;
};

}  // namespace

TEST_CASE("formula languages: dispatch by prefix", "[formula]") {
  const std::vector<std::string> vars = {"a", "b"};
  // None registered: the engine says so.
  auto missing = Formula::compile("lua: a + b", vars);
  REQUIRE_FALSE(missing.isOk());
  CHECK(missing.status().code() == StatusCode::kInvalidArgument);
  CHECK(missing.status().message() ==
        "formula language 'lua' is not available in this build (no languages besides KEDA's "
        "syntax)");

  Seen seen;
  registerFormulaLanguage("sum", std::make_shared<SumLanguage>(&seen));
  auto f = Formula::compile("sum:", vars);
  REQUIRE(f.isOk());
  CHECK(seen.variables == vars);
  auto v = f->evaluate({1.0, std::nullopt});
  REQUIRE(v.isOk());
  CHECK(*v == 1.0);
  CHECK(f->source() == "sum:");
  // Values are counted by the engine before the language sees them.
  CHECK_FALSE(f->evaluate({1.0}).isOk());

  // Leading whitespace; the prefix becomes spaces and newlines stay, so lines and columns of the
  // body are those of the formula.
  auto g = Formula::compile("\n  sum:\n nil", vars);
  REQUIRE(g.isOk());
  CHECK(seen.body == "\n      \n nil");
  auto nil = g->evaluate({1.0, 2.0});
  REQUIRE(nil.isOk());
  CHECK(*nil == std::nullopt);

  // The language's errors come back as they are.
  auto bad = Formula::compile("sum: oops", vars);
  REQUIRE_FALSE(bad.isOk());
  CHECK(bad.status().message() == "sum: line 2: unexpected 'oops'");

  // Unknown names list what is available.
  auto other = Formula::compile("python: a", vars);
  REQUIRE_FALSE(other.isOk());
  CHECK(other.status().message() ==
        "formula language 'python' is not available in this build (available: sum)");

  // KEDA's syntax is untouched, including ':' elsewhere.
  auto expr = Formula::compile("a > b ? a : b", vars);
  REQUIRE(expr.isOk());
  CHECK(*expr->evaluate({3.0, 2.0}) == 3.0);
  CHECK(Formula::compile(" a ?? b", vars).isOk());
  // "sum :" is not a prefix (the colon must follow the name), so expr-lang rejects it.
  CHECK_FALSE(Formula::compile("sum : a", vars).isOk());

  registerFormulaLanguage("sum", nullptr);
  CHECK_FALSE(Formula::compile("sum:", vars).isOk());
}
