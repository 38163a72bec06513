// KEDA's validating admission webhook (keda-behaviour.md §5; hpa-and-kube-api.md §3.14).
#include "updraft/operator/admission.h"

#include <algorithm>
#include <cctype>
#include <exception>
#include <set>
#include <utility>

#include "updraft/model.h"
#include "updraft/parse.h"
#include "updraft/quantity.h"
#include "updraft/validate.h"

namespace updraft::admission {
namespace {

using nlohmann::json;

constexpr const char* kReviewKind = "AdmissionReview";
constexpr const char* kReviewV1 = "admission.k8s.io/v1";
constexpr const char* kReviewV1beta1 = "admission.k8s.io/v1beta1";  // same shape
constexpr const char* kKedaGroup = "keda.sh";
constexpr const char* kKedaVersion = "v1alpha1";
constexpr std::size_t kMaxRenderedProblem = 2000;
constexpr const char* kRedacted = "<redacted>";

// ---- small JSON helpers (lenient: wrong types read as absent) ----

const json* member(const json& object, const char* key) {
  if (!object.is_object()) return nullptr;
  auto it = object.find(key);
  return it == object.end() ? nullptr : &*it;
}

std::string str(const json& object, const char* key) {
  const json* v = member(object, key);
  return v && v->is_string() ? v->get<std::string>() : std::string();
}

const json& obj(const json& object, const char* key) {
  static const json kEmpty = json::object();
  const json* v = member(object, key);
  return v && v->is_object() ? *v : kEmpty;
}

const json& arr(const json& object, const char* key) {
  static const json kEmpty = json::array();
  const json* v = member(object, key);
  return v && v->is_array() ? *v : kEmpty;
}

// Replaces invalid UTF-8 (e.g. a quote cut in the middle of a character) with U+FFFD, so the
// answer always serializes.
std::string validUtf8(const std::string& in) {
  std::string out;
  out.reserve(in.size());
  std::size_t i = 0;
  while (i < in.size()) {
    unsigned char c = static_cast<unsigned char>(in[i]);
    std::size_t len = c < 0x80           ? 1
                      : (c >> 5) == 0x6  ? 2
                      : (c >> 4) == 0xe  ? 3
                      : (c >> 3) == 0x1e ? 4
                                         : 0;
    bool ok = len > 0 && i + len <= in.size();
    for (std::size_t k = 1; ok && k < len; ++k) {
      ok = (static_cast<unsigned char>(in[i + k]) & 0xc0) == 0x80;
    }
    if (ok && len == 2) ok = c >= 0xc2;
    if (ok && len == 3) {
      unsigned char c1 = static_cast<unsigned char>(in[i + 1]);
      ok = !(c == 0xe0 && c1 < 0xa0) && !(c == 0xed && c1 >= 0xa0);
    }
    if (ok && len == 4) {
      unsigned char c1 = static_cast<unsigned char>(in[i + 1]);
      ok = c <= 0xf4 && !(c == 0xf0 && c1 < 0x90) && !(c == 0xf4 && c1 >= 0x90);
    }
    if (ok) {
      out.append(in, i, len);
      i += len;
    } else {
      out += "\xef\xbf\xbd";
      ++i;
    }
  }
  return out;
}

std::string truncated(std::string text, std::size_t max) {
  if (text.size() > max) {
    text.resize(max);
    text += "...";
  }
  return text;
}

// Nesting depth of JSON text (outside strings), stopping early past `limit`.
bool nestingWithin(std::string_view text, int limit) {
  int depth = 0;
  bool inString = false;
  bool escaped = false;
  for (char c : text) {
    if (inString) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        inString = false;
      }
      continue;
    }
    if (c == '"') {
      inString = true;
    } else if (c == '{' || c == '[') {
      if (++depth > limit) return false;
    } else if (c == '}' || c == ']') {
      --depth;
    }
  }
  return true;
}

int jsonDepth(const json& j, int limit, int depth = 0) {
  if (depth > limit) return depth;
  int deepest = depth;
  if (j.is_object() || j.is_array()) {
    for (const auto& item : j) {
      deepest = std::max(deepest, jsonDepth(item, limit, depth + 1));
      if (deepest > limit) break;
    }
  }
  return deepest;
}

// ---- secrets ----

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

bool sensitiveKey(const std::string& key) {
  const std::string k = lower(key);
  static const char* const kWords[] = {
      "password", "passwd",     "secret", "token",         "credential", "connection", "apikey",
      "api_key",  "privatekey", "sasl",   "authorization", "cert",       "sas"};
  for (const char* w : kWords) {
    if (k.find(w) != std::string::npos) return true;
  }
  return k.size() >= 3 && k.compare(k.size() - 3, 3, "key") == 0;  // accessKey, sharedKey, key
}

// The password of "scheme://user:password@host...".
void collectUrlPassword(const std::string& value, std::set<std::string>& out) {
  auto scheme = value.find("://");
  if (scheme == std::string::npos) return;
  auto start = scheme + 3;
  auto at = value.find('@', start);
  auto slash = value.find('/', start);
  if (at == std::string::npos || (slash != std::string::npos && slash < at)) return;
  auto colon = value.find(':', start);
  if (colon == std::string::npos || colon > at) return;
  out.insert(value.substr(colon + 1, at - colon - 1));
}

void collectSecrets(const json& j, const std::string& key, std::set<std::string>& out, int depth) {
  if (depth > kMaxReviewNesting) return;
  if (j.is_string()) {
    const std::string& v = j.get_ref<const std::string&>();
    if (!key.empty() && sensitiveKey(key)) out.insert(v);
    collectUrlPassword(v, out);
  } else if (j.is_object()) {
    for (auto it = j.begin(); it != j.end(); ++it) collectSecrets(*it, it.key(), out, depth + 1);
  } else if (j.is_array()) {
    for (const auto& item : j) collectSecrets(item, key, out, depth + 1);
  }
}

class Redactor {
 public:
  void addFrom(const json& object) {
    std::set<std::string> found;
    collectSecrets(obj(object, "spec"), "", found, 0);
    for (const std::string& s : found) {
      if (s.size() >= 4) secrets_.push_back(s);
    }
    std::sort(secrets_.begin(), secrets_.end(),
              [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
  }
  std::string operator()(std::string text) const {
    for (const std::string& s : secrets_) {
      for (std::size_t pos = text.find(s); pos != std::string::npos;
           pos = text.find(s, pos + std::char_traits<char>::length(kRedacted))) {
        text.replace(pos, s.size(), kRedacted);
      }
    }
    return text;
  }

 private:
  std::vector<std::string> secrets_;
};

// ---- KEDA's group/version.kind strings (ParseGVKR, GVKString) ----

// "apps/v1.Deployment" for apiVersion "" and kind ""; "/v1.Pod" for the core group; nullopt when
// apiVersion has more than one '/' (schema.ParseGroupVersion fails).
std::optional<std::string> gvkString(const std::string& apiVersion, const std::string& kind) {
  std::string group = "apps";
  std::string version = "v1";
  if (!apiVersion.empty()) {
    auto slash = apiVersion.find('/');
    if (slash == std::string::npos) {
      group.clear();
      version = apiVersion;
    } else {
      if (apiVersion.find('/', slash + 1) != std::string::npos) return std::nullopt;
      group = apiVersion.substr(0, slash);
      version = apiVersion.substr(slash + 1);
    }
  }
  return group + "/" + version + "." + (kind.empty() ? "Deployment" : kind);
}

std::string hpaNameOf(const json& so) {
  std::string custom =
      str(obj(obj(obj(so, "spec"), "advanced"), "horizontalPodAutoscalerConfig"), "name");
  return custom.empty() ? "keda-hpa-" + str(obj(so, "metadata"), "name") : custom;
}

// ---- the review ----

struct Finding {
  AdmissionCause cause;
  std::string reason;
};

// KEDA's metric reason for a per-object problem of validateDocument.
std::string reasonFor(const Problem& p) {
  const std::string& path = p.path;
  const std::string& m = p.message;
  auto startsWith = [&](const char* prefix) { return path.rfind(prefix, 0) == 0; };
  if (m.find("derived from scaledobject") != std::string::npos) return "hpa-name-too-long";
  if (m.rfind("scaledobject name ", 0) == 0) return "name-too-long";
  if (m.find("scale to zero doesn't work") != std::string::npos) {
    return "scale-to-zero-requirements-not-met";
  }
  if (m.rfind("MinReplicaCount=", 0) == 0 || m.rfind("IdleReplicaCount=", 0) == 0) {
    return "incorrect-replicas";
  }
  if (startsWith("spec.fallback.behavior")) return "scaling-modifiers-fallback";
  if (startsWith("spec.fallback")) return "incorrect-fallback";
  if (startsWith("spec.advanced.scalingModifiers")) return "scaling-modifiers";
  if (m.rfind("no triggers defined", 0) == 0 ||
      m.find("useCachedMetrics\" is not supported") != std::string::npos ||
      m.find("is defined multiple times in the") != std::string::npos) {
    return "incorrect-triggers";
  }
  return "invalid-object";
}

class Reviewer {
 public:
  Reviewer(const ClusterView* cluster, const AdmissionOptions& options)
      : cluster_(cluster), options_(options) {}

  Result<AdmissionDecision> run(const json& review) {
    AdmissionDecision d;
    if (!review.is_object()) {
      return Status::invalidArgument("the AdmissionReview is not a JSON object");
    }
    const json* request = member(review, "request");
    if (!request || !request->is_object()) {
      return Status::invalidArgument(
          "the AdmissionReview has no request object (expected "
          "{\"apiVersion\":\"admission.k8s.io/"
          "v1\",\"kind\":\"AdmissionReview\",\"request\":{...}})");
    }
    const json* uid = member(*request, "uid");
    if (!uid || !uid->is_string() || uid->get_ref<const std::string&>().empty()) {
      return Status::invalidArgument("the AdmissionReview's request has no uid");
    }
    d.uid = validUtf8(truncated(uid->get<std::string>(), 256));

    const std::string apiVersion = str(review, "apiVersion");
    const std::string kind = str(review, "kind");
    if (apiVersion == kReviewV1beta1) d.apiVersion = kReviewV1beta1;
    if (apiVersion != kReviewV1 && apiVersion != kReviewV1beta1) {
      return deny(std::move(d), "expected apiVersion " + std::string(kReviewV1) + ", got " +
                                    describe(member(review, "apiVersion")));
    }
    if (kind != kReviewKind) {
      return deny(std::move(d),
                  "expected kind AdmissionReview, got " + describe(member(review, "kind")));
    }

    d.operation = str(*request, "operation");
    const json* dry = member(*request, "dryRun");
    d.dryRun = dry && dry->is_boolean() && dry->get<bool>();

    const json* object = member(*request, "object");
    const json* oldObject = member(*request, "oldObject");
    static const json kNoObject = json::object();
    const json& subject = object && object->is_object()         ? *object
                          : oldObject && oldObject->is_object() ? *oldObject
                                                                : kNoObject;
    // Which kind: request.kind, else the object's own.
    const json& gvk = obj(*request, "kind");
    std::string group = str(gvk, "group");
    std::string version = str(gvk, "version");
    d.kind = str(gvk, "kind");
    if (d.kind.empty()) {
      d.kind = str(subject, "kind");
      std::string av = str(subject, "apiVersion");
      auto slash = av.find('/');
      group = slash == std::string::npos ? "" : av.substr(0, slash);
      version = slash == std::string::npos ? av : av.substr(slash + 1);
    }
    d.namespace_ = str(*request, "namespace");
    if (d.namespace_.empty()) d.namespace_ = str(obj(subject, "metadata"), "namespace");
    d.name = str(*request, "name");
    if (d.name.empty()) d.name = str(obj(subject, "metadata"), "name");
    d.kind = validUtf8(truncated(d.kind, 256));
    d.namespace_ = validUtf8(truncated(d.namespace_, 256));
    d.name = validUtf8(truncated(d.name, 256));

    if (d.operation == "DELETE" || d.operation == "CONNECT") return allow(std::move(d));
    if (d.operation != "CREATE" && d.operation != "UPDATE") {
      return deny(std::move(d), "unsupported operation " + describe(member(*request, "operation")) +
                                    " (expected CREATE, UPDATE, DELETE or CONNECT)");
    }
    static const std::set<std::string> kKinds = {
        "ScaledObject", "ScaledJob", "TriggerAuthentication", "ClusterTriggerAuthentication"};
    if (group != kKedaGroup || version != kKedaVersion || !kKinds.count(d.kind)) {
      std::string groupVersion = group.empty() ? version : group + "/" + version;
      std::string got = d.kind.empty() ? std::string("an object without a kind")
                                       : validUtf8(truncated(groupVersion, 256)) + " " + d.kind;
      return deny(std::move(d),
                  "this webhook reviews keda.sh/v1alpha1 ScaledObject, ScaledJob, "
                  "TriggerAuthentication and ClusterTriggerAuthentication objects, got " +
                      got);
    }
    if (!object || !object->is_object()) {
      return deny(std::move(d),
                  "request.object is missing: CREATE and UPDATE reviews must carry the object");
    }
    json subjectObject = *object;
    // The API server always sends apiVersion/kind/namespace; be lenient when a caller does not.
    const std::string apiVersionWanted = std::string(kKedaGroup) + "/" + kKedaVersion;
    if (!subjectObject.contains("apiVersion")) subjectObject["apiVersion"] = apiVersionWanted;
    if (!subjectObject.contains("kind")) subjectObject["kind"] = d.kind;
    if (str(subjectObject, "apiVersion") != apiVersionWanted ||
        str(subjectObject, "kind") != d.kind) {
      return deny(std::move(d), "request.object is " +
                                    describe(member(subjectObject, "apiVersion")) + " " +
                                    describe(member(subjectObject, "kind")) +
                                    " but request.kind is " + apiVersionWanted + " " + d.kind);
    }
    const bool clusterScoped = d.kind == "ClusterTriggerAuthentication";
    if (!clusterScoped && !d.namespace_.empty() && subjectObject.contains("metadata") &&
        subjectObject["metadata"].is_object() && !subjectObject["metadata"].contains("namespace")) {
      subjectObject["metadata"]["namespace"] = d.namespace_;
    }

    if (d.operation == "UPDATE" && oldObject && oldObject->is_object() &&
        onlyRemovesFinalizers(d.kind, subjectObject, *oldObject)) {
      return allow(std::move(d));
    }

    redact_.addFrom(subjectObject);
    if (oldObject) redact_.addFrom(*oldObject);
    d.validated = true;

    const Document document = parseObject(subjectObject);
    const ValidationReport report = validateDocument(document);
    for (const Problem& p : report.errors) findings_.push_back({{p.path, p.message}, reasonFor(p)});
    for (const Problem& p : report.warnings) warnings_.push_back(toString(p));

    if (const ScaledObject* so = document.scaledObject(); so && cluster_) {
      std::string ns = so->metadata.namespace_.empty() ? d.namespace_ : so->metadata.namespace_;
      checkScaledObjects(*so, ns);
      checkHpas(*so, ns);
      if (!d.dryRun) checkResourceTriggers(*so, ns);
    }
    return finish(std::move(d));
  }

 private:
  static std::string describe(const json* v) {
    if (!v) return "nothing";
    if (v->is_string()) return "\"" + validUtf8(truncated(v->get<std::string>(), 200)) + "\"";
    return std::string("a JSON ") + v->type_name();
  }

  static bool onlyRemovesFinalizers(const std::string& kind, const json& now, const json& old) {
    const std::size_t n = arr(obj(now, "metadata"), "finalizers").size();
    const std::size_t o = arr(obj(old, "metadata"), "finalizers").size();
    const json* spec = member(now, "spec");
    const json* oldSpec = member(old, "spec");
    const bool sameSpec = (spec ? *spec : json()) == (oldSpec ? *oldSpec : json());
    if (!sameSpec) return false;
    if (kind == "ScaledObject") return n < o;
    return n == 0 && o == 1;
  }

  void addError(std::string field, std::string message, std::string reason) {
    findings_.push_back({{std::move(field), std::move(message)}, std::move(reason)});
  }

  // §5.5 verifyScaledObjects: one ScaledObject per scale target and per HPA name.
  void checkScaledObjects(const ScaledObject& so, const std::string& ns) {
    auto incomingGvk = gvkString(so.spec.scaleTargetRef.apiVersion, so.spec.scaleTargetRef.kind);
    if (!incomingGvk) return;  // the engine reported the apiVersion
    auto others = cluster_->scaledObjects(ns);
    if (!others.isOk()) {
      addError(
          "", "cannot list the ScaledObjects of namespace " + ns + ": " + others.status().message(),
          "lookup-failed");
      return;
    }
    const std::string hpaName = so.hpaName();
    const bool customHpaName = so.spec.advanced &&
                               so.spec.advanced->horizontalPodAutoscalerConfig &&
                               !so.spec.advanced->horizontalPodAutoscalerConfig->name.empty();
    for (const json& other : *others) {
      const std::string name = str(obj(other, "metadata"), "name");
      if (name == so.metadata.name) continue;
      const json& ref = obj(obj(other, "spec"), "scaleTargetRef");
      auto gvk = gvkString(str(ref, "apiVersion"), str(ref, "kind"));
      if (!gvk) continue;
      if (*gvk == *incomingGvk && str(ref, "name") == so.spec.scaleTargetRef.name) {
        addError("spec.scaleTargetRef.name",
                 "the workload '" + str(ref, "name") + "' of type '" + *incomingGvk +
                     "' is already managed by the ScaledObject '" + name + "'",
                 "other-scaled-object");
        return;
      }
      if (hpaNameOf(other) == hpaName) {
        addError(
            customHpaName ? "spec.advanced.horizontalPodAutoscalerConfig.name" : "metadata.name",
            "the HPA '" + hpaName + "' is already managed by the ScaledObject '" + name + "'",
            "other-scaled-object-hpa");
        return;
      }
    }
  }

  // §5.6 verifyHpas: an HPA on the same target must be ours, opted out, or handed over.
  void checkHpas(const ScaledObject& so, const std::string& ns) {
    auto incomingGvk = gvkString(so.spec.scaleTargetRef.apiVersion, so.spec.scaleTargetRef.kind);
    if (!incomingGvk) return;
    auto hpas = cluster_->hpas(ns);
    if (!hpas.isOk()) {
      addError("",
               "cannot list the HorizontalPodAutoscalers of namespace " + ns + ": " +
                   hpas.status().message(),
               "lookup-failed");
      return;
    }
    const std::string customHpaName =
        so.spec.advanced && so.spec.advanced->horizontalPodAutoscalerConfig
            ? so.spec.advanced->horizontalPodAutoscalerConfig->name
            : std::string();
    auto transfer = so.metadata.annotations.find(annotations::kTransferHpaOwnership);
    const bool transferAsked =
        transfer != so.metadata.annotations.end() && transfer->second == "true";
    for (const json& hpa : *hpas) {
      const json& meta = obj(hpa, "metadata");
      if (str(obj(meta, "annotations"), annotations::kHpaOwnershipValidation) == "false") continue;
      const json& ref = obj(obj(hpa, "spec"), "scaleTargetRef");
      auto gvk = gvkString(str(ref, "apiVersion"), str(ref, "kind"));
      if (!gvk || *gvk != *incomingGvk || str(ref, "name") != so.spec.scaleTargetRef.name) continue;
      bool owned = false;
      for (const json& owner : arr(meta, "ownerReferences")) {
        if (str(owner, "kind") == "ScaledObject" && str(owner, "name") == so.metadata.name) {
          owned = true;
          break;
        }
      }
      if (owned) continue;
      const std::string hpaName = str(meta, "name");
      if (transferAsked) {
        if (!customHpaName.empty() && customHpaName == hpaName) continue;  // handed over
        addError("spec.advanced.horizontalPodAutoscalerConfig.name",
                 "the existing hpa '" + hpaName + "' for workload '" + so.spec.scaleTargetRef.name +
                     "' of type '" + *incomingGvk +
                     "' must be specified by name in advanced settings to enable ownership "
                     "transfer",
                 "transfer-ownership-missing-hpa-name");
        return;
      }
      addError("spec.scaleTargetRef.name",
               "the workload '" + so.spec.scaleTargetRef.name + "' of type '" + *incomingGvk +
                   "' is already managed by the hpa '" + hpaName + "'",
               "other-hpa");
      return;
    }
  }

  static bool positiveQuantity(const json* v) {
    if (!v) return false;
    if (v->is_number()) return v->get<double>() > 0;
    if (!v->is_string()) return false;
    auto q = parseQuantity(v->get<std::string>());
    return q.isOk() && *q > 0;
  }

  // isWorkloadResourceSet: a request or a limit, one of them > 0.
  static bool resourceSet(const json& container, const std::string& resource) {
    const json& resources = obj(container, "resources");
    const json* request = member(obj(resources, "requests"), resource.c_str());
    const json* limit = member(obj(resources, "limits"), resource.c_str());
    return (request || limit) && (positiveQuantity(request) || positiveQuantity(limit));
  }

  bool limitRangeDefault(const std::string& ns, const std::string& resource) {
    auto ranges = cluster_->limitRanges(ns);
    if (!ranges.isOk()) return false;
    for (const json& range : *ranges) {
      for (const json& item : arr(obj(range, "spec"), "limits")) {
        if (str(item, "type") != "Container") continue;
        const json* request = member(obj(item, "defaultRequest"), resource.c_str());
        const json* limit = member(obj(item, "default"), resource.c_str());
        if ((request || limit) && (positiveQuantity(request) || positiveQuantity(limit))) {
          return true;
        }
      }
    }
    return false;
  }

  // §5.7 verifyCPUMemoryScalers: cpu/memory triggers need container requests on the target.
  void checkResourceTriggers(const ScaledObject& so, const std::string& ns) {
    std::optional<json> podSpec;
    for (std::size_t i = 0; i < so.spec.triggers.size(); ++i) {
      const ScaleTriggers& t = so.spec.triggers[i];
      if (t.type != "cpu" && t.type != "memory") continue;
      if (!podSpec) {
        auto gvk = gvkString(so.spec.scaleTargetRef.apiVersion, so.spec.scaleTargetRef.kind);
        if (!gvk) return;
        if (*gvk != "apps/v1.Deployment" && *gvk != "apps/v1.StatefulSet") return;
        const std::string kind = so.spec.scaleTargetRef.effectiveKind();
        auto found = cluster_->workload("apps/v1", kind, ns, so.spec.scaleTargetRef.name);
        if (!found.isOk()) {
          addError("spec.scaleTargetRef.name",
                   "cannot read " + kind + " " + ns + "/" + so.spec.scaleTargetRef.name + ": " +
                       found.status().message(),
                   "lookup-failed");
          return;
        }
        if (!found->has_value()) {
          // controller-runtime's cache NotFound text.
          addError("spec.scaleTargetRef.name",
                   kind + ".apps \"" + so.spec.scaleTargetRef.name + "\" not found",
                   "lookup-failed");
          return;
        }
        podSpec = obj(obj(obj(**found, "spec"), "template"), "spec");
      }
      auto containerName = t.metadata.find("containerName");
      const std::string wanted = containerName == t.metadata.end() ? "" : containerName->second;
      for (const json& container : arr(*podSpec, "containers")) {
        const std::string name = str(container, "name");
        if (!wanted.empty() && name != wanted) continue;
        if (!resourceSet(container, t.type) && !limitRangeDefault(ns, t.type)) {
          addError("spec.triggers[" + std::to_string(i) + "]",
                   "the scaledobject has a " + t.type + " trigger but the container " + name +
                       " doesn't have the " + t.type + " request defined",
                   "missing-requests");
          return;
        }
      }
    }
  }

  Result<AdmissionDecision> allow(AdmissionDecision&& d) {
    d.allowed = true;
    d.code = 200;
    return std::move(d);
  }

  Result<AdmissionDecision> deny(AdmissionDecision&& d, std::string message) {
    d.allowed = false;
    d.code = 400;  // controller-runtime's Errored(400) for a request it cannot decode
    d.reason = "BadRequest";
    d.message = validUtf8(redact_(std::move(message)));
    d.causes.push_back({"", d.message});
    d.errorReasons.push_back("invalid-review");
    return std::move(d);
  }

  Result<AdmissionDecision> finish(AdmissionDecision&& d) {
    std::set<std::string> seenWarnings;
    for (std::string& w : warnings_) {
      if (d.warnings.size() >= options_.maxWarnings) break;
      std::string text = validUtf8(truncated(redact_(std::move(w)), kMaxRenderedProblem));
      if (seenWarnings.insert(text).second) d.warnings.push_back(std::move(text));
    }
    if (findings_.empty()) return allow(std::move(d));
    d.allowed = false;
    d.code = 403;
    d.reason = "Forbidden";
    std::string message;
    std::size_t shown = 0;
    for (const Finding& f : findings_) {
      AdmissionCause cause{validUtf8(truncated(f.cause.field, 300)),
                           validUtf8(truncated(redact_(f.cause.message), kMaxRenderedProblem))};
      d.errorReasons.push_back(f.reason);
      if (shown < options_.maxErrorsInMessage) {
        if (!message.empty()) message += "; ";
        message += toString(Problem{cause.field, cause.message});
        d.causes.push_back(std::move(cause));
        ++shown;
      }
    }
    if (findings_.size() > shown) {
      message += "; and " + std::to_string(findings_.size() - shown) + " more error" +
                 (findings_.size() - shown == 1 ? "" : "s");
    }
    d.message = validUtf8(message);
    return std::move(d);
  }

  const ClusterView* cluster_;
  const AdmissionOptions& options_;
  Redactor redact_;
  std::vector<Finding> findings_;
  std::vector<std::string> warnings_;
};

}  // namespace

// ---- MemoryClusterView ----

void MemoryClusterView::add(json object) {
  if (!object.is_object()) return;
  const std::string kind = str(object, "kind");
  const std::string ns = str(obj(object, "metadata"), "namespace");
  const std::string name = str(obj(object, "metadata"), "name");
  for (json& existing : objects_) {
    if (str(existing, "kind") == kind && str(obj(existing, "metadata"), "namespace") == ns &&
        str(obj(existing, "metadata"), "name") == name) {
      existing = std::move(object);
      return;
    }
  }
  objects_.push_back(std::move(object));
}

std::vector<json> MemoryClusterView::ofKind(const std::string& apiVersion, const std::string& kind,
                                            const std::string& ns) const {
  std::vector<json> out;
  for (const json& o : objects_) {
    if (str(o, "kind") == kind && (apiVersion.empty() || str(o, "apiVersion") == apiVersion) &&
        str(obj(o, "metadata"), "namespace") == ns) {
      out.push_back(o);
    }
  }
  std::sort(out.begin(), out.end(), [](const json& a, const json& b) {
    return str(obj(a, "metadata"), "name") < str(obj(b, "metadata"), "name");
  });
  return out;
}

Result<std::vector<json>> MemoryClusterView::scaledObjects(const std::string& ns) const {
  return ofKind(kKedaApiVersion, "ScaledObject", ns);
}

Result<std::vector<json>> MemoryClusterView::hpas(const std::string& ns) const {
  return ofKind("", "HorizontalPodAutoscaler", ns);
}

Result<std::optional<json>> MemoryClusterView::workload(const std::string& apiVersion,
                                                        const std::string& kind,
                                                        const std::string& ns,
                                                        const std::string& name) const {
  for (const json& o : ofKind(apiVersion, kind, ns)) {
    if (str(obj(o, "metadata"), "name") == name) return std::optional<json>(o);
  }
  return std::optional<json>();
}

Result<std::vector<json>> MemoryClusterView::limitRanges(const std::string& ns) const {
  return ofKind("v1", "LimitRange", ns);
}

// ---- AdmissionDecision ----

json AdmissionDecision::toReview() const {
  json status = {{"code", code}};
  if (!reason.empty()) status["reason"] = reason;
  if (!message.empty()) status["message"] = message;
  if (!causes.empty()) {
    json list = json::array();
    for (const AdmissionCause& c : causes) {
      json cause = {{"reason", "FieldValueInvalid"}, {"message", c.message}};
      if (!c.field.empty()) cause["field"] = c.field;
      list.push_back(std::move(cause));
    }
    status["details"] = {{"causes", std::move(list)}};
  }
  json response = {{"uid", uid}, {"allowed", allowed}, {"status", std::move(status)}};
  if (!warnings.empty()) response["warnings"] = warnings;
  return {{"apiVersion", apiVersion}, {"kind", kReviewKind}, {"response", std::move(response)}};
}

// ---- entry points ----

Result<AdmissionDecision> reviewParsed(const json& admissionReview, const ClusterView* cluster,
                                       const AdmissionOptions& options) {
  try {
    if (jsonDepth(admissionReview, kMaxReviewNesting) > kMaxReviewNesting) {
      return Status::invalidArgument("the AdmissionReview is nested deeper than " +
                                     std::to_string(kMaxReviewNesting) + " levels");
    }
    Reviewer reviewer(cluster, options);
    return reviewer.run(admissionReview);
  } catch (const std::bad_alloc&) {
    return Status::internal("out of memory while reviewing the AdmissionReview");
  } catch (const std::exception& e) {
    return Status::internal(std::string("internal error while reviewing: ") + e.what());
  }
}

Result<AdmissionDecision> review(std::string_view body, const ClusterView* cluster,
                                 const AdmissionOptions& options) {
  if (body.size() > options.maxBodyBytes) {
    return Status::invalidArgument("the AdmissionReview is " + std::to_string(body.size()) +
                                   " bytes, over the limit of " +
                                   std::to_string(options.maxBodyBytes));
  }
  if (!nestingWithin(body, kMaxReviewNesting)) {
    return Status::invalidArgument("the AdmissionReview is nested deeper than " +
                                   std::to_string(kMaxReviewNesting) + " levels");
  }
  json parsed;
  try {
    parsed = json::parse(body.begin(), body.end());
  } catch (const json::parse_error& e) {
    return Status::invalidArgument("the request body is not JSON (error at byte " +
                                   std::to_string(e.byte) + ")");
  } catch (const std::exception&) {
    return Status::invalidArgument("the request body is not JSON");
  }
  return reviewParsed(parsed, cluster, options);
}

Result<json> respond(std::string_view body, const ClusterView* cluster,
                     const AdmissionOptions& options) {
  auto decision = review(body, cluster, options);
  if (!decision.isOk()) return decision.status();
  return decision->toReview();
}

json errorStatus(const Status& error) {
  return {{"apiVersion", "v1"},
          {"kind", "Status"},
          {"metadata", json::object()},
          {"status", "Failure"},
          {"message", validUtf8(error.message())},
          {"reason", "BadRequest"},
          {"code", 400}};
}

}  // namespace updraft::admission
