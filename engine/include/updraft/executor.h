// KEDA's scale executor for ScaledObjects (keda-behaviour.md §3.4): the 0<->N and idle<->min
// decisions, cooldown, initialCooldownPeriod, the below-min correction and the pause/force
// annotations. N<->M is the HPA's job (hpa.h); this function never computes N.
#pragma once

#include <string>
#include <vector>

#include "updraft/clock.h"
#include "updraft/model.h"
#include "updraft/scale_target.h"
#include "updraft/scaled_status.h"

namespace updraft {

// Annotation switches read from a ScaledObject (§2).
struct PauseState {
  bool paused = false;                    // autoscaling.keda.sh/paused (or paused-replicas present)
  std::optional<int32_t> pausedReplicas;  // value of paused-replicas when it parses
  bool pausedReplicasInvalid = false;     // paused-replicas present but not an int32
  bool pausedScaleIn = false;
  bool pausedScaleOut = false;
  bool forceActivation = false;
};
PauseState readPauseState(const ObjectMeta& metadata);

struct ScaleRequest {
  const ScaledObject* object = nullptr;
  bool isActive = false;
  bool isError = false;
  TimePoint now;
  // When the object was first seen (creationTimestamp; used by initialCooldownPeriod).
  TimePoint createdAt;
  // Metric names of the active triggers, for the activation event text.
  std::vector<std::string> activeMetricNames;
};

// What requestScale did, for logs and the status line.
struct ScaleOutcome {
  bool scaled = false;
  int32_t from = 0;
  int32_t to = 0;
  std::string decision;  // short human text: "activated 0 -> 1", "cooldown 120s left", ...
};

// KEDA's RequestScale: reads the target's replicas, updates `status` (Ready/Active conditions,
// lastActiveTime) and scales the target when the table says so. Emits KEDA's events to `events`
// (may be null) under `objectKey`.
ScaleOutcome requestScale(const ScaleRequest& request, ScaleTarget& target, ScalableStatus& status,
                          EventSink* events, const std::string& objectKey);

}  // namespace updraft
