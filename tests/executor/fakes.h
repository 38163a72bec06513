// Test doubles for the engine: a target, an event recorder and a programmable scaler.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "updraft/model.h"
#include "updraft/scale_target.h"
#include "updraft/scaled_status.h"
#include "updraft/scaler.h"
#include "updraft/triggers.h"

namespace updraft::testing {

inline ScaledObject makeScaledObject() {
  ScaledObject so;
  so.metadata.name = "so";
  so.metadata.namespace_ = "default";
  so.spec.scaleTargetRef.name = "app";
  ScaleTriggers t;
  t.type = "fake";
  so.spec.triggers.push_back(t);
  return so;
}

class FakeTarget : public ScaleTarget {
 public:
  explicit FakeTarget(int32_t r) : replicas(r) {}
  std::string describe() const override { return "fake"; }
  Result<int32_t> currentReplicas() override {
    if (failReads) return Status::unavailable("target unreadable");
    return replicas;
  }
  Result<int32_t> readyReplicas() override { return replicas; }
  Status setReplicas(int32_t r) override {
    replicas = r;
    ++writes;
    return Status::ok();
  }
  int32_t replicas;
  int writes = 0;
  bool failReads = false;
};

struct RecordingEvents : EventSink {
  void emit(const std::string&, const Event& e) override {
    std::lock_guard lock(mutex);
    events.push_back(e);
  }
  bool has(const std::string& reason) const {
    for (const auto& e : events) {
      if (e.reason == reason) return true;
    }
    return false;
  }
  std::mutex mutex;
  std::vector<Event> events;
};

// Values the fake scalers report, keyed by trigger key (name or trigger<i>); a missing key or an
// error string makes the fetch fail.
struct FakeSource {
  std::map<std::string, double> values;
  std::map<std::string, std::string> errors;
  int fetches = 0;
};

class FakeScaler : public Scaler {
 public:
  FakeScaler(FakeSource& src, std::string key, double threshold)
      : src_(src), key_(std::move(key)), threshold_(threshold) {}
  Result<MetricsAndActivity> getMetricsAndActivity(const std::string& metric, TimePoint) override {
    ++src_.fetches;
    if (auto it = src_.errors.find(key_); it != src_.errors.end()) {
      return Status::unavailable(it->second);
    }
    auto it = src_.values.find(key_);
    if (it == src_.values.end()) return Status::unavailable("no value for " + key_);
    MetricsAndActivity m;
    m.metrics.push_back({metric, it->second});
    m.isActive = it->second > threshold_;
    return m;
  }

 private:
  FakeSource& src_;
  std::string key_;
  double threshold_;
};

class FakeDefinition : public ScalerDefinition {
 public:
  FakeDefinition(MetricSpec spec, double threshold) : spec_(spec), threshold_(threshold) {}
  std::vector<MetricSpec> metricSpecs() const override { return {spec_}; }
  double activationThreshold() const override { return threshold_; }
  Result<std::unique_ptr<Scaler>> createScaler(const ScalerContext&) const override {
    return Status::internal("tests build scalers through the handler's builder");
  }

 private:
  MetricSpec spec_;
  double threshold_;
};

// A trigger named `name` (may be empty) at `index` with an AverageValue (or Value) target.
inline BuiltTrigger fakeTrigger(int index, std::string name, double target, double threshold = 0,
                                MetricTargetType type = MetricTargetType::kAverageValue) {
  BuiltTrigger bt;
  bt.index = index;
  bt.trigger.type = "fake";
  bt.trigger.name = std::move(name);
  MetricSpec spec;
  spec.metricName = "s" + std::to_string(index) + "-fake";
  spec.target = target;
  spec.targetType = type;
  bt.definition = std::make_shared<FakeDefinition>(spec, threshold);
  bt.specs = {spec};
  return bt;
}

}  // namespace updraft::testing
