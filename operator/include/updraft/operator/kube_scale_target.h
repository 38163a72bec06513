// A workload's /scale subresource as the engine's ScaleTarget. Replicas are read from the informer
// cache when the workload's resource is watched (Deployments, StatefulSets: KEDA reads these from
// its cache too), else from GET /scale. Writes are merge patches of /scale; a written value is
// remembered until the cache shows it, so the next poll never acts on a stale count.
#pragma once

#include <chrono>
#include <mutex>
#include <optional>
#include <string>

#include "updraft/operator/kube_client.h"
#include "updraft/operator/object_cache.h"
#include "updraft/operator/rest_mapper.h"
#include "updraft/scale_target.h"

namespace updraft::kube {

class KubeScaleTarget final : public ScaleTarget {
 public:
  KubeScaleTarget(KubeClient& client, const ObjectCache& cache, ResourceMapping mapping,
                  std::string ns, std::string name);
  std::string describe() const override;  // "Deployment default/web"
  Result<int32_t> currentReplicas() override;
  Result<int32_t> readyReplicas() override;
  Status setReplicas(int32_t replicas) override;

  // GET /scale: the authoritative spec.replicas (reconcile: existence check, originalReplicaCount).
  Result<int32_t> readScale();
  const ResourceMapping& mapping() const { return mapping_; }

 private:
  struct Observed {
    int32_t spec = 0;
    int32_t ready = 0;
  };
  Result<Observed> observe();
  std::string scalePath() const;

  KubeClient& client_;
  const ObjectCache& cache_;
  ResourceMapping mapping_;
  std::string ns_;
  std::string name_;
  std::mutex mutex_;
  std::optional<int32_t> written_;  // set by setReplicas until the cache agrees
  std::chrono::steady_clock::time_point writtenAt_;
};

}  // namespace updraft::kube
