#include "updraft/simulator.h"

#include <fmt/format.h>

#include <cmath>
#include <map>

#include "updraft/scaled_job_handler.h"
#include "updraft/scaled_object_handler.h"
#include "updraft/svg_chart.h"

namespace updraft {
namespace {

// Virtual time: integer milliseconds from t=0, so cadences never drift.
using VirtualMs = int64_t;

// The clock at virtual time `ms` (t=0 is `start`).
TimePoint at(VirtualMs ms, TimePoint start) { return start + Millis(ms); }
double seconds(VirtualMs ms) { return static_cast<double>(ms) / 1000.0; }

// Maps each trigger to its trace column (-1 = none).
Result<std::vector<int>> mapColumns(const std::vector<BuiltTrigger>& triggers, const Trace& trace) {
  std::vector<int> columns(triggers.size(), -1);
  std::string known;
  for (const auto& t : triggers) known += (known.empty() ? "" : ", ") + t.key();
  for (size_t c = 0; c < trace.keys().size(); ++c) {
    bool found = false;
    for (size_t i = 0; i < triggers.size(); ++i) {
      if (triggers[i].key() == trace.keys()[c]) {
        columns[i] = static_cast<int>(c);
        found = true;
      }
    }
    if (!found) {
      return Status::invalidArgument(
          fmt::format("line 1: column \"{}\" names no trigger (the object's triggers are: {})",
                      trace.keys()[c], known));
    }
  }
  return columns;
}

// A scaler whose value comes from the trace at the current virtual time.
class TraceScaler final : public Scaler {
 public:
  TraceScaler(const Trace::Cursor& cursor, int column, double threshold,
              std::vector<MetricSpec> specs)
      : cursor_(cursor), column_(column), threshold_(threshold), specs_(std::move(specs)) {}

  Result<MetricsAndActivity> getMetricsAndActivity(const std::string& metricName,
                                                   TimePoint) override {
    double value = 0;
    if (column_ >= 0) {
      const TraceCell& cell = cursor_.cell(static_cast<size_t>(column_));
      if (cell.kind == TraceCell::Kind::kError) {
        return Status::unavailable("trace: the source failed (\"error\" cell)");
      }
      if (cell.kind == TraceCell::Kind::kValue) value = cell.value;
    }
    MetricsAndActivity out;
    out.metrics.push_back(MetricValue{metricName, value});
    out.isActive = value > threshold_;
    return out;
  }

 private:
  const Trace::Cursor& cursor_;
  int column_;
  double threshold_;
  std::vector<MetricSpec> specs_;
};

class VirtualTarget final : public ScaleTarget {
 public:
  explicit VirtualTarget(int32_t replicas) : replicas_(replicas) {}
  std::string describe() const override { return "virtual target"; }
  Result<int32_t> currentReplicas() override { return replicas_; }
  Result<int32_t> readyReplicas() override { return replicas_; }
  Status setReplicas(int32_t replicas) override {
    replicas_ = replicas;
    return Status::ok();
  }
  int32_t replicas() const { return replicas_; }

 private:
  int32_t replicas_;
};

class VirtualJobs final : public JobRunner {
 public:
  VirtualJobs(const VirtualMs& now, VirtualMs duration) : now_(now), duration_(duration) {}
  std::string describe() const override { return "virtual jobs"; }
  Result<JobCounts> counts() override {
    while (!ends_.empty() && ends_.begin()->first <= now_) ends_.erase(ends_.begin());
    JobCounts c;
    for (const auto& [_, n] : ends_) c.running += n;
    return c;
  }
  Result<int32_t> createJobs(int32_t count) override {
    if (count > 0) ends_[now_ + duration_] += count;
    return count;
  }

 private:
  const VirtualMs& now_;
  VirtualMs duration_;
  std::map<VirtualMs, int32_t> ends_;
};

Result<std::vector<BuiltTrigger>> buildForSimulation(const ObjectMeta& meta,
                                                     const std::vector<ScaleTriggers>& triggers,
                                                     const char* kind, bool asMetricSource) {
  TriggerBuildOptions opts;
  opts.objectKind = kind;
  opts.secretsUnresolved = true;  // no connections and no secrets in a simulation
  opts.asMetricSource = asMetricSource;
  return buildTriggers(meta, triggers, opts);
}

SimulationSummary makeSummary(const std::vector<BuiltTrigger>& triggers) {
  SimulationSummary summary;
  for (const auto& t : triggers) {
    SimulationSeries s;
    s.key = t.key();
    if (!t.specs.empty()) {
      s.metricName = t.specs.front().metricName;
      s.target = t.specs.front().target;
    }
    summary.triggers.push_back(std::move(s));
  }
  return summary;
}

void currentValues(const std::vector<int>& columns, const Trace::Cursor& cursor,
                   std::vector<std::optional<double>>& values) {
  for (size_t i = 0; i < columns.size(); ++i) {
    std::optional<double> v = 0.0;
    if (columns[i] >= 0) {
      const TraceCell& cell = cursor.cell(static_cast<size_t>(columns[i]));
      if (cell.kind == TraceCell::Kind::kError) v.reset();
      if (cell.kind == TraceCell::Kind::kValue) v = cell.value;
    }
    values[i] = v;
  }
}

void recordValues(SimulationSummary& summary, const std::vector<int>& columns,
                  const Trace::Cursor& cursor, double t,
                  std::vector<std::optional<double>>& values) {
  currentValues(columns, cursor, values);
  for (size_t i = 0; i < columns.size(); ++i) {
    summary.triggers[i].times.push_back(t);
    summary.triggers[i].values.push_back(values[i].value_or(NAN));
  }
}

void recordReplicas(SimulationSummary& summary, double t, int32_t replicas) {
  if (!summary.replicas.empty() && summary.replicas.back() == replicas) return;
  summary.replicaTimes.push_back(t);
  summary.replicas.push_back(replicas);
  summary.maxReplicas = std::max(summary.maxReplicas, replicas);
}

VirtualMs untilMs(const Trace& trace, const SimulationOptions& options) {
  double until = options.untilSeconds ? *options.untilSeconds : trace.lastTime() + 600;
  return static_cast<VirtualMs>(std::llround(until * 1000));
}

}  // namespace

Result<SimulationSummary> simulateScaledObject(const ScaledObject& object, const Trace& trace,
                                               const SimulationOptions& options,
                                               const SimulationRowSink& sink) {
  auto triggers = buildForSimulation(object.metadata, object.spec.triggers, "ScaledObject",
                                     object.isUsingModifiers());
  if (!triggers.isOk()) return triggers.status();
  auto columns = mapColumns(*triggers, trace);
  if (!columns.isOk()) return columns.status();
  if (options.hpaSyncSeconds <= 0) {
    return Status::invalidArgument("--hpa-sync must be > 0 seconds");
  }

  SimulationSummary summary = makeSummary(*triggers);
  Trace::Cursor cursor(trace);
  VirtualTarget target(options.initialReplicas);
  std::map<int, int> columnOf;
  for (size_t i = 0; i < triggers->size(); ++i) columnOf[(*triggers)[i].index] = (*columns)[i];
  ScalerBuilder builder = [&](const BuiltTrigger& t) -> Result<std::unique_ptr<Scaler>> {
    return std::unique_ptr<Scaler>(std::make_unique<TraceScaler>(
        cursor, columnOf[t.index], t.definition->activationThreshold(), t.specs));
  };
  ScaledObjectHandlerOptions hopts;
  hopts.createdAt = at(0, options.start);
  hopts.policy = options.policy;
  auto handler = ScaledObjectHandler::create(object, *triggers, target, builder, hopts);
  if (!handler.isOk()) return handler.status();

  const VirtualMs pollEvery = static_cast<VirtualMs>(object.effectivePollingInterval()) * 1000;
  const VirtualMs hpaEvery = static_cast<VirtualMs>(std::llround(options.hpaSyncSeconds * 1000));
  const VirtualMs until = untilMs(trace, options);
  const Millis pollTimeout(5000);
  VirtualMs nextPoll = 0, nextHpa = 0;
  std::vector<std::optional<double>> values(triggers->size());
  recordReplicas(summary, 0, target.replicas());
  while (true) {
    const VirtualMs now = std::min(nextPoll, nextHpa);
    if (now > until) break;
    cursor.advanceTo(seconds(now));
    SimulationRow row;
    row.time = seconds(now);
    if (nextPoll <= nextHpa) {  // at equal times the poll runs first
      nextPoll += pollEvery;
      PollReport r = (*handler)->poll(at(now, options.start), at(now, options.start) + pollTimeout);
      ++summary.polls;
      row.active = r.isActive;
      row.decision = r.outcome.decision;
      recordValues(summary, *columns, cursor, row.time, values);
    } else {
      nextHpa += hpaEvery;
      // The HPA is disabled at 0 replicas; a scaling policy is asked there too.
      const bool atZero = target.replicas() == 0;
      if (atZero && !options.policy) continue;
      HpaReport r =
          (*handler)->hpaSync(at(now, options.start), at(now, options.start) + pollTimeout);
      if (atZero && !r.rescaled && r.policyError.empty()) continue;  // the policy held 0
      ++summary.hpaEvaluations;
      row.hpa = true;
      row.active = (*handler)->status().active.status == ConditionStatus::kTrue;
      row.decision = r.reason;
      currentValues(*columns, cursor, values);
    }
    row.replicas = target.replicas();
    recordReplicas(summary, row.time, row.replicas);
    if (sink) sink(row, values);
  }
  return summary;
}

Result<SimulationSummary> simulateScaledJob(const ScaledJob& object, const Trace& trace,
                                            const SimulationOptions& options,
                                            const SimulationRowSink& sink) {
  auto triggers = buildForSimulation(object.metadata, object.spec.triggers, "ScaledJob", false);
  if (!triggers.isOk()) return triggers.status();
  auto columns = mapColumns(*triggers, trace);
  if (!columns.isOk()) return columns.status();
  if (options.jobDurationSeconds <= 0) {
    return Status::invalidArgument("--job-duration must be > 0 seconds");
  }

  SimulationSummary summary = makeSummary(*triggers);
  Trace::Cursor cursor(trace);
  VirtualMs now = 0;
  VirtualJobs jobs(now, static_cast<VirtualMs>(std::llround(options.jobDurationSeconds * 1000)));
  std::map<int, int> columnOf;
  for (size_t i = 0; i < triggers->size(); ++i) columnOf[(*triggers)[i].index] = (*columns)[i];
  ScalerBuilder builder = [&](const BuiltTrigger& t) -> Result<std::unique_ptr<Scaler>> {
    return std::unique_ptr<Scaler>(std::make_unique<TraceScaler>(
        cursor, columnOf[t.index], t.definition->activationThreshold(), t.specs));
  };
  auto handler = ScaledJobHandler::create(object, *triggers, jobs, builder, {});
  if (!handler.isOk()) return handler.status();

  const VirtualMs pollEvery = static_cast<VirtualMs>(object.effectivePollingInterval()) * 1000;
  const VirtualMs until = untilMs(trace, options);
  std::vector<std::optional<double>> values(triggers->size());
  for (now = 0; now <= until; now += pollEvery) {
    cursor.advanceTo(seconds(now));
    JobPollReport r =
        (*handler)->poll(at(now, options.start), at(now, options.start) + Millis(5000));
    ++summary.polls;
    SimulationRow row;
    row.time = seconds(now);
    row.active = r.isActive;
    row.created = r.created;
    row.decision = r.decision;
    auto counts = jobs.counts();
    row.replicas = counts.isOk() ? counts->running : 0;
    recordValues(summary, *columns, cursor, row.time, values);
    recordReplicas(summary, row.time, row.replicas);
    if (sink) sink(row, values);
  }
  return summary;
}

std::string simulationCsvHeader(const std::vector<std::string>& keys, bool scaledJob) {
  std::string h = scaledJob ? "time,event,replicas,created,active" : "time,event,replicas,active";
  for (const auto& k : keys) h += "," + k;
  h += ",decision\n";
  return h;
}

void appendSimulationCsvRow(std::string& out, const SimulationRow& row,
                            const std::vector<std::optional<double>>& values, bool scaledJob) {
  fmt::format_to(std::back_inserter(out), "{:g},{},{}", row.time, row.hpa ? "hpa" : "poll",
                 row.replicas);
  if (scaledJob) fmt::format_to(std::back_inserter(out), ",{}", row.created);
  fmt::format_to(std::back_inserter(out), ",{}", row.active ? 1 : 0);
  for (const auto& v : values) {
    if (v) {
      fmt::format_to(std::back_inserter(out), ",{:g}", *v);
    } else {
      out += ",error";
    }
  }
  out += ',';
  // The decision text is free-form: quote it when it could break the CSV.
  if (row.decision.find_first_of(",\"\n") != std::string::npos) {
    out += '"';
    for (char c : row.decision) {
      if (c == '"') out += '"';
      out += c == '\n' ? ' ' : c;
    }
    out += '"';
  } else {
    out += row.decision;
  }
  out += '\n';
}

std::string renderSimulationChart(const std::string& title, const SimulationSummary& summary,
                                  bool scaledJob) {
  std::vector<ChartPanel> panels;
  for (const auto& s : summary.triggers) {
    ChartPanel p;
    p.title = fmt::format("{} ({})", s.key, s.metricName);
    ChartLine value{"value", s.times, s.values, false, false};
    p.lines.push_back(std::move(value));
    if (!s.times.empty()) {
      ChartLine target{
          "target", {s.times.front(), s.times.back()}, {s.target, s.target}, false, true};
      p.lines.push_back(std::move(target));
    }
    panels.push_back(std::move(p));
  }
  ChartPanel replicas;
  replicas.title = scaledJob ? "running jobs" : "replicas";
  std::vector<double> times = summary.replicaTimes, vals = summary.replicas;
  double end = 0;
  for (const auto& s : summary.triggers) {
    if (!s.times.empty()) end = std::max(end, s.times.back());
  }
  if (!times.empty() && end > times.back()) {
    times.push_back(end);
    vals.push_back(vals.back());
  }
  replicas.lines.push_back(ChartLine{replicas.title, times, vals, true, false});
  panels.push_back(std::move(replicas));
  return renderSvgChart(title, panels);
}

}  // namespace updraft
