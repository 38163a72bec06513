// Lexer and parser for the expr-lang subset of scalingModifiers formulas. Follows expr-lang's
// parser (github.com/expr-lang/expr, parser/parser.go and parser/lexer): the same tokens, the same
// precedence climbing, comparison chaining (`a < b < c` is `a < b && b < c`), the `??` mixing
// rule, `let` and the ternary (including `a ?: b`). Names are resolved to slots while parsing.
#include <algorithm>
#include <charconv>
#include <cstdio>
#include <string>
#include <utility>

#include "formula_internal.h"

namespace updraft::formula {
namespace {

enum class TokKind : uint8_t { kEof, kNumber, kString, kIdent, kOperator, kBracket };

struct Token {
  TokKind kind = TokKind::kEof;
  std::string_view text;  // source text (operators, identifiers, numbers, brackets)
  uint32_t pos = 0;
  int32_t str = -1;  // index of the unescaped value in the string pool (strings only)

  bool is(TokKind k) const { return kind == k; }
  bool is(TokKind k, std::string_view t) const { return kind == k && text == t; }
};

bool isIdentChar(char c) {
  auto u = static_cast<unsigned char>(c);
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '$' || u >= 0x80;  // non-ASCII: treated as letters (expr-lang accepts Unicode ones)
}
bool isDigit(char c) { return c >= '0' && c <= '9'; }
bool isSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}
bool contains(std::string_view set, char c) {
  return c != '\0' && set.find(c) != std::string_view::npos;
}

void appendUtf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

int hexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

class Lexer {
 public:
  Lexer(std::string_view src, StringPool& pool) : src_(src), pool_(pool) {}

  Status run(std::vector<Token>& out) {
    while (true) {
      while (pos_ < src_.size() && isSpace(src_[pos_])) ++pos_;
      if (pos_ >= src_.size()) break;
      size_t start = pos_;
      char c = src_[pos_];
      if (c == '\'' || c == '"') {
        UPDRAFT_RETURN_IF_ERROR(scanString(c, out));
        continue;
      }
      if (c == '`') {
        size_t end = src_.find('`', pos_ + 1);
        if (end == std::string_view::npos) return error(src_.size(), "literal not terminated");
        pushString(start, std::string(src_.substr(pos_ + 1, end - pos_ - 1)), out);
        pos_ = end + 1;
        continue;
      }
      if (isDigit(c) || (c == '.' && pos_ + 1 < src_.size() && isDigit(src_[pos_ + 1]))) {
        UPDRAFT_RETURN_IF_ERROR(scanNumber(out));
        continue;
      }
      if (c == '/' && pos_ + 1 < src_.size() && src_[pos_ + 1] == '/') {
        size_t end = src_.find('\n', pos_);
        pos_ = end == std::string_view::npos ? src_.size() : end;
        continue;
      }
      if (c == '/' && pos_ + 1 < src_.size() && src_[pos_ + 1] == '*') {
        size_t end = src_.find("*/", pos_ + 2);
        if (end == std::string_view::npos) return error(src_.size(), "unclosed comment");
        pos_ = end + 2;
        continue;
      }
      if (isIdentChar(c)) {
        while (pos_ < src_.size() && isIdentChar(src_[pos_])) ++pos_;
        std::string_view word = src_.substr(start, pos_ - start);
        static constexpr std::string_view kWordOperators[] = {
            "not",        "in",       "or",  "and", "matches", "contains",
            "startsWith", "endsWith", "let", "if",  "else"};
        bool isOp = std::find(std::begin(kWordOperators), std::end(kWordOperators), word) !=
                    std::end(kWordOperators);
        push(isOp ? TokKind::kOperator : TokKind::kIdent, start, out);
        continue;
      }
      ++pos_;
      switch (c) {
        case '?':  // ?  ??  ?.
          accept(".?");
          push(TokKind::kOperator, start, out);
          break;
        case '#':
          accept("#");
          push(TokKind::kOperator, start, out);
          break;
        case '|':
          accept("|");
          push(TokKind::kOperator, start, out);
          break;
        case ':':
          accept(":");
          push(TokKind::kOperator, start, out);
          break;
        case '.':
          accept(".");
          push(TokKind::kOperator, start, out);
          break;
        case '(':
        case '[':
        case '{':
        case ')':
        case ']':
        case '}':
          push(TokKind::kBracket, start, out);
          break;
        case ',':
        case ';':
        case '%':
        case '+':
        case '-':
        case '^':
        case '/':
          push(TokKind::kOperator, start, out);
          break;
        case '&':
        case '!':
        case '=':
        case '*':
        case '<':
        case '>':  // possibly a two-character operator, exactly as expr-lang's lexer
          accept("&=*");
          push(TokKind::kOperator, start, out);
          break;
        default: {
          char buf[48];
          auto u = static_cast<unsigned>(static_cast<unsigned char>(c));
          if (u >= 0x20 && u < 0x7F) {
            std::snprintf(buf, sizeof buf, "unrecognized character: U+%04X '%c'", u, c);
          } else {
            std::snprintf(buf, sizeof buf, "unrecognized character: U+%04X", u);
          }
          return error(start, buf);
        }
      }
    }
    Token eof;
    eof.kind = TokKind::kEof;
    eof.pos = static_cast<uint32_t>(src_.size());
    out.push_back(eof);
    return Status::ok();
  }

 private:
  Status error(size_t pos, std::string_view message) const {
    return Status::invalidArgument(std::string(message) + " " +
                                   positionOf(src_, static_cast<uint32_t>(pos)));
  }

  bool accept(std::string_view set) {
    if (pos_ < src_.size() && contains(set, src_[pos_])) {
      ++pos_;
      return true;
    }
    return false;
  }
  void acceptRun(std::string_view set) {
    while (accept(set)) {
    }
  }

  void push(TokKind kind, size_t start, std::vector<Token>& out) const {
    Token t;
    t.kind = kind;
    t.text = src_.substr(start, pos_ - start);
    t.pos = static_cast<uint32_t>(start);
    out.push_back(t);
  }

  void pushString(size_t start, std::string value, std::vector<Token>& out) {
    pool_.push_back(std::make_unique<std::string>(std::move(value)));
    Token t;
    t.kind = TokKind::kString;
    t.text = src_.substr(start, 1);
    t.pos = static_cast<uint32_t>(start);
    t.str = static_cast<int32_t>(pool_.size() - 1);
    out.push_back(t);
  }

  // expr-lang's scanNumber: 0x/0o/0b prefixes, '_' separators, fraction, exponent; the number must
  // not be followed by a letter or digit. Conversion happens in the parser.
  Status scanNumber(std::vector<Token>& out) {
    size_t start = pos_;
    std::string_view digits = "0123456789_";
    if (accept("0")) {
      if (accept("xX")) {
        digits = "0123456789abcdefABCDEF_";
      } else if (accept("oO")) {
        digits = "01234567_";
      } else if (accept("bB")) {
        digits = "01_";
      }
    }
    acceptRun(digits);
    size_t end = pos_;
    bool range = false;
    if (accept(".")) {
      if (pos_ < src_.size() && src_[pos_] == '.') {  // `1..2`: a range operator follows
        pos_ = end;
        range = true;
      } else {
        acceptRun(digits);
      }
    }
    if (!range && accept("eE")) {
      accept("+-");
      acceptRun(digits);
    }
    if (pos_ < src_.size() && isIdentChar(src_[pos_])) {
      ++pos_;
      return error(pos_ - 1,
                   "bad number syntax: \"" + std::string(src_.substr(start, pos_ - start)) + "\"");
    }
    push(TokKind::kNumber, start, out);
    return Status::ok();
  }

  Status scanString(char quote, std::vector<Token>& out) {
    size_t start = pos_++;
    std::string value;
    while (true) {
      if (pos_ >= src_.size() || src_[pos_] == '\n') return error(pos_, "literal not terminated");
      char c = src_[pos_++];
      if (c == quote) break;
      if (c != '\\') {
        value += c;
        continue;
      }
      if (pos_ >= src_.size()) return error(pos_, "literal not terminated");
      char e = src_[pos_++];
      switch (e) {
        case 'a':
          value += '\a';
          break;
        case 'b':
          value += '\b';
          break;
        case 'f':
          value += '\f';
          break;
        case 'n':
          value += '\n';
          break;
        case 'r':
          value += '\r';
          break;
        case 't':
          value += '\t';
          break;
        case 'v':
          value += '\v';
          break;
        case '\\':
          value += '\\';
          break;
        case '\'':
          value += '\'';
          break;
        case '"':
          value += '"';
          break;
        case 'x':
        case 'u':
        case 'U': {
          int n = e == 'x' ? 2 : e == 'u' ? 4 : 8;
          uint32_t cp = 0;
          for (int i = 0; i < n; ++i) {
            int h = pos_ < src_.size() ? hexValue(src_[pos_]) : -1;
            if (h < 0) return error(pos_, "invalid char escape");
            cp = cp * 16 + static_cast<uint32_t>(h);
            ++pos_;
          }
          if (e == 'x') {
            value += static_cast<char>(cp);
          } else {
            if (cp > 0x10FFFF || (cp >= 0xD800 && cp < 0xE000)) {
              return error(pos_ - 1, "invalid char escape");
            }
            appendUtf8(value, cp);
          }
          break;
        }
        default:
          if (e >= '0' && e <= '7') {
            uint32_t v = static_cast<uint32_t>(e - '0');
            for (int i = 0; i < 2; ++i) {
              if (pos_ >= src_.size() || src_[pos_] < '0' || src_[pos_] > '7') {
                return error(pos_, "invalid char escape");
              }
              v = v * 8 + static_cast<uint32_t>(src_[pos_++] - '0');
            }
            if (v > 255) return error(pos_ - 1, "invalid char escape");
            value += static_cast<char>(v);
            break;
          }
          return error(pos_ - 1, "invalid char escape");
      }
    }
    pushString(start, std::move(value), out);
    return Status::ok();
  }

  std::string_view src_;
  StringPool& pool_;
  size_t pos_ = 0;
};

struct BinaryInfo {
  std::string_view text;
  int precedence;
  bool rightAssoc;
  bool supported;
  Op op;
};

// expr-lang's parser/operator table. Unsupported operators are listed so that they get a clear
// message instead of "unexpected token".
constexpr BinaryInfo kBinary[] = {
    {"|", 0, false, false, Op::kAdd},
    {"or", 10, false, true, Op::kAdd},
    {"||", 10, false, true, Op::kAdd},
    {"and", 15, false, true, Op::kAdd},
    {"&&", 15, false, true, Op::kAdd},
    {"==", 20, false, true, Op::kEq},
    {"!=", 20, false, true, Op::kNe},
    {"<", 20, false, true, Op::kLt},
    {">", 20, false, true, Op::kGt},
    {">=", 20, false, true, Op::kGe},
    {"<=", 20, false, true, Op::kLe},
    {"in", 20, false, false, Op::kAdd},
    {"matches", 20, false, false, Op::kAdd},
    {"contains", 20, false, false, Op::kAdd},
    {"startsWith", 20, false, false, Op::kAdd},
    {"endsWith", 20, false, false, Op::kAdd},
    {"..", 25, false, false, Op::kAdd},
    {"+", 30, false, true, Op::kAdd},
    {"-", 30, false, true, Op::kSub},
    {"*", 60, false, true, Op::kMul},
    {"/", 60, false, true, Op::kDiv},
    {"%", 60, false, true, Op::kMod},
    {"**", 100, true, true, Op::kPow},
    {"^", 100, true, true, Op::kPow},
    {"??", 500, false, true, Op::kAdd},
};

const BinaryInfo* findBinary(std::string_view text) {
  for (const auto& b : kBinary) {
    if (b.text == text) return &b;
  }
  return nullptr;
}

bool isNegatableSuffix(std::string_view t) {
  return t == "in" || t == "matches" || t == "contains" || t == "startsWith" || t == "endsWith";
}

struct BuiltinInfo {
  std::string_view name;
  Builtin fn;
};
constexpr BuiltinInfo kBuiltins[] = {
    {"abs", Builtin::kAbs},       {"ceil", Builtin::kCeil}, {"floor", Builtin::kFloor},
    {"round", Builtin::kRound},   {"int", Builtin::kInt},   {"float", Builtin::kFloat},
    {"max", Builtin::kMax},       {"min", Builtin::kMin},   {"mean", Builtin::kMean},
    {"median", Builtin::kMedian},
};

// expr-lang builtins that take arrays, predicates (closures), maps, strings or times.
constexpr std::string_view kPredicateBuiltins[] = {
    "all",  "none",      "any",      "one",           "filter",  "map",    "count", "sum",
    "find", "findIndex", "findLast", "findLastIndex", "groupBy", "sortBy", "reduce"};
constexpr std::string_view kOtherBuiltins[] = {
    "len",         "type",      "string",     "trim",     "trimPrefix", "trimSuffix", "upper",
    "lower",       "split",     "splitAfter", "replace",  "repeat",     "join",       "indexOf",
    "lastIndexOf", "hasPrefix", "hasSuffix",  "toJSON",   "fromJSON",   "toBase64",   "fromBase64",
    "now",         "duration",  "date",       "timezone", "first",      "last",       "get",
    "take",        "keys",      "values",     "toPairs",  "fromPairs",  "sort",       "reverse",
    "uniq",        "concat",    "flatten",    "bitand",   "bitor",      "bitxor",     "bitnand",
    "bitnot",      "bitshl",    "bitshr",     "bitushr"};

template <size_t N>
bool inList(const std::string_view (&list)[N], std::string_view name) {
  return std::find(std::begin(list), std::end(list), name) != std::end(list);
}

const BuiltinInfo* findBuiltin(std::string_view name) {
  for (const auto& b : kBuiltins) {
    if (b.name == name) return &b;
  }
  return nullptr;
}

constexpr std::string_view kArraysUnsupported =
    "arrays, maps, member access and predicates/closures are not supported in Updraft formulas "
    "(only numbers, bools, strings and the functions abs, ceil, floor, round, int, float, max, "
    "min, "
    "mean, median)";

class Parser {
 public:
  Parser(std::string_view src, const std::vector<std::string>& variables, Ast& ast)
      : src_(src), variables_(variables), ast_(ast) {}

  Status run() {
    UPDRAFT_RETURN_IF_ERROR(Lexer(src_, ast_.strings).run(tokens_));
    cur_ = tokens_[0];
    int32_t root = parseExpression(0);
    if (err_.isOk() && !cur_.is(TokKind::kEof)) unexpected();
    if (!err_.isOk()) return err_;
    ast_.root = root;
    return Status::ok();
  }

 private:
  // ---- helpers -------------------------------------------------------------------------------

  bool failed() const { return !err_.isOk(); }

  void errorAt(uint32_t pos, std::string_view message) {
    if (err_.isOk()) {
      err_ = Status::invalidArgument(std::string(message) + " " + positionOf(src_, pos));
    }
  }

  void unexpected() {
    static constexpr std::string_view kKinds[] = {"EOF",        "Number",   "String",
                                                  "Identifier", "Operator", "Bracket"};
    if (cur_.is(TokKind::kEof)) {
      errorAt(cur_.pos, "unexpected end of expression");
      return;
    }
    std::string text = cur_.is(TokKind::kString) ? *ast_.strings[cur_.str] : std::string(cur_.text);
    errorAt(cur_.pos, "unexpected token " + std::string(kKinds[static_cast<int>(cur_.kind)]) +
                          "(\"" + text + "\")");
  }

  void next() {
    if (pos_ + 1 < tokens_.size()) ++pos_;
    cur_ = tokens_[pos_];
  }

  bool expect(TokKind kind, std::string_view text) {
    if (cur_.is(kind, text)) {
      next();
      return true;
    }
    unexpected();
    return false;
  }

  int32_t add(Node n) {
    if (failed()) return -1;
    uint32_t h = 0;
    auto child = [&](int32_t i) {
      if (i >= 0) h = std::max(h, ast_.nodes[static_cast<size_t>(i)].height);
    };
    child(n.a);
    child(n.b);
    child(n.c);
    if (n.kind == NodeKind::kCall) {
      for (uint32_t i = 0; i < n.count; ++i) child(ast_.args[n.slot + i]);
    }
    n.height = h + 1;
    if (n.height > kMaxDepth) {
      errorAt(n.pos,
              "expression is nested too deeply (limit " + std::to_string(kMaxDepth) + " levels)");
      return -1;
    }
    ast_.nodes.push_back(n);
    return static_cast<int32_t>(ast_.nodes.size() - 1);
  }

  int32_t constant(Value v, uint32_t pos) {
    ast_.consts.push_back(v);
    Node n{NodeKind::kConst};
    n.pos = pos;
    n.slot = static_cast<uint32_t>(ast_.consts.size() - 1);
    return add(n);
  }

  int32_t binary(NodeKind kind, Op op, int32_t l, int32_t r, uint32_t pos) {
    if (failed()) return -1;
    Node n{kind};
    n.op = static_cast<uint8_t>(op);
    n.a = l;
    n.b = r;
    n.pos = pos;
    return add(n);
  }

  // ---- grammar -------------------------------------------------------------------------------

  // Mirrors expr-lang's parseExpression (precedence climbing).
  int32_t parseExpression(int precedence) {
    if (failed()) return -1;
    if (++depth_ > kMaxDepth) {
      errorAt(cur_.pos,
              "expression is nested too deeply (limit " + std::to_string(kMaxDepth) + " levels)");
      --depth_;
      return -1;
    }
    int32_t result = parseExpressionBody(precedence);
    --depth_;
    return result;
  }

  int32_t parseExpressionBody(int precedence) {
    if (precedence == 0 && cur_.is(TokKind::kOperator, "let")) return parseLet();

    int32_t left = parsePrimary();
    std::string_view prevOperator;
    while (!failed() && cur_.is(TokKind::kOperator)) {
      Token opTok = cur_;
      if (opTok.text == "not") {
        Token after = pos_ + 1 < tokens_.size() ? tokens_[pos_ + 1] : cur_;
        if (after.is(TokKind::kOperator) && isNegatableSuffix(after.text)) {
          errorAt(opTok.pos, "operator not " + std::string(after.text) +
                                 " is not supported in Updraft formulas");
        } else {
          next();
          unexpected();
        }
        break;
      }
      const BinaryInfo* info = findBinary(opTok.text);
      if (info == nullptr || info->precedence < precedence) break;
      if (!info->supported) {
        errorAt(opTok.pos, "operator " + std::string(opTok.text) +
                               " is not supported in Updraft formulas (" +
                               std::string(kArraysUnsupported) + ")");
        break;
      }
      next();
      if (prevOperator == "??" && opTok.text != "??") {
        errorAt(opTok.pos, "Operator (" + std::string(opTok.text) +
                               ") and coalesce expressions (?\?) cannot be mixed. Wrap either by "
                               "parentheses.");
        break;
      }
      if (info->precedence == 20) {
        left = parseComparison(left, opTok, info->precedence);
      } else {
        int32_t right = parseExpression(info->rightAssoc ? info->precedence : info->precedence + 1);
        if (opTok.text == "or" || opTok.text == "||") {
          left = binary(NodeKind::kOr, Op::kAdd, left, right, opTok.pos);
        } else if (opTok.text == "and" || opTok.text == "&&") {
          left = binary(NodeKind::kAnd, Op::kAdd, left, right, opTok.pos);
        } else if (opTok.text == "??") {
          left = binary(NodeKind::kCoalesce, Op::kAdd, left, right, opTok.pos);
        } else {
          left = binary(NodeKind::kBinary, info->op, left, right, opTok.pos);
        }
      }
      prevOperator = opTok.text;
    }
    if (precedence == 0) left = parseConditional(left);
    return left;
  }

  // `a < b < c` is `a < b && b < c` (the middle operand is shared, as in expr-lang).
  int32_t parseComparison(int32_t left, Token opTok, int precedence) {
    int32_t root = -1;
    while (!failed()) {
      int32_t right = parseExpression(precedence + 1);
      int32_t cmp = binary(NodeKind::kBinary, findBinary(opTok.text)->op, left, right, opTok.pos);
      root = root < 0 ? cmp : binary(NodeKind::kAnd, Op::kAdd, root, cmp, opTok.pos);
      left = right;
      opTok = cur_;
      const BinaryInfo* info = opTok.is(TokKind::kOperator) ? findBinary(opTok.text) : nullptr;
      if (info == nullptr || info->precedence != 20) break;
      if (!info->supported) {
        errorAt(opTok.pos, "operator " + std::string(opTok.text) +
                               " is not supported in Updraft formulas (" +
                               std::string(kArraysUnsupported) + ")");
        break;
      }
      next();
    }
    return root;
  }

  int32_t parseConditional(int32_t node) {
    while (!failed() && cur_.is(TokKind::kOperator, "?")) {
      uint32_t pos = cur_.pos;
      next();
      int32_t yes;
      int32_t no;
      if (!cur_.is(TokKind::kOperator, ":")) {
        yes = parseExpression(0);
        if (!expect(TokKind::kOperator, ":")) return -1;
        no = parseExpression(0);
      } else {  // `a ?: b`
        next();
        yes = node;
        no = parseExpression(0);
      }
      if (failed()) return -1;
      Node n{NodeKind::kCond};
      n.a = node;
      n.b = yes;
      n.c = no;
      n.pos = pos;
      node = add(n);
    }
    return node;
  }

  int32_t parseLet() {
    next();  // let
    Token name = cur_;
    if (!cur_.is(TokKind::kIdent)) {
      unexpected();
      return -1;
    }
    std::string_view id = name.text;
    if (id == "true" || id == "false" || id == "nil") {
      errorAt(name.pos, "cannot redeclare " + std::string(id));
      return -1;
    }
    if (findBuiltin(id) != nullptr || inList(kPredicateBuiltins, id) ||
        inList(kOtherBuiltins, id)) {
      errorAt(name.pos, "cannot redeclare builtin " + std::string(id));
      return -1;
    }
    if (std::find(variables_.begin(), variables_.end(), id) != variables_.end()) {
      errorAt(name.pos, "cannot redeclare " + std::string(id));
      return -1;
    }
    for (const auto& scope : scopes_) {
      if (scope.first == id) {
        errorAt(name.pos, "cannot redeclare variable " + std::string(id));
        return -1;
      }
    }
    next();
    if (!expect(TokKind::kOperator, "=")) return -1;
    int32_t value = parseExpression(0);
    if (!expect(TokKind::kOperator, ";")) return -1;
    uint32_t slot = ast_.numLocals++;
    scopes_.emplace_back(id, slot);
    int32_t body = parseExpression(0);
    scopes_.pop_back();
    if (failed()) return -1;
    Node n{NodeKind::kLet};
    n.slot = slot;
    n.a = value;
    n.b = body;
    n.pos = name.pos;
    return add(n);
  }

  int32_t parsePrimary() {
    if (failed()) return -1;
    Token tok = cur_;
    if (tok.is(TokKind::kOperator)) {
      Op op;
      int precedence;
      if (tok.text == "not" || tok.text == "!") {
        op = Op::kNot;
        precedence = 50;
      } else if (tok.text == "-") {
        op = Op::kNeg;
        precedence = 90;
      } else if (tok.text == "+") {
        op = Op::kPlus;
        precedence = 90;
      } else if (tok.text == "#" || tok.text == "##" || tok.text == ".") {
        errorAt(tok.pos, "closure pointer " + std::string(tok.text) +
                             " is not supported: " + std::string(kArraysUnsupported));
        return -1;
      } else if (tok.text == "if") {
        errorAt(tok.pos,
                "if/else expressions are not supported in Updraft formulas; use "
                "`cond ? a : b`");
        return -1;
      } else {
        return parseSecondary();
      }
      next();
      int32_t operand = parseExpression(precedence);
      if (failed()) return -1;
      Node n{NodeKind::kUnary};
      n.op = static_cast<uint8_t>(op);
      n.a = operand;
      n.pos = tok.pos;
      return parsePostfix(add(n));
    }
    if (tok.is(TokKind::kBracket, "(")) {
      next();
      int32_t inner = parseExpression(0);
      if (!expect(TokKind::kBracket, ")")) return -1;
      return parsePostfix(inner);
    }
    return parseSecondary();
  }

  int32_t parseSecondary() {
    Token tok = cur_;
    int32_t node = -1;
    switch (tok.kind) {
      case TokKind::kIdent:
        next();
        if (tok.text == "true") return constant(Value::boolean(true), tok.pos);
        if (tok.text == "false") return constant(Value::boolean(false), tok.pos);
        if (tok.text == "nil") return constant(Value::nil(), tok.pos);
        node = cur_.is(TokKind::kBracket, "(") ? parseCall(tok) : identifier(tok);
        break;
      case TokKind::kNumber:
        next();
        return number(tok);
      case TokKind::kString:
        next();
        node = constant(Value::string(*ast_.strings[static_cast<size_t>(tok.str)]), tok.pos);
        break;
      default:
        if (tok.is(TokKind::kBracket, "[")) {
          errorAt(tok.pos, "array literals are not supported: " + std::string(kArraysUnsupported));
        } else if (tok.is(TokKind::kBracket, "{")) {
          errorAt(tok.pos, "map literals and closures are not supported: " +
                               std::string(kArraysUnsupported));
        } else {
          unexpected();
        }
        return -1;
    }
    return parsePostfix(node);
  }

  int32_t parsePostfix(int32_t node) {
    if (failed()) return -1;
    if (cur_.is(TokKind::kOperator, ".") || cur_.is(TokKind::kOperator, "?.") ||
        cur_.is(TokKind::kBracket, "[")) {
      errorAt(cur_.pos, "member access and indexing (" + std::string(cur_.text) +
                            ") are not supported: " + std::string(kArraysUnsupported));
      return -1;
    }
    return node;
  }

  int32_t identifier(const Token& tok) {
    for (auto it = scopes_.rbegin(); it != scopes_.rend(); ++it) {
      if (it->first == tok.text) {
        Node n{NodeKind::kLocal};
        n.slot = it->second;
        n.pos = tok.pos;
        return add(n);
      }
    }
    auto it = std::find(variables_.begin(), variables_.end(), tok.text);
    if (it == variables_.end()) {
      errorAt(tok.pos, "unknown name " + std::string(tok.text));
      return -1;
    }
    Node n{NodeKind::kVar};
    n.slot = static_cast<uint32_t>(it - variables_.begin());
    n.pos = tok.pos;
    return add(n);
  }

  int32_t parseCall(const Token& name) {
    const BuiltinInfo* fn = findBuiltin(name.text);
    if (fn == nullptr) {
      if (inList(kPredicateBuiltins, name.text) || inList(kOtherBuiltins, name.text)) {
        errorAt(name.pos, "function " + std::string(name.text) +
                              "() is not supported: " + std::string(kArraysUnsupported));
      } else {
        errorAt(name.pos, "unknown function " + std::string(name.text));
      }
      return -1;
    }
    next();  // (
    std::vector<int32_t> args;
    while (!failed() && !cur_.is(TokKind::kBracket, ")")) {
      if (!args.empty()) {
        if (!expect(TokKind::kOperator, ",")) return -1;
        if (cur_.is(TokKind::kBracket, ")")) break;  // trailing comma
      }
      args.push_back(parseExpression(0));
    }
    if (!expect(TokKind::kBracket, ")")) return -1;
    Node n{NodeKind::kCall};
    n.op = static_cast<uint8_t>(fn->fn);
    n.slot = static_cast<uint32_t>(ast_.args.size());
    n.count = static_cast<uint32_t>(args.size());
    n.pos = name.pos;
    ast_.args.insert(ast_.args.end(), args.begin(), args.end());
    return add(n);
  }

  // expr-lang's number conversion: underscores dropped; hex, then float (contains '.' or 'e'),
  // then binary, octal, decimal integer (int64).
  int32_t number(const Token& tok) {
    std::string text;
    for (char c : tok.text) {
      if (c != '_') text += c;
    }
    std::string lower = text;
    for (char& c : lower) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
    auto parseInt = [&](size_t skip, int base, std::string_view kind) -> int32_t {
      int64_t v = 0;
      const char* first = text.data() + skip;
      const char* last = text.data() + text.size();
      auto [ptr, ec] = std::from_chars(first, last, v, base);
      if (first == last || ec != std::errc() || ptr != last) {
        errorAt(tok.pos, "invalid " + std::string(kind) + " literal: " + std::string(tok.text));
        return -1;
      }
      return constant(Value::integer(v), tok.pos);
    };
    if (lower.rfind("0x", 0) == 0) return parseInt(2, 16, "hex");
    if (lower.find_first_of(".e") != std::string::npos) {
      double v = 0;
      const char* first = text.data();
      const char* last = text.data() + text.size();
      auto [ptr, ec] = std::from_chars(first, last, v);
      if (ec == std::errc::result_out_of_range && ptr == last &&
          lower.find("e-") != std::string::npos) {
        v = 0.0;  // underflow: Go's ParseFloat yields 0 without error
      } else if (ec != std::errc() || ptr != last) {
        errorAt(tok.pos, "invalid float literal: " + std::string(tok.text));
        return -1;
      }
      return constant(Value::real(v), tok.pos);
    }
    if (lower.rfind("0b", 0) == 0) return parseInt(2, 2, "binary");
    if (lower.rfind("0o", 0) == 0) return parseInt(2, 8, "octal");
    return parseInt(0, 10, "integer");
  }

  std::string_view src_;
  const std::vector<std::string>& variables_;
  Ast& ast_;
  std::vector<Token> tokens_;
  size_t pos_ = 0;
  Token cur_;
  uint32_t depth_ = 0;
  std::vector<std::pair<std::string_view, uint32_t>> scopes_;
  Status err_;
};

}  // namespace

std::string positionOf(std::string_view source, uint32_t offset) {
  uint32_t line = 1;
  uint32_t col = 1;
  for (uint32_t i = 0; i < offset && i < source.size(); ++i) {
    auto c = static_cast<unsigned char>(source[i]);
    if (c == '\n') {
      ++line;
      col = 1;
    } else if ((c & 0xC0) != 0x80) {  // count code points, not continuation bytes
      ++col;
    }
  }
  return "(" + std::to_string(line) + ":" + std::to_string(col) + ")";
}

Status parse(std::string_view source, const std::vector<std::string>& variables, Ast& ast) {
  return Parser(source, variables, ast).run();
}

}  // namespace updraft::formula
