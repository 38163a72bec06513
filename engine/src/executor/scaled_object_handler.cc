#include "updraft/scaled_object_handler.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <cmath>

#include "updraft/fallback.h"

namespace updraft {
namespace {

std::optional<double> parseDouble(const std::string& s) {
  double v = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || ptr != s.data() + s.size()) return std::nullopt;
  return v;
}

// What the external metrics API serves: NaN, +-Inf and negatives become 0; milli precision.
double servedValue(double v) {
  if (!std::isfinite(v) || v < 0) return 0;
  return std::round(v * 1000.0) / 1000.0;
}

bool equalsIgnoreCase(const std::string& a, const std::string& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

double sumFor(const MetricsAndActivity& m, const std::string& metricName) {
  double sum = 0;
  bool matched = false;
  for (const auto& v : m.metrics) {
    if (equalsIgnoreCase(v.metricName, metricName)) {
      sum += v.value;
      matched = true;
    }
  }
  if (!matched) {
    for (const auto& v : m.metrics) sum += v.value;  // scalers that name values loosely
  }
  return sum;
}

// Holds the executor's events while the policy may still change what they announce.
struct BufferedEvents final : EventSink {
  void emit(const std::string& object, const Event& event) override {
    events.emplace_back(object, event);
  }
  std::vector<std::pair<std::string, Event>> events;
};

std::string joinReason(const std::string& a, const std::string& b) {
  return a.empty() ? b : a + "; " + b;
}

}  // namespace

// The executor's scale requests (source "activation") pass through the policy: the executor
// decides that and where to scale, the policy has the final word on the number.
class ScaledObjectHandler::PolicyTarget final : public ScaleTarget {
 public:
  PolicyTarget(ScaledObjectHandler& handler, TimePoint now, const PauseState& pause)
      : h_(handler), now_(now), pause_(pause) {}
  std::string describe() const override { return h_.target_.describe(); }
  Result<int32_t> currentReplicas() override { return h_.target_.currentReplicas(); }
  Result<int32_t> readyReplicas() override { return h_.target_.readyReplicas(); }
  Status setReplicas(int32_t replicas) override {
    auto cur = h_.target_.currentReplicas();
    if (!cur.isOk()) return cur.status();
    from = *cur;
    proposed = replicas;
    std::vector<std::optional<double>> values;
    values.reserve(h_.readings_.size());
    for (const auto& r : h_.readings_) values.push_back(r.value);
    outcome = h_.consultPolicy(kPolicySourceActivation, now_, from, proposed, values, pause_);
    if (outcome.consulted && outcome.desired == from) {
      held = true;  // nothing to write
      return Status::ok();
    }
    Status s = h_.applyReplicas(from, outcome.desired, now_);
    wrote = s.isOk();
    return s;
  }

  PolicyOutcome outcome;
  int32_t from = 0;
  int32_t proposed = 0;
  bool held = false;
  bool wrote = false;

 private:
  ScaledObjectHandler& h_;
  TimePoint now_;
  const PauseState& pause_;
};

TriggerReading TriggerReading::of(const BuiltTrigger& t, const MetricSpec& spec) {
  TriggerReading r;
  r.key = t.key();
  r.metricName = spec.metricName;
  r.type = t.trigger.type;
  r.target = spec.target;
  r.targetType = spec.targetType;
  return r;
}

struct ScaledObjectHandler::TriggerState {
  BuiltTrigger built;
  std::unique_ptr<Scaler> scaler;
  size_t firstReading = 0;  // index into readings_ of specs[0]
  int formulaVariable = -1;
  std::vector<std::unique_ptr<TriggerMetrics>> metrics;  // per spec
};

ScaledObjectHandler::ScaledObjectHandler(ScaledObject object, ScaleTarget& target,
                                         ScalerBuilder builder, ScaledObjectHandlerOptions options)
    : object_(std::move(object)),
      target_(target),
      builder_(std::move(builder)),
      options_(options),
      key_(fmt::format("ScaledObject/{}/{}", object_.metadata.namespace_, object_.metadata.name)) {}

ScaledObjectHandler::~ScaledObjectHandler() {
  for (auto& t : triggers_) {
    if (t->scaler) t->scaler->close();
  }
}

Result<std::unique_ptr<ScaledObjectHandler>> ScaledObjectHandler::create(
    ScaledObject object, std::vector<BuiltTrigger> triggers, ScaleTarget& target,
    ScalerBuilder builder, ScaledObjectHandlerOptions options) {
  std::unique_ptr<ScaledObjectHandler> h(
      new ScaledObjectHandler(std::move(object), target, std::move(builder), options));
  const ScaledObject& so = h->object_;
  if (options.initialStatus) {
    h->status_ = *options.initialStatus;
    h->status_.externalMetricNames.clear();  // recomputed below from the current triggers
    h->status_.resourceMetricNames.clear();
    h->status_.compositeScalerName.clear();
    h->options_.initialStatus.reset();  // not kept twice
  }
  if (const ScalingModifiers* mods = so.scalingModifiers()) {
    for (const auto& t : triggers) {
      if (!t.trigger.name.empty() && !t.isResourceTrigger()) {
        h->formulaVariables_.push_back(t.trigger.name);
      }
    }
    auto formula = Formula::compile(mods->formula, h->formulaVariables_);
    if (!formula.isOk()) {
      return formula.status().withContext("spec.advanced.scalingModifiers.formula");
    }
    h->formula_.emplace(std::move(*formula));
    if (!mods->activationTarget.empty()) {
      auto v = parseDouble(mods->activationTarget);
      if (!v) {
        return Status::invalidArgument("spec.advanced.scalingModifiers.activationTarget: \"" +
                                       mods->activationTarget + "\" is not a number");
      }
      h->activationTarget_ = *v;
    }
    h->modifiersTarget_ = parseDouble(mods->target).value_or(0);
    h->status_.compositeScalerName = "composite-metric";
  }
  HpaConfig hpaConfig;
  hpaConfig.tolerance = options.tolerance;
  hpaConfig.downscaleStabilization = options.downscaleStabilization;
  hpaConfig.namespace_ = so.metadata.namespace_;
  hpaConfig.externalMetricSelector = kedaMetricSelector(so.metadata.name);
  h->hpa_ = HpaCalculator(hpaConfig);
  if (options.metrics) {
    h->objectMetrics_ =
        options.metrics->object(so.metadata.namespace_, so.metadata.name, "scaledobject");
  }
  for (auto& bt : triggers) {
    auto state = std::make_unique<TriggerState>();
    state->firstReading = h->readings_.size();
    for (const auto& spec : bt.specs) {
      h->readings_.push_back(TriggerReading::of(bt, spec));
      if (spec.source == MetricSpec::Source::kExternal) {
        h->status_.externalMetricNames.push_back(spec.metricName);
      } else {
        h->status_.resourceMetricNames.push_back(spec.metricName);
      }
      if (options.metrics) {
        state->metrics.push_back(options.metrics->trigger(
            ScalerMetricLabels{so.metadata.namespace_, so.metadata.name, bt.scalerLabel(), bt.index,
                               spec.metricName, "scaledobject"}));
      }
    }
    for (size_t v = 0; v < h->formulaVariables_.size(); ++v) {
      if (h->formulaVariables_[v] == bt.trigger.name) state->formulaVariable = static_cast<int>(v);
    }
    state->built = std::move(bt);
    h->triggers_.push_back(std::move(state));
  }
  return h;
}

void ScaledObjectHandler::updatePauseCondition(const PauseState& pause) {
  const bool pausedNow = pause.paused || pause.pausedScaleIn || pause.pausedScaleOut;
  const bool wasPaused = status_.paused.status == ConditionStatus::kTrue;
  if (pausedNow && !wasPaused) {
    status_.paused = {ConditionStatus::kTrue, "ScaledObjectPaused", "ScaledObject is paused"};
    if (options_.events) {
      options_.events->emit(
          key_, Event{Event::Type::kNormal, "ScaledObjectPaused", "ScaledObject is paused"});
    }
  } else if (!pausedNow && wasPaused) {
    status_.paused = {ConditionStatus::kFalse, "ScaledObjectUnpaused",
                      "pause annotation removed for ScaledObject"};
    status_.pausedReplicaCount.reset();
    if (options_.events) {
      options_.events->emit(
          key_, Event{Event::Type::kNormal, "ScaledObjectUnpaused", "ScaledObject was unpaused"});
    }
  }
}

std::optional<double> ScaledObjectHandler::evaluateComposite(
    const std::vector<std::optional<double>>& values, std::string* error) const {
  auto r = formula_->evaluate(values);
  if (!r.isOk()) {
    *error = r.status().message();
    return std::nullopt;
  }
  return *r;
}

PollReport ScaledObjectHandler::poll(TimePoint now, TimePoint deadline) {
  PollReport report;
  const auto loopStart = std::chrono::steady_clock::now();
  const PauseState pause = readPauseState(object_.metadata);
  if (objectMetrics_) objectMetrics_->paused(pause.paused);
  updatePauseCondition(pause);
  if (pause.paused) {
    report.paused = true;
    status_.pausedReplicaCount = pause.pausedReplicas;
    if (pause.pausedReplicas) {
      auto cur = target_.currentReplicas();
      if (cur.isOk() && *cur != *pause.pausedReplicas) {
        Status s = applyReplicas(*cur, *pause.pausedReplicas, now);
        report.outcome.scaled = s.isOk();
        report.outcome.from = *cur;
        report.outcome.to = *pause.pausedReplicas;
      }
      report.outcome.decision = fmt::format("paused at {} replicas", *pause.pausedReplicas);
    } else {
      report.outcome.decision =
          pause.pausedReplicasInvalid ? "paused (paused-replicas is not an integer)" : "paused";
    }
    return report;
  }

  const Fallback* fallback = hasValidFallback(object_) ? &*object_.spec.fallback : nullptr;
  const bool modifiersFallback = fallback && fallback->behavior == "scalingModifiers";
  std::optional<int32_t> currentForFallback;
  auto fallbackValueFor = [&](const MetricSpec& spec) -> Result<double> {
    if (!currentForFallback) {
      auto cur = target_.currentReplicas();
      if (!cur.isOk()) return cur.status();
      currentForFallback = *cur;
    }
    auto ready = target_.readyReplicas();
    return fallbackMetricValue(spec, fallbackReplicas(*fallback, *currentForFallback),
                               ready.isOk() ? *ready : 0);
  };

  std::vector<std::optional<double>> formulaValues(formulaVariables_.size());
  std::vector<std::string> activeNames;
  std::optional<double> firstFallbackValue;
  bool allResource = true;
  for (auto& tp : triggers_) {
    TriggerState& t = *tp;
    if (!t.built.isResourceTrigger()) allResource = false;
    for (size_t s = 0; s < t.built.specs.size(); ++s) {
      const MetricSpec& spec = t.built.specs[s];
      TriggerReading& reading = readings_[t.firstReading + s];
      const auto start = std::chrono::steady_clock::now();
      auto r = fetchWithRebuild(t.scaler, builder_, t.built, spec.metricName, deadline);
      const double latency =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      if (spec.source != MetricSpec::Source::kExternal) {
        // cpu/memory never decide activity; the value is shown when the engine can read it.
        reading.active = true;
        reading.value.reset();
        if (r.isOk() && !r->metrics.empty()) reading.value = r->metrics.front().value;
        reading.error = r.isOk() ? "" : r.status().message();
        continue;
      }
      if (!r.isOk()) {
        const bool fallbackNow =
            recordMetricFetch(object_, status_, spec.metricName, /*succeeded=*/false);
        reading.error = r.status().message();
        reading.value.reset();
        reading.fallback = false;
        if (!t.metrics.empty()) t.metrics[s]->error();
        if (objectMetrics_) objectMetrics_->error();
        if (fallbackNow && !modifiersFallback) {
          auto v = fallbackValueFor(spec);
          if (v.isOk()) {
            reading.value = *v;
            reading.fallback = true;
            reading.active = true;  // a trigger in fallback counts as active, not as an error
            activeNames.push_back(spec.metricName);
            if (!firstFallbackValue) firstFallbackValue = *v;
          } else {
            report.isError = true;
            reading.active = false;
          }
        } else if (fallbackNow && modifiersFallback) {
          reading.active = false;  // its formula variable becomes nil
        } else {
          report.isError = true;
          reading.active = false;
        }
        if (options_.events) {
          options_.events->emit(
              key_, Event{Event::Type::kWarning,
                          formula_ ? "KEDAMetricSourceFailed" : "KEDAScalerFailed", reading.error});
        }
      } else {
        recordMetricFetch(object_, status_, spec.metricName, /*succeeded=*/true);
        const double value = sumFor(*r, spec.metricName);
        reading.value = value;
        reading.active = r->isActive;
        reading.fallback = false;
        reading.error.clear();
        if (r->isActive) activeNames.push_back(spec.metricName);
        if (!t.metrics.empty()) t.metrics[s]->observe(value, r->isActive, latency);
      }
      if (reading.active) report.isActive = true;
      status_.triggersActivity[spec.metricName] = reading.active;
      if (t.formulaVariable >= 0 && s == 0) formulaValues[t.formulaVariable] = reading.value;
    }
  }

  if (formula_) {
    std::string error;
    std::optional<double> composite;
    if (firstFallbackValue) {
      composite = firstFallbackValue;  // KEDA bypasses the formula while a trigger falls back
    } else {
      composite = evaluateComposite(formulaValues, &error);
      if (!composite && modifiersFallback && error.empty()) {
        composite = fallback->replicas * modifiersTarget_;
      }
    }
    if (!error.empty()) {
      report.isError = true;
      if (options_.events) {
        options_.events->emit(key_, Event{Event::Type::kWarning, "KEDAScalerFailed",
                                          "scalingModifiers formula: " + error});
      }
    }
    report.composite = composite;
    report.isActive = !report.isError && composite && *composite > activationTarget_;
  }
  if (allResource && !report.isError) report.isActive = true;
  updateFallbackCondition(object_, status_, options_.events, key_);

  ScaleRequest req;
  req.object = &object_;
  req.isActive = report.isActive;
  req.isError = report.isError;
  req.now = now;
  req.createdAt = options_.createdAt;
  req.activeMetricNames = std::move(activeNames);
  PolicyTarget scaleTarget(*this, now, pause);
  BufferedEvents buffered;
  report.outcome =
      requestScale(req, scaleTarget, status_, options_.policy ? &buffered : options_.events, key_);
  if (scaleTarget.outcome.consulted) {
    const PolicyOutcome& po = scaleTarget.outcome;
    ScaleOutcome& out = report.outcome;
    if (!po.error.empty()) {
      out.decision += fmt::format("; policy failed (using {}): {}", scaleTarget.proposed, po.error);
    } else if (scaleTarget.held) {
      out.decision += fmt::format("; policy holds {}", scaleTarget.from);
    } else if (po.desired != scaleTarget.proposed) {
      out.decision += fmt::format("; policy: {} instead of {}", po.desired, scaleTarget.proposed);
    }
    if (scaleTarget.held || scaleTarget.wrote) {
      out.scaled = scaleTarget.wrote;
      out.to = scaleTarget.wrote ? po.desired : scaleTarget.from;
    }
  }
  for (auto& [object, event] : buffered.events) {
    if (!options_.events) break;
    const PolicyOutcome& po = scaleTarget.outcome;
    if (po.consulted && (event.reason == "KEDAScaleTargetActivated" ||
                         event.reason == "KEDAScaleTargetDeactivated")) {
      if (scaleTarget.held) continue;  // nothing was scaled
      if (po.desired != scaleTarget.proposed) {
        event.message +=
            fmt::format(" (scaling policy: {} instead of {})", po.desired, scaleTarget.proposed);
      }
    }
    options_.events->emit(object, event);
  }
  if (objectMetrics_) {
    objectMetrics_->loopLatency(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - loopStart).count());
  }
  return report;
}

HpaReport ScaledObjectHandler::hpaSync(TimePoint now, TimePoint deadline) {
  HpaReport report;
  const PauseState pause = readPauseState(object_.metadata);
  if (pause.paused) {  // KEDA deletes the HPA while paused
    lastHpa_ = report;
    return report;
  }
  auto cur = target_.currentReplicas();
  auto ready = target_.readyReplicas();
  if (!cur.isOk() || !ready.isOk()) {
    report.reason = "cannot read the target: " +
                    (cur.isOk() ? ready.status().message() : cur.status().message());
    lastHpa_ = report;
    return report;
  }
  report.from = report.to = *cur;

  std::vector<std::optional<double>> policyValues(readings_.size());  // what this sync saw
  std::vector<HpaMetricInput> metrics =
      collectHpaMetrics(nullptr, *cur, *ready, deadline, &policyValues);
  // paused-scale-in/out become selectPolicy Disabled on the HPA's behavior (KEDA hpa.go).
  std::optional<HpaBehavior> behavior;
  if (const HpaBehavior* b = object_.hpaBehavior()) behavior = *b;
  if (pause.pausedScaleIn || pause.pausedScaleOut) {
    if (!behavior) behavior = HpaBehavior{};
    if (pause.pausedScaleIn) {
      if (!behavior->scaleDown) behavior->scaleDown = HpaScalingRules{};
      behavior->scaleDown->selectPolicy = "Disabled";
    }
    if (pause.pausedScaleOut) {
      if (!behavior->scaleUp) behavior->scaleUp = HpaScalingRules{};
      behavior->scaleUp->selectPolicy = "Disabled";
    }
  }

  HpaInput in;
  in.now = now;
  in.specReplicas = *cur;
  in.statusReplicas = *ready;
  in.readyReplicas = *ready;
  in.minReplicas = object_.hpaMinReplicas();
  in.maxReplicas = object_.effectiveMaxReplicaCount();
  in.behavior = behavior ? &*behavior : nullptr;
  in.metrics = std::move(metrics);
  HpaDecision d = hpa_.evaluate(in);
  report.evaluated = !(in.specReplicas == 0 && in.minReplicas != 0);  // 0 replicas: disabled
  report.reason = !d.error.isOk() && d.reason.empty() ? d.error.message() : d.reason;
  if (auto sel = d.metricName.find('('); sel != std::string::npos) {
    // Show the HPA's reason without its Go selector dump: "external metric s0-x above target".
    if (auto at = report.reason.find(d.metricName); at != std::string::npos) {
      report.reason.replace(at, d.metricName.size(), d.metricName.substr(0, sel));
    }
  }
  int32_t desired = d.rescale ? d.desiredReplicas : *cur;
  if (options_.policy) {
    // Asked at every sync: also when the HPA holds, and at 0 replicas where the HPA is disabled.
    const int32_t proposed = desired;
    PolicyOutcome po = consultPolicy(kPolicySourceHpa, now, *cur, proposed, policyValues, pause);
    desired = po.desired;
    if (!po.error.empty()) {
      report.policyError = po.error;
      report.reason = joinReason(report.reason,
                                 fmt::format("policy failed (using {}): {}", proposed, po.error));
    } else if (desired != proposed) {
      report.reason =
          joinReason(report.reason, fmt::format("policy: {} instead of {}", desired, proposed));
    }
  }
  if (desired != *cur) {
    Status s = applyReplicas(*cur, desired, now);
    if (s.isOk()) {
      report.rescaled = true;
      report.to = desired;
    } else {
      if (d.rescale) hpa_.reportRescaleFailure(s);
      report.reason = "rescale failed: " + s.message();
    }
  }
  lastHpa_ = report;
  return report;
}

std::vector<HpaMetricInput> ScaledObjectHandler::collectHpaMetrics(
    const std::string* only, int32_t current, int32_t ready, TimePoint deadline,
    std::vector<std::optional<double>>* policyValues) {
  const Fallback* fallback = hasValidFallback(object_) ? &*object_.spec.fallback : nullptr;
  const bool modifiersFallback = fallback && fallback->behavior == "scalingModifiers";
  const bool composite = formula_ && modifiersTarget_ > 0;

  std::vector<HpaMetricInput> metrics;
  std::vector<std::optional<double>> formulaValues(formulaVariables_.size());
  std::optional<double> firstFallbackValue;
  std::string compositeError;
  for (auto& tp : triggers_) {
    TriggerState& t = *tp;
    for (size_t s = 0; s < t.built.specs.size(); ++s) {
      const MetricSpec& spec = t.built.specs[s];
      // The metrics API asks for one metric; a composite needs every external one.
      if (only && (spec.source != MetricSpec::Source::kExternal ||
                   (!composite && !equalsIgnoreCase(spec.metricName, *only)))) {
        continue;
      }
      TriggerReading& reading = readings_[t.firstReading + s];
      HpaMetricInput m;
      m.spec = spec;
      if (spec.source != MetricSpec::Source::kExternal) {
        auto r = fetchWithRebuild(t.scaler, builder_, t.built, spec.metricName, deadline);
        if (r.isOk() && !r->metrics.empty()) {
          m.value = r->metrics.front().value;
          if (policyValues) (*policyValues)[t.firstReading + s] = r->metrics.front().value;
        } else {
          m.value = r.isOk()
                        ? Status::unavailable("no resource usage available for " + spec.metricName)
                        : r.status();
        }
        metrics.push_back(std::move(m));
        continue;
      }
      std::optional<double> value;
      std::string error;
      if (t.built.trigger.useCachedMetrics && (reading.value || !reading.error.empty())) {
        // The last poll's raw result, treated exactly like a fetch (KEDA's metric cache): a
        // value the poll replaced by fallback is served as the error it was.
        error = reading.error;
        if (error.empty()) value = reading.value;
      } else {
        auto r = fetchWithRebuild(t.scaler, builder_, t.built, spec.metricName, deadline);
        if (r.isOk()) {
          value = sumFor(*r, spec.metricName);
        } else {
          error = r.status().message();
        }
      }
      // Fallback counts every fetch, on this path as on the poll's.
      if (error.empty()) {
        recordMetricFetch(object_, status_, spec.metricName, true);
      } else if (recordMetricFetch(object_, status_, spec.metricName, false) &&
                 !modifiersFallback) {
        auto v = fallbackMetricValue(spec, fallbackReplicas(*fallback, current), ready);
        if (v.isOk()) {
          value = *v;
          error.clear();
          if (!firstFallbackValue) firstFallbackValue = *v;
        } else {
          error = v.status().message();
        }
      }
      if (t.formulaVariable >= 0 && s == 0) formulaValues[t.formulaVariable] = value;
      if (error.empty() && policyValues) (*policyValues)[t.firstReading + s] = value;
      if (!error.empty() && composite && compositeError.empty()) compositeError = error;
      if (composite) continue;
      if (error.empty() && value) {
        m.value = servedValue(*value);
      } else {
        m.value = Status::unavailable(error.empty() ? "no value" : error);
      }
      metrics.push_back(std::move(m));
    }
  }
  if (composite) {
    HpaMetricInput m;
    m.spec.source = MetricSpec::Source::kExternal;
    m.spec.metricName = "composite-metric";
    m.spec.targetType = object_.spec.advanced->scalingModifiers.metricType == "Value"
                            ? MetricTargetType::kValue
                            : MetricTargetType::kAverageValue;
    m.spec.target = modifiersTarget_;
    std::optional<double> value;
    if (firstFallbackValue) {
      value = firstFallbackValue;
    } else if (compositeError.empty() || modifiersFallback) {
      std::string error;
      value = evaluateComposite(formulaValues, &error);
      if (!value && modifiersFallback && error.empty()) {
        value = fallback->replicas * modifiersTarget_;
      }
      if (!error.empty()) compositeError = error;
    }
    if (value) {
      m.value = servedValue(*value);
    } else {
      m.value =
          Status::unavailable(compositeError.empty() ? "formula returned nil" : compositeError);
    }
    metrics.insert(metrics.begin(), std::move(m));
  }
  updateFallbackCondition(object_, status_, options_.events, key_);
  return metrics;
}

Result<double> ScaledObjectHandler::externalMetricValue(const std::string& metricName,
                                                        TimePoint deadline) {
  const bool composite = formula_ && modifiersTarget_ > 0;
  if (composite && !equalsIgnoreCase(metricName, "composite-metric")) {
    return Status::notFound("no matching metrics found for " + metricName);
  }
  auto cur = target_.currentReplicas();
  auto ready = target_.readyReplicas();
  std::vector<HpaMetricInput> metrics = collectHpaMetrics(
      &metricName, cur.isOk() ? *cur : 0, ready.isOk() ? *ready : 0, deadline, nullptr);
  if (metrics.empty()) return Status::notFound("no matching metrics found for " + metricName);
  const HpaMetricInput& m = metrics.front();
  if (!m.value.isOk()) {
    return Status::unavailable(
        fmt::format("metric:{} encountered error: {}", metricName, m.value.status().message()));
  }
  return *m.value;
}

Status ScaledObjectHandler::applyReplicas(int32_t from, int32_t to, TimePoint now) {
  Status s = target_.setReplicas(to);
  if (s.isOk() && to > from) lastScaleUp_ = now;
  if (s.isOk() && to < from) lastScaleDown_ = now;
  return s;
}

ScaledObjectHandler::PolicyOutcome ScaledObjectHandler::consultPolicy(
    const char* source, TimePoint now, int32_t current, int32_t proposed,
    const std::vector<std::optional<double>>& values, const PauseState& pause) {
  PolicyOutcome out;
  out.desired = proposed;
  if (!options_.policy) return out;
  out.consulted = true;

  while (!policyHistory_.empty() && (policyHistory_.size() >= kPolicyHistoryMaxSamples ||
                                     policyHistory_.front().time < now - kPolicyHistoryWindow)) {
    policyHistory_.pop_front();
  }
  PolicyInput in;
  in.now = now;
  in.currentReplicas = current;
  in.minReplicas = object_.effectiveMinReplicaCount();
  in.maxReplicas = object_.effectiveMaxReplicaCount();
  in.proposed = proposed;
  in.source = source;
  in.active = status_.active.status == ConditionStatus::kTrue;
  in.triggers.reserve(readings_.size());
  for (size_t i = 0; i < readings_.size(); ++i) {
    const TriggerReading& r = readings_[i];
    PolicyTrigger t;
    t.name = r.key;
    // A trigger with several metrics: the first keeps the key, the others add the metric name.
    if (i > 0 && readings_[i - 1].key == r.key) t.name = r.key + "/" + r.metricName;
    t.type = r.type;
    t.value = i < values.size() ? values[i] : std::nullopt;
    t.target = r.target;
    t.active = r.active;
    in.triggers.push_back(std::move(t));
  }
  in.history = &policyHistory_;
  in.lastScaleUp = lastScaleUp_;
  in.lastScaleDown = lastScaleDown_;

  Result<int32_t> r = options_.policy->desiredReplicas(in);
  if (r.isOk()) {
    const int32_t lo = std::min(in.minReplicas, proposed);
    const int32_t hi = std::max(in.maxReplicas, lo);
    int32_t d = std::clamp(*r, lo, hi);
    // paused-scale-in/out: never further than the engine's own proposal in a paused direction.
    if (pause.pausedScaleIn) d = std::max(d, std::min(current, proposed));
    if (pause.pausedScaleOut) d = std::min(d, std::max(current, proposed));
    out.desired = d;
  } else {
    out.error = r.status().message();
    if (out.error.empty()) out.error = r.status().toString();
  }
  // Said once per distinct error (again after 10 minutes), and "works again" once after each
  // failure that was said: a policy failing on and off does not flood the log.
  std::optional<Event> event;
  const std::string policyName = options_.policy->describe();
  if (!out.error.empty()) {
    if (out.error != policyErrorSaid_ || !policyErrorSaidAt_ ||
        now - *policyErrorSaidAt_ >= Seconds(600)) {
      event = Event{Event::Type::kWarning, "ScalingPolicyFailed",
                    fmt::format("scaling policy {} failed; the engine's own decisions apply until "
                                "it works: {}",
                                policyName, out.error)};
      policyErrorSaid_ = out.error;
      policyErrorSaidAt_ = now;
      policyRecoverySay_ = true;
    }
  } else if (policyRecoverySay_) {
    event = Event{Event::Type::kNormal, "ScalingPolicyRecovered",
                  fmt::format("scaling policy {} works again", policyName)};
    policyRecoverySay_ = false;
  }
  if (event && options_.events) {
    options_.events->emit(key_, *event);
  } else if (event) {
    spdlog::log(event->type == Event::Type::kWarning ? spdlog::level::warn : spdlog::level::info,
                "{}: {}", key_, event->message);
  }
  policyError_ = out.error;

  PolicySample sample;
  sample.time = now;
  sample.source = source;
  sample.replicas = current;
  sample.proposed = proposed;
  sample.desired = out.desired;
  sample.values.reserve(in.triggers.size());
  for (const auto& t : in.triggers) sample.values.push_back(t.value);
  policyHistory_.push_back(std::move(sample));
  return out;
}

}  // namespace updraft
