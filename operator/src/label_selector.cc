#include "updraft/operator/label_selector.h"

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <set>

namespace updraft::kube {
namespace {

// ---- validation (k8s.io/apimachinery/pkg/util/validation) ----

bool isAlnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

// ([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9], non-empty.
bool isQualifiedNamePart(std::string_view s) {
  if (s.empty() || !isAlnum(s.front()) || !isAlnum(s.back())) return false;
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return isAlnum(c) || c == '-' || c == '_' || c == '.'; });
}

// [a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*, <= 253.
bool isDns1123Subdomain(std::string_view s) {
  if (s.empty() || s.size() > 253) return false;
  auto lowerAlnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  size_t start = 0;
  while (start <= s.size()) {
    size_t dot = s.find('.', start);
    std::string_view label = s.substr(start, dot == std::string_view::npos ? s.npos : dot - start);
    if (label.empty() || !lowerAlnum(label.front()) || !lowerAlnum(label.back())) return false;
    for (char c : label) {
      if (!lowerAlnum(c) && c != '-') return false;
    }
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  return true;
}

std::string validateKey(std::string_view key) {
  std::string_view name = key;
  size_t slash = key.find('/');
  if (slash != std::string_view::npos) {
    std::string_view prefix = key.substr(0, slash);
    name = key.substr(slash + 1);
    if (name.find('/') != std::string_view::npos) {
      return "key \"" + std::string(key) + "\": a qualified name has at most one '/'";
    }
    if (prefix.empty()) return "key \"" + std::string(key) + "\": prefix part must be non-empty";
    if (!isDns1123Subdomain(prefix)) {
      return "key \"" + std::string(key) +
             "\": prefix part must be a lowercase DNS-1123 subdomain of at most 253 characters";
    }
  }
  if (name.empty()) return "key \"" + std::string(key) + "\": name part must be non-empty";
  if (name.size() > 63) {
    return "key \"" + std::string(key) + "\": name part must be no more than 63 characters";
  }
  if (!isQualifiedNamePart(name)) {
    return "key \"" + std::string(key) +
           "\": name part must consist of alphanumeric characters, '-', '_' or '.', and must "
           "start and end with an alphanumeric character";
  }
  return {};
}

std::string validateValue(std::string_view key, std::string_view value) {
  if (value.empty()) return {};
  if (value.size() > 63) {
    return "values[" + std::string(key) + "]: \"" + std::string(value) +
           "\": must be no more than 63 characters";
  }
  if (!isQualifiedNamePart(value)) {
    return "values[" + std::string(key) + "]: \"" + std::string(value) +
           "\": a valid label value must be an empty string or consist of alphanumeric "
           "characters, '-', '_' or '.', and must start and end with an alphanumeric character";
  }
  return {};
}

bool parseInt64(std::string_view s, int64_t* out) {
  if (s.empty()) return false;
  const char* begin = s.data();
  if (*begin == '+') ++begin;  // strconv.ParseInt accepts a leading '+'
  auto [ptr, ec] = std::from_chars(begin, s.data() + s.size(), *out);
  return ec == std::errc() && ptr == s.data() + s.size();
}

// ---- lexer (k8s.io/apimachinery/pkg/labels/selector.go) ----

enum class Tok {
  kError,
  kEnd,
  kIdentifier,
  kIn,
  kNotIn,
  kBang,       // !
  kNotEquals,  // !=
  kEquals,     // =
  kDoubleEquals,
  kGreater,
  kLess,
  kOpen,
  kClose,
  kComma,
};

struct Token {
  Tok tok = Tok::kEnd;
  std::string text;
};

bool isSpecial(char c) {
  return c == '=' || c == '!' || c == '(' || c == ')' || c == ',' || c == '>' || c == '<';
}
bool isSpace(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

Tok specialToken(std::string_view s) {
  if (s == "!") return Tok::kBang;
  if (s == "!=") return Tok::kNotEquals;
  if (s == "=") return Tok::kEquals;
  if (s == "==") return Tok::kDoubleEquals;
  if (s == ">") return Tok::kGreater;
  if (s == "<") return Tok::kLess;
  if (s == "(") return Tok::kOpen;
  if (s == ")") return Tok::kClose;
  if (s == ",") return Tok::kComma;
  return Tok::kError;
}

std::vector<Token> lex(std::string_view s) {
  std::vector<Token> out;
  size_t i = 0;
  while (true) {
    while (i < s.size() && isSpace(s[i])) ++i;
    if (i >= s.size()) {
      out.push_back({Tok::kEnd, ""});
      return out;
    }
    if (isSpecial(s[i])) {
      // The longest run of special characters that is still a token.
      std::string buffer;
      Token last{Tok::kError, ""};
      while (i < s.size() && isSpecial(s[i])) {
        buffer.push_back(s[i]);
        Tok t = specialToken(buffer);
        if (t != Tok::kError) {
          last = {t, buffer};
          ++i;
        } else if (last.tok != Tok::kError) {
          break;
        } else {
          ++i;
        }
      }
      if (last.tok == Tok::kError) {
        out.push_back({Tok::kError, buffer});
        return out;
      }
      out.push_back(std::move(last));
      continue;
    }
    size_t start = i;
    while (i < s.size() && !isSpace(s[i]) && !isSpecial(s[i])) ++i;
    std::string word(s.substr(start, i - start));
    Tok t = word == "in" ? Tok::kIn : word == "notin" ? Tok::kNotIn : Tok::kIdentifier;
    out.push_back({t, std::move(word)});
  }
}

const char* describe(const Token& t) {
  switch (t.tok) {
    case Tok::kEnd:
      return "end of string";
    default:
      return nullptr;
  }
}

class Parser {
 public:
  explicit Parser(std::string_view text) : tokens_(lex(text)) {}

  // Fills `out` or returns an error detail.
  std::string parse(std::vector<LabelRequirement>* out) {
    while (true) {
      const Token& t = peekValue();
      if (t.tok == Tok::kEnd) return {};
      if (t.tok != Tok::kIdentifier && t.tok != Tok::kBang) {
        return found(t, "'!', identifier or end of string");
      }
      LabelRequirement r;
      std::string err = parseRequirement(&r);
      if (!err.empty()) return err;
      out->push_back(std::move(r));
      const Token& next = consumeValue();
      if (next.tok == Tok::kEnd) return {};
      if (next.tok != Tok::kComma) return found(next, "',' or end of string");
      const Token& after = peekValue();
      if (after.tok != Tok::kIdentifier && after.tok != Tok::kBang) {
        return found(after, "identifier after ','");
      }
    }
  }

 private:
  // Tokens read in "values" context: the keywords in/notin are plain identifiers there.
  Token valueView(const Token& t) const {
    if (t.tok == Tok::kIn || t.tok == Tok::kNotIn) return {Tok::kIdentifier, t.text};
    return t;
  }
  const Token& raw() const { return tokens_[std::min(pos_, tokens_.size() - 1)]; }
  const Token& peekValue() {
    scratch_ = valueView(raw());
    return scratch_;
  }
  const Token& consumeValue() {
    scratch_ = valueView(raw());
    if (pos_ < tokens_.size()) ++pos_;
    return scratch_;
  }
  const Token& consumeOperator() {
    scratch_ = raw();
    if (pos_ < tokens_.size()) ++pos_;
    return scratch_;
  }

  static std::string found(const Token& t, const std::string& expected) {
    const char* d = describe(t);
    std::string what = d ? d : "'" + t.text + "'";
    return "found " + what + ", expected " + expected;
  }

  std::string parseRequirement(LabelRequirement* r) {
    bool negated = false;
    Token t = consumeValue();
    if (t.tok == Tok::kBang) {
      negated = true;
      t = consumeValue();
    }
    if (t.tok != Tok::kIdentifier) return found(t, "identifier");
    std::string err = validateKey(t.text);
    if (!err.empty()) return err;
    r->key = t.text;
    Tok next = peekValue().tok;
    if (negated) {
      r->op = SelectorOperator::kDoesNotExist;
      return {};
    }
    if (next == Tok::kEnd || next == Tok::kComma) {
      r->op = SelectorOperator::kExists;
      return {};
    }
    const Token& op = consumeOperator();
    std::set<std::string> values;
    switch (op.tok) {
      case Tok::kIn:
      case Tok::kNotIn:
        r->op = op.tok == Tok::kIn ? SelectorOperator::kIn : SelectorOperator::kNotIn;
        err = parseSet(&values);
        break;
      case Tok::kEquals:
      case Tok::kDoubleEquals:
      case Tok::kNotEquals:
      case Tok::kGreater:
      case Tok::kLess:
        r->op = op.tok == Tok::kNotEquals ? SelectorOperator::kNotEquals
                : op.tok == Tok::kGreater ? SelectorOperator::kGreaterThan
                : op.tok == Tok::kLess    ? SelectorOperator::kLessThan
                                          : SelectorOperator::kEquals;
        err = parseExactValue(&values);
        break;
      default:
        return found(op, "one of =, ==, !=, in, notin, >, <");
    }
    if (!err.empty()) return err;
    r->values.assign(values.begin(), values.end());
    for (const auto& v : r->values) {
      std::string bad = validateValue(r->key, v);
      if (!bad.empty()) return bad;
    }
    if ((r->op == SelectorOperator::kIn || r->op == SelectorOperator::kNotIn) &&
        r->values.empty()) {
      return "for 'in', 'notin' operators, values set can't be empty";
    }
    if (r->op == SelectorOperator::kGreaterThan || r->op == SelectorOperator::kLessThan) {
      int64_t n = 0;
      if (!parseInt64(r->values.front(), &n)) {
        return "for '>', '<' operators, the value must be an integer, not \"" + r->values.front() +
               "\"";
      }
    }
    return {};
  }

  std::string parseExactValue(std::set<std::string>* values) {
    Tok next = peekValue().tok;
    if (next == Tok::kEnd || next == Tok::kComma) {
      values->insert("");
      return {};
    }
    const Token& t = consumeValue();
    if (t.tok != Tok::kIdentifier) return found(t, "identifier");
    values->insert(t.text);
    return {};
  }

  std::string parseSet(std::set<std::string>* values) {
    const Token& open = consumeValue();
    if (open.tok != Tok::kOpen) return found(open, "'('");
    Tok next = peekValue().tok;
    if (next == Tok::kClose) {
      consumeValue();
      values->insert("");  // "()" is the set {""}, as in apimachinery
      return {};
    }
    if (next != Tok::kIdentifier && next != Tok::kComma) {
      return found(peekValue(), "',', ')' or identifier");
    }
    while (true) {
      Token t = consumeValue();
      if (t.tok == Tok::kIdentifier) {
        values->insert(t.text);
        const Token& after = peekValue();
        if (after.tok == Tok::kComma) {
          consumeValue();
          if (peekValue().tok == Tok::kClose) {  // "a,)"
            values->insert("");
            break;
          }
          continue;
        }
        if (after.tok == Tok::kClose) break;
        return found(after, "',' or ')'");
      }
      if (t.tok == Tok::kComma) {  // "(,", ",,"
        values->insert("");
        if (peekValue().tok == Tok::kClose) break;
        continue;
      }
      return found(t, "',' or identifier");
    }
    const Token& close = consumeValue();
    if (close.tok != Tok::kClose) return found(close, "')'");
    return {};
  }

  std::vector<Token> tokens_;
  size_t pos_ = 0;
  Token scratch_;
};

}  // namespace

bool LabelRequirement::matches(const std::map<std::string, std::string>& labels) const {
  auto it = labels.find(key);
  bool has = it != labels.end();
  auto inValues = [&] {
    return has && std::binary_search(values.begin(), values.end(), it->second);
  };
  switch (op) {
    case SelectorOperator::kExists:
      return has;
    case SelectorOperator::kDoesNotExist:
      return !has;
    case SelectorOperator::kEquals:
    case SelectorOperator::kIn:
      return inValues();
    case SelectorOperator::kNotEquals:
    case SelectorOperator::kNotIn:
      return !inValues();
    case SelectorOperator::kGreaterThan:
    case SelectorOperator::kLessThan: {
      int64_t have = 0;
      int64_t want = 0;
      if (!has || values.empty() || !parseInt64(it->second, &have) ||
          !parseInt64(values.front(), &want)) {
        return false;
      }
      return op == SelectorOperator::kGreaterThan ? have > want : have < want;
    }
  }
  return false;
}

Result<LabelSelector> LabelSelector::parse(std::string_view text) {
  LabelSelector selector;
  Parser parser(text);
  std::string err = parser.parse(&selector.requirements_);
  if (!err.empty()) {
    std::string message = "label selector \"";
    message.append(text).append("\": ").append(err);
    return Status::invalidArgument(std::move(message));
  }
  std::stable_sort(
      selector.requirements_.begin(), selector.requirements_.end(),
      [](const LabelRequirement& a, const LabelRequirement& b) { return a.key < b.key; });
  return selector;
}

bool LabelSelector::matches(const std::map<std::string, std::string>& labels) const {
  return std::all_of(requirements_.begin(), requirements_.end(),
                     [&](const LabelRequirement& r) { return r.matches(labels); });
}

std::optional<std::string> LabelSelector::equalityValue(std::string_view key) const {
  for (const auto& r : requirements_) {
    if (r.key != key) continue;
    if ((r.op == SelectorOperator::kEquals || r.op == SelectorOperator::kIn) &&
        r.values.size() == 1) {
      return r.values.front();
    }
  }
  return std::nullopt;
}

std::string LabelSelector::toString() const {
  std::string out;
  for (const auto& r : requirements_) {
    if (!out.empty()) out += ',';
    if (r.op == SelectorOperator::kDoesNotExist) out += '!';
    out += r.key;
    auto joined = [&] {
      std::string s;
      for (size_t i = 0; i < r.values.size(); ++i) {
        if (i) s += ',';
        s += r.values[i];
      }
      return s;
    };
    switch (r.op) {
      case SelectorOperator::kExists:
      case SelectorOperator::kDoesNotExist:
        break;
      case SelectorOperator::kEquals:
        out += "=" + joined();
        break;
      case SelectorOperator::kNotEquals:
        out += "!=" + joined();
        break;
      case SelectorOperator::kGreaterThan:
        out += ">" + joined();
        break;
      case SelectorOperator::kLessThan:
        out += "<" + joined();
        break;
      case SelectorOperator::kIn:
        out += " in (" + joined() + ")";
        break;
      case SelectorOperator::kNotIn:
        out += " notin (" + joined() + ")";
        break;
    }
  }
  return out;
}

}  // namespace updraft::kube
