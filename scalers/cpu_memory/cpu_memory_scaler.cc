// The `cpu` and `memory` triggers (keda-scalers.md §2.8). They contribute a Resource (or
// ContainerResource) metric that the HPA reads from the metrics server; KEDA itself never reads
// them and reports such triggers active. Under `updraft run` the engine owns the processes, so when
// ScalerContext::resourceUsage is set the scaler reports the current usage as well.
#include <cstdint>
#include <memory>
#include <string>

#include "updraft/metadata.h"
#include "updraft/quantity.h"
#include "updraft/scaler.h"

namespace updraft {
namespace {

enum class Resource { kCpu, kMemory };

struct ResourceTarget {
  Resource resource;
  MetricTargetType type;  // kUtilization or kAverageValue
  double target = 0;      // percent, or cores / bytes
  std::string containerName;
};

const char* resourceName(Resource r) { return r == Resource::kCpu ? "cpu" : "memory"; }

// Go's strconv.ParseInt(value, 10, 32), as KEDA's parseUtilization.
std::optional<int32_t> parseInt32(std::string_view s) {
  std::string_view digits = s;
  bool negative = false;
  if (!digits.empty() && (digits[0] == '+' || digits[0] == '-')) {
    negative = digits[0] == '-';
    digits.remove_prefix(1);
  }
  if (digits.empty() || digits.size() > 10) return std::nullopt;
  int64_t v = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + (c - '0');
  }
  if (negative) v = -v;
  if (v < INT32_MIN || v > INT32_MAX) return std::nullopt;
  return static_cast<int32_t>(v);
}

class ResourceScaler final : public Scaler {
 public:
  ResourceScaler(ResourceTarget target, ResourceUsageSource* usage)
      : target_(std::move(target)), usage_(usage) {}

  Result<MetricsAndActivity> getMetricsAndActivity(const std::string& metricName,
                                                   TimePoint /*deadline*/) override {
    MetricsAndActivity out;
    out.isActive = true;  // KEDA: resource triggers are always active
    if (!usage_) return out;
    const bool cpu = target_.resource == Resource::kCpu;
    const char* name = resourceName(target_.resource);
    Result<double> used = cpu ? usage_->averageCpuCores() : usage_->averageMemoryBytes();
    if (!used.isOk()) return used.status().withContext(std::string(name) + " trigger");
    double value = *used;
    if (target_.type == MetricTargetType::kUtilization) {
      std::optional<double> request =
          cpu ? usage_->cpuRequestCores() : usage_->memoryRequestBytes();
      if (!request || *request <= 0) {
        return Status::failedPrecondition(
            std::string(name) + " trigger: metricType Utilization needs a " + name +
            " request on the target (spec.resources.requests." + name + "), and none is set");
      }
      value = value / *request * 100.0;
    }
    out.metrics.push_back(MetricValue{metricName.empty() ? std::string(name) : metricName, value});
    return out;
  }

 private:
  ResourceTarget target_;
  ResourceUsageSource* usage_;
};

class ResourceDefinition final : public ScalerDefinition {
 public:
  explicit ResourceDefinition(ResourceTarget target) : target_(std::move(target)) {}

  std::vector<MetricSpec> metricSpecs() const override {
    MetricSpec spec;
    spec.source = target_.containerName.empty() ? MetricSpec::Source::kResource
                                                : MetricSpec::Source::kContainerResource;
    spec.metricName = resourceName(target_.resource);
    spec.targetType = target_.type;
    spec.target = target_.target;
    spec.containerName = target_.containerName;
    return {spec};
  }
  double activationThreshold() const override { return 0; }
  Result<std::unique_ptr<Scaler>> createScaler(const ScalerContext& context) const override {
    return std::unique_ptr<Scaler>(
        std::make_unique<ResourceScaler>(target_, context.resourceUsage));
  }

 private:
  ResourceTarget target_;
};

template <Resource kResource>
class ResourceScalerFactory final : public ScalerFactory {
 public:
  std::string type() const override { return resourceName(kResource); }

  Result<std::unique_ptr<ScalerDefinition>> parse(const ScalerConfig& config) const override {
    MetadataReader r(config);
    r.deprecated("type",
                 "the 'type' setting is DEPRECATED and is removed in v2.18 - Use 'metricType' "
                 "instead.");
    auto value = r.string("value");
    auto containerName = r.string("containerName", {.optional = true});
    ResourceTarget target{kResource, MetricTargetType::kAverageValue, 0,
                          containerName.value_or("")};
    if (!config.metricType || *config.metricType == MetricTargetType::kValue) {
      r.addError(std::string("unknown metric type: ") + (config.metricType ? "Value" : "") +
                 ", allowed values are 'Utilization' or 'AverageValue' (set the trigger's "
                 "metricType)");
    } else {
      target.type = *config.metricType;
      if (value && target.type == MetricTargetType::kUtilization) {
        auto percent = parseInt32(*value);
        if (!percent) {
          r.addError("value", "\"" + *value + "\" is not a valid utilization (an integer percent)");
        } else if (*percent <= 0) {
          r.addError("value", "utilization must be greater than 0 (got " + *value + ")");
        } else {
          target.target = *percent;
        }
      } else if (value) {
        auto quantity = parseQuantity(*value);
        if (!quantity.isOk()) {
          r.addError("value", quantity.status().message());
        } else if (*quantity < 0) {
          r.addError("value", "\"" + *value + "\" must not be negative");
        } else {
          target.target = *quantity;
        }
      }
    }
    UPDRAFT_RETURN_IF_ERROR(r.finish());
    return std::unique_ptr<ScalerDefinition>(std::make_unique<ResourceDefinition>(target));
  }
};

using CpuScalerFactory = ResourceScalerFactory<Resource::kCpu>;
using MemoryScalerFactory = ResourceScalerFactory<Resource::kMemory>;
UPDRAFT_REGISTER_SCALER(CpuScalerFactory);
UPDRAFT_REGISTER_SCALER(MemoryScalerFactory);

}  // namespace
}  // namespace updraft
