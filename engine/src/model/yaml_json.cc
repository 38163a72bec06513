// YAML text -> JSON documents, built from yaml-cpp's event stream (no YAML::Node tree).
//
// Safety: the input is size-checked and UTF-8-checked first, flow-collection nesting is measured by
// a cheap pre-scan before yaml-cpp sees the text (yaml-cpp's scanner would queue millions of tokens
// for
// `[[[[...`), the builder stops at kMaxNestingDepth and counts nodes copied through aliases.
#include <yaml-cpp/depthguard.h>
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/exceptions.h>
#include <yaml-cpp/mark.h>
#include <yaml-cpp/parser.h>

#include <charconv>
#include <cmath>
#include <istream>
#include <limits>
#include <map>
#include <optional>
#include <streambuf>
#include <string>
#include <vector>

#include "model_internal.h"
#include "updraft/parse.h"

namespace updraft {
namespace {

using nlohmann::json;

std::string lineCol(std::string_view source, int line, int column) {
  return std::string(source) + ":" + std::to_string(line) + ":" + std::to_string(column);
}

// ---------------------------------------------------------------------------------------------
// Text checks.

// Offset of the first byte that is not UTF-8 text (NUL, other C0 controls but tab/LF/CR, DEL,
// malformed or overlong sequences, surrogates, > U+10FFFF), or npos.
std::size_t firstBinaryByte(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const std::size_t n = s.size();
  std::size_t i = 0;
  while (i < n) {
    unsigned char c = p[i];
    if (c < 0x80) {
      if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7f) return i;
      ++i;
      continue;
    }
    int len = 0;
    uint32_t cp = 0;
    if (c >= 0xc2 && c <= 0xdf) {
      len = 2;
      cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
      len = 3;
      cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
      len = 4;
      cp = c & 0x07;
    } else {
      return i;
    }
    if (i + len > n) return i;
    for (int k = 1; k < len; ++k) {
      unsigned char cc = p[i + k];
      if ((cc & 0xc0) != 0x80) return i;
      cp = (cp << 6) | (cc & 0x3f);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10ffff ||
        (cp >= 0xd800 && cp <= 0xdfff)) {
      return i;
    }
    i += len;
  }
  return std::string_view::npos;
}

// True when s[i] ('|' or '>') starts a block scalar header: indicators (digits, '+', '-'), then
// only spaces and an optional comment up to the end of the line.
bool isBlockScalarHeader(std::string_view s, std::size_t i) {
  std::size_t j = i + 1;
  while (j < s.size() && ((s[j] >= '0' && s[j] <= '9') || s[j] == '+' || s[j] == '-')) ++j;
  while (j < s.size() && (s[j] == ' ' || s[j] == '\t')) ++j;
  return j >= s.size() || s[j] == '\n' || s[j] == '\r' || (s[j] == '#' && j > i + 1);
}

// Measures the nesting of flow collections ([ ] { }) without parsing: quoted scalars, comments and
// block scalars are skipped; a bracket counts when it starts a token in block context, or anywhere
// in flow context (where plain scalars cannot hold flow indicators). Returns the 1-based line where
// the depth first exceeds `limit`, or 0.
int flowDepthViolationLine(std::string_view s, int limit) {
  int depth = 0;
  int line = 1;
  std::size_t i = 0;
  const std::size_t n = s.size();
  bool lineStart = true;
  int indent = 0;
  bool inBlockScalar = false;
  int blockScalarParentIndent = 0;
  char prev = '\n';  // previous significant character on this line ('\n' at line start)

  auto isSpace = [](char c) { return c == ' ' || c == '\t'; };
  while (i < n) {
    char c = s[i];
    if (lineStart) {
      // Measure indentation.
      std::size_t j = i;
      while (j < n && s[j] == ' ') ++j;
      indent = static_cast<int>(j - i);
      bool blank = j >= n || s[j] == '\n' || s[j] == '\r' || s[j] == '#';
      if (inBlockScalar) {
        if (blank || indent > blockScalarParentIndent) {
          // A content line of the block scalar: skip it whole.
          while (i < n && s[i] != '\n') ++i;
          if (i < n) {
            ++i;
            ++line;
          }
          continue;
        }
        inBlockScalar = false;
      }
      if (indent == 0 && j + 3 <= n &&
          (s.compare(j, 3, "---") == 0 || s.compare(j, 3, "...") == 0) &&
          (j + 3 >= n || isSpace(s[j + 3]) || s[j + 3] == '\n' || s[j + 3] == '\r')) {
        depth = 0;  // a document marker ends any flow collection
      }
      lineStart = false;
      prev = '\n';
      i = j;
      continue;
    }
    if (c == '\n') {
      ++line;
      ++i;
      lineStart = true;
      continue;
    }
    bool tokenStart = prev == '\n' || isSpace(prev) ||
                      (depth > 0 && (prev == '[' || prev == '{' || prev == ',' || prev == ':'));
    if (c == '#' && (prev == '\n' || isSpace(prev))) {
      while (i < n && s[i] != '\n') ++i;
      continue;
    }
    if ((c == '"' || c == '\'') && tokenStart) {
      const char quote = c;
      ++i;
      while (i < n) {
        char q = s[i];
        if (q == '\n') ++line;
        if (quote == '"' && q == '\\') {
          if (i + 1 < n && s[i + 1] == '\n') ++line;
          i += 2;
          continue;
        }
        if (q == quote) {
          if (quote == '\'' && i + 1 < n && s[i + 1] == '\'') {
            i += 2;
            continue;
          }
          break;
        }
        ++i;
      }
      if (i < n) ++i;  // closing quote
      prev = quote;
      continue;
    }
    if ((c == '[' || c == '{') && (depth > 0 || tokenStart)) {
      ++depth;
      if (depth > limit) return line;
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    } else if ((c == '|' || c == '>') && depth == 0 && tokenStart && isBlockScalarHeader(s, i)) {
      inBlockScalar = true;
      blockScalarParentIndent = indent;
      while (i < n && s[i] != '\n') ++i;
      continue;
    }
    if (!isSpace(c) && c != '\r')
      prev = c;
    else
      prev = ' ';
    ++i;
  }
  return 0;
}

// ---------------------------------------------------------------------------------------------
// Scalars (YAML 1.2 core schema).

bool allDigits(std::string_view s, int base) {
  if (s.empty()) return false;
  for (char c : s) {
    bool ok = base == 8    ? (c >= '0' && c <= '7')
              : base == 10 ? (c >= '0' && c <= '9')
                           : std::isxdigit(static_cast<unsigned char>(c)) != 0;
    if (!ok) return false;
  }
  return true;
}

bool isCoreFloat(std::string_view s) {
  // [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?
  std::size_t i = 0;
  if (i < s.size() && (s[i] == '-' || s[i] == '+')) ++i;
  std::size_t intStart = i;
  while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) ++i;
  bool intDigits = i > intStart;
  bool fracDigits = false;
  if (i < s.size() && s[i] == '.') {
    ++i;
    std::size_t fracStart = i;
    while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) ++i;
    fracDigits = i > fracStart;
  }
  if (!intDigits && !fracDigits) return false;
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < s.size() && (s[i] == '-' || s[i] == '+')) ++i;
    std::size_t expStart = i;
    while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) ++i;
    if (i == expStart) return false;
  }
  return i == s.size();
}

std::optional<double> toDouble(std::string_view s) {
  if (!s.empty() && s[0] == '+') s.remove_prefix(1);
  double v = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ptr != s.data() + s.size()) return std::nullopt;
  if (ec == std::errc::result_out_of_range) {
    // Overflow to infinity / underflow to zero, like strtod.
    bool negative = !s.empty() && s[0] == '-';
    std::size_t e = s.find_first_of("eE");
    bool negativeExponent = e != std::string_view::npos && e + 1 < s.size() && s[e + 1] == '-';
    if (negativeExponent) return negative ? -0.0 : 0.0;
    return negative ? -std::numeric_limits<double>::infinity()
                    : std::numeric_limits<double>::infinity();
  }
  if (ec != std::errc()) return std::nullopt;
  return v;
}

json resolvePlainScalar(const std::string& v) {
  if (v.empty() || v == "~" || v == "null" || v == "Null" || v == "NULL") return nullptr;
  if (v == "true" || v == "True" || v == "TRUE") return true;
  if (v == "false" || v == "False" || v == "FALSE") return false;
  std::string_view s = v;
  // Integers: [-+]?[0-9]+ | 0o[0-7]+ | 0x[0-9a-fA-F]+
  {
    std::string_view digits = s;
    bool negative = false;
    if (!digits.empty() && (digits[0] == '-' || digits[0] == '+')) {
      negative = digits[0] == '-';
      digits.remove_prefix(1);
    }
    if (allDigits(digits, 10)) {
      int64_t i64 = 0;
      std::string signedDigits = (negative ? "-" : "") + std::string(digits);
      auto [p, ec] =
          std::from_chars(signedDigits.data(), signedDigits.data() + signedDigits.size(), i64);
      if (ec == std::errc() && p == signedDigits.data() + signedDigits.size()) return i64;
      if (!negative) {
        uint64_t u64 = 0;
        auto [p2, ec2] = std::from_chars(digits.data(), digits.data() + digits.size(), u64);
        if (ec2 == std::errc() && p2 == digits.data() + digits.size()) return u64;
      }
      if (auto d = toDouble(signedDigits)) return *d;  // too big for 64 bits: a float
    }
  }
  if (s.size() > 2 && s[0] == '0' && (s[1] == 'o' || s[1] == 'x')) {
    int base = s[1] == 'o' ? 8 : 16;
    std::string_view digits = s.substr(2);
    if (allDigits(digits, base)) {
      uint64_t u64 = 0;
      auto [p, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), u64, base);
      if (ec == std::errc() && p == digits.data() + digits.size()) {
        if (u64 <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
          return static_cast<int64_t>(u64);
        }
        return u64;
      }
      return v;  // too many digits: keep the text
    }
  }
  if (isCoreFloat(s)) {
    if (auto d = toDouble(s)) return *d;
  }
  if (v == ".inf" || v == ".Inf" || v == ".INF" || v == "+.inf" || v == "+.Inf" || v == "+.INF") {
    return std::numeric_limits<double>::infinity();
  }
  if (v == "-.inf" || v == "-.Inf" || v == "-.INF") return -std::numeric_limits<double>::infinity();
  if (v == ".nan" || v == ".NaN" || v == ".NAN") return std::numeric_limits<double>::quiet_NaN();
  return v;
}

json resolveScalar(const std::string& tag, const std::string& value) {
  static const std::string kCore = "tag:yaml.org,2002:";
  if (tag == "!") return value;  // quoted (non-plain) scalar
  if (tag.rfind(kCore, 0) == 0) {
    std::string_view type = std::string_view(tag).substr(kCore.size());
    if (type == "str" || type == "binary" || type == "timestamp") return value;
  }
  return resolvePlainScalar(value);
}

// ---------------------------------------------------------------------------------------------
// The event handler that builds JSON.

constexpr std::size_t kMaxAnchorCopyNodes = 10 * kMaxAliasNodes;

struct BuildError {
  int line = 0;
  int column = 0;
  std::string message;
  bool stuck = false;  // the parser stopped making progress at (line, column)
};

std::size_t countNodes(const json& j) {
  std::size_t count = 0;
  std::vector<const json*> stack{&j};
  while (!stack.empty()) {
    const json* cur = stack.back();
    stack.pop_back();
    ++count;
    if (cur->is_structured()) {
      for (const auto& child : *cur) stack.push_back(&child);
    }
  }
  return count;
}

class JsonBuilder final : public YAML::EventHandler {
 public:
  struct Finished {
    json value;
    int line = 1;
    bool empty = true;
    std::vector<Problem> duplicateKeys;
  };

  void OnDocumentStart(const YAML::Mark& mark) override {
    // yaml-cpp 0.7 bug (jbeder/yaml-cpp#1040, fixed upstream by #1319): a token that cannot start a
    // node (a ',' outside a flow collection) is never consumed, and every HandleNextDocument()
    // call returns one more empty document at the same place. Stop at the first repeat.
    if (mark.pos == lastDocumentStart_ && documents_ > 0) {
      throw BuildError{mark.line + 1, mark.column + 1, "", true};
    }
    lastDocumentStart_ = mark.pos;
    ++documents_;
    stack_.clear();
    anchors_.clear();
    current_ = Finished{};
    sawRoot_ = false;
  }
  void OnDocumentEnd() override { finished_.push_back(std::move(current_)); }

  void OnNull(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    noteRoot(mark);
    addValue(mark, nullptr, anchor, "null");
  }

  void OnAlias(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    noteRoot(mark);
    auto it = anchors_.find(anchor);
    if (it == anchors_.end()) {
      throw BuildError{mark.line + 1, mark.column + 1, "alias to an unknown anchor"};
    }
    aliasNodes_ += it->second.nodes;
    if (aliasNodes_ > kMaxAliasNodes) {
      throw BuildError{mark.line + 1, mark.column + 1,
                       "aliases expand to more than " + std::to_string(kMaxAliasNodes) +
                           " nodes; refusing to expand them (a \"billion laughs\" document?)"};
    }
    const json& value = it->second.value;
    std::string keyText = value.is_string() ? value.get<std::string>() : value.dump();
    addValue(mark, value, YAML::NullAnchor, keyText);
  }

  void OnScalar(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t anchor,
                const std::string& value) override {
    noteRoot(mark);
    json resolved = resolveScalar(tag, value);
    bool isMergeKey = tag == "?" && value == "<<";
    addValue(mark, std::move(resolved), anchor, value, isMergeKey);
  }

  void OnSequenceStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                       YAML::EmitterStyle::value) override {
    noteRoot(mark);
    push(mark, json::array(), anchor);
  }
  void OnSequenceEnd() override { pop(); }

  void OnMapStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                  YAML::EmitterStyle::value) override {
    noteRoot(mark);
    push(mark, json::object(), anchor);
  }
  void OnMapEnd() override {
    Frame& top = stack_.back();
    // Merge keys (<<): keys given explicitly win, earlier merged maps win over later ones.
    for (const json& merged : top.merges) {
      for (auto it = merged.begin(); it != merged.end(); ++it) {
        if (!top.value.contains(it.key())) top.value[it.key()] = it.value();
      }
    }
    pop();
  }

  std::vector<Finished>& finished() { return finished_; }

 private:
  struct Frame {
    json value;
    YAML::anchor_t anchor = YAML::NullAnchor;
    // Maps: the key waiting for its value.
    bool haveKey = false;
    std::string key;
    bool keyIsMerge = false;
    std::map<std::string, int> keyLines;
    std::vector<json> merges;
    int line = 0;
  };
  struct Anchored {
    json value;
    std::size_t nodes = 0;
  };

  void noteRoot(const YAML::Mark& mark) {
    if (!sawRoot_) {
      sawRoot_ = true;
      current_.line = mark.line + 1;
    }
  }

  void push(const YAML::Mark& mark, json container, YAML::anchor_t anchor) {
    if (!stack_.empty() && stack_.back().value.is_object() && !stack_.back().haveKey) {
      throw BuildError{mark.line + 1, mark.column + 1,
                       "a mapping key must be a scalar (found a collection used as a key)"};
    }
    if (static_cast<int>(stack_.size()) >= kMaxNestingDepth) {
      throw BuildError{
          mark.line + 1, mark.column + 1,
          "nesting deeper than " + std::to_string(kMaxNestingDepth) + " levels; refusing to parse"};
    }
    Frame f;
    f.value = std::move(container);
    f.anchor = anchor;
    f.line = mark.line + 1;
    stack_.push_back(std::move(f));
  }

  void pop() {
    Frame f = std::move(stack_.back());
    stack_.pop_back();
    if (f.anchor != YAML::NullAnchor) remember(f.anchor, f.value);
    place(f.line, 0, std::move(f.value));
  }

  void remember(YAML::anchor_t anchor, const json& value) {
    std::size_t nodes = countNodes(value);
    // Anchored nodes are copied (nested anchors copy their content again): bound the work.
    anchorNodes_ += nodes;
    if (anchorNodes_ > kMaxAnchorCopyNodes) {
      throw BuildError{0, 0,
                       "anchors (&name) cover more than " + std::to_string(kMaxAnchorCopyNodes) +
                           " nodes in total; refusing to parse"};
    }
    anchors_[anchor] = Anchored{value, nodes};
  }

  void addValue(const YAML::Mark& mark, json value, YAML::anchor_t anchor,
                const std::string& keyText, bool isMergeKey = false) {
    if (anchor != YAML::NullAnchor) remember(anchor, value);
    if (!stack_.empty() && stack_.back().value.is_object() && !stack_.back().haveKey) {
      Frame& top = stack_.back();
      top.haveKey = true;
      top.key = keyText;
      top.keyIsMerge = isMergeKey;
      if (!isMergeKey) {
        auto [it, inserted] = top.keyLines.emplace(keyText, mark.line + 1);
        if (!inserted) {
          current_.duplicateKeys.push_back(
              {model_internal::childPath(pathOfTopWithSelf(), keyText),
               "duplicate key \"" + keyText + "\" (first defined at line " +
                   std::to_string(it->second) + "; the last value wins here, kubectl rejects it)"});
        }
      }
      return;
    }
    place(mark.line + 1, mark.column + 1, std::move(value));
  }

  // The path of the innermost open container itself.
  std::string pathOfTopWithSelf() const {
    std::string path;
    for (std::size_t i = 0; i + 1 < stack_.size(); ++i) {
      const Frame& f = stack_[i];
      path = f.value.is_array() ? model_internal::indexPath(path, f.value.size())
                                : model_internal::childPath(path, f.key);
    }
    return path;
  }

  void place(int line, int column, json value) {
    if (stack_.empty()) {
      current_.value = std::move(value);
      current_.empty = current_.value.is_null();
      return;
    }
    Frame& top = stack_.back();
    if (top.value.is_array()) {
      top.value.push_back(std::move(value));
      return;
    }
    if (!top.haveKey) {
      throw BuildError{line, column, "a mapping key must be a scalar (found a collection)"};
    }
    top.haveKey = false;
    if (top.keyIsMerge) {
      if (value.is_object()) {
        top.merges.push_back(std::move(value));
      } else if (value.is_array() && std::all_of(value.begin(), value.end(),
                                                 [](const json& m) { return m.is_object(); })) {
        for (auto& m : value) top.merges.push_back(std::move(m));
      } else {
        throw BuildError{line, column, "the merge key << needs a mapping or a list of mappings"};
      }
      return;
    }
    top.value[top.key] = std::move(value);
  }

  std::vector<Frame> stack_;
  std::map<YAML::anchor_t, Anchored> anchors_;
  std::size_t aliasNodes_ = 0;
  std::size_t anchorNodes_ = 0;
  Finished current_;
  bool sawRoot_ = false;
  std::vector<Finished> finished_;
  int lastDocumentStart_ = -1;
  std::size_t documents_ = 0;
};

// The character at 1-based (line, column), quoted, for messages.
std::string describeCharAt(std::string_view text, int line, int column) {
  std::size_t pos = 0;
  for (int l = 1; l < line && pos < text.size(); ++l) {
    std::size_t nl = text.find('\n', pos);
    if (nl == std::string_view::npos) return "text";
    pos = nl + 1;
  }
  pos += static_cast<std::size_t>(column > 0 ? column - 1 : 0);
  if (pos >= text.size()) return "end of input";
  unsigned char c = static_cast<unsigned char>(text[pos]);
  if (c < 0x20 || c >= 0x80) return "character";
  return std::string("\"") + static_cast<char>(c) + "\"";
}

class ViewBuf final : public std::streambuf {
 public:
  explicit ViewBuf(std::string_view s) {
    char* b = const_cast<char*>(s.data());
    setg(b, b, b + s.size());
  }
};

}  // namespace

Status checkInputSize(std::string_view sourceName, std::uint64_t size, bool atLeast) {
  if (size <= kMaxInputBytes) return Status::ok();
  return Status::invalidArgument(
      std::string(sourceName) + " is " + (atLeast ? "more than " : "") +
      std::to_string(atLeast ? kMaxInputBytes : size) + " bytes, over the limit of " +
      std::to_string(kMaxInputBytes) +
      " bytes (4 MiB): Kubernetes objects are limited to about 1.5 MiB by etcd, so no "
      "manifest needs more; split the file or check that it is the right one");
}

Result<std::vector<YamlDocument>> yamlToJsonDocuments(
    std::string_view text, std::string_view sourceName,
    std::vector<std::vector<Problem>>* duplicateKeys) {
  if (duplicateKeys) duplicateKeys->clear();
  try {
    UPDRAFT_RETURN_IF_ERROR(checkInputSize(sourceName, text.size()));
    // A UTF-8 byte order mark is allowed at the start.
    if (text.size() >= 3 && static_cast<unsigned char>(text[0]) == 0xef &&
        static_cast<unsigned char>(text[1]) == 0xbb &&
        static_cast<unsigned char>(text[2]) == 0xbf) {
      text.remove_prefix(3);
    }
    if (std::size_t bad = firstBinaryByte(text); bad != std::string_view::npos) {
      return Status::invalidArgument(std::string(sourceName) +
                                     " is not text (binary data at byte " + std::to_string(bad) +
                                     "): expected UTF-8 YAML or JSON");
    }
    if (int line = flowDepthViolationLine(text, kMaxNestingDepth); line > 0) {
      return Status::invalidArgument(std::string(sourceName) + ":" + std::to_string(line) +
                                     ": [ ] / { } nesting deeper than " +
                                     std::to_string(kMaxNestingDepth) +
                                     " levels; refusing to parse");
    }
    ViewBuf buf(text);
    std::istream in(&buf);
    YAML::Parser parser(in);
    JsonBuilder builder;
    try {
      while (parser.HandleNextDocument(builder)) {
      }
    } catch (const BuildError& e) {
      if (e.stuck) {
        return Status::invalidArgument(
            lineCol(sourceName, e.line, e.column) + ": YAML syntax error: unexpected " +
            describeCharAt(text, e.line, e.column) + " (a ',' outside [ ] or { }?)");
      }
      if (e.line == 0) return Status::invalidArgument(std::string(sourceName) + ": " + e.message);
      return Status::invalidArgument(lineCol(sourceName, e.line, e.column) + ": " + e.message);
    } catch (const YAML::DeepRecursion& e) {
      return Status::invalidArgument(lineCol(sourceName, e.mark.line + 1, e.mark.column + 1) +
                                     ": nesting too deep; refusing to parse");
    } catch (const YAML::ParserException& e) {
      return Status::invalidArgument(lineCol(sourceName, e.mark.line + 1, e.mark.column + 1) +
                                     ": YAML syntax error: " + e.msg);
    }
    std::vector<YamlDocument> out;
    int index = 0;
    for (auto& f : builder.finished()) {
      if (!f.empty) {
        out.push_back(YamlDocument{std::move(f.value), index, f.line});
        if (duplicateKeys) duplicateKeys->push_back(std::move(f.duplicateKeys));
      }
      ++index;
    }
    return out;
  } catch (const std::bad_alloc&) {
    return Status::invalidArgument(std::string(sourceName) + ": out of memory while parsing");
  } catch (const std::exception& e) {
    return Status::internal(std::string(sourceName) +
                            ": unexpected error while parsing: " + e.what());
  }
}

Result<nlohmann::json> yamlToJson(std::string_view text, std::string_view sourceName) {
  auto docs = yamlToJsonDocuments(text, sourceName);
  if (!docs.isOk()) return docs.status();
  if (docs->empty()) {
    return Status::invalidArgument(std::string(sourceName) +
                                   ": no documents (the input is empty or only comments)");
  }
  if (docs->size() > 1) {
    return Status::invalidArgument(std::string(sourceName) + ": expected one document, found " +
                                   std::to_string(docs->size()));
  }
  return std::move(docs->front().value);
}

}  // namespace updraft
