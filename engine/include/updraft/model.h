// The KEDA object model (keda.sh/v1alpha1): ScaledObject, ScaledJob, TriggerAuthentication and
// ClusterTriggerAuthentication, plus Updraft's own ProcessPool target for `updraft run`.
//
// Fields keep "unset" distinct from "zero" (std::optional) because KEDA's rules depend on it
// (for example an explicit minReplicaCount: 0 is promoted to 1 for the HPA bound check, an unset
// one is not). Accessors named effective*() apply KEDA's defaults. Parsing and validation live in
// parse.h / validate.h.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "updraft/clock.h"

namespace updraft {

using StringMap = std::map<std::string, std::string>;

inline constexpr const char* kKedaApiVersion = "keda.sh/v1alpha1";
inline constexpr const char* kUpdraftApiVersion = "updraft.dev/v1alpha1";

// Annotations KEDA honours (keda-behaviour.md §2).
namespace annotations {
inline constexpr const char* kPaused = "autoscaling.keda.sh/paused";
inline constexpr const char* kPausedReplicas = "autoscaling.keda.sh/paused-replicas";
inline constexpr const char* kPausedScaleIn = "autoscaling.keda.sh/paused-scale-in";
inline constexpr const char* kPausedScaleOut = "autoscaling.keda.sh/paused-scale-out";
inline constexpr const char* kForceActivation = "autoscaling.keda.sh/force-activation";
inline constexpr const char* kTransferHpaOwnership = "scaledobject.keda.sh/transfer-hpa-ownership";
inline constexpr const char* kHpaOwnershipValidation = "validations.keda.sh/hpa-ownership";
inline constexpr const char* kHpaExcludedLabels = "scaledobject.keda.sh/hpa-excluded-labels";
inline constexpr const char* kJobExcludedLabels = "scaledjob.keda.sh/job-excluded-labels";
// Updraft's own: a Lua scaling policy for targets the engine scales itself (docs/lua.md). One of
// inline source, a file (relative to the manifest's directory) or "<configmap>/<key>".
inline constexpr const char* kPolicy = "updraft.dev/policy";
inline constexpr const char* kPolicyFile = "updraft.dev/policy-file";
inline constexpr const char* kPolicyConfigMap = "updraft.dev/policy-configmap";
}  // namespace annotations

struct ObjectMeta {
  std::string name;
  std::string namespace_;  // "" for cluster-scoped objects
  std::string uid;
  std::string resourceVersion;
  int64_t generation = 0;
  std::optional<TimePoint> creationTimestamp;
  std::optional<TimePoint> deletionTimestamp;
  StringMap labels;
  StringMap annotations;
  std::vector<std::string> finalizers;
};

enum class MetricTargetType { kAverageValue, kValue, kUtilization };
const char* metricTargetTypeName(MetricTargetType t);  // "AverageValue", "Value", "Utilization"

struct AuthenticationRef {
  std::string name;
  std::string kind = "TriggerAuthentication";  // or "ClusterTriggerAuthentication"
};

struct ScaleTriggers {
  std::string type;
  std::string name;  // optional; unique when non-empty
  StringMap metadata;
  bool useCachedMetrics = false;
  std::optional<MetricTargetType> metricType;
  std::optional<AuthenticationRef> authenticationRef;
};

struct ScaleTargetRef {
  std::string apiVersion;  // "" = apps/v1
  std::string kind;        // "" = Deployment
  std::string name;
  std::string envSourceContainerName;

  std::string effectiveApiVersion() const { return apiVersion.empty() ? "apps/v1" : apiVersion; }
  std::string effectiveKind() const { return kind.empty() ? "Deployment" : kind; }
  // "apps/v1.Deployment"
  std::string gvkString() const { return effectiveApiVersion() + "." + effectiveKind(); }
};

// autoscaling/v2 HPAScalingPolicy / HPAScalingRules / HorizontalPodAutoscalerBehavior.
struct HpaScalingPolicy {
  std::string type;  // "Pods" or "Percent"
  int32_t value = 0;
  int32_t periodSeconds = 0;
};

struct HpaScalingRules {
  std::optional<int32_t> stabilizationWindowSeconds;
  std::optional<std::string> selectPolicy;  // "Max", "Min", "Disabled"
  std::optional<std::vector<HpaScalingPolicy>> policies;
  std::optional<double> tolerance;
};

struct HpaBehavior {
  std::optional<HpaScalingRules> scaleUp;
  std::optional<HpaScalingRules> scaleDown;
};

struct HorizontalPodAutoscalerConfig {
  std::string name;  // "" = keda-hpa-<scaledobject>
  std::optional<HpaBehavior> behavior;
};

struct ScalingModifiers {
  std::string formula;
  std::string target;
  std::string activationTarget;
  std::string metricType;  // "" = AverageValue

  bool isEmpty() const {
    return formula.empty() && target.empty() && activationTarget.empty() && metricType.empty();
  }
};

struct AdvancedConfig {
  bool restoreToOriginalReplicaCount = false;
  std::optional<HorizontalPodAutoscalerConfig> horizontalPodAutoscalerConfig;
  ScalingModifiers scalingModifiers;
};

struct Fallback {
  int32_t failureThreshold = 0;
  int32_t replicas = 0;
  std::string behavior = "static";  // static|currentReplicas|currentReplicasIfHigher|
                                    // currentReplicasIfLower|scalingModifiers
};

struct ScaledObjectSpec {
  ScaleTargetRef scaleTargetRef;
  std::optional<int32_t> pollingInterval;
  std::optional<int32_t> initialCooldownPeriod;
  std::optional<int32_t> cooldownPeriod;
  std::optional<int32_t> idleReplicaCount;
  std::optional<int32_t> minReplicaCount;
  std::optional<int32_t> maxReplicaCount;
  std::optional<AdvancedConfig> advanced;
  std::vector<ScaleTriggers> triggers;
  std::optional<Fallback> fallback;
};

struct ScaledObject {
  ObjectMeta metadata;
  ScaledObjectSpec spec;

  int32_t effectivePollingInterval() const { return spec.pollingInterval.value_or(30); }
  int32_t effectiveCooldownPeriod() const { return spec.cooldownPeriod.value_or(300); }
  int32_t effectiveInitialCooldownPeriod() const { return spec.initialCooldownPeriod.value_or(0); }
  int32_t effectiveMinReplicaCount() const { return spec.minReplicaCount.value_or(0); }
  int32_t effectiveMaxReplicaCount() const { return spec.maxReplicaCount.value_or(100); }
  // The HPA's minReplicas: min if > 0, else 1.
  int32_t hpaMinReplicas() const {
    return spec.minReplicaCount && *spec.minReplicaCount > 0 ? *spec.minReplicaCount : 1;
  }
  // advanced.horizontalPodAutoscalerConfig.name, else "keda-hpa-<name>".
  std::string hpaName() const;
  bool isUsingModifiers() const {
    return spec.advanced && !spec.advanced->scalingModifiers.isEmpty();
  }
  const ScalingModifiers* scalingModifiers() const {
    return isUsingModifiers() ? &spec.advanced->scalingModifiers : nullptr;
  }
  // The behavior the HPA gets (nullptr when none is configured).
  const HpaBehavior* hpaBehavior() const;
};

struct ScalingStrategy {
  std::string strategy;  // "" = default; default|custom|accurate|eager
  std::optional<int32_t> customScalingQueueLengthDeduction;
  std::string customScalingRunningJobPercentage;  // string float; unparsable = default strategy
  std::vector<std::string> pendingPodConditions;
  std::string multipleScalersCalculation;  // "" = max; max|min|avg|sum
};

struct Rollout {
  std::string strategy;           // "" (immediate) | gradual | immediate
  std::string propagationPolicy;  // "" (background) | foreground | background
};

struct ScaledJobSpec {
  nlohmann::json jobTargetRef;  // a batch/v1 JobSpec, kept as given
  std::optional<int32_t> pollingInterval;
  std::optional<int32_t> successfulJobsHistoryLimit;
  std::optional<int32_t> failedJobsHistoryLimit;
  std::string envSourceContainerName;
  std::optional<int32_t> minReplicaCount;
  std::optional<int32_t> maxReplicaCount;
  std::string rolloutStrategy;  // deprecated; wins over rollout.strategy when non-empty
  std::optional<Rollout> rollout;
  std::optional<ScalingStrategy> scalingStrategy;
  std::vector<ScaleTriggers> triggers;
};

struct ScaledJob {
  ObjectMeta metadata;
  ScaledJobSpec spec;

  int32_t effectivePollingInterval() const { return spec.pollingInterval.value_or(30); }
  // KEDA's MinReplicaCount(): min if set (clamped to max when min > max), else 0.
  int32_t minReplicaCount() const;
  // KEDA's MaxReplicaCount(): the cap on jobs above min (see keda-behaviour.md §1.5).
  int32_t maxReplicaCount() const;
};

struct SecretTargetRef {
  std::string parameter;
  std::string name;
  std::string key;
};

struct EnvRef {
  std::string parameter;
  std::string name;
  std::string containerName;
};

struct PodIdentity {
  std::string provider;
  std::string identityId;
  std::string identityTenantId;
  std::string identityAuthorityHost;
  std::string roleArn;
  std::string externalID;
  std::string identityOwner;
};

// The spec shared by TriggerAuthentication and ClusterTriggerAuthentication. Providers that need a
// cloud API (Vault, Key Vault, GCP/AWS secret managers, bound tokens) are kept as raw JSON.
struct TriggerAuthenticationSpec {
  std::optional<PodIdentity> podIdentity;
  std::vector<SecretTargetRef> secretTargetRef;
  std::vector<SecretTargetRef> configMapTargetRef;
  std::vector<EnvRef> env;
  std::string filePath;
  nlohmann::json hashiCorpVault;
  nlohmann::json azureKeyVault;
  nlohmann::json gcpSecretManager;
  nlohmann::json awsSecretManager;
  nlohmann::json boundServiceAccountToken;
  nlohmann::json oauth2;
};

struct TriggerAuthentication {
  bool clusterScoped = false;  // ClusterTriggerAuthentication when true
  ObjectMeta metadata;
  TriggerAuthenticationSpec spec;
};

// Updraft's own target for `updraft run`: N copies of a local command.
//   apiVersion: updraft.dev/v1alpha1
//   kind: ProcessPool
//   metadata: {name: consumers}
//   spec: {command: [...], env: {K: V}, workingDir: ., gracePeriodSeconds: 10,
//          resources: {requests: {cpu: 500m, memory: 256Mi}}}
struct ProcessPoolSpec {
  std::vector<std::string> command;  // argv; a single string is run with /bin/sh -c
  StringMap env;
  std::string workingDir;
  int32_t gracePeriodSeconds = 10;
  int32_t initialReplicas = 0;
  // Requests used by cpu/memory triggers in Utilization mode.
  std::optional<double> cpuRequestCores;
  std::optional<double> memoryRequestBytes;
};

struct ProcessPool {
  ObjectMeta metadata;
  ProcessPoolSpec spec;
};

}  // namespace updraft
