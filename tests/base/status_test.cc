#include "updraft/status.h"

#include <catch2/catch.hpp>

#include "updraft/scaler.h"

using namespace updraft;

TEST_CASE("Status carries code and message, with context") {
  Status s = Status::invalidArgument("lagThreshold: \"abc\" is not a number");
  CHECK_FALSE(s.isOk());
  CHECK(s.code() == StatusCode::kInvalidArgument);
  CHECK(s.withContext("spec.triggers[0]").message() ==
        "spec.triggers[0]: lagThreshold: \"abc\" is not a number");
  CHECK(s.toString() == "InvalidArgument: lagThreshold: \"abc\" is not a number");
  CHECK(Status::ok().isOk());
}

TEST_CASE("Result holds a value or a status") {
  Result<int> good = 5;
  REQUIRE(good.isOk());
  CHECK(*good == 5);
  Result<int> bad = Status::notFound("no such trigger type \"kafak\"");
  CHECK_FALSE(bad.isOk());
  CHECK(bad.status().code() == StatusCode::kNotFound);
}

TEST_CASE("metric names follow KEDA") {
  CHECK(metricNameWithIndex(0, "kafka-topic") == "s0-kafka-topic");
  CHECK(normalizeMetricName("a/b.c:d%e(f)g") == "a-b-c-d-e-f-g");
}

namespace {
class FakeFactory : public ScalerFactory {
 public:
  std::string type() const override { return "fake-test"; }
  std::vector<std::string> aliases() const override { return {"fake-test-alias"}; }
  Result<std::unique_ptr<ScalerDefinition>> parse(const ScalerConfig&) const override {
    return Status::internal("unused");
  }
};
}  // namespace

TEST_CASE("registry rejects duplicates and supports test replacement") {
  ScalerRegistry registry;
  REQUIRE(registry.add(std::make_shared<FakeFactory>()).isOk());
  CHECK(registry.find("fake-test-alias") != nullptr);
  CHECK(registry.add(std::make_shared<FakeFactory>()).code() == StatusCode::kAlreadyExists);
  CHECK(registry.find("nope") == nullptr);
  ScalerRegistry& global = ScalerRegistry::global();
  auto restore = global.replaceForTest(std::make_shared<FakeFactory>());
  CHECK(global.find("fake-test") != nullptr);
  restore();
  CHECK(global.find("fake-test") == nullptr);
}

TEST_CASE("ScaledJob min/max follow KEDA's helpers") {
  ScaledJob sj;
  CHECK(sj.maxReplicaCount() == 100);
  sj.spec.minReplicaCount = 2;
  CHECK(sj.maxReplicaCount() == 100);  // QUIRK: unset max is 100, not 100 - min
  sj.spec.maxReplicaCount = 10;
  CHECK(sj.minReplicaCount() == 2);
  CHECK(sj.maxReplicaCount() == 8);
  sj.spec.minReplicaCount = 12;
  CHECK(sj.minReplicaCount() == 10);
  CHECK(sj.maxReplicaCount() == 10);
}
