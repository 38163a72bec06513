// YAML / JSON text -> KEDA object model (model.h).
//
//   auto docs = parseDocuments(text, "so.yaml");          // whole-input problems: a Status
//   for (const Document& d : *docs) {                      // per-document problems: d.errors
//     if (const ScaledObject* so = d.scaledObject()) ...
//   }
//
// Text is read as YAML 1.2 with the core schema (JSON is YAML, so JSON input takes the same path):
// plain `null`, `~` or nothing is null, `true`/`false` are booleans, `12`, `0x1f`, `0o17` integers,
// `1.5`, `1e3`, `.inf` floats, anything else a string; quoted scalars are always strings. Mapping
// JSON onto the model is strict like the Kubernetes API server: a wrong type, an out-of-range or
// unsupported value and a missing required field are errors naming the field path
// (`spec.triggers[1].metadata.lagThreshold`); an unknown field is a warning.
//
// Nothing here throws. Inputs are bounded: kMaxInputBytes of text, kMaxNestingDepth levels of
// nesting, kMaxAliasNodes nodes produced by YAML aliases.
#pragma once

#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "updraft/clock.h"
#include "updraft/model.h"
#include "updraft/quantity.h"  // parseQuantity, used for ProcessPool resources
#include "updraft/status.h"

namespace updraft {

// One finding about one field. `path` is like `spec.triggers[0].metadata.lagThreshold` or
// `metadata.annotations["autoscaling.keda.sh/paused"]`; "" means the whole document.
struct Problem {
  std::string path;
  std::string message;

  bool operator==(const Problem&) const = default;
};

// "spec.triggers[0].metadata.lagThreshold: must be a string (quote it: \"5\")"
std::string toString(const Problem& problem);

inline constexpr std::size_t kMaxInputBytes = 4u << 20;  // 4 MiB
inline constexpr int kMaxNestingDepth = 128;
inline constexpr std::size_t kMaxAliasNodes = 100000;

// OK when `size` bytes may be parsed; else InvalidArgument naming the source, the size and the
// limit. `atLeast` says the size is a lower bound (a stream that was not read to its end).
Status checkInputSize(std::string_view sourceName, std::uint64_t size, bool atLeast = false);

// One YAML document as JSON, with where it starts.
struct YamlDocument {
  nlohmann::json value;
  int index = 0;  // 0-based position in the stream, empty documents included
  int line = 1;   // 1-based line of the document's root node
};

// Every non-empty document of `text` as JSON. Errors (InvalidArgument, message starting with
// `<sourceName>` and, when known, `:<line>:<column>`): input too big, not UTF-8 text, nesting
// deeper than kMaxNestingDepth, YAML syntax errors, alias expansion beyond kMaxAliasNodes, mapping
// keys that are not scalars. Duplicate mapping keys are not errors here: they are reported in
// `duplicateKeys` (path -> message) when given, and the last value wins.
Result<std::vector<YamlDocument>> yamlToJsonDocuments(
    std::string_view text, std::string_view sourceName = "<input>",
    std::vector<std::vector<Problem>>* duplicateKeys = nullptr);

// Exactly one document as JSON ("no documents" / "expected one document, found N" otherwise).
Result<nlohmann::json> yamlToJson(std::string_view text, std::string_view sourceName = "<input>");

// The objects a document may hold. ClusterTriggerAuthentication is a TriggerAuthentication with
// clusterScoped = true. std::monostate: the kind is unknown or not an object at all.
using KedaObject =
    std::variant<std::monostate, ScaledObject, ScaledJob, TriggerAuthentication, ProcessPool>;

struct Document {
  std::string sourceName;
  int index = 0;  // 0-based position in the stream (empty documents count)
  int line = 1;   // 1-based line where the document's content starts
  std::string apiVersion;
  std::string kind;
  // Filled as far as the JSON allowed, even when `errors` is not empty (fields with an error keep
  // their defaults).
  KedaObject object;
  nlohmann::json raw;
  std::vector<Problem> errors;
  std::vector<Problem> warnings;

  bool ok() const { return errors.empty(); }
  bool hasObject() const { return !std::holds_alternative<std::monostate>(object); }
  const ScaledObject* scaledObject() const { return std::get_if<ScaledObject>(&object); }
  const ScaledJob* scaledJob() const { return std::get_if<ScaledJob>(&object); }
  const TriggerAuthentication* triggerAuthentication() const {
    return std::get_if<TriggerAuthentication>(&object);
  }
  const ProcessPool* processPool() const { return std::get_if<ProcessPool>(&object); }
  const ObjectMeta* objectMeta() const;  // nullptr without an object
  // "<namespace>/<name>", "<name>" for cluster-scoped objects, "<unnamed>" without a name.
  std::string displayName() const;
};

// Parses every document of a YAML or JSON stream (documents separated by `---`; empty ones are
// skipped). The Status fails only for whole-input problems (see yamlToJsonDocuments, plus "no
// documents" when nothing but comments/whitespace is there); problems of one document are in its
// `errors`/`warnings`.
Result<std::vector<Document>> parseDocuments(std::string_view text, std::string_view sourceName);

// Maps one object (already JSON, e.g. from an admission request) onto the model. Never fails:
// problems are in the returned document's errors/warnings. sourceName is empty, line 0.
Document parseObject(const nlohmann::json& object);

// RFC 3339 date-time ("2024-05-01T12:00:00Z", "2024-05-01T14:00:00.5+02:00").
Result<TimePoint> parseRfc3339(std::string_view text);

}  // namespace updraft
