// Scaling policies: for targets the engine scales itself (a ProcessPool under `updraft run`, the
// virtual target of `updraft simulate`), a policy has the final word on every replica change the
// engine makes. ScaledObjectHandler asks it
//   - at every HPA sync (source "hpa"), also when the HPA proposes no change and when the target is
//     at 0 replicas (where the HPA is disabled), with `proposed` = the HPA's desired replicas (the
//     current replicas when the HPA did not evaluate), and
//   - whenever KEDA's executor scales (source "activation": 0 -> 1 or min, -> 0 / idle after the
//     cooldown, the below-min correction), with `proposed` = the executor's target.
// The result is clamped to [min(minReplicaCount, proposed), maxReplicaCount]; the target is set
// when it differs from the current replicas. While the object is paused (paused,
// paused-replicas) the policy is not asked; with paused-scale-in / paused-scale-out it cannot move
// the target further than the engine's proposal in the paused direction.
//
// A policy that fails never stops scaling: the engine applies its own proposal, logs the error
// (when it changes) and reports it (HpaReport::policyError, ScaledObjectHandler::policyError(),
// the poll's decision text).
//
// The engine knows no language: lua/ implements this interface for Lua scripts (lua_policy.h).
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <vector>

#include "updraft/clock.h"
#include "updraft/status.h"

namespace updraft {

inline constexpr const char* kPolicySourceHpa = "hpa";
inline constexpr const char* kPolicySourceActivation = "activation";

// The handler keeps at most this much history per object (whichever bound is hit first).
inline constexpr size_t kPolicyHistoryMaxSamples = 720;
inline constexpr Seconds kPolicyHistoryWindow{3600};

// One trigger metric as the engine sees it for this decision.
struct PolicyTrigger {
  std::string name;             // the trigger's key: its name, or trigger<i> when unnamed
  std::string type;             // the trigger type, e.g. "kafka"
  std::optional<double> value;  // nullopt: the fetch failed (or never ran)
  double target = 0;
  bool active = false;  // from the last poll
};

// One earlier decision of this object's policy.
struct PolicySample {
  TimePoint time{};
  std::string source;    // kPolicySourceHpa | kPolicySourceActivation
  int32_t replicas = 0;  // before the decision
  int32_t proposed = 0;  // the engine's proposal
  int32_t desired = 0;   // what was applied (after clamping; the proposal when the policy failed)
  std::vector<std::optional<double>> values;  // trigger values, in PolicyInput::triggers order
};

struct PolicyInput {
  TimePoint now{};  // the engine's clock (virtual time under `updraft simulate`)
  int32_t currentReplicas = 0;
  int32_t minReplicas = 0;  // minReplicaCount (default 0)
  int32_t maxReplicas = 0;  // maxReplicaCount (default 100)
  int32_t proposed = 0;
  std::string source;   // kPolicySourceHpa | kPolicySourceActivation
  bool active = false;  // the object's Active condition
  std::vector<PolicyTrigger> triggers;
  // Earlier decisions, oldest first (never null when the handler calls; bounded as above).
  const std::deque<PolicySample>* history = nullptr;
  // When the engine last raised / lowered the target's replicas (any path), if ever.
  std::optional<TimePoint> lastScaleUp;
  std::optional<TimePoint> lastScaleDown;
};

class ScalingPolicy {
 public:
  virtual ~ScalingPolicy() = default;
  // The replicas the target should have. An error makes the engine use input.proposed.
  // Never throws. Called from one thread at a time per handler.
  virtual Result<int32_t> desiredReplicas(const PolicyInput& input) = 0;
  // For logs: e.g. "Lua policy file /etc/updraft/step-policy.lua".
  virtual std::string describe() const = 0;
};

}  // namespace updraft
