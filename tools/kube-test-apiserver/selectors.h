// Label selectors (the query-string syntax and metav1.LabelSelector objects) and field selectors.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common.h"

namespace updraft::kubetest {

class LabelSelector {
 public:
  enum class Op { Exists, DoesNotExist, Equals, NotEquals, In, NotIn, Gt, Lt };
  struct Requirement {
    std::string key;
    Op op;
    std::vector<std::string> values;
  };

  LabelSelector() = default;
  // "a=b,c!=d,e in (f,g),h notin (i),j,!k" ; throws ApiError 400 on a syntax error.
  static LabelSelector parse(std::string_view text);
  // A metav1.LabelSelector object {matchLabels, matchExpressions}; throws ApiError 400.
  // A null selector matches nothing (as Kubernetes treats a nil selector), an empty one everything.
  static LabelSelector fromObject(const json& selector);

  bool matches(const json& labels) const;  // labels: an object of strings, or null
  bool empty() const { return requirements_.empty() && !matchNothing_; }
  // The canonical string form (requirements sorted by key), as /scale's status.selector.
  std::string toString() const;

 private:
  std::vector<Requirement> requirements_;
  bool matchNothing_ = false;
};

class FieldSelector {
 public:
  FieldSelector() = default;
  // "metadata.name=x,metadata.namespace!=y"; fields other than metadata.name, metadata.namespace
  // and the ones in `extraFields` give ApiError 400 ("field label not supported: ...").
  static FieldSelector parse(std::string_view text, const std::vector<std::string>& extraFields);
  bool matches(const json& object) const;
  bool empty() const { return terms_.empty(); }
  // The value a term requires for `field` with "=" (used to narrow a watch by name), or "".
  std::string equalityValue(const std::string& field) const;

 private:
  struct Term {
    std::string field;
    bool equals;
    std::string value;
  };
  std::vector<Term> terms_;
};

// The fields a resource supports in field selectors besides metadata.name/namespace.
std::vector<std::string> selectableFields(const std::string& group, const std::string& resource);

}  // namespace updraft::kubetest
