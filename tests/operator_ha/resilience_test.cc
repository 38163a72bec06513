// `updraft operator` when the API server goes away: a restart of the test API server (same state
// file, port and certificates) while the operator runs, and watches that expire (the history
// compacted, the connections dropped) so the informers must list again.
#include <catch2/catch.hpp>

#include "operator_ha/operator_ha_support.h"

using namespace updraft::operator_ha_test;
using updraft::kubetest_test::deployment;

namespace {

// A Deployment `name` at 0 replicas and its ScaledObject reading metric `name`.
void scaledDeployment(const ApiServer& server, const MetricSource& metric,
                      const std::string& name) {
  create(server.api(), deploymentsPath(), deployment(name, 0, name));
  create(server.api(), scaledObjectsPath(),
         scaledObject(name, metricsApiTrigger(metric.url(name))));
}

bool hpaExists(const ApiServer& server, const std::string& so) {
  return get(server.api(), hpasPath() + "/keda-hpa-" + so).has_value();
}

// Requests in the test server's log since it was last cleared.
std::vector<json> requests(const ApiServer& server) {
  auto r = server.api().get("/_test/requests");
  REQUIRE(r.code == 200);
  return r.json().value("requests", std::vector<json>{});
}

}  // namespace

TEST_CASE("the operator survives an API server restart and keeps scaling",
          "[operator_ha][restart]") {
  ApiServer server;
  MetricSource metric;
  scaledDeployment(server, metric, "web");
  OperatorProcess op(server, "operator");
  REQUIRE(op.waitReady());
  HA_WAIT_FOR("HPA keda-hpa-web", 10000, hpaExists(server, "web"));
  std::this_thread::sleep_for(1500ms);
  REQUIRE(replicas(server.api(), "web") == 0);  // metric 0: inactive

  server.stop();
  std::this_thread::sleep_for(2000ms);  // the operator's watches, polls and writes fail meanwhile
  REQUIRE(op.running());
  server.start();
  REQUIRE(get(server.api(), scaledObjectsPath() + "/web"));  // the state file kept the objects

  // After the restart: a metric change scales 0 -> 1 ...
  metric.set("web", 10);
  HA_WAIT_FOR("web scaled 0 -> 1 after the restart", 20000, replicas(server.api(), "web") == 1);
  // ... and the watches are back: a ScaledObject created now gets its HPA and scales.
  metric.set("api", 10);
  scaledDeployment(server, metric, "api");
  HA_WAIT_FOR("HPA keda-hpa-api", 20000, hpaExists(server, "api"));
  HA_WAIT_FOR("api scaled 0 -> 1", 10000, replicas(server.api(), "api") == 1);
  // ... and the cooldown still brings web back to 0.
  metric.set("web", 0);
  HA_WAIT_FOR("web scaled 1 -> 0 after the cooldown", 15000, replicas(server.api(), "web") == 0);
  REQUIRE(op.running());
  const std::string log = op.log();
  CHECK(log.find("informer") != std::string::npos);  // it did notice the outage
}

TEST_CASE("expired watches: the operator lists again and sees what changed meanwhile",
          "[operator_ha][watch]") {
  ApiServer server;
  MetricSource metric;
  scaledDeployment(server, metric, "web");
  OperatorProcess op(server, "operator");
  REQUIRE(op.waitReady());
  HA_WAIT_FOR("HPA keda-hpa-web", 10000, hpaExists(server, "web"));
  HA_WAIT_FOR("the finalizer on web", 5000,
              get(server.api(), scaledObjectsPath() + "/web")
                      .value_or(json::object())
                      .value("/metadata/finalizers"_json_pointer, json::array())
                      .size() == 1);
  // One watch per informer: keda.sh (4), HPAs, Secrets, ConfigMaps, Deployments, StatefulSets,
  // Jobs, Pods.
  const int openWatches = 11;
  HA_WAIT_FOR("the informers' watches", 5000,
              server.api().get("/_test/watches").json().value("open", 0) == openWatches);

  // Compact the history (any earlier resourceVersion -> 410) and drop every watch; then change
  // things while the operator has no watch open. First a change no informer sees (namespaces are
  // not watched), so that every informer's last resourceVersion is older than the history kept.
  REQUIRE(server.api().post("/api/v1/namespaces", {{"metadata", {{"name", "bump"}}}}).code == 201);
  REQUIRE(server.api().del("/_test/requests").code == 200);
  REQUIRE(server.api().control("/_test/compact").code == 200);
  REQUIRE(server.api().control("/_test/close-watches").code == 200);
  REQUIRE(server.api().del(scaledObjectsPath() + "/web").code == 200);  // waits for the finalizer
  metric.set("api", 10);
  scaledDeployment(server, metric, "api");

  HA_WAIT_FOR("the deleted ScaledObject finalized", 20000,
              !get(server.api(), scaledObjectsPath() + "/web"));
  HA_WAIT_FOR("its HPA collected", 5000, !hpaExists(server, "web"));
  HA_WAIT_FOR("HPA keda-hpa-api for the new ScaledObject", 10000, hpaExists(server, "api"));
  HA_WAIT_FOR("api scaled 0 -> 1", 10000, replicas(server.api(), "api") == 1);

  // The informers listed again (a GET of the collection, not a watch) and watch again.
  bool relisted = false;
  std::string seen;  // the ScaledObject informer's requests
  for (const auto& r : requests(server)) {
    if (r.value("path", "") != "/apis/keda.sh/v1alpha1/scaledobjects") continue;
    seen += r.value("method", "") + " ?" + r.value("query", "") + "\n";
    relisted |=
        r.value("method", "") == "GET" && r.value("query", "").find("watch") == std::string::npos;
  }
  INFO("requests for scaledobjects:\n" << seen);
  CHECK(relisted);
  HA_WAIT_FOR("the watches reopened", 10000,
              server.api().get("/_test/watches").json().value("open", 0) == openWatches);
  REQUIRE(op.running());
}
