// MetricsSink on prometheus-cpp with KEDA's metric names and labels (keda-behaviour.md §6.4), so
// dashboards built for KEDA keep working.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include <memory>
#include <string>

#include "updraft/metrics_sink.h"

namespace updraft::app {

class PrometheusMetrics final : public MetricsSink {
 public:
  explicit PrometheusMetrics(const std::string& version);
  std::unique_ptr<TriggerMetrics> trigger(const ScalerMetricLabels& labels) override;
  std::unique_ptr<ObjectMetrics> object(const std::string& namespace_, const std::string& name,
                                        const std::string& type) override;
  // A Lua script (re)load attempt: counts it and sets the script's error gauge (1 while its newest
  // version is refused and an older one keeps running or none is loaded).
  void scriptReload(const std::string& script, bool ok);
  // The text exposition format.
  std::string render() const;

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Gauge>& value_;
  prometheus::Family<prometheus::Gauge>& active_;
  prometheus::Family<prometheus::Gauge>& latency_;
  prometheus::Family<prometheus::Counter>& scalerErrors_;
  prometheus::Family<prometheus::Counter>& objectErrors_;
  prometheus::Family<prometheus::Counter>& jobErrors_;
  prometheus::Family<prometheus::Gauge>& paused_;
  prometheus::Family<prometheus::Gauge>& loopLatency_;
  prometheus::Family<prometheus::Counter>& scriptReloads_;
  prometheus::Family<prometheus::Gauge>& scriptError_;
};

}  // namespace updraft::app
