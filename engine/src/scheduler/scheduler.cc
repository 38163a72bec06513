// Scheduler implementation. See scheduler.h for the semantics.
//
// Structure. All state lives in a SchedulerCore shared by the Scheduler and by every thread it
// starts, under one mutex. Due times are kept in an indexed binary min-heap of tasks (each task is
// in the heap exactly once, at its next slot; update/trigger/remove are O(log n)). A run is
// dispatched by popping the heap top and pushing the task back at its next slot, so the heap is
// also the ready queue: "ready" means due <= clock.now().
//
// Threads. One dispatcher thread (which is also the watchdog) and a pool of workers. Workers take
// due tasks one at a time and run them with the lock released; a worker that found nothing due
// sleeps. The dispatcher sleeps until the earliest due time (at most once per dispatchResolution)
// and wakes one idle worker; while due tasks stay untaken it wakes one more per tick. Every
// watchdogPeriod the dispatcher scans the workers (not the tasks): overdue runs get their
// onTimeout, and the pool is grown or reaped.
//
// Lifetime. Threads hold a shared_ptr to the core and to the task they run, so a run that outlives
// stop() or the Scheduler touches only memory it owns. After `stopping_` is set nothing reads the
// Clock (which the caller may destroy). Any reference to a task that may be the last one is
// dropped with the mutex released, because destroying a task destroys user captures.
#include "updraft/scheduler.h"

#include <pthread.h>

#include <algorithm>
#include <condition_variable>
#include <limits>
#include <mutex>
#include <string>
#include <system_error>
#include <thread>
#include <unordered_map>

#include "lateness_histogram.h"

namespace updraft {
namespace detail {
namespace {

using SteadyClock = std::chrono::steady_clock;
constexpr std::size_t kNotInHeap = std::numeric_limits<std::size_t>::max();
// A clock that goes back by more than this (an NTP step) moves every slot back with it.
constexpr Duration kBackwardJump = Seconds(1);

struct Task : std::enable_shared_from_this<Task> {
  TaskId id = 0;
  Duration interval{0};
  Duration timeout{0};
  bool timeoutFollowsInterval = false;
  std::function<void(const PollContext&)> run;
  std::function<void()> onTimeout;

  TimePoint nextSlot;       // == its heap entry's due time
  TimePoint lastScheduled;  // slot of the last dispatched run
  std::size_t heapIndex = kNotInHeap;
  int timeoutCallbacks = 0;  // onTimeout calls executing now
  bool hasRun = false;
  bool inFlight = false;
  bool removed = false;
  bool triggerPending = false;  // triggerNow() while in flight
  bool nextIsTrigger = false;   // nextSlot comes from triggerNow()
};

struct HeapEntry {
  TimePoint due;
  std::shared_ptr<Task> task;
};

struct Worker {
  std::thread thread;
  Task* current = nullptr;  // the run in flight; kept alive by the worker's own shared_ptr
  TimePoint startedAt;
  TimePoint deadline;
  bool timeoutFired = false;
  bool exited = false;
};

struct Dispatch {
  std::shared_ptr<Task> task;
  PollContext ctx;
};

// The task whose run or onTimeout executes on this thread (removeAndWait must not wait for it).
thread_local const Task* tCurrentTask = nullptr;

// Calls fn() marked as `task`'s code. An exception escaping user code (which should not throw) is
// swallowed: it must not kill a scheduler thread. Returns false when one did.
template <typename Fn>
bool runWithMarker(const Task& task, Fn&& fn) noexcept {
  const Task* saved = tCurrentTask;
  tCurrentTask = &task;
  bool ok = true;
  try {
    fn();
  } catch (...) {
    ok = false;
  }
  tCurrentTask = saved;
  return ok;
}

void nameThisThread(const char* name) { pthread_setname_np(pthread_self(), name); }

SchedulerOptions normalize(SchedulerOptions o) {
  auto nonNegative = [](Duration& d) { d = std::max(d, Duration::zero()); };
  o.workerThreads = std::max<std::size_t>(o.workerThreads, 1);
  o.maxWorkerThreads = std::max(o.maxWorkerThreads, o.workerThreads);
  nonNegative(o.dispatchResolution);
  o.watchdogPeriod = std::max<Duration>(o.watchdogPeriod, Millis(1));
  nonNegative(o.stallThreshold);
  o.idleWorkerTimeout = std::max<Duration>(o.idleWorkerTimeout, Millis(1));
  nonNegative(o.stopTimeout);
  nonNegative(o.splayStep);
  nonNegative(o.maxSplay);
  return o;
}

}  // namespace

class SchedulerCore : public std::enable_shared_from_this<SchedulerCore> {
 public:
  SchedulerCore(const Clock& clock, SchedulerOptions options)
      : clock_(clock), opt_(normalize(options)) {}

  Result<TaskId> add(TaskSpec spec);
  Status update(TaskId id, Duration interval, std::optional<Duration> timeout);
  Status remove(TaskId id);
  Status remove(TaskId id, std::shared_ptr<Task>* removed);  // mu_ held
  Status removeAndWait(TaskId id, Duration maxWait);
  Status triggerNow(TaskId id);
  Result<TimePoint> nextRunAt(TaskId id) const;
  Status start();
  Status stop();
  Result<std::size_t> runDueTasks(TimePoint now);
  void wake();
  SchedulerStats stats() const;
  std::vector<LatenessBucket> latenessHistogram(const std::vector<double>& bounds) const;
  void resetLateness();
  const Clock& clock() const { return clock_; }

 private:
  enum class State { kIdle, kRunning, kStopped };

  // --- heap (mu_ held) ---
  bool less(std::size_t a, std::size_t b) const { return heap_[a].due < heap_[b].due; }
  void place(std::size_t i, HeapEntry&& e) {
    e.task->heapIndex = i;
    heap_[i] = std::move(e);
  }
  void siftUp(std::size_t i);
  void siftDown(std::size_t i);
  void heapPush(std::shared_ptr<Task> task);
  std::shared_ptr<Task> heapErase(std::size_t i);
  void heapFix(std::size_t i);  // after heap_[i].due changed
  void setNextSlot(Task& t, TimePoint slot);
  void shiftAll(Duration delta);

  // --- scheduling (mu_ held) ---
  TimePoint splay(TimePoint now, Duration interval);
  bool takeTop(TimePoint now, Dispatch& out);
  void finishRun(Task& t);
  void maybeWakeDispatcher();
  bool spawnWorker();
  void releaseOutsideLock(std::unique_lock<std::mutex>& lock, std::shared_ptr<Task>& task);

  // --- threads ---
  void workerMain(const std::shared_ptr<Worker>& w);
  void dispatcherMain();
  void watchdogScan(std::unique_lock<std::mutex>& lock);

  const Clock& clock_;
  const SchedulerOptions opt_;

  mutable std::mutex mu_;
  std::condition_variable dispatcherCv_;
  std::condition_variable workerCv_;
  std::condition_variable doneCv_;  // runs/callbacks finished (removeAndWait), threads exited

  std::vector<HeapEntry> heap_;
  std::unordered_map<TaskId, std::shared_ptr<Task>> tasks_;
  TaskId nextId_ = 1;

  bool burstActive_ = false;
  TimePoint burstStart_;
  std::int64_t burstCount_ = 0;

  State state_ = State::kIdle;
  bool stopping_ = false;
  std::vector<std::shared_ptr<Worker>> workers_;
  std::thread dispatcher_;
  bool dispatcherExited_ = true;
  TimePoint lastNow_;  // the dispatcher's last clock reading (to detect steps back)
  // The dispatcher acts by itself for any due time >= this; earlier ones must notify it.
  TimePoint dispatcherKnownDue_ = TimePoint::min();
  std::size_t liveWorkers_ = 0;
  std::size_t idleWorkers_ = 0;
  std::size_t wakesPending_ = 0;
  std::size_t busyWorkers_ = 0;
  std::size_t blocked_ = 0;
  std::size_t exitRequests_ = 0;  // idle workers that should exit (the pool is too large)
  std::optional<SteadyClock::time_point> excessSince_;
  std::size_t peakWorkers_ = 0;
  std::size_t detachedWorkers_ = 0;
  int waiters_ = 0;
  std::vector<std::shared_ptr<Task>> timeoutScratch_;

  std::uint64_t runs_ = 0;
  std::uint64_t skips_ = 0;
  std::uint64_t timeouts_ = 0;
  std::uint64_t triggers_ = 0;
  std::uint64_t spawnFailures_ = 0;
  std::uint64_t exceptions_ = 0;
  LatenessHistogram lateness_;
};

// ------------------------------------------------------------------------------------------------
// Heap

void SchedulerCore::siftUp(std::size_t i) {
  HeapEntry e = std::move(heap_[i]);
  while (i > 0) {
    const std::size_t parent = (i - 1) / 2;
    if (!(e.due < heap_[parent].due)) break;
    place(i, std::move(heap_[parent]));
    i = parent;
  }
  place(i, std::move(e));
}

void SchedulerCore::siftDown(std::size_t i) {
  const std::size_t n = heap_.size();
  HeapEntry e = std::move(heap_[i]);
  while (true) {
    std::size_t child = 2 * i + 1;
    if (child >= n) break;
    if (child + 1 < n && heap_[child + 1].due < heap_[child].due) ++child;
    if (!(heap_[child].due < e.due)) break;
    place(i, std::move(heap_[child]));
    i = child;
  }
  place(i, std::move(e));
}

void SchedulerCore::heapPush(std::shared_ptr<Task> task) {
  const TimePoint due = task->nextSlot;
  heap_.push_back({due, std::move(task)});
  siftUp(heap_.size() - 1);
}

std::shared_ptr<Task> SchedulerCore::heapErase(std::size_t i) {
  std::shared_ptr<Task> out = std::move(heap_[i].task);
  out->heapIndex = kNotInHeap;
  const std::size_t last = heap_.size() - 1;
  if (i != last) {
    place(i, std::move(heap_[last]));
    heap_.pop_back();
    heapFix(i);
  } else {
    heap_.pop_back();
  }
  return out;
}

void SchedulerCore::heapFix(std::size_t i) {
  if (i > 0 && heap_[i].due < heap_[(i - 1) / 2].due) {
    siftUp(i);
  } else {
    siftDown(i);
  }
}

void SchedulerCore::setNextSlot(Task& t, TimePoint slot) {
  t.nextSlot = slot;
  if (t.heapIndex != kNotInHeap) {
    heap_[t.heapIndex].due = slot;
    heapFix(t.heapIndex);
  }
}

// The wall clock stepped back: move every slot by the same amount (the heap order is unchanged),
// so polls keep their cadence instead of stalling for the size of the step.
void SchedulerCore::shiftAll(Duration delta) {
  for (HeapEntry& e : heap_) {
    e.due += delta;
    e.task->nextSlot += delta;
    e.task->lastScheduled += delta;
  }
  burstActive_ = false;
}

// ------------------------------------------------------------------------------------------------
// Scheduling

TimePoint SchedulerCore::splay(TimePoint now, Duration interval) {
  const Duration step = opt_.splayStep;
  if (!burstActive_ || now > burstStart_ + burstCount_ * step) {
    burstActive_ = true;
    burstStart_ = now;
    burstCount_ = 0;
  }
  Duration offset = burstCount_ * step;
  ++burstCount_;
  const Duration limit = std::min(interval, opt_.maxSplay);
  offset = limit > Duration::zero() ? offset % limit : Duration::zero();
  return std::max(now, burstStart_ + offset);
}

// Pre: mu_ held, heap_ not empty, heap_[0].due <= now. Dispatches the top task (true) or, when it
// is still in flight, skips its due slots (false). Either way the top moves to a later slot.
bool SchedulerCore::takeTop(TimePoint now, Dispatch& out) {
  Task& t = *heap_[0].task;
  TimePoint slot = t.nextSlot;
  if (t.inFlight) {
    const auto missed = 1 + (now - slot) / t.interval;
    skips_ += static_cast<std::uint64_t>(missed);
    t.nextIsTrigger = false;
    t.nextSlot = slot + missed * t.interval;
    heap_[0].due = t.nextSlot;
    siftDown(0);
    return false;
  }
  const bool triggered = t.nextIsTrigger;
  t.nextIsTrigger = false;
  if (now - slot >= t.interval) {  // the scheduler was late by whole intervals: run the latest
    const auto late = (now - slot) / t.interval;
    skips_ += static_cast<std::uint64_t>(late);
    slot += late * t.interval;
  }
  t.lastScheduled = slot;
  t.hasRun = true;
  t.inFlight = true;
  t.nextSlot = slot + t.interval;
  out.task = heap_[0].task;
  out.ctx.id = t.id;
  out.ctx.scheduled = slot;
  out.ctx.deadline = slot + t.timeout;
  out.ctx.triggered = triggered;
  heap_[0].due = t.nextSlot;
  siftDown(0);
  ++runs_;
  lateness_.record(std::chrono::duration_cast<std::chrono::nanoseconds>(now - slot).count());
  return true;
}

void SchedulerCore::finishRun(Task& t) {
  t.inFlight = false;
  if (t.triggerPending) {
    t.triggerPending = false;
    if (!t.removed && !stopping_) {
      t.nextIsTrigger = true;
      setNextSlot(t, clock_.now());
      maybeWakeDispatcher();
    }
  }
  if (waiters_ > 0) doneCv_.notify_all();
}

void SchedulerCore::maybeWakeDispatcher() {
  if (!heap_.empty() && heap_[0].due < dispatcherKnownDue_) {
    dispatcherKnownDue_ = TimePoint::min();  // one notification is enough
    dispatcherCv_.notify_one();
  }
}

void SchedulerCore::releaseOutsideLock(std::unique_lock<std::mutex>& lock,
                                       std::shared_ptr<Task>& task) {
  // Under mu_ nobody can gain a reference to a task we hold alone, so use_count() == 1 is stable.
  if (task.use_count() == 1) {
    lock.unlock();
    task.reset();
    lock.lock();
  } else {
    task.reset();
  }
}

// ------------------------------------------------------------------------------------------------
// Public operations

Result<TaskId> SchedulerCore::add(TaskSpec spec) {
  if (spec.interval <= Duration::zero()) {
    return Status::invalidArgument("scheduler: task interval must be > 0");
  }
  if (spec.timeout < Duration::zero()) {
    return Status::invalidArgument("scheduler: task timeout must be >= 0");
  }
  if (!spec.run) return Status::invalidArgument("scheduler: task has no run function");
  auto task = std::make_shared<Task>();
  task->interval = spec.interval;
  task->timeoutFollowsInterval = spec.timeout == Duration::zero();
  task->timeout = task->timeoutFollowsInterval ? spec.interval : spec.timeout;
  task->run = std::move(spec.run);
  task->onTimeout = std::move(spec.onTimeout);

  std::lock_guard lock(mu_);
  task->id = nextId_++;
  const TimePoint now = clock_.now();
  task->nextSlot = spec.firstRunAt ? *spec.firstRunAt : splay(now, spec.interval);
  tasks_.emplace(task->id, task);
  heapPush(std::move(task));
  maybeWakeDispatcher();
  return nextId_ - 1;
}

Status SchedulerCore::update(TaskId id, Duration interval, std::optional<Duration> timeout) {
  if (interval <= Duration::zero()) {
    return Status::invalidArgument("scheduler: task interval must be > 0");
  }
  if (timeout && *timeout < Duration::zero()) {
    return Status::invalidArgument("scheduler: task timeout must be >= 0");
  }
  std::lock_guard lock(mu_);
  auto it = tasks_.find(id);
  if (it == tasks_.end()) return Status::notFound("scheduler: no task " + std::to_string(id));
  Task& t = *it->second;
  t.interval = interval;
  if (timeout) t.timeoutFollowsInterval = *timeout == Duration::zero();
  if (t.timeoutFollowsInterval) {
    t.timeout = interval;
  } else if (timeout) {
    t.timeout = *timeout;
  }
  if (t.hasRun && !t.nextIsTrigger) {
    setNextSlot(t, std::max(t.lastScheduled + interval, clock_.now()));
    maybeWakeDispatcher();
  }
  return Status::ok();
}

Status SchedulerCore::remove(TaskId id, std::shared_ptr<Task>* removed) {
  // Called with mu_ held by the public wrappers.
  auto it = tasks_.find(id);
  if (it == tasks_.end()) return Status::notFound("scheduler: no task " + std::to_string(id));
  *removed = std::move(it->second);
  tasks_.erase(it);
  Task& t = **removed;
  t.removed = true;
  t.triggerPending = false;
  if (t.heapIndex != kNotInHeap) heapErase(t.heapIndex);
  return Status::ok();
}

Status SchedulerCore::remove(TaskId id) {
  std::shared_ptr<Task> task;  // declared first: destroyed after the lock is released
  std::lock_guard lock(mu_);
  return remove(id, &task);
}

Status SchedulerCore::removeAndWait(TaskId id, Duration maxWait) {
  std::shared_ptr<Task> task;  // destroyed after the lock is released
  std::unique_lock lock(mu_);
  UPDRAFT_RETURN_IF_ERROR(remove(id, &task));
  if (tCurrentTask == task.get()) {
    return Status::failedPrecondition("scheduler: task " + std::to_string(id) +
                                      " removed, but removeAndWait cannot wait for its own run");
  }
  ++waiters_;
  const bool done = doneCv_.wait_for(
      lock, maxWait, [&] { return !task->inFlight && task->timeoutCallbacks == 0; });
  --waiters_;
  lock.unlock();
  if (!done) {
    return Status::timeout("scheduler: task " + std::to_string(id) +
                           " removed, but its run was still executing after the wait");
  }
  return Status::ok();
}

Status SchedulerCore::triggerNow(TaskId id) {
  std::lock_guard lock(mu_);
  auto it = tasks_.find(id);
  if (it == tasks_.end()) return Status::notFound("scheduler: no task " + std::to_string(id));
  Task& t = *it->second;
  ++triggers_;
  if (t.inFlight) {
    t.triggerPending = true;
    return Status::ok();
  }
  if (stopping_) return Status::ok();
  t.nextIsTrigger = true;
  setNextSlot(t, clock_.now());
  maybeWakeDispatcher();
  return Status::ok();
}

Result<TimePoint> SchedulerCore::nextRunAt(TaskId id) const {
  std::lock_guard lock(mu_);
  auto it = tasks_.find(id);
  if (it == tasks_.end()) return Status::notFound("scheduler: no task " + std::to_string(id));
  return it->second->nextSlot;
}

Status SchedulerCore::start() {
  std::lock_guard lock(mu_);
  if (state_ != State::kIdle) {
    return Status::failedPrecondition("scheduler: start() may be called once, before stop()");
  }
  state_ = State::kRunning;
  lastNow_ = clock_.now();
  try {
    dispatcher_ = std::thread([self = shared_from_this()] { self->dispatcherMain(); });
    dispatcherExited_ = false;
  } catch (const std::system_error& e) {
    stopping_ = true;
    state_ = State::kStopped;
    return Status::internal(std::string("scheduler: cannot start the dispatcher thread: ") +
                            e.what());
  }
  for (std::size_t i = 0; i < opt_.workerThreads; ++i) {
    if (!spawnWorker() && liveWorkers_ == 0) {
      return Status::internal("scheduler: cannot start any worker thread");
    }
  }
  return Status::ok();
}

Status SchedulerCore::stop() {
  std::vector<std::thread> toJoin;
  std::vector<std::thread> toDetach;
  {
    std::unique_lock lock(mu_);
    if (state_ != State::kRunning) {
      state_ = State::kStopped;
      stopping_ = true;
      return Status::ok();
    }
    state_ = State::kStopped;
    stopping_ = true;
    dispatcherCv_.notify_all();
    workerCv_.notify_all();
    doneCv_.wait_for(lock, opt_.stopTimeout,
                     [&] { return liveWorkers_ == 0 && dispatcherExited_; });
    if (dispatcher_.joinable()) {
      (dispatcherExited_ ? toJoin : toDetach).push_back(std::move(dispatcher_));
    }
    for (auto& w : workers_) {
      if (!w->thread.joinable()) continue;
      if (w->exited) {
        toJoin.push_back(std::move(w->thread));
      } else {
        toDetach.push_back(std::move(w->thread));
        ++detachedWorkers_;
      }
    }
    // Detached workers keep their own shared_ptr<Worker>; keep the records for stats().
  }
  for (auto& t : toJoin) t.join();
  for (auto& t : toDetach) t.detach();
  if (!toDetach.empty()) {
    return Status::timeout("scheduler: stop() detached " + std::to_string(toDetach.size()) +
                           " thread(s) still inside a run after the stop timeout");
  }
  return Status::ok();
}

Result<std::size_t> SchedulerCore::runDueTasks(TimePoint now) {
  std::unique_lock lock(mu_);
  if (state_ != State::kIdle) {
    return Status::failedPrecondition("scheduler: runDueTasks() is for a scheduler never started");
  }
  std::size_t n = 0;
  Dispatch d;
  while (state_ == State::kIdle && !heap_.empty() && heap_[0].due <= now) {
    if (!takeTop(now, d)) continue;
    lock.unlock();
    const bool ok = runWithMarker(*d.task, [&] { d.task->run(d.ctx); });
    const bool overdue = std::max(now, clock_.now()) > d.ctx.deadline;
    lock.lock();
    ++n;
    if (!ok) ++exceptions_;
    if (overdue) {
      ++timeouts_;
      if (!d.task->removed && d.task->onTimeout) {
        ++d.task->timeoutCallbacks;
        lock.unlock();
        const bool callbackOk = runWithMarker(*d.task, d.task->onTimeout);
        lock.lock();
        --d.task->timeoutCallbacks;
        if (!callbackOk) ++exceptions_;
      }
    }
    finishRun(*d.task);
    releaseOutsideLock(lock, d.task);
  }
  return n;
}

void SchedulerCore::wake() {
  std::lock_guard lock(mu_);
  dispatcherCv_.notify_one();
}

SchedulerStats SchedulerCore::stats() const {
  std::lock_guard lock(mu_);
  SchedulerStats s;
  s.tasks = tasks_.size();
  s.runs = runs_;
  s.skips = skips_;
  s.timeouts = timeouts_;
  s.triggers = triggers_;
  s.workers = liveWorkers_;
  s.busyWorkers = busyWorkers_;
  s.blockedWorkers = blocked_;
  s.peakWorkers = peakWorkers_;
  s.detachedWorkers = detachedWorkers_;
  s.spawnFailures = spawnFailures_;
  s.exceptions = exceptions_;
  s.lateness = lateness_.summary();
  return s;
}

std::vector<LatenessBucket> SchedulerCore::latenessHistogram(
    const std::vector<double>& bounds) const {
  std::lock_guard lock(mu_);
  return lateness_.cumulative(bounds);
}

void SchedulerCore::resetLateness() {
  std::lock_guard lock(mu_);
  lateness_.reset();
}

// ------------------------------------------------------------------------------------------------
// Threads

bool SchedulerCore::spawnWorker() {
  auto w = std::make_shared<Worker>();
  try {
    w->thread = std::thread([self = shared_from_this(), w] { self->workerMain(w); });
  } catch (const std::system_error&) {
    ++spawnFailures_;
    return false;
  }
  workers_.push_back(std::move(w));
  ++liveWorkers_;
  peakWorkers_ = std::max(peakWorkers_, liveWorkers_);
  return true;
}

void SchedulerCore::workerMain(const std::shared_ptr<Worker>& w) {
  nameThisThread("updraft-poll");
  std::unique_lock lock(mu_);
  Dispatch d;
  while (!stopping_) {
    if (exitRequests_ > 0) {
      --exitRequests_;
      break;
    }
    if (!heap_.empty()) {
      const TimePoint now = clock_.now();
      if (heap_[0].due <= now) {
        if (!takeTop(now, d)) continue;
        w->current = d.task.get();
        w->startedAt = now;
        w->deadline = d.ctx.deadline;
        w->timeoutFired = false;
        ++busyWorkers_;
        // Tasks still due while this one runs are handed to another worker by the dispatcher's
        // next tick (within dispatchResolution), not by waking one here: with fast runs this
        // worker drains the batch itself and no thread is woken for nothing.
        lock.unlock();
        const bool ok = runWithMarker(*d.task, [&] { d.task->run(d.ctx); });
        lock.lock();
        if (!ok) ++exceptions_;
        --busyWorkers_;
        w->current = nullptr;
        finishRun(*d.task);
        releaseOutsideLock(lock, d.task);
        continue;
      }
    }
    // Nothing due: make sure the dispatcher knows about the earliest slot, then sleep.
    maybeWakeDispatcher();
    ++idleWorkers_;
    workerCv_.wait(lock);
    --idleWorkers_;
    if (wakesPending_ > 0) --wakesPending_;
  }
  w->exited = true;
  --liveWorkers_;
  doneCv_.notify_all();
}

void SchedulerCore::dispatcherMain() {
  nameThisThread("updraft-sched");
  std::unique_lock lock(mu_);
  auto nextScan = SteadyClock::now() + opt_.watchdogPeriod;
  auto lastWake = SteadyClock::now() - opt_.dispatchResolution;
  while (!stopping_) {
    dispatcherKnownDue_ = TimePoint::min();  // awake: nobody needs to notify us
    auto steadyNow = SteadyClock::now();
    if (steadyNow >= nextScan) {
      watchdogScan(lock);
      if (stopping_) break;
      steadyNow = SteadyClock::now();
      nextScan = steadyNow + opt_.watchdogPeriod;
    }
    const TimePoint now = clock_.now();
    if (now + kBackwardJump < lastNow_) shiftAll(now - lastNow_);
    lastNow_ = now;
    auto wakeAt = nextScan;
    TimePoint known = TimePoint::max();
    if (!heap_.empty()) {
      const TimePoint due = heap_[0].due;
      if (due <= now) {
        if (idleWorkers_ > wakesPending_) {
          if (steadyNow - lastWake >= opt_.dispatchResolution) {
            ++wakesPending_;
            workerCv_.notify_one();
            lastWake = steadyNow;
          }
          wakeAt = std::min(wakeAt, lastWake + opt_.dispatchResolution);
          known = due;
        }
        // Else every worker is busy or being woken: whoever goes idle takes due tasks first and
        // tells us about the next slot (known stays max).
      } else {
        const auto untilDue = std::chrono::duration_cast<SteadyClock::duration>(due - now);
        wakeAt =
            std::min(wakeAt, std::max(steadyNow + untilDue, lastWake + opt_.dispatchResolution));
        known = due;
      }
    }
    dispatcherKnownDue_ = known;
    dispatcherCv_.wait_until(lock, wakeAt);
  }
  dispatcherExited_ = true;
  doneCv_.notify_all();
}

void SchedulerCore::watchdogScan(std::unique_lock<std::mutex>& lock) {
  const TimePoint now = clock_.now();
  std::size_t blocked = 0;
  std::vector<std::thread> reaped;
  for (std::size_t i = 0; i < workers_.size();) {
    Worker& w = *workers_[i];
    if (w.exited) {
      if (w.thread.joinable()) reaped.push_back(std::move(w.thread));
      workers_[i] = std::move(workers_.back());
      workers_.pop_back();
      continue;
    }
    ++i;
    if (w.current == nullptr) continue;
    const bool overdue = now > w.deadline;
    if (overdue && !w.timeoutFired) {
      w.timeoutFired = true;
      ++timeouts_;
      if (!w.current->removed && w.current->onTimeout) {
        ++w.current->timeoutCallbacks;
        timeoutScratch_.push_back(w.current->shared_from_this());
      }
    }
    if (overdue || now - w.startedAt >= opt_.stallThreshold) ++blocked;
  }
  blocked_ = blocked;
  const std::size_t desired = std::min(opt_.maxWorkerThreads, opt_.workerThreads + blocked);
  while (liveWorkers_ < desired && spawnWorker()) {
  }
  // Shrink once the pool has been larger than needed for idleWorkerTimeout.
  const auto steadyNow = SteadyClock::now();
  if (liveWorkers_ > desired) {
    if (!excessSince_) {
      excessSince_ = steadyNow;
    } else if (steadyNow - *excessSince_ >= opt_.idleWorkerTimeout) {
      exitRequests_ = liveWorkers_ - desired;
      workerCv_.notify_all();
    }
  } else {
    excessSince_.reset();
    exitRequests_ = 0;
  }
  if (reaped.empty() && timeoutScratch_.empty()) return;

  std::vector<std::shared_ptr<Task>> fired;
  fired.swap(timeoutScratch_);
  lock.unlock();
  for (auto& t : reaped) t.join();
  for (auto& t : fired) {
    bool call = true;
    {
      std::lock_guard relock(mu_);
      call = !stopping_ && !t->removed;  // an earlier callback may have been slow
    }
    const bool ok = !call || runWithMarker(*t, t->onTimeout);
    {
      std::lock_guard relock(mu_);
      --t->timeoutCallbacks;
      if (!ok) ++exceptions_;
      if (waiters_ > 0) doneCv_.notify_all();
    }
  }
  fired.clear();  // may destroy removed tasks: outside the lock
  lock.lock();
  if (timeoutScratch_.capacity() < fired.capacity()) timeoutScratch_.swap(fired);
}

}  // namespace detail

// ------------------------------------------------------------------------------------------------
// Scheduler

Scheduler::Scheduler(const Clock& clock, SchedulerOptions options)
    : core_(std::make_shared<detail::SchedulerCore>(clock, options)) {}

Scheduler::~Scheduler() { (void)core_->stop(); }

Result<TaskId> Scheduler::add(TaskSpec spec) { return core_->add(std::move(spec)); }

Status Scheduler::update(TaskId id, Duration interval, std::optional<Duration> timeout) {
  return core_->update(id, interval, timeout);
}

Status Scheduler::remove(TaskId id) { return core_->remove(id); }

Status Scheduler::removeAndWait(TaskId id, Duration maxWait) {
  return core_->removeAndWait(id, maxWait);
}

Status Scheduler::triggerNow(TaskId id) { return core_->triggerNow(id); }

Result<TimePoint> Scheduler::nextRunAt(TaskId id) const { return core_->nextRunAt(id); }

Status Scheduler::start() { return core_->start(); }

Status Scheduler::stop() { return core_->stop(); }

Result<std::size_t> Scheduler::runDueTasks(TimePoint now) { return core_->runDueTasks(now); }

Result<std::size_t> Scheduler::runDueTasks() { return core_->runDueTasks(core_->clock().now()); }

void Scheduler::wake() { core_->wake(); }

SchedulerStats Scheduler::stats() const { return core_->stats(); }

std::vector<LatenessBucket> Scheduler::latenessHistogram(
    const std::vector<double>& upperBoundsSeconds) const {
  return core_->latenessHistogram(upperBoundsSeconds);
}

void Scheduler::resetLateness() { core_->resetLateness(); }

}  // namespace updraft
