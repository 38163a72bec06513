// KEDA's declarative trigger-metadata rules (TypedConfig, keda-scalers.md §1.5) as a reader that
// scaler factories call field by field:
//
//   MetadataReader r(config);
//   auto topic = r.string("topic", {.order = {From::kTriggerMetadata, From::kResolvedEnv}});
//   auto lag = r.int64("lagThreshold", {.defaultValue = "10"});
//   auto modes = r.list("authModes;authMode", {.optional = true, .allowed = {"basic", "bearer"}});
//   auto password = r.string("password", {.order = {From::kAuthParams}, .optional = true});
//   r.deprecated("type", "use the trigger's metricType instead");
//   if (lag && *lag <= 0) r.addError("lagThreshold", "must be greater than 0");
//   UPDRAFT_RETURN_IF_ERROR(r.finish());   // every problem found, joined with "; "
//
// Rules (identical to KEDA unless noted):
// - A name may list aliases separated by ';' ("authModes;authMode"), tried in order; messages use
// the
//   first one.
// - Sources are tried in `Opt::order`; for each source every alias is tried. triggerMetadata and
//   authParams are looked up by name; resolvedEnv through the indirection
//   resolvedEnv[triggerMetadata["<name>FromEnv"]]. The first non-empty value wins.
// - Values are whitespace-trimmed, and an empty value counts as absent.
// - Absent, no default, not optional => `missing required parameter "<name>" in [<order>]`. With
//   ScalerConfig::secretsUnresolved (offline validation) that error is skipped when the order
//   includes resolvedEnv or authParams, and unresolved(name) turns true.
// - Conversions: integers and floats follow JSON number syntax (ints reject "10.5", "1e3", "+5",
// "010");
//   booleans take Go's ParseBool spellings (1 0 t f T F true false TRUE FALSE True False);
//   durations take a Go duration ("1m30s") or an integer count of milliseconds, and must not be
//   negative; maps are "k1=v1,k2=v2" where each element must split into exactly two parts on '='
//   (so a value holding
//   '=' is rejected); lists split on ',' with each element trimmed.
// - Errors are collected, never thrown; finish() returns them all as one InvalidArgument.
// - Messages quote a value only when it came from triggerMetadata or a default. Values from
// authParams
//   or resolvedEnv (secrets, once resolved) are never echoed, nor are values of `Opt::sensitive`
//   parameters.
//
// A reader is a short-lived, single-threaded helper bound to one ScalerConfig (which must outlive
// it).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "updraft/model.h"
#include "updraft/scaler.h"
#include "updraft/status.h"

namespace updraft {

// Where a parameter may come from (KEDA's ParsingOrder).
enum class From { kTriggerMetadata, kResolvedEnv, kAuthParams };
// "triggerMetadata", "resolvedEnv", "authParams".
const char* fromName(From from);

// How one parameter is read. Use designated initializers: `{.optional = true}`.
struct Opt {
  // Sources in lookup order. KEDA requires an explicit order; here the default is triggerMetadata.
  std::vector<From> order = {From::kTriggerMetadata};
  // Absent is fine (the result is nullopt unless there is a default).
  bool optional = false;
  // Used when absent; parsed and checked like a given value. Empty = no default.
  std::string defaultValue;
  // KEDA's enum=: the value (or, for lists, every element) must be one of these. Case-sensitive.
  std::vector<std::string> allowed;
  // KEDA's exclusiveSet=: a list may hold at most one of these.
  std::vector<std::string> exclusiveSet;
  // KEDA's rangeSeparator= for int64List: "1-4" expands to 1,2,3,4. Empty = no ranges.
  std::string rangeSeparator;
  // Never quote this parameter's value in messages, whatever its source.
  bool sensitive = false;
};

class MetadataReader {
 public:
  explicit MetadataReader(const ScalerConfig& config);

  // ---- Typed getters. nullopt when absent (optional, or an error was recorded) or invalid. ----
  std::optional<std::string> string(std::string_view name, const Opt& opt = {});
  std::optional<int64_t> int64(std::string_view name, const Opt& opt = {});
  std::optional<double> float64(std::string_view name, const Opt& opt = {});
  std::optional<bool> boolean(std::string_view name, const Opt& opt = {});
  // Go duration or integer milliseconds; sub-millisecond parts are truncated.
  std::optional<Millis> duration(std::string_view name, const Opt& opt = {});
  std::optional<StringMap> stringMap(std::string_view name, const Opt& opt = {});
  std::optional<std::vector<std::string>> list(std::string_view name, const Opt& opt = {});
  // A comma list of JSON integers; with opt.rangeSeparator, "a-b" elements expand.
  std::optional<std::vector<int64_t>> int64List(std::string_view name, const Opt& opt = {});
  // string() whose value must be one of `allowed` (added to opt.allowed).
  std::optional<std::string> enumValue(std::string_view name, std::vector<std::string> allowed,
                                       Opt opt = {});

  // KEDA's deprecated=: the parameter's presence is an error:
  // `parameter "<name>" is deprecated: <message>` (no ": <message>" when message is empty).
  void deprecated(std::string_view name, std::string_view message, const Opt& opt = {});
  // KEDA's deprecatedAnnounce=: presence adds `message` to warnings() (never an error).
  void deprecatedAnnounce(std::string_view name, std::string_view message, const Opt& opt = {});

  // True when a value is present in any source of opt.order (no conversion, no error).
  bool has(std::string_view name, const Opt& opt = {}) const;
  // True when a required parameter was skipped because the config's secrets are unresolved.
  bool unresolved(std::string_view name) const;
  bool secretsUnresolved() const { return config_.secretsUnresolved; }

  // Cross-field checks (KEDA's Validate()). The first form adds `parameter "<name>": <message>`.
  void addError(std::string_view name, std::string_view message);
  void addError(std::string message);

  // OK, or InvalidArgument with every recorded error joined by "; ". May be called repeatedly.
  Status finish() const;
  const std::vector<std::string>& errors() const { return errors_; }
  const std::vector<std::string>& warnings() const { return warnings_; }
  // triggerMetadata keys no getter asked for (KEDA_CHECK_UNEXPECTED_SCALERS_PARAMS); "<n>FromEnv"
  // counts as asked for when <n> was.
  std::vector<std::string> unexpectedKeys() const;

 private:
  struct Found {
    std::string value;
    From from = From::kTriggerMetadata;
    bool isDefault = false;
    bool echo = false;  // may be quoted in messages
  };
  // The trimmed value (or default), or nullopt; records missing/unresolved/enum errors.
  std::optional<Found> lookup(std::string_view name, const Opt& opt, bool checkEnum);
  std::optional<Found> rawLookup(const std::vector<std::string>& names, const Opt& opt) const;
  void conversionError(std::string_view name, const Found& found, std::string_view what);

  const ScalerConfig& config_;
  std::vector<std::string> errors_;
  std::vector<std::string> warnings_;
  std::set<std::string, std::less<>> asked_;
  std::set<std::string, std::less<>> unresolved_;
};

// ---- The conversions on their own (no trimming, no messages with parameter names). ----
namespace metadata {
// JSON integer: -?(0|[1-9][0-9]*) within int64. Error texts: "is not a valid integer", "is out of
// range".
Result<int64_t> parseJsonInt64(std::string_view s);
// JSON number: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?, finite.
Result<double> parseJsonFloat64(std::string_view s);
// Go strconv.ParseBool.
Result<bool> parseGoBool(std::string_view s);
// Go time.ParseDuration ("300ms", "-1.5h", "1h15m30.5s", "0"); may be negative.
Result<std::chrono::nanoseconds> parseGoDuration(std::string_view s);
// KEDA duration field: a Go duration, else an integer count of milliseconds; negative is an error.
Result<Millis> parseDurationOrMillis(std::string_view s);
std::string_view trim(std::string_view s);
}  // namespace metadata

}  // namespace updraft
