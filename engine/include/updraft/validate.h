// The one validation of KEDA objects, shared by `updraft validate`, the engine (before it runs an
// object) and the admission webhook. It applies, without a cluster:
//   - the CRD rules the API server enforces (minimums, enums, min <= max CEL rule),
//   - KEDA's admission webhook rules that need no cluster lookups (keda-behaviour.md §5),
//   - KEDA's shared trigger rules (§1.7) and replica bounds (§1.8),
//   - every trigger's scaler parse (ScalerRegistry, offline: ScalerConfig::secretsUnresolved),
//   - the relevance warnings of §3.5 and a few Updraft warnings for KEDA's silent quirks.
// Messages copied from KEDA are verbatim; problem paths are field paths as in parse.h.
// Nothing here throws.
#pragma once

#include <vector>

#include "updraft/model.h"
#include "updraft/parse.h"

namespace updraft {

struct ValidationReport {
  std::vector<Problem> errors;
  std::vector<Problem> warnings;

  bool ok() const { return errors.empty(); }
};

ValidationReport validateScaledObject(const ScaledObject& object);
ValidationReport validateScaledJob(const ScaledJob& job);
ValidationReport validateTriggerAuthentication(const TriggerAuthentication& auth);
ValidationReport validateProcessPool(const ProcessPool& pool);

// The document's parse problems plus the semantic ones of its object. A trigger that already has a
// parse error is not handed to its scaler, and a semantic problem at a path that already has a
// parse error is dropped (it would only repeat it). Uses the raw JSON where the model cannot tell
// "unset" from "empty" (podIdentity.identityId / identityTenantId set to "").
ValidationReport validateDocument(const Document& document);

}  // namespace updraft
