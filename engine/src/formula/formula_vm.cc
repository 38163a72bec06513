// The formula VM: a stack machine over Program::code_. No recursion, no shared mutable state, and
// no heap allocation unless a string is concatenated or the program needs an unusually deep stack.
//
// Arithmetic follows expr-lang/Go: int op int stays int (wrapping on overflow), any float makes a
// float, `/` and `**` always give floats, `%` needs two ints (x % 0 is an error, as Go panics).
// Float division by zero is not an error: it gives +Inf, -Inf or NaN like Go's float64.
#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>

#include "formula_internal.h"

namespace updraft::formula {
namespace {

constexpr uint32_t kInlineStack = 32;
constexpr uint32_t kInlineLocals = 16;

inline bool isNum(Type t) { return t == Type::kInt || t == Type::kFloat; }
inline double toF(const Value& v) { return v.type == Type::kInt ? static_cast<double>(v.i) : v.f; }

inline int64_t wrap(uint64_t x) { return static_cast<int64_t>(x); }
inline int64_t addWrap(int64_t a, int64_t b) {
  return wrap(static_cast<uint64_t>(a) + static_cast<uint64_t>(b));
}
inline int64_t subWrap(int64_t a, int64_t b) {
  return wrap(static_cast<uint64_t>(a) - static_cast<uint64_t>(b));
}
inline int64_t mulWrap(int64_t a, int64_t b) {
  return wrap(static_cast<uint64_t>(a) * static_cast<uint64_t>(b));
}
inline int64_t negWrap(int64_t a) { return wrap(0 - static_cast<uint64_t>(a)); }

// Go's int(float64) on amd64: truncation; NaN and out-of-range give math.MinInt64.
inline int64_t floatToInt(double f) {
  if (!(f >= -9223372036854775808.0 && f < 9223372036854775808.0)) {
    return std::numeric_limits<int64_t>::min();
  }
  return static_cast<int64_t>(f);
}

// Go's runtime.Less for numbers: ints compare exactly, mixed pairs as float64.
inline bool numLess(const Value& a, const Value& b) {
  if (a.type == Type::kInt && b.type == Type::kInt) return a.i < b.i;
  return toF(a) < toF(b);
}

bool equal(const Value& l, const Value& r) {
  if (isNum(l.type) && isNum(r.type)) {
    if (l.type == Type::kInt && r.type == Type::kInt) return l.i == r.i;
    return toF(l) == toF(r);
  }
  if (l.type != r.type) return false;
  switch (l.type) {
    case Type::kNil:
      return true;
    case Type::kBool:
      return l.b == r.b;
    case Type::kString:
      return l.str() == r.str();
    default:
      return false;
  }
}

enum class Fault : uint8_t { kNone, kType, kDivZero, kParse };

Fault arith(Op op, Value l, Value r, Value& out, StringPool& arena) {
  // Fast path: both floats (the common case: every variable is a float).
  if (l.type == Type::kFloat && r.type == Type::kFloat) {
    switch (op) {
      case Op::kAdd:
        out = Value::real(l.f + r.f);
        return Fault::kNone;
      case Op::kSub:
        out = Value::real(l.f - r.f);
        return Fault::kNone;
      case Op::kMul:
        out = Value::real(l.f * r.f);
        return Fault::kNone;
      case Op::kDiv:
        out = Value::real(l.f / r.f);
        return Fault::kNone;
      case Op::kLt:
        out = Value::boolean(l.f < r.f);
        return Fault::kNone;
      case Op::kLe:
        out = Value::boolean(l.f <= r.f);
        return Fault::kNone;
      case Op::kGt:
        out = Value::boolean(l.f > r.f);
        return Fault::kNone;
      case Op::kGe:
        out = Value::boolean(l.f >= r.f);
        return Fault::kNone;
      case Op::kEq:
        out = Value::boolean(l.f == r.f);
        return Fault::kNone;
      case Op::kNe:
        out = Value::boolean(l.f != r.f);
        return Fault::kNone;
      default:
        break;
    }
  }
  bool nums = isNum(l.type) && isNum(r.type);
  bool ints = l.type == Type::kInt && r.type == Type::kInt;
  switch (op) {
    case Op::kAdd:
      if (ints) {
        out = Value::integer(addWrap(l.i, r.i));
      } else if (nums) {
        out = Value::real(toF(l) + toF(r));
      } else if (l.type == Type::kString && r.type == Type::kString) {
        auto s = std::make_unique<std::string>(l.str());
        s->append(r.str());
        out = Value::string(*s);
        arena.push_back(std::move(s));
      } else {
        return Fault::kType;
      }
      return Fault::kNone;
    case Op::kSub:
      if (ints) {
        out = Value::integer(subWrap(l.i, r.i));
      } else if (nums) {
        out = Value::real(toF(l) - toF(r));
      } else {
        return Fault::kType;
      }
      return Fault::kNone;
    case Op::kMul:
      if (ints) {
        out = Value::integer(mulWrap(l.i, r.i));
      } else if (nums) {
        out = Value::real(toF(l) * toF(r));
      } else {
        return Fault::kType;
      }
      return Fault::kNone;
    case Op::kDiv:
      if (!nums) return Fault::kType;
      out = Value::real(toF(l) / toF(r));
      return Fault::kNone;
    case Op::kMod:
      if (!ints) return Fault::kType;
      if (r.i == 0) return Fault::kDivZero;
      out = Value::integer(r.i == -1 ? 0 : l.i % r.i);  // MinInt64 % -1 is 0 in Go
      return Fault::kNone;
    case Op::kPow:
      if (!nums) return Fault::kType;
      out = Value::real(std::pow(toF(l), toF(r)));
      return Fault::kNone;
    case Op::kEq:
      out = Value::boolean(equal(l, r));
      return Fault::kNone;
    case Op::kNe:
      out = Value::boolean(!equal(l, r));
      return Fault::kNone;
    case Op::kLt:
    case Op::kLe:
    case Op::kGt:
    case Op::kGe: {
      int cmp;  // -1, 0, 1; 2 = unordered (NaN)
      if (nums) {
        if (ints) {
          cmp = l.i < r.i ? -1 : l.i > r.i ? 1 : 0;
        } else {
          double a = toF(l);
          double b = toF(r);
          cmp = a < b ? -1 : a > b ? 1 : a == b ? 0 : 2;
        }
      } else if (l.type == Type::kString && r.type == Type::kString) {
        int c = l.str().compare(r.str());
        cmp = c < 0 ? -1 : c > 0 ? 1 : 0;
      } else {
        return Fault::kType;
      }
      bool res = false;
      if (cmp != 2) {
        switch (op) {
          case Op::kLt:
            res = cmp < 0;
            break;
          case Op::kLe:
            res = cmp <= 0;
            break;
          case Op::kGt:
            res = cmp > 0;
            break;
          default:
            res = cmp >= 0;
            break;
        }
      }
      out = Value::boolean(res);
      return Fault::kNone;
    }
    case Op::kNeg:
      if (l.type == Type::kInt) {
        out = Value::integer(negWrap(l.i));
      } else if (l.type == Type::kFloat) {
        out = Value::real(-l.f);
      } else {
        return Fault::kType;
      }
      return Fault::kNone;
    case Op::kPlus:
      if (!isNum(l.type)) return Fault::kType;
      out = l;
      return Fault::kNone;
    case Op::kNot:
      if (l.type != Type::kBool) return Fault::kType;
      out = Value::boolean(!l.b);
      return Fault::kNone;
  }
  return Fault::kType;
}

// Go's strconv.Atoi (base 10, optional sign, no '_').
bool parseGoInt(std::string_view s, int64_t& out) {
  bool neg = false;
  if (!s.empty() && (s[0] == '+' || s[0] == '-')) {
    neg = s[0] == '-';
    s.remove_prefix(1);
  }
  if (s.empty()) return false;
  uint64_t v = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v, 10);
  if (ec != std::errc() || ptr != s.data() + s.size()) return false;
  if (neg ? v > 9223372036854775808ull : v > 9223372036854775807ull) return false;
  out = neg ? wrap(0 - v) : static_cast<int64_t>(v);
  return true;
}

// Go's strconv.ParseFloat for decimal input (optional sign, "inf"/"infinity"/"nan").
bool parseGoFloat(std::string_view s, double& out) {
  bool neg = false;
  if (!s.empty() && (s[0] == '+' || s[0] == '-')) {
    neg = s[0] == '-';
    s.remove_prefix(1);
  }
  if (s.empty() || s[0] == '+' || s[0] == '-') return false;
  double v = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ptr != s.data() + s.size()) return false;
  if (ec == std::errc::result_out_of_range) {
    v = s.find_first_of("eE") != std::string_view::npos &&
                s.find('-', s.find_first_of("eE")) != std::string_view::npos
            ? 0.0
            : std::numeric_limits<double>::infinity();
    if (std::isinf(v)) return false;  // Go reports ErrRange for overflow
  } else if (ec != std::errc()) {
    return false;
  }
  out = neg ? -v : v;
  return true;
}

Fault call(Builtin fn, Value* args, uint32_t n, Value& out) {
  switch (fn) {
    case Builtin::kAbs:
      if (args[0].type == Type::kInt) {
        out = Value::integer(args[0].i < 0 ? negWrap(args[0].i) : args[0].i);
      } else if (args[0].type == Type::kFloat) {
        out = Value::real(args[0].f < 0 ? -args[0].f : args[0].f);  // like Go: abs(-0.0) = -0.0
      } else {
        return Fault::kType;
      }
      return Fault::kNone;
    case Builtin::kCeil:
    case Builtin::kFloor:
    case Builtin::kRound: {
      if (!isNum(args[0].type)) return Fault::kType;
      double x = toF(args[0]);
      out = Value::real(fn == Builtin::kCeil    ? std::ceil(x)
                        : fn == Builtin::kFloor ? std::floor(x)
                                                : std::round(x));  // half away from zero, as Go
      return Fault::kNone;
    }
    case Builtin::kInt:
      if (args[0].type == Type::kInt) {
        out = args[0];
      } else if (args[0].type == Type::kFloat) {
        out = Value::integer(floatToInt(args[0].f));
      } else if (args[0].type == Type::kString) {
        int64_t v = 0;
        if (!parseGoInt(args[0].str(), v)) return Fault::kParse;
        out = Value::integer(v);
      } else {
        return Fault::kType;
      }
      return Fault::kNone;
    case Builtin::kFloat:
      if (isNum(args[0].type)) {
        out = Value::real(toF(args[0]));
      } else if (args[0].type == Type::kString) {
        double v = 0;
        if (!parseGoFloat(args[0].str(), v)) return Fault::kParse;
        out = Value::real(v);
      } else {
        return Fault::kType;
      }
      return Fault::kNone;
    case Builtin::kMax:
    case Builtin::kMin: {
      // expr-lang's minMax: keep the first value unless a later one is strictly better; the
      // winner keeps its type (max(1, 1.0) is the int 1).
      for (uint32_t i = 0; i < n; ++i) {
        if (!isNum(args[i].type)) return Fault::kType;
      }
      Value best = args[0];
      for (uint32_t i = 1; i < n; ++i) {
        bool better = fn == Builtin::kMax ? numLess(best, args[i]) : numLess(args[i], best);
        if (better) best = args[i];
      }
      out = best;
      return Fault::kNone;
    }
    case Builtin::kMean: {
      double sum = 0;
      for (uint32_t i = 0; i < n; ++i) {
        if (!isNum(args[i].type)) return Fault::kType;
        sum += toF(args[i]);
      }
      out = Value::real(sum / static_cast<double>(n));
      return Fault::kNone;
    }
    case Builtin::kMedian: {
      for (uint32_t i = 0; i < n; ++i) {
        if (!isNum(args[i].type)) return Fault::kType;
        args[i] = Value::real(toF(args[i]));  // sort in place on the VM stack
      }
      // Go's sort.Float64s order: NaN first.
      std::sort(args, args + n, [](const Value& a, const Value& b) {
        return a.f < b.f || (std::isnan(a.f) && !std::isnan(b.f));
      });
      out = n % 2 == 1 ? args[n / 2] : Value::real((args[n / 2 - 1].f + args[n / 2].f) / 2);
      return Fault::kNone;
    }
  }
  return Fault::kType;
}

}  // namespace

Status Program::execute(const std::optional<double>* values, Value& out, StringPool& arena) const {
  Value inlineStack[kInlineStack];
  Value inlineLocals[kInlineLocals];
  std::vector<Value> heapStack;
  std::vector<Value> heapLocals;
  Value* stack = inlineStack;
  Value* locals = inlineLocals;
  if (maxStack_ > kInlineStack) {
    heapStack.resize(maxStack_);
    stack = heapStack.data();
  }
  if (numLocals_ > kInlineLocals) {
    heapLocals.resize(numLocals_);
    locals = heapLocals.data();
  }

  uint32_t sp = 0;
  const Instr* code = code_.data();
  for (const Instr* next = code;;) {
    const Instr* in = next++;
    switch (in->code) {
      case Opcode::kConst:
        stack[sp++] = consts_[in->arg];
        break;
      case Opcode::kVar: {
        const std::optional<double>& v = values[in->arg];
        stack[sp++] = v.has_value() ? Value::real(*v) : Value::nil();
        break;
      }
      case Opcode::kLocal:
        stack[sp++] = locals[in->arg];
        break;
      case Opcode::kStore:
        locals[in->arg] = stack[--sp];
        break;
      case Opcode::kArith: {
        auto op = static_cast<Op>(in->sub);
        bool unary = op == Op::kNeg || op == Op::kPlus || op == Op::kNot;
        Value& target = stack[sp - (unary ? 1 : 2)];
        Value l = target;
        Value r = unary ? l : stack[sp - 1];
        Fault f = arith(op, l, r, target, arena);
        if (f != Fault::kNone) {
          if (f == Fault::kDivZero) return fail(in->pos, "integer divide by zero");
          if (unary) {
            return fail(in->pos,
                        "invalid operation: " + std::string(op == Op::kNot ? "not " : opName(op)) +
                            std::string(typeName(l.type)));
          }
          return fail(in->pos, "invalid operation: " + std::string(typeName(l.type)) + " " +
                                   std::string(opName(op)) + " " + std::string(typeName(r.type)));
        }
        if (!unary) --sp;
        break;
      }
      case Opcode::kJump:
        next = code + in->arg;
        break;
      case Opcode::kJumpIfFalseKeep:
      case Opcode::kJumpIfTrueKeep: {
        const Value& v = stack[sp - 1];
        if (v.type != Type::kBool) {
          return fail(in->pos, std::string("invalid operation: ") +
                                   (in->code == Opcode::kJumpIfFalseKeep ? "and" : "or") + " on " +
                                   std::string(typeName(v.type)) + " (bool expected)");
        }
        if (v.b == (in->code == Opcode::kJumpIfTrueKeep)) {
          next = code + in->arg;
        } else {
          --sp;
        }
        break;
      }
      case Opcode::kCheckBool:
        if (stack[sp - 1].type != Type::kBool) {
          return fail(in->pos, "invalid operation: and/or on " +
                                   std::string(typeName(stack[sp - 1].type)) + " (bool expected)");
        }
        break;
      case Opcode::kJumpIfFalsePop: {
        const Value& v = stack[--sp];
        if (v.type != Type::kBool) {
          return fail(in->pos, "non-bool expression (type " + std::string(typeName(v.type)) +
                                   ") used as condition");
        }
        if (!v.b) next = code + in->arg;
        break;
      }
      case Opcode::kJumpIfNotNil:
        if (stack[sp - 1].type != Type::kNil) {
          next = code + in->arg;
        } else {
          --sp;
        }
        break;
      case Opcode::kCall: {
        uint32_t n = in->arg;
        Value* args = stack + sp - n;
        Value result;
        auto fn = static_cast<Builtin>(in->sub);
        Fault f = call(fn, args, n, result);
        if (f != Fault::kNone) {
          if (f == Fault::kParse) {
            return fail(in->pos, "invalid operation: " + std::string(builtinName(fn)) + "(" +
                                     std::string(args[0].str()) + ")");
          }
          std::string_view bad = "?";
          for (uint32_t i = 0; i < n; ++i) {
            if (!isNum(args[i].type)) {
              bad = typeName(args[i].type);
              break;
            }
          }
          return fail(in->pos, "invalid argument for " + std::string(builtinName(fn)) + " (type " +
                                   std::string(bad) + ")");
        }
        sp -= n;
        stack[sp++] = result;
        break;
      }
      case Opcode::kReturn:
        out = stack[sp - 1];
        return Status::ok();
    }
  }
}

}  // namespace updraft::formula
