// A JobRunner for ScaledJobs in `updraft run`: every job is one local process of the command found
// in the ScaledJob's jobTargetRef (template.spec.containers[0]). Processes are run like
// ProcessPool members (own process group, die with updraft, output prefixed
// "[<scaledjob>-job-<n>] ", n counting from 1). Jobs get UPDRAFT_JOB=<n> in their environment.
#pragma once

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "updraft/clock.h"
#include "updraft/model.h"
#include "updraft/process_pool.h"
#include "updraft/scale_target.h"
#include "updraft/status.h"

namespace updraft {

// What a job runs.
struct JobCommand {
  std::vector<std::string> command;       // argv; a single non-plain string runs with /bin/sh -c
  StringMap env;                          // added to the parent's environment
  std::string workingDir;                 // "" = updraft's
  std::optional<Seconds> activeDeadline;  // jobTargetRef.activeDeadlineSeconds: then TERM/KILL
  std::optional<Seconds> gracePeriod;     // template.spec.terminationGracePeriodSeconds
};

// Extracts the command of a batch/v1 JobSpec (a ScaledJob's jobTargetRef):
// template.spec.containers[0].command followed by .args, .env (name/value pairs; `$(NAME)`
// references in command/args are expanded from them as Kubernetes does, `$$` gives `$`),
// .workingDir, plus activeDeadlineSeconds and template.spec.terminationGracePeriodSeconds.
// InvalidArgument naming the path when something is missing or unusable locally, e.g.
// "jobTargetRef.template.spec.containers[0].command: required to run the job as a local process
// (there is no image entrypoint)" or "...env[1].valueFrom: not supported by updraft run".
Result<JobCommand> jobCommandFromJobTargetRef(const nlohmann::json& jobTargetRef);

struct ProcessJobRunnerOptions {
  // Delay between SIGTERM and SIGKILL (shutdown, activeDeadline). Unset: the command's
  // gracePeriod, else 10 s.
  std::optional<Millis> gracePeriod;
  // Finished jobs kept for status() (KEDA's defaults: 100 each).
  int32_t successfulJobsHistoryLimit = 100;
  int32_t failedJobsHistoryLimit = 100;
  OutputSink output;  // empty: stdoutSink()
};

struct FinishedJob {
  int64_t number = 0;  // n in "<scaledjob>-job-<n>"
  int pid = 0;
  bool succeeded = false;
  std::string result;  // "exit code 0", "killed by signal 9 (SIGKILL)", "... (deadline exceeded)"
  TimePoint startTime;
  TimePoint finishTime;
};

struct ProcessJobRunnerStatus {
  int32_t running = 0;
  int64_t started = 0;                      // over the runner's life
  int64_t succeeded = 0;                    // over the runner's life
  int64_t failed = 0;                       // over the runner's life
  int64_t startFailures = 0;                // jobs that could not be started
  std::string lastError;                    // the latest start failure or failed job
  std::vector<FinishedJob> successfulJobs;  // oldest first, at most successfulJobsHistoryLimit
  std::vector<FinishedJob> failedJobs;      // oldest first, at most failedJobsHistoryLimit
};

class ProcessJobRunner final : public JobRunner {
 public:
  // `name` is the ScaledJob's name. Fails on an empty command or negative limits.
  static Result<std::unique_ptr<ProcessJobRunner>> create(std::string name, JobCommand command,
                                                          ProcessJobRunnerOptions options = {});
  // From a ScaledJob: its jobTargetRef (see jobCommandFromJobTargetRef) and history limits.
  // `options`' history limits are replaced by the ScaledJob's when it sets them.
  static Result<std::unique_ptr<ProcessJobRunner>> create(const ScaledJob& job,
                                                          ProcessJobRunnerOptions options = {});

  ProcessJobRunner(const ProcessJobRunner&) = delete;
  ProcessJobRunner& operator=(const ProcessJobRunner&) = delete;
  // shutdown().
  ~ProcessJobRunner() override;

  const std::string& name() const;

  // JobRunner. All thread-safe.
  std::string describe() const override;  // "ScaledJob/<name>"
  // running = started and not exited yet. pending is always 0: a local process starts doing its
  // work as soon as it is started (there is no scheduling or image pull to wait for).
  Result<JobCounts> counts() override;
  // Starts `count` processes and returns how many started. A start failure (e.g. command not
  // found) is logged and kept in lastError(), and stops the batch. FailedPrecondition after
  // shutdown(); InvalidArgument for a negative count.
  Result<int32_t> createJobs(int32_t count) override;

  ProcessJobRunnerStatus status() const;
  std::string lastError() const;

  // Terminates running jobs (SIGTERM, SIGKILL after the grace period) and waits for them.
  // Idempotent; createJobs() fails afterwards.
  void shutdown();

  struct Impl;

 private:
  explicit ProcessJobRunner(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace updraft
