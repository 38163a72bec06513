// Helpers shared by the ScaledObject and ScaledJob controllers.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "updraft/model.h"
#include "updraft/operator/controllers.h"
#include "updraft/scale_target.h"
#include "updraft/triggers.h"

namespace updraft::kube {

inline constexpr const char* kKedaFinalizer = "finalizer.keda.sh";

// "<namespace>/<name>" of an API object.
std::string objectKey(const nlohmann::json& object);
// The string at a JSON pointer, "" when absent or not a string.
std::string stringAt(const nlohmann::json& object, const char* pointer);

// The object's metadata.finalizers with finalizer.keda.sh added (`present`) or removed; nullopt
// when it already is (or is not) there.
std::optional<nlohmann::json> finalizersWith(const nlohmann::json& object, bool present);
// A merge patch of `metadata` with the object's resourceVersion as a precondition (a 409 when the
// object changed meanwhile; the work queue retries).
Result<ApiResponse> patchMetadata(const ControllerContext& ctx, const std::string& path,
                                  const nlohmann::json& object, nlohmann::json metadata);

// KEDA's reconcile predicates: generation, labels, annotations, deletion or finalizers changed.
bool reconcileRelevantChange(const nlohmann::json& before, const nlohmann::json& after);
// What a handler is built from: generation, labels, annotations.
std::string handlerFingerprint(const nlohmann::json& object);

// Whether a ScaledObject/ScaledJob's triggers refer to this (Cluster)TriggerAuthentication.
bool usesAuth(const nlohmann::json& scalable, const nlohmann::json& auth);
// Whether it refers to a TriggerAuthentication at all (a Secret or ConfigMap may feed it).
bool usesAnyAuth(const nlohmann::json& scalable);
// The keys of the cached `resource` objects that may read this Secret or ConfigMap: those using
// authentication in its namespace, or in every namespace for the cluster object namespace.
std::vector<std::string> authSourceUsers(const ControllerContext& ctx, const char* resource,
                                         const nlohmann::json& secretOrConfigMap);

// The PodSpec of the scale target (from the cache when watched, else a GET), null when it has
// none or cannot be read (env resolution is then skipped, as KEDA does for custom resources).
nlohmann::json workloadPodSpec(const ControllerContext& ctx, const ResourceMapping& mapping,
                               const std::string& ns, const std::string& name);

// buildTriggers() with a KubeAuthResolver over the cache and the env of `podSpec`'s containers.
// `authFingerprint` receives the resourceVersions of the TriggerAuthentications, Secrets and
// ConfigMaps used, so a change of any of them rebuilds the handler.
Result<std::vector<BuiltTrigger>> buildObjectTriggers(
    const ControllerContext& ctx, const ObjectMeta& meta,
    const std::vector<ScaleTriggers>& triggers, const std::string& kind,
    const nlohmann::json& podSpec, const std::string& envSourceContainer, bool asMetricSource,
    std::string* authFingerprint);

// Builds live scalers for one object's handler. `usage` may be null.
ScalerBuilder scalerBuilderFor(const ControllerContext& ctx, ResourceUsageSource* usage);

}  // namespace updraft::kube
