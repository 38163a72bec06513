#include <fmt/format.h>

#include <fstream>
#include <iostream>

#include "commands.h"
#include "loader.h"
#include "updraft/simulator.h"

namespace updraft::app {

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

  SimulationOptions opts;
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
