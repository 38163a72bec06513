#include "updraft/executor.h"

#include <fmt/format.h>

#include <charconv>

namespace updraft {
namespace {

constexpr const char* kReadyMessage = "ScaledObject is defined correctly and is ready for scaling";

std::optional<int32_t> parseInt32(const std::string& s) {
  int32_t v = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || ptr != s.data() + s.size()) return std::nullopt;
  return v;
}

void emit(EventSink* sink, const std::string& key, Event::Type type, std::string reason,
          std::string message) {
  if (sink) sink->emit(key, Event{type, std::move(reason), std::move(message)});
}

std::string targetName(const ScaledObject& so) {
  return fmt::format("{} {}/{}", so.spec.scaleTargetRef.effectiveKind(), so.metadata.namespace_,
                     so.spec.scaleTargetRef.name);
}

std::string joinNames(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) {
    if (!out.empty()) out += ";";
    out += n;
  }
  return out;
}

void scaleToZeroOrIdle(const ScaleRequest& req, const PauseState& pause, int32_t current,
                       ScaleTarget& target, ScalableStatus& status, EventSink* events,
                       const std::string& key, ScaleOutcome& out) {
  const ScaledObject& so = *req.object;
  if (pause.pausedScaleIn) {
    out.decision = "scale-in paused";
    return;
  }
  bool eligible;
  TimePoint since;
  if (!status.lastActiveTime) {
    since = req.createdAt + Seconds(so.effectiveInitialCooldownPeriod());
  } else {
    since = *status.lastActiveTime + Seconds(so.effectiveCooldownPeriod());
  }
  eligible = since < req.now;  // strict "before", as KEDA
  if (!eligible) {
    status.active = {ConditionStatus::kFalse, "ScalerCooldown",
                     "Scaler cooling down because triggers are not active"};
    auto left = std::chrono::duration_cast<Seconds>(since - req.now).count();
    out.decision = fmt::format("cooldown, {}s left", left);
    return;
  }
  int32_t to = so.spec.idleReplicaCount ? *so.spec.idleReplicaCount : so.effectiveMinReplicaCount();
  Status s = target.setReplicas(to);
  if (!s.isOk()) {
    emit(events, key, Event::Type::kWarning, "KEDAScaleTargetDeactivationFailed",
         fmt::format("Failed to deactivated {}: {}", targetName(so), s.message()));
    out.decision = "deactivation failed: " + s.message();
    return;
  }
  emit(events, key, Event::Type::kNormal, "KEDAScaleTargetDeactivated",
       fmt::format("Deactivated {} from {} to {}", targetName(so), current, to));
  status.active = {ConditionStatus::kFalse, "ScalerNotActive",
                   "Scaling is not performed because triggers are not active"};
  out.scaled = true;
  out.to = to;
  out.decision = fmt::format("deactivated {} -> {}", current, to);
}

}  // namespace

PauseState readPauseState(const ObjectMeta& metadata) {
  PauseState p;
  const auto& a = metadata.annotations;
  if (auto it = a.find(annotations::kPaused); it != a.end()) {
    p.paused = parseKedaBoolAnnotation(it->second);
  }
  if (auto it = a.find(annotations::kPausedReplicas); it != a.end()) {
    p.paused = true;  // mere presence pauses
    p.pausedReplicas = parseInt32(it->second);
    p.pausedReplicasInvalid = !p.pausedReplicas.has_value();
  }
  if (auto it = a.find(annotations::kPausedScaleIn); it != a.end()) {
    p.pausedScaleIn = parseKedaBoolAnnotation(it->second);
  }
  if (auto it = a.find(annotations::kPausedScaleOut); it != a.end()) {
    p.pausedScaleOut = parseKedaBoolAnnotation(it->second);
  }
  if (auto it = a.find(annotations::kForceActivation); it != a.end()) {
    p.forceActivation = parseKedaBoolAnnotation(it->second);
  }
  return p;
}

ScaleOutcome requestScale(const ScaleRequest& req, ScaleTarget& target, ScalableStatus& status,
                          EventSink* events, const std::string& key) {
  const ScaledObject& so = *req.object;
  ScaleOutcome out;
  status.ready = {ConditionStatus::kTrue, "ScaledObjectReady", kReadyMessage};

  Result<int32_t> currentOr = target.currentReplicas();
  if (!currentOr.isOk()) {
    status.ready = {ConditionStatus::kFalse, "ErrorGettingCurrentReplicas",
                    currentOr.status().message()};
    out.decision = "cannot read replicas: " + currentOr.status().message();
    return out;
  }
  const int32_t current = *currentOr;
  out.from = out.to = current;

  PauseState pause = readPauseState(so.metadata);
  if (pause.paused) {
    status.paused = {ConditionStatus::kTrue, "ScaledObjectPaused", "ScaledObject is paused"};
    out.decision = "paused";
    return out;
  }

  const int32_t minReplicas = so.effectiveMinReplicaCount();
  const std::optional<int32_t> idle = so.spec.idleReplicaCount;

  if (req.isActive || pause.forceActivation) {
    status.active = {ConditionStatus::kTrue, "ScalerActive",
                     pause.forceActivation && !req.isActive
                         ? "Scaling is performed because activation is being forced by annotation"
                         : "Scaling is performed because triggers are active"};
    if ((idle && current < minReplicas) || current == 0) {
      // Scale from zero (or from idle): runs even when some trigger errored.
      if (pause.pausedScaleOut) {
        out.decision = "active; scale-out paused";
        return out;
      }
      int32_t to = minReplicas > 0 ? minReplicas : 1;
      Status s = target.setReplicas(to);
      if (!s.isOk()) {
        emit(events, key, Event::Type::kWarning, "KEDAScaleTargetActivationFailed",
             fmt::format("Failed to scaled {} from {} to {}: {}", targetName(so), current, to,
                         s.message()));
        out.decision = "activation failed: " + s.message();
        return out;
      }
      std::string cause = !req.isActive && pause.forceActivation
                              ? "caused by forced activation annotation"
                              : "triggered by " + joinNames(req.activeMetricNames);
      emit(events, key, Event::Type::kNormal, "KEDAScaleTargetActivated",
           fmt::format("Scaled {} from {} to {}, {}", targetName(so), current, to, cause));
      status.lastActiveTime = req.now;
      out.scaled = true;
      out.to = to;
      out.decision = fmt::format("activated {} -> {}", current, to);
      return out;
    }
    if (req.isError) {
      // lastActiveTime is deliberately not refreshed (KEDA).
      status.ready = {ConditionStatus::kUnknown, "PartialTriggerError",
                      "Some triggers defined in ScaledObject are not working correctly"};
      out.decision = "active with trigger errors";
      return out;
    }
    status.lastActiveTime = req.now;
    out.decision = "active; HPA scales";
    return out;
  }

  status.active = {ConditionStatus::kFalse, "ScalerNotActive",
                   "Scaling is not performed because triggers are not active"};
  if (req.isError && so.spec.fallback && so.spec.fallback->replicas != 0) {
    out.decision = "trigger error; fallback handles it";
    return out;
  }
  if (req.isError && !so.spec.fallback) {
    status.ready = {ConditionStatus::kFalse, "TriggerError",
                    "Triggers defined in ScaledObject are not working correctly"};
    out.decision = "trigger error; holding replicas";
    return out;
  }
  if ((idle && current > *idle) || (current > 0 && minReplicas == 0)) {
    scaleToZeroOrIdle(req, pause, current, target, status, events, key, out);
    return out;
  }
  if (!idle && current < minReplicas) {
    // Below-min correction: immediate, not blocked by paused-scale-out (KEDA QUIRK).
    Status s = target.setReplicas(minReplicas);
    if (s.isOk()) {
      out.scaled = true;
      out.to = minReplicas;
      out.decision = fmt::format("below min {} -> {}", current, minReplicas);
    } else {
      out.decision = "below-min correction failed: " + s.message();
    }
    return out;
  }
  out.decision = "inactive";
  return out;
}

}  // namespace updraft
