// Lua scaling policies (engine/include/updraft/scaling_policy.h): a ScaledObject annotation names
// a script whose global function policy(ctx) returns the replicas its target should have.
//
//   metadata:
//     annotations:
//       updraft.dev/policy-file: step-policy.lua     # or updraft.dev/policy: | <inline Lua>
//                                                    # or updraft.dev/policy-configmap: <cm>/<key>
//
//   function policy(ctx)            -- ctx: now, current, min, max, proposed, source, active,
//     return ctx.proposed           --      triggers, history, lastScaleUp, lastScaleDown, state
//   end
//
// Scripts come from the ScriptStore (compiled once per content, files and ConfigMap keys hot
// reloaded; a bad new version is refused and the old one keeps running). Each policy runs its own
// sandbox. The ctx fields and the result rules are documented in lua/README.md ("Scaling
// policies").
#pragma once

#include <memory>
#include <string>

#include "updraft/model.h"
#include "updraft/scaling_policy.h"
#include "updraft/status.h"

namespace updraft::lua {

// The object's policy, or nullptr when it has none of the three annotations. Errors: more than
// one annotation, a malformed policy-configmap value, an unreadable file, a syntax error (with
// "<chunk>:<line>:"), a top level that fails, no global function `policy`. When `errorPath` is
// given it receives the field path of the annotation at fault, e.g.
// metadata.annotations["updraft.dev/policy-file"] (messages do not repeat it).
// A ConfigMap policy has no version until the informer delivers the ConfigMap; until then its
// calls fail (and the engine applies its own proposals).
Result<std::shared_ptr<ScalingPolicy>> luaPolicyFor(const ScaledObject& so,
                                                    std::string* errorPath = nullptr);

}  // namespace updraft::lua
