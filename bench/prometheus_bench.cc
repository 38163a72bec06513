// prometheus_bench: polls per second of the `prometheus` trigger against a local endpoint, as a
// ratio to a bare libcurl keep-alive loop against the same endpoint in the same run.
//
//   prometheus_bench [--seconds S] [--rounds R] [--no-pin]
//
// The endpoint is a minimal HTTP/1.1 keep-alive server (thread per connection) answering every
// GET with a fixed one-series instant-vector JSON body. It runs in a separate process, forked
// before anything else starts, pinned to CPU 1 while the client (this process's main thread) is
// pinned to CPU 0. So the client loop has one core to itself and never competes with the server
// for CPU, the same server serves both loops, and the server's CPU is not counted in the client's.
//
// Each round runs the bare libcurl loop then the scaler loop for S seconds each; rounds alternate
// so that load from other work on the machine hits both alike. Reported per loop: wall-clock polls
// per second (median of rounds) and client CPU per poll (CLOCK_THREAD_CPUTIME_ID), i.e. polls per
// second one core could sustain. The ratios are scaler / bare libcurl.
//
// The bare loop: one easy handle, options set once, GET of the same URL, body appended to a reused
// string. The scaler loop: Scaler::getMetricsAndActivity (URL with the current time, headers,
// timeout from the deadline, the shared HTTP client's handle pool, JSON decoding, value check).
// A third loop, for attribution only, is the shared http::HttpClient alone (same URL, no
// Prometheus work): the gap between it and libcurl is the client's, the rest is the scaler's.
#include <curl/curl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "common/http_client.h"
#include "updraft/scaler.h"

using namespace updraft;

namespace {

const char kBody[] =
    R"({"status":"success","data":{"resultType":"vector","result":[{"metric":{"job":"api",)"
    R"("instance":"10.0.0.1:8080"},"value":[1772600767.891,"42"]}]}})";

void pinTo(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  if (sched_setaffinity(0, sizeof set, &set) != 0) std::perror("sched_setaffinity");
}

// ---- the endpoint (child process) ----

void serveConnection(int fd, const std::string& response) {
  std::string pending;
  char buf[8192];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) break;
    pending.append(buf, static_cast<size_t>(n));
    size_t end;
    while ((end = pending.find("\r\n\r\n")) != std::string::npos) {
      pending.erase(0, end + 4);  // GET requests carry no body
      size_t sent = 0;
      while (sent < response.size()) {
        const ssize_t w = ::write(fd, response.data() + sent, response.size() - sent);
        if (w <= 0) {
          ::close(fd);
          return;
        }
        sent += static_cast<size_t>(w);
      }
    }
  }
  ::close(fd);
}

[[noreturn]] void runServer(int listenFd, bool pin) {
  if (pin) pinTo(1);
  const std::string response =
      "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
      "Content-Length: " +
      std::to_string(sizeof kBody - 1) + "\r\n\r\n" + kBody;
  for (;;) {
    const int fd = ::accept(listenFd, nullptr, nullptr);
    if (fd < 0) continue;
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    std::thread(serveConnection, fd, response).detach();
  }
}

// Forks the endpoint; returns its port. The child dies with this process (SIGKILL at exit).
int startServer(bool pin, pid_t& child) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(fd, 64) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    std::perror("server socket");
    std::exit(1);
  }
  child = ::fork();
  if (child < 0) {
    std::perror("fork");
    std::exit(1);
  }
  if (child == 0) runServer(fd, pin);
  ::close(fd);
  return ntohs(addr.sin_port);
}

// ---- measurement ----

double threadCpuSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

struct Sample {
  double pollsPerSecond = 0;
  double cpuMicrosPerPoll = 0;
};

template <typename Poll>
Sample measure(double seconds, Poll&& poll) {
  using Steady = std::chrono::steady_clock;
  const auto start = Steady::now();
  const double cpuStart = threadCpuSeconds();
  const auto until = start + std::chrono::duration<double>(seconds);
  long polls = 0;
  while (Steady::now() < until) {
    for (int i = 0; i < 64; ++i) poll();
    polls += 64;
  }
  const double wall = std::chrono::duration<double>(Steady::now() - start).count();
  const double cpu = threadCpuSeconds() - cpuStart;
  return Sample{static_cast<double>(polls) / wall, cpu * 1e6 / static_cast<double>(polls)};
}

size_t onWrite(char* data, size_t size, size_t count, void* userdata) {
  static_cast<std::string*>(userdata)->append(data, size * count);
  return size * count;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

bool parsePositive(const char* text, double& out) {
  char* end = nullptr;
  const double v = std::strtod(text, &end);
  if (end == text || *end != '\0' || !(v > 0)) return false;
  out = v;
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  double seconds = 2;
  double roundsArg = 5;
  bool pin = true;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--seconds" && i + 1 < argc && parsePositive(argv[i + 1], seconds)) {
      ++i;
    } else if (a == "--rounds" && i + 1 < argc && parsePositive(argv[i + 1], roundsArg)) {
      ++i;
    } else if (a == "--no-pin") {
      pin = false;
    } else {
      std::fprintf(stderr, "usage: prometheus_bench [--seconds S] [--rounds R] [--no-pin]\n");
      return 2;
    }
  }
  const int rounds = static_cast<int>(roundsArg);
  if (pin && std::thread::hardware_concurrency() < 2) pin = false;

  // Fork the endpoint before any thread or libcurl state exists.
  pid_t child = -1;
  const int port = startServer(pin, child);
  if (pin) pinTo(0);
  const std::string server = "http://127.0.0.1:" + std::to_string(port);

  // The scaler, as `updraft run` builds it.
  auto factory = ScalerRegistry::global().find("prometheus");
  if (!factory) {
    std::fprintf(stderr, "the prometheus scaler is not registered\n");
    ::kill(child, SIGKILL);
    return 1;
  }
  ScalerConfig config;
  config.scalableObjectName = "bench";
  config.scalableObjectNamespace = "default";
  config.scalableObjectType = "ScaledObject";
  config.triggerType = "prometheus";
  config.triggerMetadata = {{"serverAddress", server},
                            {"query", R"(sum(rate(http_requests_total{job="api"}[2m])))"},
                            {"threshold", "100"}};
  auto definition = factory->parse(config);
  if (!definition.isOk()) {
    std::fprintf(stderr, "parse: %s\n", definition.status().message().c_str());
    ::kill(child, SIGKILL);
    return 1;
  }
  auto created = definition.value()->createScaler(ScalerContext{});
  if (!created.isOk()) {
    std::fprintf(stderr, "createScaler: %s\n", created.status().message().c_str());
    ::kill(child, SIGKILL);
    return 1;
  }
  std::unique_ptr<Scaler> scaler = std::move(created.value());
  const std::string metricName = definition.value()->metricSpecs().at(0).metricName;
  long failures = 0;
  auto scalerPoll = [&] {
    auto r =
        scaler->getMetricsAndActivity(metricName, SystemClock::instance().now() + Millis(3000));
    if (!r.isOk() || r->metrics[0].value != 42) ++failures;
  };

  // The bare libcurl loop against the same URL (what the scaler requests, at a fixed time).
  curl_global_init(CURL_GLOBAL_DEFAULT);
  CURL* curl = curl_easy_init();
  std::string body;
  const std::string url = server +
                          "/api/v1/query?query=sum%28rate%28http_requests_total%7Bjob%3D%22api%22"
                          "%7D%5B2m%5D%29%29&time=2026-03-04T05:06:07Z";
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 3000L);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, onWrite);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &body);
  auto curlPoll = [&] {
    body.clear();
    if (curl_easy_perform(curl) != CURLE_OK) ++failures;
  };

  http::HttpClient client;
  http::Request request;
  request.url = url;
  auto clientPoll = [&] {
    auto r = client.send(request);
    if (!r.isOk() || r->status != 200) ++failures;
  };

  // Warm up (connections, caches) and check the answers.
  for (int i = 0; i < 200; ++i) {
    curlPoll();
    scalerPoll();
    clientPoll();
  }
  if (failures) {
    std::fprintf(stderr, "warm-up failed (%ld failures)\n", failures);
    ::kill(child, SIGKILL);
    return 1;
  }

  std::printf("prometheus_bench: %d rounds x %.1f s per loop; client %s, endpoint %s\n", rounds,
              seconds, pin ? "pinned to CPU 0" : "not pinned",
              pin ? "(separate process) pinned to CPU 1" : "(separate process) not pinned");
  std::printf("%5s %14s %14s %7s %16s %16s %7s\n", "round", "libcurl/s", "scaler/s", "ratio",
              "libcurl us/poll", "scaler us/poll", "ratio");
  std::vector<double> curlRates, scalerRates, curlCpu, scalerCpu, wallRatios, cpuRatios;
  std::vector<double> clientRates, clientCpu;
  for (int round = 1; round <= rounds; ++round) {
    const Sample c = measure(seconds, curlPoll);
    const Sample s = measure(seconds, scalerPoll);
    const Sample h = measure(seconds / 2, clientPoll);
    clientRates.push_back(h.pollsPerSecond);
    clientCpu.push_back(h.cpuMicrosPerPoll);
    curlRates.push_back(c.pollsPerSecond);
    scalerRates.push_back(s.pollsPerSecond);
    curlCpu.push_back(c.cpuMicrosPerPoll);
    scalerCpu.push_back(s.cpuMicrosPerPoll);
    wallRatios.push_back(s.pollsPerSecond / c.pollsPerSecond);
    cpuRatios.push_back(c.cpuMicrosPerPoll / s.cpuMicrosPerPoll);
    std::printf("%5d %14.0f %14.0f %7.3f %16.2f %16.2f %7.3f\n", round, c.pollsPerSecond,
                s.pollsPerSecond, wallRatios.back(), c.cpuMicrosPerPoll, s.cpuMicrosPerPoll,
                cpuRatios.back());
  }
  const double curlCpuMedian = median(curlCpu);
  const double scalerCpuMedian = median(scalerCpu);
  std::printf(
      "\nbare libcurl keep-alive: %8.0f polls/s wall-clock, %6.2f us client CPU per poll "
      "(%.0f polls per CPU-second)\n",
      median(curlRates), curlCpuMedian, 1e6 / curlCpuMedian);
  std::printf(
      "prometheus scaler:       %8.0f polls/s wall-clock, %6.2f us client CPU per poll "
      "(%.0f polls per CPU-second)\n",
      median(scalerRates), scalerCpuMedian, 1e6 / scalerCpuMedian);
  std::printf(
      "(shared HttpClient alone: %8.0f requests/s wall-clock, %6.2f us client CPU per "
      "request)\n",
      median(clientRates), median(clientCpu));
  std::printf(
      "ratio scaler/libcurl: %.3f wall-clock (median of per-round ratios), %.3f per "
      "CPU-second (target >= 0.8)\n",
      median(wallRatios), median(cpuRatios));
  if (failures) std::printf("failed polls: %ld\n", failures);

  scaler->close();
  client.closeIdle();
  curl_easy_cleanup(curl);
  ::kill(child, SIGKILL);
  ::waitpid(child, nullptr, 0);
  return failures ? 1 : 0;
}
