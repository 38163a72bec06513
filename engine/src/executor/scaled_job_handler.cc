#include "updraft/scaled_job_handler.h"

#include <fmt/format.h>

#include "updraft/executor.h"
#include "updraft/scaled_job_logic.h"

namespace updraft {

struct ScaledJobHandler::TriggerState {
  BuiltTrigger built;
  std::unique_ptr<Scaler> scaler;
  size_t firstReading = 0;
  std::vector<std::unique_ptr<TriggerMetrics>> metrics;
};

ScaledJobHandler::ScaledJobHandler(ScaledJob object, JobRunner& jobs, ScalerBuilder builder,
                                   ScaledJobHandlerOptions options)
    : object_(std::move(object)),
      jobs_(jobs),
      builder_(std::move(builder)),
      options_(options),
      key_(fmt::format("ScaledJob/{}/{}", object_.metadata.namespace_, object_.metadata.name)) {}

ScaledJobHandler::~ScaledJobHandler() {
  for (auto& t : triggers_) {
    if (t->scaler) t->scaler->close();
  }
}

Result<std::unique_ptr<ScaledJobHandler>> ScaledJobHandler::create(
    ScaledJob object, std::vector<BuiltTrigger> triggers, JobRunner& jobs, ScalerBuilder builder,
    ScaledJobHandlerOptions options) {
  std::unique_ptr<ScaledJobHandler> h(
      new ScaledJobHandler(std::move(object), jobs, std::move(builder), options));
  const ScaledJob& sj = h->object_;
  if (options.metrics) {
    h->objectMetrics_ =
        options.metrics->object(sj.metadata.namespace_, sj.metadata.name, "scaledjob");
  }
  for (auto& bt : triggers) {
    auto state = std::make_unique<TriggerState>();
    state->firstReading = h->readings_.size();
    for (const auto& spec : bt.specs) {
      h->readings_.push_back(TriggerReading::of(bt, spec));
      if (spec.source == MetricSpec::Source::kExternal) {
        h->status_.externalMetricNames.push_back(spec.metricName);
      }
      if (options.metrics) {
        state->metrics.push_back(options.metrics->trigger(
            ScalerMetricLabels{sj.metadata.namespace_, sj.metadata.name, bt.scalerLabel(), bt.index,
                               spec.metricName, "scaledjob"}));
      }
    }
    state->built = std::move(bt);
    h->triggers_.push_back(std::move(state));
  }
  return h;
}

JobPollReport ScaledJobHandler::poll(TimePoint now, TimePoint deadline) {
  JobPollReport report;
  const auto loopStart = std::chrono::steady_clock::now();
  const PauseState pause = readPauseState(object_.metadata);
  const bool wasPaused = status_.paused.status == ConditionStatus::kTrue;
  if (objectMetrics_) objectMetrics_->paused(pause.paused);
  if (pause.paused) {
    if (!wasPaused) {
      status_.paused = {ConditionStatus::kTrue, "ScaledJobPaused", "ScaledJob is paused"};
      if (options_.events) {
        options_.events->emit(key_,
                              {Event::Type::kNormal, "ScaledJobPaused", "ScaledJob is paused"});
      }
    }
    report.paused = true;
    report.decision = "paused";
    return report;
  }
  if (wasPaused) {
    status_.paused = {ConditionStatus::kFalse, "ScaledJobUnpaused", "ScaledJob is unpaused"};
    if (options_.events) {
      options_.events->emit(key_,
                            {Event::Type::kNormal, "ScaledJobUnpaused", "ScaledJob is unpaused"});
    }
  }

  std::vector<ScaledJobTriggerInput> inputs;
  for (auto& tp : triggers_) {
    TriggerState& t = *tp;
    for (size_t s = 0; s < t.built.specs.size(); ++s) {
      const MetricSpec& spec = t.built.specs[s];
      if (spec.source != MetricSpec::Source::kExternal) continue;  // cpu/memory are ignored
      TriggerReading& reading = readings_[t.firstReading + s];
      const auto start = std::chrono::steady_clock::now();
      auto r = fetchWithRebuild(t.scaler, builder_, t.built, spec.metricName, deadline);
      const double latency =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      if (!r.isOk()) {
        report.isError = true;
        reading.error = r.status().message();
        reading.value.reset();
        reading.active = false;
        if (!t.metrics.empty()) t.metrics[s]->error();
        if (objectMetrics_) objectMetrics_->error();
        if (options_.events) {
          options_.events->emit(key_, {Event::Type::kWarning, "KEDAScalerFailed", reading.error});
        }
        continue;
      }
      reading.error.clear();
      reading.active = r->isActive;
      double sum = 0;
      for (const auto& v : r->metrics) sum += v.value;
      reading.value = sum;
      if (!t.metrics.empty()) t.metrics[s]->observe(sum, r->isActive, latency);
      status_.triggersActivity[spec.metricName] = r->isActive;
      if (s == 0) {
        if (auto in = scaledJobTriggerInput(t.built.specs, r->metrics, r->isActive)) {
          inputs.push_back(*in);
        }
      }
    }
  }

  const ScaledJobMetrics combined = combineScaledJobMetrics(object_, inputs);
  report.isActive = combined.isActive;
  auto counts = jobs_.counts();
  if (!counts.isOk()) {
    status_.ready = {ConditionStatus::kFalse, "ScaledJobCheckFailed", counts.status().message()};
    report.decision = "cannot count jobs: " + counts.status().message();
    return report;
  }
  report.running = counts->running;
  report.pending = counts->pending;
  const ScaledJobDecision decision = decideScaledJobScale(object_, combined, *counts);
  if (decision.jobsToCreate > 0) {
    auto created = jobs_.createJobs(static_cast<int32_t>(decision.jobsToCreate));
    report.created = created.isOk() ? *created : 0;
    if (options_.events) {
      options_.events->emit(key_, {Event::Type::kNormal, "KEDAJobsCreated",
                                   fmt::format("Created {} jobs", decision.jobsToCreate)});
      if (!created.isOk()) {
        options_.events->emit(
            key_, {Event::Type::kWarning, "KEDAJobCreateFailed", created.status().message()});
      }
    }
  }
  if (decision.updateLastActiveTime) status_.lastActiveTime = now;
  report.decision = decision.belowMin ? fmt::format("below min: created {}", report.created)
                                      : fmt::format("{} strategy: queue {:g}; max {}; created {}",
                                                    decision.strategy, combined.queueLength,
                                                    decision.effectiveMaxScale, report.created);

  const bool wasActive = status_.active.status == ConditionStatus::kTrue;
  if (report.isActive) {
    status_.active = {ConditionStatus::kTrue, "ScalerActive",
                      "Scaling is performed because triggers are active"};
  } else {
    status_.active = {ConditionStatus::kFalse, "ScalerNotActive",
                      "Scaling is not performed because triggers are not active"};
  }
  if (options_.events && report.isActive != wasActive) {
    options_.events->emit(key_, report.isActive
                                    ? Event{Event::Type::kNormal, "ScaledJobActive",
                                            "Scaling is performed because triggers are active"}
                                    : Event{Event::Type::kNormal, "ScaledJobInactive",
                                            "Scaling is not performed because triggers are not "
                                            "active"});
  }
  if (report.isError) {
    status_.ready = report.isActive
                        ? Condition{ConditionStatus::kUnknown, "PartialTriggerError",
                                    "Some triggers defined in ScaledJob are not working correctly"}
                        : Condition{ConditionStatus::kFalse, "TriggerError",
                                    "Triggers defined in ScaledJob are not working correctly"};
  } else {
    status_.ready = {ConditionStatus::kTrue, "ScaledJobReady",
                     "ScaledJob is defined correctly and is ready for scaling"};
  }
  if (objectMetrics_) {
    objectMetrics_->loopLatency(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - loopStart).count());
  }
  return report;
}

}  // namespace updraft
