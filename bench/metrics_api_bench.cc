// metrics_api_bench: the external metrics API server answering HPA-style requests from a
// provider cache over HTTPS keep-alive connections.
//
// Setup: a MetricsApiServer (cpp-httplib SSLServer, TLS 1.3, ECDSA P-256 certificate from
// CertificateManager) whose provider answers from an in-memory cache of `--objects` ScaledObjects
// (as the operator answers useCachedMetrics / polled values: a shared-lock map lookup and a copy).
// `--clients` threads each own one libcurl easy handle (one keep-alive connection) and send
//   GET /apis/external.metrics.k8s.io/v1beta1/namespaces/bench/s0-prometheus
//       ?labelSelector=scaledobject.keda.sh%2Fname%3Dso-<i>        (Accept: application/json, */*)
// back to back, for a random object each time, and time each request from curl_easy_perform to
// its return (client-side latency: it includes the client's own TLS and HTTP work).
//
// What is measured: after `--warmup` seconds, for `--seconds` seconds: requests completed (all
// must be 200), client latency percentiles, and the CPU time of the server's own threads
// (acceptor + workers, read per thread with pthread_getcpuclockid, so client threads in the same
// process are not counted). Every server thread is pinned to `--server-cpu`, every client thread
// to `--client-cpu` (sched_setaffinity), so the server runs on one core. Reported:
//   req/s                 requests / wall seconds
//   server CPU            server thread CPU-seconds / wall seconds (1.00 = the core was saturated)
//   req per server CPU-s  requests / server CPU-seconds: the server's capacity on one core, also
//                         when the clients (not the server) are the limit
// With `--rate R` the clients together offer R req/s (each paces its requests on a fixed
// schedule) and latency is counted from the scheduled send time, so a stall is not hidden by the
// requests it delays; without it they send back to back (a closed loop: the throughput limit).
// Target: >= 10,000 req/s on one server core with p99 <= 2 ms.
//
//   metrics_api_bench [--seconds 10] [--warmup 2] [--clients 8] [--objects 1000] [--rate 0]
//                     [--server-threads 32] [--server-cpu 0] [--client-cpu 1]
#include <curl/curl.h>
#include <pthread.h>
#include <sched.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <random>
#include <shared_mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "bench_util.h"
#include "updraft/operator/certificates.h"
#include "updraft/operator/metrics_api.h"

using namespace updraft;
using namespace updraft::kube;

namespace {

struct Args {
  double seconds = 10;
  double warmup = 2;
  int clients = 8;
  int objects = 1000;
  int serverThreads = 32;
  int serverCpu = 0;
  int clientCpu = 1;
  double rate = 0;  // total requests per second offered; 0: as fast as possible
};

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "metrics_api_bench: %s\n", what.c_str());
  std::exit(1);
}

void pinTo(int cpu) {
  if (cpu < 0) return;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  if (sched_setaffinity(0, sizeof set, &set) != 0) die("sched_setaffinity failed");
}

// The operator's cache of polled values, keyed by namespace/metric/ScaledObject.
class CachedProvider : public ExternalMetricsProvider {
 public:
  void put(const std::string& ns, const std::string& metric, const std::string& object,
           double value) {
    std::unique_lock lock(mutex_);
    ExternalMetricValue v;
    v.metricName = metric;
    v.value = value;
    v.timestamp = std::chrono::system_clock::now();
    cache_[key(ns, metric, object)] = {v};
  }

  Result<std::vector<ExternalMetricValue>> getExternalMetric(const std::string& ns,
                                                             const std::string& metricName,
                                                             const LabelSelector& selector,
                                                             TimePoint) override {
    auto object = selector.equalityValue("scaledobject.keda.sh/name");
    if (!object) return Status::invalidArgument("scaledObject name is not specified");
    std::shared_lock lock(mutex_);
    auto it = cache_.find(key(ns, metricName, *object));
    if (it == cache_.end()) return Status::notFound("no matching metrics found for " + metricName);
    return it->second;
  }

 private:
  static std::string key(const std::string& ns, const std::string& metric,
                         const std::string& object) {
    std::string k;
    k.reserve(ns.size() + metric.size() + object.size() + 2);
    k.append(ns).append("/").append(metric).append("/").append(object);
    return k;
  }
  std::shared_mutex mutex_;
  std::unordered_map<std::string, std::vector<ExternalMetricValue>> cache_;
};

// Server threads register their CPU clocks here (onThreadStart).
std::mutex gClocksMutex;
std::vector<clockid_t> gServerClocks;

double serverCpuSeconds() {
  std::lock_guard lock(gClocksMutex);
  double total = 0;
  for (clockid_t c : gServerClocks) {
    timespec ts{};
    if (clock_gettime(c, &ts) == 0) total += static_cast<double>(ts.tv_sec) + ts.tv_nsec * 1e-9;
  }
  return total;
}

double percentile(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  size_t i = static_cast<size_t>(p * static_cast<double>(sorted.size() - 1) + 0.5);
  return sorted[std::min(i, sorted.size() - 1)];
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    std::string f = argv[i];
    auto next = [&] {
      if (i + 1 >= argc) die("missing value for " + f);
      return std::string(argv[++i]);
    };
    if (f == "--seconds") {
      a.seconds = std::stod(next());
    } else if (f == "--warmup") {
      a.warmup = std::stod(next());
    } else if (f == "--clients") {
      a.clients = std::stoi(next());
    } else if (f == "--objects") {
      a.objects = std::stoi(next());
    } else if (f == "--server-threads") {
      a.serverThreads = std::stoi(next());
    } else if (f == "--server-cpu") {
      a.serverCpu = std::stoi(next());
    } else if (f == "--client-cpu") {
      a.clientCpu = std::stoi(next());
    } else if (f == "--rate") {
      a.rate = std::stod(next());
    } else {
      die("unknown flag " + f);
    }
  }
  curl_global_init(CURL_GLOBAL_ALL);

  CertificateOptions co;
  co.dnsNames = {"localhost"};
  co.ipAddresses = {"127.0.0.1"};
  auto certs = CertificateManager::create(co);
  if (!certs.isOk()) die(certs.status().toString());
  const CertificateBundle bundle = (*certs)->current();

  CachedProvider provider;
  for (int i = 0; i < a.objects; ++i) {
    provider.put("bench", "s0-prometheus", "so-" + std::to_string(i), 1.5 + i);
  }

  MetricsApiServerOptions so;
  so.bindAddress = "127.0.0.1";
  so.port = 0;
  so.certPem = bundle.certPem;
  so.keyPem = bundle.keyPem;
  so.threads = static_cast<size_t>(a.serverThreads);
  so.onThreadStart = [cpu = a.serverCpu] {
    pinTo(cpu);
    pthread_setname_np(pthread_self(), "metrics-server");
    clockid_t c;
    pthread_getcpuclockid(pthread_self(), &c);
    std::lock_guard lock(gClocksMutex);
    gServerClocks.push_back(c);
  };
  auto server = MetricsApiServer::start(so, provider);
  if (!server.isOk()) die(server.status().toString());
  const std::string base = "https://127.0.0.1:" + std::to_string((*server)->port()) +
                           "/apis/external.metrics.k8s.io/v1beta1/namespaces/bench/s0-prometheus"
                           "?labelSelector=scaledobject.keda.sh%2Fname%3Dso-";
  std::vector<std::string> urls;
  for (int i = 0; i < a.objects; ++i) urls.push_back(base + std::to_string(i));

  std::atomic<int> phase{0};  // 0 warm-up, 1 measuring, 2 done
  std::atomic<long> failures{0};
  std::vector<std::vector<double>> latencies(static_cast<size_t>(a.clients));
  std::vector<std::thread> clients;
  for (int c = 0; c < a.clients; ++c) {
    clients.emplace_back([&, c] {
      pinTo(a.clientCpu);
      pthread_setname_np(pthread_self(), "bench-client");
      CURL* h = curl_easy_init();
      curl_blob ca{const_cast<char*>(bundle.caPem.data()), bundle.caPem.size(), CURL_BLOB_COPY};
      curl_easy_setopt(h, CURLOPT_CAINFO_BLOB, &ca);
      curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
      curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
      curl_easy_setopt(h, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_1_1);
      curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 10000L);
      curl_slist* headers = curl_slist_append(nullptr, "Accept: application/json, */*");
      curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
      std::string body;
      curl_easy_setopt(
          h, CURLOPT_WRITEFUNCTION, +[](char* p, size_t size, size_t n, void* out) -> size_t {
            static_cast<std::string*>(out)->append(p, size * n);
            return size * n;
          });
      curl_easy_setopt(h, CURLOPT_WRITEDATA, &body);
      std::mt19937 rng(static_cast<unsigned>(c + 1));
      std::uniform_int_distribution<int> pick(0, a.objects - 1);
      auto& mine = latencies[static_cast<size_t>(c)];
      mine.reserve(1 << 20);
      using Steady = std::chrono::steady_clock;
      const auto interval = std::chrono::duration_cast<Steady::duration>(
          std::chrono::duration<double>(a.rate > 0 ? a.clients / a.rate : 0));
      // Spread the clients' schedules over one interval.
      auto scheduled = Steady::now() + interval * c / std::max(1, a.clients);
      while (phase.load(std::memory_order_relaxed) < 2) {
        body.clear();
        curl_easy_setopt(h, CURLOPT_URL, urls[static_cast<size_t>(pick(rng))].c_str());
        auto t0 = Steady::now();
        if (a.rate > 0) {
          if (scheduled > t0) std::this_thread::sleep_until(scheduled);
          t0 = scheduled;  // latency from the intended send time
          scheduled += interval;
        }
        CURLcode rc = curl_easy_perform(h);
        auto t1 = std::chrono::steady_clock::now();
        long status = 0;
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
        if (rc != CURLE_OK || status != 200 || body.find("\"value\"") == std::string::npos) {
          failures.fetch_add(1);
        }
        if (phase.load(std::memory_order_relaxed) == 1) {
          mine.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
        }
      }
      curl_slist_free_all(headers);
      curl_easy_cleanup(h);
    });
  }

  std::this_thread::sleep_for(std::chrono::duration<double>(a.warmup));
  const long failuresBefore = failures.load();
  const double serverCpu0 = serverCpuSeconds();
  const double processCpu0 = bench::cpuSeconds();
  const auto wall0 = std::chrono::steady_clock::now();
  phase.store(1);
  std::this_thread::sleep_for(std::chrono::duration<double>(a.seconds));
  phase.store(2);
  const auto wall1 = std::chrono::steady_clock::now();
  const double serverCpu1 = serverCpuSeconds();
  const double processCpu1 = bench::cpuSeconds();
  for (auto& t : clients) t.join();
  const auto stats = (*server)->stats();
  (*server)->stop();

  std::vector<double> all;
  for (auto& v : latencies) all.insert(all.end(), v.begin(), v.end());
  std::sort(all.begin(), all.end());
  const double wall = std::chrono::duration<double>(wall1 - wall0).count();
  const double serverCpu = serverCpu1 - serverCpu0;
  const double clientCpu = (processCpu1 - processCpu0) - serverCpu;
  const double n = static_cast<double>(all.size());
  std::printf(
      "metrics_api_bench: %d clients (keep-alive, CPU %d), server %d threads (CPU %d), "
      "%d objects, %.1f s, %s\n",
      a.clients, a.clientCpu, a.serverThreads, a.serverCpu, a.objects, wall,
      a.rate > 0 ? ("offered " + std::to_string(static_cast<long>(a.rate)) + " req/s").c_str()
                 : "closed loop");
  std::printf("  requests        %.0f (%ld failed)\n", n, failures.load() - failuresBefore);
  std::printf("  throughput      %.0f req/s\n", n / wall);
  std::printf(
      "  latency         p50 %.3f ms  p90 %.3f ms  p99 %.3f ms  p99.9 %.3f ms  max %.3f ms\n",
      percentile(all, 0.50) / 1000, percentile(all, 0.90) / 1000, percentile(all, 0.99) / 1000,
      percentile(all, 0.999) / 1000, all.empty() ? 0.0 : all.back() / 1000);
  std::printf("  server CPU      %.2f s = %.2f cores (%zu threads)\n", serverCpu, serverCpu / wall,
              gServerClocks.size());
  std::printf(
      "  capacity        %.0f req per server CPU-second (%.1f us of server CPU per "
      "request)\n",
      n / serverCpu, serverCpu / n * 1e6);
  std::printf("  client CPU      %.2f s = %.2f cores\n", clientCpu, clientCpu / wall);
  std::printf("  TLS handshakes  %llu, requests served %llu\n",
              static_cast<unsigned long long>(stats.handshakes),
              static_cast<unsigned long long>(stats.requests));
  curl_global_cleanup();
  return failures.load() - failuresBefore == 0 ? 0 : 1;
}
