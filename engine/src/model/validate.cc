// Semantic validation of KEDA objects (keda-behaviour.md §1.7, §1.8, §3.5, §3.8, §3.9, §5).
#include "updraft/validate.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <exception>
#include <limits>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "model_internal.h"
#include "updraft/formula.h"
#include "updraft/scaler.h"

namespace updraft {
namespace {

using model_internal::childPath;
using model_internal::indexPath;
using model_internal::quote;

constexpr std::size_t kMaxLabelValueLength = 63;
constexpr const char* kScaledObjectNameLabel = "scaledobject.keda.sh/name";
constexpr const char* kScaledJobNameLabel = "scaledjob.keda.sh/name";

struct Reporter {
  ValidationReport report;
  void error(std::string path, std::string message) {
    report.errors.push_back({std::move(path), std::move(message)});
  }
  void warn(std::string path, std::string message) {
    report.warnings.push_back({std::move(path), std::move(message)});
  }
};

// Extra knowledge validateDocument has and the struct-only entry points have not.
struct Context {
  std::set<std::size_t> skipTriggers;   // triggers with parse errors: not handed to scalers
  const nlohmann::json* raw = nullptr;  // the document's JSON
};

std::string triggerPath(std::size_t i) { return indexPath("spec.triggers", i); }

bool isResourceTrigger(const ScaleTriggers& t) { return t.type == "cpu" || t.type == "memory"; }

void checkMinimum(Reporter& r, const std::optional<int32_t>& value, const char* path,
                  int32_t minimum) {
  if (value && *value < minimum) {
    r.error(path, "must be greater than or equal to " + std::to_string(minimum) + ", got " +
                      std::to_string(*value));
  }
}

// ---- §1.7 ValidateTriggers (+ the CRD's minItems / required type) ----
void validateTriggerList(Reporter& r, const std::vector<ScaleTriggers>& triggers,
                         const std::string& kind) {
  if (triggers.empty()) {
    r.error("spec.triggers", "no triggers defined in the " + kind);
    return;
  }
  std::set<std::string> names;
  for (std::size_t i = 0; i < triggers.size(); ++i) {
    const ScaleTriggers& t = triggers[i];
    if (t.type.empty()) r.error(childPath(triggerPath(i), "type"), "required field is missing");
    if (t.useCachedMetrics && (t.type == "cpu" || t.type == "memory" || t.type == "cron")) {
      r.error(childPath(triggerPath(i), "useCachedMetrics"),
              "property \"useCachedMetrics\" is not supported for " + quote(t.type) + " scaler");
    }
    if (!t.name.empty() && !names.insert(t.name).second) {
      r.error(childPath(triggerPath(i), "name"), "triggerName " + quote(t.name) +
                                                     " is defined multiple times in the " + kind +
                                                     ", but it must be unique");
    }
    if (t.authenticationRef && t.authenticationRef->name.empty()) {
      r.error(childPath(childPath(triggerPath(i), "authenticationRef"), "name"),
              "required field is missing");
    }
  }
}

// Where in the trigger a scaler's message points: metadata.<param> when the message names one.
std::string scalerProblemPath(const std::string& message, const ScaleTriggers& t,
                              const std::string& base) {
  const std::string metadataPath = childPath(base, "metadata");
  // The first double-quoted identifier ("missing required parameter \"topic\" ...").
  for (std::size_t q = message.find('"'); q != std::string::npos;) {
    std::size_t e = message.find('"', q + 1);
    if (e == std::string::npos) break;
    std::string token = message.substr(q + 1, e - q - 1);
    bool identifier = !token.empty() && std::all_of(token.begin(), token.end(), [](char c) {
      return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.';
    });
    if (identifier) {
      std::string before = message.substr(0, q);
      bool namesParameter = before.find("param") != std::string::npos;
      if (t.metadata.count(token) || namesParameter) return childPath(metadataPath, token);
    }
    q = message.find('"', e + 1);
  }
  // A metadata key mentioned as a word.
  for (const auto& [key, _] : t.metadata) {
    for (std::size_t pos = message.find(key); pos != std::string::npos;
         pos = message.find(key, pos + 1)) {
      auto isWordChar = [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
      };
      bool startOk = pos == 0 || !isWordChar(message[pos - 1]);
      bool endOk = pos + key.size() >= message.size() || !isWordChar(message[pos + key.size()]);
      if (startOk && endOk) return childPath(metadataPath, key);
    }
  }
  return metadataPath;
}

std::vector<std::string> splitProblems(const std::string& message) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (true) {
    std::size_t sep = message.find("; ", start);
    std::string piece = message.substr(start, sep == std::string::npos ? sep : sep - start);
    if (!piece.empty()) out.push_back(piece);
    if (sep == std::string::npos) break;
    start = sep + 2;
  }
  if (out.empty()) out.push_back(message);
  return out;
}

std::string knownTypesText(const std::string& type) {
  std::vector<std::string> types = ScalerRegistry::global().types();
  if (types.empty()) return " (no scaler types are registered)";
  std::string out = " (known: ";
  for (std::size_t i = 0; i < types.size(); ++i) {
    if (i) out += ", ";
    out += types[i];
  }
  out += ")";
  if (auto guess = model_internal::closestMatch(type, types); !guess.empty()) {
    out += "; did you mean " + quote(guess) + "?";
  }
  return out;
}

// Hands every trigger to its scaler factory. Returns the definitions (nullptr where none).
std::vector<std::unique_ptr<ScalerDefinition>> parseScalers(
    Reporter& r, const ObjectMeta& meta, const std::vector<ScaleTriggers>& triggers,
    const std::string& kind, bool asMetricSource, const Context& ctx) {
  std::vector<std::unique_ptr<ScalerDefinition>> defs(triggers.size());
  for (std::size_t i = 0; i < triggers.size(); ++i) {
    const ScaleTriggers& t = triggers[i];
    if (ctx.skipTriggers.count(i) || t.type.empty()) continue;
    const std::string base = triggerPath(i);
    auto factory = ScalerRegistry::global().find(t.type);
    if (!factory) {
      r.error(childPath(base, "type"),
              "unknown scaler type " + quote(t.type) + knownTypesText(t.type));
      continue;
    }
    ScalerConfig config;
    config.scalableObjectName = meta.name;
    config.scalableObjectNamespace = meta.namespace_;
    config.scalableObjectType = kind;
    config.triggerIndex = static_cast<int>(i);
    config.triggerName = t.name;
    config.triggerType = t.type;
    config.useCachedMetrics = t.useCachedMetrics;
    config.triggerMetadata = t.metadata;
    config.metricType = t.metricType;
    config.asMetricSource = asMetricSource;
    config.secretsUnresolved = true;
    try {
      auto def = factory->parse(config);
      if (!def.isOk()) {
        for (const std::string& piece : splitProblems(def.status().message())) {
          r.error(scalerProblemPath(piece, t, base), piece);
        }
        continue;
      }
      defs[i] = std::move(def).value();
    } catch (const std::exception& e) {
      r.error(childPath(base, "metadata"),
              "internal error in the " + quote(t.type) + " scaler: " + e.what());
    } catch (...) {
      r.error(childPath(base, "metadata"), "internal error in the " + quote(t.type) + " scaler");
    }
  }
  return defs;
}

// Go strconv.ParseInt(target, 10, 64) > 0: fallback with scalingModifiers needs it (QUIRK).
bool isPositiveGoInt(const std::string& s) {
  auto v = model_internal::parseGoInt(s);
  return v && *v > 0;
}

// ---- ScaledObject ----

// scaleTargetRef.apiVersion must parse as a GroupVersion (KEDA's ParseGVKR); Updraft's own group
// only has ProcessPool.
void checkScaleTarget(Reporter& r, const ScaleTargetRef& ref) {
  const std::string& gv = ref.apiVersion;
  if (!gv.empty()) {
    std::size_t slash = gv.find('/');
    bool ok = slash == std::string::npos ? true
                                         : slash > 0 && slash + 1 < gv.size() &&
                                               gv.find('/', slash + 1) == std::string::npos;
    if (!ok) {
      r.error("spec.scaleTargetRef.apiVersion", "unexpected GroupVersion string: " + gv);
      return;
    }
  }
  const bool updraftGroup = gv.rfind("updraft.dev/", 0) == 0;
  if (ref.kind == "ProcessPool" && gv != kUpdraftApiVersion) {
    r.error("spec.scaleTargetRef.apiVersion",
            "a ProcessPool target needs apiVersion: " + std::string(kUpdraftApiVersion) +
                (gv.empty() ? " (the default is apps/v1)" : ", got " + quote(gv)));
  } else if (updraftGroup && (gv != kUpdraftApiVersion || ref.kind != "ProcessPool")) {
    r.error("spec.scaleTargetRef.kind", std::string(kUpdraftApiVersion) +
                                            " only has kind ProcessPool, got " +
                                            quote(ref.effectiveKind()) + " in " + quote(gv));
  }
}

void validateScaledObjectImpl(Reporter& r, const ScaledObject& so, const Context& ctx) {
  const ScaledObjectSpec& spec = so.spec;

  // CRD rules (parse.h checks them on JSON; repeated here for objects built in code).
  if (spec.scaleTargetRef.name.empty()) {
    r.error("spec.scaleTargetRef.name", "required field is missing");
  }
  checkScaleTarget(r, spec.scaleTargetRef);
  checkMinimum(r, spec.pollingInterval, "spec.pollingInterval", 1);
  checkMinimum(r, spec.initialCooldownPeriod, "spec.initialCooldownPeriod", 0);
  checkMinimum(r, spec.cooldownPeriod, "spec.cooldownPeriod", 0);
  checkMinimum(r, spec.idleReplicaCount, "spec.idleReplicaCount", 0);
  checkMinimum(r, spec.minReplicaCount, "spec.minReplicaCount", 0);
  checkMinimum(r, spec.maxReplicaCount, "spec.maxReplicaCount", 1);

  // §5.1 verifyName.
  if (so.metadata.name.size() > kMaxLabelValueLength) {
    r.error("metadata.name", "scaledobject name " + quote(so.metadata.name, 300) + " is " +
                                 std::to_string(so.metadata.name.size()) +
                                 " characters long; must be no more than " +
                                 std::to_string(kMaxLabelValueLength) +
                                 " characters because it is used as the " +
                                 quote(kScaledObjectNameLabel) + " label value");
  }
  const std::string hpaName = so.hpaName();
  if (hpaName.size() > kMaxLabelValueLength) {
    bool custom = spec.advanced && spec.advanced->horizontalPodAutoscalerConfig &&
                  !spec.advanced->horizontalPodAutoscalerConfig->name.empty();
    r.error(custom ? "spec.advanced.horizontalPodAutoscalerConfig.name" : "metadata.name",
            "HPA name " + quote(hpaName, 300) + " derived from scaledobject is " +
                std::to_string(hpaName.size()) + " characters long; must be no more than " +
                std::to_string(kMaxLabelValueLength) +
                " characters; set spec.advanced.horizontalPodAutoscalerConfig.name to a shorter "
                "name or shorten the scaledobject name");
  }

  // CRD CEL rule: !has(min) || min <= (has(max) ? max : 100).
  bool celFailed = spec.minReplicaCount && *spec.minReplicaCount > so.effectiveMaxReplicaCount();
  if (celFailed) {
    r.error("spec.minReplicaCount",
            "minReplicaCount must be less than or equal to maxReplicaCount");
  }
  // §1.8 CheckReplicaCountBoundsAreValid (explicit min 0 is promoted to 1: QUIRK).
  const int32_t min = spec.minReplicaCount ? so.hpaMinReplicas() : 0;
  const int32_t max = so.effectiveMaxReplicaCount();
  if (min > max && !celFailed) {
    r.error("spec.minReplicaCount",
            "MinReplicaCount=" + std::to_string(min) +
                " must be less than MaxReplicaCount=" + std::to_string(max));
  }
  if (spec.idleReplicaCount && *spec.idleReplicaCount >= min) {
    r.error("spec.idleReplicaCount",
            "IdleReplicaCount=" + std::to_string(*spec.idleReplicaCount) +
                " must be less than MinReplicaCount=" + std::to_string(min));
  } else if (spec.idleReplicaCount && *spec.idleReplicaCount > 0) {
    r.warn("spec.idleReplicaCount",
           "only idleReplicaCount 0 works reliably: with " +
               std::to_string(*spec.idleReplicaCount) +
               " the HPA may scale the target down to its own minimum and fight KEDA "
               "(kedacore/keda#2314)");
  }

  // §3.5 relevance warnings (webhook warnings, verbatim).
  const bool minAboveZero = so.effectiveMinReplicaCount() > 0;
  const bool anyCached = std::any_of(spec.triggers.begin(), spec.triggers.end(),
                                     [](const ScaleTriggers& t) { return t.useCachedMetrics; });
  if (spec.pollingInterval && minAboveZero && !spec.idleReplicaCount && !anyCached) {
    r.warn("spec.pollingInterval",
           "PollingInterval is configured but is not relevant. PollingInterval is only relevant "
           "when minReplicaCount = 0 or idleReplicaCount = 0 or useCachedMetrics is enabled");
  }
  if (spec.cooldownPeriod && minAboveZero && !spec.idleReplicaCount) {
    r.warn("spec.cooldownPeriod",
           "CooldownPeriod is configured but is not relevant. CooldownPeriod is only relevant "
           "when minReplicaCount = 0 or idleReplicaCount = 0");
  }

  // §3.9 scalingModifiers (ValidateAndCompileScalingModifiers).
  const bool usingModifiers = so.isUsingModifiers();
  const ScalingModifiers* sm = so.scalingModifiers();
  if (usingModifiers) {
    const std::string base = "spec.advanced.scalingModifiers";
    if (sm->formula.empty()) {
      r.error(base + ".formula", "error ScalingModifiers.Formula is mandatory");
    } else {
      if (sm->target.empty()) {
        r.error(base + ".target",
                "error validating formula in ScalingModifiers: formula is given but target is "
                "empty");
      }
      // Variables: named triggers that are not cpu/memory.
      std::vector<std::string> variables;
      for (const ScaleTriggers& t : spec.triggers) {
        if (!isResourceTrigger(t) && !t.name.empty()) variables.push_back(t.name);
      }
      try {
        auto compiled = Formula::compile(sm->formula, variables);
        if (!compiled.isOk()) {
          r.error(base + ".formula",
                  "error validating formula in ScalingModifiers: " + compiled.status().message());
        }
      } catch (const std::exception& e) {
        r.error(base + ".formula",
                std::string("internal error compiling the formula: ") + e.what());
      }
    }
    if (!sm->target.empty()) {
      auto target = model_internal::parseGoFloat(sm->target);
      if (!target || !(*target > 0)) {
        r.error(base + ".target",
                "error validating target in ScalingModifiers: error converting target for "
                "scalingModifiers (string->float) to valid target: " +
                    quote(sm->target) + " is not a number greater than 0");
      }
    }
    if (!sm->activationTarget.empty() && !model_internal::parseGoFloat(sm->activationTarget)) {
      r.error(base + ".activationTarget",
              quote(sm->activationTarget) + " is not a number (KEDA would fail to use it)");
    }
    if (sm->metricType == "Utilization") {
      r.error(base + ".metricType",
              "error validating target in ScalingModifiers: error trigger type is Utilization, but "
              "it needs to be AverageValue or Value for external metrics");
    }
  }

  // §3.8 / §5.3 fallback.
  if (spec.fallback) {
    const Fallback& fb = *spec.fallback;
    if (fb.failureThreshold < 0 || fb.replicas < 0) {
      r.error("spec.fallback", "FailureThreshold=" + std::to_string(fb.failureThreshold) +
                                   " & Replicas=" + std::to_string(fb.replicas) +
                                   " must both be greater than or equal to 0");
    }
    if (!usingModifiers) {
      bool anyExternal = std::any_of(spec.triggers.begin(), spec.triggers.end(),
                                     [](const ScaleTriggers& t) { return !isResourceTrigger(t); });
      if (!anyExternal && !spec.triggers.empty()) {
        r.error("spec.fallback",
                "at least one trigger (that is not cpu or memory) has to have the `AverageValue` "
                "type for the fallback to be enabled");
      }
    } else if (!isPositiveGoInt(sm->target)) {
      r.warn("spec.fallback",
             "fallback is silently disabled: with scalingModifiers KEDA enables fallback only "
             "when spec.advanced.scalingModifiers.target is a positive integer, got " +
                 quote(sm->target));
    }
    if (fb.behavior == "scalingModifiers" && (!sm || sm->formula.empty())) {
      r.error("spec.fallback.behavior",
              "fallback behavior \"scalingModifiers\" requires "
              "spec.advanced.scalingModifiers.formula");
    }
  }

  // §1.7 triggers.
  validateTriggerList(r, spec.triggers, "ScaledObject");

  // §5.7 only cpu/memory triggers cannot scale to zero.
  if (!spec.triggers.empty() &&
      std::all_of(spec.triggers.begin(), spec.triggers.end(), isResourceTrigger)) {
    if (!spec.minReplicaCount || *spec.minReplicaCount == 0) {
      r.error("spec.minReplicaCount",
              "scaledobject has only cpu/memory triggers AND minReplica is 0 (scale to zero "
              "doesn't work in this case)");
    }
  }

  // Every trigger through its scaler; then duplicate metric names across triggers.
  const bool asMetricSource = usingModifiers && sm && !sm->formula.empty();
  auto defs = parseScalers(r, so.metadata, spec.triggers, "ScaledObject", asMetricSource, ctx);
  std::map<std::string, std::size_t> seen;
  for (std::size_t i = 0; i < defs.size(); ++i) {
    if (!defs[i]) continue;
    std::vector<MetricSpec> specs;
    try {
      specs = defs[i]->metricSpecs();
    } catch (...) {
      continue;
    }
    for (const MetricSpec& m : specs) {
      if (m.source != MetricSpec::Source::kExternal) continue;
      if (!seen.emplace(m.metricName, i).second) {
        r.error(triggerPath(i), "metricName " + m.metricName +
                                    " defined multiple times in ScaledObject " + so.metadata.name);
      }
    }
  }
}

// ---- ScaledJob ----

void validateScaledJobImpl(Reporter& r, const ScaledJob& sj, const Context& ctx) {
  const ScaledJobSpec& spec = sj.spec;
  if (spec.jobTargetRef.is_null()) r.error("spec.jobTargetRef", "required field is missing");
  checkMinimum(r, spec.pollingInterval, "spec.pollingInterval", 1);
  checkMinimum(r, spec.successfulJobsHistoryLimit, "spec.successfulJobsHistoryLimit", 0);
  checkMinimum(r, spec.failedJobsHistoryLimit, "spec.failedJobsHistoryLimit", 0);
  checkMinimum(r, spec.minReplicaCount, "spec.minReplicaCount", 0);
  checkMinimum(r, spec.maxReplicaCount, "spec.maxReplicaCount", 1);

  validateTriggerList(r, spec.triggers, "ScaledJob");
  for (std::size_t i = 0; i < spec.triggers.size(); ++i) {
    const ScaleTriggers& t = spec.triggers[i];
    if (t.metricType) {
      r.error(childPath(triggerPath(i), "metricType"),
              "Cannot set metricType in ScaledJob triggers");
    }
    if (t.useCachedMetrics && t.type != "cpu" && t.type != "memory" && t.type != "cron") {
      r.warn(childPath(triggerPath(i), "useCachedMetrics"),
             "useCachedMetrics is ignored for ScaledJob triggers");
    }
  }

  if (sj.metadata.name.size() > kMaxLabelValueLength) {
    r.warn("metadata.name", "the name is " + std::to_string(sj.metadata.name.size()) +
                                " characters long; KEDA labels every Job with " +
                                kScaledJobNameLabel +
                                "=<name> and label values are limited to 63 characters, so the "
                                "Jobs could not be created");
  }
  if (spec.minReplicaCount && spec.maxReplicaCount &&
      *spec.minReplicaCount > *spec.maxReplicaCount) {
    r.warn("spec.minReplicaCount", "minReplicaCount (" + std::to_string(*spec.minReplicaCount) +
                                       ") is greater than maxReplicaCount (" +
                                       std::to_string(*spec.maxReplicaCount) +
                                       "): KEDA uses maxReplicaCount as the minimum");
  }
  if (spec.scalingStrategy && !spec.scalingStrategy->customScalingRunningJobPercentage.empty() &&
      !model_internal::parseGoFloat(spec.scalingStrategy->customScalingRunningJobPercentage)) {
    r.warn("spec.scalingStrategy.customScalingRunningJobPercentage",
           quote(spec.scalingStrategy->customScalingRunningJobPercentage) +
               " is not a number: KEDA silently falls back to the default scaling strategy");
  }
  if (!spec.rolloutStrategy.empty() && spec.rollout && !spec.rollout->strategy.empty() &&
      spec.rolloutStrategy != spec.rollout->strategy) {
    r.warn("spec.rollout.strategy", "ignored: the deprecated spec.rolloutStrategy (" +
                                        quote(spec.rolloutStrategy) + ") wins when it is set");
  }

  parseScalers(r, sj.metadata, spec.triggers, "ScaledJob", false, ctx);
}

// ---- TriggerAuthentication (§5 validateSpec) ----

// True when `key` is present in raw JSON object `obj` with the string value "".
bool setButEmpty(const nlohmann::json* obj, const char* key) {
  if (!obj || !obj->is_object()) return false;
  auto it = obj->find(key);
  return it != obj->end() && it->is_string() && it->get_ref<const std::string&>().empty();
}

bool isHttpUrlWithHost(const std::string& url) {
  auto scheme = url.find("://");
  if (scheme == std::string::npos) return false;
  std::string s = url.substr(0, scheme);
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (s != "http" && s != "https") return false;
  std::string rest = url.substr(scheme + 3);
  std::string host = rest.substr(0, rest.find_first_of("/?#"));
  if (auto at = host.rfind('@'); at != std::string::npos) host = host.substr(at + 1);
  if (host.empty() || host[0] == ':') return false;
  return std::none_of(host.begin(), host.end(),
                      [](char c) { return std::isspace(static_cast<unsigned char>(c)); });
}

void validateTriggerAuthenticationImpl(Reporter& r, const TriggerAuthentication& ta,
                                       const Context& ctx) {
  const TriggerAuthenticationSpec& spec = ta.spec;
  const nlohmann::json* rawPod = nullptr;
  if (ctx.raw && ctx.raw->is_object() && ctx.raw->contains("spec") &&
      (*ctx.raw)["spec"].is_object() && (*ctx.raw)["spec"].contains("podIdentity")) {
    rawPod = &(*ctx.raw)["spec"]["podIdentity"];
  }
  bool checkOauth2 = true;
  if (spec.podIdentity) {
    const PodIdentity& pi = *spec.podIdentity;
    const std::string base = "spec.podIdentity";
    if (pi.provider.empty()) r.error(base + ".provider", "required field is missing");
    if (pi.provider == "azure-workload") {
      if (setButEmpty(rawPod, "identityId")) {
        r.error(base + ".identityId",
                "identityId of PodIdentity should not be empty. If it's set, identityId has to be "
                "different than \"\"");
      }
      if (!pi.identityAuthorityHost.empty()) {
        if (pi.identityTenantId.empty()) {
          r.error(base + ".identityTenantId",
                  "identityTenantID of PodIdentity should not be nil or empty when "
                  "identityAuthorityHost of PodIdentity is set");
        }
      } else if (setButEmpty(rawPod, "identityTenantId")) {
        r.error(base + ".identityTenantId",
                "identityTenantId of PodIdentity should not be empty. If it's set, "
                "identityTenantId has to be different than \"\"");
      }
    } else if (pi.provider == "aws") {
      if (!pi.roleArn.empty() && pi.identityOwner == "workload") {
        r.error(base + ".roleArn",
                "roleArn of PodIdentity can't be set if KEDA isn't identityOwner");
      }
      if (!pi.externalID.empty() && pi.roleArn.empty()) {
        r.error(base + ".externalID", "externalID of PodIdentity requires roleArn to be set");
      }
    } else {
      // QUIRK: KEDA returns early for every other provider, so oauth2 is not checked.
      checkOauth2 = false;
    }
  }
  if (checkOauth2 && spec.oauth2.is_object()) {
    const nlohmann::json& o = spec.oauth2;
    auto str = [&](const char* key) -> std::string {
      auto it = o.find(key);
      return it != o.end() && it->is_string() ? it->get<std::string>() : std::string();
    };
    std::string type =
        o.contains("type") && o["type"].is_string() ? str("type") : "clientCredentials";
    if (type != "clientCredentials") {
      r.error("spec.oauth2.type", "oauth2.type must be 'clientCredentials', got '" + type + "'");
    } else if (str("clientId").empty()) {
      r.error("spec.oauth2.clientId", "oauth2.clientId is required when oauth2 is configured");
    } else if (str("tokenUrl").empty()) {
      r.error("spec.oauth2.tokenUrl", "oauth2.tokenUrl is required when oauth2 is configured");
    } else if (!isHttpUrlWithHost(str("tokenUrl"))) {
      r.error("spec.oauth2.tokenUrl", "oauth2.tokenUrl must be a valid http or https URL");
    }
  }
  if (!spec.filePath.empty()) {
    if (!ta.clusterScoped) {
      r.error("spec.filePath", "filePath is only supported for ClusterTriggerAuthentication");
    } else {
      bool dotdot = false;
      std::size_t start = 0;
      while (start <= spec.filePath.size()) {
        std::size_t slash = spec.filePath.find('/', start);
        std::string part =
            spec.filePath.substr(start, slash == std::string::npos ? slash : slash - start);
        if (part == "..") dotdot = true;
        if (slash == std::string::npos) break;
        start = slash + 1;
      }
      if (spec.filePath.front() == '/' || dotdot) {
        r.error("spec.filePath",
                "must be a relative path without \"..\" (it is resolved under the operator's "
                "--filepath-auth-root-path)");
      }
    }
  }
}

// ---- ProcessPool ----

void validateProcessPoolImpl(Reporter& r, const ProcessPool& pool) {
  if (pool.spec.command.empty()) r.error("spec.command", "required field is missing");
  if (pool.spec.gracePeriodSeconds < 0) {
    r.error("spec.gracePeriodSeconds", "must be greater than or equal to 0, got " +
                                           std::to_string(pool.spec.gracePeriodSeconds));
  }
  if (pool.spec.initialReplicas < 0) {
    r.error("spec.initialReplicas",
            "must be greater than or equal to 0, got " + std::to_string(pool.spec.initialReplicas));
  }
}

// Runs `fn`, turning any escaping exception into an error.
template <typename Fn>
ValidationReport guarded(Fn&& fn) {
  Reporter r;
  try {
    fn(r);
  } catch (const std::exception& e) {
    r.error("", std::string("internal error during validation: ") + e.what());
  } catch (...) {
    r.error("", "internal error during validation");
  }
  return std::move(r.report);
}

}  // namespace

ValidationReport validateScaledObject(const ScaledObject& object) {
  return guarded([&](Reporter& r) { validateScaledObjectImpl(r, object, Context{}); });
}

ValidationReport validateScaledJob(const ScaledJob& job) {
  return guarded([&](Reporter& r) { validateScaledJobImpl(r, job, Context{}); });
}

ValidationReport validateTriggerAuthentication(const TriggerAuthentication& auth) {
  return guarded([&](Reporter& r) { validateTriggerAuthenticationImpl(r, auth, Context{}); });
}

ValidationReport validateProcessPool(const ProcessPool& pool) {
  return guarded([&](Reporter& r) { validateProcessPoolImpl(r, pool); });
}

ValidationReport validateDocument(const Document& document) {
  ValidationReport out;
  out.errors = document.errors;
  out.warnings = document.warnings;
  if (!document.hasObject()) return out;

  Context ctx;
  ctx.raw = &document.raw;
  std::set<std::string> errorPaths;
  for (const Problem& p : document.errors) {
    errorPaths.insert(p.path);
    // spec.triggers[3]... -> skip trigger 3.
    const std::string prefix = "spec.triggers[";
    if (p.path.rfind(prefix, 0) == 0) {
      std::size_t end = p.path.find(']', prefix.size());
      if (end != std::string::npos) {
        if (auto i =
                model_internal::parseGoInt(p.path.substr(prefix.size(), end - prefix.size()))) {
          ctx.skipTriggers.insert(static_cast<std::size_t>(*i));
        }
      }
    }
  }

  ValidationReport semantic = guarded([&](Reporter& r) {
    if (const auto* so = document.scaledObject()) {
      validateScaledObjectImpl(r, *so, ctx);
    } else if (const auto* sj = document.scaledJob()) {
      validateScaledJobImpl(r, *sj, ctx);
    } else if (const auto* ta = document.triggerAuthentication()) {
      validateTriggerAuthenticationImpl(r, *ta, ctx);
    } else if (const auto* pool = document.processPool()) {
      validateProcessPoolImpl(r, *pool);
    }
  });
  // A semantic problem at (or under) a field that already failed to parse would only repeat it.
  auto coveredByParseError = [&](const std::string& path) {
    for (const std::string& e : errorPaths) {
      if (e.empty()) continue;
      if (path == e) return true;
      if (path.size() > e.size() && path.compare(0, e.size(), e) == 0 &&
          (path[e.size()] == '.' || path[e.size()] == '[')) {
        return true;
      }
    }
    return false;
  };
  for (Problem& p : semantic.errors) {
    if (!coveredByParseError(p.path)) out.errors.push_back(std::move(p));
  }
  for (Problem& p : semantic.warnings) {
    if (!coveredByParseError(p.path)) out.warnings.push_back(std::move(p));
  }
  return out;
}

}  // namespace updraft
