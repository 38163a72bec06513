// One ScaledJob's batch/v1 Jobs in Kubernetes, as KEDA's executor/scale_jobs.go makes, counts and
// cleans them up (keda-behaviour.md §4): the engine's JobRunner for the operator.
//
//   KubeJobRunner jobs(client, cache, scaledJobJson, {.events = &sink});
//   auto counts = jobs.counts();      // running / pending from the cached Jobs and Pods
//   auto created = jobs.createJobs(3);
//   jobs.cleanupHistory();            // every poll
//   jobs.update(newVersion); jobs.rolloutCleanup();  // on a new generation
//
// Reads come from the cache (informers, which lag behind writes); writes go through the client.
// Jobs this runner created count at once, before the cache shows them, and Jobs it deleted stop
// counting at once, each for at most `cacheLag`, so two polls in a row never create twice for the
// same events. All members are thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "updraft/operator/kube_client.h"
#include "updraft/operator/object_cache.h"
#include "updraft/scale_target.h"
#include "updraft/scaled_status.h"
#include "updraft/status.h"

namespace updraft::kube {

struct KubeJobRunnerOptions {
  std::string version = "0.1.0";  // the Jobs' app.kubernetes.io/version label
  EventSink* events = nullptr;    // KEDAJobCreateFailed, ScaledJobRolloutCleanup*; may be null
  // How long a created (deleted) Job counts as present (absent) while the cache has not caught up.
  std::chrono::milliseconds cacheLag{30000};
};

// One ScaledJob's Jobs in Kubernetes, as KEDA's executor/scale_jobs.go makes them.
class KubeJobRunner final : public JobRunner {
 public:
  // `scaledJob` is the ScaledJob as read from the API (raw JSON: uid, generation, labels,
  // annotations, spec.jobTargetRef, pendingPodConditions, history limits, rollout). Jobs and pods
  // are read from `cache` ("jobs", "pods"), writes go through `client`. Both must outlive this.
  KubeJobRunner(KubeClient& client, const ObjectCache& cache, nlohmann::json scaledJob,
                KubeJobRunnerOptions options = {});

  std::string describe() const override;  // "ScaledJob <ns>/<name>"

  // running = Jobs labelled scaledjob.keda.sh/name=<sj> without a Complete/Failed=True condition;
  // pending = running Jobs none of whose pods (label job-name=<job>) has every
  // scalingStrategy.pendingPodConditions type True, or, without such conditions, none of whose
  // pods is Running or Succeeded. FailedPrecondition when the cache does not watch jobs or pods.
  Result<JobCounts> counts() override;

  // POSTs `count` Jobs shaped as KEDA's (generateName "<sj>-", KEDA's labels plus the SJ's minus
  // scaledjob.keda.sh/job-excluded-labels, annotations scaledjob.keda.sh/generation plus the SJ's,
  // the template label, restartPolicy OnFailure when empty, the SJ as controller owner). Each
  // failure emits a Warning KEDAJobCreateFailed and the batch goes on (a transport failure ends
  // it). Returns how many were created; the first failure's Status when none was (e.g.
  // "ScaledJob shop/orders: create Job: 500 InternalError: ..."). InvalidArgument for a negative
  // count or a ScaledJob without jobTargetRef or uid.
  Result<int32_t> createJobs(int32_t count) override;

  // A new version of the ScaledJob (e.g. a new generation); its namespace and name are ignored.
  void update(nlohmann::json scaledJob);

  // Deletes the oldest finished Jobs beyond successfulJobsHistoryLimit / failedJobsHistoryLimit
  // (default 100 each), oldest by status.completionTime (then the finishing condition's
  // lastTransitionTime, creationTimestamp, name), propagationPolicy Background. Stops at the first
  // failed delete and returns it.
  Status cleanupHistory();

  // KEDA's rollout: unless rollout.strategy (or the deprecated rolloutStrategy, which wins when
  // set) is "gradual", deletes labelled Jobs whose scaledjob.keda.sh/generation annotation is
  // missing or differs from the current generation (propagation Background, or Foreground with
  // rollout.propagationPolicy: foreground). Jobs already being deleted are skipped. Returns how
  // many were deleted. Events ScaledJobRolloutCleanupStarted/Completed (when there is something
  // to delete) or ScaledJobRolloutCleanupFailed (then the error is returned).
  Result<int32_t> rolloutCleanup();

 private:
  using Clock = std::chrono::steady_clock;
  struct Written {
    Clock::time_point at;
    nlohmann::json job;  // the API's answer to the create; null for deletes
  };

  // The labelled Jobs as they are after this runner's writes: the cache's, minus deleted ones,
  // plus created ones the cache has not shown yet. Prunes the remembered writes.
  Result<std::vector<nlohmann::json>> currentJobs();
  Status deleteJob(const std::string& name, const char* propagation, const std::string& why);
  void emit(Event::Type type, const char* reason, std::string message) const;

  KubeClient& client_;
  const ObjectCache& cache_;
  const KubeJobRunnerOptions options_;
  const std::string namespace_;
  const std::string name_;

  mutable std::mutex mutex_;
  nlohmann::json scaledJob_;                // guarded by mutex_
  std::map<std::string, Written> created_;  // guarded by mutex_; by Job name
  std::map<std::string, Written> deleted_;  // guarded by mutex_; by Job name
};

}  // namespace updraft::kube
