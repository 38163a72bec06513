// The Scaler interface and the registry keyed by KEDA trigger type.
//
// Life of a trigger:
//   trigger YAML -> ScalerConfig -> ScalerFactory::parse() -> ScalerDefinition   (typed, no I/O)
//   ScalerDefinition::createScaler(context) -> Scaler                              (may hold
//   clients) Scaler::getMetricsAndActivity() on every poll / HPA evaluation
// `updraft validate` and `updraft simulate` stop at ScalerDefinition, so they need no connection.
//
// A scaler registers itself from its own folder with one line:
//   UPDRAFT_REGISTER_SCALER(CronScalerFactory);
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "updraft/clock.h"
#include "updraft/model.h"
#include "updraft/status.h"

namespace updraft {

// Everything a scaler factory may read (KEDA's ScalerConfig, keda-scalers.md §1.4).
struct ScalerConfig {
  std::string scalableObjectName;
  std::string scalableObjectNamespace;
  std::string scalableObjectType;  // "ScaledObject" or "ScaledJob"
  int triggerIndex = 0;
  std::string triggerName;
  std::string triggerType;
  bool useCachedMetrics = false;
  StringMap triggerMetadata;
  StringMap resolvedEnv;  // env of the target (run: the process environment / ProcessPool env)
  StringMap authParams;   // from the TriggerAuthentication, already resolved
  std::string podIdentityProvider;
  std::optional<MetricTargetType> metricType;  // the trigger's metricType
  bool asMetricSource = false;                 // only an input of scalingModifiers
  Millis globalHttpTimeout{3000};              // KEDA_HTTP_DEFAULT_TIMEOUT
  // Offline validation (`updraft validate`, admission): authParams and resolvedEnv were not
  // resolved, so a required parameter that could come from them is not reported missing.
  bool secretsUnresolved = false;
};

// The HPA metric a trigger contributes (autoscaling/v2 MetricSpec, reduced to what we need).
struct MetricSpec {
  enum class Source { kExternal, kResource, kContainerResource };
  Source source = Source::kExternal;
  // External: "s<index>-<name>". Resource/ContainerResource: "cpu" or "memory".
  std::string metricName;
  MetricTargetType targetType = MetricTargetType::kAverageValue;
  // AverageValue/Value target as a plain number; Utilization: percent.
  double target = 0;
  std::string containerName;  // ContainerResource only
};

struct MetricValue {
  std::string metricName;
  double value = 0;  // raw: negative/NaN are clamped to 0 only when served to an HPA
};

struct MetricsAndActivity {
  std::vector<MetricValue> metrics;
  bool isActive = false;
};

// Where cpu/memory triggers read usage when the engine runs a target itself (`updraft run`).
class ResourceUsageSource {
 public:
  virtual ~ResourceUsageSource() = default;
  // Average over running members of CPU cores used, and of resident memory bytes.
  virtual Result<double> averageCpuCores() = 0;
  virtual Result<double> averageMemoryBytes() = 0;
  // Requests per member, when configured (for Utilization targets).
  virtual std::optional<double> cpuRequestCores() const = 0;
  virtual std::optional<double> memoryRequestBytes() const = 0;
};

// Services a live scaler may use. Pointers may be null when the mode has no such service.
struct ScalerContext {
  const Clock* clock = nullptr;
  ResourceUsageSource* resourceUsage = nullptr;
};

class Scaler {
 public:
  virtual ~Scaler() = default;
  // The current value(s) for `metricName` (one of the definition's External metric names) and the
  // trigger's activity. Returns by `deadline`: a scaler doing I/O turns the remaining time into its
  // client's timeout. Error messages name the source and why, never a secret. The engine never
  // calls one Scaler from two threads at once.
  virtual Result<MetricsAndActivity> getMetricsAndActivity(const std::string& metricName,
                                                           TimePoint deadline) = 0;
  // Releases clients. Called once before destruction; the default does nothing.
  virtual void close() {}
};

// A parsed, validated trigger (typed config). Immutable; shareable between threads.
class ScalerDefinition {
 public:
  virtual ~ScalerDefinition() = default;
  // The metric specs the HPA gets for this trigger (normally exactly one).
  virtual std::vector<MetricSpec> metricSpecs() const = 0;
  // Activity = value > activationThreshold() for the values this trigger reports.
  virtual double activationThreshold() const = 0;
  // Builds a live scaler. May open connections; must not block for long.
  virtual Result<std::unique_ptr<Scaler>> createScaler(const ScalerContext& context) const = 0;
};

class ScalerFactory {
 public:
  virtual ~ScalerFactory() = default;
  // The KEDA trigger type this factory handles ("cron", "metrics-api", ...).
  virtual std::string type() const = 0;
  // Other trigger types served by the same factory (e.g. "redis-cluster").
  virtual std::vector<std::string> aliases() const { return {}; }
  // Parses and validates `config.triggerMetadata` (+ resolvedEnv/authParams) with KEDA's rules.
  // No I/O. Errors list every problem found, joined with "; ".
  virtual Result<std::unique_ptr<ScalerDefinition>> parse(const ScalerConfig& config) const = 0;
};

// Process-wide registry of factories. Thread-safe.
class ScalerRegistry {
 public:
  static ScalerRegistry& global();

  // Fails with AlreadyExists when the type (or an alias) is taken.
  Status add(std::shared_ptr<const ScalerFactory> factory);
  // nullptr when unknown.
  std::shared_ptr<const ScalerFactory> find(std::string_view type) const;
  // Sorted list of registered types (aliases included).
  std::vector<std::string> types() const;
  // Test hook: installs `factory` under its type (replacing any) and returns a function that
  // restores the previous state.
  std::function<void()> replaceForTest(std::shared_ptr<const ScalerFactory> factory);

 private:
  mutable std::mutex mutex_;
  std::map<std::string, std::shared_ptr<const ScalerFactory>, std::less<>> factories_;
};

template <typename Factory>
struct ScalerRegistrar {
  ScalerRegistrar() {
    Status s = ScalerRegistry::global().add(std::make_shared<Factory>());
    if (!s.isOk()) reportRegistrationFailure(s);  // aborts: a duplicate type is a build bug
  }
  static void reportRegistrationFailure(const Status& s);
};
void abortOnRegistrationFailure(const Status& s);
template <typename Factory>
void ScalerRegistrar<Factory>::reportRegistrationFailure(const Status& s) {
  abortOnRegistrationFailure(s);
}

#define UPDRAFT_REGISTER_SCALER(FactoryClass) \
  static ::updraft::ScalerRegistrar<FactoryClass> updraft_registrar_##FactoryClass

// ---- Helpers every scaler must use so names and types match KEDA exactly ----

// "s<index>-<name>" (GenerateMetricNameWithIndex).
std::string metricNameWithIndex(int triggerIndex, std::string_view name);
// Replaces each of / . : % ( ) with '-' (kedautil.NormalizeString).
std::string normalizeMetricName(std::string_view s);
// KEDA's GetMetricTargetType for external scalers: unset -> AverageValue; Utilization -> error.
Result<MetricTargetType> externalMetricTargetType(const ScalerConfig& config);
// Convenience: an External MetricSpec named s<index>-normalize(name).
MetricSpec externalMetricSpec(const ScalerConfig& config, std::string_view name,
                              MetricTargetType type, double target);

}  // namespace updraft
