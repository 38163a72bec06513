// The HorizontalPodAutoscaler a ScaledObject owns, built exactly as KEDA's controllers/keda/hpa.go
// builds it (keda-behaviour.md §3.10), and the rule KEDA uses to decide when an existing HPA must
// be updated. Pure functions: no I/O, no exceptions.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "updraft/model.h"
#include "updraft/status.h"
#include "updraft/triggers.h"

namespace updraft::kube {

// The resolved scale target (KEDA's GroupVersionKindResource).
struct ScaleTargetGvkr {
  std::string group;  // "" for the core group
  std::string version;
  std::string kind;
  std::string resource;

  std::string apiVersion() const;  // "apps/v1", or "v1" for the core group
  std::string kindString() const;  // status.scaleTargetKind: "apps/v1.Deployment" ("v1.X" for core)
};

// advanced.horizontalPodAutoscalerConfig.name, else "keda-hpa-<name>".
std::string hpaNameFor(const ScaledObject& so);

struct HpaBuildInput {
  const ScaledObject* object = nullptr;        // already validated
  const nlohmann::json* objectJson = nullptr;  // the SO as read from the API (metadata.uid)
  const std::vector<BuiltTrigger>* triggers = nullptr;  // from buildTriggers() (triggers.h)
  ScaleTargetGvkr target;
  std::string version = "0.1.0";  // app.kubernetes.io/version label value
};

// The owned autoscaling/v2 HorizontalPodAutoscaler as KEDA builds it: labels (name, version,
// part-of, managed-by, plus the SO's labels minus scaledobject.keda.sh/hpa-excluded-labels),
// all SO annotations, a controller ownerReference to the SO, minReplicas max(min,1), maxReplicas,
// behavior with selectPolicy Disabled for paused-scale-in/-out, and the metrics sorted by type
// (External metrics replaced by one "composite-metric" when scalingModifiers has a target > 0).
// InvalidArgument: missing input, an external metric name used twice ("metricName %s defined
// multiple times in ScaledObject %s"), no metrics at all.
Result<nlohmann::json> buildHpa(const HpaBuildInput& in);

// Whether `existing` (as read from the API) must be updated to match `desired` (from buildHpa).
// KEDA's rule: metrics count differs, behavior differs, a field set in desired.spec differs in
// existing.spec (DeepDerivative: fields only in `existing`, e.g. server defaults, are ignored),
// labels or annotations differ; plus: the controller ownerReference to the SO is missing.
bool hpaNeedsUpdate(const nlohmann::json& existing, const nlohmann::json& desired);

// The body of a PUT: `existing` with desired's labels, annotations, ownerReferences and spec,
// keeping everything else (metadata.resourceVersion, uid, status ...).
nlohmann::json hpaForUpdate(const nlohmann::json& existing, const nlohmann::json& desired);

// A quantity of `milli` thousandths in Kubernetes' canonical DecimalSI form, as
// resource.NewMilliQuantity(milli, DecimalSI).String(): 5000 -> "5", 1500 -> "1500m",
// 2000000 -> "2k", 0 -> "0".
std::string milliQuantityString(int64_t milli);

}  // namespace updraft::kube
