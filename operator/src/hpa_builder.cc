#include "updraft/operator/hpa_builder.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <limits>
#include <optional>
#include <set>
#include <string_view>
#include <utility>

#include "updraft/executor.h"
#include "updraft/quantity.h"

namespace updraft::kube {
namespace {

using nlohmann::json;

constexpr const char* kOwnerLabel = "scaledobject.keda.sh/name";
constexpr const char* kCompositeMetricName = "composite-metric";

// The member `key` of an object, or nullptr (never throws, unlike json::at).
const json* child(const json& j, std::string_view key) {
  if (!j.is_object()) return nullptr;
  auto it = j.find(key);
  return it == j.end() ? nullptr : &*it;
}

const json& childOrNull(const json& j, std::string_view key) {
  static const json kNull;
  const json* c = child(j, key);
  return c ? *c : kNull;
}

// Kubernetes' canonical form of mantissa * 10^exponent (Quantity.CanonicalizeBytes, DecimalSI):
// strip trailing zeros, then lower the exponent to a multiple of 3 and add the SI suffix.
std::string canonicalQuantity(int64_t mantissa, int exponent) {
  if (mantissa == 0) return "0";
  while (mantissa % 10 == 0) {
    mantissa /= 10;
    ++exponent;
  }
  // Cannot overflow: the factors put back were stripped above (the input scale is -3 or -9).
  switch (exponent % 3) {
    case 1:
    case -2:
      mantissa *= 10;
      exponent -= 1;
      break;
    case 2:
    case -1:
      mantissa *= 100;
      exponent -= 2;
      break;
    default:
      break;
  }
  static const std::pair<int, const char*> kSuffixes[] = {
      {-9, "n"}, {-6, "u"}, {-3, "m"}, {0, ""},   {3, "k"},
      {6, "M"},  {9, "G"},  {12, "T"}, {15, "P"}, {18, "E"}};
  for (const auto& [e, suffix] : kSuffixes) {
    if (e == exponent) return std::to_string(mantissa) + suffix;
  }
  return std::to_string(mantissa) + "e" + std::to_string(exponent);
}

// Go's int64(v * scale) (truncation), with NaN and overflow clamped instead of undefined.
int64_t toScaledInt(double v, double scale) {
  const double x = v * scale;
  if (std::isnan(x)) return 0;
  if (x >= 9.2e18) return std::numeric_limits<int64_t>::max();
  if (x <= -9.2e18) return std::numeric_limits<int64_t>::min() + 1;
  return static_cast<int64_t>(x);
}

// strconv.ParseFloat for the decimal forms KEDA's validation lets through.
std::optional<double> parseFloat(std::string_view s) {
  if (!s.empty() && s.front() == '+') s.remove_prefix(1);
  double v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return v;
}

// KEDA's resource.NewMilliQuantity(int64(v*1000), DecimalSI).
std::string milliQuantity(double v) { return milliQuantityString(toScaledInt(v, 1000)); }

json ruleJson(const HpaScalingRules& r) {
  json out = json::object();
  if (r.stabilizationWindowSeconds)
    out["stabilizationWindowSeconds"] = *r.stabilizationWindowSeconds;
  if (r.selectPolicy) out["selectPolicy"] = *r.selectPolicy;
  if (r.policies && !r.policies->empty()) {  // omitempty
    json policies = json::array();
    for (const HpaScalingPolicy& p : *r.policies) {
      policies.push_back(
          {{"type", p.type}, {"value", p.value}, {"periodSeconds", p.periodSeconds}});
    }
    out["policies"] = std::move(policies);
  }
  // A Quantity; nano precision keeps values like "0.0001" exact.
  if (r.tolerance) out["tolerance"] = canonicalQuantity(std::llround(*r.tolerance * 1e9), -9);
  return out;
}

// spec.behavior: the SO's behavior (typed, as KEDA's Go struct passes it through) with
// selectPolicy Disabled injected for paused-scale-in (scaleDown) / paused-scale-out (scaleUp).
std::optional<json> behaviorJson(const ScaledObject& so) {
  HpaBehavior behavior;
  bool any = false;
  if (const HpaBehavior* b = so.hpaBehavior()) {
    behavior = *b;
    any = true;
  }
  const PauseState pause = readPauseState(so.metadata);
  if (pause.pausedScaleIn) {
    if (!behavior.scaleDown) behavior.scaleDown.emplace();
    behavior.scaleDown->selectPolicy = "Disabled";
    any = true;
  }
  if (pause.pausedScaleOut) {
    if (!behavior.scaleUp) behavior.scaleUp.emplace();
    behavior.scaleUp->selectPolicy = "Disabled";
    any = true;
  }
  if (!any) return std::nullopt;
  json out = json::object();
  if (behavior.scaleUp) out["scaleUp"] = ruleJson(*behavior.scaleUp);
  if (behavior.scaleDown) out["scaleDown"] = ruleJson(*behavior.scaleDown);
  return out;
}

json valueTarget(MetricTargetType type, double target) {
  json t = {{"type", metricTargetTypeName(type)}};
  if (type == MetricTargetType::kValue) {
    t["value"] = milliQuantity(target);
  } else {
    t["averageValue"] = milliQuantity(target);
  }
  return t;
}

json externalMetric(const std::string& name, const std::string& soName, json target) {
  return {{"type", "External"},
          {"external",
           {{"metric", {{"name", name}, {"selector", {{"matchLabels", {{kOwnerLabel, soName}}}}}}},
            {"target", std::move(target)}}}};
}

json resourceMetric(const MetricSpec& spec) {
  json target = {{"type", metricTargetTypeName(spec.targetType)}};
  if (spec.targetType == MetricTargetType::kUtilization) {
    target["averageUtilization"] = static_cast<int32_t>(spec.target);
  } else {
    target["averageValue"] = milliQuantity(spec.target);
  }
  if (spec.source == MetricSpec::Source::kContainerResource) {
    return {{"type", "ContainerResource"},
            {"containerResource",
             {{"name", spec.metricName},
              {"container", spec.containerName},
              {"target", std::move(target)}}}};
  }
  return {{"type", "Resource"}, {"resource", {{"name", spec.metricName}, {"target", target}}}};
}

// getScaledObjectMetricSpecs: every trigger's specs, duplicate external names rejected, sorted by
// type string (ContainerResource < External < Resource); with a scalingModifiers target > 0 the
// External ones give way to one composite metric after the Resource ones.
Result<json> metricsJson(const ScaledObject& so, const std::vector<BuiltTrigger>& triggers) {
  std::vector<json> metrics;
  std::set<std::string> externalNames;
  for (const BuiltTrigger& t : triggers) {
    for (const MetricSpec& spec : t.specs) {
      if (spec.source != MetricSpec::Source::kExternal) {
        metrics.push_back(resourceMetric(spec));
        continue;
      }
      if (!externalNames.insert(spec.metricName).second) {
        return Status::invalidArgument(
            fmt::format("metricName {} defined multiple times in ScaledObject {}", spec.metricName,
                        so.metadata.name));
      }
      metrics.push_back(externalMetric(spec.metricName, so.metadata.name,
                                       valueTarget(spec.targetType, spec.target)));
    }
  }
  // Go's sort.Slice is an insertion sort (stable) for the few metrics an SO has.
  std::stable_sort(metrics.begin(), metrics.end(), [](const json& a, const json& b) {
    return a["type"].get_ref<const std::string&>() < b["type"].get_ref<const std::string&>();
  });

  if (const ScalingModifiers* mods = so.scalingModifiers()) {
    const std::string metricType = mods->metricType.empty() ? "AverageValue" : mods->metricType;
    if (metricType == "Utilization") {
      return Status::invalidArgument(
          "error metric target type is Utilization, but it needs to be AverageValue or Value for "
          "external metrics");
    }
    // strconv.ParseFloat; an unparsable target counts as 0 (validation rejects it earlier).
    const double value = parseFloat(mods->target).value_or(0);
    if (value > 0) {
      std::vector<json> composite;
      // KEDA keeps only `Resource` specs here (a ContainerResource one is dropped).
      for (json& m : metrics) {
        if (m["type"] == "Resource") composite.push_back(std::move(m));
      }
      composite.push_back(
          externalMetric(kCompositeMetricName, so.metadata.name,
                         valueTarget(metricType == "Value" ? MetricTargetType::kValue
                                                           : MetricTargetType::kAverageValue,
                                     value)));
      metrics = std::move(composite);
    }
  }
  if (metrics.empty()) {
    return Status::invalidArgument(
        fmt::format("ScaledObject {} has no metrics for its HPA", so.metadata.name));
  }
  return json(std::move(metrics));
}

// app.kubernetes.io/name: the HPA name cut to 63 characters, trailing non-alphanumerics trimmed.
std::string nameLabel(std::string name) {
  if (name.size() > 63) {
    name.resize(63);
    while (!name.empty() && !std::isalnum(static_cast<unsigned char>(name.back()))) {
      name.pop_back();
    }
  }
  return name;
}

json labelsJson(const ScaledObject& so, const std::string& hpaName, const std::string& version) {
  json labels = {{"app.kubernetes.io/name", nameLabel(hpaName)},
                 {"app.kubernetes.io/version", version},
                 {"app.kubernetes.io/part-of", so.metadata.name},
                 {"app.kubernetes.io/managed-by", "keda-operator"}};
  std::set<std::string> excluded;
  const auto& annotations = so.metadata.annotations;
  if (auto it = annotations.find(annotations::kHpaExcludedLabels); it != annotations.end()) {
    // strings.Split(v, ","): no trimming, so "a, b" excludes "a" and " b".
    std::string_view rest = it->second;
    for (size_t comma; (comma = rest.find(',')) != std::string_view::npos;
         rest.remove_prefix(comma + 1)) {
      excluded.emplace(rest.substr(0, comma));
    }
    excluded.emplace(rest);
  }
  for (const auto& [key, value] : so.metadata.labels) {
    if (!excluded.count(key)) labels[key] = value;  // SO labels override KEDA's own
  }
  return labels;
}

std::string stringAt(const json& j, std::string_view key) {
  const json* c = child(j, key);
  return c && c->is_string() ? c->get<std::string>() : std::string();
}

// ---- Comparison with KEDA's equality.Semantic ----

bool isEmptyJson(const json& j) {
  return j.is_null() || (j.is_string() && j.get_ref<const std::string&>().empty()) ||
         ((j.is_array() || j.is_object()) && j.empty());
}

// Quantity-valued fields compare by value (Semantic's Quantity.Cmp), so "1000" equals "1k".
bool isQuantityKey(std::string_view key) {
  return key == "value" || key == "averageValue" || key == "tolerance";
}

bool quantitiesEqual(const json& a, const json& b) {
  auto text = [](const json& j) -> std::optional<std::string> {
    if (j.is_string()) return j.get<std::string>();
    if (j.is_number_integer()) return j.dump();
    return std::nullopt;
  };
  auto ta = text(a);
  auto tb = text(b);
  if (!ta || !tb) return false;
  Result<double> qa = parseQuantity(*ta);
  Result<double> qb = parseQuantity(*tb);
  return qa.isOk() && qb.isOk() && *qa == *qb;
}

// equality.Semantic.DeepDerivative: whatever `d` leaves unset (null, "", empty list or map) matches
// anything; lists compare on d's length; every set field must be equal in `e`.
bool deepDerivative(const json& d, const json& e, std::string_view key = {}) {
  if (isEmptyJson(d)) return true;
  if (d.is_object()) {
    for (auto it = d.begin(); it != d.end(); ++it) {
      if (!deepDerivative(it.value(), childOrNull(e, it.key()), it.key())) return false;
    }
    return true;
  }
  if (d.is_array()) {
    if (!e.is_array() || d.size() > e.size()) return false;
    for (size_t i = 0; i < d.size(); ++i) {
      if (!deepDerivative(d[i], e[i])) return false;
    }
    return true;
  }
  return d == e || (isQuantityKey(key) && quantitiesEqual(d, e));
}

// equality.Semantic.DeepEqual: like ==, but an empty list or map equals an absent one and
// quantities compare by value.
bool semanticEqual(const json& a, const json& b, std::string_view key = {}) {
  if (isEmptyJson(a) && isEmptyJson(b)) return true;
  if (a.is_object() && b.is_object()) {
    for (auto it = a.begin(); it != a.end(); ++it) {
      if (!semanticEqual(it.value(), childOrNull(b, it.key()), it.key())) return false;
    }
    for (auto it = b.begin(); it != b.end(); ++it) {
      if (!a.contains(it.key()) && !isEmptyJson(it.value())) return false;
    }
    return true;
  }
  if (a.is_array() && b.is_array()) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i) {
      if (!semanticEqual(a[i], b[i])) return false;
    }
    return true;
  }
  return a == b || (isQuantityKey(key) && quantitiesEqual(a, b));
}

// The API server's defaulting of a non-nil behavior (autoscaling/v2 defaults.go): unset rules and
// fields of each direction get the HPA's historical behavior.
json withServerDefaults(const json& behavior) {
  if (!behavior.is_object()) return behavior;
  const json up = {{"stabilizationWindowSeconds", 0},
                   {"selectPolicy", "Max"},
                   {"policies",
                    {{{"type", "Pods"}, {"value", 4}, {"periodSeconds", 15}},
                     {{"type", "Percent"}, {"value", 100}, {"periodSeconds", 15}}}}};
  const json down = {{"selectPolicy", "Max"},
                     {"policies", {{{"type", "Percent"}, {"value", 100}, {"periodSeconds", 15}}}}};
  json out = behavior;
  for (const auto& [direction, defaults] :
       {std::pair{"scaleUp", &up}, std::pair{"scaleDown", &down}}) {
    json rules = *defaults;
    if (const json* given = child(behavior, direction); given && given->is_object()) {
      for (auto it = given->begin(); it != given->end(); ++it) {
        if (!it.value().is_null()) rules[it.key()] = it.value();
      }
    }
    out[direction] = std::move(rules);
  }
  return out;
}

// An existing behavior matches when equal to the desired one as sent, or as the server defaults it.
bool behaviorEqual(const json& desired, const json& existing) {
  return semanticEqual(desired, existing) || semanticEqual(withServerDefaults(desired), existing);
}

bool hasControllerRef(const json& existingRefs, const json& desiredRefs) {
  for (const json& want : desiredRefs.is_array() ? desiredRefs : json::array()) {
    bool found = false;
    for (const json& have : existingRefs.is_array() ? existingRefs : json::array()) {
      const std::string uid = stringAt(want, "uid");
      found = stringAt(have, "kind") == stringAt(want, "kind") &&
              stringAt(have, "name") == stringAt(want, "name") &&
              (uid.empty() || stringAt(have, "uid") == uid) &&
              childOrNull(have, "controller") == true;
      if (found) break;
    }
    if (!found) return false;
  }
  return true;
}

}  // namespace

std::string ScaleTargetGvkr::apiVersion() const {
  return group.empty() ? version : group + "/" + version;
}

std::string ScaleTargetGvkr::kindString() const { return apiVersion() + "." + kind; }

std::string hpaNameFor(const ScaledObject& so) { return so.hpaName(); }

std::string milliQuantityString(int64_t milli) { return canonicalQuantity(milli, -3); }

Result<json> buildHpa(const HpaBuildInput& in) {
  if (!in.object || !in.triggers) {
    return Status::invalidArgument("buildHpa: the ScaledObject and its triggers are required");
  }
  const ScaledObject& so = *in.object;
  Result<json> metrics = metricsJson(so, *in.triggers);
  if (!metrics.isOk()) return metrics.status();

  const std::string name = hpaNameFor(so);
  json metadata = {{"name", name},
                   {"namespace", so.metadata.namespace_},
                   {"labels", labelsJson(so, name, in.version)}};
  if (!so.metadata.annotations.empty()) metadata["annotations"] = so.metadata.annotations;
  // controllerutil.SetControllerReference: the UID as the API server knows it.
  std::string uid = so.metadata.uid;
  if (in.objectJson) {
    if (std::string u = stringAt(childOrNull(*in.objectJson, "metadata"), "uid"); !u.empty()) {
      uid = u;
    }
  }
  metadata["ownerReferences"] = json::array({{{"apiVersion", kKedaApiVersion},
                                              {"kind", "ScaledObject"},
                                              {"name", so.metadata.name},
                                              {"uid", uid},
                                              {"controller", true},
                                              {"blockOwnerDeletion", true}}});

  json spec = {{"scaleTargetRef",
                {{"apiVersion", in.target.apiVersion()},
                 {"kind", in.target.kind},
                 {"name", so.spec.scaleTargetRef.name}}},
               {"minReplicas", so.hpaMinReplicas()},
               {"maxReplicas", so.effectiveMaxReplicaCount()},
               {"metrics", std::move(*metrics)}};
  if (std::optional<json> behavior = behaviorJson(so)) spec["behavior"] = std::move(*behavior);

  return json{{"apiVersion", "autoscaling/v2"},
              {"kind", "HorizontalPodAutoscaler"},
              {"metadata", std::move(metadata)},
              {"spec", std::move(spec)}};
}

bool hpaNeedsUpdate(const json& existing, const json& desired) {
  const json& dSpec = childOrNull(desired, "spec");
  const json& eSpec = childOrNull(existing, "spec");
  const json& dMeta = childOrNull(desired, "metadata");
  const json& eMeta = childOrNull(existing, "metadata");
  // DeepDerivative ignores extra list entries, so a removed trigger needs the count check; it
  // also ignores a nil behavior, hence the separate behavior check (paused-scale-in removed).
  const json& dMetrics = childOrNull(dSpec, "metrics");
  const json& eMetrics = childOrNull(eSpec, "metrics");
  if (dMetrics.size() != eMetrics.size()) return true;
  if (!behaviorEqual(childOrNull(dSpec, "behavior"), childOrNull(eSpec, "behavior"))) return true;
  if (!deepDerivative(dSpec, eSpec)) return true;
  if (!deepDerivative(childOrNull(dMeta, "labels"), childOrNull(eMeta, "labels"))) return true;
  const json& dAnnotations = childOrNull(dMeta, "annotations");
  const json& eAnnotations = childOrNull(eMeta, "annotations");
  if (isEmptyJson(dAnnotations) && !isEmptyJson(eAnnotations)) return true;
  if (!deepDerivative(dAnnotations, eAnnotations)) return true;
  return !hasControllerRef(childOrNull(eMeta, "ownerReferences"),
                           childOrNull(dMeta, "ownerReferences"));
}

json hpaForUpdate(const json& existing, const json& desired) {
  json out = existing.is_object() ? existing : json::object();
  out["apiVersion"] = childOrNull(desired, "apiVersion");
  out["kind"] = childOrNull(desired, "kind");
  if (!out["metadata"].is_object()) out["metadata"] = json::object();
  json& meta = out["metadata"];
  const json& dMeta = childOrNull(desired, "metadata");
  // KEDA PUTs its freshly built object, so these are replaced whole.
  for (const char* key : {"labels", "annotations", "ownerReferences"}) {
    if (const json* v = child(dMeta, key)) {
      meta[key] = *v;
    } else {
      meta.erase(key);
    }
  }
  out["spec"] = childOrNull(desired, "spec");
  return out;
}

}  // namespace updraft::kube
