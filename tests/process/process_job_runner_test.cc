#include "updraft/process_job_runner.h"

#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "process_test_util.h"

using namespace updraft;
using namespace updraft::testing;
using json = nlohmann::json;

namespace {

std::unique_ptr<ProcessJobRunner> makeRunner(const std::string& name, JobCommand command,
                                             ProcessJobRunnerOptions options) {
  auto runner = ProcessJobRunner::create(name, std::move(command), std::move(options));
  REQUIRE(runner.isOk());
  return std::move(runner).value();
}

int32_t running(ProcessJobRunner& runner) {
  auto c = runner.counts();
  REQUIRE(c.isOk());
  CHECK(c->pending == 0);
  return c->running;
}

// A file path unique to this test process; removed on destruction.
struct TempPath {
  explicit TempPath(const std::string& tag)
      : path((std::filesystem::temp_directory_path() /
              ("updraft-test-" + tag + "-" + std::to_string(getpid())))
                 .string()) {
    std::remove(path.c_str());
  }
  ~TempPath() { std::remove(path.c_str()); }
  void touch() const { std::fclose(std::fopen(path.c_str(), "w")); }
  std::string path;
};

json containerRef(json container) {
  return json{{"template", {{"spec", {{"containers", json::array({std::move(container)})}}}}}};
}

}  // namespace

TEST_CASE("ProcessJobRunner counts running jobs until they complete") {
  TempPath gate("gate");
  LineCollector out;
  ProcessJobRunnerOptions options;
  options.output = out.sink();
  JobCommand command;
  command.command = {"sh", "-c",
                     "echo job $UPDRAFT_JOB; while [ ! -e \"$GATE\" ]; do sleep 0.02; done"};
  command.env = {{"GATE", gate.path}};
  auto runner = makeRunner("sj", command, options);
  CHECK(runner->describe() == "ScaledJob/sj");
  CHECK(running(*runner) == 0);

  auto started = runner->createJobs(3);
  REQUIRE(started.isOk());
  CHECK(*started == 3);
  CHECK(running(*runner) == 3);  // they wait for the gate
  REQUIRE(out.waitForLine("[sj-job-1] job 1"));
  REQUIRE(out.waitForLine("[sj-job-2] job 2"));
  REQUIRE(out.waitForLine("[sj-job-3] job 3"));
  CHECK(runner->status().started == 3);

  gate.touch();
  REQUIRE(waitUntil([&] { return running(*runner) == 0; }));
  auto st = runner->status();
  CHECK(st.succeeded == 3);
  CHECK(st.failed == 0);
  REQUIRE(st.successfulJobs.size() == 3);
  for (const auto& job : st.successfulJobs) {
    CHECK(job.succeeded);
    CHECK(job.result == "exit code 0");
    CHECK(job.finishTime >= job.startTime);
  }
  CHECK(st.lastError.empty());
  CHECK(*runner->createJobs(0) == 0);
  CHECK(runner->createJobs(-1).status().code() == StatusCode::kInvalidArgument);
}

TEST_CASE("ProcessJobRunner keeps a bounded history of finished jobs") {
  LineCollector out;
  ProcessJobRunnerOptions options;
  options.output = out.sink();
  options.successfulJobsHistoryLimit = 2;
  options.failedJobsHistoryLimit = 1;
  JobCommand command;
  command.command = {"sh", "-c", "[ \"$UPDRAFT_JOB\" -le 3 ] || exit 4"};  // jobs 4, 5 fail
  auto runner = makeRunner("hist", command, options);
  REQUIRE(*runner->createJobs(5) == 5);
  REQUIRE(waitUntil([&] {
    auto st = runner->status();
    return st.succeeded + st.failed == 5;
  }));
  auto st = runner->status();
  CHECK(running(*runner) == 0);
  CHECK(st.succeeded == 3);
  CHECK(st.failed == 2);
  REQUIRE(st.successfulJobs.size() == 2);
  REQUIRE(st.failedJobs.size() == 1);
  CHECK(st.failedJobs[0].result == "exit code 4");
  CHECK_FALSE(st.failedJobs[0].succeeded);
  CHECK(runner->lastError().find("exit code 4") != std::string::npos);
}

TEST_CASE("ProcessJobRunner reports a command that cannot be started") {
  LineCollector out;
  ProcessJobRunnerOptions options;
  options.output = out.sink();
  JobCommand command;
  command.command = {"updraft-no-such-job-command"};
  auto runner = makeRunner("nojob", command, options);
  auto started = runner->createJobs(2);
  REQUIRE(started.isOk());
  CHECK(*started == 0);
  CHECK(running(*runner) == 0);
  CHECK(runner->status().startFailures == 1);
  CHECK(runner->lastError().find("updraft-no-such-job-command") != std::string::npos);
  CHECK(runner->lastError().find("not found") != std::string::npos);
}

TEST_CASE("ProcessJobRunner shutdown terminates running jobs") {
  LineCollector out;
  ProcessJobRunnerOptions options;
  options.output = out.sink();
  options.gracePeriod = 200ms;
  JobCommand command;
  command.command = {"sh", "-c", "echo pid=$$; trap '' TERM; exec sleep 100"};
  auto runner = makeRunner("stop", command, options);
  REQUIRE(*runner->createJobs(2) == 2);
  REQUIRE(out.waitForCount("[stop-job-", 2));
  std::vector<pid_t> pids;
  for (const auto& l : out.lines()) pids.push_back(std::atoi(l.c_str() + l.find("pid=") + 4));
  runner->shutdown();
  for (pid_t pid : pids) CHECK(dead(pid));
  CHECK(runner->createJobs(1).status().code() == StatusCode::kFailedPrecondition);
  CHECK(running(*runner) == 0);
}

TEST_CASE("ProcessJobRunner stops jobs past their activeDeadline") {
  LineCollector out;
  ProcessJobRunnerOptions options;
  options.output = out.sink();
  options.gracePeriod = 100ms;
  JobCommand command;
  command.command = {"sleep", "100"};
  command.activeDeadline = Seconds(1);
  auto runner = makeRunner("deadline", command, options);
  auto t0 = SteadyClock::now();
  REQUIRE(*runner->createJobs(1) == 1);
  REQUIRE(waitUntil([&] { return runner->status().failed == 1; }));
  CHECK(SteadyClock::now() - t0 >= 1s);
  auto st = runner->status();
  REQUIRE(st.failedJobs.size() == 1);
  CHECK(st.failedJobs[0].result == "killed by signal 15 (SIGTERM) (deadline exceeded)");
}

TEST_CASE("jobCommandFromJobTargetRef extracts the container's command") {
  json ref = containerRef({{"name", "worker"},
                           {"image", "busybox"},
                           {"command", {"sh", "-c"}},
                           {"args", {"echo $(MSG) $$HOME $(UNSET)"}},
                           {"env",
                            {{{"name", "MSG"}, {"value", "hi"}},
                             {{"name", "B"}, {"value", "$(MSG)-x"}},
                             {{"name", "EMPTY"}}}},
                           {"workingDir", "/tmp"}});
  ref["activeDeadlineSeconds"] = 30;
  ref["template"]["spec"]["terminationGracePeriodSeconds"] = 5;
  auto job = jobCommandFromJobTargetRef(ref);
  REQUIRE(job.isOk());
  CHECK(job->command == std::vector<std::string>{"sh", "-c", "echo hi $HOME $(UNSET)"});
  CHECK(job->env == StringMap{{"MSG", "hi"}, {"B", "hi-x"}, {"EMPTY", ""}});
  CHECK(job->workingDir == "/tmp");
  CHECK(job->activeDeadline == Seconds(30));
  CHECK(job->gracePeriod == Seconds(5));

  auto bare = jobCommandFromJobTargetRef(containerRef({{"command", {"true"}}}));
  REQUIRE(bare.isOk());
  CHECK(bare->command == std::vector<std::string>{"true"});
  CHECK_FALSE(bare->activeDeadline.has_value());
}

TEST_CASE("jobCommandFromJobTargetRef names the path of what is missing") {
  auto error = [](const json& ref) {
    auto r = jobCommandFromJobTargetRef(ref);
    REQUIRE_FALSE(r.isOk());
    CHECK(r.status().code() == StatusCode::kInvalidArgument);
    return r.status().message();
  };
  CHECK(error(json::array()) == "jobTargetRef: must be an object (a batch/v1 JobSpec)");
  CHECK(error(json::object()) == "jobTargetRef.template: required");
  CHECK(error(json{{"template", {{"spec", 3}}}}) ==
        "jobTargetRef.template.spec: must be an object");
  CHECK(error(json{{"template", {{"spec", {{"containers", json::array()}}}}}}) ==
        "jobTargetRef.template.spec.containers: a non-empty list of containers is required");
  CHECK(error(containerRef({{"image", "busybox"}, {"args", {"x"}}})) ==
        "jobTargetRef.template.spec.containers[0].command: required to run the job as a local "
        "process (there is no image entrypoint)");
  CHECK(error(containerRef({{"command", {"sh", 5}}})) ==
        "jobTargetRef.template.spec.containers[0].command[1]: must be a string");
  CHECK(error(containerRef({{"command", {"sh"}}, {"args", "x"}})) ==
        "jobTargetRef.template.spec.containers[0].args: must be a list of strings");
  CHECK(error(containerRef({{"command", {"sh"}},
                            {"env",
                             {{{"name", "A"}, {"value", "1"}},
                              {{"name", "S"}, {"valueFrom", json::object()}}}}})) ==
        "jobTargetRef.template.spec.containers[0].env[1].valueFrom: not supported by updraft run "
        "(use value)");
  CHECK(error(containerRef({{"command", {"sh"}}, {"env", {{{"value", "1"}}}}})) ==
        "jobTargetRef.template.spec.containers[0].env[0].name: required");
  json deadline = containerRef({{"command", {"sh"}}});
  deadline["activeDeadlineSeconds"] = 0;
  CHECK(error(deadline) == "jobTargetRef.activeDeadlineSeconds: must be >= 1, got 0");
}

TEST_CASE("ProcessJobRunner is built from a ScaledJob") {
  ScaledJob job;
  job.metadata.name = "from-scaledjob";
  job.spec.jobTargetRef = containerRef({{"command", {"sh", "-c"}},
                                        {"args", {"echo $(A)"}},
                                        {"env", {{{"name", "A"}, {"value", "expanded"}}}}});
  job.spec.successfulJobsHistoryLimit = 1;
  LineCollector out;
  ProcessJobRunnerOptions options;
  options.output = out.sink();
  auto runner = ProcessJobRunner::create(job, options);
  REQUIRE(runner.isOk());
  REQUIRE(*(*runner)->createJobs(2) == 2);
  REQUIRE(out.waitForLine("[from-scaledjob-job-1] expanded"));
  REQUIRE(out.waitForLine("[from-scaledjob-job-2] expanded"));
  REQUIRE(waitUntil([&] { return (*runner)->status().succeeded == 2; }));
  CHECK((*runner)->status().successfulJobs.size() == 1);  // the ScaledJob's limit

  job.spec.jobTargetRef = json::object();
  auto bad = ProcessJobRunner::create(job, options);
  REQUIRE_FALSE(bad.isOk());
  CHECK(bad.status().message() == "ScaledJob/from-scaledjob: jobTargetRef.template: required");
}
