// The operator's plain-HTTP endpoints: /healthz and /readyz on --health-port (ready only once every
// informer has listed), and Prometheus /metrics on --prometheus-port with KEDA's scaler metrics.
#include <catch2/catch.hpp>
#include <regex>

#include "operator_ha/operator_ha_support.h"

using namespace updraft::operator_ha_test;
using updraft::kubetest_test::deployment;

namespace {

// KEDA's labels of a scaler metric of ScaledObject apps/web's trigger 0, in the order rendered.
constexpr const char* kLabels =
    R"re(\{metric="s0-metric-api-value",namespace="apps",scaledObject="web",scaler="([^"]*)",)re"
    R"re(triggerIndex="0",type="scaledobject"\} (\S+)\n)re";

struct Sample {
  std::string scaler;  // the `scaler` label
  double value = 0;
};

// The sample of metric `name` for apps/web trigger 0 in a Prometheus text exposition.
std::optional<Sample> sample(const std::string& text, const std::string& name) {
  std::smatch m;
  if (!std::regex_search(text, m, std::regex("(^|\n)" + name + kLabels))) return std::nullopt;
  return Sample{m[2].str(), std::stod(m[3].str())};
}

std::optional<double> value(const std::string& text, const std::string& name) {
  auto s = sample(text, name);
  return s ? std::optional<double>(s->value) : std::nullopt;
}

}  // namespace

TEST_CASE("/healthz, /readyz after the informers synced, and KEDA's Prometheus metrics",
          "[operator_ha][endpoints]") {
  ApiServer server(/*installCrds=*/false);
  MetricSource metric;
  OperatorProcess op(server, "operator", {}, /*prometheus=*/true);

  // Alive at once; not ready while the keda.sh informers cannot list (no CRDs yet).
  HA_WAIT_FOR("/healthz", 10000, op.health("/healthz").first == 200);
  CHECK(op.health("/healthz").second == "ok\n");
  std::this_thread::sleep_for(1000ms);
  auto [code, body] = op.health("/readyz");
  CHECK(code == 503);
  CHECK(body == "informers not synced\n");
  CHECK(op.log().find("caches synced") == std::string::npos);
  CHECK(op.health("/nothing").first == 404);

  server.installCrds();
  HA_WAIT_FOR("/readyz 200 once the CRDs exist", 20000, op.health("/readyz").first == 200);
  CHECK(op.health("/readyz").second == "ok (leader)\n");  // no --leader-elect: always leading
  HA_WAIT_FOR("the controllers started", 2000, op.log().find("caches synced") != std::string::npos);

  // keda_scaler_metrics_value / keda_scaler_active with KEDA's labels.
  metric.set("web", 7);
  create(server.api(), deploymentsPath(), deployment("web", 0, "web"));
  create(server.api(), scaledObjectsPath(),
         scaledObject("web", metricsApiTrigger(metric.url("web"))));
  HA_WAIT_FOR("keda_scaler_metrics_value 7", 10000,
              value(op.prometheusText(), "keda_scaler_metrics_value") == 7.0);
  const std::string text = op.prometheusText();
  INFO(text);
  CHECK(value(text, "keda_scaler_active") == 1.0);
  // KEDA's `scaler` label of an unnamed trigger is its scaler's Go type name: metricsAPIScaler.
  auto web = sample(text, "keda_scaler_metrics_value");
  REQUIRE(web);
  CHECK(web->scaler == "metricsAPIScaler");
  CHECK(text.find("# TYPE keda_scaler_metrics_value gauge") != std::string::npos);
  CHECK(text.find("keda_build_info{") != std::string::npos);
  HA_WAIT_FOR("web scaled 0 -> 1", 5000, replicas(server.api(), "web") == 1);

  metric.set("web", 0);
  HA_WAIT_FOR("keda_scaler_active 0", 10000,
              value(op.prometheusText(), "keda_scaler_active") == 0.0);
  CHECK(value(op.prometheusText(), "keda_scaler_metrics_value") == 0.0);
  REQUIRE(op.running());
}
