#include "updraft/process_job_runner.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <condition_variable>
#include <deque>
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

namespace {

constexpr Millis kDefaultJobGrace = Seconds(10);

// Kubernetes' $(VAR) expansion (k8s.io/third_party/forked/golang/expansion): defined names are
// replaced, unknown ones are kept as written, "$$" gives "$".
std::string expandReferences(std::string_view in, const StringMap& vars) {
  std::string out;
  size_t i = 0;
  while (i < in.size()) {
    if (in[i] != '$' || i + 1 >= in.size()) {
      out += in[i++];
      continue;
    }
    char next = in[i + 1];
    if (next == '$') {
      out += '$';
      i += 2;
    } else if (next == '(') {
      size_t close = in.find(')', i + 2);
      if (close == std::string_view::npos) {
        out += "$(";
        i += 2;
        continue;
      }
      std::string name(in.substr(i + 2, close - i - 2));
      auto it = vars.find(name);
      out += it != vars.end() ? it->second : "$(" + name + ")";
      i = close + 1;
    } else {
      out += '$';
      out += next;
      i += 2;
    }
  }
  return out;
}

Result<std::vector<std::string>> stringList(const nlohmann::json& parent, const char* key,
                                            const std::string& path) {
  std::vector<std::string> out;
  auto it = parent.find(key);
  if (it == parent.end() || it->is_null()) return out;
  if (!it->is_array()) {
    return Status::invalidArgument(fmt::format("{}.{}: must be a list of strings", path, key));
  }
  for (size_t i = 0; i < it->size(); ++i) {
    const auto& v = (*it)[i];
    if (!v.is_string()) {
      return Status::invalidArgument(fmt::format("{}.{}[{}]: must be a string", path, key, i));
    }
    out.push_back(v.get<std::string>());
  }
  return out;
}

Result<const nlohmann::json*> childObject(const nlohmann::json& parent, const char* key,
                                          const std::string& path) {
  auto it = parent.find(key);
  if (it == parent.end() || it->is_null()) {
    return Status::invalidArgument(fmt::format("{}.{}: required", path, key));
  }
  if (!it->is_object()) {
    return Status::invalidArgument(fmt::format("{}.{}: must be an object", path, key));
  }
  return &*it;
}

Result<std::optional<int64_t>> optionalInteger(const nlohmann::json& parent, const char* key,
                                               const std::string& path, int64_t min) {
  auto it = parent.find(key);
  if (it == parent.end() || it->is_null()) return std::optional<int64_t>();
  if (!it->is_number_integer()) {
    return Status::invalidArgument(fmt::format("{}.{}: must be an integer", path, key));
  }
  auto v = it->get<int64_t>();
  if (v < min) {
    return Status::invalidArgument(fmt::format("{}.{}: must be >= {}, got {}", path, key, min, v));
  }
  return std::optional<int64_t>(v);
}

}  // namespace

Result<JobCommand> jobCommandFromJobTargetRef(const nlohmann::json& jobTargetRef) {
  std::string path = "jobTargetRef";
  if (!jobTargetRef.is_object()) {
    return Status::invalidArgument(path + ": must be an object (a batch/v1 JobSpec)");
  }
  JobCommand job;
  auto deadline = optionalInteger(jobTargetRef, "activeDeadlineSeconds", path, 1);
  if (!deadline.isOk()) return deadline.status();
  if (*deadline) job.activeDeadline = Seconds(**deadline);

  auto tmpl = childObject(jobTargetRef, "template", path);
  if (!tmpl.isOk()) return tmpl.status();
  path += ".template";
  auto podSpec = childObject(**tmpl, "spec", path);
  if (!podSpec.isOk()) return podSpec.status();
  path += ".spec";
  auto grace = optionalInteger(**podSpec, "terminationGracePeriodSeconds", path, 0);
  if (!grace.isOk()) return grace.status();
  if (*grace) job.gracePeriod = Seconds(**grace);

  auto containers = (*podSpec)->find("containers");
  if (containers == (*podSpec)->end() || !containers->is_array() || containers->empty()) {
    return Status::invalidArgument(path +
                                   ".containers: a non-empty list of containers is required");
  }
  const auto& container = (*containers)[0];
  path += ".containers[0]";
  if (!container.is_object()) return Status::invalidArgument(path + ": must be an object");

  auto command = stringList(container, "command", path);
  if (!command.isOk()) return command.status();
  auto args = stringList(container, "args", path);
  if (!args.isOk()) return args.status();
  if (command->empty()) {
    return Status::invalidArgument(
        path +
        ".command: required to run the job as a local process (there is no image "
        "entrypoint)");
  }

  // env: ordered, later entries may refer to earlier ones; the last definition of a name wins.
  StringMap env;
  if (auto it = container.find("env"); it != container.end() && !it->is_null()) {
    if (!it->is_array()) return Status::invalidArgument(path + ".env: must be a list");
    for (size_t i = 0; i < it->size(); ++i) {
      const auto& e = (*it)[i];
      std::string at = fmt::format("{}.env[{}]", path, i);
      if (!e.is_object()) return Status::invalidArgument(at + ": must be an object");
      auto name = e.find("name");
      if (name == e.end() || !name->is_string() || name->get<std::string>().empty()) {
        return Status::invalidArgument(at + ".name: required");
      }
      if (e.contains("valueFrom")) {
        return Status::invalidArgument(at + ".valueFrom: not supported by updraft run (use value)");
      }
      std::string value;
      if (auto v = e.find("value"); v != e.end() && !v->is_null()) {
        if (!v->is_string()) return Status::invalidArgument(at + ".value: must be a string");
        value = expandReferences(v->get<std::string>(), env);
      }
      env[name->get<std::string>()] = std::move(value);
    }
  }
  if (auto it = container.find("envFrom"); it != container.end() && !it->is_null()) {
    return Status::invalidArgument(path + ".envFrom: not supported by updraft run (use env)");
  }

  for (const auto& s : *command) job.command.push_back(expandReferences(s, env));
  for (const auto& s : *args) job.command.push_back(expandReferences(s, env));
  job.env = std::move(env);
  if (auto it = container.find("workingDir"); it != container.end() && !it->is_null()) {
    if (!it->is_string()) return Status::invalidArgument(path + ".workingDir: must be a string");
    job.workingDir = it->get<std::string>();
  }
  return job;
}

// ---------------------------------------------------------------------------------------------

struct ProcessJobRunner::Impl final : Supervisor::Client {
  struct Request {
    int32_t count = 0;
    int32_t started = 0;
    bool done = false;
  };
  struct Running {
    int64_t number = 0;
    pid_t pid = 0;
    SteadyTime startedAt{};
    TimePoint startTime{};
    bool terminated = false;
    bool deadlineExceeded = false;
  };

  Impl(std::string name, CommandLine command, std::optional<Seconds> activeDeadline, Millis grace,
       ProcessJobRunnerOptions options)
      : name(std::move(name)),
        command(std::move(command)),
        activeDeadline(activeDeadline),
        grace(grace),
        options(std::move(options)),
        supervisor("ScaledJob/" + this->name, this->options.output) {}

  std::string describe() const { return "ScaledJob/" + name; }

  // ---- Supervisor::Client (supervisor thread) ----

  SteadyTime onTick(SteadyTime now) override {
    std::lock_guard lock(mu);
    if (!requests.empty()) {
      for (Request* r : requests) {
        while (!stopping_ && r->started < r->count && startJob(now)) r->started++;
        r->done = true;
      }
      requests.clear();
      requestsDone.notify_all();
    }
    SteadyTime next = SteadyTime::max();
    for (auto& [id, job] : running) {
      if (job.terminated) continue;
      if (stopping_) {
        supervisor.terminate(id, grace);
        job.terminated = true;
      } else if (activeDeadline) {
        SteadyTime deadline = job.startedAt + *activeDeadline;
        if (now >= deadline) {
          spdlog::warn("{}: job {} (pid {}) exceeded its activeDeadlineSeconds ({}); stopping it",
                       describe(), job.number, job.pid, activeDeadline->count());
          supervisor.terminate(id, grace);
          job.terminated = true;
          job.deadlineExceeded = true;
        } else {
          next = std::min(next, deadline);
        }
      }
    }
    return next;
  }

  bool startJob(SteadyTime now) {
    int64_t number = nextNumber++;
    auto spawned = supervisor.spawn(command, {{"UPDRAFT_JOB", std::to_string(number)}},
                                    fmt::format("[{}-job-{}] ", name, number));
    if (!spawned.isOk()) {
      startFailures++;
      lastError = fmt::format("{}-job-{}: {}", name, number, spawned.status().message());
      spdlog::error("{}: job {} failed to start: {}", describe(), number,
                    spawned.status().message());
      return false;
    }
    Running job;
    job.number = number;
    job.pid = spawned->pid;
    job.startedAt = now;
    job.startTime = std::chrono::system_clock::now();
    running.emplace(spawned->id, job);
    started++;
    spdlog::info("{}: started job {} (pid {})", describe(), number, job.pid);
    return true;
  }

  void onExit(Supervisor::ChildId id, const ExitInfo& exit, SteadyTime now) override {
    std::lock_guard lock(mu);
    auto it = running.find(id);
    if (it == running.end()) return;
    const Running& job = it->second;
    FinishedJob done;
    done.number = job.number;
    done.pid = job.pid;
    done.succeeded = exit.success() && !job.deadlineExceeded;
    done.result = exit.describe() + (job.deadlineExceeded ? " (deadline exceeded)" : "");
    done.startTime = job.startTime;
    done.finishTime = std::chrono::system_clock::now();
    auto ran = formatDuration(std::chrono::duration_cast<Millis>(now - job.startedAt));
    if (done.succeeded) {
      succeeded++;
      spdlog::info("{}: job {} (pid {}) succeeded after {}", describe(), job.number, job.pid, ran);
      keep(successfulJobs, std::move(done), options.successfulJobsHistoryLimit);
    } else {
      failed++;
      lastError = fmt::format("{}-job-{} (pid {}) failed after {}: {}", name, job.number, job.pid,
                              ran, done.result);
      spdlog::warn("{}: job {} (pid {}) failed after {}: {}", describe(), job.number, job.pid, ran,
                   done.result);
      keep(failedJobs, std::move(done), options.failedJobsHistoryLimit);
    }
    running.erase(it);
  }

  static void keep(std::deque<FinishedJob>& history, FinishedJob job, int32_t limit) {
    history.push_back(std::move(job));
    while (static_cast<int64_t>(history.size()) > std::max<int32_t>(limit, 0)) {
      history.pop_front();
    }
  }

  bool stopping() override {
    std::lock_guard lock(mu);
    return stopping_ && requests.empty();
  }

  const std::string name;
  const CommandLine command;
  const std::optional<Seconds> activeDeadline;
  const Millis grace;
  const ProcessJobRunnerOptions options;

  mutable std::mutex mu;  // everything below
  std::condition_variable requestsDone;
  bool stopping_ = false;
  std::vector<Request*> requests;
  std::map<Supervisor::ChildId, Running> running;
  int64_t nextNumber = 1;
  int64_t started = 0;
  int64_t succeeded = 0;
  int64_t failed = 0;
  int64_t startFailures = 0;
  std::string lastError;
  std::deque<FinishedJob> successfulJobs;
  std::deque<FinishedJob> failedJobs;

  std::mutex shutdownMu;

  Supervisor supervisor;  // last: its thread uses the members above
};

Result<std::unique_ptr<ProcessJobRunner>> ProcessJobRunner::create(
    std::string name, JobCommand command, ProcessJobRunnerOptions options) {
  std::string context = "ScaledJob/" + name;
  if (name.empty()) return Status::invalidArgument("ScaledJob: metadata.name is required");
  auto line = process_detail::makeCommandLine(command.command, std::move(command.env),
                                              std::move(command.workingDir));
  if (!line.isOk()) return line.status().withContext(context);
  if (options.successfulJobsHistoryLimit < 0 || options.failedJobsHistoryLimit < 0) {
    return Status::invalidArgument(context + ": job history limits must be >= 0");
  }
  Millis grace = options.gracePeriod.value_or(command.gracePeriod ? Millis(*command.gracePeriod)
                                                                  : kDefaultJobGrace);
  if (grace.count() < 0) return Status::invalidArgument(context + ": grace period must be >= 0");
  if (command.activeDeadline && command.activeDeadline->count() <= 0) {
    return Status::invalidArgument(context + ": activeDeadline must be > 0");
  }
  auto impl = std::make_unique<Impl>(std::move(name), std::move(*line), command.activeDeadline,
                                     grace, std::move(options));
  UPDRAFT_RETURN_IF_ERROR(impl->supervisor.start(impl.get()));
  return std::unique_ptr<ProcessJobRunner>(new ProcessJobRunner(std::move(impl)));
}

Result<std::unique_ptr<ProcessJobRunner>> ProcessJobRunner::create(
    const ScaledJob& job, ProcessJobRunnerOptions options) {
  auto command = jobCommandFromJobTargetRef(job.spec.jobTargetRef);
  if (!command.isOk()) return command.status().withContext("ScaledJob/" + job.metadata.name);
  if (job.spec.successfulJobsHistoryLimit) {
    options.successfulJobsHistoryLimit = *job.spec.successfulJobsHistoryLimit;
  }
  if (job.spec.failedJobsHistoryLimit) {
    options.failedJobsHistoryLimit = *job.spec.failedJobsHistoryLimit;
  }
  return create(job.metadata.name, std::move(*command), std::move(options));
}

ProcessJobRunner::ProcessJobRunner(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

ProcessJobRunner::~ProcessJobRunner() { shutdown(); }

const std::string& ProcessJobRunner::name() const { return impl_->name; }

std::string ProcessJobRunner::describe() const { return impl_->describe(); }

Result<JobCounts> ProcessJobRunner::counts() {
  std::lock_guard lock(impl_->mu);
  JobCounts c;
  c.running = static_cast<int32_t>(impl_->running.size());
  c.pending = 0;
  return c;
}

Result<int32_t> ProcessJobRunner::createJobs(int32_t count) {
  if (count < 0) {
    return Status::invalidArgument(
        fmt::format("{}: job count must be >= 0, got {}", describe(), count));
  }
  if (count == 0) return 0;
  Impl::Request request;
  request.count = count;
  std::unique_lock lock(impl_->mu);
  if (impl_->stopping_) {
    return Status::failedPrecondition(describe() + ": the job runner has been shut down");
  }
  impl_->requests.push_back(&request);
  impl_->supervisor.wake();
  impl_->requestsDone.wait(lock, [&] { return request.done; });
  return request.started;
}

ProcessJobRunnerStatus ProcessJobRunner::status() const {
  std::lock_guard lock(impl_->mu);
  ProcessJobRunnerStatus st;
  st.running = static_cast<int32_t>(impl_->running.size());
  st.started = impl_->started;
  st.succeeded = impl_->succeeded;
  st.failed = impl_->failed;
  st.startFailures = impl_->startFailures;
  st.lastError = impl_->lastError;
  st.successfulJobs.assign(impl_->successfulJobs.begin(), impl_->successfulJobs.end());
  st.failedJobs.assign(impl_->failedJobs.begin(), impl_->failedJobs.end());
  return st;
}

std::string ProcessJobRunner::lastError() const {
  std::lock_guard lock(impl_->mu);
  return impl_->lastError;
}

void ProcessJobRunner::shutdown() {
  std::lock_guard shutdownLock(impl_->shutdownMu);
  {
    std::lock_guard lock(impl_->mu);
    impl_->stopping_ = true;
  }
  impl_->supervisor.wake();
  impl_->supervisor.join();
}

}  // namespace updraft
