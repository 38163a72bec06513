// Turning a ScaledObject's / ScaledJob's triggers into typed scaler definitions, with their
// authentication resolved.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "updraft/model.h"
#include "updraft/scaler.h"

namespace updraft {

// What a trigger's authenticationRef resolves to.
struct ResolvedAuth {
  StringMap params;                 // KEDA's authParams
  std::string podIdentityProvider;  // spec.podIdentity.provider ("" = none)
};

// Resolves a trigger's authenticationRef into KEDA authParams.
class AuthResolver {
 public:
  virtual ~AuthResolver() = default;
  // A reference to a missing TriggerAuthentication yields empty params (KEDA QUIRK) and a note in
  // `warning`; the scaler then reports what it misses.
  virtual Result<ResolvedAuth> resolve(const std::string& objectNamespace,
                                       const ScaleTriggers& trigger, std::string* warning) = 0;
};

// Outside Kubernetes (`updraft run`): TriggerAuthentications come from the input files.
// secretTargetRef/configMapTargetRef {name, key} read the file <secretsDir>/<name>/<key> (the
// layout of a mounted Secret), else the environment variable UPDRAFT_SECRET_<NAME>_<KEY>
// (upper-cased, other characters as '_'); env[] entries read the process environment.
class LocalAuthResolver final : public AuthResolver {
 public:
  LocalAuthResolver(std::vector<TriggerAuthentication> auths, std::string secretsDir);
  Result<ResolvedAuth> resolve(const std::string& objectNamespace, const ScaleTriggers& trigger,
                               std::string* warning) override;

  // The environment variable consulted for secret `name`, key `key`.
  static std::string secretEnvName(const std::string& name, const std::string& key);

 private:
  std::vector<TriggerAuthentication> auths_;
  std::string secretsDir_;
};

struct BuiltTrigger {
  int index = 0;
  ScaleTriggers trigger;
  std::shared_ptr<const ScalerDefinition> definition;
  std::vector<MetricSpec> specs;
  // The trigger's key for traces/formulas: its name, or "trigger<i>" when unnamed.
  std::string key() const;
  bool isResourceTrigger() const;  // cpu / memory
  // The `scaler` label of KEDA's metrics: the trigger's name, else KEDA's Go type name
  // ("kafka" -> "kafkaScaler", "metrics-api" -> "metricsAPIScaler").
  std::string scalerLabel() const;
};

struct TriggerBuildOptions {
  std::string objectKind = "ScaledObject";
  AuthResolver* auth = nullptr;  // null: no authParams
  StringMap resolvedEnv;
  Millis globalHttpTimeout{3000};
  bool secretsUnresolved = false;
  bool asMetricSource = false;  // the object uses a scalingModifiers formula
};

// Parses every trigger with its registered factory. Errors name the trigger:
// `spec.triggers[1] (kafka): missing required parameter "topic" ...`.
Result<std::vector<BuiltTrigger>> buildTriggers(const ObjectMeta& metadata,
                                                const std::vector<ScaleTriggers>& triggers,
                                                const TriggerBuildOptions& options);

// Builds the live scaler of a trigger; the default calls definition->createScaler(context).
using ScalerBuilder = std::function<Result<std::unique_ptr<Scaler>>(const BuiltTrigger&)>;

// KEDA's fetch rule: build the scaler when missing; on error close it, rebuild it (re-reading its
// config) and retry once. Returns the first error when the retry fails too.
Result<MetricsAndActivity> fetchWithRebuild(std::unique_ptr<Scaler>& scaler,
                                            const ScalerBuilder& builder,
                                            const BuiltTrigger& trigger,
                                            const std::string& metricName, TimePoint deadline);

}  // namespace updraft
