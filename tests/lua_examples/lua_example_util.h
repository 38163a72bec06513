// Helpers for the example Lua scalers' tests: load examples/lua/<name>.lua, pass its text as the
// inline `script` of a `lua` trigger (so the tests do not depend on scriptFile resolution), and
// poll the live scaler.
#pragma once

#include <catch2/catch.hpp>
#include <chrono>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>

#include "common/http_client.h"
#include "updraft/scaler.h"

namespace updraft::testing {

inline std::string exampleScript(const std::string& file) {
  const std::string path = std::string(UPDRAFT_SOURCE_DIR) + "/examples/lua/" + file;
  std::ifstream in(path);
  if (!in) FAIL("cannot read " << path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Closes the shared HTTP client's idle keep-alive connections. Call before a local test server
// stops: cpp-httplib's stop() otherwise waits out each open connection's keep-alive timeout (2 s).
inline void closeIdleConnections() { http::HttpClient::shared().closeIdle(); }

inline bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

struct LiveLua {
  std::unique_ptr<ScalerDefinition> definition;
  std::unique_ptr<Scaler> scaler;

  std::string metricName() const { return definition->metricSpecs().at(0).metricName; }
  Result<MetricsAndActivity> poll(Millis budget = Millis(5000)) {
    return scaler->getMetricsAndActivity(metricName(), std::chrono::system_clock::now() + budget);
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
    if (r.isOk()) FAIL("expected an error, got the value " << r->metrics.at(0).value);
    return r.status().message();
  }
};

// A `lua` trigger running examples/lua/<file> with these metadata and TriggerAuthentication
// parameters (targetValue defaults to 10).
inline LiveLua liveExample(const std::string& file, StringMap metadata, StringMap auth = {},
                           const std::string& triggerName = "") {
  ScalerConfig c;
  c.scalableObjectName = "so";
  c.scalableObjectNamespace = "default";
  c.scalableObjectType = "ScaledObject";
  c.triggerType = "lua";
  c.triggerName = triggerName;
  c.triggerMetadata = std::move(metadata);
  c.triggerMetadata["script"] = exampleScript(file);
  if (!c.triggerMetadata.count("targetValue")) c.triggerMetadata["targetValue"] = "10";
  c.authParams = std::move(auth);
  auto factory = ScalerRegistry::global().find("lua");
  REQUIRE(factory);
  auto def = factory->parse(c);
  INFO(def.status().toString());
  REQUIRE(def.isOk());
  auto scaler = (*def)->createScaler(ScalerContext{});
  INFO(scaler.status().toString());
  REQUIRE(scaler.isOk());
  return LiveLua{std::move(def.value()), std::move(scaler.value())};
}

// Polls until the scaler reports `want` (errors and other values count as "not yet"); `last`
// gets the last outcome for the failure message.
template <typename Pred>
bool eventually(LiveLua& live, Pred ok, std::chrono::milliseconds timeout, std::string& last) {
  const auto until = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < until) {
    auto r = live.poll(Millis(3000));
    if (r.isOk() && ok(r->metrics.at(0).value)) return true;
    last = r.isOk() ? "value " + std::to_string(r->metrics.at(0).value) : r.status().message();
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  return false;
}

}  // namespace updraft::testing
