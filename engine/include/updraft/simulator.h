// `updraft simulate`: replays a trace through the real engine (ScaledObjectHandler /
// ScaledJobHandler) on a virtual clock. The model (fixed contract, see README):
//  - the object is created at t=0 with `initialReplicas` replicas; t=0 is the instant `start`
//    (the engine's clock, e.g. what a scaling policy sees as ctx.now);
//  - KEDA's poll runs at t=0 and every pollingInterval; the HPA evaluates at t=0 and every
//    hpaSyncSeconds while the target has replicas > 0 (with a scaling policy: at every sync, since
//    the policy is asked at 0 replicas too; a row is printed when the HPA evaluated or the policy
//    rescaled or failed); at equal times the poll runs first;
//  - pods are ready as soon as they are requested; a ScaledJob's jobs run jobDurationSeconds.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "updraft/model.h"
#include "updraft/scaling_policy.h"
#include "updraft/status.h"
#include "updraft/trace.h"

namespace updraft {

struct SimulationOptions {
  int32_t initialReplicas = 0;
  std::optional<double> untilSeconds;  // default: last trace time + 600
  double hpaSyncSeconds = 15;
  double jobDurationSeconds = 60;
  TimePoint start{};  // the clock at t=0 (default: the Unix epoch)
  // ScaledObjects: the object's scaling policy (scaling_policy.h), or null.
  std::shared_ptr<ScalingPolicy> policy;
};

// One evaluation, as printed in the CSV.
struct SimulationRow {
  double time = 0;
  bool hpa = false;      // "hpa" row, else "poll"
  int32_t replicas = 0;  // target replicas after the evaluation (ScaledJob: running jobs)
  int32_t created = 0;   // ScaledJob: jobs created by this poll
  bool active = false;
  std::string decision;
};

struct SimulationSeries {
  std::string key;  // trigger name or trigger<i>
  std::string metricName;
  double target = 0;
  std::vector<double> times;
  std::vector<double> values;
};

struct SimulationSummary {
  std::vector<SimulationSeries> triggers;  // values seen at each poll
  std::vector<double> replicaTimes;
  std::vector<double> replicas;
  int32_t maxReplicas = 0;
  int64_t polls = 0;
  int64_t hpaEvaluations = 0;
};

// Receives each row as it is produced (rows are not kept, so week-long traces stay cheap).
// `values` holds each trigger's current trace value (nullopt = error) in trigger order.
using SimulationRowSink =
    std::function<void(const SimulationRow& row, const std::vector<std::optional<double>>& values)>;

// Trace columns must name triggers (name, or trigger<i> when unnamed): an unknown column is an
// error naming line 1 and the known keys. A trigger without a column reports 0.
Result<SimulationSummary> simulateScaledObject(const ScaledObject& object, const Trace& trace,
                                               const SimulationOptions& options,
                                               const SimulationRowSink& sink);
Result<SimulationSummary> simulateScaledJob(const ScaledJob& object, const Trace& trace,
                                            const SimulationOptions& options,
                                            const SimulationRowSink& sink);

// The CSV header for an object with the given trigger keys.
std::string simulationCsvHeader(const std::vector<std::string>& keys, bool scaledJob);
// Appends one CSV line.
void appendSimulationCsvRow(std::string& out, const SimulationRow& row,
                            const std::vector<std::optional<double>>& values, bool scaledJob);

// The --plot chart: each trigger's value and target, and the replicas.
std::string renderSimulationChart(const std::string& title, const SimulationSummary& summary,
                                  bool scaledJob);

}  // namespace updraft
