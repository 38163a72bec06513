// Where the engine reports its Prometheus-style metrics. Implementations keep KEDA's metric names
// (keda_scaler_metrics_value, keda_scaler_active, ...) so existing dashboards keep working.
// Handles are created once per trigger / object, so the hot path does no label lookups.
#pragma once

#include <memory>
#include <string>

namespace updraft {

struct ScalerMetricLabels {
  std::string namespace_;
  std::string scaledObject;  // also holds the ScaledJob name, as in KEDA
  std::string scaler;        // trigger name, or KEDA's Go type name when unnamed
  int triggerIndex = 0;
  std::string metric;
  std::string type;  // "scaledobject" | "scaledjob"
};

class TriggerMetrics {
 public:
  virtual ~TriggerMetrics() = default;
  virtual void observe(double value, bool active, double latencySeconds) = 0;
  virtual void error() = 0;
};

class ObjectMetrics {
 public:
  virtual ~ObjectMetrics() = default;
  virtual void paused(bool paused) = 0;
  virtual void loopLatency(double seconds) = 0;
  virtual void error() = 0;
};

class MetricsSink {
 public:
  virtual ~MetricsSink() = default;
  virtual std::unique_ptr<TriggerMetrics> trigger(const ScalerMetricLabels& labels) = 0;
  virtual std::unique_ptr<ObjectMetrics> object(const std::string& namespace_,
                                                const std::string& name,
                                                const std::string& type) = 0;
};

}  // namespace updraft
