// Scheduler, real mode: worker threads, the watchdog, stop(). Every wait here is for a condition,
// with a generous limit that only matters when the behaviour is broken; nothing asserts on timing.
#include <atomic>
#include <catch2/catch.hpp>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <thread>

#include "updraft/scheduler.h"

using namespace updraft;
using namespace std::chrono_literals;

namespace {

// Polls `pred` until it holds or `limit` passed; returns its last value.
template <typename Pred>
bool eventually(Pred pred, std::chrono::steady_clock::duration limit = 30s) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > end) return pred();
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

// A gate runs wait on until the test opens it.
class Gate {
 public:
  void open() {
    std::lock_guard lock(mu_);
    open_ = true;
    cv_.notify_all();
  }
  void wait() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return open_; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = false;
};

SchedulerOptions fastOptions() {
  SchedulerOptions o;
  o.workerThreads = 2;
  o.maxWorkerThreads = 8;
  o.watchdogPeriod = 5ms;
  o.idleWorkerTimeout = 50ms;
  o.stopTimeout = 10s;
  return o;
}

TaskSpec every(Duration interval, std::function<void(const PollContext&)> run) {
  TaskSpec spec;
  spec.interval = interval;
  spec.run = std::move(run);
  return spec;
}

}  // namespace

TEST_CASE("real mode: tasks run on the grid, never overlapping themselves") {
  Scheduler s(SystemClock::instance(), fastOptions());
  struct Probe {
    std::atomic<int> runs{0};
    std::atomic<int> inside{0};
    std::atomic<bool> overlapped{false};
    std::atomic<bool> offGrid{false};
    TimePoint first{};
  };
  std::vector<std::unique_ptr<Probe>> probes;
  for (int i = 0; i < 5; ++i) {
    probes.push_back(std::make_unique<Probe>());
    Probe* p = probes.back().get();
    auto spec = every(10ms, [p](const PollContext& ctx) {
      if (p->inside.fetch_add(1) != 0) p->overlapped = true;
      if (p->runs == 0) p->first = ctx.scheduled;
      if ((ctx.scheduled - p->first) % Duration(10ms) != Duration::zero()) p->offGrid = true;
      std::this_thread::sleep_for(std::chrono::milliseconds(p->runs % 15));  // sometimes > interval
      ++p->runs;
      p->inside.fetch_sub(1);
    });
    spec.timeout = 10s;
    REQUIRE(s.add(std::move(spec)).isOk());
  }
  REQUIRE(s.start().isOk());
  CHECK(eventually([&] {
    for (auto& p : probes) {
      if (p->runs < 20) return false;
    }
    return true;
  }));
  CHECK(s.stop().isOk());
  for (auto& p : probes) {
    CHECK_FALSE(p->overlapped);
    CHECK_FALSE(p->offGrid);
  }
  auto st = s.stats();
  CHECK(st.runs >= 100);
  CHECK(st.timeouts == 0);
  CHECK(st.lateness.count == st.runs);
}

TEST_CASE("real mode with a ManualClock: cadence follows the clock, wake() after moving it") {
  const TimePoint t0 = TimePoint{} + Seconds(1'700'000'000);
  ManualClock clock(t0);
  Scheduler s(clock, fastOptions());
  std::mutex mu;
  std::vector<TimePoint> slots;
  auto id = s.add(every(1s, [&](const PollContext& ctx) {
    std::lock_guard lock(mu);
    slots.push_back(ctx.scheduled);
  }));
  REQUIRE(id.isOk());
  REQUIRE(s.start().isOk());
  auto count = [&] {
    std::lock_guard lock(mu);
    return slots.size();
  };
  REQUIRE(eventually([&] { return count() == 1; }));
  clock.advance(1s);
  s.wake();
  REQUIRE(eventually([&] { return count() == 2; }));
  clock.advance(1s);
  s.wake();
  REQUIRE(eventually([&] { return count() == 3; }));
  CHECK(s.stop().isOk());
  std::lock_guard lock(mu);
  CHECK(slots == std::vector<TimePoint>{t0, t0 + 1s, t0 + 2s});
  CHECK(s.stats().lateness.max == Duration::zero());
}

TEST_CASE("real mode: a clock stepping back moves the slots with it") {
  const TimePoint t0 = TimePoint{} + Seconds(1'700'000'000);
  ManualClock clock(t0);
  Scheduler s(clock, fastOptions());
  std::mutex mu;
  std::vector<TimePoint> slots;
  auto id = s.add(every(10s, [&](const PollContext& ctx) {
    std::lock_guard lock(mu);
    slots.push_back(ctx.scheduled);
  }));
  REQUIRE(id.isOk());
  REQUIRE(s.start().isOk());
  auto count = [&] {
    std::lock_guard lock(mu);
    return slots.size();
  };
  REQUIRE(eventually([&] { return count() == 1; }));
  clock.set(t0 - std::chrono::hours(1));
  s.wake();
  REQUIRE(eventually([&] { return *s.nextRunAt(*id) == t0 - std::chrono::hours(1) + 10s; }));
  clock.advance(10s);
  s.wake();
  REQUIRE(eventually([&] { return count() == 2; }));
  CHECK(s.stop().isOk());
  std::lock_guard lock(mu);
  CHECK(slots[1] == t0 - std::chrono::hours(1) + 10s);
}

TEST_CASE("a hung run gets onTimeout exactly once and other tasks keep running") {
  auto opts = fastOptions();
  opts.workerThreads = 1;  // the hung run takes the only worker: the pool must grow
  Scheduler s(SystemClock::instance(), opts);
  auto gate = std::make_shared<Gate>();
  std::atomic<int> hungRuns{0};
  std::atomic<int> timeouts{0};
  std::atomic<bool> timeoutOnHungThread{false};
  std::atomic<std::thread::id> hungThread{};
  std::atomic<int> otherRuns{0};

  auto hung = every(20ms, [&, gate](const PollContext&) {
    if (hungRuns.fetch_add(1) == 0) {
      hungThread = std::this_thread::get_id();
      gate->wait();
    }
  });
  hung.timeout = 50ms;
  hung.onTimeout = [&] {
    if (std::this_thread::get_id() == hungThread.load()) timeoutOnHungThread = true;
    ++timeouts;
  };
  auto hungId = s.add(std::move(hung));
  REQUIRE(hungId.isOk());
  REQUIRE(s.add(every(5ms, [&](const PollContext&) { ++otherRuns; })).isOk());
  REQUIRE(s.start().isOk());

  REQUIRE(eventually([&] { return timeouts.load() >= 1; }));
  const int before = otherRuns;
  CHECK(eventually([&] { return otherRuns >= before + 20; }));
  // Many slots of the hung task have passed meanwhile: skipped, and no second onTimeout.
  CHECK(eventually([&] { return s.stats().skips >= 5; }));
  CHECK(timeouts == 1);
  CHECK(s.stats().timeouts == 1);
  CHECK(hungRuns == 1);
  CHECK_FALSE(timeoutOnHungThread);
  CHECK(s.stats().workers >= 2);

  gate->open();
  CHECK(eventually([&] { return hungRuns >= 3; }));  // the task is back on its cadence
  CHECK(s.stop().isOk());
  CHECK(timeouts == 1);
}

TEST_CASE("a slow run on one worker does not hold up the tasks due behind it") {
  auto opts = fastOptions();
  opts.workerThreads = 2;
  opts.maxWorkerThreads = 2;  // no growth: the other worker must get the work
  opts.stallThreshold = std::chrono::hours(1);
  Scheduler s(SystemClock::instance(), opts);
  auto gate = std::make_shared<Gate>();
  std::atomic<bool> slowInside{false};
  std::atomic<int> otherRuns{0};
  auto slow = every(5ms, [&, gate](const PollContext&) {
    slowInside = true;
    gate->wait();
  });
  slow.timeout = std::chrono::hours(1);
  REQUIRE(s.add(std::move(slow)).isOk());
  for (int i = 0; i < 3; ++i) {
    REQUIRE(s.add(every(5ms, [&](const PollContext&) { ++otherRuns; })).isOk());
  }
  REQUIRE(s.start().isOk());
  REQUIRE(eventually([&] { return slowInside.load(); }));
  const int before = otherRuns;
  CHECK(eventually([&] { return otherRuns >= before + 30; }));
  CHECK(s.stats().workers == 2);
  CHECK(s.stats().timeouts == 0);
  gate->open();
  CHECK(s.stop().isOk());
}

TEST_CASE("an exception thrown by a run is contained and counted") {
  Scheduler s(SystemClock::instance(), fastOptions());
  std::atomic<int> runs{0};
  REQUIRE(s.add(every(5ms, [&](const PollContext&) {
             ++runs;
             throw std::runtime_error("scaler bug");
           })).isOk());
  REQUIRE(s.start().isOk());
  CHECK(eventually([&] { return runs >= 3; }));
  CHECK(s.stop().isOk());
  CHECK(s.stats().exceptions >= 3);
}

TEST_CASE("the pool grows under hung runs up to maxWorkerThreads, then shrinks back") {
  auto opts = fastOptions();
  opts.workerThreads = 2;
  opts.maxWorkerThreads = 5;
  Scheduler s(SystemClock::instance(), opts);
  auto gate = std::make_shared<Gate>();
  std::atomic<int> hungInside{0};
  std::atomic<int> firstRunsDone{0};
  std::atomic<int> timeouts{0};
  for (int i = 0; i < 6; ++i) {
    auto first = std::make_shared<std::atomic<bool>>(true);
    auto spec = every(10ms, [&, gate, first](const PollContext&) {
      if (first->exchange(false)) {
        ++hungInside;
        gate->wait();
        --hungInside;
        ++firstRunsDone;
      }
    });
    spec.timeout = 20ms;
    spec.onTimeout = [&] { ++timeouts; };
    REQUIRE(s.add(std::move(spec)).isOk());
  }
  REQUIRE(s.start().isOk());

  // 2 workers hang -> grow; the new ones hang too -> grow up to 5; never more.
  REQUIRE(eventually([&] { return hungInside == 5; }));
  CHECK(eventually([&] { return timeouts == 5; }));
  auto st = s.stats();
  CHECK(st.workers == 5);
  CHECK(st.peakWorkers == 5);
  CHECK(st.blockedWorkers == 5);

  gate->open();
  // The sixth task gets its turn, nothing hangs any more, and the extra workers exit when idle.
  CHECK(eventually([&] { return firstRunsDone == 6; }));
  CHECK(eventually([&] { return s.stats().workers == 2; }));
  CHECK(s.stats().peakWorkers == 5);
  CHECK(timeouts >= 5);
  CHECK(s.stop().isOk());
}

TEST_CASE("real mode: triggerNow runs a task long before its next slot") {
  Scheduler s(SystemClock::instance(), fastOptions());
  std::atomic<int> runs{0};
  std::atomic<bool> triggered{false};
  auto id = s.add(every(std::chrono::hours(1), [&](const PollContext& ctx) {
    if (ctx.triggered) triggered = true;
    ++runs;
  }));
  REQUIRE(id.isOk());
  REQUIRE(s.start().isOk());
  REQUIRE(eventually([&] { return runs == 1; }));  // the immediate first run
  REQUIRE(s.triggerNow(*id).isOk());
  CHECK(eventually([&] { return runs == 2; }));
  CHECK(triggered);
  CHECK(s.stop().isOk());
}

TEST_CASE("real mode: removeAndWait waits for the run in flight; no run after it") {
  Scheduler s(SystemClock::instance(), fastOptions());
  auto gate = std::make_shared<Gate>();
  std::atomic<int> runs{0};
  std::atomic<bool> inside{false};
  std::atomic<bool> finished{false};
  auto id = s.add(every(5ms, [&, gate](const PollContext&) {
    if (runs.fetch_add(1) == 2) {
      inside = true;
      gate->wait();
      finished = true;
    }
  }));
  REQUIRE(id.isOk());
  REQUIRE(s.start().isOk());
  REQUIRE(eventually([&] { return inside.load(); }));

  CHECK(s.removeAndWait(*id, 20ms).code() == StatusCode::kTimeout);  // still blocked
  CHECK(s.removeAndWait(*id).code() == StatusCode::kNotFound);       // already removed
  gate->open();
  CHECK(eventually([&] { return finished.load(); }));
  const int after = runs;
  std::this_thread::sleep_for(50ms);  // ten slots: none may run
  CHECK(runs == after);

  // removeAndWait proper: blocks until the in-flight run returns.
  auto gate2 = std::make_shared<Gate>();
  std::atomic<bool> inside2{false};
  std::atomic<bool> finished2{false};
  auto id2 = s.add(every(5ms, [&, gate2](const PollContext&) {
    inside2 = true;
    gate2->wait();
    finished2 = true;
  }));
  REQUIRE(id2.isOk());
  REQUIRE(eventually([&] { return inside2.load(); }));
  std::thread opener([gate2] {
    std::this_thread::sleep_for(20ms);
    gate2->open();
  });
  CHECK(s.removeAndWait(*id2, 30s).isOk());
  CHECK(finished2);
  opener.join();
  CHECK(s.stop().isOk());
}

TEST_CASE("stop() with a hung run returns after its bound, detaches it, and stays safe") {
  auto opts = fastOptions();
  opts.stopTimeout = 100ms;
  auto s = std::make_unique<Scheduler>(SystemClock::instance(), opts);
  auto gate = std::make_shared<Gate>();
  auto inside = std::make_shared<std::atomic<bool>>(false);
  auto sentinel = std::make_shared<int>(0);  // owned by the task only, once the test lets go
  std::weak_ptr<int> watch = sentinel;
  std::atomic<int> healthyRuns{0};
  auto hung = every(10ms, [gate, inside, sentinel](const PollContext&) {
    *inside = true;
    gate->wait();
  });
  REQUIRE(s->add(std::move(hung)).isOk());
  REQUIRE(s->add(every(10ms, [&](const PollContext&) { ++healthyRuns; })).isOk());
  REQUIRE(s->start().isOk());
  REQUIRE(eventually([&] { return inside->load() && healthyRuns > 3; }));

  Status st = s->stop();
  CHECK(st.code() == StatusCode::kTimeout);
  CHECK(s->stats().detachedWorkers == 1);
  const int healthyAtStop = healthyRuns;
  s.reset();  // the Scheduler is gone; the hung run is still inside

  sentinel.reset();  // now only the detached thread's task holds it
  CHECK_FALSE(watch.expired());
  gate->open();
  CHECK(eventually([&] { return watch.expired(); }));  // the run returned and freed its task
  CHECK(healthyRuns == healthyAtStop);
}
