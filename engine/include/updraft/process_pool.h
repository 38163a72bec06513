// Local process targets for `updraft run`: a ProcessPool (N copies of a command) as a ScaleTarget
// and a ResourceUsageSource for cpu/memory triggers.
//
// Every member runs in its own process group (signals reach a shell's children too), dies with
// updraft (PR_SET_PDEATHSIG), gets only fds 0-2 (stdin = /dev/null, stdout+stderr piped), and has
// its output forwarded line by line as "[<pool>-<index>] <line>". A supervisor thread per pool
// starts members 0..n-1, stops the highest indexes on scale-down (SIGTERM to the group, SIGKILL
// after the grace period) and restarts members that exit with an exponential backoff.
// Members also get UPDRAFT_POOL=<pool> and UPDRAFT_REPLICA_INDEX=<index> in their environment.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "updraft/clock.h"
#include "updraft/model.h"
#include "updraft/scale_target.h"
#include "updraft/scaler.h"
#include "updraft/status.h"

namespace updraft {

// Receives one line of a child's output with its prefix and without the newline. Called from the
// owner's supervisor thread only (one line at a time); it may block (that slows the children
// down, it does not lose output).
using OutputSink = std::function<void(std::string_view line)>;

// Writes each line plus '\n' to stdout and flushes. Thread-safe: lines are never interleaved.
OutputSink stdoutSink();

struct ProcessPoolOptions {
  // Delay between SIGTERM and SIGKILL. Unset: spec.gracePeriodSeconds.
  std::optional<Millis> gracePeriod;
  // Restart delay after a member exits (or fails to start): initial, doubling up to max. It starts
  // over at initial once a member has run for restartBackoffResetAfter.
  Millis restartBackoffInitial{1000};
  Millis restartBackoffMax{30000};
  Millis restartBackoffResetAfter{10000};
  OutputSink output;  // empty: stdoutSink()
};

struct ProcessMemberStatus {
  enum class State {
    kRunning,      // the member's process is up
    kWaiting,      // desired, not running: waiting for its (re)start backoff
    kTerminating,  // above the desired count, SIGTERM sent, not exited yet
  };
  int32_t index = 0;
  State state = State::kWaiting;
  int pid = 0;           // 0 when not running
  int32_t restarts = 0;  // restarts of this slot (exits and failed starts)
  Millis backoff{0};     // the delay used for the last restart (0: none yet / reset)
  Millis restartIn{0};   // kWaiting: time left before the next start
  std::string lastExit;  // "exit code 1", "killed by signal 9 (SIGKILL)", or a start error
};

// A snapshot for the live status line.
struct ProcessPoolStatus {
  int32_t desired = 0;
  int32_t running = 0;        // == readyReplicas()
  int32_t terminating = 0;    // stopped members whose processes have not exited yet
  int64_t restarts = 0;       // over the pool's life: members restarted after an exit
  int64_t startFailures = 0;  // starts that failed (command not found, bad workingDir, ...)
  std::string lastError;      // the latest crash or start failure ("" = none so far)
  std::vector<ProcessMemberStatus> members;  // desired slots by index, then terminating ones
};

class ProcessPoolTarget final : public ScaleTarget, public ResourceUsageSource {
 public:
  // Validates the spec (non-empty command, grace period and backoffs >= 0) and starts the
  // supervisor with spec.initialReplicas members.
  static Result<std::unique_ptr<ProcessPoolTarget>> create(std::string name, ProcessPoolSpec spec,
                                                           ProcessPoolOptions options = {});
  static Result<std::unique_ptr<ProcessPoolTarget>> create(const ProcessPool& pool,
                                                           ProcessPoolOptions options = {});

  ProcessPoolTarget(const ProcessPoolTarget&) = delete;
  ProcessPoolTarget& operator=(const ProcessPoolTarget&) = delete;
  // shutdown().
  ~ProcessPoolTarget() override;

  const std::string& name() const;

  // ScaleTarget. All thread-safe.
  std::string describe() const override;       // "ProcessPool/<name>"
  Result<int32_t> currentReplicas() override;  // the desired count
  Result<int32_t> readyReplicas() override;    // members running now
  // Returns at once; the supervisor starts/stops members in the background. Negative counts are
  // InvalidArgument; after shutdown() FailedPrecondition.
  Status setReplicas(int32_t replicas) override;

  // ResourceUsageSource. Usage is summed over each member's process group (one pass over /proc),
  // then averaged over running members. CPU is the rate between this call and the previous one
  // (the first call for a member: since it started). Unavailable when no member runs.
  Result<double> averageCpuCores() override;
  Result<double> averageMemoryBytes() override;  // resident set size
  std::optional<double> cpuRequestCores() const override;
  std::optional<double> memoryRequestBytes() const override;

  ProcessPoolStatus status() const;
  std::string lastError() const;

  // Stops every member (SIGTERM, SIGKILL after the grace period), waits for them and for their
  // output, and ends the supervisor. Idempotent; setReplicas() fails afterwards.
  void shutdown();

  struct Impl;

 private:
  explicit ProcessPoolTarget(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace updraft
