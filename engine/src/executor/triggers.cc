#include "updraft/triggers.h"

#include <fmt/format.h>

#include <cctype>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>

namespace updraft {
namespace {

std::optional<std::string> readSecretFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

LocalAuthResolver::LocalAuthResolver(std::vector<TriggerAuthentication> auths,
                                     std::string secretsDir)
    : auths_(std::move(auths)), secretsDir_(std::move(secretsDir)) {}

std::string LocalAuthResolver::secretEnvName(const std::string& name, const std::string& key) {
  std::string out = "UPDRAFT_SECRET_";
  for (char c : name + "_" + key) {
    out += std::isalnum(static_cast<unsigned char>(c))
               ? static_cast<char>(std::toupper(static_cast<unsigned char>(c)))
               : '_';
  }
  return out;
}

Result<ResolvedAuth> LocalAuthResolver::resolve(const std::string& ns, const ScaleTriggers& trigger,
                                                std::string* warning) {
  ResolvedAuth out;
  StringMap& params = out.params;
  if (!trigger.authenticationRef) return out;
  const AuthenticationRef& ref = *trigger.authenticationRef;
  const bool cluster = ref.kind == "ClusterTriggerAuthentication";
  const TriggerAuthentication* found = nullptr;
  for (const auto& ta : auths_) {
    if (ta.clusterScoped == cluster && ta.metadata.name == ref.name &&
        (cluster || ta.metadata.namespace_ == ns)) {
      found = &ta;
      break;
    }
  }
  if (!found) {
    if (warning) {
      *warning = fmt::format("{} \"{}\" not found{}; the trigger gets no auth parameters", ref.kind,
                             ref.name, cluster ? "" : " in namespace " + ns);
    }
    return out;
  }
  auto fromSecret = [&](const SecretTargetRef& s, const char* what) -> Status {
    if (auto v = readSecretFile(secretsDir_ + "/" + s.name + "/" + s.key)) {
      params[s.parameter] = *v;
      return Status::ok();
    }
    if (const char* env = std::getenv(secretEnvName(s.name, s.key).c_str())) {
      params[s.parameter] = env;
      return Status::ok();
    }
    // Missing keys resolve to "" in KEDA; here we say where we looked (never the value).
    if (warning) {
      *warning =
          fmt::format("{} {}/{} for parameter \"{}\": no file {}/{}/{} and no ${}", what, s.name,
                      s.key, s.parameter, secretsDir_, s.name, s.key, secretEnvName(s.name, s.key));
    }
    params[s.parameter] = "";
    return Status::ok();
  };
  for (const auto& s : found->spec.secretTargetRef)
    UPDRAFT_RETURN_IF_ERROR(fromSecret(s, "secret"));
  for (const auto& s : found->spec.configMapTargetRef) {
    UPDRAFT_RETURN_IF_ERROR(fromSecret(s, "configMap"));
  }
  for (const auto& e : found->spec.env) {
    const char* v = std::getenv(e.name.c_str());
    params[e.parameter] = v ? v : "";
  }
  if (found->spec.podIdentity) out.podIdentityProvider = found->spec.podIdentity->provider;
  return out;
}

std::string BuiltTrigger::key() const {
  return trigger.name.empty() ? "trigger" + std::to_string(index) : trigger.name;
}

std::string BuiltTrigger::scalerLabel() const {
  if (!trigger.name.empty()) return trigger.name;
  // KEDA's Go type names where they are not the camel-cased trigger type (pkg/scalers/*.go).
  static const std::map<std::string, std::string, std::less<>> kGoTypeNames = {
      {"metrics-api", "metricsAPIScaler"}, {"azure-servicebus", "azureServiceBusScaler"},
      {"cpu", "cpuMemoryScaler"},          {"memory", "cpuMemoryScaler"},
      {"rabbitmq", "rabbitMQScaler"},      {"aws-sqs-queue", "awsSqsQueueScaler"},
      {"azure-queue", "azureQueueScaler"}, {"redis", "redisScaler"},
      {"postgresql", "postgreSQLScaler"},  {"nats-jetstream", "natsJetStreamScaler"},
  };
  if (auto it = kGoTypeNames.find(trigger.type); it != kGoTypeNames.end()) return it->second;
  std::string out;
  bool upper = false;
  for (char c : trigger.type) {
    if (c == '-' || c == '_') {
      upper = true;
      continue;
    }
    out += upper ? static_cast<char>(std::toupper(static_cast<unsigned char>(c))) : c;
    upper = false;
  }
  return out + "Scaler";
}

bool BuiltTrigger::isResourceTrigger() const {
  return trigger.type == "cpu" || trigger.type == "memory";
}

Result<std::vector<BuiltTrigger>> buildTriggers(const ObjectMeta& metadata,
                                                const std::vector<ScaleTriggers>& triggers,
                                                const TriggerBuildOptions& options) {
  std::vector<BuiltTrigger> out;
  std::vector<std::string> problems;
  for (size_t i = 0; i < triggers.size(); ++i) {
    const ScaleTriggers& t = triggers[i];
    const std::string where = fmt::format("spec.triggers[{}] ({})", i, t.type);
    auto factory = ScalerRegistry::global().find(t.type);
    if (!factory) {
      problems.push_back(fmt::format("{}: unknown scaler type \"{}\"", where, t.type));
      continue;
    }
    ScalerConfig config;
    config.scalableObjectName = metadata.name;
    config.scalableObjectNamespace = metadata.namespace_;
    config.scalableObjectType = options.objectKind;
    config.triggerIndex = static_cast<int>(i);
    config.triggerName = t.name;
    config.triggerType = t.type;
    config.useCachedMetrics = t.useCachedMetrics;
    config.triggerMetadata = t.metadata;
    config.resolvedEnv = options.resolvedEnv;
    config.metricType = t.metricType;
    config.asMetricSource = options.asMetricSource;
    config.globalHttpTimeout = options.globalHttpTimeout;
    config.secretsUnresolved = options.secretsUnresolved;
    if (options.auth) {
      std::string warning;
      auto params = options.auth->resolve(metadata.namespace_, t, &warning);
      if (!params.isOk()) {
        problems.push_back(where + ": " + params.status().message());
        continue;
      }
      config.authParams = std::move(params->params);
      config.podIdentityProvider = params->podIdentityProvider;
    }
    auto def = factory->parse(config);
    if (!def.isOk()) {
      problems.push_back(where + ": " + def.status().message());
      continue;
    }
    BuiltTrigger bt;
    bt.index = static_cast<int>(i);
    bt.trigger = t;
    bt.definition = std::shared_ptr<const ScalerDefinition>(std::move(*def));
    bt.specs = bt.definition->metricSpecs();
    out.push_back(std::move(bt));
  }
  if (!problems.empty()) {
    std::string msg;
    for (const auto& p : problems) msg += (msg.empty() ? "" : "; ") + p;
    return Status::invalidArgument(msg);
  }
  return out;
}

Result<MetricsAndActivity> fetchWithRebuild(std::unique_ptr<Scaler>& scaler,
                                            const ScalerBuilder& builder,
                                            const BuiltTrigger& trigger,
                                            const std::string& metricName, TimePoint deadline) {
  if (!scaler) {
    auto s = builder(trigger);
    if (!s.isOk()) return s.status();
    scaler = std::move(*s);
  }
  auto r = scaler->getMetricsAndActivity(metricName, deadline);
  if (r.isOk()) return r;
  scaler->close();
  scaler.reset();
  auto rebuilt = builder(trigger);
  if (!rebuilt.isOk()) return r;
  scaler = std::move(*rebuilt);
  auto retry = scaler->getMetricsAndActivity(metricName, deadline);
  return retry.isOk() ? retry : r;
}

}  // namespace updraft
