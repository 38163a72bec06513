#include "updraft/process_pool.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <mutex>

#include "supervisor.h"

namespace updraft {

using process_detail::CommandLine;
using process_detail::ExitInfo;
using process_detail::formatDuration;
using process_detail::SteadyClock;
using process_detail::SteadyTime;
using process_detail::Supervisor;
using State = ProcessMemberStatus::State;

struct ProcessPoolTarget::Impl final : Supervisor::Client {
  struct Slot {
    State state = State::kWaiting;
    Supervisor::ChildId child = 0;
    pid_t pid = 0;
    SteadyTime startedAt{};
    SteadyTime nextStartAt = SteadyTime::min();
    Millis backoff{0};
    int32_t restarts = 0;
    std::string lastExit;
  };
  struct Terminating {
    int32_t index = 0;
    pid_t pid = 0;
    int32_t restarts = 0;
  };
  struct CpuSample {
    SteadyTime memberStart{};
    SteadyTime at{};
    uint64_t ticks = 0;
    double rate = 0;
    bool hasRate = false;
  };

  Impl(std::string name, ProcessPoolSpec spec, CommandLine command, ProcessPoolOptions options,
       Millis grace)
      : name(std::move(name)),
        spec(std::move(spec)),
        command(std::move(command)),
        grace(grace),
        options(std::move(options)),
        supervisor("ProcessPool/" + this->name, this->options.output) {}

  std::string describe() const { return "ProcessPool/" + name; }

  Millis nextBackoff(Millis current) const {
    if (current.count() <= 0) return options.restartBackoffInitial;
    return std::min(current * 2, options.restartBackoffMax);
  }

  // ---- Supervisor::Client (supervisor thread) ----

  SteadyTime onTick(SteadyTime now) override {
    std::lock_guard lock(mu);
    int32_t want = stopping_ ? 0 : desired;
    for (auto it = slots.lower_bound(want); it != slots.end();) {
      Slot& s = it->second;
      if (s.state == State::kRunning) {
        spdlog::info("{}: stopping member {} (pid {})", describe(), it->first, s.pid);
        supervisor.terminate(s.child, grace);
        terminating[s.child] = Terminating{it->first, s.pid, s.restarts};
      }
      it = slots.erase(it);
    }
    SteadyTime next = SteadyTime::max();
    for (int32_t i = 0; i < want; ++i) {
      Slot& s = slots[i];
      if (s.state != State::kWaiting) continue;
      if (now >= s.nextStartAt) startMember(i, s, now);
      if (s.state == State::kWaiting) next = std::min(next, s.nextStartAt);
    }
    return next;
  }

  void startMember(int32_t index, Slot& s, SteadyTime now) {
    auto spawned = supervisor.spawn(
        command, {{"UPDRAFT_POOL", name}, {"UPDRAFT_REPLICA_INDEX", std::to_string(index)}},
        fmt::format("[{}-{}] ", name, index));
    if (spawned.isOk()) {
      s.state = State::kRunning;
      s.child = spawned->id;
      s.pid = spawned->pid;
      s.startedAt = now;
      spdlog::info("{}: started member {} (pid {})", describe(), index, s.pid);
      return;
    }
    const std::string& why = spawned.status().message();
    s.backoff = nextBackoff(s.backoff);
    s.nextStartAt = now + s.backoff;
    s.restarts++;
    s.lastExit = why;
    startFailures++;
    lastError = fmt::format("{}-{}: {}", name, index, why);
    spdlog::error("{}: member {} failed to start: {}; retrying in {}", describe(), index, why,
                  formatDuration(s.backoff));
  }

  void onExit(Supervisor::ChildId id, const ExitInfo& exit, SteadyTime now) override {
    std::lock_guard lock(mu);
    if (auto t = terminating.find(id); t != terminating.end()) {
      spdlog::info("{}: member {} (pid {}) stopped: {}", describe(), t->second.index, t->second.pid,
                   exit.describe());
      terminating.erase(t);
      return;
    }
    for (auto& [index, s] : slots) {
      if (s.state != State::kRunning || s.child != id) continue;
      auto ran = std::chrono::duration_cast<Millis>(now - s.startedAt);
      if (ran >= options.restartBackoffResetAfter) s.backoff = Millis{0};
      s.backoff = nextBackoff(s.backoff);
      s.nextStartAt = now + s.backoff;
      s.restarts++;
      restarts++;
      s.lastExit = exit.describe();
      s.state = State::kWaiting;
      lastError = fmt::format("{}-{} (pid {}) exited after {}: {}", name, index, s.pid,
                              formatDuration(ran), s.lastExit);
      spdlog::warn("{}: member {} (pid {}) exited after {}: {}; restarting in {}", describe(),
                   index, s.pid, formatDuration(ran), s.lastExit, formatDuration(s.backoff));
      s.pid = 0;
      s.child = 0;
      return;
    }
  }

  bool stopping() override {
    std::lock_guard lock(mu);
    return stopping_;
  }

  // ---- helpers for the public API ----

  std::vector<std::pair<pid_t, SteadyTime>> runningMembers() const {
    std::lock_guard lock(mu);
    std::vector<std::pair<pid_t, SteadyTime>> out;
    for (const auto& [index, s] : slots) {
      if (s.state == State::kRunning) out.emplace_back(s.pid, s.startedAt);
    }
    return out;
  }

  const std::string name;
  const ProcessPoolSpec spec;
  const CommandLine command;
  const Millis grace;
  const ProcessPoolOptions options;

  mutable std::mutex mu;  // everything below
  int32_t desired = 0;
  bool stopping_ = false;
  std::map<int32_t, Slot> slots;
  std::map<Supervisor::ChildId, Terminating> terminating;
  int64_t restarts = 0;
  int64_t startFailures = 0;
  std::string lastError;

  std::mutex usageMu;
  std::map<pid_t, CpuSample> cpu;

  std::mutex shutdownMu;

  Supervisor supervisor;  // last: its thread uses the members above
};

Result<std::unique_ptr<ProcessPoolTarget>> ProcessPoolTarget::create(std::string name,
                                                                     ProcessPoolSpec spec,
                                                                     ProcessPoolOptions options) {
  auto context = "ProcessPool/" + name;
  if (name.empty()) return Status::invalidArgument("ProcessPool: metadata.name is required");
  auto command = process_detail::makeCommandLine(spec.command, spec.env, spec.workingDir);
  if (!command.isOk()) return command.status().withContext(context + ": spec");
  if (spec.gracePeriodSeconds < 0) {
    return Status::invalidArgument(context + ": spec.gracePeriodSeconds: must be >= 0");
  }
  if (spec.initialReplicas < 0) {
    return Status::invalidArgument(context + ": spec.initialReplicas: must be >= 0");
  }
  Millis grace = options.gracePeriod.value_or(Seconds(spec.gracePeriodSeconds));
  if (grace.count() < 0) return Status::invalidArgument(context + ": grace period must be >= 0");
  if (options.restartBackoffInitial.count() <= 0 ||
      options.restartBackoffMax < options.restartBackoffInitial ||
      options.restartBackoffResetAfter.count() < 0) {
    return Status::invalidArgument(context +
                                   ": restart backoff: need 0 < initial <= max and reset >= 0");
  }
  int32_t initial = spec.initialReplicas;
  auto impl = std::make_unique<Impl>(std::move(name), std::move(spec), std::move(*command),
                                     std::move(options), grace);
  impl->desired = initial;
  UPDRAFT_RETURN_IF_ERROR(impl->supervisor.start(impl.get()));
  return std::unique_ptr<ProcessPoolTarget>(new ProcessPoolTarget(std::move(impl)));
}

Result<std::unique_ptr<ProcessPoolTarget>> ProcessPoolTarget::create(const ProcessPool& pool,
                                                                     ProcessPoolOptions options) {
  return create(pool.metadata.name, pool.spec, std::move(options));
}

ProcessPoolTarget::ProcessPoolTarget(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

ProcessPoolTarget::~ProcessPoolTarget() { shutdown(); }

const std::string& ProcessPoolTarget::name() const { return impl_->name; }

std::string ProcessPoolTarget::describe() const { return impl_->describe(); }

Result<int32_t> ProcessPoolTarget::currentReplicas() {
  std::lock_guard lock(impl_->mu);
  return impl_->desired;
}

Result<int32_t> ProcessPoolTarget::readyReplicas() {
  std::lock_guard lock(impl_->mu);
  return static_cast<int32_t>(std::count_if(impl_->slots.begin(), impl_->slots.end(), [](auto& s) {
    return s.second.state == State::kRunning;
  }));
}

Status ProcessPoolTarget::setReplicas(int32_t replicas) {
  if (replicas < 0) {
    return Status::invalidArgument(
        fmt::format("{}: replicas must be >= 0, got {}", describe(), replicas));
  }
  {
    std::lock_guard lock(impl_->mu);
    if (impl_->stopping_) {
      return Status::failedPrecondition(describe() + ": the pool has been shut down");
    }
    impl_->desired = replicas;
  }
  impl_->supervisor.wake();
  return Status::ok();
}

Result<double> ProcessPoolTarget::averageCpuCores() {
  auto members = impl_->runningMembers();
  if (members.empty()) return Status::unavailable(describe() + ": no member is running");
  std::vector<pid_t> pgids;
  for (const auto& m : members) pgids.push_back(m.first);
  auto usage = process_detail::readGroupUsage(pgids);
  auto now = SteadyClock::now();
  static const double kTicksPerSecond = static_cast<double>(sysconf(_SC_CLK_TCK));

  std::lock_guard lock(impl_->usageMu);
  double sum = 0;
  int n = 0;
  for (const auto& [pid, started] : members) {
    auto u = usage.find(pid);
    if (u == usage.end()) continue;  // exited since
    auto& sample = impl_->cpu[pid];
    if (sample.memberStart != started) sample = Impl::CpuSample{started, started, 0, 0, false};
    double dt = std::chrono::duration<double>(now - sample.at).count();
    // Tick granularity is 10 ms: keep the last rate when asked again too soon.
    if (!sample.hasRate || dt >= 0.1) {
      double used = (static_cast<double>(u->second.ticks) - static_cast<double>(sample.ticks)) /
                    kTicksPerSecond;
      sample.rate = dt > 0 ? std::max(0.0, used / dt) : 0.0;
      sample.hasRate = true;
      sample.at = now;
      sample.ticks = u->second.ticks;
    }
    sum += sample.rate;
    ++n;
  }
  std::erase_if(impl_->cpu, [&](const auto& entry) {
    return std::none_of(members.begin(), members.end(),
                        [&](const auto& m) { return m.first == entry.first; });
  });
  if (n == 0) return Status::unavailable(describe() + ": no member is running");
  return sum / n;
}

Result<double> ProcessPoolTarget::averageMemoryBytes() {
  auto members = impl_->runningMembers();
  if (members.empty()) return Status::unavailable(describe() + ": no member is running");
  std::vector<pid_t> pgids;
  for (const auto& m : members) pgids.push_back(m.first);
  auto usage = process_detail::readGroupUsage(pgids);
  if (usage.empty()) return Status::unavailable(describe() + ": no member is running");
  static const double kPageSize = static_cast<double>(sysconf(_SC_PAGESIZE));
  double sum = 0;
  for (const auto& [pgid, u] : usage) sum += static_cast<double>(u.rssPages) * kPageSize;
  return sum / static_cast<double>(usage.size());
}

std::optional<double> ProcessPoolTarget::cpuRequestCores() const {
  return impl_->spec.cpuRequestCores;
}

std::optional<double> ProcessPoolTarget::memoryRequestBytes() const {
  return impl_->spec.memoryRequestBytes;
}

ProcessPoolStatus ProcessPoolTarget::status() const {
  std::lock_guard lock(impl_->mu);
  ProcessPoolStatus st;
  st.desired = impl_->desired;
  st.restarts = impl_->restarts;
  st.startFailures = impl_->startFailures;
  st.lastError = impl_->lastError;
  auto now = SteadyClock::now();
  for (const auto& [index, s] : impl_->slots) {
    ProcessMemberStatus m;
    m.index = index;
    m.state = s.state;
    m.pid = s.pid;
    m.restarts = s.restarts;
    m.backoff = s.backoff;
    if (s.state == State::kWaiting && s.nextStartAt > now) {
      m.restartIn = std::chrono::ceil<Millis>(s.nextStartAt - now);
    }
    m.lastExit = s.lastExit;
    if (s.state == State::kRunning) st.running++;
    st.members.push_back(std::move(m));
  }
  std::vector<ProcessMemberStatus> stopping;
  for (const auto& [id, t] : impl_->terminating) {
    ProcessMemberStatus m;
    m.index = t.index;
    m.state = State::kTerminating;
    m.pid = t.pid;
    m.restarts = t.restarts;
    stopping.push_back(std::move(m));
  }
  std::sort(stopping.begin(), stopping.end(),
            [](const auto& a, const auto& b) { return a.index < b.index; });
  st.terminating = static_cast<int32_t>(stopping.size());
  st.members.insert(st.members.end(), stopping.begin(), stopping.end());
  return st;
}

std::string ProcessPoolTarget::lastError() const {
  std::lock_guard lock(impl_->mu);
  return impl_->lastError;
}

void ProcessPoolTarget::shutdown() {
  std::lock_guard shutdownLock(impl_->shutdownMu);
  {
    std::lock_guard lock(impl_->mu);
    impl_->stopping_ = true;
  }
  impl_->supervisor.wake();
  impl_->supervisor.join();
}

}  // namespace updraft
