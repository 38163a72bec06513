// Type checking and code generation for formulas.
//
// Static types follow KEDA: the webhook compiles the formula with every trigger bound to a float64,
// so variables are `float` for the checker (at run time they may also be nil). An operation is
// rejected at compile time when no combination of its operands' possible types is valid, which is
// what expr-lang's checker does for concrete types.
#include <algorithm>
#include <utility>

#include "formula_internal.h"

namespace updraft::formula {

std::string_view typeName(Type t) {
  switch (t) {
    case Type::kNil:
      return "nil";
    case Type::kBool:
      return "bool";
    case Type::kInt:
      return "int";
    case Type::kFloat:
      return "float";
    case Type::kString:
      return "string";
  }
  return "?";
}

std::string maskName(TypeMask mask) {
  std::string out;
  for (unsigned t = 0; t <= static_cast<unsigned>(Type::kString); ++t) {
    if ((mask & maskOf(static_cast<Type>(t))) == 0) continue;
    if (!out.empty()) out += "|";
    out += typeName(static_cast<Type>(t));
  }
  return out.empty() ? "none" : out;
}

std::string_view opName(Op op) {
  switch (op) {
    case Op::kNeg:
      return "-";
    case Op::kPlus:
      return "+";
    case Op::kNot:
      return "!";
    case Op::kAdd:
      return "+";
    case Op::kSub:
      return "-";
    case Op::kMul:
      return "*";
    case Op::kDiv:
      return "/";
    case Op::kMod:
      return "%";
    case Op::kPow:
      return "**";
    case Op::kEq:
      return "==";
    case Op::kNe:
      return "!=";
    case Op::kLt:
      return "<";
    case Op::kLe:
      return "<=";
    case Op::kGt:
      return ">";
    case Op::kGe:
      return ">=";
  }
  return "?";
}

std::string_view builtinName(Builtin fn) {
  switch (fn) {
    case Builtin::kAbs:
      return "abs";
    case Builtin::kCeil:
      return "ceil";
    case Builtin::kFloor:
      return "floor";
    case Builtin::kRound:
      return "round";
    case Builtin::kInt:
      return "int";
    case Builtin::kFloat:
      return "float";
    case Builtin::kMax:
      return "max";
    case Builtin::kMin:
      return "min";
    case Builtin::kMean:
      return "mean";
    case Builtin::kMedian:
      return "median";
  }
  return "?";
}

namespace {

bool isNumber(Type t) { return t == Type::kInt || t == Type::kFloat; }

// Result type of a binary operator on concrete operand types, or nullopt when invalid. The VM
// implements exactly these rules.
std::optional<Type> binaryResult(Op op, Type l, Type r) {
  bool nums = isNumber(l) && isNumber(r);
  bool ints = l == Type::kInt && r == Type::kInt;
  switch (op) {
    case Op::kAdd:
      if (ints) return Type::kInt;
      if (nums) return Type::kFloat;
      if (l == Type::kString && r == Type::kString) return Type::kString;
      return std::nullopt;
    case Op::kSub:
    case Op::kMul:
      if (ints) return Type::kInt;
      if (nums) return Type::kFloat;
      return std::nullopt;
    case Op::kDiv:
    case Op::kPow:
      if (nums) return Type::kFloat;
      return std::nullopt;
    case Op::kMod:
      if (ints) return Type::kInt;
      return std::nullopt;
    case Op::kEq:
    case Op::kNe:
      // expr-lang's isComparable: same type, two numbers, or nil on either side.
      if (l == r || nums || l == Type::kNil || r == Type::kNil) return Type::kBool;
      return std::nullopt;
    case Op::kLt:
    case Op::kLe:
    case Op::kGt:
    case Op::kGe:
      if (nums || (l == Type::kString && r == Type::kString)) return Type::kBool;
      return std::nullopt;
    default:
      return std::nullopt;
  }
}

std::optional<Type> unaryResult(Op op, Type t) {
  if (op == Op::kNot) return t == Type::kBool ? std::optional<Type>(Type::kBool) : std::nullopt;
  return isNumber(t) ? std::optional<Type>(t) : std::nullopt;
}

class Compiler {
 public:
  Compiler(const std::string& source, const Ast& ast) : source_(source), ast_(ast) {
    locals_.assign(ast.numLocals, 0);
  }

  Status check(int32_t index, TypeMask& out) {
    const Node& n = ast_.nodes[static_cast<size_t>(index)];
    switch (n.kind) {
      case NodeKind::kConst:
        out = maskOf(ast_.consts[n.slot].type);
        return Status::ok();
      case NodeKind::kVar:
        out = maskOf(Type::kFloat);
        return Status::ok();
      case NodeKind::kLocal:
        out = locals_[n.slot];
        return Status::ok();
      case NodeKind::kUnary: {
        TypeMask m;
        UPDRAFT_RETURN_IF_ERROR(check(n.a, m));
        out = 0;
        forEach(m, [&](Type t) {
          if (auto r = unaryResult(static_cast<Op>(n.op), t)) out |= maskOf(*r);
        });
        if (out == 0) {
          std::string op = static_cast<Op>(n.op) == Op::kNot
                               ? "not"
                               : std::string(opName(static_cast<Op>(n.op)));
          return fail(n.pos, "invalid operation: " + op + " (mismatched type " + maskName(m) + ")");
        }
        return Status::ok();
      }
      case NodeKind::kBinary: {
        TypeMask l;
        TypeMask r;
        UPDRAFT_RETURN_IF_ERROR(check(n.a, l));
        UPDRAFT_RETURN_IF_ERROR(check(n.b, r));
        out = 0;
        forEach(l, [&](Type tl) {
          forEach(r, [&](Type tr) {
            if (auto res = binaryResult(static_cast<Op>(n.op), tl, tr)) out |= maskOf(*res);
          });
        });
        if (out == 0) {
          return fail(n.pos, "invalid operation: " + std::string(opName(static_cast<Op>(n.op))) +
                                 " (mismatched types " + maskName(l) + " and " + maskName(r) + ")");
        }
        return Status::ok();
      }
      case NodeKind::kAnd:
      case NodeKind::kOr: {
        TypeMask l;
        TypeMask r;
        UPDRAFT_RETURN_IF_ERROR(check(n.a, l));
        UPDRAFT_RETURN_IF_ERROR(check(n.b, r));
        if ((l & maskOf(Type::kBool)) == 0 || (r & maskOf(Type::kBool)) == 0) {
          return fail(n.pos, std::string("invalid operation: ") +
                                 (n.kind == NodeKind::kAnd ? "and" : "or") + " (mismatched types " +
                                 maskName(l) + " and " + maskName(r) + ")");
        }
        out = maskOf(Type::kBool);
        return Status::ok();
      }
      case NodeKind::kCond: {
        TypeMask c;
        TypeMask y;
        TypeMask no;
        UPDRAFT_RETURN_IF_ERROR(check(n.a, c));
        if ((c & maskOf(Type::kBool)) == 0) {
          return fail(n.pos, "non-bool expression (type " + maskName(c) + ") used as condition");
        }
        UPDRAFT_RETURN_IF_ERROR(check(n.b, y));
        UPDRAFT_RETURN_IF_ERROR(check(n.c, no));
        out = y | no;
        return Status::ok();
      }
      case NodeKind::kCoalesce: {
        TypeMask l;
        TypeMask r;
        UPDRAFT_RETURN_IF_ERROR(check(n.a, l));
        UPDRAFT_RETURN_IF_ERROR(check(n.b, r));
        out = static_cast<TypeMask>((l & ~maskOf(Type::kNil)) | r);
        return Status::ok();
      }
      case NodeKind::kLet: {
        TypeMask v;
        UPDRAFT_RETURN_IF_ERROR(check(n.a, v));
        locals_[n.slot] = v;
        return check(n.b, out);
      }
      case NodeKind::kCall:
        return checkCall(n, out);
    }
    return fail(n.pos, "internal error: unknown node");
  }

  Status checkCall(const Node& n, TypeMask& out) {
    auto fn = static_cast<Builtin>(n.op);
    std::string name(builtinName(fn));
    bool variadic = fn == Builtin::kMax || fn == Builtin::kMin || fn == Builtin::kMean ||
                    fn == Builtin::kMedian;
    if (variadic && n.count == 0) return fail(n.pos, "not enough arguments to call " + name);
    if (!variadic && n.count != 1) {
      return fail(n.pos, "invalid number of arguments for " + name + " (expected 1, got " +
                             std::to_string(n.count) + ")");
    }
    TypeMask allowed = kNumberMask;
    if (fn == Builtin::kInt || fn == Builtin::kFloat) allowed |= maskOf(Type::kString);
    out = 0;
    for (uint32_t i = 0; i < n.count; ++i) {
      TypeMask m;
      int32_t arg = ast_.args[n.slot + i];
      UPDRAFT_RETURN_IF_ERROR(check(arg, m));
      if ((m & allowed) == 0) {
        return fail(ast_.nodes[static_cast<size_t>(arg)].pos,
                    "invalid argument for " + name + " (type " + maskName(m) + ")");
      }
      out |= static_cast<TypeMask>(m & kNumberMask);
    }
    switch (fn) {
      case Builtin::kAbs:
      case Builtin::kMax:
      case Builtin::kMin:
        if (out == 0) out = kNumberMask;
        break;
      case Builtin::kInt:
        out = maskOf(Type::kInt);
        break;
      default:
        out = maskOf(Type::kFloat);
        break;
    }
    return Status::ok();
  }

  void gen(int32_t index) {
    const Node& n = ast_.nodes[static_cast<size_t>(index)];
    switch (n.kind) {
      case NodeKind::kConst:
        emit(Opcode::kConst, 0, n.slot, n.pos);
        push(1);
        break;
      case NodeKind::kVar:
        emit(Opcode::kVar, 0, n.slot, n.pos);
        push(1);
        break;
      case NodeKind::kLocal:
        emit(Opcode::kLocal, 0, n.slot, n.pos);
        push(1);
        break;
      case NodeKind::kUnary:
        gen(n.a);
        emit(Opcode::kArith, n.op, 0, n.pos);
        break;
      case NodeKind::kBinary:
        gen(n.a);
        gen(n.b);
        emit(Opcode::kArith, n.op, 0, n.pos);
        depth_ -= 1;
        break;
      case NodeKind::kAnd:
      case NodeKind::kOr: {
        gen(n.a);
        size_t jump =
            emit(n.kind == NodeKind::kAnd ? Opcode::kJumpIfFalseKeep : Opcode::kJumpIfTrueKeep, 0,
                 0, n.pos);
        depth_ -= 1;
        gen(n.b);
        emit(Opcode::kCheckBool, 0, 0, n.pos);
        patch(jump);
        break;
      }
      case NodeKind::kCond: {
        gen(n.a);
        size_t toElse = emit(Opcode::kJumpIfFalsePop, 0, 0, n.pos);
        depth_ -= 1;
        uint32_t base = depth_;
        gen(n.b);
        size_t toEnd = emit(Opcode::kJump, 0, 0, n.pos);
        patch(toElse);
        depth_ = base;
        gen(n.c);
        patch(toEnd);
        break;
      }
      case NodeKind::kCoalesce: {
        gen(n.a);
        size_t jump = emit(Opcode::kJumpIfNotNil, 0, 0, n.pos);
        depth_ -= 1;
        gen(n.b);
        patch(jump);
        break;
      }
      case NodeKind::kLet:
        gen(n.a);
        emit(Opcode::kStore, 0, n.slot, n.pos);
        depth_ -= 1;
        gen(n.b);
        break;
      case NodeKind::kCall:
        for (uint32_t i = 0; i < n.count; ++i) gen(ast_.args[n.slot + i]);
        emit(Opcode::kCall, n.op, n.count, n.pos);
        depth_ = depth_ - n.count + 1;
        break;
    }
  }

  std::vector<Instr> takeCode() { return std::move(code_); }
  uint32_t maxStack() const { return maxDepth_; }
  size_t emit(Opcode op, uint8_t sub, uint32_t arg, uint32_t pos) {
    Instr in;
    in.code = op;
    in.sub = sub;
    in.arg = arg;
    in.pos = pos;
    code_.push_back(in);
    return code_.size() - 1;
  }

 private:
  template <typename F>
  static void forEach(TypeMask m, F&& f) {
    for (unsigned t = 0; t <= static_cast<unsigned>(Type::kString); ++t) {
      if ((m & maskOf(static_cast<Type>(t))) != 0) f(static_cast<Type>(t));
    }
  }

  Status fail(uint32_t pos, std::string message) const {
    return Status::invalidArgument(std::move(message) + " " + positionOf(source_, pos));
  }

  void push(uint32_t n) {
    depth_ += n;
    maxDepth_ = std::max(maxDepth_, depth_);
  }
  void patch(size_t jump) { code_[jump].arg = static_cast<uint32_t>(code_.size()); }

  const std::string& source_;
  const Ast& ast_;
  std::vector<TypeMask> locals_;
  std::vector<Instr> code_;
  uint32_t depth_ = 0;
  uint32_t maxDepth_ = 0;
};

}  // namespace

Result<Program> Program::build(std::string source, Ast ast) {
  Program p;
  p.source_ = std::move(source);
  Compiler c(p.source_, ast);
  TypeMask result = 0;
  UPDRAFT_RETURN_IF_ERROR(c.check(ast.root, result));
  c.gen(ast.root);
  c.emit(Opcode::kReturn, 0, 0, 0);
  p.code_ = c.takeCode();
  p.maxStack_ = c.maxStack();
  p.resultMask_ = result;
  p.consts_ = std::move(ast.consts);
  p.strings_ = std::move(ast.strings);  // constants point into these strings; moving keeps them
  p.numLocals_ = ast.numLocals;
  return p;
}

Status Program::fail(uint32_t pos, std::string message) const {
  return Status::invalidArgument(std::move(message) + " " + positionOf(source_, pos));
}

}  // namespace updraft::formula
