#include "metrics_api/value_extractors.h"

#include <tinyxml2.h>
#include <yaml-cpp/yaml.h>

#include <cmath>
#include <cstdlib>
#include <exception>
#include <nlohmann/json.hpp>
#include <optional>
#include <regex>

#include "updraft/metadata.h"
#include "updraft/quantity.h"

namespace updraft::metrics_api {
namespace {

constexpr size_t kMaxXmlDepth = 256;
constexpr size_t kMaxQuotedValue = 64;

std::string quote(std::string_view s) {
  std::string out = "\"";
  if (s.size() > kMaxQuotedValue) {
    out += s.substr(0, kMaxQuotedValue);
    out += "...";
  } else {
    out += s;
  }
  return out + "\"";
}

using metadata::trim;

bool isDigits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

// KEDA's message for a value that is neither a number nor a quantity string.
Status wrongValue(std::string_view got) {
  return Status::invalidArgument(
      "valueLocation must point to value of type number or a string representing a Quantity got: "
      "'" +
      std::string(got.substr(0, kMaxQuotedValue)) + (got.size() > kMaxQuotedValue ? "...'" : "'"));
}

Result<double> quantityValue(std::string_view text) {
  auto v = parseQuantity(trim(text));
  if (!v.isOk()) return wrongValue(trim(text));
  return *v;
}

std::vector<std::string> splitDots(std::string_view s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (true) {
    size_t dot = s.find('.', start);
    if (dot == std::string_view::npos) {
      out.emplace_back(s.substr(start));
      return out;
    }
    out.emplace_back(s.substr(start, dot - start));
    start = dot + 1;
  }
}

// ---- JSON (GJSON subset) ----

struct JsonPart {
  std::string key;         // escapes resolved
  std::vector<bool> wild;  // per character of key: an unescaped '*' or '?'
  bool hasWildcard = false;
  bool isCount = false;  // an unescaped "#"
};

bool globMatch(const JsonPart& p, std::string_view s, size_t pi = 0, size_t si = 0) {
  while (pi < p.key.size()) {
    if (p.wild[pi] && p.key[pi] == '*') {
      for (size_t k = si; k <= s.size(); ++k) {
        if (globMatch(p, s, pi + 1, k)) return true;
      }
      return false;
    }
    if (si >= s.size()) return false;
    if (!(p.wild[pi] && p.key[pi] == '?') && p.key[pi] != s[si]) return false;
    ++pi;
    ++si;
  }
  return si == s.size();
}

Result<std::vector<JsonPart>> parseJsonPath(std::string_view path) {
  auto unsupported = [&](std::string_view what) {
    return Status::invalidArgument("valueLocation " + quote(path) + " uses " + std::string(what) +
                                   ", which updraft's GJSON subset does not support");
  };
  if (path.substr(0, 2) == "..") return unsupported("JSON-lines syntax (\"..\")");
  if (!path.empty() && path[0] == '@') return unsupported("a modifier ('@')");
  if (!path.empty() && (path[0] == '[' || path[0] == '{')) return unsupported("a multipath");
  std::vector<JsonPart> parts;
  JsonPart cur;
  bool curEscaped = false;  // the component had any escape (so "#" is literal)
  auto finish = [&]() -> Status {
    if (cur.key.empty()) {
      return Status::invalidArgument("valueLocation " + quote(path) + " has an empty component");
    }
    cur.isCount = cur.key == "#" && !curEscaped;
    if (!curEscaped && cur.key.size() > 1 && cur.key[0] == '#') {
      return unsupported("an array query (\"#(...)\")");
    }
    parts.push_back(std::move(cur));
    cur = JsonPart{};
    curEscaped = false;
    return Status::ok();
  };
  for (size_t i = 0; i < path.size(); ++i) {
    char c = path[i];
    if (c == '\\') {
      if (i + 1 >= path.size()) {
        return Status::invalidArgument("valueLocation " + quote(path) + " ends with '\\'");
      }
      cur.key += path[++i];
      cur.wild.push_back(false);
      curEscaped = true;
    } else if (c == '.') {
      UPDRAFT_RETURN_IF_ERROR(finish());
    } else if (c == '|') {
      return unsupported("a pipe ('|')");
    } else {
      bool wild = c == '*' || c == '?';
      cur.key += c;
      cur.wild.push_back(wild);
      cur.hasWildcard = cur.hasWildcard || wild;
    }
  }
  UPDRAFT_RETURN_IF_ERROR(finish());
  for (size_t i = 0; i + 1 < parts.size(); ++i) {
    if (parts[i].isCount) return unsupported("\"#.\" (values across an array)");
  }
  return parts;
}

const char* gjsonTypeName(const nlohmann::ordered_json& v) {
  if (v.is_null()) return "Null";
  if (v.is_boolean()) return v.get<bool>() ? "True" : "False";
  if (v.is_number()) return "Number";
  if (v.is_string()) return "String";
  return "JSON";
}

Result<double> jsonExtract(const std::vector<JsonPart>& parts, const std::string& path,
                           std::string_view body) {
  nlohmann::ordered_json doc = nlohmann::ordered_json::parse(body, nullptr, false);
  if (doc.is_discarded()) return Status::invalidArgument("the response is not valid JSON");
  const nlohmann::ordered_json* cur = &doc;
  auto notFound = [&] {
    return Status::invalidArgument("valueLocation " + quote(path) +
                                   " was not found in the JSON response");
  };
  for (const auto& part : parts) {
    if (cur->is_array()) {
      if (part.isCount) return static_cast<double>(cur->size());
      if (!isDigits(part.key) || part.key.size() > 9) return notFound();
      size_t index = std::stoul(part.key);
      if (index >= cur->size()) return notFound();
      cur = &(*cur)[index];
    } else if (cur->is_object()) {
      const nlohmann::ordered_json* next = nullptr;
      if (part.hasWildcard) {
        for (auto it = cur->begin(); it != cur->end(); ++it) {
          if (globMatch(part, it.key())) {
            next = &it.value();
            break;
          }
        }
      } else if (auto it = cur->find(part.key); it != cur->end()) {
        next = &it.value();
      }
      if (!next) return notFound();
      cur = next;
    } else {
      return notFound();
    }
  }
  if (cur->is_number()) return cur->get<double>();
  if (cur->is_string()) return quantityValue(cur->get_ref<const std::string&>());
  return wrongValue(gjsonTypeName(*cur));
}

// ---- Prometheus ----

struct PromMatcher {
  enum class Op { kEq, kNe, kRe, kNre };
  std::string label;
  Op op = Op::kEq;
  std::string value;
  std::optional<std::regex> re;

  bool matches(std::string_view v) const {
    switch (op) {
      case Op::kEq:
        return v == value;
      case Op::kNe:
        return v != value;
      case Op::kRe:
        return std::regex_match(v.begin(), v.end(), *re);
      case Op::kNre:
        return !std::regex_match(v.begin(), v.end(), *re);
    }
    return false;
  }
};

bool isNameStart(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
}
bool isNameChar(char c) { return isNameStart(c) || (c >= '0' && c <= '9'); }

struct Cursor {
  std::string_view s;
  size_t i = 0;
  void skipSpace() {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) ++i;
  }
  bool eat(char c) {
    if (i < s.size() && s[i] == c) {
      ++i;
      return true;
    }
    return false;
  }
  std::string name(bool allowColon) {
    size_t start = i;
    if (i < s.size() && isNameStart(s[i]) && (allowColon || s[i] != ':')) ++i;
    while (i > start && i < s.size() && isNameChar(s[i]) && (allowColon || s[i] != ':')) ++i;
    return std::string(s.substr(start, i - start));
  }
  // A quoted label value ("..." or '...'; backquotes raw), escapes \\ \" \' \n \t.
  std::optional<std::string> quoted() {
    if (i >= s.size()) return std::nullopt;
    char q = s[i];
    if (q != '"' && q != '\'' && q != '`') return std::nullopt;
    ++i;
    std::string out;
    while (i < s.size() && s[i] != q) {
      if (s[i] == '\\' && q != '`' && i + 1 < s.size()) {
        char e = s[++i];
        out += e == 'n' ? '\n' : e == 't' ? '\t' : e;
      } else {
        out += s[i];
      }
      ++i;
    }
    if (i >= s.size()) return std::nullopt;
    ++i;
    return out;
  }
};

Status parsePromSelector(std::string_view text, std::string& name,
                         std::vector<PromMatcher>& matchers) {
  auto bad = [&](std::string_view why) {
    return Status::invalidArgument("valueLocation " + quote(text) +
                                   " is not a valid Prometheus selector: " + std::string(why));
  };
  Cursor c{text};
  c.skipSpace();
  name = c.name(true);
  c.skipSpace();
  if (c.eat('{')) {
    while (true) {
      c.skipSpace();
      if (c.eat('}')) break;
      PromMatcher m;
      m.label = c.name(false);
      if (m.label.empty()) return bad("expected a label name");
      c.skipSpace();
      if (c.eat('=')) {
        m.op = c.eat('~') ? PromMatcher::Op::kRe : PromMatcher::Op::kEq;
      } else if (c.eat('!')) {
        if (c.eat('=')) {
          m.op = PromMatcher::Op::kNe;
        } else if (c.eat('~')) {
          m.op = PromMatcher::Op::kNre;
        } else {
          return bad("expected != or !~");
        }
        if (m.op == PromMatcher::Op::kNe && c.i < c.s.size() && c.s[c.i] == '~') {
          return bad("unexpected '~'");
        }
      } else {
        return bad("expected =, !=, =~ or !~ after label " + m.label);
      }
      c.skipSpace();
      auto value = c.quoted();
      if (!value) return bad("expected a quoted value for label " + m.label);
      m.value = *value;
      if (m.op == PromMatcher::Op::kRe || m.op == PromMatcher::Op::kNre) {
        try {
          m.re.emplace(m.value, std::regex::ECMAScript);
        } catch (const std::exception&) {
          return bad("invalid regular expression for label " + m.label);
        }
      }
      if (m.label == "__name__" && m.op == PromMatcher::Op::kEq && name.empty()) {
        name = m.value;
      } else {
        matchers.push_back(std::move(m));
      }
      c.skipSpace();
      if (c.eat(',')) continue;
      if (c.eat('}')) break;
      return bad("expected ',' or '}'");
    }
  }
  c.skipSpace();
  if (c.i != text.size()) return bad("unexpected text after the selector");
  if (name.empty()) return bad("a metric name is required");
  return Status::ok();
}

Result<double> promExtract(const std::string& name, const std::vector<PromMatcher>& matchers,
                           const std::string& text, std::string_view body) {
  bool nameSeen = false;
  size_t lineNo = 0;
  size_t pos = 0;
  while (pos < body.size()) {
    size_t eol = body.find('\n', pos);
    if (eol == std::string_view::npos) eol = body.size();
    std::string_view line = trim(body.substr(pos, eol - pos));
    pos = eol + 1;
    ++lineNo;
    if (line.empty() || line[0] == '#') continue;
    auto malformed = [&](std::string_view why) {
      return Status::invalidArgument("prometheus format parsing error: line " +
                                     std::to_string(lineNo) + ": " + std::string(why));
    };
    Cursor c{line};
    std::string sample = c.name(true);
    if (sample.empty()) return malformed("expected a metric name");
    std::vector<std::pair<std::string, std::string>> labels;
    c.skipSpace();
    if (c.eat('{')) {
      while (true) {
        c.skipSpace();
        if (c.eat('}')) break;
        std::string label = c.name(false);
        if (label.empty()) return malformed("expected a label name");
        c.skipSpace();
        if (!c.eat('=')) return malformed("expected '=' after label " + label);
        c.skipSpace();
        if (c.i >= line.size() || line[c.i] != '"') return malformed("expected a quoted value");
        auto value = c.quoted();
        if (!value) return malformed("unterminated label value");
        labels.emplace_back(std::move(label), std::move(*value));
        c.skipSpace();
        if (c.eat(',')) continue;
        if (c.eat('}')) break;
        return malformed("expected ',' or '}'");
      }
    }
    c.skipSpace();
    size_t start = c.i;
    while (c.i < line.size() && line[c.i] != ' ' && line[c.i] != '\t') ++c.i;
    std::string valueText(line.substr(start, c.i - start));
    if (valueText.empty()) return malformed("expected a value");
    char* end = nullptr;
    double value = std::strtod(valueText.c_str(), &end);
    if (end != valueText.c_str() + valueText.size()) return malformed("invalid value");
    if (sample != name) continue;
    nameSeen = true;
    bool match = true;
    for (const auto& m : matchers) {
      std::string_view labelValue;
      for (const auto& [l, v] : labels) {
        if (l == m.label) labelValue = v;
      }
      if (!m.matches(labelValue)) {
        match = false;
        break;
      }
    }
    if (match) return value;
  }
  if (!nameSeen) return Status::invalidArgument("metric " + quote(name) + " not found");
  return Status::invalidArgument("value " + text + " not found (no sample matches the labels)");
}

// ---- XML (tinyxml2) ----

// The local name of an element ("x:pending" -> "pending").
std::string_view localName(const tinyxml2::XMLElement* e) {
  std::string_view name = e->Name();
  auto colon = name.find(':');
  return colon == std::string_view::npos ? name : name.substr(colon + 1);
}

const tinyxml2::XMLElement* childNamed(const tinyxml2::XMLElement* parent, std::string_view name) {
  for (auto* c = parent->FirstChildElement(); c; c = c->NextSiblingElement()) {
    if (localName(c) == name) return c;
  }
  return nullptr;
}

Result<double> xmlExtract(const std::vector<std::string>& path, const std::string& text,
                          std::string_view body) {
  tinyxml2::XMLDocument doc;
  if (doc.Parse(body.data(), body.size()) != tinyxml2::XML_SUCCESS || !doc.RootElement()) {
    return Status::invalidArgument(std::string("the response is not valid XML: ") +
                                   (doc.ErrorStr() ? doc.ErrorStr() : "no root element"));
  }
  const tinyxml2::XMLElement* root = doc.RootElement();
  // The path starts below the root element; naming the root first is accepted too.
  auto walk = [&](size_t first) -> const tinyxml2::XMLElement* {
    const tinyxml2::XMLElement* cur = root;
    for (size_t k = first; k < path.size() && cur; ++k) cur = childNamed(cur, path[k]);
    return cur;
  };
  const tinyxml2::XMLElement* node = walk(0);
  if (!node && path.size() > 1 && localName(root) == path[0]) node = walk(1);
  if (!node) {
    return Status::invalidArgument("valueLocation " + quote(text) +
                                   " was not found in the XML response");
  }
  if (node->FirstChildElement()) return wrongValue("an element with children");
  return quantityValue(node->GetText() ? node->GetText() : "");
}

// ---- YAML ----

Result<double> yamlExtract(const std::vector<std::string>& path, const std::string& text,
                           std::string_view body) {
  try {
    YAML::Node cur = YAML::Load(std::string(body));
    for (const auto& key : path) {
      YAML::Node next;
      bool found = false;
      if (cur.IsMap()) {
        for (auto it = cur.begin(); it != cur.end(); ++it) {
          if (it->first.IsScalar() && it->first.Scalar() == key) {
            next = it->second;
            found = true;
            break;
          }
        }
      } else if (cur.IsSequence() && isDigits(key) && key.size() < 10) {
        size_t index = std::stoul(key);
        if (index < cur.size()) {
          next = cur[index];
          found = true;
        }
      }
      if (!found) {
        return Status::invalidArgument("valueLocation " + quote(text) + ": key " + quote(key) +
                                       " was not found in the YAML response");
      }
      cur.reset(next);
    }
    if (!cur.IsScalar()) return wrongValue(cur.IsNull() ? "null" : "a mapping or sequence");
    return quantityValue(cur.Scalar());
  } catch (const std::exception&) {
    return Status::invalidArgument("the response is not valid YAML");
  }
}

}  // namespace

struct ValueLocation::Impl {
  Format format = Format::kJson;
  std::string text;
  std::vector<JsonPart> json;
  std::string promName;
  std::vector<PromMatcher> matchers;
  std::vector<std::string> dotted;
};

ValueLocation::ValueLocation(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ValueLocation::ValueLocation(ValueLocation&&) noexcept = default;
ValueLocation& ValueLocation::operator=(ValueLocation&&) noexcept = default;
ValueLocation::~ValueLocation() = default;

const std::string& ValueLocation::text() const { return impl_->text; }

Result<ValueLocation> ValueLocation::parse(Format format, std::string_view location) {
  auto impl = std::make_unique<Impl>();
  impl->format = format;
  impl->text = std::string(location);
  switch (format) {
    case Format::kJson: {
      auto parts = parseJsonPath(location);
      if (!parts.isOk()) return parts.status();
      impl->json = std::move(parts.value());
      break;
    }
    case Format::kPrometheus:
      UPDRAFT_RETURN_IF_ERROR(parsePromSelector(location, impl->promName, impl->matchers));
      break;
    case Format::kXml:
    case Format::kYaml:
      impl->dotted = splitDots(location);
      for (const auto& part : impl->dotted) {
        if (part.empty()) {
          return Status::invalidArgument("valueLocation " + quote(location) +
                                         " has an empty component");
        }
      }
      break;
  }
  return ValueLocation(std::move(impl));
}

Result<double> ValueLocation::extract(std::string_view body) const {
  try {
    switch (impl_->format) {
      case Format::kJson:
        return jsonExtract(impl_->json, impl_->text, body);
      case Format::kPrometheus:
        return promExtract(impl_->promName, impl_->matchers, impl_->text, body);
      case Format::kXml:
        return xmlExtract(impl_->dotted, impl_->text, body);
      case Format::kYaml:
        return yamlExtract(impl_->dotted, impl_->text, body);
    }
  } catch (const std::exception& e) {
    // std::regex may throw on pathological input (e.g. error_complexity).
    return Status::invalidArgument(std::string("could not read the value: ") + e.what());
  }
  return Status::internal("unknown format");
}

}  // namespace updraft::metrics_api
