// updraft: an event-driven autoscaler that runs KEDA's objects.
#include <CLI/CLI.hpp>
#include <iostream>

#include "commands.h"

namespace {
constexpr const char* kVersion = "0.1.0";
}

int main(int argc, char** argv) {
  CLI::App cli{"updraft: event-driven autoscaling for KEDA's ScaledObjects and ScaledJobs"};
  cli.require_subcommand(1);
  cli.set_version_flag("--version", kVersion);

  std::vector<std::string> validateFiles;
  auto* validate = cli.add_subcommand(
      "validate",
      "Check KEDA objects (YAML or JSON, multi-document) and Lua scripts (*.lua); exit 1 if any "
      "is invalid");
  validate->add_option("files", validateFiles, "Files to check, or - for stdin")->required();

  updraft::app::SimulateArgs sim;
  double until = -1;
  auto* simulate = cli.add_subcommand(
      "simulate", "Replay a traffic trace through the scaling logic; CSV on stdout");
  simulate->add_option("object", sim.objectFile, "YAML with the ScaledObject or ScaledJob")
      ->required();
  simulate->add_option("--object", sim.objectName, "Which object, when the file holds several");
  simulate->add_option("--trace", sim.traceFile, "CSV trace: time,<trigger>,...")->required();
  simulate->add_option("--replicas", sim.replicas, "Replicas at t=0")->capture_default_str();
  simulate->add_option("--until", until, "End time in seconds (default: last trace time + 600)");
  simulate->add_option("--hpa-sync", sim.hpaSync, "HPA sync period in seconds")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  simulate->add_option("--job-duration", sim.jobDuration, "ScaledJob: seconds each job runs")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  simulate->add_option("--plot", sim.plotFile, "Write an SVG chart to this file");
  simulate->add_option("--policy", sim.policyFile,
                       "Lua scaling policy file to use instead of the object's own");
  simulate->add_option("--start", sim.start,
                       "Clock at t=0, e.g. 2026-03-02T08:00:00+01:00 or epoch seconds "
                       "(default: 1970-01-01T00:00:00Z)");

  updraft::app::RunArgs run;
  double duration = -1;
  auto* runCmd = cli.add_subcommand(
      "run", "Scale local process pools and jobs with KEDA objects, without Kubernetes");
  runCmd
      ->add_option("files", run.files,
                   "YAML files: ScaledObjects, ScaledJobs, "
                   "TriggerAuthentications, ProcessPools")
      ->required();
  runCmd->add_option("--log-format", run.logFormat, "text or json")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();
  runCmd->add_option("--listen", run.listen, "host:port serving /metrics and /healthz");
  runCmd
      ->add_option("--secrets-dir", run.secretsDir,
                   "Directory of secrets: <dir>/<secret>/<key> (else $UPDRAFT_SECRET_<NAME>_<KEY>)")
      ->capture_default_str();
  runCmd->add_option("--hpa-sync", run.hpaSync, "HPA sync period in seconds")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  runCmd->add_option("--duration", duration, "Stop after this many seconds")
      ->check(CLI::PositiveNumber);
  runCmd->add_option("--plot", run.plotFile,
                     "On exit, write an SVG chart of the metrics and replicas (one file per "
                     "object when there are several: FILE-<name>.svg)");
  runCmd->add_option("--status-every", run.statusEverySeconds, "Status refresh in seconds")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);

  try {
    cli.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return cli.exit(e);
  }

  if (*validate) return updraft::app::runValidate(validateFiles, std::cout, std::cerr);
  if (*simulate) {
    if (until >= 0) sim.until = until;
    return updraft::app::runSimulate(sim, std::cout, std::cerr);
  }
  if (*runCmd) {
    if (duration > 0) run.duration = duration;
    return updraft::app::runRun(run);
  }
  return 2;
}
