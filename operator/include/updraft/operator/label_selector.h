// Kubernetes label selectors in their string form, parsed as k8s.io/apimachinery's labels.Parse
// does: what the `labelSelector` query parameter of list requests (and of the external metrics API)
// carries.
//
//   auto s = LabelSelector::parse("scaledobject.keda.sh/name=orders,tier notin (a,b),!legacy");
//   if (s.isOk()) s->equalityValue("scaledobject.keda.sh/name");   // "orders"
//
// Grammar (requirements joined by ','; whitespace between tokens is ignored):
//   key             exists            !key             does not exist
//   key=value       key==value        key!=value       (value may be empty: "key=")
//   key in (v1,v2)  key notin (v1,v2) key>N  key<N     (N an integer)
// Keys are qualified names ([prefix/]name: name <= 63 chars of [A-Za-z0-9-_.], alphanumeric at both
// ends; prefix a DNS-1123 subdomain <= 253 chars); values are label values (<= 63 chars, same
// alphabet, may be empty). Requirements are kept sorted by key, as apimachinery keeps them.
// Errors are InvalidArgument naming the selector and what was expected where, e.g.
//   `label selector "a in (x": found end of string, expected ',' or ')'`.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "updraft/status.h"

namespace updraft::kube {

enum class SelectorOperator {
  kExists,        // key
  kDoesNotExist,  // !key
  kEquals,        // key=v, key==v
  kNotEquals,     // key!=v
  kIn,            // key in (v...)
  kNotIn,         // key notin (v...)
  kGreaterThan,   // key>N
  kLessThan,      // key<N
};

struct LabelRequirement {
  std::string key;
  SelectorOperator op = SelectorOperator::kExists;
  std::vector<std::string> values;  // sorted, unique; one for =, ==, !=, >, <; none for exists

  // Whether a set of labels satisfies this requirement (apimachinery's Requirement.Matches: `!=`
  // and `notin` match when the key is absent; `>`/`<` need an integer label value).
  bool matches(const std::map<std::string, std::string>& labels) const;
};

class LabelSelector {
 public:
  LabelSelector() = default;  // empty: matches everything

  static Result<LabelSelector> parse(std::string_view text);

  bool empty() const { return requirements_.empty(); }
  const std::vector<LabelRequirement>& requirements() const { return requirements_; }
  bool matches(const std::map<std::string, std::string>& labels) const;

  // The value `key` must equal: from `key=v`, `key==v` or `key in (v)`; nullopt when the selector
  // does not pin `key` to one value.
  std::optional<std::string> equalityValue(std::string_view key) const;

  // The canonical string (apimachinery's Selector.String()): sorted by key, "key=v", "key!=v",
  // "key in (a,b)", "!key", ... (`key==v` is kept as `key=v`).
  std::string toString() const;

 private:
  std::vector<LabelRequirement> requirements_;
};

}  // namespace updraft::kube
