// Reading one number out of a metrics-api response (keda-scalers.md §2.9), per `format`.
//
// json: a GJSON path subset (https://github.com/tidwall/gjson/blob/master/SYNTAX.md):
//   - components separated by '.', e.g. "data.queue.depth";
//   - a numeric component indexes an array ("items.0.count"); on an object it is a key;
//   - "#" as the last component is the length of an array ("items.#");
//   - '*' (any run) and '?' (any one character) wildcards in a key match the first key in document
//     order;
//   - '\' escapes the next character, so "a\.b" is the key "a.b" and "\*" a literal '*'.
//   Not supported (rejected when the trigger is parsed): modifiers ("@reverse"), queries ("#(...)",
//   "#.key"), pipes ('|'), multipaths ('[' / '{' at the start), JSON-lines ("..").
//   A number is returned as is; a string is parsed as a Kubernetes quantity ("500m"); anything else
//   is an error.
// prometheus: text exposition format; valueLocation is a PromQL selector `name{label="v", ...}`
// with
//   =, !=, =~, !~ matchers (regexes fully anchored; an absent label counts as ""). The first
//   matching sample wins. Histogram/summary series are matched by their sample name ("x_sum").
// xml: a dotted path of element names below the root element ("tasks.pending"), or starting with
//   the root's name; the element's text is parsed as a quantity. Namespace prefixes are ignored.
//   Attributes are ignored; DTDs are skipped, entities other than the five predefined ones and
//   character references are not expanded.
// yaml: a dotted path of mapping keys (a numeric component also indexes a sequence); the scalar is
//   parsed as a quantity (so 10, 1.5, 2e3 and "250m" all work).
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "updraft/status.h"

namespace updraft::metrics_api {

enum class Format { kJson, kPrometheus, kXml, kYaml };

// A parsed valueLocation for one format. Build once (parse time), use on every response.
class ValueLocation {
 public:
  // InvalidArgument naming what is wrong with the path/selector.
  static Result<ValueLocation> parse(Format format, std::string_view location);
  // The value in `body`. Errors (InvalidArgument) say what was not found or what the value was.
  Result<double> extract(std::string_view body) const;

  const std::string& text() const;

  ValueLocation(ValueLocation&&) noexcept;
  ValueLocation& operator=(ValueLocation&&) noexcept;
  ~ValueLocation();

  struct Impl;

 private:
  explicit ValueLocation(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace updraft::metrics_api
