#include "updraft/model.h"

#include <algorithm>

namespace updraft {

const char* metricTargetTypeName(MetricTargetType t) {
  switch (t) {
    case MetricTargetType::kAverageValue:
      return "AverageValue";
    case MetricTargetType::kValue:
      return "Value";
    case MetricTargetType::kUtilization:
      return "Utilization";
  }
  return "AverageValue";
}

std::string ScaledObject::hpaName() const {
  if (spec.advanced && spec.advanced->horizontalPodAutoscalerConfig &&
      !spec.advanced->horizontalPodAutoscalerConfig->name.empty()) {
    return spec.advanced->horizontalPodAutoscalerConfig->name;
  }
  return "keda-hpa-" + metadata.name;
}

const HpaBehavior* ScaledObject::hpaBehavior() const {
  if (spec.advanced && spec.advanced->horizontalPodAutoscalerConfig &&
      spec.advanced->horizontalPodAutoscalerConfig->behavior) {
    return &*spec.advanced->horizontalPodAutoscalerConfig->behavior;
  }
  return nullptr;
}

int32_t ScaledJob::minReplicaCount() const {
  if (!spec.minReplicaCount) return 0;
  if (spec.maxReplicaCount && *spec.minReplicaCount > *spec.maxReplicaCount) {
    return *spec.maxReplicaCount;
  }
  return *spec.minReplicaCount;
}

int32_t ScaledJob::maxReplicaCount() const {
  if (!spec.maxReplicaCount) return 100;  // QUIRK: not 100 - min
  if (spec.minReplicaCount && *spec.minReplicaCount > *spec.maxReplicaCount) {
    return *spec.maxReplicaCount;
  }
  return *spec.maxReplicaCount - minReplicaCount();
}

}  // namespace updraft
