#include "selectors.h"

#include <algorithm>

namespace updraft::kubetest {

namespace {

bool isSpace(char c) { return c == ' ' || c == '\t'; }
bool isSpecial(char c) {
  return c == ',' || c == '(' || c == ')' || c == '!' || c == '=' || c == '<' || c == '>' ||
         isSpace(c);
}

// A label key: optional DNS prefix "/" name of [A-Za-z0-9._-], at most 63 chars for the name.
bool validKey(const std::string& k) {
  if (k.empty() || k.size() > 316) return false;
  for (char c : k) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.' ||
          c == '/')) {
      return false;
    }
  }
  return true;
}

bool validValue(const std::string& v) {
  if (v.size() > 63) return false;
  for (char c : v) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.')) {
      return false;
    }
  }
  return true;
}

class Lexer {
 public:
  explicit Lexer(std::string_view s) : s_(s) {}
  // Next token: "", ",", "(", ")", "!", "=", "==", "!=", ">", "<", or an identifier.
  std::string next() {
    while (pos_ < s_.size() && isSpace(s_[pos_])) ++pos_;
    if (pos_ >= s_.size()) return "";
    char c = s_[pos_];
    if (c == '=' || c == '!') {
      if (pos_ + 1 < s_.size() && s_[pos_ + 1] == '=') {
        pos_ += 2;
        return c == '=' ? "==" : "!=";
      }
      ++pos_;
      return std::string(1, c);
    }
    if (isSpecial(c)) {
      ++pos_;
      return std::string(1, c);
    }
    size_t start = pos_;
    while (pos_ < s_.size() && !isSpecial(s_[pos_])) ++pos_;
    return std::string(s_.substr(start, pos_ - start));
  }
  std::string peek() {
    size_t saved = pos_;
    std::string t = next();
    pos_ = saved;
    return t;
  }
  bool atEnd() {
    while (pos_ < s_.size() && isSpace(s_[pos_])) ++pos_;
    return pos_ >= s_.size();
  }

 private:
  std::string_view s_;
  size_t pos_ = 0;
};

bool isOperatorToken(const std::string& t) {
  return t == "," || t == "(" || t == ")" || t == "!" || t == "=" || t == "==" || t == "!=" ||
         t == ">" || t == "<";
}

[[noreturn]] void syntaxError(std::string_view text, const std::string& why) {
  throw badRequest("unable to parse requirement: " + why + " (in label selector \"" +
                   std::string(text) + "\")");
}

const char* opName(LabelSelector::Op op) {
  switch (op) {
    case LabelSelector::Op::In:
      return " in ";
    case LabelSelector::Op::NotIn:
      return " notin ";
    default:
      return "";
  }
}

}  // namespace

LabelSelector LabelSelector::parse(std::string_view text) {
  LabelSelector sel;
  Lexer lx(text);
  if (lx.atEnd()) return sel;
  while (true) {
    Requirement r;
    std::string tok = lx.next();
    bool negated = false;
    if (tok == "!") {
      negated = true;
      tok = lx.next();
    }
    if (tok.empty() || isOperatorToken(tok)) syntaxError(text, "expected a label key");
    if (!validKey(tok)) syntaxError(text, "invalid label key \"" + tok + "\"");
    r.key = tok;
    std::string op = lx.peek();
    if (negated) {
      r.op = Op::DoesNotExist;
    } else if (op.empty() || op == ",") {
      r.op = Op::Exists;
    } else {
      lx.next();
      if (op == "=" || op == "==" || op == "!=" || op == ">" || op == "<") {
        r.op = op == "!=" ? Op::NotEquals : op == ">" ? Op::Gt : op == "<" ? Op::Lt : Op::Equals;
        std::string v = lx.peek();
        if (v.empty() || v == ",") {
          v.clear();
        } else {
          lx.next();
          if (isOperatorToken(v)) syntaxError(text, "expected a value after " + op);
        }
        if (!validValue(v)) syntaxError(text, "invalid label value \"" + v + "\"");
        if ((r.op == Op::Gt || r.op == Op::Lt) &&
            (v.empty() || v.find_first_not_of("0123456789") != std::string::npos)) {
          syntaxError(text, "for 'Gt', 'Lt' operators, the value must be an integer");
        }
        r.values.push_back(v);
      } else if (op == "in" || op == "notin") {
        r.op = op == "in" ? Op::In : Op::NotIn;
        if (lx.next() != "(") syntaxError(text, "expected '(' after " + op);
        while (true) {
          std::string v = lx.next();
          if (v == ")" && r.values.empty()) break;
          if (v == "," || v == ")") {
            r.values.push_back("");
            if (v == ")") break;
            continue;
          }
          if (v.empty() || isOperatorToken(v)) syntaxError(text, "expected a value in the set");
          if (!validValue(v)) syntaxError(text, "invalid label value \"" + v + "\"");
          r.values.push_back(v);
          std::string sep = lx.next();
          if (sep == ")") break;
          if (sep != ",") syntaxError(text, "expected ',' or ')' in the set");
        }
        if (r.values.empty())
          syntaxError(text, "for 'in', 'notin' operators, values set can't be empty");
      } else {
        syntaxError(text, "unknown operator \"" + op + "\"");
      }
    }
    sel.requirements_.push_back(std::move(r));
    std::string sep = lx.next();
    if (sep.empty()) break;
    if (sep != ",") syntaxError(text, "expected ',' between requirements, found \"" + sep + "\"");
  }
  return sel;
}

LabelSelector LabelSelector::fromObject(const json& selector) {
  LabelSelector sel;
  if (selector.is_null()) {
    sel.matchNothing_ = true;
    return sel;
  }
  if (!selector.is_object()) throw badRequest("a label selector must be an object");
  if (auto ml = selector.find("matchLabels"); ml != selector.end() && !ml->is_null()) {
    if (!ml->is_object()) throw badRequest("matchLabels must be an object");
    for (const auto& [k, v] : ml->items()) {
      if (!v.is_string()) throw badRequest("matchLabels." + k + " must be a string");
      sel.requirements_.push_back({k, Op::Equals, {v.get<std::string>()}});
    }
  }
  if (auto me = selector.find("matchExpressions"); me != selector.end() && !me->is_null()) {
    if (!me->is_array()) throw badRequest("matchExpressions must be a list");
    for (const auto& e : *me) {
      if (!e.is_object()) throw badRequest("matchExpressions entries must be objects");
      Requirement r;
      r.key = e.value("key", "");
      std::string op = e.value("operator", "");
      if (op == "In") {
        r.op = Op::In;
      } else if (op == "NotIn") {
        r.op = Op::NotIn;
      } else if (op == "Exists") {
        r.op = Op::Exists;
      } else if (op == "DoesNotExist") {
        r.op = Op::DoesNotExist;
      } else {
        throw badRequest("\"" + op + "\" is not a valid label selector operator");
      }
      if (auto vs = e.find("values"); vs != e.end() && vs->is_array()) {
        for (const auto& v : *vs) {
          if (v.is_string()) r.values.push_back(v.get<std::string>());
        }
      }
      sel.requirements_.push_back(std::move(r));
    }
  }
  return sel;
}

bool LabelSelector::matches(const json& labels) const {
  if (matchNothing_) return false;
  for (const auto& r : requirements_) {
    const json* v = nullptr;
    if (labels.is_object()) {
      auto it = labels.find(r.key);
      if (it != labels.end() && it->is_string()) v = &*it;
    }
    std::string value = v ? v->get<std::string>() : "";
    auto inValues = [&] {
      return std::find(r.values.begin(), r.values.end(), value) != r.values.end();
    };
    switch (r.op) {
      case Op::Exists:
        if (!v) return false;
        break;
      case Op::DoesNotExist:
        if (v) return false;
        break;
      case Op::Equals:
      case Op::In:
        if (!v || !inValues()) return false;
        break;
      case Op::NotEquals:
      case Op::NotIn:
        if (v && inValues()) return false;
        break;
      case Op::Gt:
      case Op::Lt: {
        if (!v || value.empty() || value.find_first_not_of("0123456789") != std::string::npos) {
          return false;
        }
        long long have = std::stoll(value), want = std::stoll(r.values[0]);
        if (r.op == Op::Gt ? !(have > want) : !(have < want)) return false;
        break;
      }
    }
  }
  return true;
}

std::string LabelSelector::toString() const {
  auto reqs = requirements_;
  std::stable_sort(reqs.begin(), reqs.end(),
                   [](const auto& a, const auto& b) { return a.key < b.key; });
  std::string out;
  for (auto& r : reqs) {
    if (!out.empty()) out += ",";
    switch (r.op) {
      case Op::Exists:
        out += r.key;
        break;
      case Op::DoesNotExist:
        out += "!" + r.key;
        break;
      case Op::Equals:
        out += r.key + "=" + r.values[0];
        break;
      case Op::NotEquals:
        out += r.key + "!=" + r.values[0];
        break;
      case Op::Gt:
        out += r.key + ">" + r.values[0];
        break;
      case Op::Lt:
        out += r.key + "<" + r.values[0];
        break;
      case Op::In:
      case Op::NotIn: {
        std::sort(r.values.begin(), r.values.end());
        out += r.key + opName(r.op) + "(";
        for (size_t i = 0; i < r.values.size(); ++i) out += (i ? "," : "") + r.values[i];
        out += ")";
        break;
      }
    }
  }
  return out;
}

FieldSelector FieldSelector::parse(std::string_view text,
                                   const std::vector<std::string>& extraFields) {
  FieldSelector sel;
  std::string s(text);
  size_t start = 0;
  while (start <= s.size()) {
    size_t comma = s.find(',', start);
    std::string term =
        s.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    start = comma == std::string::npos ? s.size() + 1 : comma + 1;
    if (term.empty()) continue;
    Term t;
    size_t pos;
    if ((pos = term.find("!=")) != std::string::npos) {
      t.equals = false;
      t.field = term.substr(0, pos);
      t.value = term.substr(pos + 2);
    } else if ((pos = term.find("==")) != std::string::npos) {
      t.equals = true;
      t.field = term.substr(0, pos);
      t.value = term.substr(pos + 2);
    } else if ((pos = term.find('=')) != std::string::npos) {
      t.equals = true;
      t.field = term.substr(0, pos);
      t.value = term.substr(pos + 1);
    } else {
      throw badRequest("invalid selector: '" + std::string(text) + "'; can't understand '" + term +
                       "'");
    }
    if (t.field != "metadata.name" && t.field != "metadata.namespace" &&
        std::find(extraFields.begin(), extraFields.end(), t.field) == extraFields.end()) {
      throw badRequest("field label not supported: " + t.field);
    }
    sel.terms_.push_back(std::move(t));
  }
  return sel;
}

bool FieldSelector::matches(const json& object) const {
  for (const auto& t : terms_) {
    const json* v = jsonAtPath(object, t.field);
    std::string have;
    if (v && v->is_string()) {
      have = v->get<std::string>();
    } else if (v && !v->is_null()) {
      have = v->dump();
    }
    if ((have == t.value) != t.equals) return false;
  }
  return true;
}

std::string FieldSelector::equalityValue(const std::string& field) const {
  for (const auto& t : terms_) {
    if (t.field == field && t.equals) return t.value;
  }
  return "";
}

std::vector<std::string> selectableFields(const std::string& group, const std::string& resource) {
  if (group.empty() && resource == "pods") {
    return {"spec.nodeName",           "spec.restartPolicy", "spec.schedulerName",
            "spec.serviceAccountName", "status.phase",       "status.podIP"};
  }
  if (group.empty() && resource == "events") {
    return {"involvedObject.kind",
            "involvedObject.namespace",
            "involvedObject.name",
            "involvedObject.uid",
            "involvedObject.apiVersion",
            "involvedObject.resourceVersion",
            "involvedObject.fieldPath",
            "reason",
            "reportingComponent",
            "source",
            "type"};
  }
  if (group.empty() && resource == "secrets") return {"type"};
  if (group.empty() && resource == "namespaces") return {"status.phase"};
  if (group == "batch" && resource == "jobs") return {"status.successful"};
  return {};
}

}  // namespace updraft::kubetest
