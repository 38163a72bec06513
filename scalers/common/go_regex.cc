#include "common/go_regex.h"

#include <cctype>
#include <cstdint>
#include <optional>

namespace updraft {
namespace {

bool isOctal(char c) { return c >= '0' && c <= '7'; }
bool isHex(char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0; }
bool isDigit(char c) { return std::isdigit(static_cast<unsigned char>(c)) != 0; }

// Characters that ECMAScript treats as syntax outside a class.
bool ecmaSyntax(char c) {
  switch (c) {
    case '^':
    case '$':
    case '\\':
    case '.':
    case '*':
    case '+':
    case '?':
    case '(':
    case ')':
    case '[':
    case ']':
    case '{':
    case '}':
    case '|':
    case '/':
      return true;
    default:
      return false;
  }
}

std::string hexByte(unsigned v) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out = "\\x";
  out += kHex[(v >> 4) & 15];
  out += kHex[v & 15];
  return out;
}

class Translator {
 public:
  explicit Translator(std::string_view p) : p_(p) {}

  Status run() {
    leadingFlags();
    while (i_ < p_.size()) {
      UPDRAFT_RETURN_IF_ERROR(atom());
    }
    if (depth_ != 0) return invalid("missing closing )");
    return Status::ok();
  }

  std::string out;
  bool icase = false;

 private:
  static Status invalid(std::string why) { return Status::invalidArgument(std::move(why)); }
  static Status unsupported(std::string why) { return Status::failedPrecondition(std::move(why)); }

  bool at(char c, size_t off = 0) const { return i_ + off < p_.size() && p_[i_ + off] == c; }

  // A leading "(?flags)" applies to the whole pattern.
  void leadingFlags() {
    if (!(at('(') && at('?', 1))) return;
    size_t j = 2;
    bool i = false;
    while (i_ + j < p_.size()) {
      char c = p_[i_ + j];
      if (c == 'i') {
        i = true;
      } else if (c != 'm' && c != 's' && c != 'U') {
        break;
      }
      ++j;
    }
    if (j > 2 && at(')', j)) {
      icase = icase || i;
      i_ += j + 1;
    }
  }

  // Parses a repetition "{n}", "{n,}", "{n,m}" at i_; returns its length, 0 when '{' is a literal.
  Result<size_t> repeatLength() const {
    size_t j = i_ + 1;
    auto digits = [&]() -> std::optional<long> {
      size_t s = j;
      while (j < p_.size() && isDigit(p_[j])) ++j;
      if (j == s) return std::nullopt;
      if (j - s > 6) return 1000000L;  // over the limit anyway
      return std::stol(std::string(p_.substr(s, j - s)));
    };
    std::optional<long> lo = digits();
    if (!lo) return size_t{0};
    std::optional<long> hi;
    if (j < p_.size() && p_[j] == ',') {
      ++j;
      hi = digits();  // absent: {n,}
    }
    if (j >= p_.size() || p_[j] != '}') return size_t{0};
    if (*lo > 1000 || (hi && (*hi > 1000 || *hi < *lo))) return invalid("invalid repeat count");
    return j + 1 - i_;
  }

  // Is there a repetition operator at i_?
  bool repetitionAt() const {
    if (i_ >= p_.size()) return false;
    char c = p_[i_];
    if (c == '*' || c == '+' || c == '?') return true;
    if (c == '{') {
      auto len = repeatLength();
      return !len.isOk() || *len > 0;
    }
    return false;
  }

  Status afterRepetition() {
    if (at('?')) {  // non-greedy
      out += '?';
      ++i_;
    }
    if (repetitionAt()) return invalid("invalid nested repetition operator");
    return Status::ok();
  }

  Status atom() {
    char c = p_[i_];
    switch (c) {
      case '\\':
        return escape(/*inClass=*/false);
      case '[':
        return charClass();
      case '(':
        return group();
      case ')':
        if (depth_ == 0) return invalid("unexpected )");
        --depth_;
        out += ')';
        ++i_;
        lastAtom_ = true;
        return Status::ok();
      case '*':
      case '+':
      case '?':
        if (!canRepeat()) return invalid("missing argument to repetition operator");
        out += c;
        ++i_;
        return afterRepetition();
      case '{': {
        auto len = repeatLength();
        if (!len.isOk()) return len.status();
        if (*len == 0) {  // a literal '{'
          out += hexByte('{');
          ++i_;
          lastAtom_ = true;
          return Status::ok();
        }
        if (!canRepeat()) return invalid("missing argument to repetition operator");
        out += std::string(p_.substr(i_, *len));
        i_ += *len;
        return afterRepetition();
      }
      case '}':
      case ']':
        out += hexByte(static_cast<unsigned char>(c));
        ++i_;
        lastAtom_ = true;
        return Status::ok();
      case '|':
      case '^':
      case '$':
        out += c;
        ++i_;
        lastAtom_ = false;
        return Status::ok();
      default:
        out += c;
        ++i_;
        lastAtom_ = true;
        return Status::ok();
    }
  }

  // True when the previous item can take a repetition operator. Reset by '(' '|' '^' '$'.
  bool canRepeat() {
    bool ok = lastAtom_;
    lastAtom_ = true;  // the repeated atom stays an atom for the nested-operator check
    return ok;
  }

  Status group() {
    ++i_;  // '('
    if (!at('?')) {
      out += '(';
      ++depth_;
      lastAtom_ = false;
      return Status::ok();
    }
    ++i_;  // '?'
    // (?P<name>re) and (?<name>re)
    if (at('P') && at('<', 1)) ++i_;
    if (at('<')) {
      if (at('=', 1) || at('!', 1)) return invalid("invalid or unsupported Perl syntax: (?<");
      size_t j = i_ + 1;
      while (j < p_.size() && (std::isalnum(static_cast<unsigned char>(p_[j])) || p_[j] == '_')) {
        ++j;
      }
      if (j == i_ + 1 || j >= p_.size() || p_[j] != '>') return invalid("invalid named capture");
      i_ = j + 1;
      out += '(';
      ++depth_;
      lastAtom_ = false;
      return Status::ok();
    }
    // Flags: (?flags) or (?flags:re); flags from [imsU-].
    size_t j = i_;
    bool setI = false;
    bool negated = false;
    bool any = false;
    while (j < p_.size() && p_[j] != ')' && p_[j] != ':') {
      char f = p_[j];
      if (f == '-') {
        if (negated) return invalid("invalid or unsupported Perl syntax");
        negated = true;
      } else if (f == 'i' || f == 'm' || f == 's' || f == 'U') {
        any = true;
        if (f == 'i' && !negated) setI = true;
        if (f == 'i' && negated && icase) {
          return unsupported("(?-i) inside a case-insensitive pattern is not supported");
        }
      } else {
        return invalid("invalid or unsupported Perl syntax: (?" + std::string(1, f));
      }
      ++j;
    }
    if (j >= p_.size()) return invalid("missing closing )");
    if (p_[j] == ')' && (!any || (negated && p_[j - 1] == '-'))) {
      return invalid("invalid or unsupported Perl syntax");
    }
    if (setI && !icase) {
      return unsupported("(?i) is supported only at the start of the pattern");
    }
    if (p_[j] == ':') {
      out += "(?:";
      ++depth_;
      lastAtom_ = false;
    }
    i_ = j + 1;
    return Status::ok();
  }

  Status charClass() {
    ++i_;  // '['
    out += '[';
    if (at('^')) {
      out += '^';
      ++i_;
    }
    bool first = true;
    while (true) {
      if (i_ >= p_.size()) return invalid("missing closing ]");
      char c = p_[i_];
      if (c == ']' && !first) {
        out += ']';
        ++i_;
        break;
      }
      first = false;
      if (c == ']') {  // a ']' right after '[' or '[^' is a literal in Go
        out += "\\]";
        ++i_;
      } else if (c == '[' && at(':', 1)) {
        size_t close = p_.find(":]", i_ + 2);
        if (close == std::string_view::npos) {
          out += "\\[";
          ++i_;
          continue;
        }
        std::string_view name = p_.substr(i_ + 2, close - (i_ + 2));
        if (!name.empty() && name.front() == '^') {
          return unsupported("negated POSIX classes ([:^name:]) are not supported");
        }
        static constexpr std::string_view kNames[] = {"alnum", "alpha", "blank", "cntrl",
                                                      "digit", "graph", "lower", "print",
                                                      "punct", "space", "upper", "xdigit"};
        bool known = false;
        for (auto n : kNames) known = known || n == name;
        if (name == "ascii" || name == "word") {
          return unsupported("the POSIX class [:" + std::string(name) + ":] is not supported");
        }
        if (!known) return invalid("invalid character class range");
        out += "[:";
        out += name;
        out += ":]";
        i_ = close + 2;
      } else if (c == '\\') {
        UPDRAFT_RETURN_IF_ERROR(escape(/*inClass=*/true));
      } else if (c == '[') {
        out += "\\[";
        ++i_;
      } else {
        out += c;
        ++i_;
      }
    }
    lastAtom_ = true;
    return Status::ok();
  }

  // Emits `v` (a byte value) as a literal.
  void literalByte(unsigned v, bool inClass) {
    char c = static_cast<char>(v);
    if (v >= 0x20 && v < 0x7f && std::isalnum(static_cast<unsigned char>(c))) {
      out += c;
    } else if (v >= 0x20 && v < 0x7f && !inClass && !ecmaSyntax(c)) {
      out += c;
    } else {
      out += hexByte(v);
    }
  }

  Status escape(bool inClass) {
    ++i_;  // '\'
    if (i_ >= p_.size()) return invalid("trailing backslash at end of expression");
    char c = p_[i_];
    unsigned char u = static_cast<unsigned char>(c);
    ++i_;
    if (u < 0x80 && !std::isalnum(u)) {  // escaped punctuation is itself
      literalByte(u, inClass);
      lastAtom_ = true;
      return Status::ok();
    }
    lastAtom_ = true;
    switch (c) {
      case 'd':
      case 'D':
      case 's':
      case 'S':
      case 'w':
      case 'W':
        out += '\\';
        out += c;
        return Status::ok();
      case 'b':
      case 'B':
        if (inClass) return invalid("invalid escape sequence: \\" + std::string(1, c));
        out += '\\';
        out += c;
        lastAtom_ = false;
        return Status::ok();
      case 'A':
        if (inClass) return invalid("invalid escape sequence: \\A");
        out += '^';
        lastAtom_ = false;
        return Status::ok();
      case 'z':
        if (inClass) return invalid("invalid escape sequence: \\z");
        out += '$';
        lastAtom_ = false;
        return Status::ok();
      case 'a':
        out += "\\x07";
        return Status::ok();
      case 'f':
        out += "\\f";
        return Status::ok();
      case 't':
        out += "\\t";
        return Status::ok();
      case 'n':
        out += "\\n";
        return Status::ok();
      case 'r':
        out += "\\r";
        return Status::ok();
      case 'v':
        out += "\\v";
        return Status::ok();
      case 'p':
      case 'P':
        return unsupported("Unicode character classes (\\p, \\P) are not supported");
      case 'Q': {
        if (inClass) return invalid("invalid escape sequence: \\Q");
        size_t end = p_.find("\\E", i_);
        std::string_view lit = p_.substr(i_, end == std::string_view::npos ? end : end - i_);
        out += "(?:";
        for (char l : lit) literalByte(static_cast<unsigned char>(l), false);
        out += ')';
        i_ = end == std::string_view::npos ? p_.size() : end + 2;
        return Status::ok();
      }
      case 'x': {
        unsigned v = 0;
        if (at('{')) {
          size_t j = i_ + 1;
          while (j < p_.size() && isHex(p_[j]) && j - i_ <= 8) ++j;
          if (j == i_ + 1 || j >= p_.size() || p_[j] != '}') {
            return invalid("invalid escape sequence: \\x{");
          }
          unsigned long cp = std::stoul(std::string(p_.substr(i_ + 1, j - i_ - 1)), nullptr, 16);
          if (cp > 0x10FFFF) return invalid("invalid escape sequence: \\x{");
          if (cp > 0xFF)
            return unsupported("code points above U+00FF (\\x{...}) are not supported");
          v = static_cast<unsigned>(cp);
          i_ = j + 1;
        } else {
          if (!(i_ + 1 < p_.size() && isHex(p_[i_]) && isHex(p_[i_ + 1]))) {
            return invalid("invalid escape sequence: \\x");
          }
          v = static_cast<unsigned>(std::stoul(std::string(p_.substr(i_, 2)), nullptr, 16));
          i_ += 2;
        }
        literalByte(v, inClass);
        return Status::ok();
      }
      default:
        break;
    }
    if (isOctal(c)) {
      // \0, \0d, \0dd; \1..\7 only when followed by another octal digit (else a backreference).
      if (c != '0' && !(i_ < p_.size() && isOctal(p_[i_]))) {
        return invalid("invalid escape sequence: \\" + std::string(1, c));
      }
      unsigned v = static_cast<unsigned>(c - '0');
      for (int k = 0; k < 2 && i_ < p_.size() && isOctal(p_[i_]); ++k) {
        v = v * 8 + static_cast<unsigned>(p_[i_] - '0');
        ++i_;
      }
      if (v > 0xFF) return unsupported("code points above U+00FF are not supported");
      literalByte(v, inClass);
      return Status::ok();
    }
    return invalid("invalid escape sequence: \\" + std::string(1, c));
  }

  std::string_view p_;
  size_t i_ = 0;
  int depth_ = 0;
  bool lastAtom_ = false;
};

}  // namespace

Result<GoRegex> GoRegex::compile(std::string_view pattern) {
  Translator t(pattern);
  UPDRAFT_RETURN_IF_ERROR(t.run());
  GoRegex re;
  re.pattern_ = std::string(pattern);
  re.ecma_ = std::move(t.out);
  auto flags = std::regex::ECMAScript;
  if (t.icase) flags |= std::regex::icase;
  try {
    re.regex_ = std::make_shared<const std::regex>(re.ecma_, flags);
  } catch (const std::regex_error& e) {
    return Status::invalidArgument(std::string("invalid regular expression (") + e.what() + ")");
  } catch (const std::exception& e) {
    return Status::invalidArgument(std::string("invalid regular expression (") + e.what() + ")");
  }
  return re;
}

bool GoRegex::fullMatch(std::string_view s) const {
  if (!regex_) return false;
  try {
    return std::regex_match(s.begin(), s.end(), *regex_);
  } catch (const std::exception&) {
    return false;  // complexity/stack limits: treated as no match
  }
}

}  // namespace updraft
