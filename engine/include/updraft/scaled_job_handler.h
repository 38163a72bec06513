// One ScaledJob at run time: each poll queries the triggers, combines them with
// multipleScalersCalculation, applies the scaling strategy against running/pending jobs and
// creates jobs through a JobRunner (keda-behaviour.md §4). Not thread-safe (one poll at a time).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "updraft/metrics_sink.h"
#include "updraft/model.h"
#include "updraft/scale_target.h"
#include "updraft/scaled_object_handler.h"
#include "updraft/scaled_status.h"
#include "updraft/scaler.h"
#include "updraft/triggers.h"

namespace updraft {

struct ScaledJobHandlerOptions {
  EventSink* events = nullptr;
  MetricsSink* metrics = nullptr;
};

struct JobPollReport {
  bool paused = false;
  bool isActive = false;
  bool isError = false;
  int32_t running = 0;
  int32_t pending = 0;
  int32_t created = 0;
  std::string decision;
};

class ScaledJobHandler {
 public:
  static Result<std::unique_ptr<ScaledJobHandler>> create(ScaledJob object,
                                                          std::vector<BuiltTrigger> triggers,
                                                          JobRunner& jobs, ScalerBuilder builder,
                                                          ScaledJobHandlerOptions options);
  ~ScaledJobHandler();

  JobPollReport poll(TimePoint now, TimePoint deadline);

  const ScaledJob& object() const { return object_; }
  const ScalableStatus& status() const { return status_; }
  const std::vector<TriggerReading>& readings() const { return readings_; }
  const std::string& key() const { return key_; }

 private:
  struct TriggerState;
  ScaledJobHandler(ScaledJob object, JobRunner& jobs, ScalerBuilder builder,
                   ScaledJobHandlerOptions options);

  ScaledJob object_;
  JobRunner& jobs_;
  ScalerBuilder builder_;
  ScaledJobHandlerOptions options_;
  std::string key_;
  std::vector<std::unique_ptr<TriggerState>> triggers_;
  std::vector<TriggerReading> readings_;
  ScalableStatus status_;
  std::unique_ptr<ObjectMetrics> objectMetrics_;
};

}  // namespace updraft
