// 0 -> 1 -> 0 with a `prometheus` trigger reading a real Prometheus (Debian package prometheus)
// that scrapes a gauge this test serves.
#include <catch2/catch.hpp>

#include "operator_support.h"

using namespace updraft::operator_test;
using updraft::testing::ChildProcess;
using updraft::testing::fileTail;

TEST_CASE("operator: scale 0 -> 1 -> 0 with a prometheus trigger and a real Prometheus") {
  const std::string binary =
      updraft::testing::findServerBinary("UPDRAFT_PROMETHEUS_BIN", {"/usr/bin/prometheus"});
  UPDRAFT_REQUIRE_SERVER_OR_SKIP(binary, "prometheus (Debian package prometheus)");

  ValueServer gauge;
  gauge.set(0);
  updraft::testing::TempDir dir("updraft-operator-prometheus");
  dir.write("prometheus.yml",
            "global:\n"
            "  scrape_interval: 1s\n"
            "  scrape_timeout: 1s\n"
            "  evaluation_interval: 1s\n"
            "scrape_configs:\n"
            "  - job_name: updraft-operator-test\n"
            "    static_configs:\n"
            "      - targets: ['127.0.0.1:" +
                std::to_string(gauge.port()) + "']\n");
  const int port = freePort();
  const std::string address = "http://127.0.0.1:" + std::to_string(port);
  ChildProcess prometheus;
  prometheus.start({binary, "--config.file=" + dir.file("prometheus.yml"),
                    "--storage.tsdb.path=" + dir.file("data"),
                    "--web.listen-address=127.0.0.1:" + std::to_string(port), "--log.level=warn"},
                   {}, dir.file("prometheus.log"));
  auto prometheusLog = [&] { return "prometheus log:\n" + fileTail(dir.file("prometheus.log")); };

  // Prometheus has the series (value 0) before the ScaledObject exists.
  const std::string query = "sum(updraft_test_queue_length)";
  {
    httplib::Client c("127.0.0.1", port);
    bool up = eventually(
        [&] {
          auto r = c.Get("/api/v1/query?query=" + httplib::detail::encode_query_param(query));
          if (!r || r->status != 200) return false;
          json body = json::parse(r->body, nullptr, false);
          return body.is_object() && !body["data"]["result"].empty();
        },
        30s);
    INFO(prometheusLog());
    REQUIRE(up);
  }

  KedaCluster k;
  k.create(deploymentPath(), deploymentObject("worker", 0));
  json so = scaledObjectObject("worker", "worker",
                               {{{"type", "prometheus"},
                                 {"metadata",
                                  {{"serverAddress", address},
                                   {"query", query},
                                   {"threshold", "5"},
                                   {"activationThreshold", "2"}}}}});
  so["spec"]["cooldownPeriod"] = 2;
  k.create(soPath(), so);

  OperatorProcess op(k.cluster);
  REQUIRE(op.waitReady());
  REQUIRE(eventually([&] {
    json o = k.scaledObject("worker");
    return conditionStatus(o, "Ready") == "True" && conditionStatus(o, "Active") == "False";
  }));
  CHECK(k.hpa("keda-hpa-worker")["spec"]["metrics"][0]["external"]["target"] ==
        json({{"type", "AverageValue"}, {"averageValue", "5"}}));
  // Inactive (0 <= activationThreshold 2): stays at 0.
  std::this_thread::sleep_for(2s);
  CHECK(k.replicas("worker") == 0);

  // Below the activation threshold: still 0.
  gauge.set(2);
  std::this_thread::sleep_for(4s);
  CHECK(k.replicas("worker") == 0);
  CHECK(conditionStatus(k.scaledObject("worker"), "Active") == "False");

  // Active: 0 -> 1 (the HPA, absent here, would take it further).
  const auto activeAt = std::chrono::steady_clock::now();
  gauge.set(12);
  {
    bool scaled = eventually([&] { return k.replicas("worker") == 1; }, 20s);
    INFO(prometheusLog());
    REQUIRE(scaled);
  }
  CHECK(std::chrono::steady_clock::now() - activeAt < 10s);
  REQUIRE(
      eventually([&] { return conditionStatus(k.scaledObject("worker"), "Active") == "True"; }));
  json active = k.scaledObject("worker");
  CHECK(condition(active, "Active")["reason"] == "ScalerActive");
  CHECK(active.value("/status/lastActiveTime"_json_pointer, "") != "");
  CHECK(eventually([&] { return k.hasEvent("worker", "KEDAScaleTargetActivated"); }));

  // The value the HPA would read, through the external metrics API.
  {
    const std::string metric = active["status"]["externalMetricNames"][0];
    Response r =
        op.metricsClient().get("/apis/external.metrics.k8s.io/v1beta1/namespaces/test/" + metric +
                               "?labelSelector=scaledobject.keda.sh%2Fname%3Dworker");
    INFO(r.body);
    REQUIRE(r.code == 200);
    CHECK(r.json()["items"][0]["value"] == "12");
  }

  // Inactive again: back to 0 once the cooldown (2 s) has passed.
  gauge.set(0);
  const auto inactiveAt = std::chrono::steady_clock::now();
  {
    bool down = eventually([&] { return k.replicas("worker") == 0; }, 20s);
    INFO(prometheusLog());
    REQUIRE(down);
  }
  // Not before the cooldown (the scrape and poll delays only add to it).
  CHECK(std::chrono::steady_clock::now() - inactiveAt >= 2s);
  CHECK(eventually([&] { return k.hasEvent("worker", "KEDAScaleTargetDeactivated"); }));
  CHECK(eventually([&] { return conditionStatus(k.scaledObject("worker"), "Active") == "False"; }));

  for (const json& e : k.events("worker")) {
    if (e["reason"] == "KEDAScaleTargetActivated" || e["reason"] == "KEDAScaleTargetDeactivated") {
      CHECK(e["type"] == "Normal");
      CHECK(e["involvedObject"]["apiVersion"] == "keda.sh/v1alpha1");
      CHECK(e["involvedObject"]["uid"] == active["metadata"]["uid"]);
      CHECK(e["source"]["component"] == "keda-operator");
    }
  }
  CHECK(op.running());
  prometheus.stop(5s);
}
