// ScaledObject / ScaledJob .status as Kubernetes JSON, with KEDA's field names and omitempty rules
// (keda-behaviour.md §1.2, §1.3, §1.5), the way back (so an operator restart continues where the
// last one stopped), and the merge patch that writes the difference. Pure functions.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "updraft/model.h"
#include "updraft/operator/hpa_builder.h"
#include "updraft/scaled_status.h"

namespace updraft::kube {

// What a ScaledObject's status holds beyond the engine's ScalableStatus.
struct StatusExtras {
  std::string scaleTargetKind;  // "" = gvkr->kindString() when gvkr is set
  std::optional<ScaleTargetGvkr> gvkr;
  std::string hpaName;
  std::string triggersTypes;
  std::string authenticationsTypes;
};

// KEDA's ScaledObject .status: conditions in the order Ready, Active, Fallback, Paused; health
// {numberOfFailures, status Happy|Failing}; triggersActivity {isActive}; lastActiveTime as RFC 3339
// seconds in UTC; the replica counts, metric names, compositeScalerName and the extras. Empty or
// unset fields are left out (Go's omitempty).
nlohmann::json scaledObjectStatusJson(const ScalableStatus& status, const StatusExtras& extras);

// KEDA's ScaledJob .status: conditions (Ready, Active, Fallback, Paused, as KEDA initialises all
// four), lastActiveTime, externalMetricNames, triggersActivity, triggersTypes,
// authenticationsTypes.
nlohmann::json scaledJobStatusJson(const ScalableStatus& status, const std::string& triggersTypes,
                                   const std::string& authenticationsTypes);

// A stored .status back into a ScalableStatus (conditions, lastActiveTime, replica counts, health,
// triggersActivity, metric names). Tolerant: fields of the wrong type are ignored.
ScalableStatus scalableStatusFromJson(const nlohmann::json& status);

// The RFC 7386 merge patch that turns `before` into `after`: objects recursively, removed keys as
// null, anything else (arrays included) replaced whole. An empty object when they are equal.
nlohmann::json mergePatchDiff(const nlohmann::json& before, const nlohmann::json& after);

// status.triggersTypes: unique trigger types, comma-joined, in order of first appearance.
std::string triggersTypesOf(const std::vector<ScaleTriggers>& triggers);
// status.authenticationsTypes: unique authenticationRef names (not kinds), comma-joined.
std::string authenticationsTypesOf(const std::vector<ScaleTriggers>& triggers);

}  // namespace updraft::kube
