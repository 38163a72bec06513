#include <date/date.h>
#include <fmt/format.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "commands.h"
#include "loader.h"
#include "updraft/lua/lua_policy.h"
#include "updraft/simulator.h"

namespace updraft::app {
namespace {

// --start: RFC 3339 ("2026-03-02T07:00:00Z", "2026-03-02T08:00:00+01:00") or epoch seconds.
Result<TimePoint> parseStart(const std::string& text) {
  char* end = nullptr;
  const double seconds = std::strtod(text.c_str(), &end);
  if (!text.empty() && end == text.c_str() + text.size() && std::isfinite(seconds)) {
    return TimePoint{} +
           std::chrono::duration_cast<Duration>(std::chrono::duration<double>(seconds));
  }
  // RFC 3339: 2026-03-02T08:00:00[.fff](Z|+hh:mm|-hh:mm); a space may replace the T.
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, sec = 0, used = 0;
  if (std::sscanf(text.c_str(), "%4d-%2d-%2d%*1[T ]%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec,
                  &used) == 6) {
    std::string_view rest(text.c_str() + used);
    double fraction = 0;
    if (!rest.empty() && rest.front() == '.') {
      size_t digits = 1;
      while (digits < rest.size() && std::isdigit(static_cast<unsigned char>(rest[digits]))) {
        ++digits;
      }
      fraction = std::strtod(std::string("0").append(rest.substr(0, digits)).c_str(), nullptr);
      rest.remove_prefix(digits);
    }
    int offsetMinutes = 0;
    bool zoneOk = rest == "Z" || rest == "z";
    int oh = 0, om = 0;
    if (!zoneOk && rest.size() == 6 && (rest[0] == '+' || rest[0] == '-') &&
        std::sscanf(std::string(rest.substr(1)).c_str(), "%2d:%2d", &oh, &om) == 2) {
      zoneOk = true;
      offsetMinutes = (rest[0] == '-' ? -1 : 1) * (oh * 60 + om);
    }
    const date::year_month_day ymd{date::year{y}, date::month{static_cast<unsigned>(mo)},
                                   date::day{static_cast<unsigned>(d)}};
    if (zoneOk && ymd.ok() && h < 24 && mi < 60 && sec < 61) {
      auto t = date::sys_days{ymd} + std::chrono::hours(h) +
               std::chrono::minutes(mi - offsetMinutes) + std::chrono::seconds(sec);
      return std::chrono::time_point_cast<Duration>(
          t + std::chrono::duration_cast<Duration>(std::chrono::duration<double>(fraction)));
    }
  }
  return Status::invalidArgument(
      "--start \"" + text +
      "\": expected a time like 2026-03-02T08:00:00+01:00 or 2026-03-02T07:00:00Z, or epoch "
      "seconds");
}

// Diagnostics (script logs, policy errors) go to stderr: stdout is the CSV.
class StderrLogging {
 public:
  StderrLogging() : previous_(spdlog::default_logger()) {
    auto logger = std::make_shared<spdlog::logger>(
        "updraft-simulate", std::make_shared<spdlog::sinks::stderr_sink_mt>());
    logger->set_pattern("updraft simulate: %l: %v");
    spdlog::set_default_logger(logger);
  }
  ~StderrLogging() { spdlog::set_default_logger(previous_); }

 private:
  std::shared_ptr<spdlog::logger> previous_;
};

}  // namespace

int runSimulate(const SimulateArgs& args, std::ostream& out, std::ostream& err) {
  auto objects = loadObjects({args.objectFile}, err);
  if (!objects.isOk()) {
    err << "updraft simulate: " << objects.status().message() << "\n";
    return 1;
  }
  const size_t count = objects->scaledObjects.size() + objects->scaledJobs.size();
  if (count == 0) {
    err << "updraft simulate: " << args.objectFile
        << " holds no ScaledObject or ScaledJob to simulate\n";
    return 1;
  }
  if (count > 1 && args.objectName.empty()) {
    err << "updraft simulate: " << args.objectFile
        << " holds several ScaledObjects/ScaledJobs; choose one with --object NAME\n";
    return 1;
  }
  const ScaledObject* so = nullptr;
  const ScaledJob* sj = nullptr;
  for (const auto& o : objects->scaledObjects) {
    if (args.objectName.empty() || o.metadata.name == args.objectName) so = &o;
  }
  for (const auto& o : objects->scaledJobs) {
    if (!so && (args.objectName.empty() || o.metadata.name == args.objectName)) sj = &o;
  }
  if (!so && !sj) {
    err << "updraft simulate: no ScaledObject or ScaledJob named \"" << args.objectName << "\" in "
        << args.objectFile << "\n";
    return 1;
  }
  auto traceText = readInput(args.traceFile, InputKind::kTrace);
  if (!traceText.isOk()) {
    err << "updraft simulate: " << traceText.status().message() << "\n";
    return 1;
  }
  auto trace = Trace::parse(*traceText);
  if (!trace.isOk()) {
    err << "updraft simulate: " << args.traceFile << ": " << trace.status().message() << "\n";
    return 1;
  }
  if (args.replicas < 0) {
    err << "updraft simulate: --replicas must be >= 0, got " << args.replicas << "\n";
    return 1;
  }

  StderrLogging logging;
  SimulationOptions opts;
  if (!args.start.empty()) {
    auto start = parseStart(args.start);
    if (!start.isOk()) {
      err << "updraft simulate: " << start.status().message() << "\n";
      return 1;
    }
    opts.start = *start;
  }
  if (!args.policyFile.empty() && !so) {
    err << "updraft simulate: --policy applies to ScaledObjects only\n";
    return 1;
  }
  if (so) {
    // The object's scaling policy, or the --policy file in place of its annotations.
    ScaledObject withPolicy = *so;
    auto& ann = withPolicy.metadata.annotations;
    std::string source = args.objectFile;
    if (!args.policyFile.empty()) {
      for (const char* a :
           {annotations::kPolicy, annotations::kPolicyFile, annotations::kPolicyConfigMap}) {
        ann.erase(a);
      }
      ann[annotations::kPolicyFile] = std::filesystem::absolute(args.policyFile).string();
      source = "--policy";
    } else if (ann.count(annotations::kPolicyConfigMap)) {
      err << "updraft simulate: " << args.objectFile << ": metadata.annotations[\""
          << annotations::kPolicyConfigMap
          << "\"]: ConfigMaps need a cluster; give the script with --policy FILE\n";
      return 1;
    }
    std::string path;
    auto policy = lua::luaPolicyFor(withPolicy, &path);
    if (!policy.isOk()) {
      err << "updraft simulate: " << source << ": "
          << (args.policyFile.empty() ? path + ": " : std::string()) << policy.status().message()
          << "\n";
      return 1;
    }
    opts.policy = *policy;
  }
  opts.initialReplicas = args.replicas;
  opts.untilSeconds = args.until;
  opts.hpaSyncSeconds = args.hpaSync;
  opts.jobDurationSeconds = args.jobDuration;

  std::string buffer;
  bool headerWritten = false;
  std::vector<std::string> keys;
  const bool scaledJob = sj != nullptr;
  for (const auto& t : scaledJob ? sj->spec.triggers : so->spec.triggers) {
    keys.push_back(t.name.empty() ? "trigger" + std::to_string(keys.size()) : t.name);
  }
  auto sink = [&](const SimulationRow& row, const std::vector<std::optional<double>>& values) {
    if (!headerWritten) {
      buffer += simulationCsvHeader(keys, scaledJob);
      headerWritten = true;
    }
    appendSimulationCsvRow(buffer, row, values, scaledJob);
    if (buffer.size() > (1 << 16)) {
      out.write(buffer.data(), static_cast<std::streamsize>(buffer.size()));
      buffer.clear();
    }
  };
  auto summary = scaledJob ? simulateScaledJob(*sj, *trace, opts, sink)
                           : simulateScaledObject(*so, *trace, opts, sink);
  if (!summary.isOk()) {
    err << "updraft simulate: " << args.traceFile << ": " << summary.status().message() << "\n";
    return 1;
  }
  if (!headerWritten) buffer += simulationCsvHeader(keys, scaledJob);
  out.write(buffer.data(), static_cast<std::streamsize>(buffer.size()));
  out.flush();

  if (!args.plotFile.empty()) {
    const ObjectMeta& meta = scaledJob ? sj->metadata : so->metadata;
    std::string svg = renderSimulationChart(
        fmt::format("{} {}/{}: simulated from {}", scaledJob ? "ScaledJob" : "ScaledObject",
                    meta.namespace_, meta.name, args.traceFile),
        *summary, scaledJob);
    std::ofstream f(args.plotFile, std::ios::binary);
    if (!f || !(f << svg)) {
      err << "updraft simulate: cannot write " << args.plotFile << "\n";
      return 1;
    }
    err << fmt::format("updraft simulate: {} polls, {} HPA evaluations, max {} {}; chart in {}\n",
                       summary->polls, summary->hpaEvaluations, summary->maxReplicas,
                       scaledJob ? "running jobs" : "replicas", args.plotFile);
  }
  return 0;
}

}  // namespace updraft::app
