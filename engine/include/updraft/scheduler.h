// Scheduler: polls every scalable object at its pollingInterval (KEDA's scale loop,
// keda-behaviour.md §3.2) with a per-poll timeout, on a small worker pool, driven by an injectable
// Clock.
//
// Semantics
// * Cadence. The first run is immediate (or at TaskSpec::firstRunAt), then start-to-start every
//   `interval` on a fixed grid: slot k is firstRun + k * interval, whatever each run lasted.
// * No overlap. A task never runs concurrently with itself. A slot that comes while the previous
//   run is still in flight is skipped and counted (SchedulerStats::skips), never queued. Slots
//   missed because the scheduler itself was late by a whole interval or more (a stalled process, a
//   clock jump, runDueTasks() called with a far-away time) are skipped and counted the same way:
//   the task runs once, for the latest slot that is due, so lateness is always < interval.
// * Splay. Tasks added without firstRunAt in one burst are spread deterministically: the k-th task
//   of a burst gets its first run at burstStart + (k * splayStep) mod min(interval, maxSplay). A
//   burst lasts as long as the adds keep up with the splay (an add at `now` joins the current burst
//   iff now <= burstStart + count * splayStep). So a task added alone runs immediately, 10,000
//   tasks added at once with the defaults (100 us, 1 s) are spread evenly over one second, and no
//   first run is delayed by min(interval, maxSplay) or more.
// * Timeouts. Each run has a deadline = scheduled start + timeout (PollContext::deadline). When a
//   run is still in flight past its deadline the watchdog calls onTimeout exactly once for that
//   run, from the scheduler's own watchdog thread (never from the hung run's thread); the run
//   itself is not interrupted (it cannot be) and its later slots are skipped until it returns.
// * Pool. `workerThreads` workers run the polls. A run that is overdue, or has been running for
//   longer than `stallThreshold`, is "blocking" its worker; the watchdog keeps workerThreads
//   non-blocked workers by starting extra ones (never more than maxWorkerThreads in total). Once
//   the pool has been larger than that for idleWorkerTimeout, the extra workers exit as soon as
//   they are idle.
// * Batching. One dispatcher thread sleeps until the earliest due time (condition variable, steady
//   waits computed from clock.now()), wakes at most once per dispatchResolution, and then wakes one
//   idle worker; a worker takes every task that is due before it sleeps again. While due tasks
//   remain untaken (a worker is inside a slow run) each dispatcher tick wakes one more idle worker,
//   so a slow poll delays another object by at most about dispatchResolution, and a hung one is
//   compensated by the pool growing. Steady state: about two thread wake-ups per
//   dispatchResolution whatever the number of tasks; no allocation per run.
// * Clock steps. Slots live on the Clock's (wall) time line. A step forward is handled like a late
//   scheduler (each task runs once, missed slots are skipped); when the clock steps back by more
//   than 1 s (real mode), every slot is moved back by the same amount so polling does not stall.
//
// Threads and callbacks
// * `run` and `onTimeout` are called without any scheduler lock held: they may call every method
//   of the Scheduler (add, remove, triggerNow, ...), except that removeAndWait() on the task that
//   is running refuses to wait (FailedPrecondition).
// * onTimeout runs on the watchdog thread: keep it short and non-blocking (record an error, no
//   I/O).
// * Neither may throw (Updraft reports errors as Status). An exception that escapes anyway is
//   caught and counted in SchedulerStats::exceptions, so it cannot kill a scheduler thread.
// * Tasks are reference-counted: a run that is still in flight after remove(), stop() or even after
//   the Scheduler is destroyed keeps its task (and the `run` function with its captures) alive, and
//   touches neither the Clock nor the Scheduler's memory once it returns. Anything `run` captures
//   by reference must therefore outlive it: capture shared state by shared_ptr.
//
// Deterministic mode (tests, `updraft simulate`): do not call start(); drive time with a
// ManualClock and call runDueTasks(), which runs every due task inline on the calling thread.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "updraft/clock.h"
#include "updraft/status.h"

namespace updraft {

// Identifies a task of one Scheduler. Never 0; never reused by the same Scheduler.
using TaskId = std::uint64_t;

// What a run is told.
struct PollContext {
  TaskId id = 0;
  TimePoint scheduled;     // the slot this run is for (lateness = actual start - scheduled)
  TimePoint deadline;      // scheduled + timeout: past it, onTimeout is called
  bool triggered = false;  // this run comes from triggerNow()
};

struct TaskSpec {
  Duration interval = Seconds(30);      // start-to-start; must be > 0
  Duration timeout{0};                  // per run, from the scheduled start; 0 means = interval
  std::optional<TimePoint> firstRunAt;  // exact first slot (no splay); unset: now + splay
  std::function<void(const PollContext&)> run;  // required
  std::function<void()> onTimeout;              // optional; see "Timeouts" above
};

// Every value is clamped to a sane range by the constructor (workerThreads >= 1,
// maxWorkerThreads >= workerThreads, durations >= 0, watchdogPeriod and idleWorkerTimeout >= 1 ms).
struct SchedulerOptions {
  std::size_t workerThreads = 4;
  std::size_t maxWorkerThreads = 64;
  Duration dispatchResolution = Millis(1);   // min gap between two dispatcher wake-ups
  Duration watchdogPeriod = Millis(100);     // how often timeouts and the pool are checked
  Duration stallThreshold = Millis(500);     // a run older than this blocks its worker (pool grows)
  Duration idleWorkerTimeout = Seconds(10);  // extra workers unneeded this long exit
  Duration stopTimeout = Seconds(5);         // stop() waits this long for in-flight runs
  Duration splayStep = std::chrono::microseconds(100);
  Duration maxSplay = Seconds(1);
};

struct LatenessSummary {
  std::uint64_t count = 0;
  // Percentiles come from a log-scale histogram (8 buckets per power of two): each is the upper
  // bound of its bucket, at most 12.5 % above the exact value, and never above `max`.
  Duration p50{0};
  Duration p90{0};
  Duration p99{0};
  Duration max{0};  // exact
  double sumSeconds = 0;
};

struct SchedulerStats {
  std::size_t tasks = 0;
  std::uint64_t runs = 0;      // runs started (inline and on workers)
  std::uint64_t skips = 0;     // slots not run (in flight at its slot, or the scheduler was late)
  std::uint64_t timeouts = 0;  // runs that passed their deadline (= onTimeout calls due)
  std::uint64_t triggers = 0;  // triggerNow() calls accepted
  std::size_t workers = 0;     // worker threads alive now (including ones stuck in a run)
  std::size_t busyWorkers = 0;
  std::size_t blockedWorkers = 0;  // in a run that is overdue or older than stallThreshold
  std::size_t peakWorkers = 0;
  std::size_t detachedWorkers = 0;  // left running a hung run by stop()
  std::uint64_t spawnFailures = 0;  // worker threads the OS refused to create
  std::uint64_t exceptions = 0;     // thrown out of run/onTimeout (caught; they must not throw)
  LatenessSummary lateness;
};

// A cumulative histogram bucket, Prometheus style: `count` runs had lateness <= upperBoundSeconds.
struct LatenessBucket {
  double upperBoundSeconds = 0;
  std::uint64_t count = 0;
};

namespace detail {
class SchedulerCore;
}

class Scheduler {
 public:
  // `clock` must outlive the Scheduler (not the detached runs: they do not read it).
  explicit Scheduler(const Clock& clock, SchedulerOptions options = {});
  ~Scheduler();  // stop()
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Adds a task. InvalidArgument when interval <= 0, timeout < 0 or run is empty.
  Result<TaskId> add(TaskSpec spec);

  // Changes the interval (and the timeout, when given) of a task. The next slot becomes
  // lastScheduled + interval (now, if that has passed); a task that has not run yet keeps its
  // first slot. NotFound for an unknown id.
  Status update(TaskId id, Duration interval, std::optional<Duration> timeout = std::nullopt);

  // After remove() returns, `run` is never dispatched again and onTimeout is not called for runs
  // that time out later. A run already dispatched (in flight) may still be executing, and an
  // onTimeout call already started may still be executing; use removeAndWait() to wait for them.
  Status remove(TaskId id);

  // remove(), then waits (at most maxWait) until neither `run` nor onTimeout of this task is
  // executing. Timeout if it still is; FailedPrecondition, after removing, when called from the
  // task's own run (it cannot wait for itself).
  Status removeAndWait(TaskId id, Duration maxWait = Seconds(5));

  // Runs the task as soon as possible (push activation). The cadence is re-based: the next slot is
  // interval after the triggered one. If a run is in flight, the triggered run follows right after
  // it returns (several triggers meanwhile collapse into one).
  Status triggerNow(TaskId id);

  // The next slot of a task (for inspection and tests). NotFound for an unknown id.
  Result<TimePoint> nextRunAt(TaskId id) const;

  // Starts the dispatcher, the watchdog and the workers. Once: FailedPrecondition when already
  // started or stopped; Internal when the OS refuses the threads.
  Status start();

  // Stops dispatching, then waits up to stopTimeout for in-flight runs. Runs still in flight then
  // are detached: their threads keep the task alive and exit when the run returns. Ok when every
  // thread was joined, Timeout naming how many runs were detached otherwise. Idempotent. Do not
  // call it from a run (it would wait stopTimeout for that run, then detach it).
  Status stop();

  // Deterministic mode: runs inline, on the calling thread and in due order, every task due at
  // `now` (each at most once, see "Cadence"; triggerNow() from inside a run is honoured). After a
  // run returns, if max(now, clock.now()) is past its deadline, onTimeout is called once, inline.
  // Returns the number of runs. FailedPrecondition once start() was called.
  Result<std::size_t> runDueTasks(TimePoint now);
  Result<std::size_t> runDueTasks();  // at clock.now()

  // Tells the dispatcher that a ManualClock moved (real mode only; a SystemClock needs nothing).
  // Without it the move is noticed at the next watchdogPeriod.
  void wake();

  SchedulerStats stats() const;
  // Cumulative lateness histogram at the given upper bounds (seconds, increasing), plus +Inf last.
  // Counts are at the internal buckets' resolution (a run is counted under a bound only when its
  // whole internal bucket is, so counts can be slightly low, never high).
  std::vector<LatenessBucket> latenessHistogram(
      const std::vector<double>& upperBoundsSeconds) const;
  // Forgets lateness recorded so far (e.g. after a benchmark's warm-up).
  void resetLateness();

 private:
  std::shared_ptr<detail::SchedulerCore> core_;
};

}  // namespace updraft
