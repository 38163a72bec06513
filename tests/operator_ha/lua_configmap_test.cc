// A `lua` trigger whose script lives in a ConfigMap (scriptConfigMap + scriptKey): the operator
// watches the ConfigMap, and an edit swaps the new version in between two polls, with no restart;
// a version that does not compile is refused and the previous one keeps running.
#include <catch2/catch.hpp>

#include "operator_ha/operator_ha_support.h"

using namespace updraft::operator_ha_test;
using updraft::kubetest_test::configMap;
using updraft::kubetest_test::deployment;

namespace {

std::optional<double> sample(const std::string& text, const std::string& prefix) {
  for (size_t pos = 0; (pos = text.find(prefix, pos)) != std::string::npos; ++pos) {
    if (pos == 0 || text[pos - 1] == '\n') return std::stod(text.substr(pos + prefix.size()));
  }
  return std::nullopt;
}

void setScript(const Client& api, const std::string& script) {
  auto r = api.patch(configMapsPath() + "/scripts", {{"data", {{"queue.lua", script}}}});
  INFO(r.body);
  REQUIRE(r.code == 200);
}

std::string script(const std::string& value) {
  return "-- the queue's depth\nfunction getMetric(ctx)\n  return " + value + "\nend\n";
}

}  // namespace

TEST_CASE("a ConfigMap-sourced Lua scaler is reloaded when the ConfigMap changes",
          "[operator_ha][lua]") {
  ApiServer server;
  create(server.api(), configMapsPath(),
         configMap("scripts", json::object(), {{"queue.lua", script("0")}, {"other", "x"}}));
  create(server.api(), deploymentsPath(), deployment("worker", 0, "worker"));
  json trigger = {{"type", "lua"},
                  {"name", "queue"},
                  {"metadata",
                   {{"scriptConfigMap", "scripts"},
                    {"scriptKey", "queue.lua"},
                    {"targetValue", "5"},
                    {"activationTargetValue", "0"}}}};
  create(server.api(), scaledObjectsPath(), scaledObject("worker", trigger));
  OperatorProcess op(server, "operator", {}, /*prometheus=*/true);
  REQUIRE(op.waitReady());

  const std::string value =
      R"(keda_scaler_metrics_value{metric="s0-lua-queue",namespace="apps",scaledObject="worker",scaler="queue",triggerIndex="0",type="scaledobject"} )";
  HA_WAIT_FOR("version 1 (returns 0) polled", 10000, sample(op.prometheusText(), value) == 0.0);
  HA_WAIT_FOR("Ready True", 5000,
              hasCondition(*get(server.api(), scaledObjectsPath() + "/worker"), "Ready", "True"));
  std::this_thread::sleep_for(1500ms);
  REQUIRE(replicas(server.api(), "worker") == 0);

  // Version 2 returns 12: active, 0 -> 1, without restarting anything.
  setScript(server.api(), script("12"));
  HA_WAIT_FOR("version 2 (returns 12) polled", 10000, sample(op.prometheusText(), value) == 12.0);
  HA_WAIT_FOR("worker scaled 0 -> 1", 5000, replicas(server.api(), "worker") == 1);

  // A broken version is refused: version 2 keeps running, and the refusal is visible.
  setScript(server.api(), "function getMetric(ctx)\n  return = 3\nend\n");
  HA_WAIT_FOR("the refused version reported in the log", 10000,
              op.log().find("keeps running") != std::string::npos);
  std::this_thread::sleep_for(1500ms);
  CHECK(sample(op.prometheusText(), value) == 12.0);
  CHECK(replicas(server.api(), "worker") == 1);

  // Version 4 fixes it: used at the next polls.
  setScript(server.api(), script("7"));
  HA_WAIT_FOR("version 4 (returns 7) polled", 10000, sample(op.prometheusText(), value) == 7.0);
  REQUIRE(op.running());
  CHECK(op.log().find("SIGTERM") == std::string::npos);
}
