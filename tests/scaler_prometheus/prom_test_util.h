// Helpers for the prometheus trigger's tests: a parsed trigger and its live scaler.
#pragma once

#include <catch2/catch.hpp>
#include <memory>
#include <string>

#include "scalers/test_server.h"
#include "updraft/scaler.h"

namespace updraft::testing {

inline const ScalerFactory& prometheusFactory() {
  auto factory = ScalerRegistry::global().find("prometheus");
  REQUIRE(factory);
  static std::shared_ptr<const ScalerFactory> keep = factory;
  return *keep;
}

inline ScalerConfig promConfig(StringMap metadata, StringMap auth = {}, StringMap env = {}) {
  return scalerConfig("prometheus", std::move(metadata), std::move(auth), std::move(env));
}

struct LiveScaler {
  std::unique_ptr<ScalerDefinition> definition;
  std::unique_ptr<Scaler> scaler;
  const Clock* clock = &SystemClock::instance();

  std::string metricName() const { return definition->metricSpecs().at(0).metricName; }
  Result<MetricsAndActivity> poll(Millis budget = Millis(5000)) {
    return scaler->getMetricsAndActivity(metricName(), clock->now() + budget);
  }
  double value(Millis budget = Millis(5000)) {
    auto r = poll(budget);
    INFO(r.status().message());
    REQUIRE(r.isOk());
    REQUIRE(r->metrics.size() == 1);
    CHECK(r->metrics[0].metricName == metricName());
    return r->metrics[0].value;
  }
  std::string error(Millis budget = Millis(5000)) {
    auto r = poll(budget);
    REQUIRE_FALSE(r.isOk());
    return r.status().message();
  }
};

inline Result<LiveScaler> liveScaler(const ScalerConfig& config, const Clock* clock = nullptr) {
  auto def = prometheusFactory().parse(config);
  if (!def.isOk()) return def.status();
  ScalerContext context;
  context.clock = clock;
  auto scaler = def.value()->createScaler(context);
  if (!scaler.isOk()) return scaler.status();
  LiveScaler live{std::move(def.value()), std::move(scaler.value())};
  if (clock) live.clock = clock;
  return live;
}

inline LiveScaler requireLive(const ScalerConfig& config, const Clock* clock = nullptr) {
  auto live = liveScaler(config, clock);
  INFO(live.status().message());
  REQUIRE(live.isOk());
  return std::move(live.value());
}

}  // namespace updraft::testing
