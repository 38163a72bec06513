// TriggerAuthentication / ClusterTriggerAuthentication resolution in the cluster, from cached
// Secrets, ConfigMaps and the scale target's container env (KEDA's pkg/scaling/resolver).
//
// KEDA semantics kept (keda-behaviour.md §1.6):
//  * a missing TA/CTA (or an unknown kind) is not an error: empty params plus a warning;
//  * TA sources apply in KEDA's order env[], configMapTargetRef, secretTargetRef, oauth2 (a later
//    source overwrites a parameter of an earlier one);
//  * a missing Secret/ConfigMap or key leaves the parameter "" (KEDA logs it; we warn);
//  * env[] reads the target's container env; an unknown container or no pod template gives "";
//  * TA/CTA secretTargetRef/configMapTargetRef/oauth2 read from the TA's namespace, or for a CTA
//    from KubeAuthOptions::clusterObjectNamespace.
// Deviations: configMapTargetRef falls back to binaryData (KEDA reads only data); providers that
// need a cloud API (Vault, Key Vault, GCP/AWS secret managers, bound tokens) and filePath are an
// error naming the TA instead of a logged failure. Warnings and errors never contain values.
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "updraft/model.h"
#include "updraft/operator/object_cache.h"
#include "updraft/status.h"
#include "updraft/triggers.h"

namespace updraft::kube {

struct KubeAuthOptions {
  // Where ClusterTriggerAuthentication secretTargetRef/configMapTargetRef are read
  // (KEDA_CLUSTER_OBJECT_NAMESPACE).
  std::string clusterObjectNamespace = "updraft";
};

class KubeAuthResolver final : public AuthResolver {
 public:
  // containerEnv: container name -> its resolved env (resolveAllContainerEnv); containerOrder: the
  // pod template's container names in order (TA env[] with containerName "" = the first). Both
  // empty when the target has no pod template.
  KubeAuthResolver(const ObjectCache& cache, std::map<std::string, StringMap> containerEnv,
                   std::vector<std::string> containerOrder, KubeAuthOptions options = {});

  // Several warnings are joined with "; " into `warning`.
  Result<ResolvedAuth> resolve(const std::string& objectNamespace, const ScaleTriggers& trigger,
                               std::string* warning) override;

 private:
  const ObjectCache& cache_;
  std::map<std::string, StringMap> containerEnv_;
  std::vector<std::string> containerOrder_;
  KubeAuthOptions options_;
};

// KEDA's resolver.ResolveContainerEnv: the env of one container of a PodSpec (`podSpec`:
// spec.template.spec of a workload, or a ScaledJob's jobTargetRef.template.spec). envFrom[]
// (configMapRef / secretRef, with prefix) first, then env[]: value with $(VAR) expanded against the
// variables defined before it (Kubernetes' rules: $$ escapes, unknown references stay as written),
// valueFrom.secretKeyRef / configMapKeyRef; fieldRef/resourceFieldRef are skipped. A missing
// object or key is skipped when `optional: true`, else an error naming the object, key and
// variable (never a value). As Kubernetes (and unlike KEDA, which resolves it to "") a missing key
// of an existing object is such an error: the pod could not start either. containerName "" = the
// first container; an unknown one is an error listing the containers.
Result<StringMap> resolveContainerEnv(const nlohmann::json& podSpec,
                                      const std::string& containerName, const std::string& ns,
                                      const ObjectCache& cache);

// Every container's env (for KubeAuthResolver) and the container names in order. The first
// container that fails to resolve fails the whole call. A null podSpec gives empty results.
Result<std::pair<std::map<std::string, StringMap>, std::vector<std::string>>>
resolveAllContainerEnv(const nlohmann::json& podSpec, const std::string& ns,
                       const ObjectCache& cache);

// The PodSpec of a workload object: spec.jobTargetRef.template.spec for a ScaledJob, else
// spec.template.spec (Deployment, StatefulSet, ReplicaSet, DaemonSet, Job, custom resources with a
// pod template); null when absent.
nlohmann::json podSpecOf(const nlohmann::json& workload);

}  // namespace updraft::kube
