#include <cstdio>
#include <cstdlib>

#include "updraft/scaler.h"

namespace updraft {

ScalerRegistry& ScalerRegistry::global() {
  static ScalerRegistry* registry = new ScalerRegistry();  // never destroyed: safe at exit
  return *registry;
}

Status ScalerRegistry::add(std::shared_ptr<const ScalerFactory> factory) {
  std::lock_guard lock(mutex_);
  std::vector<std::string> names = factory->aliases();
  names.insert(names.begin(), factory->type());
  for (const auto& name : names) {
    if (factories_.count(name)) {
      return Status::alreadyExists("scaler type \"" + name + "\" is registered twice");
    }
  }
  for (const auto& name : names) factories_[name] = factory;
  return Status::ok();
}

std::shared_ptr<const ScalerFactory> ScalerRegistry::find(std::string_view type) const {
  std::lock_guard lock(mutex_);
  auto it = factories_.find(type);
  return it == factories_.end() ? nullptr : it->second;
}

std::vector<std::string> ScalerRegistry::types() const {
  std::lock_guard lock(mutex_);
  std::vector<std::string> out;
  for (const auto& [name, _] : factories_) out.push_back(name);
  return out;
}

std::function<void()> ScalerRegistry::replaceForTest(std::shared_ptr<const ScalerFactory> factory) {
  std::lock_guard lock(mutex_);
  std::string type = factory->type();
  std::shared_ptr<const ScalerFactory> previous;
  if (auto it = factories_.find(type); it != factories_.end()) previous = it->second;
  factories_[type] = std::move(factory);
  return [this, type, previous] {
    std::lock_guard restoreLock(mutex_);
    if (previous) {
      factories_[type] = previous;
    } else {
      factories_.erase(type);
    }
  };
}

void abortOnRegistrationFailure(const Status& s) {
  std::fprintf(stderr, "updraft: fatal: %s\n", s.toString().c_str());
  std::abort();
}

std::string metricNameWithIndex(int triggerIndex, std::string_view name) {
  std::string out = "s" + std::to_string(triggerIndex) + "-";
  out += name;
  return out;
}

std::string normalizeMetricName(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    switch (c) {
      case '/':
      case '.':
      case ':':
      case '%':
      case '(':
      case ')':
        c = '-';
        break;
      default:
        break;
    }
  }
  return out;
}

Result<MetricTargetType> externalMetricTargetType(const ScalerConfig& config) {
  if (!config.metricType) return MetricTargetType::kAverageValue;
  if (*config.metricType == MetricTargetType::kUtilization) {
    return Status::invalidArgument(
        "'Utilization' metric type is unsupported for external metrics, allowed values are "
        "'Value' or 'AverageValue'");
  }
  return *config.metricType;
}

MetricSpec externalMetricSpec(const ScalerConfig& config, std::string_view name,
                              MetricTargetType type, double target) {
  MetricSpec spec;
  spec.source = MetricSpec::Source::kExternal;
  spec.metricName = metricNameWithIndex(config.triggerIndex, normalizeMetricName(name));
  spec.targetType = type;
  spec.target = target;
  return spec;
}

}  // namespace updraft
