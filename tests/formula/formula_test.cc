// Tests for updraft::Formula (KEDA scalingModifiers formulas, expr-lang subset).
#include "updraft/formula.h"

#include <catch2/catch.hpp>
#include <cmath>
#include <limits>
#include <string>
#include <thread>
#include <vector>

using updraft::Formula;
using updraft::StatusCode;
using Values = std::vector<std::optional<double>>;
using Catch::Matchers::Contains;

namespace {

// a = 2, b = 3, c = nil unless a test says otherwise.
const std::vector<std::string> kVars = {"a", "b", "c"};
const Values kDefault = {2.0, 3.0, std::nullopt};

std::optional<double> eval(const std::string& source, const Values& values = kDefault,
                           const std::vector<std::string>& vars = kVars) {
  auto f = Formula::compile(source, vars);
  INFO(source << " -> " << f.status().toString());
  REQUIRE(f.isOk());
  auto r = f->evaluate(values);
  INFO(source << " -> " << r.status().toString());
  REQUIRE(r.isOk());
  return *r;
}

double num(const std::string& source, const Values& values = kDefault,
           const std::vector<std::string>& vars = kVars) {
  auto r = eval(source, values, vars);
  INFO(source);
  REQUIRE(r.has_value());
  return *r;
}

std::string compileError(const std::string& source, const std::vector<std::string>& vars = kVars) {
  auto f = Formula::compile(source, vars);
  INFO(source);
  REQUIRE_FALSE(f.isOk());
  CHECK(f.status().code() == StatusCode::kInvalidArgument);
  return f.status().message();
}

std::string evalError(const std::string& source, const Values& values = kDefault) {
  auto f = Formula::compile(source, kVars);
  INFO(source << " -> " << f.status().toString());
  REQUIRE(f.isOk());
  auto r = f->evaluate(values);
  INFO(source);
  REQUIRE_FALSE(r.isOk());
  return r.status().message();
}

}  // namespace

TEST_CASE("precedence and associativity follow expr-lang", "[formula]") {
  struct Row {
    const char* source;
    double expected;
  };
  const Row rows[] = {
      {"1 + 2 * 3", 7},
      {"(1 + 2) * 3", 9},
      {"10 - 4 - 3", 3},                      // left-associative
      {"100 / 10 / 5", 2},                    // left-associative
      {"2 ** 3 ** 2", 512},                   // right-associative
      {"2 ^ 3 ^ 2", 512},                     // ^ is power too
      {"2 * 3 ** 2", 18},                     // ** above *
      {"-2 ** 2", -4},                        // unary minus is below **
      {"-a ** 2", -4},                        //
      {"-1 + 2", 1},                          // unary minus above +
      {"7 - 3 % 2", 6},                       // % with *
      {"8 / 2 * 2", 8},                       // * and / share a level
      {"1 + 2 > 2 ? 10 : 20", 10},            // comparison below +
      {"true || false && false ? 1 : 0", 1},  // and above or
      {"not true and false ? 1 : 0", 0},      // not above and
      {"1 + 1 == 2 ? 3 : 4", 3},              // ternary lowest
      {"false ? 1 : true ? 2 : 3", 2},        // ternary nests to the right
      {"true ? false ? 1 : 2 : 3", 2},        // and in the middle
      {"2 * c ?? 5", 10},                     // ?? binds tightest
      {"1 < 2 < 3 ? 1 : 0", 1},               // comparisons chain: 1 < 2 && 2 < 3
      {"3 > 2 > 1 ? 1 : 0", 1},               // not (3 > 2) > 1
      {"1 < 3 < 2 ? 1 : 0", 0},
  };
  for (const auto& row : rows) {
    INFO(row.source);
    CHECK(num(row.source) == row.expected);
  }
}

TEST_CASE("arithmetic, comparison and logical operators", "[formula]") {
  CHECK(num("a + b") == 5);
  CHECK(num("a - b") == -1);
  CHECK(num("a * b") == 6);
  CHECK(num("b / a") == 1.5);
  CHECK(num("int(b) % int(a)") == 1);
  CHECK(num("a ** b") == 8);
  CHECK(num("a ^ 0.5") == Approx(std::sqrt(2.0)));
  CHECK(num("2 ** -1") == 0.5);
  CHECK(num("+a") == 2);
  CHECK(num("-a") == -2);
  CHECK(num("- -a") == 2);
  CHECK(num("a == 2 ? 1 : 0") == 1);
  CHECK(num("a != 2 ? 1 : 0") == 0);
  CHECK(num("a < b ? 1 : 0") == 1);
  CHECK(num("a <= 2 ? 1 : 0") == 1);
  CHECK(num("a > b ? 1 : 0") == 0);
  CHECK(num("a >= 2 ? 1 : 0") == 1);
  CHECK(num("a > 1 and b > 1 ? 1 : 0") == 1);
  CHECK(num("a > 1 && b > 5 ? 1 : 0") == 0);
  CHECK(num("a > 5 or b > 1 ? 1 : 0") == 1);
  CHECK(num("a > 5 || b > 5 ? 1 : 0") == 0);
  CHECK(num("not (a > 5) ? 1 : 0") == 1);
  CHECK(num("!(a > 1) ? 1 : 0") == 0);
  CHECK(num("'abc' < 'abd' ? 1 : 0") == 1);  // strings compare bytewise
  CHECK(num("'ab' + \"c\" == 'abc' ? 1 : 0") == 1);
  CHECK(num("'it\\'s' == \"it's\" ? 1 : 0") == 1);
  CHECK(num("(a > 1 ?: false) ? 1 : 0") == 1);  // expr-lang's `x ?: y`
  CHECK(num("1_000 + 1e3 + .5 + 0x10 + 0b11 + 0o17") == 1000 + 1000 + 0.5 + 16 + 3 + 15);
  CHECK(num("2.5e-1 * 4") == 1);
  CHECK(num("  a\n +\t// comment\n b /* block */") == 5);
}

TEST_CASE("int and float are distinct types like in expr-lang", "[formula]") {
  CHECK(num("7 / 2") == 3.5);  // `/` always gives a float
  CHECK(num("4 / 2") == 2);
  CHECK(num("int(7 / 2)") == 3);  // int() truncates
  CHECK(num("int(-2.7)") == -2);
  CHECK(num("7 % 3") == 1);
  CHECK(num("-7 % 3") == -1);  // Go: truncated remainder
  CHECK(num("1 == 1.0 ? 1 : 0") == 1);
  CHECK(num("1 < 1.5 ? 1 : 0") == 1);
  // int arithmetic wraps like Go's int64 instead of turning into a float.
  CHECK(num("9223372036854775807 + 1") == -9223372036854775808.0);
  CHECK(num("int('42') + float('0.5')") == 42.5);
  // `%` needs ints: triggers are floats, so this is a type error found at compile time.
  CHECK_THAT(compileError("a % 2"),
             Contains("invalid operation: % (mismatched types float and int) (1:3)"));
  CHECK_THAT(compileError("7.0 % 2"), Contains("mismatched types float and int"));
  CHECK_THAT(compileError("int('x')"), Contains("invalid operation: int(x)"));
}

TEST_CASE("division by zero gives Go float64 results, integer modulo by zero fails", "[formula]") {
  CHECK(num("a / 0") == std::numeric_limits<double>::infinity());
  CHECK(num("-a / 0") == -std::numeric_limits<double>::infinity());
  CHECK(std::isnan(num("0 / 0")));
  CHECK(num("a / (b - 3)", {2.0, 3.0, std::nullopt}) == std::numeric_limits<double>::infinity());
  // The trial run (every trigger = -1) does not divide by zero here, so it compiles...
  CHECK_THAT(evalError("int(a) % int(b)", {2.0, 0.0, std::nullopt}),
             Contains("integer divide by zero (1:8)"));
  // ...but when it does, KEDA's admission run rejects the formula.
  CHECK_THAT(compileError("int(a) % int(a + 1)"), Contains("integer divide by zero"));
}

TEST_CASE("nil: missing trigger values, ?? and == nil", "[formula]") {
  CHECK(num("c ?? 5") == 5);
  CHECK(num("a ?? 5") == 2);
  CHECK(num("c ?? c ?? 7") == 7);
  CHECK(num("(c ?? 1) + (a ?? 1)") == 3);
  CHECK(num("c == nil ? 1 : 0") == 1);
  CHECK(num("a == nil ? 1 : 0") == 0);
  CHECK(num("nil == nil ? 1 : 0") == 1);
  // With ?? in the formula the result may be nil (KEDA then uses the fallback replicas).
  CHECK_FALSE(eval("c ?? nil").has_value());
  CHECK_FALSE(eval("a + b > 100 ? 1 : c ?? nil").has_value());
  CHECK(eval("c ?? nil", {2.0, 3.0, 4.0}) == 4.0);
  // Without ?? a nil result is an error, like KEDA's float(nil).
  CHECK_THAT(evalError("c"), Contains("nil"));
  CHECK_THAT(evalError("a > 0 ? c : 1"), Contains("nil"));
  // Arithmetic on a nil trigger fails at evaluation.
  CHECK_THAT(evalError("c + 1"), Contains("invalid operation: nil + int (1:3)"));
  CHECK_THAT(evalError("-c"), Contains("invalid operation: -nil"));
  CHECK_THAT(compileError("nil + 1"), Contains("mismatched types nil and int"));
  // expr-lang forbids mixing ?? with other operators without parentheses.
  CHECK_THAT(compileError("c ?? 1 + 1"),
             Contains("Operator (+) and coalesce expressions (?\?) cannot be mixed"));
}

TEST_CASE("ternary and logical operators short-circuit", "[formula]") {
  const Values zeroB = {2.0, 0.0, std::nullopt};
  // int(a) % int(b) fails with b = 0: each form below must not evaluate it.
  CHECK(num("false && int(a) % int(b) == 0 ? 1 : 2", zeroB) == 2);
  CHECK(num("true || int(a) % int(b) == 0 ? 1 : 2", zeroB) == 1);
  CHECK(num("a > 0 ? 1 : int(a) % int(b)", zeroB) == 1);
  CHECK(num("a < 0 ? int(a) % int(b) : 4", zeroB) == 4);
  CHECK(num("a ?? (int(a) % int(b))", zeroB) == 2);
  // And the other way round, to show the right side does run when needed.
  CHECK_THAT(evalError("true && int(a) % int(b) == 0 ? 1 : 2", zeroB),
             Contains("integer divide by zero"));
  CHECK_THAT(evalError("c ?? (int(a) % int(b))", zeroB), Contains("integer divide by zero"));
}

TEST_CASE("let binds local names", "[formula]") {
  CHECK(num("let x = a * 2; x + 1") == 5);
  CHECK(num("let x = a; let y = x + b; x * y") == 10);
  CHECK(num("(let x = 1; x) + a") == 3);
  CHECK(num("let x = c ?? 4; x * 2") == 8);
  CHECK(num("let x = a > 1; x ? 10 : 20") == 10);
  CHECK_THAT(compileError("let x = 1; let x = 2; x"),
             Contains("cannot redeclare variable x (1:16)"));
  CHECK_THAT(compileError("let a = 1; a"), Contains("cannot redeclare a"));
  CHECK_THAT(compileError("let max = 1; max"), Contains("cannot redeclare builtin max"));
  CHECK_THAT(compileError("let x = x; 1"), Contains("unknown name x"));
  CHECK_THAT(compileError("(let x = 1; x) + x"), Contains("unknown name x (1:18)"));
}

TEST_CASE("functions", "[formula]") {
  CHECK(num("abs(-3)") == 3);
  CHECK(num("abs(-2.5)") == 2.5);
  CHECK(num("abs(a - b)") == 1);
  CHECK(num("ceil(1.2)") == 2);
  CHECK(num("floor(-1.5)") == -2);
  CHECK(num("round(2.5)") == 3);  // half away from zero, like Go's math.Round
  CHECK(num("round(-2.5)") == -3);
  CHECK(num("round(2.4)") == 2);
  CHECK(num("int(3.9)") == 3);
  CHECK(num("int(7 / 2) % 2") == 1);  // int() really gives an int: % accepts it
  CHECK(num("float(3)") == 3);
  CHECK(num("float('2.5')") == 2.5);
  CHECK(num("max(a, b, 1)") == 3);
  CHECK(num("min(a, b, 1)") == 1);
  CHECK(num("max(1, 2.5)") == 2.5);
  CHECK(num("max(a)") == 2);
  CHECK(num("max(1, 1.0) % 2") == 1);  // the first of equal values wins and stays an int
  CHECK(num("mean(a, b)") == 2.5);
  CHECK(num("median(3, 1, 2)") == 2);
  CHECK(num("median(3, 1, 2, 10)") == 2.5);
  CHECK(num("max(a, b,)") == 3);  // trailing comma, as in expr-lang
  CHECK_THAT(compileError("abs(1, 2)"),
             Contains("invalid number of arguments for abs (expected 1, got 2) (1:1)"));
  CHECK_THAT(compileError("max()"), Contains("not enough arguments to call max"));
  CHECK_THAT(compileError("abs(true)"), Contains("invalid argument for abs (type bool) (1:5)"));
  CHECK_THAT(compileError("ceil('1')"), Contains("invalid argument for ceil (type string)"));
  CHECK_THAT(compileError("sqrt(a)"), Contains("unknown function sqrt (1:1)"));
  CHECK_THAT(compileError("a + len('x')"), Contains("function len() is not supported"));
  CHECK_THAT(evalError("abs(c)"), Contains("invalid argument for abs (type nil)"));
}

TEST_CASE("unknown names are rejected with their position", "[formula]") {
  const std::vector<std::string> triggers = {"trig_one", "trig_two"};
  CHECK_THAT(compileError("trig_one + trig_three", triggers),
             Contains("unknown name trig_three (1:12)"));
  CHECK_THAT(compileError("trig_one +\n   other", triggers), Contains("unknown name other (2:4)"));
  // Columns count characters, not bytes.
  CHECK_THAT(compileError("'é' == 'é' ? nope : 1", triggers), Contains("unknown name nope (1:14)"));
  CHECK(num("trig_one * trig_two", {2.0, 5.0}, triggers) == 10);
}

TEST_CASE("syntax errors carry line:column", "[formula]") {
  CHECK_THAT(compileError("(a + b"), Contains("(1:7)"));
  CHECK_THAT(compileError("a +* b"), Contains("unexpected token Operator(\"*\") (1:4)"));
  CHECK_THAT(compileError("a @ b"), Contains("unrecognized character: U+0040 '@' (1:3)"));
  CHECK_THAT(compileError("'abc"), Contains("literal not terminated"));
  CHECK_THAT(compileError("1abc"), Contains("bad number syntax"));
  CHECK_THAT(compileError("a b"), Contains("unexpected token Identifier(\"b\") (1:3)"));
  CHECK_THAT(compileError("a ? b"), Contains("(1:6)"));
  CHECK_THAT(compileError("99999999999999999999"), Contains("invalid integer literal"));
  CHECK_THAT(compileError("1e999"), Contains("invalid float literal"));
  CHECK_THAT(compileError("a /* open"), Contains("unclosed comment"));
  CHECK_FALSE(Formula::compile("", kVars).isOk());
  CHECK_THAT(compileError("if a > 1 { 1 } else { 2 }"), Contains("not supported"));
  CHECK_THAT(compileError("a in b"), Contains("operator in is not supported"));
}

TEST_CASE("a bool or string result is rejected", "[formula]") {
  // Found by the type checker.
  CHECK_THAT(compileError("a > 1"), Contains("must evaluate to a number, got bool"));
  CHECK_THAT(compileError("a > 1 and b > 1"), Contains("got bool"));
  CHECK_THAT(compileError("'5'"), Contains("must evaluate to a number, got string"));
  // Found by KEDA's trial run with every trigger = -1.
  CHECK_THAT(compileError("a > 0 ? 1 : true"), Contains("got bool"));
  CHECK_THAT(compileError("a > 0 ? 1 : true"), Contains("trial run"));
  // Only visible at evaluation.
  auto f = Formula::compile("a > 0 ? true : 1", kVars);
  REQUIRE(f.isOk());
  CHECK(*f->evaluate({-5.0, 0.0, std::nullopt}) == 1.0);
  CHECK_THAT(evalError("a > 0 ? true : 1"), Contains("must evaluate to a number, got bool"));
  // Static type errors inside the formula.
  CHECK_THAT(compileError("true + 1"), Contains("mismatched types bool and int) (1:6)"));
  CHECK_THAT(compileError("1 ? 2 : 3"),
             Contains("non-bool expression (type int) used as condition"));
  CHECK_THAT(compileError("not a ? 1 : 2"),
             Contains("invalid operation: not (mismatched type float)"));
  CHECK_THAT(compileError("a > 1 && 2 ? 1 : 0"), Contains("invalid operation: and"));
}

TEST_CASE("KEDA documentation examples", "[formula]") {
  const std::vector<std::string> t = {"trig_one", "trig_two", "trig_three"};
  CHECK(num("trig_one + trig_two", {1.0, 2.0, 3.0}, t) == 3);
  CHECK(num("(trig_one + trig_two)/2", {1.0, 2.0, 3.0}, t) == 1.5);
  CHECK(num("trig_one < 2 ? trig_one+trig_two >= 2 ? 5 : 10 : 0", {1.0, 2.0, 0.0}, t) == 5);
  CHECK(num("trig_one < 2 ? trig_one+trig_two >= 2 ? 5 : 10 : 0", {1.0, 0.5, 0.0}, t) == 10);
  CHECK(num("trig_one < 2 ? trig_one+trig_two >= 2 ? 5 : 10 : 0", {4.0, 0.5, 0.0}, t) == 0);
  CHECK(num("float(trig_one < 2 ? trig_one+trig_two >= 2 ? 5 : 10 : 0)", {1.0, 2.0, 0.0}, t) == 5);
  // Fallback with behavior: scalingModifiers: a failing trigger is nil.
  CHECK(num("(trig_one ?? 0) + trig_two", {std::nullopt, 2.0, 0.0}, t) == 2);
  // Arrays and closures are outside the supported subset: a clear compile error.
  auto message = compileError("count([trig_one,trig_two,trig_three],{#>1}) > 1 ? 5 : 0", t);
  CHECK_THAT(message, Contains("count() is not supported"));
  CHECK_THAT(message, Contains("arrays"));
  CHECK_THAT(message, Contains("closures"));
  CHECK_THAT(compileError("[trig_one, trig_two][0]", t),
             Contains("array literals are not supported"));
  CHECK_THAT(compileError("trig_one.value", t), Contains("member access"));
}

TEST_CASE("deeply nested input is rejected without overflowing the stack", "[formula]") {
  const std::string deep = std::string(100000, '(') + "1" + std::string(100000, ')');
  CHECK_THAT(compileError(deep), Contains("nested too deeply"));
  CHECK_THAT(compileError(std::string(100000, '-') + "1"), Contains("nested too deeply"));
  CHECK_THAT(compileError(std::string(100000, '!') + "true"), Contains("nested too deeply"));
  std::string chain = "a";
  for (int i = 0; i < 100000; ++i) chain += " + a";
  CHECK_THAT(compileError(chain), Contains("nested too deeply"));
  std::string lets;
  for (int i = 0; i < 100000; ++i) lets += "let x" + std::to_string(i) + " = 1; ";
  CHECK_THAT(compileError(lets + "1"), Contains("nested too deeply"));
  // Reasonable nesting is fine.
  CHECK(num(std::string(100, '(') + "a" + std::string(100, ')')) == 2);
}

TEST_CASE("evaluate checks its input and is usable from many threads", "[formula]") {
  auto f = Formula::compile("(a + b) / 2 > 10 ? a : b", kVars);
  REQUIRE(f.isOk());
  CHECK(f->source() == "(a + b) / 2 > 10 ? a : b");
  CHECK_THAT(f->evaluate({1.0}).status().message(), Contains("expects 3 values, got 1"));

  Formula moved = std::move(*f);
  std::vector<std::thread> threads;
  std::vector<int> wrong(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 20000; ++i) {
        double a = t * 100 + i % 50;
        auto r = moved.evaluate({a, 1.0, std::nullopt});
        double expected = (a + 1) / 2 > 10 ? a : 1.0;
        if (!r.isOk() || !r->has_value() || **r != expected) ++wrong[static_cast<size_t>(t)];
      }
    });
  }
  for (auto& th : threads) th.join();
  CHECK(wrong == std::vector<int>(4, 0));
}
