// What the engine scales. For a ScaledObject: a ScaleTarget (a replica count). For a ScaledJob: a
// JobRunner (one job per event). In Kubernetes these are the /scale subresource and batch/v1 Jobs;
// in `updraft run` a ProcessPool and local processes; in `updraft simulate` virtual ones.
#pragma once

#include <cstdint>
#include <string>

#include "updraft/status.h"

namespace updraft {

class ScaleTarget {
 public:
  virtual ~ScaleTarget() = default;
  // Human-readable name for logs and events, e.g. "ProcessPool/consumers".
  virtual std::string describe() const = 0;
  // The desired replica count (the /scale spec.replicas).
  virtual Result<int32_t> currentReplicas() = 0;
  // Members that are up (the /scale status.replicas; ready pods).
  virtual Result<int32_t> readyReplicas() = 0;
  // Sets the desired replica count. Returns once the request is accepted, not when it is reached.
  virtual Status setReplicas(int32_t replicas) = 0;
};

struct JobCounts {
  int32_t running = 0;  // not finished (includes pending)
  int32_t pending = 0;  // running jobs that have not started doing work yet
};

class JobRunner {
 public:
  virtual ~JobRunner() = default;
  virtual std::string describe() const = 0;
  virtual Result<JobCounts> counts() = 0;
  // Starts `count` new jobs. Returns how many were started (may be fewer on failure, with the
  // failure logged by the runner).
  virtual Result<int32_t> createJobs(int32_t count) = 0;
};

}  // namespace updraft
