// Internals of updraft::Formula: values, AST, bytecode. Not a public header.
//
// Pipeline: lexer + parser (formula_parser.cc) build a flat AST with every name already resolved to
// a slot; the checker (formula_compile.cc) infers the set of possible types of every node and
// rejects operations that can never succeed; the code generator turns the AST into a compact stack
// bytecode that the VM (formula_vm.cc) runs without recursion and without heap allocation in the
// all-number path.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "updraft/status.h"

namespace updraft::formula {

// The dynamic types of expr-lang values that the supported subset can produce.
enum class Type : uint8_t { kNil, kBool, kInt, kFloat, kString };

// A set of Types (bit i = Type i). The checker works on sets because a ternary, `??` or a nil-able
// variable can yield different types; an operation is a compile error only when no combination of
// the operands' possible types is valid (expr-lang does the same with its `interface{}` type).
using TypeMask = uint8_t;
constexpr TypeMask maskOf(Type t) { return static_cast<TypeMask>(1u << static_cast<unsigned>(t)); }
constexpr TypeMask kNumberMask = maskOf(Type::kInt) | maskOf(Type::kFloat);

std::string_view typeName(Type t);
std::string maskName(TypeMask mask);

// A value on the VM stack. Trivial on purpose: the VM keeps its stack in uninitialised local
// storage. Strings point into the program's literal pool or the per-call concatenation arena.
struct Value {
  Type type;
  uint32_t len;  // string length
  union {
    bool b;
    int64_t i;
    double f;
    const char* s;
  };

  static Value nil() {
    Value v;
    v.type = Type::kNil;
    v.len = 0;
    v.i = 0;
    return v;
  }
  static Value boolean(bool x) {
    Value v;
    v.type = Type::kBool;
    v.len = 0;
    v.i = 0;
    v.b = x;
    return v;
  }
  static Value integer(int64_t x) {
    Value v;
    v.type = Type::kInt;
    v.len = 0;
    v.i = x;
    return v;
  }
  static Value real(double x) {
    Value v;
    v.type = Type::kFloat;
    v.len = 0;
    v.f = x;
    return v;
  }
  static Value string(std::string_view x) {
    Value v;
    v.type = Type::kString;
    v.len = static_cast<uint32_t>(x.size());
    v.s = x.data();
    return v;
  }
  std::string_view str() const { return {s, len}; }
};

// Operators of unary and binary nodes; also the arithmetic opcodes of the VM.
enum class Op : uint8_t {
  kNeg,
  kPlus,
  kNot,
  kAdd,
  kSub,
  kMul,
  kDiv,
  kMod,
  kPow,
  kEq,
  kNe,
  kLt,
  kLe,
  kGt,
  kGe,
};
std::string_view opName(Op op);

// Supported builtins (expr-lang's numeric builtins).
enum class Builtin : uint8_t {
  kAbs,
  kCeil,
  kFloor,
  kRound,
  kInt,
  kFloat,
  kMax,
  kMin,
  kMean,
  kMedian
};
std::string_view builtinName(Builtin fn);

enum class NodeKind : uint8_t {
  kConst,     // slot = constant index
  kVar,       // slot = index into the caller's values
  kLocal,     // slot = `let` local index
  kUnary,     // op, a
  kBinary,    // op, a, b
  kAnd,       // a, b (short-circuit)
  kOr,        // a, b (short-circuit)
  kCond,      // a ? b : c
  kCoalesce,  // a ?? b
  kLet,       // slot = local, a = value, b = body
  kCall,      // fn, slot = first index into Ast::args, count
};

struct Node {
  NodeKind kind;
  uint8_t op = 0;    // Op or Builtin
  uint32_t pos = 0;  // byte offset in the source, for messages
  int32_t a = -1;
  int32_t b = -1;
  int32_t c = -1;
  uint32_t slot = 0;
  uint32_t count = 0;
  uint32_t height = 1;  // longest path to a leaf; bounded so later passes may recurse
};

// Owns string literals with stable addresses (Values point into them).
using StringPool = std::vector<std::unique_ptr<std::string>>;

struct Ast {
  std::vector<Node> nodes;
  std::vector<int32_t> args;  // call arguments, contiguous per call
  std::vector<Value> consts;
  StringPool strings;
  uint32_t numLocals = 0;
  int32_t root = -1;
};

// Nesting limit for parser recursion and AST height (a guard against stack overflow on hostile
// input such as 100k '(').
constexpr uint32_t kMaxDepth = 256;

// Parses `source`, resolving identifiers against `variables` and `let` scopes.
Status parse(std::string_view source, const std::vector<std::string>& variables, Ast& ast);

// "(line:col)" for a byte offset, 1-based, columns counted in UTF-8 code points like expr-lang.
std::string positionOf(std::string_view source, uint32_t offset);

enum class Opcode : uint8_t {
  kConst,
  kVar,
  kLocal,
  kStore,
  kArith,            // op in `sub`
  kJump,             // pc = arg
  kJumpIfFalseKeep,  // `and`: bool required; false -> jump keeping it, true -> pop
  kJumpIfTrueKeep,   // `or`
  kJumpIfFalsePop,   // ternary condition: bool required, popped
  kJumpIfNotNil,     // `??`: non-nil -> jump keeping it, nil -> pop
  kCheckBool,        // right operand of and/or
  kCall,             // builtin `sub`, arg = argument count
  kReturn,
};

struct Instr {
  Opcode code;
  uint8_t sub = 0;
  uint32_t arg = 0;
  uint32_t pos = 0;
};

class Program {
 public:
  // Type-checks the AST and generates code. `source` is kept for error positions.
  static Result<Program> build(std::string source, Ast ast);

  // Runs with values[i] bound to variable i. On success `out` holds the result (which may point
  // into `arena` when it is a concatenated string).
  Status execute(const std::optional<double>* values, Value& out, StringPool& arena) const;

  const std::string& source() const { return source_; }
  TypeMask resultMask() const { return resultMask_; }

 private:
  Status fail(uint32_t pos, std::string message) const;

  std::string source_;
  std::vector<Instr> code_;
  std::vector<Value> consts_;
  StringPool strings_;
  uint32_t numLocals_ = 0;
  uint32_t maxStack_ = 0;
  TypeMask resultMask_ = 0;
};

}  // namespace updraft::formula
