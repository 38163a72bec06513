#include <catch2/catch.hpp>
#include <cmath>

#include "test_server.h"
#include "updraft/quantity.h"
#include "updraft/scaler.h"

using namespace updraft;
using updraft::testing::scalerConfig;

namespace {

class FakeUsage final : public ResourceUsageSource {
 public:
  Result<double> averageCpuCores() override {
    if (fail) return Status::unavailable("ProcessPool/x: reading /proc failed");
    return cpu;
  }
  Result<double> averageMemoryBytes() override { return memory; }
  std::optional<double> cpuRequestCores() const override { return cpuRequest; }
  std::optional<double> memoryRequestBytes() const override { return memoryRequest; }

  double cpu = 0;
  double memory = 0;
  std::optional<double> cpuRequest;
  std::optional<double> memoryRequest;
  bool fail = false;
};

Result<std::unique_ptr<ScalerDefinition>> parse(const std::string& type, StringMap metadata,
                                                std::optional<MetricTargetType> metricType) {
  auto config = scalerConfig(type, std::move(metadata));
  config.metricType = metricType;
  return ScalerRegistry::global().find(type)->parse(config);
}

constexpr auto kUtil = MetricTargetType::kUtilization;
constexpr auto kAvg = MetricTargetType::kAverageValue;

}  // namespace

TEST_CASE("quantities parse as Kubernetes does") {
  struct Row {
    const char* in;
    std::optional<double> want;
  };
  const Row rows[] = {
      {"100", 100},
      {"500m", 0.5},
      {"1.5", 1.5},
      {"2k", 2000},
      {"1Ki", 1024},
      {"256Mi", 268435456},
      {"1.5Gi", 1610612736},
      {"2e3", 2000},
      {"1E-3", 0.001},
      {"+1", 1},
      {"-2", -2},
      {".5", 0.5},
      {"250u", 0.00025},
      {"3n", 3e-9},
      {"1M", 1e6},
      {"1Ti", 1099511627776.0},
      {"1K", std::nullopt},
      {"1Kb", std::nullopt},
      {"abc", std::nullopt},
      {"", std::nullopt},
      {"5 ", std::nullopt},
      {"1.2.3", std::nullopt},
      {"m", std::nullopt},
      {"1mi", std::nullopt},
  };
  for (const auto& row : rows) {
    INFO(row.in);
    auto q = parseQuantity(row.in);
    REQUIRE(q.isOk() == row.want.has_value());
    if (q.isOk()) CHECK(*q == Approx(*row.want).epsilon(1e-12));
  }
  CHECK(parseQuantity("12Q").status().message() ==
        "\"12Q\" is not a valid quantity (e.g. 500m, 1.5, 256Mi, 2G)");
}

TEST_CASE("cpu/memory: metadata rules") {
  struct Row {
    const char* type;
    StringMap metadata;
    std::optional<MetricTargetType> metricType;
    const char* error;  // nullptr = ok; else a substring
    double target;
  };
  const Row rows[] = {
      {"cpu", {{"value", "50"}}, kUtil, nullptr, 50},
      {"cpu", {{"value", " 80 "}}, kUtil, nullptr, 80},
      {"cpu", {{"value", "500m"}}, kAvg, nullptr, 0.5},
      {"cpu", {{"value", "2"}}, kAvg, nullptr, 2},
      {"memory", {{"value", "256Mi"}}, kAvg, nullptr, 268435456},
      {"memory", {{"value", "70"}}, kUtil, nullptr, 70},
      {"cpu",
       {{"value", "50"}},
       std::nullopt,
       "unknown metric type: , allowed values are "
       "'Utilization' or 'AverageValue'",
       0},
      {"cpu", {{"value", "50"}}, MetricTargetType::kValue, "unknown metric type: Value", 0},
      {"cpu",
       {{"type", "Utilization"}, {"value", "50"}},
       kUtil,
       "parameter \"type\" is deprecated: the 'type' setting is DEPRECATED",
       0},
      {"cpu", {{"value", "50.5"}}, kUtil, "\"50.5\" is not a valid utilization", 0},
      {"cpu", {{"value", "500m"}}, kUtil, "\"500m\" is not a valid utilization", 0},
      {"cpu", {{"value", "0"}}, kUtil, "utilization must be greater than 0", 0},
      {"memory", {{"value", "lots"}}, kAvg, "\"lots\" is not a valid quantity", 0},
      {"memory", {{"value", "-1Gi"}}, kAvg, "must not be negative", 0},
      {"cpu", {}, kUtil, "missing required parameter \"value\" in [triggerMetadata]", 0},
  };
  for (const auto& row : rows) {
    INFO(row.type << " " << (row.error ? row.error : "ok"));
    auto def = parse(row.type, row.metadata, row.metricType);
    if (row.error) {
      REQUIRE_FALSE(def.isOk());
      CHECK(def.status().code() == StatusCode::kInvalidArgument);
      CHECK_THAT(def.status().message(), Catch::Contains(row.error));
      continue;
    }
    REQUIRE(def.isOk());
    auto specs = def.value()->metricSpecs();
    REQUIRE(specs.size() == 1);
    CHECK(specs[0].source == MetricSpec::Source::kResource);
    CHECK(specs[0].metricName == row.type);
    CHECK(specs[0].targetType == *row.metricType);
    CHECK(specs[0].target == Approx(row.target));
  }
  // Both problems at once are both reported.
  auto both = parse("cpu", {{"type", "Utilization"}}, std::nullopt);
  REQUIRE_FALSE(both.isOk());
  CHECK_THAT(both.status().message(), Catch::Contains("deprecated") &&
                                          Catch::Contains("missing required parameter \"value\"") &&
                                          Catch::Contains("unknown metric type"));
}

TEST_CASE("cpu/memory: containerName gives a ContainerResource metric") {
  auto def = parse("memory", {{"value", "1Gi"}, {"containerName", "worker"}}, kAvg);
  REQUIRE(def.isOk());
  auto spec = def.value()->metricSpecs().at(0);
  CHECK(spec.source == MetricSpec::Source::kContainerResource);
  CHECK(spec.containerName == "worker");
  CHECK(spec.metricName == "memory");
  CHECK(spec.target == 1073741824);
}

TEST_CASE("cpu/memory: live values come from the ResourceUsageSource") {
  FakeUsage usage;
  usage.cpu = 0.25;
  usage.memory = 300.0 * 1024 * 1024;
  usage.cpuRequest = 0.5;
  const TimePoint deadline = SystemClock::instance().now() + std::chrono::seconds(1);

  SECTION("without a usage source: no metric, always active (KEDA)") {
    auto def = parse("cpu", {{"value", "50"}}, kUtil);
    REQUIRE(def.isOk());
    auto scaler = def.value()->createScaler(ScalerContext{});
    REQUIRE(scaler.isOk());
    auto r = scaler.value()->getMetricsAndActivity("cpu", deadline);
    REQUIRE(r.isOk());
    CHECK(r->isActive);
    CHECK(r->metrics.empty());
  }
  SECTION("cpu utilization is usage / request * 100") {
    auto def = parse("cpu", {{"value", "50"}}, kUtil);
    auto scaler = def.value()->createScaler(ScalerContext{nullptr, &usage});
    auto r = scaler.value()->getMetricsAndActivity("cpu", deadline);
    REQUIRE(r.isOk());
    CHECK(r->isActive);
    REQUIRE(r->metrics.size() == 1);
    CHECK(r->metrics[0].metricName == "cpu");
    CHECK(r->metrics[0].value == Approx(50));
    usage.cpu = 0.75;
    CHECK(scaler.value()->getMetricsAndActivity("cpu", deadline)->metrics[0].value == Approx(150));
  }
  SECTION("utilization without a request is an error naming the missing request") {
    auto def = parse("memory", {{"value", "80"}}, kUtil);
    auto scaler = def.value()->createScaler(ScalerContext{nullptr, &usage});
    auto r = scaler.value()->getMetricsAndActivity("memory", deadline);
    REQUIRE_FALSE(r.isOk());
    CHECK(r.status().message() ==
          "memory trigger: metricType Utilization needs a memory request on the target "
          "(spec.resources.requests.memory), and none is set");
  }
  SECTION("average value is the raw average in cores or bytes") {
    auto def = parse("memory", {{"value", "256Mi"}}, kAvg);
    auto scaler = def.value()->createScaler(ScalerContext{nullptr, &usage});
    auto r = scaler.value()->getMetricsAndActivity("memory", deadline);
    REQUIRE(r.isOk());
    CHECK(r->metrics.at(0).value == Approx(300.0 * 1024 * 1024));
  }
  SECTION("a usage error is passed on with the trigger named") {
    usage.fail = true;
    auto def = parse("cpu", {{"value", "1"}}, kAvg);
    auto scaler = def.value()->createScaler(ScalerContext{nullptr, &usage});
    auto r = scaler.value()->getMetricsAndActivity("cpu", deadline);
    REQUIRE_FALSE(r.isOk());
    CHECK(r.status().code() == StatusCode::kUnavailable);
    CHECK(r.status().message() == "cpu trigger: ProcessPool/x: reading /proc failed");
  }
}

TEST_CASE("the native scalers are registered") {
  auto types = ScalerRegistry::global().types();
  for (const char* t : {"cron", "cpu", "memory", "metrics-api"}) {
    INFO(t);
    CHECK(std::find(types.begin(), types.end(), t) != types.end());
  }
}
