// Benchmark: `simulate` of a 7-day trace at 1 s resolution (target <= 2 s).
// Generates the trace in memory (diurnal load, bursts, a few fetch errors), then times trace
// parsing and the simulation including CSV formatting, for pollingInterval 30 (KEDA's default)
// and 1 (every trace row polled). Usage: simulate_bench [--days N] [--write-trace FILE]
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>

#include "updraft/parse.h"
#include "updraft/simulator.h"

using namespace updraft;

namespace {

std::string makeTrace(int days) {
  std::string csv = "time,queue\n";
  const int seconds = days * 86400;
  csv.reserve(static_cast<size_t>(seconds) * 12);
  uint32_t rng = 12345;
  for (int t = 0; t < seconds; ++t) {
    rng = rng * 1664525u + 1013904223u;
    double diurnal = 200 + 180 * std::sin(2 * M_PI * t / 86400.0);
    double burst = (t % 3600) < 120 ? 800 : 0;
    if (rng % 50000 == 0) {
      csv += std::to_string(t) + ",error\n";
      continue;
    }
    csv += std::to_string(t) + "," + std::to_string(static_cast<int>(diurnal + burst)) + "\n";
  }
  return csv;
}

ScaledObject makeObject(int pollingInterval) {
  const std::string yaml = R"(apiVersion: keda.sh/v1alpha1
kind: ScaledObject
metadata: {name: bench, namespace: default}
spec:
  scaleTargetRef: {name: workers}
  pollingInterval: )" + std::to_string(pollingInterval) +
                           R"(
  maxReplicaCount: 50
  triggers:
    - type: metrics-api
      name: queue
      metadata: {url: "http://127.0.0.1:1/m", valueLocation: depth, targetValue: "20"}
)";
  auto docs = parseDocuments(yaml, "bench.yaml");
  if (!docs.isOk() || docs->empty() || !(*docs)[0].scaledObject()) {
    std::fprintf(stderr, "bench object does not parse\n");
    std::exit(1);
  }
  return *(*docs)[0].scaledObject();
}

double secondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

int main(int argc, char** argv) {
  int days = 7;
  const char* writeTrace = nullptr;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--days") && i + 1 < argc) days = std::atoi(argv[++i]);
    if (!std::strcmp(argv[i], "--write-trace") && i + 1 < argc) writeTrace = argv[++i];
  }
  auto t0 = std::chrono::steady_clock::now();
  std::string csv = makeTrace(days);
  std::printf("trace: %d days at 1 s, %zu rows, %.1f MiB (generated in %.2f s)\n", days,
              static_cast<size_t>(days) * 86400, csv.size() / 1048576.0, secondsSince(t0));
  if (writeTrace) std::ofstream(writeTrace) << csv;

  t0 = std::chrono::steady_clock::now();
  auto trace = Trace::parse(csv);
  if (!trace.isOk()) {
    std::fprintf(stderr, "%s\n", trace.status().message().c_str());
    return 1;
  }
  const double parseSeconds = secondsSince(t0);
  std::printf("parse trace:                      %.3f s\n", parseSeconds);

  for (int interval : {30, 1}) {
    ScaledObject so = makeObject(interval);
    std::string out;
    size_t bytes = 0;
    SimulationOptions opts;
    auto sink = [&](const SimulationRow& row, const std::vector<std::optional<double>>& values) {
      appendSimulationCsvRow(out, row, values, false);
      if (out.size() > (1 << 20)) {
        bytes += out.size();
        out.clear();
      }
    };
    t0 = std::chrono::steady_clock::now();
    auto summary = simulateScaledObject(so, *trace, opts, sink);
    const double simSeconds = secondsSince(t0);
    if (!summary.isOk()) {
      std::fprintf(stderr, "%s\n", summary.status().message().c_str());
      return 1;
    }
    bytes += out.size();
    std::printf(
        "simulate, pollingInterval %2d s:    %.3f s (%lld polls, %lld HPA evaluations, "
        "%.1f MiB CSV); with parsing %.3f s (target <= 2 s)\n",
        interval, simSeconds, static_cast<long long>(summary->polls),
        static_cast<long long>(summary->hpaEvaluations), bytes / 1048576.0,
        simSeconds + parseSeconds);
  }
  return 0;
}
