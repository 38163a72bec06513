// Scheduler, deterministic mode: a ManualClock and runDueTasks(), no threads, no sleeping.
#include "updraft/scheduler.h"

#include <catch2/catch.hpp>
#include <map>
#include <vector>

using namespace updraft;
using namespace std::chrono_literals;

namespace {

const TimePoint kT0 = TimePoint{} + Seconds(1'700'000'000);

// Records the PollContext of every run.
struct Recorder {
  std::vector<PollContext> runs;
  std::function<void(const PollContext&)> fn() {
    return [this](const PollContext& ctx) { runs.push_back(ctx); };
  }
};

TaskSpec every(Duration interval, std::function<void(const PollContext&)> run) {
  TaskSpec spec;
  spec.interval = interval;
  spec.run = std::move(run);
  return spec;
}

std::size_t runDue(Scheduler& s) {
  auto n = s.runDueTasks();
  REQUIRE(n.isOk());
  return *n;
}

}  // namespace

TEST_CASE("first run is immediate, then start-to-start every interval") {
  ManualClock clock(kT0);
  Scheduler s(clock);
  Recorder rec;
  auto spec = every(1s, [&](const PollContext& ctx) {
    rec.runs.push_back(ctx);
    clock.advance(300ms);  // a run that takes time does not shift the cadence
  });
  spec.timeout = 2s;
  auto id = s.add(std::move(spec));
  REQUIRE(id.isOk());
  CHECK(*id != 0);

  CHECK(runDue(s) == 1);
  REQUIRE(rec.runs.size() == 1);
  CHECK(rec.runs[0].id == *id);
  CHECK(rec.runs[0].scheduled == kT0);
  CHECK(rec.runs[0].deadline == kT0 + 2s);
  CHECK_FALSE(rec.runs[0].triggered);
  CHECK(*s.nextRunAt(*id) == kT0 + 1s);

  clock.set(kT0 + 999ms);
  CHECK(runDue(s) == 0);
  for (int k = 1; k <= 5; ++k) {
    clock.set(kT0 + Seconds(k));
    CHECK(runDue(s) == 1);
  }
  REQUIRE(rec.runs.size() == 6);
  for (std::size_t k = 0; k < rec.runs.size(); ++k) {
    CHECK(rec.runs[k].scheduled == kT0 + Seconds(k));
  }
  CHECK(s.stats().runs == 6);
  CHECK(s.stats().skips == 0);
  CHECK(s.stats().lateness.max == Duration::zero());
}

TEST_CASE("the timeout defaults to the interval") {
  ManualClock clock(kT0);
  Scheduler s(clock);
  Recorder rec;
  auto id = s.add(every(7s, rec.fn()));
  REQUIRE(id.isOk());
  runDue(s);
  REQUIRE(rec.runs.size() == 1);
  CHECK(rec.runs[0].deadline == kT0 + 7s);
  REQUIRE(s.update(*id, 3s).isOk());  // and follows it
  clock.set(kT0 + 3s);
  runDue(s);
  REQUIRE(rec.runs.size() == 2);
  CHECK(rec.runs[1].deadline == kT0 + 6s);
}

TEST_CASE("firstRunAt is honoured exactly, without splay") {
  ManualClock clock(kT0);
  Scheduler s(clock);
  Recorder rec;
  for (int i = 0; i < 3; ++i) {
    auto spec = every(1s, rec.fn());
    spec.firstRunAt = kT0 + 5s;
    auto id = s.add(std::move(spec));
    REQUIRE(id.isOk());
    CHECK(*s.nextRunAt(*id) == kT0 + 5s);
  }
  clock.set(kT0 + 4s);
  CHECK(runDue(s) == 0);
  clock.set(kT0 + 5s);
  CHECK(runDue(s) == 3);
}

TEST_CASE("update changes the interval from the last slot") {
  ManualClock clock(kT0);
  Scheduler s(clock);
  Recorder rec;
  auto id = s.add(every(1s, rec.fn()));
  REQUIRE(id.isOk());
  runDue(s);

  REQUIRE(s.update(*id, 5s).isOk());
  CHECK(*s.nextRunAt(*id) == kT0 + 5s);
  clock.set(kT0 + 4s);
  CHECK(runDue(s) == 0);
  clock.set(kT0 + 5s);
  CHECK(runDue(s) == 1);

  // Shorter, and last slot + new interval already passed: runs now.
  clock.set(kT0 + 7s);
  REQUIRE(s.update(*id, 1s, 500ms).isOk());
  CHECK(*s.nextRunAt(*id) == kT0 + 7s);
  CHECK(runDue(s) == 1);
  REQUIRE(rec.runs.size() == 3);
  CHECK(rec.runs[2].scheduled == kT0 + 7s);
  CHECK(rec.runs[2].deadline == kT0 + 7500ms);
  CHECK(*s.nextRunAt(*id) == kT0 + 8s);
  CHECK(s.stats().skips == 0);

  SECTION("a task that has not run yet keeps its first slot") {
    auto spec = every(1s, rec.fn());
    spec.firstRunAt = kT0 + 100s;
    auto later = s.add(std::move(spec));
    REQUIRE(later.isOk());
    REQUIRE(s.update(*later, 10s).isOk());
    CHECK(*s.nextRunAt(*later) == kT0 + 100s);
  }
}

TEST_CASE("remove stops runs") {
  ManualClock clock(kT0);
  Scheduler s(clock);
  Recorder rec;
  auto id = s.add(every(1s, rec.fn()));
  auto other = s.add(every(1s, [](const PollContext&) {}));
  REQUIRE(id.isOk());
  REQUIRE(other.isOk());
  runDue(s);
  REQUIRE(s.remove(*id).isOk());
  for (int k = 1; k <= 3; ++k) {
    clock.set(kT0 + Seconds(k));
    CHECK(runDue(s) == 1);  // only the other task
  }
  CHECK(rec.runs.size() == 1);
  CHECK(s.stats().tasks == 1);
  CHECK(s.remove(*id).code() == StatusCode::kNotFound);
  CHECK(s.nextRunAt(*id).status().code() == StatusCode::kNotFound);

  SECTION("a task may remove itself from its own run") {
    int runs = 0;
    TaskId self = 0;
    auto selfId = s.add(every(1s, [&](const PollContext&) {
      ++runs;
      CHECK(s.remove(self).isOk());
    }));
    REQUIRE(selfId.isOk());
    self = *selfId;
    runDue(s);
    clock.advance(5s);
    runDue(s);
    CHECK(runs == 1);
  }
  SECTION("removeAndWait cannot wait for its own run") {
    TaskId self = 0;
    Status fromRun;
    auto selfId = s.add(every(1s, [&](const PollContext&) { fromRun = s.removeAndWait(self); }));
    REQUIRE(selfId.isOk());
    self = *selfId;
    runDue(s);
    CHECK(fromRun.code() == StatusCode::kFailedPrecondition);
    CHECK(s.nextRunAt(self).status().code() == StatusCode::kNotFound);  // removed anyway
  }
  SECTION("removeAndWait of an idle task returns at once") {
    CHECK(s.removeAndWait(*other, 1s).isOk());
    CHECK(s.stats().tasks == 0);
  }
}

TEST_CASE("a slot that comes while the run is in flight is skipped and counted") {
  ManualClock clock(kT0);
  Scheduler s(clock);
  Recorder other;
  std::vector<TimePoint> slots;
  std::size_t nestedRuns = 99;
  bool first = true;
  auto id = s.add(every(1s, [&](const PollContext& ctx) {
    slots.push_back(ctx.scheduled);
    if (!first) return;
    first = false;
    // While this run is in flight, time passes and the scheduler keeps dispatching.
    clock.set(kT0 + 2500ms);
    nestedRuns = runDue(s);
  }));
  REQUIRE(id.isOk());
  auto otherSpec = every(1s, other.fn());
  otherSpec.firstRunAt = kT0 + 2s;
  auto otherId = s.add(std::move(otherSpec));
  REQUIRE(otherId.isOk());

  CHECK(runDue(s) >= 1);
  // Inside: slots T0+1s and T0+2s of the busy task were skipped, not queued; the other task ran.
  CHECK(nestedRuns >= 1);
  CHECK(s.stats().skips == 2);
  CHECK(*s.nextRunAt(*id) == kT0 + 3s);
  REQUIRE_FALSE(other.runs.empty());

  clock.set(kT0 + 3s);
  runDue(s);
  REQUIRE(slots.size() == 2);
  CHECK(slots[1] == kT0 + 3s);
  CHECK(s.stats().skips == 2);
}

TEST_CASE("a scheduler late by whole intervals runs the latest slot once") {
  ManualClock clock(kT0);
  Scheduler s(clock);
  Recorder rec;
  auto id = s.add(every(1s, rec.fn()));
  REQUIRE(id.isOk());
  runDue(s);
  clock.set(kT0 + 5500ms);
  CHECK(runDue(s) == 1);
  REQUIRE(rec.runs.size() == 2);
  CHECK(rec.runs[1].scheduled == kT0 + 5s);
  CHECK(s.stats().skips == 4);  // T0+1..4s
  CHECK(s.stats().lateness.max == 500ms);
  CHECK(*s.nextRunAt(*id) == kT0 + 6s);
}

TEST_CASE("triggerNow runs as soon as possible and re-bases the cadence") {
  ManualClock clock(kT0);
  Scheduler s(clock);
  Recorder rec;
  auto id = s.add(every(10s, rec.fn()));
  REQUIRE(id.isOk());
  runDue(s);
  clock.set(kT0 + 2s);
  REQUIRE(s.triggerNow(*id).isOk());
  CHECK(*s.nextRunAt(*id) == kT0 + 2s);
  CHECK(runDue(s) == 1);
  REQUIRE(rec.runs.size() == 2);
  CHECK(rec.runs[1].scheduled == kT0 + 2s);
  CHECK(rec.runs[1].triggered);
  CHECK(*s.nextRunAt(*id) == kT0 + 12s);
  CHECK(s.stats().triggers == 1);
  CHECK(s.triggerNow(9999).code() == StatusCode::kNotFound);

  SECTION("a trigger during a run runs right after it, once") {
    int runs = 0;
    TaskId self = 0;
    auto selfId = s.add(every(10s, [&](const PollContext&) {
      if (++runs == 1) {
        CHECK(s.triggerNow(self).isOk());
        CHECK(s.triggerNow(self).isOk());  // collapses with the first
      }
    }));
    REQUIRE(selfId.isOk());
    self = *selfId;
    CHECK(runDue(s) == 2);
    CHECK(runs == 2);
    CHECK(*s.nextRunAt(self) == kT0 + 12s);
  }
}

TEST_CASE("an inline run that overruns its deadline gets onTimeout once") {
  ManualClock clock(kT0);
  Scheduler s(clock);
  int timeouts = 0;
  Duration runTakes = 3s;
  auto spec = every(10s, [&](const PollContext&) { clock.advance(runTakes); });
  spec.timeout = 2s;
  spec.onTimeout = [&] { ++timeouts; };
  auto id = s.add(std::move(spec));
  REQUIRE(id.isOk());
  runDue(s);
  CHECK(timeouts == 1);
  CHECK(s.stats().timeouts == 1);
  runTakes = 1s;
  clock.set(kT0 + 10s);
  runDue(s);
  CHECK(timeouts == 1);
}

TEST_CASE("tasks added at once are splayed deterministically, never by min(interval, 1s)") {
  auto firstRuns = [](Duration interval, int n) {
    ManualClock clock(kT0);
    Scheduler s(clock);
    std::vector<TimePoint> out;
    for (int i = 0; i < n; ++i) {
      auto id = s.add(every(interval, [](const PollContext&) {}));
      REQUIRE(id.isOk());
      out.push_back(*s.nextRunAt(*id));
    }
    return out;
  };

  SECTION("10,000 tasks at 1 s spread over the second, at most 10 per millisecond") {
    auto runs = firstRuns(1s, 10'000);
    CHECK(runs.front() == kT0);
    std::map<std::int64_t, int> perMs;
    for (TimePoint t : runs) {
      REQUIRE(t >= kT0);
      REQUIRE(t < kT0 + 1s);
      ++perMs[std::chrono::duration_cast<Millis>(t - kT0).count()];
    }
    CHECK(perMs.size() == 1000);
    for (auto [ms, n] : perMs) CHECK(n <= 10);
    CHECK(firstRuns(1s, 10'000) == runs);  // deterministic
  }
  SECTION("short intervals bound the splay") {
    for (TimePoint t : firstRuns(200ms, 5000)) {
      REQUIRE(t >= kT0);
      REQUIRE(t < kT0 + 200ms);
    }
  }
  SECTION("long intervals are splayed within 1 s") {
    for (TimePoint t : firstRuns(300s, 20'000)) {
      REQUIRE(t >= kT0);
      REQUIRE(t < kT0 + 1s);
    }
  }
  SECTION("a task added after the burst has drained runs immediately") {
    ManualClock clock(kT0);
    Scheduler s(clock);
    for (int i = 0; i < 100; ++i) REQUIRE(s.add(every(1s, [](const PollContext&) {})).isOk());
    clock.advance(20ms);  // 100 * 100 us = 10 ms: drained
    auto id = s.add(every(1s, [](const PollContext&) {}));
    REQUIRE(id.isOk());
    CHECK(*s.nextRunAt(*id) == kT0 + 20ms);
  }
}

TEST_CASE("lateness statistics") {
  ManualClock clock(kT0);
  Scheduler s(clock);
  for (int i = 0; i < 100; ++i) {
    auto spec = every(1s, [](const PollContext&) {});
    spec.firstRunAt = kT0;
    REQUIRE(s.add(std::move(spec)).isOk());
  }
  clock.set(kT0 + 250ms);
  CHECK(runDue(s) == 100);
  auto st = s.stats();
  CHECK(st.runs == 100);
  CHECK(st.lateness.count == 100);
  CHECK(st.lateness.max == 250ms);
  CHECK(st.lateness.p50 == 250ms);  // clamped to the exact max
  CHECK(st.lateness.p99 == 250ms);
  CHECK(st.lateness.sumSeconds == Approx(25.0));
  auto buckets = s.latenessHistogram({0.1, 0.5});
  REQUIRE(buckets.size() == 3);
  CHECK(buckets[0].count == 0);
  CHECK(buckets[1].count == 100);
  CHECK(buckets[2].count == 100);
  s.resetLateness();
  CHECK(s.stats().lateness.count == 0);
  CHECK(s.stats().runs == 100);
}

TEST_CASE("invalid arguments and states are reported as Status") {
  ManualClock clock(kT0);
  Scheduler s(clock);
  CHECK(s.add(every(0s, [](const PollContext&) {})).status().code() ==
        StatusCode::kInvalidArgument);
  CHECK(s.add(every(1s, nullptr)).status().code() == StatusCode::kInvalidArgument);
  auto negative = every(1s, [](const PollContext&) {});
  negative.timeout = -1s;
  CHECK(s.add(std::move(negative)).status().code() == StatusCode::kInvalidArgument);
  auto id = s.add(every(1s, [](const PollContext&) {}));
  REQUIRE(id.isOk());
  CHECK(s.update(*id, 0s).code() == StatusCode::kInvalidArgument);
  CHECK(s.update(424242, 1s).code() == StatusCode::kNotFound);

  REQUIRE(s.start().isOk());
  CHECK(s.start().code() == StatusCode::kFailedPrecondition);
  CHECK(s.runDueTasks().status().code() == StatusCode::kFailedPrecondition);
  CHECK(s.stop().isOk());
  CHECK(s.stop().isOk());  // idempotent
  CHECK(s.start().code() == StatusCode::kFailedPrecondition);
}
