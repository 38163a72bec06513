// KEDA's validating admission webhook (keda-behaviour.md §5) as a pure function: an
// admission.k8s.io/v1 AdmissionReview request body in, the AdmissionReview answer out. No HTTP
// here; the HTTPS server calls it.
//
//   auto answer = admission::respond(body, &clusterView);
//   if (answer.isOk()) reply(200, answer->dump());                       // allowed or denied
//   else reply(400, admission::errorStatus(answer.status()).dump());      // not a review at all
//
// What is checked, for CREATE and UPDATE of keda.sh/v1alpha1 objects:
// - every object: the engine's one validation (updraft::validateDocument on updraft::parseObject of
//   request.object): the CRD's rules, KEDA's per-object webhook rules (name lengths, replica
//   bounds, fallback, triggers, scalingModifiers, TriggerAuthentication
//   podIdentity/oauth2/filePath), and every trigger's own metadata parser (as `updraft validate`;
//   `lua` triggers and `lua:` formulas when the binary links them). Its warnings become the
//   answer's warnings.
// - ScaledObjects, when a ClusterView is given (KEDA's cluster lookups):
//   - another ScaledObject in the namespace with the same scale target (name and
//   group/version.kind)
//     or the same HPA name [other-scaled-object, other-scaled-object-hpa];
//   - an HPA in the namespace on the same target that this ScaledObject does not own, unless the
//     HPA is annotated validations.keda.sh/hpa-ownership: "false", or the ScaledObject has
//     scaledobject.keda.sh/transfer-hpa-ownership: "true" and names that HPA in
//     advanced.horizontalPodAutoscalerConfig.name [other-hpa, transfer-ownership-missing-hpa-name];
//   - cpu/memory triggers on a Deployment or StatefulSet (not on dry runs): the target must exist
//     and each container (or metadata.containerName's) must have a request or limit > 0 for that
//     resource, or the namespace a LimitRange with a Container default [missing-requests].
// - UPDATE that only removes finalizers with an unchanged spec (ScaledObject: fewer finalizers;
//   ScaledJob/TriggerAuthentication: 1 -> 0) is allowed without checks, as KEDA does.
// - DELETE and CONNECT are allowed (KEDA registers create and update only).
// Messages copied from KEDA are verbatim; each error is "<field path>: <message>" (a cross-object
// error's path is the field that names the conflict), joined with "; ". A denial has status.code
// 403 and reason "Forbidden" (controller-runtime's Denied); a review that cannot be decoded (wrong
// apiVersion/kind, no object, not a KEDA object) 400 and "BadRequest" (its Errored(400)); an
// allowed answer code 200. Values of secret-looking trigger parameters and TriggerAuthentication
// fields never appear in messages.
//
// Differences from KEDA worth knowing: every error is reported (KEDA stops at the first, in Go's
// random map order); only-cpu/memory triggers with minReplicaCount 0 are refused for any target and
// also on dry runs (the engine's rule); scale targets whose kind the API server does not know are
// not refused (KEDA asks its REST mapper); existing ScaledObjects with an unparsable
// scaleTargetRef.apiVersion are skipped instead of failing the review.
#pragma once

#include <cstddef>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "updraft/status.h"

namespace updraft::admission {

inline constexpr std::size_t kMaxReviewBytes = 8u
                                               << 20;  // an object and its old version, 3 MiB each
inline constexpr int kMaxReviewNesting = 128;

// What the webhook asks the cluster, answered by the operator from its informer caches. An error
// Status (a cache not synced, say) denies the review with its message, as KEDA does when its cache
// lookup fails.
class ClusterView {
 public:
  virtual ~ClusterView() = default;
  // keda.sh/v1alpha1 ScaledObjects in `ns` (as the API has them).
  virtual Result<std::vector<nlohmann::json>> scaledObjects(const std::string& ns) const = 0;
  // autoscaling/v2 HorizontalPodAutoscalers in `ns`.
  virtual Result<std::vector<nlohmann::json>> hpas(const std::string& ns) const = 0;
  // The workload (asked for apps/v1 Deployment and StatefulSet only); nullopt when absent.
  virtual Result<std::optional<nlohmann::json>> workload(const std::string& apiVersion,
                                                         const std::string& kind,
                                                         const std::string& ns,
                                                         const std::string& name) const = 0;
  // v1 LimitRanges in `ns`. An error reads as "none" (KEDA logs it and goes on).
  virtual Result<std::vector<nlohmann::json>> limitRanges(const std::string& ns) const = 0;
};

// A ClusterView over objects held in memory (tests; `updraft validate` of several files).
class MemoryClusterView final : public ClusterView {
 public:
  // Files the object by its apiVersion/kind (ScaledObject, HorizontalPodAutoscaler, Deployment,
  // StatefulSet, LimitRange; anything else is ignored). An object with the same kind, namespace and
  // name replaces the earlier one.
  void add(nlohmann::json object);
  Result<std::vector<nlohmann::json>> scaledObjects(const std::string& ns) const override;
  Result<std::vector<nlohmann::json>> hpas(const std::string& ns) const override;
  Result<std::optional<nlohmann::json>> workload(const std::string& apiVersion,
                                                 const std::string& kind, const std::string& ns,
                                                 const std::string& name) const override;
  Result<std::vector<nlohmann::json>> limitRanges(const std::string& ns) const override;

 private:
  std::vector<nlohmann::json> objects_;
  std::vector<nlohmann::json> ofKind(const std::string& apiVersion, const std::string& kind,
                                     const std::string& ns) const;
};

struct AdmissionOptions {
  std::size_t maxBodyBytes = kMaxReviewBytes;
  std::size_t maxErrorsInMessage = 20;  // more are counted ("... and N more")
  std::size_t maxWarnings = 50;
};

struct AdmissionCause {
  std::string field;  // "spec.triggers[0].metadata.lagThreshold"; "" for the whole object
  std::string message;
};

// One answer to one review.
struct AdmissionDecision {
  std::string apiVersion = "admission.k8s.io/v1";  // echoed from the request when supported
  std::string uid;
  bool allowed = true;
  int code = 200;
  std::string reason;   // "" when allowed; "Forbidden" for a denial, "BadRequest" for a bad review
  std::string message;  // the joined errors, or why the review itself was refused
  std::vector<AdmissionCause> causes;
  std::vector<std::string> warnings;

  // What was reviewed, for logs and KEDA's webhook metrics.
  std::string operation;   // CREATE, UPDATE, DELETE, CONNECT
  std::string kind;        // ScaledObject, ...
  std::string namespace_;  // "" for ClusterTriggerAuthentication
  std::string name;
  bool dryRun = false;
  bool validated = false;  // the object went through the checks (not skipped, not malformed)
  // KEDA's keda_webhook_scaled_object_validation_errors_total `reason` labels of the errors
  // ("incorrect-replicas", "other-hpa", ...; "invalid-object" for rules KEDA does not have).
  std::vector<std::string> errorReasons;

  // {"apiVersion","kind":"AdmissionReview","response":{"uid","allowed","status":{...},"warnings"}}
  nlohmann::json toReview() const;
};

// Reviews a request body. The Status is an error only when no answer can be addressed: the body is
// too big, too deeply nested or not JSON, or carries no request.uid (the HTTP layer then answers
// 400 with errorStatus()). Anything else wrong (apiVersion/kind of the review, a missing or foreign
// object, an unknown operation) is a denial with a message. Never throws.
Result<AdmissionDecision> review(std::string_view body, const ClusterView* cluster,
                                 const AdmissionOptions& options = {});
// The same for a review already parsed (the body limits do not apply; nesting does).
Result<AdmissionDecision> reviewParsed(const nlohmann::json& admissionReview,
                                       const ClusterView* cluster,
                                       const AdmissionOptions& options = {});
// review() as the AdmissionReview answer JSON.
Result<nlohmann::json> respond(std::string_view body, const ClusterView* cluster,
                               const AdmissionOptions& options = {});

// A meta/v1 Status (kind Status, status Failure, code 400, reason BadRequest) for `error`.
nlohmann::json errorStatus(const Status& error);

}  // namespace updraft::admission
