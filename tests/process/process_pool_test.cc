#include "updraft/process_pool.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <set>

#include "process_test_util.h"

using namespace updraft;
using namespace updraft::testing;
using State = ProcessMemberStatus::State;

namespace {

std::unique_ptr<ProcessPoolTarget> makePool(const std::string& name,
                                            std::vector<std::string> command,
                                            ProcessPoolOptions options, int32_t replicas = 0) {
  ProcessPoolSpec spec;
  spec.command = std::move(command);
  spec.initialReplicas = replicas;
  auto pool = ProcessPoolTarget::create(name, spec, std::move(options));
  REQUIRE(pool.isOk());
  return std::move(pool).value();
}

ProcessPoolOptions quiet(LineCollector& out, Millis grace = 5s) {
  ProcessPoolOptions o;
  o.gracePeriod = grace;
  o.output = out.sink();
  return o;
}

int32_t ready(ProcessPoolTarget& pool) {
  auto r = pool.readyReplicas();
  REQUIRE(r.isOk());
  return *r;
}

// pid of member `index` while it runs (0 otherwise).
pid_t memberPid(const ProcessPoolTarget& pool, int32_t index) {
  for (const auto& m : pool.status().members) {
    if (m.index == index && m.state == State::kRunning) return m.pid;
  }
  return 0;
}

// The integer after "<key>=" in the first collected line that has it.
pid_t valueAfter(const LineCollector& out, const std::string& key) {
  for (const auto& l : out.lines()) {
    auto at = l.find(key + "=");
    if (at != std::string::npos) return std::atoi(l.c_str() + at + key.size() + 1);
  }
  return 0;
}

const std::string kIgnoreTerm = "trap '' TERM; echo ready; exec sleep 100";

}  // namespace

TEST_CASE("ProcessPoolTarget scales 0 -> 3 -> 1 -> 0") {
  LineCollector out;
  auto pool = makePool("scale", {"sleep", "100"}, quiet(out));
  CHECK(pool->describe() == "ProcessPool/scale");
  CHECK(*pool->currentReplicas() == 0);
  CHECK(ready(*pool) == 0);

  REQUIRE(pool->setReplicas(3).isOk());
  CHECK(*pool->currentReplicas() == 3);
  REQUIRE(waitUntil([&] { return ready(*pool) == 3; }));
  std::vector<pid_t> pids;
  for (int i = 0; i < 3; ++i) pids.push_back(memberPid(*pool, i));
  CHECK(std::set<pid_t>(pids.begin(), pids.end()).size() == 3);
  for (pid_t pid : pids) {
    REQUIRE(pid > 0);
    CHECK(alive(pid));
    CHECK(procInfo(pid).pgrp == pid);  // its own process group
  }
  auto st = pool->status();
  CHECK(st.desired == 3);
  CHECK(st.running == 3);

  REQUIRE(pool->setReplicas(1).isOk());
  CHECK(*pool->currentReplicas() == 1);
  // The highest indexes go; member 0 keeps running, untouched.
  REQUIRE(waitUntil([&] { return dead(pids[1]) && dead(pids[2]); }));
  REQUIRE(waitUntil([&] { return ready(*pool) == 1 && pool->status().terminating == 0; }));
  CHECK(memberPid(*pool, 0) == pids[0]);
  CHECK(alive(pids[0]));

  REQUIRE(pool->setReplicas(0).isOk());
  REQUIRE(waitUntil([&] { return dead(pids[0]); }));
  REQUIRE(waitUntil([&] { return ready(*pool) == 0; }));
  CHECK(*pool->currentReplicas() == 0);
  CHECK(pool->status().restarts == 0);  // stopping is not crashing
}

TEST_CASE("ProcessPoolTarget honours SIGTERM within the grace period") {
  LineCollector out;
  auto pool = makePool("term", {"sleep", "100"}, quiet(out, 60s), 1);
  REQUIRE(waitUntil([&] { return memberPid(*pool, 0) > 0; }));
  pid_t pid = memberPid(*pool, 0);
  auto t0 = SteadyClock::now();
  REQUIRE(pool->setReplicas(0).isOk());
  // Gone long before the 60 s grace period: SIGTERM did it, not SIGKILL.
  REQUIRE(waitUntil([&] { return dead(pid); }, 30s));
  CHECK(SteadyClock::now() - t0 < 30s);
}

TEST_CASE("ProcessPoolTarget kills a member that ignores SIGTERM after the grace period") {
  LineCollector out;
  const auto grace = 700ms;
  auto pool = makePool("stubborn", {"sh", "-c", kIgnoreTerm}, quiet(out, grace), 1);
  REQUIRE(out.waitForLine("[stubborn-0] ready"));
  pid_t pid = memberPid(*pool, 0);
  REQUIRE(pid > 0);

  auto t0 = SteadyClock::now();
  REQUIRE(pool->setReplicas(0).isOk());
  auto returnedAfter = SteadyClock::now() - t0;
  CHECK(returnedAfter < grace);  // setReplicas does not wait for the process

  REQUIRE(waitUntil([&] { return pool->status().terminating == 1; }));
  CHECK(ready(*pool) == 0);
  REQUIRE(waitUntil([&] { return dead(pid); }));
  auto killedAfter = SteadyClock::now() - t0;
  CHECK(killedAfter >= grace);  // SIGTERM was ignored; SIGKILL came at the end of the grace
  REQUIRE(waitUntil([&] { return pool->status().terminating == 0; }));
}

TEST_CASE("ProcessPoolTarget scales up again while a stopped member is still terminating") {
  LineCollector out;
  auto pool = makePool("again", {"sh", "-c", kIgnoreTerm}, quiet(out, 60s), 1);
  REQUIRE(out.waitForCount("[again-0] ready", 1));
  pid_t old = memberPid(*pool, 0);
  REQUIRE(pool->setReplicas(0).isOk());
  REQUIRE(waitUntil([&] { return pool->status().terminating == 1; }));
  REQUIRE(pool->setReplicas(1).isOk());
  // A new member 0 starts without waiting for the old one's 60 s grace period.
  REQUIRE(out.waitForCount("[again-0] ready", 2));
  pid_t fresh = memberPid(*pool, 0);
  CHECK(fresh != old);
  CHECK(alive(old));
  auto st = pool->status();
  CHECK(st.running == 1);
  CHECK(st.terminating == 1);
  REQUIRE(st.members.size() == 2);
  CHECK(st.members[1].state == State::kTerminating);
  CHECK(st.members[1].pid == old);
  // Both ignore SIGTERM: kill them rather than waiting for the grace period.
  REQUIRE(pool->setReplicas(0).isOk());
  REQUIRE(waitUntil([&] { return pool->status().terminating == 2; }));
  kill(old, SIGKILL);
  kill(fresh, SIGKILL);
  REQUIRE(waitUntil([&] { return pool->status().terminating == 0; }));
  pool->shutdown();
  CHECK(dead(old));
  CHECK(dead(fresh));
}

TEST_CASE("ProcessPoolTarget members die with updraft") {
  // A forked copy of this test process plays updraft and is SIGKILLed: no destructor runs.
  int fds[2];
  REQUIRE(pipe(fds) == 0);
  pid_t fakeUpdraft = fork();
  REQUIRE(fakeUpdraft >= 0);
  if (fakeUpdraft == 0) {
    close(fds[0]);
    ProcessPoolSpec spec;
    spec.command = {"sleep", "100"};
    spec.initialReplicas = 1;
    ProcessPoolOptions options;
    options.output = [](std::string_view) {};
    auto pool = ProcessPoolTarget::create("orphan", spec, options);
    if (!pool.isOk()) _exit(1);
    pid_t member = 0;
    while (member == 0) {
      for (const auto& m : (*pool)->status().members) member = m.pid;
      usleep(10000);
    }
    if (write(fds[1], &member, sizeof member) != sizeof member) _exit(1);
    pause();
    _exit(0);
  }
  close(fds[1]);
  pid_t member = 0;
  ssize_t n = read(fds[0], &member, sizeof member);
  close(fds[0]);
  REQUIRE(n == sizeof member);
  REQUIRE(alive(member));
  kill(fakeUpdraft, SIGKILL);
  int status = 0;
  waitpid(fakeUpdraft, &status, 0);
  CHECK(waitUntil([&] { return dead(member); }));
}

TEST_CASE("ProcessPoolTarget restarts crashed members with a growing backoff") {
  LineCollector out;
  ProcessPoolOptions options = quiet(out);
  options.restartBackoffInitial = 100ms;
  options.restartBackoffMax = 400ms;
  // Each start prints the wall clock in ns, then exits 3.
  auto pool = makePool("crash", {"sh", "-c", "date +%s%N; exit 3"}, options, 1);
  REQUIRE(out.waitForCount("[crash-0] ", 5));
  auto lines = out.linesStartingWith("[crash-0] ");
  std::vector<long long> startsNs;
  for (const auto& l : lines) startsNs.push_back(std::atoll(l.c_str() + 10));
  // The gap between starts is at least the backoff: 100, 200, 400, 400 (capped) ms.
  const long long expected[] = {100, 200, 400, 400};
  for (int i = 0; i < 4; ++i) {
    INFO("restart " << i + 1);
    CHECK((startsNs[i + 1] - startsNs[i]) / 1'000'000 >= expected[i]);
  }
  auto st = pool->status();
  CHECK(st.restarts >= 4);
  REQUIRE(!st.members.empty());
  CHECK(st.members[0].restarts >= 4);
  CHECK(st.members[0].backoff == 400ms);
  CHECK(st.members[0].lastExit == "exit code 3");
  CHECK(pool->lastError().find("crash-0") != std::string::npos);
  CHECK(pool->lastError().find("exit code 3") != std::string::npos);
  CHECK(*pool->currentReplicas() == 1);
}

TEST_CASE("ProcessPoolTarget resets the backoff after a member ran long enough") {
  LineCollector out;
  ProcessPoolOptions options = quiet(out);
  options.restartBackoffInitial = 100ms;
  options.restartBackoffMax = 10s;
  options.restartBackoffResetAfter = 200ms;
  auto pool = makePool("reset", {"sh", "-c", "echo up; sleep 0.4; exit 1"}, options, 1);
  REQUIRE(out.waitForCount("[reset-0] up", 4));
  REQUIRE(waitUntil([&] { return pool->status().restarts >= 3; }));
  // Every run lasted > 200 ms, so the delay never grew past the initial one.
  CHECK(pool->status().members[0].backoff == 100ms);
}

TEST_CASE("ProcessPoolTarget reports a command that cannot be executed and keeps retrying") {
  LineCollector out;
  ProcessPoolOptions options = quiet(out);
  options.restartBackoffInitial = 20ms;
  options.restartBackoffMax = 80ms;

  SECTION("not in PATH") {
    auto pool = makePool("missing", {"updraft-no-such-command-xyz", "arg"}, options, 2);
    REQUIRE(waitUntil([&] { return pool->status().startFailures >= 4; }));
    auto error = pool->lastError();
    CHECK(error.find("updraft-no-such-command-xyz") != std::string::npos);
    CHECK(error.find("not found") != std::string::npos);
    CHECK(ready(*pool) == 0);
    CHECK(*pool->currentReplicas() == 2);
    auto st = pool->status();
    REQUIRE(st.members.size() == 2);
    CHECK(st.members[0].state == State::kWaiting);
    CHECK(st.members[0].lastExit.find("not found") != std::string::npos);
    CHECK(st.restarts == 0);
    REQUIRE(pool->setReplicas(0).isOk());
    REQUIRE(waitUntil([&] { return pool->status().members.empty(); }));
  }
  SECTION("absolute path") {
    auto pool = makePool("abs", {"/nonexistent/updraft/worker"}, options, 1);
    REQUIRE(waitUntil([&] { return pool->status().startFailures >= 2; }));
    CHECK(pool->lastError().find("/nonexistent/updraft/worker") != std::string::npos);
    CHECK(pool->lastError().find("No such file or directory") != std::string::npos);
  }
  SECTION("bad working directory") {
    ProcessPoolSpec spec;
    spec.command = {"true"};
    spec.workingDir = "/nonexistent/updraft-dir";
    spec.initialReplicas = 1;
    auto pool = ProcessPoolTarget::create("wd", spec, options);
    REQUIRE(pool.isOk());
    REQUIRE(waitUntil([&] { return (*pool)->status().startFailures >= 1; }));
    CHECK((*pool)->lastError().find("working directory \"/nonexistent/updraft-dir\"") !=
          std::string::npos);
  }
}

TEST_CASE("ProcessPoolTarget prefixes output lines and joins partial lines") {
  LineCollector out;
  ProcessPoolOptions options = quiet(out);
  options.restartBackoffInitial = 60s;  // one run only
  options.restartBackoffMax = 60s;
  const std::string script =
      "printf 'one\\ntw'; sleep 0.3; printf 'o\\n'; echo err >&2; "
      "head -c 100000 /dev/zero | tr '\\0' x; echo; printf 'no newline'";
  auto pool = makePool("out", {"sh", "-c", script}, options, 1);
  REQUIRE(out.waitForLine("[out-0] no newline"));  // flushed at EOF
  std::vector<std::string> expected = {"[out-0] one",
                                       "[out-0] two",
                                       "[out-0] err",
                                       "[out-0] " + std::string(65536, 'x'),
                                       "[out-0] " + std::string(100000 - 65536, 'x'),
                                       "[out-0] no newline"};
  CHECK(out.lines() == expected);
}

TEST_CASE("ProcessPoolTarget runs a single command string with /bin/sh -c, with env and dir") {
  LineCollector out;
  ProcessPoolOptions options = quiet(out);
  options.restartBackoffInitial = 60s;
  options.restartBackoffMax = 60s;
  ProcessPoolSpec spec;
  spec.command = {"echo \"idx=$UPDRAFT_REPLICA_INDEX pool=$UPDRAFT_POOL foo=$FOO dir=$(pwd)\""};
  spec.env = {{"FOO", "bar baz"}};
  spec.workingDir = "/tmp";
  spec.initialReplicas = 2;
  auto pool = ProcessPoolTarget::create("envy", spec, options);
  REQUIRE(pool.isOk());
  REQUIRE(out.waitForLine("[envy-0] idx=0 pool=envy foo=bar baz dir=/tmp"));
  REQUIRE(out.waitForLine("[envy-1] idx=1 pool=envy foo=bar baz dir=/tmp"));
  // They exited (code 0) and wait for their restart.
  REQUIRE(waitUntil([&] { return (*pool)->status().restarts == 2; }));
  CHECK((*pool)->lastError().find("exit code 0") != std::string::npos);
}

TEST_CASE("ProcessPoolTarget children get no other file descriptors") {
  int fd = open("/dev/null", O_RDONLY);  // deliberately without O_CLOEXEC
  REQUIRE(fd > 2);
  LineCollector out;
  ProcessPoolOptions options = quiet(out);
  options.restartBackoffInitial = 60s;
  options.restartBackoffMax = 60s;
  std::string script = "if [ -e /proc/$$/fd/" + std::to_string(fd) +
                       " ]; then echo leaked; else echo closed; fi; "
                       "if [ -e /proc/$$/fd/0 ]; then echo stdin; fi";
  auto pool = makePool("fds", {"sh", "-c", script}, options, 1);
  REQUIRE(out.waitForLine("[fds-0] stdin"));
  CHECK(out.lines() == std::vector<std::string>{"[fds-0] closed", "[fds-0] stdin"});
  close(fd);
}

TEST_CASE("ProcessPoolTarget signals the whole process group") {
  LineCollector out;
  SECTION("scale-down stops a shell's children") {
    auto pool = makePool("group", {"sh", "-c", "sleep 100 & echo child=$!; wait"}, quiet(out), 1);
    REQUIRE(out.waitForCount("[group-0] child=", 1));
    pid_t shell = memberPid(*pool, 0);
    pid_t child = valueAfter(out, "child");
    REQUIRE(child > 0);
    REQUIRE(alive(child));
    CHECK(procInfo(child).pgrp == shell);
    REQUIRE(pool->setReplicas(0).isOk());
    REQUIRE(waitUntil([&] { return dead(child) && dead(shell); }));
  }
  SECTION("a crashed member's leftover children are killed too") {
    ProcessPoolOptions options = quiet(out);
    options.restartBackoffInitial = 60s;
    options.restartBackoffMax = 60s;
    auto pool = makePool("leftover", {"sh", "-c", "sleep 100 & echo child=$!; exit 1"}, options, 1);
    REQUIRE(out.waitForCount("[leftover-0] child=", 1));
    pid_t child = valueAfter(out, "child");
    REQUIRE(child > 0);
    REQUIRE(waitUntil([&] { return pool->status().restarts == 1; }));
    REQUIRE(waitUntil([&] { return dead(child); }));
    CHECK(*pool->currentReplicas() == 1);
  }
}

TEST_CASE("ProcessPoolTarget's destructor leaves nothing running") {
  LineCollector out;
  std::vector<pid_t> pids;
  std::vector<pid_t> children;
  auto t0 = SteadyClock::now();
  {
    auto pool = makePool("dtor", {"sh", "-c", "sleep 100 & echo child=$!; " + kIgnoreTerm},
                         quiet(out, 300ms), 3);
    for (int i = 0; i < 3; ++i) {
      REQUIRE(out.waitForLine("[dtor-" + std::to_string(i) + "] ready"));
      pids.push_back(memberPid(*pool, i));
    }
    for (const auto& l : out.linesStartingWith("[dtor-")) {
      auto at = l.find("child=");
      if (at != std::string::npos) children.push_back(std::atoi(l.c_str() + at + 6));
    }
    REQUIRE(children.size() == 3);
    t0 = SteadyClock::now();
  }
  // The destructor waited: no polling needed.
  CHECK(SteadyClock::now() - t0 >= 300ms);  // they ignored SIGTERM
  for (pid_t pid : pids) {
    CHECK(dead(pid));
    CHECK(groupMembers(pid).empty());
  }
  for (pid_t pid : children) CHECK(dead(pid));
}

TEST_CASE("ProcessPoolTarget shutdown stops members and refuses further changes") {
  LineCollector out;
  auto pool = makePool("shut", {"sleep", "100"}, quiet(out), 2);
  REQUIRE(waitUntil([&] { return ready(*pool) == 2; }));
  pid_t a = memberPid(*pool, 0);
  pid_t b = memberPid(*pool, 1);
  pool->shutdown();
  CHECK(dead(a));
  CHECK(dead(b));
  CHECK(pool->setReplicas(1).code() == StatusCode::kFailedPrecondition);
  pool->shutdown();  // idempotent
}

TEST_CASE("ProcessPoolTarget reports CPU and memory usage of its members") {
  LineCollector out;
  ProcessPoolSpec spec;
  spec.command = {"sh", "-c", "while :; do :; done"};
  spec.cpuRequestCores = 0.5;
  spec.memoryRequestBytes = 64.0 * 1024 * 1024;
  ProcessPoolOptions options = quiet(out, 100ms);
  auto created = ProcessPoolTarget::create("busy", spec, options);
  REQUIRE(created.isOk());
  auto& pool = *created;
  CHECK(pool->cpuRequestCores() == 0.5);
  CHECK(pool->memoryRequestBytes() == 64.0 * 1024 * 1024);
  CHECK(pool->averageCpuCores().status().code() == StatusCode::kUnavailable);  // nobody runs

  REQUIRE(pool->setReplicas(1).isOk());
  REQUIRE(waitUntil([&] { return memberPid(*pool, 0) > 0; }));
  pid_t pid = memberPid(*pool, 0);
  clockid_t cpuClock;
  REQUIRE(clock_getcpuclockid(pid, &cpuClock) == 0);
  auto cpuSeconds = [&] {
    timespec ts{};
    REQUIRE(clock_gettime(cpuClock, &ts) == 0);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
  };

  // Measure 0.5 s windows until the busy loop got most of a core (the machine is shared), then the
  // reported rate must match what the kernel says it used, and be > 0.5 cores.
  double reported = 0;
  double reference = 0;
  auto deadline = SteadyClock::now() + 10s;
  do {
    REQUIRE(pool->averageCpuCores().isOk());  // starts a new window
    double c0 = cpuSeconds();
    auto w0 = SteadyClock::now();
    std::this_thread::sleep_for(500ms);
    auto r = pool->averageCpuCores();
    double c1 = cpuSeconds();
    auto w1 = SteadyClock::now();
    REQUIRE(r.isOk());
    reported = *r;
    reference = (c1 - c0) / std::chrono::duration<double>(w1 - w0).count();
    INFO("reported " << reported << " cores, kernel says " << reference);
    CHECK(reported == Approx(reference).margin(0.15));
  } while (reference < 0.6 && SteadyClock::now() < deadline);
  if (reference >= 0.6) {
    CHECK(reported > 0.5);
  } else {
    WARN("the busy loop never got 0.6 cores in a window: machine overloaded");
  }
  auto memory = pool->averageMemoryBytes();
  REQUIRE(memory.isOk());
  CHECK(*memory > 0);
}

TEST_CASE("ProcessPoolTarget validates its input") {
  ProcessPoolSpec spec;
  CHECK(ProcessPoolTarget::create("x", spec).status().code() == StatusCode::kInvalidArgument);
  spec.command = {"sleep", "1"};
  spec.gracePeriodSeconds = -1;
  auto bad = ProcessPoolTarget::create("x", spec);
  CHECK(bad.status().message().find("gracePeriodSeconds") != std::string::npos);
  spec.gracePeriodSeconds = 1;
  CHECK(ProcessPoolTarget::create("", spec).status().code() == StatusCode::kInvalidArgument);
  ProcessPoolOptions options;
  options.restartBackoffInitial = 0ms;
  CHECK(ProcessPoolTarget::create("x", spec, options).status().code() ==
        StatusCode::kInvalidArgument);

  ProcessPool model;
  model.metadata.name = "from-model";
  model.spec = spec;
  auto pool = ProcessPoolTarget::create(model);
  REQUIRE(pool.isOk());
  CHECK((*pool)->name() == "from-model");
  CHECK((*pool)->setReplicas(-1).code() == StatusCode::kInvalidArgument);
}
