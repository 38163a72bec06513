// Entry points of the `updraft` subcommands. Each returns the process exit code.
#pragma once

#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

namespace updraft::app {

// `updraft validate FILE... | -`: 0 when every document is valid, 1 otherwise ("-" = stdin).
int runValidate(const std::vector<std::string>& paths, std::ostream& out, std::ostream& err);

struct SimulateArgs {
  std::string objectFile;
  std::string objectName;  // when the file holds several objects
  std::string traceFile;
  int replicas = 0;
  std::optional<double> until;
  double hpaSync = 15;
  double jobDuration = 60;
  std::string plotFile;
  std::string policyFile;  // overrides the object's scaling policy annotations
  std::string start;       // the clock at t=0: RFC 3339 time or epoch seconds; "" = the epoch
};
// `updraft simulate`: CSV on `out`, diagnostics on `err`.
int runSimulate(const SimulateArgs& args, std::ostream& out, std::ostream& err);

struct RunArgs {
  std::vector<std::string> files;
  std::string logFormat = "text";  // text | json
  std::string listen;              // host:port for /metrics and /healthz; empty = off
  std::string secretsDir = "secrets";
  double hpaSync = 15;
  std::optional<double> duration;  // stop after this many seconds
  int statusEverySeconds = 1;
  std::string plotFile;  // on exit, an SVG of each trigger's value and the replicas over time
};
// `updraft run`: runs until Ctrl-C / SIGTERM (or --duration).
int runRun(const RunArgs& args);

}  // namespace updraft::app
