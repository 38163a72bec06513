// JSON -> KEDA object model, strict like the Kubernetes API server (CRD schema rules), with field
// paths in every message.
#include <algorithm>
#include <cmath>
#include <limits>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "model_internal.h"
#include "updraft/parse.h"

namespace updraft {
namespace {

using model_internal::childPath;
using model_internal::describeJson;
using model_internal::indexPath;
using model_internal::quote;
using model_internal::scalarText;
using nlohmann::json;

constexpr const char* kRequired = "required field is missing";

struct Sink {
  std::vector<Problem>* errors;
  std::vector<Problem>* warnings;
  void error(std::string path, std::string message) const {
    errors->push_back({std::move(path), std::move(message)});
  }
  void warn(std::string path, std::string message) const {
    warnings->push_back({std::move(path), std::move(message)});
  }
};

std::string quoteHint(const json& v) { return " (quote it: " + quote(scalarText(v)) + ")"; }

std::string joinQuoted(const std::vector<std::string>& values) {
  std::string out;
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (i) out += ", ";
    out += quote(values[i]);
  }
  return out;
}

// ---- Kubernetes name rules ----

bool isLowerAlnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }
bool isAlnum(char c) { return isLowerAlnum(c) || (c >= 'A' && c <= 'Z'); }

bool isDns1123Label(std::string_view s) {
  if (s.empty() || s.size() > 63) return false;
  if (!isLowerAlnum(s.front()) || !isLowerAlnum(s.back())) return false;
  return std::all_of(s.begin(), s.end(), [](char c) { return isLowerAlnum(c) || c == '-'; });
}

bool isDns1123Subdomain(std::string_view s) {
  if (s.empty() || s.size() > 253) return false;
  std::size_t start = 0;
  while (true) {
    std::size_t dot = s.find('.', start);
    std::string_view part = s.substr(start, dot == std::string_view::npos ? dot : dot - start);
    if (part.empty() || !isLowerAlnum(part.front()) || !isLowerAlnum(part.back())) return false;
    if (!std::all_of(part.begin(), part.end(),
                     [](char c) { return isLowerAlnum(c) || c == '-'; })) {
      return false;
    }
    if (dot == std::string_view::npos) return true;
    start = dot + 1;
  }
}

constexpr const char* kSubdomainRule =
    "must be a lowercase RFC 1123 subdomain: lower case alphanumeric characters, '-' or '.', "
    "starting and ending with an alphanumeric character, at most 253 characters";
constexpr const char* kLabelRule =
    "must be a lowercase RFC 1123 label: lower case alphanumeric characters or '-', starting and "
    "ending with an alphanumeric character, at most 63 characters";
constexpr const char* kQualifiedNameRule =
    "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end "
    "with an alphanumeric character (at most 63 characters)";

// Label values and the name part of qualified names: ([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]
bool isLabelValueSyntax(std::string_view s) {
  if (s.empty()) return true;
  if (s.size() > 63 || !isAlnum(s.front()) || !isAlnum(s.back())) return false;
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return isAlnum(c) || c == '-' || c == '_' || c == '.'; });
}

// "" when fine, else why not.
std::string qualifiedNameProblem(std::string_view key) {
  std::string_view name = key;
  if (auto slash = key.find('/'); slash != std::string_view::npos) {
    std::string_view prefix = key.substr(0, slash);
    name = key.substr(slash + 1);
    if (!isDns1123Subdomain(prefix)) return "prefix part " + std::string(kSubdomainRule);
  }
  if (name.empty()) return "name part must not be empty";
  if (!isLabelValueSyntax(name)) return kQualifiedNameRule;
  return "";
}

// ---- Reading one JSON object field by field ----

class Fields {
 public:
  Fields(const Sink& sink, const json* object, std::string path)
      : sink_(sink), object_(object), path_(std::move(path)) {}

  const std::string& path() const { return path_; }
  std::string at(std::string_view key) const { return childPath(path_, key); }

  // The value when present and not null (nulls count as absent, as the API server prunes them).
  const json* get(std::string_view key) {
    known_.emplace_back(key);
    if (!object_) return nullptr;
    auto it = object_->find(std::string(key));
    if (it == object_->end() || it->is_null()) return nullptr;
    return &*it;
  }
  void ignore(std::string_view key) { known_.emplace_back(key); }

  std::optional<std::string> string(std::string_view key, bool required = false,
                                    bool nonEmpty = false) {
    const json* v = get(key);
    if (!v) {
      if (required) sink_.error(at(key), kRequired);
      return std::nullopt;
    }
    if (!v->is_string()) {
      std::string msg = "expected a string, got " + describeJson(*v);
      if (v->is_primitive()) msg += quoteHint(*v);
      sink_.error(at(key), msg);
      return std::nullopt;
    }
    std::string s = v->get<std::string>();
    if (nonEmpty && s.empty()) {
      sink_.error(at(key), "must not be empty");
      return std::nullopt;
    }
    return s;
  }

  std::optional<int64_t> integer(std::string_view key, int64_t min, int64_t max, bool required,
                                 const char* rangeName) {
    const json* v = get(key);
    if (!v) {
      if (required) sink_.error(at(key), kRequired);
      return std::nullopt;
    }
    std::optional<int64_t> value;
    if (v->is_number_unsigned()) {  // JSON parsers store every non-negative integer this way
      uint64_t u = v->get<uint64_t>();
      if (u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
        sink_.error(at(key), scalarText(*v) + " is out of range for " + rangeName);
        return std::nullopt;
      }
      value = static_cast<int64_t>(u);
    } else if (v->is_number_integer()) {
      value = v->get<int64_t>();
    } else if (v->is_number_float()) {
      double d = v->get<double>();
      if (std::isfinite(d) && std::floor(d) == d && std::fabs(d) >= 9.2e18) {
        sink_.error(at(key), scalarText(*v) + " is out of range for " + rangeName);
      } else {
        sink_.error(at(key), "expected an integer, got " + describeJson(*v));
      }
      return std::nullopt;
    } else {
      sink_.error(at(key), "expected an integer, got " + describeJson(*v));
      return std::nullopt;
    }
    if (*value < min || *value > max) {
      sink_.error(at(key), std::to_string(*value) + " is out of range for " + rangeName);
      return std::nullopt;
    }
    return value;
  }

  std::optional<int32_t> int32(std::string_view key, std::optional<int32_t> minimum = std::nullopt,
                               std::optional<int32_t> maximum = std::nullopt,
                               bool required = false) {
    auto v = integer(key, std::numeric_limits<int32_t>::min(), std::numeric_limits<int32_t>::max(),
                     required, "int32");
    if (!v) return std::nullopt;
    if (minimum && *v < *minimum) {
      sink_.error(at(key), "must be greater than or equal to " + std::to_string(*minimum) +
                               ", got " + std::to_string(*v));
      return std::nullopt;
    }
    if (maximum && *v > *maximum) {
      sink_.error(at(key), "must be less than or equal to " + std::to_string(*maximum) + ", got " +
                               std::to_string(*v));
      return std::nullopt;
    }
    return static_cast<int32_t>(*v);
  }

  std::optional<int64_t> int64(std::string_view key) {
    return integer(key, std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max(),
                   false, "int64");
  }

  std::optional<bool> boolean(std::string_view key) {
    const json* v = get(key);
    if (!v) return std::nullopt;
    if (!v->is_boolean()) {
      sink_.error(at(key), "expected a boolean (true or false), got " + describeJson(*v));
      return std::nullopt;
    }
    return v->get<bool>();
  }

  std::optional<std::string> enumeration(std::string_view key,
                                         const std::vector<std::string>& allowed,
                                         bool required = false) {
    auto s = string(key, required);
    if (!s) return std::nullopt;
    if (std::find(allowed.begin(), allowed.end(), *s) == allowed.end()) {
      std::string msg =
          "unsupported value " + quote(*s) + ": supported values: " + joinQuoted(allowed);
      if (auto guess = model_internal::closestMatch(*s, allowed); !guess.empty()) {
        msg += " (did you mean " + quote(guess) + "?)";
      }
      sink_.error(at(key), msg);
      return std::nullopt;
    }
    return s;
  }

  // The nested object, or nullptr (absent, null, or not an object: an error then).
  const json* object(std::string_view key, bool required = false) {
    const json* v = get(key);
    if (!v) {
      if (required) sink_.error(at(key), kRequired);
      return nullptr;
    }
    if (!v->is_object()) {
      sink_.error(at(key), "expected an object, got " + describeJson(*v));
      return nullptr;
    }
    return v;
  }

  const json* array(std::string_view key, bool required = false) {
    const json* v = get(key);
    if (!v) {
      if (required) sink_.error(at(key), kRequired);
      return nullptr;
    }
    if (!v->is_array()) {
      sink_.error(at(key), "expected a list, got " + describeJson(*v));
      return nullptr;
    }
    return v;
  }

  // map[string]string. Non-string scalars are errors ("must be a string (quote it: ...)") but keep
  // their text in the result so later checks do not pile up on the same value.
  std::optional<StringMap> stringMap(std::string_view key) {
    const json* v = get(key);
    if (!v) return std::nullopt;
    if (!v->is_object()) {
      sink_.error(at(key), "expected an object (a map of strings), got " + describeJson(*v));
      return std::nullopt;
    }
    return readStringMap(sink_, *v, at(key));
  }

  std::optional<std::vector<std::string>> stringList(std::string_view key) {
    const json* v = array(key);
    if (!v) return std::nullopt;
    std::vector<std::string> out;
    for (std::size_t i = 0; i < v->size(); ++i) {
      const json& item = (*v)[i];
      if (item.is_string()) {
        out.push_back(item.get<std::string>());
      } else {
        std::string msg = "expected a string, got " + describeJson(item);
        if (item.is_primitive() && !item.is_null()) msg += quoteHint(item);
        sink_.error(indexPath(at(key), i), msg);
      }
    }
    return out;
  }

  static StringMap readStringMap(const Sink& sink, const json& object, const std::string& path) {
    StringMap out;
    for (auto it = object.begin(); it != object.end(); ++it) {
      const json& value = it.value();
      std::string p = childPath(path, it.key());
      if (value.is_string()) {
        out[it.key()] = value.get<std::string>();
      } else if (value.is_null()) {
        sink.warn(p,
                  "null value ignored (Kubernetes drops null values; write \"\" for an empty "
                  "string)");
      } else if (value.is_primitive()) {
        sink.error(p, "must be a string" + quoteHint(value));
        out[it.key()] = scalarText(value);
      } else {
        sink.error(p, "must be a string, got " + describeJson(value));
      }
    }
    return out;
  }

  // Warnings for keys no accessor asked for.
  void finish() {
    if (!object_) return;
    for (auto it = object_->begin(); it != object_->end(); ++it) {
      if (std::find(known_.begin(), known_.end(), it.key()) != known_.end()) continue;
      std::string msg = "unknown field";
      if (auto guess = model_internal::closestMatch(it.key(), known_); !guess.empty()) {
        msg += " (did you mean " + quote(guess) + "?)";
      }
      sink_.warn(at(it.key()), msg);
    }
  }

 private:
  const Sink& sink_;
  const json* object_;
  std::string path_;
  std::vector<std::string> known_;
};

// ---- ObjectMeta ----

void readTimestamp(const Sink& sink, Fields& f, std::string_view key,
                   std::optional<TimePoint>& out) {
  if (auto s = f.string(key)) {
    auto t = parseRfc3339(*s);
    if (t.isOk()) {
      out = *t;
    } else {
      sink.error(f.at(key), t.status().message());
    }
  }
}

void readObjectMeta(const Sink& sink, const json* meta, bool namespaced, ObjectMeta& out) {
  Fields f(sink, meta, "metadata");
  if (!meta) {
    sink.error("metadata", kRequired);
    return;
  }
  auto name = f.string("name");
  if (name) {
    out.name = *name;
    if (!isDns1123Subdomain(out.name)) {
      sink.error(f.at("name"), quote(out.name) + " " + kSubdomainRule);
    }
  } else if (!meta->contains("name") || (*meta)["name"].is_null()) {
    std::string msg = kRequired;
    if (meta->contains("generateName")) msg += " (generateName is not supported here)";
    sink.error(f.at("name"), msg);
  }
  if (auto ns = f.string("namespace")) {
    if (!namespaced) {
      sink.warn(f.at("namespace"), "ignored: the object is cluster-scoped");
    } else {
      out.namespace_ = *ns;
      if (!isDns1123Label(*ns)) sink.error(f.at("namespace"), quote(*ns) + " " + kLabelRule);
    }
  }
  if (namespaced && out.namespace_.empty()) out.namespace_ = "default";
  if (auto uid = f.string("uid")) out.uid = *uid;
  if (auto rv = f.string("resourceVersion")) out.resourceVersion = *rv;
  if (auto gen = f.int64("generation")) out.generation = *gen;
  readTimestamp(sink, f, "creationTimestamp", out.creationTimestamp);
  readTimestamp(sink, f, "deletionTimestamp", out.deletionTimestamp);
  if (auto labels = f.stringMap("labels")) {
    out.labels = std::move(*labels);
    for (const auto& [k, v] : out.labels) {
      std::string p = childPath(f.at("labels"), k);
      if (auto why = qualifiedNameProblem(k); !why.empty()) {
        sink.error(p, "invalid label key: " + why);
      }
      if (!isLabelValueSyntax(v)) {
        sink.error(p, "invalid label value " + quote(v) +
                          ": must be at most 63 characters of alphanumerics, '-', '_' or '.', "
                          "starting and ending with an alphanumeric character");
      }
    }
  }
  if (auto annotations = f.stringMap("annotations")) {
    out.annotations = std::move(*annotations);
    std::size_t total = 0;
    for (const auto& [k, v] : out.annotations) {
      total += k.size() + v.size();
      if (auto why = qualifiedNameProblem(k); !why.empty()) {
        sink.error(childPath(f.at("annotations"), k), "invalid annotation key: " + why);
      }
    }
    if (total > 256 * 1024) {
      sink.error(f.at("annotations"), "annotations total " + std::to_string(total) +
                                          " bytes, more than the 262144-byte limit");
    }
  }
  if (auto finalizers = f.stringList("finalizers")) out.finalizers = std::move(*finalizers);
  for (const char* k : {"generateName", "ownerReferences", "managedFields", "selfLink",
                        "deletionGracePeriodSeconds"}) {
    f.ignore(k);
  }
  f.finish();
}

// KEDA's bool annotations: strconv.ParseBool, and a value that fails to parse counts as true.
void checkKedaAnnotations(const Sink& sink, const ObjectMeta& meta, bool scaledObject) {
  auto path = [](const char* key) { return childPath("metadata.annotations", key); };
  std::vector<const char*> bools = {annotations::kPaused};
  if (scaledObject) {
    bools.insert(bools.end(), {annotations::kPausedScaleIn, annotations::kPausedScaleOut,
                               annotations::kForceActivation});
  }
  for (const char* key : bools) {
    auto it = meta.annotations.find(key);
    if (it != meta.annotations.end() && !model_internal::parseGoBool(it->second)) {
      sink.warn(path(key), quote(it->second) +
                               " is not a boolean; KEDA treats any value it cannot parse as "
                               "\"true\" (use \"true\" or \"false\")");
    }
  }
  if (scaledObject) {
    auto it = meta.annotations.find(annotations::kPausedReplicas);
    if (it != meta.annotations.end()) {
      auto v = model_internal::parseGoInt(it->second);
      if (!v || *v < std::numeric_limits<int32_t>::min() ||
          *v > std::numeric_limits<int32_t>::max()) {
        sink.warn(path(annotations::kPausedReplicas),
                  quote(it->second) +
                      " is not an int32; the mere presence of this annotation pauses the "
                      "ScaledObject, and KEDA then fails to scale it (Ready=False)");
      }
    }
  }
}

// ---- Triggers ----

std::optional<MetricTargetType> metricTypeFrom(const std::string& s) {
  if (s == "AverageValue") return MetricTargetType::kAverageValue;
  if (s == "Value") return MetricTargetType::kValue;
  if (s == "Utilization") return MetricTargetType::kUtilization;
  return std::nullopt;
}

void readTriggers(const Sink& sink, Fields& spec, std::vector<ScaleTriggers>& out) {
  const json* triggers = spec.array("triggers", true);
  if (!triggers) return;
  if (triggers->empty()) {
    sink.error(spec.at("triggers"), "must have at least 1 item");
    return;
  }
  for (std::size_t i = 0; i < triggers->size(); ++i) {
    const json& item = (*triggers)[i];
    std::string path = indexPath(spec.at("triggers"), i);
    ScaleTriggers t;
    if (!item.is_object()) {
      sink.error(path, "expected an object, got " + describeJson(item));
      out.push_back(std::move(t));
      continue;
    }
    Fields f(sink, &item, path);
    if (auto type = f.string("type", true, true)) t.type = *type;
    if (auto name = f.string("name")) t.name = *name;
    const json* metadata = f.get("metadata");
    if (!metadata) {
      sink.error(f.at("metadata"),
                 std::string(kRequired) + " (write metadata: {} for a scaler without parameters)");
    } else if (!metadata->is_object()) {
      sink.error(f.at("metadata"),
                 "expected an object (a map of strings), got " + describeJson(*metadata));
    } else {
      t.metadata = Fields::readStringMap(sink, *metadata, f.at("metadata"));
    }
    if (auto cached = f.boolean("useCachedMetrics")) t.useCachedMetrics = *cached;
    if (auto mt = f.enumeration("metricType", {"AverageValue", "Value", "Utilization"})) {
      t.metricType = metricTypeFrom(*mt);
    }
    if (const json* ref = f.object("authenticationRef")) {
      Fields r(sink, ref, f.at("authenticationRef"));
      AuthenticationRef a;
      if (auto name = r.string("name", true, true)) a.name = *name;
      if (auto kind =
              r.enumeration("kind", {"TriggerAuthentication", "ClusterTriggerAuthentication"})) {
        a.kind = *kind;
      }
      r.finish();
      t.authenticationRef = std::move(a);
    }
    f.finish();
    out.push_back(std::move(t));
  }
}

// ---- ScaledObject ----

std::optional<HpaScalingRules> readScalingRules(const Sink& sink, const json* rules,
                                                const std::string& path) {
  if (!rules) return std::nullopt;
  Fields f(sink, rules, path);
  HpaScalingRules out;
  out.stabilizationWindowSeconds = f.int32("stabilizationWindowSeconds", 0, 3600);
  out.selectPolicy = f.enumeration("selectPolicy", {"Max", "Min", "Disabled"});
  if (const json* policies = f.array("policies")) {
    std::vector<HpaScalingPolicy> list;
    for (std::size_t i = 0; i < policies->size(); ++i) {
      const json& item = (*policies)[i];
      std::string p = indexPath(f.at("policies"), i);
      if (!item.is_object()) {
        sink.error(p, "expected an object, got " + describeJson(item));
        continue;
      }
      Fields pf(sink, &item, p);
      HpaScalingPolicy policy;
      if (auto type = pf.enumeration("type", {"Pods", "Percent"}, true)) policy.type = *type;
      if (auto value = pf.int32("value", 1, std::nullopt, true)) policy.value = *value;
      if (auto period = pf.int32("periodSeconds", 1, 1800, true)) policy.periodSeconds = *period;
      pf.finish();
      list.push_back(std::move(policy));
    }
    out.policies = std::move(list);
  }
  if (const json* tolerance = f.get("tolerance")) {
    if (tolerance->is_string() || tolerance->is_number()) {
      auto q = parseQuantity(scalarText(*tolerance));
      if (!q.isOk()) {
        sink.error(f.at("tolerance"), q.status().message());
      } else if (*q < 0) {
        sink.error(f.at("tolerance"), "must not be negative");
      } else {
        out.tolerance = *q;
      }
    } else {
      sink.error(f.at("tolerance"),
                 "expected a quantity (a string such as \"0.05\" or a number), got " +
                     describeJson(*tolerance));
    }
  }
  f.finish();
  return out;
}

void readAdvanced(const Sink& sink, const json* advanced, std::optional<AdvancedConfig>& out) {
  if (!advanced) return;
  Fields f(sink, advanced, "spec.advanced");
  AdvancedConfig a;
  if (auto restore = f.boolean("restoreToOriginalReplicaCount")) {
    a.restoreToOriginalReplicaCount = *restore;
  }
  if (const json* hpa = f.object("horizontalPodAutoscalerConfig")) {
    Fields h(sink, hpa, f.at("horizontalPodAutoscalerConfig"));
    HorizontalPodAutoscalerConfig config;
    if (auto name = h.string("name")) {
      config.name = *name;
      if (!config.name.empty() && !isDns1123Subdomain(config.name)) {
        sink.error(h.at("name"),
                   quote(config.name) + " " + kSubdomainRule + " (it becomes the HPA's name)");
      }
    }
    if (const json* behavior = h.object("behavior")) {
      Fields b(sink, behavior, h.at("behavior"));
      HpaBehavior hb;
      hb.scaleUp = readScalingRules(sink, b.object("scaleUp"), b.at("scaleUp"));
      hb.scaleDown = readScalingRules(sink, b.object("scaleDown"), b.at("scaleDown"));
      b.finish();
      config.behavior = std::move(hb);
    }
    h.finish();
    a.horizontalPodAutoscalerConfig = std::move(config);
  }
  if (const json* modifiers = f.object("scalingModifiers")) {
    Fields m(sink, modifiers, f.at("scalingModifiers"));
    if (auto v = m.string("formula")) a.scalingModifiers.formula = *v;
    if (auto v = m.string("target")) a.scalingModifiers.target = *v;
    if (auto v = m.string("activationTarget")) a.scalingModifiers.activationTarget = *v;
    if (auto v = m.enumeration("metricType", {"AverageValue", "Value", "Utilization"})) {
      a.scalingModifiers.metricType = *v;
    }
    m.finish();
  }
  f.finish();
  out = std::move(a);
}

void readScaledObjectSpec(const Sink& sink, const json* specJson, ScaledObjectSpec& out) {
  if (!specJson) return;
  Fields spec(sink, specJson, "spec");
  if (const json* target = spec.object("scaleTargetRef", true)) {
    Fields t(sink, target, spec.at("scaleTargetRef"));
    if (auto v = t.string("name", true, true)) out.scaleTargetRef.name = *v;
    if (auto v = t.string("apiVersion")) out.scaleTargetRef.apiVersion = *v;
    if (auto v = t.string("kind")) out.scaleTargetRef.kind = *v;
    if (auto v = t.string("envSourceContainerName")) out.scaleTargetRef.envSourceContainerName = *v;
    t.finish();
  }
  out.pollingInterval = spec.int32("pollingInterval", 1);
  out.initialCooldownPeriod = spec.int32("initialCooldownPeriod", 0);
  out.cooldownPeriod = spec.int32("cooldownPeriod", 0);
  out.idleReplicaCount = spec.int32("idleReplicaCount", 0);
  out.minReplicaCount = spec.int32("minReplicaCount", 0);
  out.maxReplicaCount = spec.int32("maxReplicaCount", 1);
  readAdvanced(sink, spec.object("advanced"), out.advanced);
  readTriggers(sink, spec, out.triggers);
  if (const json* fallback = spec.object("fallback")) {
    Fields f(sink, fallback, spec.at("fallback"));
    Fallback fb;
    if (auto v = f.int32("failureThreshold", 0, std::nullopt, true)) fb.failureThreshold = *v;
    if (auto v = f.int32("replicas", 0, std::nullopt, true)) fb.replicas = *v;
    if (auto v = f.enumeration("behavior", {"static", "currentReplicas", "currentReplicasIfHigher",
                                            "currentReplicasIfLower", "scalingModifiers"})) {
      fb.behavior = *v;
    }
    f.finish();
    out.fallback = std::move(fb);
  }
  spec.finish();
}

// ---- ScaledJob ----

void checkJobSpec(const Sink& sink, const json& jobSpec, const std::string& path) {
  Fields f(sink, &jobSpec, path);
  const json* templ = f.object("template", true);
  if (!templ) return;
  Fields t(sink, templ, f.at("template"));
  const json* podSpec = t.object("spec", true);
  if (!podSpec) return;
  Fields p(sink, podSpec, t.at("spec"));
  const json* containers = p.array("containers", true);
  if (!containers) return;
  if (containers->empty()) {
    sink.error(p.at("containers"), "must have at least 1 item");
    return;
  }
  for (std::size_t i = 0; i < containers->size(); ++i) {
    const json& c = (*containers)[i];
    std::string cp = indexPath(p.at("containers"), i);
    if (!c.is_object()) {
      sink.error(cp, "expected an object, got " + describeJson(c));
      continue;
    }
    Fields cf(sink, &c, cp);
    cf.string("name", true, true);
    cf.string("image");
  }
  // The rest of the JobSpec is Kubernetes' business: no unknown-field warnings here.
}

void readScaledJobSpec(const Sink& sink, const json* specJson, ScaledJobSpec& out) {
  if (!specJson) return;
  Fields spec(sink, specJson, "spec");
  if (const json* job = spec.object("jobTargetRef", true)) {
    out.jobTargetRef = *job;
    checkJobSpec(sink, *job, spec.at("jobTargetRef"));
  }
  out.pollingInterval = spec.int32("pollingInterval", 1);
  out.successfulJobsHistoryLimit = spec.int32("successfulJobsHistoryLimit", 0);
  out.failedJobsHistoryLimit = spec.int32("failedJobsHistoryLimit", 0);
  if (auto v = spec.string("envSourceContainerName")) out.envSourceContainerName = *v;
  out.minReplicaCount = spec.int32("minReplicaCount", 0);
  out.maxReplicaCount = spec.int32("maxReplicaCount", 1);
  if (auto v = spec.enumeration("rolloutStrategy", {"gradual", "immediate"})) {
    out.rolloutStrategy = *v;
    sink.warn(
        spec.at("rolloutStrategy"),
        "deprecated: use spec.rollout.strategy (rolloutStrategy still wins when both are set)");
  }
  if (const json* rollout = spec.object("rollout")) {
    Fields r(sink, rollout, spec.at("rollout"));
    Rollout ro;
    if (auto v = r.enumeration("strategy", {"gradual", "immediate"})) ro.strategy = *v;
    if (auto v = r.enumeration("propagationPolicy", {"foreground", "background"})) {
      ro.propagationPolicy = *v;
    }
    r.finish();
    out.rollout = std::move(ro);
  }
  if (const json* strategy = spec.object("scalingStrategy")) {
    Fields s(sink, strategy, spec.at("scalingStrategy"));
    ScalingStrategy ss;
    if (auto v = s.enumeration("strategy", {"default", "custom", "accurate", "eager"})) {
      ss.strategy = *v;
    }
    ss.customScalingQueueLengthDeduction = s.int32("customScalingQueueLengthDeduction");
    if (auto v = s.string("customScalingRunningJobPercentage")) {
      ss.customScalingRunningJobPercentage = *v;
    }
    if (auto v = s.stringList("pendingPodConditions")) ss.pendingPodConditions = std::move(*v);
    if (auto v = s.enumeration("multipleScalersCalculation", {"max", "min", "avg", "sum"})) {
      ss.multipleScalersCalculation = *v;
    }
    s.finish();
    out.scalingStrategy = std::move(ss);
  }
  readTriggers(sink, spec, out.triggers);
  spec.finish();
}

// ---- TriggerAuthentication ----

void readTargetRefs(const Sink& sink, Fields& spec, std::string_view key,
                    std::vector<SecretTargetRef>& out) {
  const json* list = spec.array(key);
  if (!list) return;
  for (std::size_t i = 0; i < list->size(); ++i) {
    const json& item = (*list)[i];
    std::string p = indexPath(spec.at(key), i);
    if (!item.is_object()) {
      sink.error(p, "expected an object, got " + describeJson(item));
      continue;
    }
    Fields f(sink, &item, p);
    SecretTargetRef ref;
    if (auto v = f.string("parameter", true, true)) ref.parameter = *v;
    if (auto v = f.string("name", true, true)) ref.name = *v;
    if (auto v = f.string("key", true, true)) ref.key = *v;
    f.finish();
    out.push_back(std::move(ref));
  }
}

void readTriggerAuthenticationSpec(const Sink& sink, const json* specJson,
                                   TriggerAuthenticationSpec& out) {
  if (!specJson) return;
  Fields spec(sink, specJson, "spec");
  if (const json* pod = spec.object("podIdentity")) {
    Fields p(sink, pod, spec.at("podIdentity"));
    PodIdentity pi;
    if (auto v =
            p.enumeration("provider", {"azure-workload", "gcp", "aws", "aws-eks", "none"}, true)) {
      pi.provider = *v;
    }
    if (auto v = p.string("identityId")) pi.identityId = *v;
    if (auto v = p.string("identityTenantId")) pi.identityTenantId = *v;
    if (auto v = p.string("identityAuthorityHost")) pi.identityAuthorityHost = *v;
    if (auto v = p.string("roleArn")) pi.roleArn = *v;
    if (auto v = p.string("externalID")) pi.externalID = *v;
    if (auto v = p.enumeration("identityOwner", {"keda", "workload"})) pi.identityOwner = *v;
    p.finish();
    out.podIdentity = std::move(pi);
  }
  readTargetRefs(sink, spec, "secretTargetRef", out.secretTargetRef);
  readTargetRefs(sink, spec, "configMapTargetRef", out.configMapTargetRef);
  if (const json* env = spec.array("env")) {
    for (std::size_t i = 0; i < env->size(); ++i) {
      const json& item = (*env)[i];
      std::string p = indexPath(spec.at("env"), i);
      if (!item.is_object()) {
        sink.error(p, "expected an object, got " + describeJson(item));
        continue;
      }
      Fields f(sink, &item, p);
      EnvRef ref;
      if (auto v = f.string("parameter", true, true)) ref.parameter = *v;
      if (auto v = f.string("name", true, true)) ref.name = *v;
      if (auto v = f.string("containerName")) ref.containerName = *v;
      f.finish();
      out.env.push_back(std::move(ref));
    }
  }
  if (auto v = spec.string("filePath")) out.filePath = *v;
  if (const json* vault = spec.object("hashiCorpVault")) {
    out.hashiCorpVault = *vault;
    Fields v(sink, vault, spec.at("hashiCorpVault"));
    v.string("address", true, true);
    v.enumeration("authentication", {"token", "kubernetes"}, true);
    if (const json* secrets = v.array("secrets", true)) {
      if (secrets->empty()) sink.error(v.at("secrets"), "must have at least 1 item");
    }
  }
  if (const json* akv = spec.object("azureKeyVault")) out.azureKeyVault = *akv;
  if (const json* gcp = spec.object("gcpSecretManager")) out.gcpSecretManager = *gcp;
  if (const json* aws = spec.object("awsSecretManager")) out.awsSecretManager = *aws;
  if (const json* bound = spec.array("boundServiceAccountToken"))
    out.boundServiceAccountToken = *bound;
  if (const json* oauth2 = spec.object("oauth2")) {
    out.oauth2 = *oauth2;
    Fields o(sink, oauth2, spec.at("oauth2"));
    // The CRD defaults type to clientCredentials; the webhook checks the value.
    o.string("type");
    o.string("clientId");
    o.string("tokenUrl");
    o.stringList("scopes");
    o.stringMap("tokenUrlParams");
    o.object("clientSecret");
    o.finish();
    if (!out.oauth2.contains("type") || out.oauth2["type"].is_null()) {
      out.oauth2["type"] = "clientCredentials";
    }
  }
  spec.finish();
}

// ---- ProcessPool ----

void readQuantity(const Sink& sink, Fields& f, std::string_view key, std::optional<double>& out) {
  const json* v = f.get(key);
  if (!v) return;
  if (!v->is_string() && !v->is_number()) {
    sink.error(f.at(key),
               "expected a quantity (such as \"500m\" or \"128Mi\"), got " + describeJson(*v));
    return;
  }
  auto q = parseQuantity(scalarText(*v));
  if (!q.isOk()) {
    sink.error(f.at(key), q.status().message());
  } else if (!(*q > 0)) {
    sink.error(f.at(key), "must be greater than 0, got " + quote(scalarText(*v)));
  } else {
    out = *q;
  }
}

void readProcessPoolSpec(const Sink& sink, const json* specJson, ProcessPoolSpec& out) {
  if (!specJson) return;
  Fields spec(sink, specJson, "spec");
  if (const json* command = spec.get("command")) {
    if (command->is_string()) {
      std::string s = command->get<std::string>();
      if (s.empty()) {
        sink.error(spec.at("command"), "must not be empty");
      } else {
        out.command = {"/bin/sh", "-c", s};
      }
    } else if (command->is_array()) {
      if (command->empty()) sink.error(spec.at("command"), "must have at least 1 item");
      for (std::size_t i = 0; i < command->size(); ++i) {
        const json& arg = (*command)[i];
        if (arg.is_string()) {
          out.command.push_back(arg.get<std::string>());
        } else {
          std::string msg = "must be a string";
          msg +=
              arg.is_primitive() && !arg.is_null() ? quoteHint(arg) : ", got " + describeJson(arg);
          sink.error(indexPath(spec.at("command"), i), msg);
        }
      }
      if (!out.command.empty() && out.command.front().empty()) {
        sink.error(indexPath(spec.at("command"), 0), "the program name must not be empty");
      }
    } else {
      sink.error(spec.at("command"),
                 "expected a list of strings (argv) or a string (run with /bin/sh -c), got " +
                     describeJson(*command));
    }
  } else {
    sink.error(spec.at("command"), kRequired);
  }
  if (auto env = spec.stringMap("env")) {
    for (const auto& [k, v] : *env) {
      if (k.empty() || k.find('=') != std::string::npos) {
        sink.error(childPath(spec.at("env"), k),
                   "invalid environment variable name (must be non-empty, without '=')");
      }
    }
    out.env = std::move(*env);
  }
  if (auto v = spec.string("workingDir")) out.workingDir = *v;
  if (auto v = spec.int32("gracePeriodSeconds", 0)) out.gracePeriodSeconds = *v;
  if (auto v = spec.int32("initialReplicas", 0)) out.initialReplicas = *v;
  if (const json* resources = spec.object("resources")) {
    Fields r(sink, resources, spec.at("resources"));
    if (const json* requests = r.object("requests")) {
      Fields q(sink, requests, r.at("requests"));
      readQuantity(sink, q, "cpu", out.cpuRequestCores);
      readQuantity(sink, q, "memory", out.memoryRequestBytes);
      q.finish();
    }
    r.finish();
  }
  spec.finish();
}

// ---- Dispatch ----

struct KindInfo {
  const char* kind;
  const char* apiVersion;
};
constexpr KindInfo kKinds[] = {
    {"ScaledObject", kKedaApiVersion},          {"ScaledJob", kKedaApiVersion},
    {"TriggerAuthentication", kKedaApiVersion}, {"ClusterTriggerAuthentication", kKedaApiVersion},
    {"ProcessPool", kUpdraftApiVersion},
};

std::string supportedKinds() {
  return "ScaledObject, ScaledJob, TriggerAuthentication, ClusterTriggerAuthentication (" +
         std::string(kKedaApiVersion) + "), ProcessPool (" + kUpdraftApiVersion + ")";
}

void parseInto(const json& j, Document& d) {
  Sink sink{&d.errors, &d.warnings};
  if (!j.is_object()) {
    sink.error("", "expected an object with apiVersion and kind, got " + describeJson(j));
    return;
  }
  Fields top(sink, &j, "");
  auto apiVersion = top.string("apiVersion", true, true);
  auto kind = top.string("kind", true, true);
  if (apiVersion) d.apiVersion = *apiVersion;
  if (kind) d.kind = *kind;
  if (!apiVersion || !kind) return;

  const KindInfo* info = nullptr;
  for (const auto& k : kKinds) {
    if (d.kind == k.kind) info = &k;
  }
  if (!info) {
    std::string msg = "unknown kind " + quote(d.kind) + " (supported: " + supportedKinds() + ")";
    std::vector<std::string> names;
    for (const auto& k : kKinds) names.emplace_back(k.kind);
    if (auto guess = model_internal::closestMatch(d.kind, names); !guess.empty()) {
      msg += "; did you mean " + quote(guess) + "?";
    }
    sink.error("kind", msg);
    return;
  }
  if (d.apiVersion != info->apiVersion) {
    std::string msg = quote(d.apiVersion) + " is not supported for kind " + d.kind + " (expected " +
                      info->apiVersion + ")";
    if (d.apiVersion == "keda.k8s.io/v1alpha1") {
      msg += "; keda.k8s.io is KEDA v1, whose objects differ: migrate to KEDA v2's keda.sh";
    }
    sink.error("apiVersion", msg);
    return;
  }

  const json* meta = top.object("metadata", false);
  top.ignore("status");
  if (d.kind == "ScaledObject") {
    ScaledObject so;
    readObjectMeta(sink, meta, true, so.metadata);
    if (meta) checkKedaAnnotations(sink, so.metadata, true);
    readScaledObjectSpec(sink, top.object("spec", true), so.spec);
    d.object = std::move(so);
  } else if (d.kind == "ScaledJob") {
    ScaledJob sj;
    readObjectMeta(sink, meta, true, sj.metadata);
    if (meta) checkKedaAnnotations(sink, sj.metadata, false);
    readScaledJobSpec(sink, top.object("spec", true), sj.spec);
    d.object = std::move(sj);
  } else if (d.kind == "TriggerAuthentication" || d.kind == "ClusterTriggerAuthentication") {
    TriggerAuthentication ta;
    ta.clusterScoped = d.kind == "ClusterTriggerAuthentication";
    readObjectMeta(sink, meta, !ta.clusterScoped, ta.metadata);
    readTriggerAuthenticationSpec(sink, top.object("spec", true), ta.spec);
    d.object = std::move(ta);
  } else {
    ProcessPool pool;
    readObjectMeta(sink, meta, true, pool.metadata);
    readProcessPoolSpec(sink, top.object("spec", true), pool.spec);
    d.object = std::move(pool);
  }
  top.finish();
}

}  // namespace

const ObjectMeta* Document::objectMeta() const {
  return std::visit(
      [](const auto& o) -> const ObjectMeta* {
        if constexpr (std::is_same_v<std::decay_t<decltype(o)>, std::monostate>) {
          return nullptr;
        } else {
          return &o.metadata;
        }
      },
      object);
}

std::string Document::displayName() const {
  const ObjectMeta* meta = objectMeta();
  std::string name;
  std::string ns;
  if (meta) {
    name = meta->name;
    ns = meta->namespace_;
  } else if (raw.is_object() && raw.contains("metadata") && raw["metadata"].is_object()) {
    const json& m = raw["metadata"];
    if (m.contains("name") && m["name"].is_string()) name = m["name"].get<std::string>();
    if (m.contains("namespace") && m["namespace"].is_string()) {
      ns = m["namespace"].get<std::string>();
    }
  }
  if (name.empty()) name = "<unnamed>";
  return ns.empty() ? name : ns + "/" + name;
}

Document parseObject(const nlohmann::json& object) {
  Document d;
  d.line = 0;
  try {
    d.raw = object;
    parseInto(object, d);
  } catch (const std::exception& e) {
    d.errors.push_back({"", std::string("internal error while reading the object: ") + e.what()});
  }
  return d;
}

Result<std::vector<Document>> parseDocuments(std::string_view text, std::string_view sourceName) {
  try {
    std::vector<std::vector<Problem>> duplicateKeys;
    auto docs = yamlToJsonDocuments(text, sourceName, &duplicateKeys);
    if (!docs.isOk()) return docs.status();
    if (docs->empty()) {
      return Status::invalidArgument(std::string(sourceName) +
                                     ": no documents (the input is empty or only comments)");
    }
    std::vector<Document> out;
    out.reserve(docs->size());
    for (std::size_t i = 0; i < docs->size(); ++i) {
      YamlDocument& y = (*docs)[i];
      // A kubectl List (`kubectl get scaledobjects -o yaml`): one document per item.
      if (y.value.is_object() && y.value.value("kind", json()) == "List" &&
          y.value.value("apiVersion", json()) == "v1" && y.value.contains("items") &&
          y.value["items"].is_array()) {
        for (const json& item : y.value["items"]) {
          Document d = parseObject(item);
          d.sourceName = std::string(sourceName);
          d.index = y.index;
          d.line = y.line;
          out.push_back(std::move(d));
        }
        continue;
      }
      Document d = parseObject(y.value);
      d.sourceName = std::string(sourceName);
      d.index = y.index;
      d.line = y.line;
      d.errors.insert(d.errors.begin(), duplicateKeys[i].begin(), duplicateKeys[i].end());
      out.push_back(std::move(d));
    }
    return out;
  } catch (const std::bad_alloc&) {
    return Status::invalidArgument(std::string(sourceName) + ": out of memory while parsing");
  } catch (const std::exception& e) {
    return Status::internal(std::string(sourceName) + ": unexpected error: " + e.what());
  }
}

}  // namespace updraft
