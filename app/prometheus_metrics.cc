#include "prometheus_metrics.h"

#include <prometheus/text_serializer.h>

namespace updraft::app {
namespace {

class PromTriggerMetrics final : public TriggerMetrics {
 public:
  PromTriggerMetrics(prometheus::Gauge& v, prometheus::Gauge& a, prometheus::Gauge& l,
                     prometheus::Counter& e)
      : value_(v), active_(a), latency_(l), errors_(e) {}
  void observe(double value, bool active, double latencySeconds) override {
    value_.Set(value);
    active_.Set(active ? 1 : 0);
    latency_.Set(latencySeconds);
  }
  void error() override { errors_.Increment(); }

 private:
  prometheus::Gauge& value_;
  prometheus::Gauge& active_;
  prometheus::Gauge& latency_;
  prometheus::Counter& errors_;
};

class PromObjectMetrics final : public ObjectMetrics {
 public:
  PromObjectMetrics(prometheus::Gauge* p, prometheus::Gauge& l, prometheus::Counter& e)
      : paused_(p), latency_(l), errors_(e) {}
  void paused(bool paused) override {
    if (paused_) paused_->Set(paused ? 1 : 0);
  }
  void loopLatency(double seconds) override { latency_.Set(seconds); }
  void error() override { errors_.Increment(); }

 private:
  prometheus::Gauge* paused_;
  prometheus::Gauge& latency_;
  prometheus::Counter& errors_;
};

}  // namespace

PrometheusMetrics::PrometheusMetrics(const std::string& version)
    : registry_(std::make_shared<prometheus::Registry>()),
      value_(prometheus::BuildGauge()
                 .Name("keda_scaler_metrics_value")
                 .Help("The current value for each scaler's metric that would be used by the HPA "
                       "in computing the target average.")
                 .Register(*registry_)),
      active_(prometheus::BuildGauge()
                  .Name("keda_scaler_active")
                  .Help("Activity of a Scaler Metric")
                  .Register(*registry_)),
      latency_(prometheus::BuildGauge()
                   .Name("keda_scaler_metrics_latency_seconds")
                   .Help("The latency of retrieving current metric from each scaler")
                   .Register(*registry_)),
      scalerErrors_(prometheus::BuildCounter()
                        .Name("keda_scaler_detail_errors_total")
                        .Help("The total number of errors encountered for each scaler")
                        .Register(*registry_)),
      objectErrors_(prometheus::BuildCounter()
                        .Name("keda_scaled_object_errors_total")
                        .Help("The number of errors that have occurred for each ScaledObject")
                        .Register(*registry_)),
      jobErrors_(prometheus::BuildCounter()
                     .Name("keda_scaled_job_errors_total")
                     .Help("Number of scaled job errors")
                     .Register(*registry_)),
      paused_(prometheus::BuildGauge()
                  .Name("keda_scaled_object_paused")
                  .Help("Indicates whether a ScaledObject is paused")
                  .Register(*registry_)),
      loopLatency_(prometheus::BuildGauge()
                       .Name("keda_internal_scale_loop_latency_seconds")
                       .Help("Total deviation (in seconds) between the expected execution time "
                             "and the actual execution time for the scaling loop.")
                       .Register(*registry_)),
      scriptReloads_(prometheus::BuildCounter()
                         .Name("updraft_lua_script_reloads_total")
                         .Help("Lua script versions offered by a file or ConfigMap, by result "
                               "(success, or failure when the version was refused)")
                         .Register(*registry_)),
      scriptError_(prometheus::BuildGauge()
                       .Name("updraft_lua_script_reload_error")
                       .Help("1 while the newest version of a Lua script is refused (the previous "
                             "one keeps running)")
                       .Register(*registry_)) {
  prometheus::BuildGauge()
      .Name("keda_build_info")
      .Help(
          "A metric with a constant '1' value labeled by version, git_commit and goversion "
          "from which KEDA was built.")
      .Register(*registry_)
      .Add({{"version", version},
            {"git_commit", "updraft"},
            {"goversion", "none (C++)"},
            {"goos", "linux"},
            {"goarch", "amd64"}})
      .Set(1);
}

std::unique_ptr<TriggerMetrics> PrometheusMetrics::trigger(const ScalerMetricLabels& l) {
  const std::map<std::string, std::string> labels = {
      {"namespace", l.namespace_},
      {"metric", l.metric},
      {"scaledObject", l.scaledObject},
      {"scaler", l.scaler},
      {"triggerIndex", std::to_string(l.triggerIndex)},
      {"type", l.type}};
  return std::make_unique<PromTriggerMetrics>(value_.Add(labels), active_.Add(labels),
                                              latency_.Add(labels), scalerErrors_.Add(labels));
}

std::unique_ptr<ObjectMetrics> PrometheusMetrics::object(const std::string& ns,
                                                         const std::string& name,
                                                         const std::string& type) {
  const bool job = type == "scaledjob";
  prometheus::Gauge* paused =
      job ? nullptr : &paused_.Add({{"namespace", ns}, {"scaledObject", name}});
  auto& errors = job ? jobErrors_.Add({{"namespace", ns}, {"scaledJob", name}})
                     : objectErrors_.Add({{"namespace", ns}, {"scaledObject", name}});
  auto& latency = loopLatency_.Add({{"namespace", ns}, {"type", type}, {"resource", name}});
  return std::make_unique<PromObjectMetrics>(paused, latency, errors);
}

void PrometheusMetrics::scriptReload(const std::string& script, bool ok) {
  scriptReloads_.Add({{"script", script}, {"result", ok ? "success" : "failure"}}).Increment();
  scriptError_.Add({{"script", script}}).Set(ok ? 0 : 1);
}

std::string PrometheusMetrics::render() const {
  return prometheus::TextSerializer().Serialize(registry_->Collect());
}

}  // namespace updraft::app
