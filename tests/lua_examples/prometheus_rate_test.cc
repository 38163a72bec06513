// examples/lua/prometheus-rate.lua against the real Prometheus from Debian's package (2.42)
// scraping a counter this test serves, as tests/scaler_prometheus/real_prometheus_test.cc does.
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>

#include "lua_example_util.h"
#include "scalers/test_server.h"
#include "server_process.h"

using namespace updraft;
using updraft::testing::ChildProcess;
using updraft::testing::closedPort;
using updraft::testing::contains;
using updraft::testing::eventually;
using updraft::testing::fileTail;
using updraft::testing::liveExample;
using updraft::testing::TempDir;
using updraft::testing::TestServer;

namespace {

using Steady = std::chrono::steady_clock;

// /metrics with a request counter growing linearly with time: 5/s for code="200" and 1/s for
// code="500", so rate() over any window is exactly that (up to scrape timing jitter).
class CounterTarget {
 public:
  CounterTarget() : start_(Steady::now()) {
    server_.server().Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
      const double t = std::chrono::duration<double>(Steady::now() - start_).count();
      char text[512];
      std::snprintf(text, sizeof text,
                    "# TYPE updraft_http_requests_total counter\n"
                    "updraft_http_requests_total{code=\"200\"} %.6f\n"
                    "updraft_http_requests_total{code=\"500\"} %.6f\n",
                    1000 + 5 * t, 10 + t);
      res.set_content(text, "text/plain; version=0.0.4");
    });
    server_.start();
  }
  int port() const { return server_.port(); }

 private:
  Steady::time_point start_;
  TestServer server_;
};

}  // namespace

TEST_CASE("prometheus-rate.lua: request rates from a real Prometheus") {
  const std::string binary =
      updraft::testing::findServerBinary("UPDRAFT_PROMETHEUS_BIN", {"/usr/bin/prometheus"});
  UPDRAFT_REQUIRE_SERVER_OR_SKIP(binary, "prometheus (Debian package prometheus)");

  CounterTarget target;
  TempDir dir("updraft-prometheus-lua-test");
  dir.write("prometheus.yml",
            "global:\n"
            "  scrape_interval: 1s\n"
            "  scrape_timeout: 1s\n"
            "  evaluation_interval: 1s\n"
            "scrape_configs:\n"
            "  - job_name: updraft-test\n"
            "    static_configs:\n"
            "      - targets: ['127.0.0.1:" +
                std::to_string(target.port()) + "']\n");
  const int port = closedPort();
  const std::string address = "http://127.0.0.1:" + std::to_string(port);
  ChildProcess prometheus;
  prometheus.start({binary, "--config.file=" + dir.file("prometheus.yml"),
                    "--storage.tsdb.path=" + dir.file("data"),
                    "--web.listen-address=127.0.0.1:" + std::to_string(port), "--log.level=warn"},
                   {}, dir.file("prometheus.log"));

  auto rate = [&](const std::string& query, StringMap extra = {}) {
    StringMap m = {{"serverAddress", address}, {"query", query}, {"targetValue", "4"}};
    for (auto& [k, v] : extra) m[k] = v;
    return liveExample("prometheus-rate.lua", m);
  };
  auto near = [](double want) {
    return [want](double v) { return v > want * 0.9 && v < want * 1.1; };
  };
  std::string last;
  auto require = [&](bool ok, const std::string& what) {
    if (!ok) {
      FAIL(what << "\nlast poll: " << last << "\nprometheus log:\n"
                << fileTail(dir.file("prometheus.log")));
    }
  };

  // The sum over both series (a one-sample vector): about 6 requests per second once two scrapes
  // are in the window. The first scrape lands a few seconds after start.
  auto total = rate("sum(rate(updraft_http_requests_total[5s]))");
  require(eventually(total, near(6), std::chrono::seconds(40), last), "no rate of about 6/s");
  auto r = total.poll();
  REQUIRE(r.isOk());
  CHECK(r->isActive);

  // One series selected by label, and a scalar result.
  auto errors = rate(R"(rate(updraft_http_requests_total{code="500"}[5s]))");
  require(eventually(errors, near(1), std::chrono::seconds(10), last), "no rate of about 1/s");
  auto scalar = rate(R"(scalar(sum(rate(updraft_http_requests_total{code="200"}[5s]))))");
  require(eventually(scalar, near(5), std::chrono::seconds(10), last), "no scalar of about 5/s");

  // An empty result: 0 by default, an error with ignoreNullValues: "false". NaN likewise.
  CHECK(rate("sum(rate(updraft_no_such_series[5s]))").value() == 0);
  CHECK(contains(rate("rate(updraft_no_such_series[5s])", {{"ignoreNullValues", "false"}}).error(),
                 "prometheus-rate: the query returned no series (empty result)"));
  CHECK(rate("vector(0/0)").value() == 0);
  CHECK(contains(rate("vector(0/0)", {{"ignoreNullValues", "false"}}).error(),
                 "prometheus-rate: the query returned NaN"));

  // Several series, a range vector, and a PromQL syntax error (HTTP 400 from Prometheus).
  CHECK(contains(rate("rate(updraft_http_requests_total[5s])").error(),
                 "prometheus-rate: the query returned 2 series; wrap it in sum(...)"));
  CHECK(contains(rate("updraft_http_requests_total[5s]").error(),
                 "prometheus-rate: unsupported resultType 'matrix'"));
  CHECK(contains(rate("sum(").error(), "prometheus-rate: HTTP 400: bad_data: "));

  prometheus.stop(std::chrono::seconds(5));
  CHECK(contains(total.error(), "GET " + address + "/api/v1/query: connection refused"));
}
