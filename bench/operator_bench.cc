// operator_bench: `updraft operator` reconciling N ScaledObjects from a cold start against the
// Kubernetes API test server (tools/kube-test-apiserver), both as child processes.
//
// Setup, before the operator starts: the test server (a watch window large enough for the run;
// simulated controllers off unless --simulate-controllers: the operator does not need workload
// status, and the server's 100 ms controller tick walks every object under its global lock), the
// KEDA CRDs (deploy/crds/*.yaml), `--namespaces` namespaces, and `--objects` Deployments plus one
// ScaledObject each (a `cron` trigger: no network; minReplicaCount 1 so the executor never scales
// to zero), spread round-robin over the namespaces and created by `--create-threads` threads
// through the operator library's KubeClient (no rate limit).
//
// The test server leaves Nagle's algorithm on, which costs every answer a ~40 ms delayed-ACK stall
// (a real API server sets TCP_NODELAY); the bench sets TCP_NODELAY on the server's listening
// socket through pidfd_getfd before anything connects (--server-nagle: leave it as it is).
//
// Baseline: `updraft operator` against the server with the CRDs but no object, until /readyz says
// the informers synced, plus `--settle` seconds; its VmRSS is the operator's fixed cost.
//
// Measured run: `updraft operator --kube-api-qps Q --kube-api-burst B ...` started from a cold
// start (t = 0 at spawn). The bench watches ScaledObjects and HPAs (two watch streams, so each
// transition is timed to the event, not to a polling period) and polls /readyz every 0.1 s.
// Reported, all from t = 0:
//   caches synced     /readyz first answered 200 (informers listed everything)
//   all HPAs          the N-th HPA owned by a ScaledObject was ADDED
//   all Ready         the N-th ScaledObject had status.conditions Ready=True
// then, checked again by full (paged) lists of HPAs and ScaledObjects, and after `--settle`
// seconds more: the operator's VmRSS (and VmHWM), minus the baseline, divided by N; its CPU
// seconds and the test server's (/proc/<pid>/stat utime+stime, at all-Ready and at the end); its
// threads; and the API requests it sent (exact total from the server's request sequence numbers,
// less the bench's own; a breakdown by verb and resource from the server's request log, drained
// every 4 s, so a few requests logged between a drain's GET and DELETE are not in it).
// Targets (the issue): all Ready in < 60 s for 10,000 objects, <= 20 KiB per object.
// Exit status: 1 when the operator dies, a step fails, or not everything is Ready by --timeout.
//
//   operator_bench [--objects 10000] [--namespaces 4] [--create-threads 8] [--qps 2000]
//                  [--burst 2000] [--timeout 600] [--settle 10] [--no-baseline] [--keep]
//                  [--server-nagle] [--simulate-controllers] [--log-level info]
//                  [--operator-arg ARG]... [--wrap ARG]...
// --operator-arg adds an argument to the operator's command line; --wrap puts one before it (a
// profiler: `--wrap /usr/bin/heaptrack --wrap -o --wrap /tmp/h`; the figures are then the
// wrapper's). --keep keeps the logs (operator.log, operator-baseline.log, apiserver.log).
#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "updraft/operator/kube_client.h"
#include "updraft/parse.h"

extern char** environ;

using namespace updraft;
using namespace updraft::kube;
using json = nlohmann::json;
using Steady = std::chrono::steady_clock;

namespace {

struct Args {
  int objects = 10000;
  int namespaces = 4;
  int createThreads = 8;
  double qps = 2000;
  int burst = 2000;
  double timeout = 600;
  double settle = 10;
  bool baseline = true;
  bool keep = false;
  bool serverNagle = false;
  bool simulateControllers = false;
  std::string logLevel = "info";
  std::vector<std::string> operatorArgs;
  std::vector<std::string> wrapper;  // a profiler's command line before the operator's
};

// Child processes still running: killed when the bench gives up.
std::mutex gChildrenMutex;
std::set<pid_t> gChildren;

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "operator_bench: %s\n", what.c_str());
  std::lock_guard lock(gChildrenMutex);
  for (pid_t pid : gChildren) {
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
  }
  std::_Exit(1);
}

double secondsSince(Steady::time_point t) {
  return std::chrono::duration<double>(Steady::now() - t).count();
}

std::string readFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string fmtNumber(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

// A child process with stdout and stderr into `logFile`.
pid_t spawn(const std::vector<std::string>& args, const std::string& logFile) {
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, logFile.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  pid_t pid = 0;
  int rc = posix_spawn(&pid, argv[0], &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) die("cannot start " + args[0] + ": " + std::strerror(rc));
  std::lock_guard lock(gChildrenMutex);
  gChildren.insert(pid);
  return pid;
}

// Exit code (128 + signal when killed) once the process ended, else nullopt.
std::optional<int> exited(pid_t pid) {
  int status = 0;
  if (waitpid(pid, &status, WNOHANG) != pid) return std::nullopt;
  {
    std::lock_guard lock(gChildrenMutex);
    gChildren.erase(pid);
  }
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

// SIGTERM, then SIGKILL after `grace`; the exit code.
int terminate(pid_t pid, std::chrono::seconds grace = std::chrono::seconds(15)) {
  kill(pid, SIGTERM);
  auto until = Steady::now() + grace;
  while (Steady::now() < until) {
    if (auto code = exited(pid)) return *code;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  kill(pid, SIGKILL);
  int status = 0;
  waitpid(pid, &status, 0);
  std::lock_guard lock(gChildrenMutex);
  gChildren.erase(pid);
  return 128 + SIGKILL;
}

// A field of /proc/<pid>/status in KiB ("VmRSS", "VmHWM") or a count ("Threads"); -1 if absent.
long procStatus(pid_t pid, const std::string& field) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(field + ":", 0) == 0) return std::strtol(line.c_str() + field.size() + 1, 0, 10);
  }
  return -1;
}

// utime + stime of a process, in seconds.
double procCpuSeconds(pid_t pid) {
  std::string stat = readFile("/proc/" + std::to_string(pid) + "/stat");
  auto close = stat.rfind(')');
  if (close == std::string::npos) return -1;
  std::istringstream in(stat.substr(close + 2));
  std::string field;
  unsigned long long utime = 0, stime = 0;
  // After the command: state is field 3; utime and stime are fields 14 and 15.
  for (int i = 3; i <= 15 && in >> field; ++i) {
    if (i == 14) utime = std::stoull(field);
    if (i == 15) stime = std::stoull(field);
  }
  return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

int freePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) die("bind failed");
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

// The status code of a plain HTTP GET on 127.0.0.1, or 0 when nothing answers.
int httpStatus(int port, const std::string& path) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int code = 0;
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
    std::string req = "GET " + path + " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
    if (::write(fd, req.data(), req.size()) == static_cast<ssize_t>(req.size())) {
      char buf[256];
      ssize_t n = ::read(fd, buf, sizeof buf - 1);
      if (n > 12) {
        buf[n] = 0;
        code = std::atoi(buf + 9);  // "HTTP/1.1 200"
      }
    }
  }
  ::close(fd);
  return code;
}

// Sets TCP_NODELAY on the test server's listening socket (connections accept()ed from it inherit
// it), through a duplicate of its descriptor (pidfd_getfd). The test server leaves Nagle's
// algorithm on; cpp-httplib writes a response's headers and body separately, so every answer
// waits for the client's delayed ACK: ~40 ms per request (a real API server sets TCP_NODELAY, as
// Go does by default). False when no listening socket on `port` could be changed.
bool setServerNoDelay(pid_t pid, int port) {
  int pidfd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
  if (pidfd < 0) return false;
  bool done = false;
  const std::string fds = "/proc/" + std::to_string(pid) + "/fd";
  for (const auto& e : std::filesystem::directory_iterator(fds)) {
    int target = 0;
    try {
      target = std::stoi(e.path().filename().string());
    } catch (...) {
      continue;
    }
    int fd = static_cast<int>(syscall(SYS_pidfd_getfd, pidfd, target, 0));
    if (fd < 0) continue;
    int listening = 0;
    socklen_t len = sizeof listening;
    sockaddr_in addr{};
    socklen_t alen = sizeof addr;
    if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) == 0 && listening &&
        getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &alen) == 0 &&
        addr.sin_family == AF_INET && ntohs(addr.sin_port) == port) {
      int one = 1;
      done |= setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) == 0;
    }
    ::close(fd);
  }
  ::close(pidfd);
  return done;
}

// The test server: stdout into a file whose first line is `listening=<url>`.
struct TestServer {
  pid_t pid = -1;
  std::string url;
  std::string kubeconfig;

  void start(const std::string& dir, int objects, bool noDelay, bool simulateControllers) {
    const std::string log = dir + "/apiserver.log";
    // Watch window: every change of the run (creations, finalizers, statuses, events) stays
    // resumable, so no informer relists because the bench ran long.
    const std::string window = std::to_string(std::max(100000, objects * 12));
    pid = spawn(
        {std::string(UPDRAFT_BINARY_DIR) + "/tools/kube-test-apiserver/updraft-kube-test-apiserver",
         "--port", "0", "--cert-dir", dir + "/kube", "--token", "bench-token",
         "--simulate-controllers", simulateControllers ? "true" : "false", "--watch-window",
         window},
        log);
    auto until = Steady::now() + std::chrono::seconds(30);
    while (Steady::now() < until) {
      std::string text = readFile(log);
      if (auto nl = text.find('\n'); nl != std::string::npos) {
        std::string first = text.substr(0, nl);
        if (first.rfind("listening=", 0) != 0) die("the test server said: " + text);
        url = first.substr(10);
        kubeconfig = dir + "/kube/kubeconfig";
        if (noDelay && !setServerNoDelay(pid, std::atoi(url.substr(url.rfind(':') + 1).c_str()))) {
          die("cannot set TCP_NODELAY on the test server's socket (pidfd_getfd); use "
              "--server-nagle");
        }
        // kubeconfig= follows listening=; the file is written before it.
        if (text.find("kubeconfig=") != std::string::npos) return;
      }
      if (auto code = exited(pid)) die("the test server exited (" + std::to_string(*code) + ")");
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    die("the test server did not start");
  }
};

void mustOk(const Result<ApiResponse>& r, const std::string& what) {
  if (!r.isOk()) die(what + ": " + r.status().message());
  if (!r->ok()) die(r->status(what).message());
}

void createCrds(KubeClient& client) {
  std::vector<std::string> files;
  const std::string dir = std::string(UPDRAFT_SOURCE_DIR) + "/deploy/crds";
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    if (e.path().extension() == ".yaml") files.push_back(e.path().string());
  }
  std::sort(files.begin(), files.end());
  if (files.empty()) die("no CRDs in " + dir);
  for (const auto& f : files) {
    auto docs = yamlToJsonDocuments(readFile(f), f);
    if (!docs.isOk()) die(docs.status().message());
    for (const auto& d : *docs) {
      mustOk(client.create("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", d.value),
             "creating the CRD of " + f);
    }
  }
  auto r = client.get("/apis/keda.sh/v1alpha1");
  mustOk(r, "discovery of keda.sh/v1alpha1");
}

std::string nsName(int i, int namespaces) { return "bench-" + std::to_string(i % namespaces); }

std::string objName(const char* prefix, int i) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%s-%05d", prefix, i);
  return buf;
}

json deployment(const std::string& ns, const std::string& name) {
  json labels = {{"app", name}};
  return {{"apiVersion", "apps/v1"},
          {"kind", "Deployment"},
          {"metadata", {{"name", name}, {"namespace", ns}, {"labels", labels}}},
          {"spec",
           {{"replicas", 1},
            {"selector", {{"matchLabels", labels}}},
            {"template",
             {{"metadata", {{"labels", labels}}},
              {"spec",
               {{"containers",
                 json::array({{{"name", "app"},
                               {"image", "registry.example/app:1.0"},
                               {"env", json::array({{{"name", "MODE"}, {"value", "bench"}}})},
                               {"resources",
                                {{"requests", {{"cpu", "100m"}, {"memory", "64Mi"}}}}}}})}}}}}}}};
}

// A cron trigger (no network): 08:00-18:00 UTC at 5 replicas. minReplicaCount 1: the executor
// never scales to zero, so the run measures reconciling, not scaling writes.
json scaledObject(const std::string& ns, const std::string& name, const std::string& target) {
  return {{"apiVersion", "keda.sh/v1alpha1"},
          {"kind", "ScaledObject"},
          {"metadata", {{"name", name}, {"namespace", ns}}},
          {"spec",
           {{"scaleTargetRef", {{"name", target}}},
            {"minReplicaCount", 1},
            {"maxReplicaCount", 10},
            {"triggers", json::array({{{"type", "cron"},
                                       {"metadata",
                                        {{"timezone", "Etc/UTC"},
                                         {"start", "0 8 * * *"},
                                         {"end", "0 18 * * *"},
                                         {"desiredReplicas", "5"}}}}})}}}};
}

void createObjects(const KubeConfig& config, const Args& a) {
  std::atomic<int> next{0};
  std::atomic<bool> failed{false};
  std::string error;
  std::mutex errorMutex;
  std::vector<std::thread> threads;
  for (int t = 0; t < a.createThreads; ++t) {
    threads.emplace_back([&] {
      KubeClientOptions o;
      o.qps = 0;
      o.userAgent = "operator_bench";
      KubeClient client(config, o);
      for (int i = next++; i < a.objects && !failed; i = next++) {
        const std::string ns = nsName(i, a.namespaces);
        const std::string app = objName("app", i);
        auto d = client.create(resourcePath("apps/v1", "deployments", ns), deployment(ns, app));
        auto s = d.isOk() && d->ok()
                     ? client.create(resourcePath("keda.sh/v1alpha1", "scaledobjects", ns),
                                     scaledObject(ns, objName("so", i), app))
                     : d;
        if (!s.isOk() || !s->ok()) {
          std::lock_guard lock(errorMutex);
          error = !s.isOk() ? s.status().message() : s->status("creating " + app).message();
          failed = true;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  if (failed) die(error);
}

// "POST horizontalpodautoscalers", "PATCH scaledobjects/status", "LIST deployments",
// "WATCH scaledobjects", ... for a request path and query.
std::string requestKind(const std::string& method, const std::string& path,
                        const std::string& query) {
  std::vector<std::string> parts;
  std::stringstream ss(path);
  for (std::string p; std::getline(ss, p, '/');) {
    if (!p.empty()) parts.push_back(p);
  }
  size_t i = 0;
  if (!parts.empty() && parts[0] == "api") i = 2;
  if (!parts.empty() && parts[0] == "apis") i = 3;
  if (i == 0 || parts.size() <= i) return method + " " + path;
  if (parts[i] == "namespaces" && parts.size() >= i + 3) i += 2;
  const bool named = parts.size() > i + 1;
  std::string what = parts[i];
  if (parts.size() > i + 2) what += "/" + parts[i + 2];
  std::string verb = method;
  if (method == "GET" && !named) {
    verb =
        query.find("watch=1") != std::string::npos || query.find("watch=true") != std::string::npos
            ? "WATCH"
            : "LIST";
  }
  return verb + " " + what;
}

// Drains the server's request log (GET, then DELETE) and counts the operator's requests by kind.
struct RequestLog {
  KubeClient& client;
  uint64_t lastSeq = 0;
  uint64_t seen = 0;                                            // operator requests seen in the log
  std::map<std::string, std::pair<uint64_t, uint64_t>> byKind;  // kind -> (count, errors)

  // The highest sequence number so far (0 when the log was empty).
  uint64_t drain(bool count) {
    auto r = client.get("/_test/requests");
    if (!r.isOk() || !r->ok()) return lastSeq;
    (void)client.remove("/_test/requests");
    for (const auto& e : r->body.value("requests", json::array())) {
      const uint64_t seq = e.value("seq", uint64_t{0});
      if (seq <= lastSeq && lastSeq != 0) continue;
      lastSeq = std::max(lastSeq, seq);
      if (!count || e.value("userAgent", "").rfind("updraft/", 0) != 0) continue;
      ++seen;
      auto& slot =
          byKind[requestKind(e.value("method", ""), e.value("path", ""), e.value("query", ""))];
      ++slot.first;
      if (e.value("code", 0) >= 400) ++slot.second;
    }
    return lastSeq;
  }
};

// Counts ScaledObjects with Ready=True and HPAs owned by a ScaledObject, from watch events.
struct Tracker {
  std::mutex mutex;
  std::set<std::string> ready;
  std::set<std::string> hpas;
  int target = 0;
  Steady::time_point start;
  double firstHpa = -1, allHpas = -1, firstReady = -1, allReady = -1;

  static bool isReady(const json& so) {
    for (const auto& c : so.value("/status/conditions"_json_pointer, json::array())) {
      if (c.value("type", "") == "Ready") return c.value("status", "") == "True";
    }
    return false;
  }

  static std::string key(const json& o) {
    return o.value("/metadata/namespace"_json_pointer, std::string()) + "/" +
           o.value("/metadata/name"_json_pointer, std::string());
  }

  void onScaledObject(const std::string& type, const json& o) {
    std::lock_guard lock(mutex);
    const std::string k = key(o);
    if (type != "DELETED" && isReady(o)) {
      if (ready.insert(k).second) {
        if (firstReady < 0) firstReady = secondsSince(start);
        if (static_cast<int>(ready.size()) == target) allReady = secondsSince(start);
      }
    } else {
      ready.erase(k);
    }
  }

  void onHpa(const std::string& type, const json& o) {
    std::lock_guard lock(mutex);
    const std::string k = key(o);
    if (type == "DELETED") {
      hpas.erase(k);
      return;
    }
    if (hpas.insert(k).second) {
      if (firstHpa < 0) firstHpa = secondsSince(start);
      if (static_cast<int>(hpas.size()) == target) allHpas = secondsSince(start);
    }
  }

  std::pair<size_t, size_t> counts() {
    std::lock_guard lock(mutex);
    return {hpas.size(), ready.size()};
  }
};

// A watch of every namespace's `resource` from `resourceVersion`, feeding `onEvent` until the
// client stops.
std::thread watchThread(KubeClient& client, const std::string& collection,
                        const std::string& resourceVersion,
                        std::function<void(const std::string&, const json&)> onEvent) {
  return std::thread([&client, collection, resourceVersion, onEvent] {
    std::string rv = resourceVersion;
    while (!client.stopped()) {
      auto r = client.stream(
          collection + "?watch=1&allowWatchBookmarks=true&timeoutSeconds=3600" +
              "&resourceVersion=" + queryEscape(rv),
          [&](std::string_view line) {
            auto e = json::parse(line, nullptr, false);
            if (!e.is_object()) return true;
            const std::string type = e.value("type", "");
            const json& o = e.contains("object") ? e["object"] : json();
            if (auto v = o.value("/metadata/resourceVersion"_json_pointer, std::string());
                !v.empty()) {
              rv = v;
            }
            if (type == "ERROR") {
              std::fprintf(stderr, "operator_bench: watch of %s: %s\n", collection.c_str(),
                           o.dump().c_str());
              return false;
            }
            if (type != "BOOKMARK") onEvent(type, o);
            return true;
          });
      if (!client.stopped() && (!r.isOk() || r->code != 200)) {
        std::fprintf(stderr, "operator_bench: watch of %s ended: %s\n", collection.c_str(),
                     r.isOk() ? r->raw.substr(0, 200).c_str() : r.status().message().c_str());
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
      }
    }
  });
}

std::string listResourceVersion(KubeClient& client, const std::string& collection) {
  auto r = client.get(collection + "?limit=1");
  mustOk(r, "list " + collection);
  return r->body.value("/metadata/resourceVersion"_json_pointer, std::string());
}

// Every object of a collection, in pages.
std::vector<json> listAll(KubeClient& client, const std::string& collection) {
  std::vector<json> out;
  std::string cont;
  do {
    std::string path = collection + "?limit=1000";
    if (!cont.empty()) path += "&continue=" + queryEscape(cont);
    auto r = client.get(path);
    mustOk(r, "list " + collection);
    for (auto& item : r->body["items"]) out.push_back(std::move(item));
    cont = r->body.value("/metadata/continue"_json_pointer, std::string());
  } while (!cont.empty());
  return out;
}

std::vector<std::string> operatorCommand(const Args& a, const TestServer& server,
                                         const std::string& dir, int healthPort) {
  std::vector<std::string> cmd = {std::string(UPDRAFT_BINARY_DIR) + "/app/updraft",
                                  "operator",
                                  "--kubeconfig",
                                  server.kubeconfig,
                                  "--bind-address",
                                  "127.0.0.1",
                                  "--metrics-port",
                                  "0",
                                  "--webhook-port",
                                  "0",
                                  "--prometheus-port",
                                  "0",
                                  "--health-port",
                                  std::to_string(healthPort),
                                  "--cert-dir",
                                  dir + "/operator-certs",
                                  "--kube-api-qps",
                                  fmtNumber(a.qps),
                                  "--kube-api-burst",
                                  std::to_string(a.burst),
                                  "--log-level",
                                  a.logLevel};
  cmd.insert(cmd.end(), a.operatorArgs.begin(), a.operatorArgs.end());
  cmd.insert(cmd.begin(), a.wrapper.begin(), a.wrapper.end());
  return cmd;
}

std::string tail(const std::string& file, size_t lines) {
  std::string text = readFile(file);
  size_t pos = text.size();
  for (size_t n = 0; n <= lines && pos != std::string::npos && pos > 0; ++n) {
    pos = text.rfind('\n', pos - 1);
  }
  return pos == std::string::npos ? text : text.substr(pos + 1);
}

[[noreturn]] void operatorDied(int code, const std::string& log) {
  die("the operator exited with " + std::to_string(code) + "; its log is " + log +
      ", which ends with:\n" + tail(log, 30));
}

struct Baseline {
  long rssKiB = 0;
  double cpuSeconds = 0;
  double syncSeconds = 0;
};

Baseline runBaseline(const Args& a, const TestServer& server, const std::string& dir) {
  const int port = freePort();
  const std::string log = dir + "/operator-baseline.log";
  auto start = Steady::now();
  pid_t pid = spawn(operatorCommand(a, server, dir, port), log);
  Baseline b;
  while (httpStatus(port, "/readyz") != 200) {
    if (auto code = exited(pid)) operatorDied(*code, log);
    if (secondsSince(start) > 60) die("the baseline operator did not become ready in 60 s");
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  b.syncSeconds = secondsSince(start);
  std::this_thread::sleep_for(std::chrono::duration<double>(a.settle));
  if (auto code = exited(pid)) operatorDied(*code, log);
  b.rssKiB = procStatus(pid, "VmRSS");
  b.cpuSeconds = procCpuSeconds(pid);
  int code = terminate(pid);
  if (code != 0) std::fprintf(stderr, "operator_bench: the baseline operator exited %d\n", code);
  return b;
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
    if (f == "--objects") {
      a.objects = std::stoi(next());
    } else if (f == "--namespaces") {
      a.namespaces = std::max(1, std::stoi(next()));
    } else if (f == "--create-threads") {
      a.createThreads = std::max(1, std::stoi(next()));
    } else if (f == "--qps") {
      a.qps = std::stod(next());
    } else if (f == "--burst") {
      a.burst = std::stoi(next());
    } else if (f == "--timeout") {
      a.timeout = std::stod(next());
    } else if (f == "--settle") {
      a.settle = std::stod(next());
    } else if (f == "--no-baseline") {
      a.baseline = false;
    } else if (f == "--simulate-controllers") {
      a.simulateControllers = true;
    } else if (f == "--server-nagle") {
      a.serverNagle = true;
    } else if (f == "--keep") {
      a.keep = true;
    } else if (f == "--log-level") {
      a.logLevel = next();
    } else if (f == "--operator-arg") {
      a.operatorArgs.push_back(next());
    } else if (f == "--wrap") {
      a.wrapper.push_back(next());
    } else {
      die("unknown flag " + f +
          " (--objects --namespaces --create-threads --qps --burst --timeout --settle "
          "--no-baseline --keep --server-nagle --simulate-controllers --log-level --operator-arg "
          "--wrap)");
    }
  }
  if (a.objects < 1) die("--objects must be at least 1");
  signal(SIGPIPE, SIG_IGN);

  char tmpl[] = "/tmp/operator-bench-XXXXXX";
  if (!mkdtemp(tmpl)) die("mkdtemp failed");
  const std::string dir = tmpl;

  TestServer server;
  server.start(dir, a.objects, !a.serverNagle, a.simulateControllers);
  auto config = KubeConfig::fromKubeconfig(server.kubeconfig);
  if (!config.isOk()) die(config.status().message());
  KubeClientOptions benchOptions;
  benchOptions.qps = 0;
  benchOptions.userAgent = "operator_bench";
  KubeClient admin(*config, benchOptions);
  KubeClient logClient(*config, benchOptions);
  createCrds(admin);
  for (int n = 0; n < a.namespaces; ++n) {
    mustOk(admin.create("/api/v1/namespaces", {{"apiVersion", "v1"},
                                               {"kind", "Namespace"},
                                               {"metadata", {{"name", nsName(n, a.namespaces)}}}}),
           "creating a namespace");
  }

  Baseline baseline;
  if (a.baseline) {
    baseline = runBaseline(a, server, dir);
    std::fprintf(stderr, "baseline (0 objects): synced in %.2f s, VmRSS %.1f MiB\n",
                 baseline.syncSeconds, baseline.rssKiB / 1024.0);
  }

  auto createStart = Steady::now();
  createObjects(*config, a);
  const double createSeconds = secondsSince(createStart);
  std::fprintf(stderr, "created %d Deployments + %d ScaledObjects in %.1f s (%.0f objects/s)\n",
               a.objects, a.objects, createSeconds, 2.0 * a.objects / createSeconds);

  RequestLog requests{logClient};
  const uint64_t seq0 = requests.drain(false);
  const uint64_t benchRequests0 = admin.requestCount();

  // Watches from the current state, started before the operator.
  KubeClient watchClient(*config, benchOptions);
  Tracker tracker;
  tracker.target = a.objects;
  const std::string soCollection = "/apis/keda.sh/v1alpha1/scaledobjects";
  const std::string hpaCollection = "/apis/autoscaling/v2/horizontalpodautoscalers";
  std::vector<std::thread> watches;
  watches.push_back(
      watchThread(watchClient, soCollection, listResourceVersion(admin, soCollection),
                  [&](const std::string& t, const json& o) { tracker.onScaledObject(t, o); }));
  watches.push_back(watchThread(watchClient, hpaCollection,
                                listResourceVersion(admin, hpaCollection),
                                [&](const std::string& t, const json& o) { tracker.onHpa(t, o); }));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // the watches connect

  const int healthPort = freePort();
  const auto command = operatorCommand(a, server, dir, healthPort);
  const std::string log = dir + "/operator.log";
  std::string commandLine;
  for (const auto& c : command) commandLine += (commandLine.empty() ? "" : " ") + c;
  {
    std::lock_guard lock(tracker.mutex);
    tracker.start = Steady::now();
  }
  const auto start = tracker.start;
  const double serverCpu0 = procCpuSeconds(server.pid);
  pid_t pid = spawn(command, log);
  std::fprintf(stderr, "operator pid %d, test server pid %d\n", pid, server.pid);
  double serverCpuAtReady = -1;

  double synced = -1, cpuAtReady = -1;
  long rssAtReady = -1;
  auto lastDrain = Steady::now(), lastProgress = Steady::now();
  bool done = false;
  while (!done) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    if (auto code = exited(pid)) operatorDied(*code, log);
    if (synced < 0 && httpStatus(healthPort, "/readyz") == 200) synced = secondsSince(start);
    if (Steady::now() - lastDrain >= std::chrono::seconds(4)) {
      requests.drain(true);
      lastDrain = Steady::now();
    }
    auto [hpas, ready] = tracker.counts();
    if (Steady::now() - lastProgress >= std::chrono::seconds(5)) {
      std::fprintf(stderr, "t=%5.1f s  HPAs %6zu  Ready %6zu  VmRSS %7.1f MiB  CPU %6.1f s\n",
                   secondsSince(start), hpas, ready, procStatus(pid, "VmRSS") / 1024.0,
                   procCpuSeconds(pid));
      lastProgress = Steady::now();
    }
    if (static_cast<int>(hpas) >= a.objects && static_cast<int>(ready) >= a.objects) {
      cpuAtReady = procCpuSeconds(pid);
      serverCpuAtReady = procCpuSeconds(server.pid) - serverCpu0;
      rssAtReady = procStatus(pid, "VmRSS");
      done = true;
    } else if (secondsSince(start) > a.timeout) {
      break;
    }
  }
  double allHpas, allReady, firstHpa, firstReady;
  {
    std::lock_guard lock(tracker.mutex);
    allHpas = tracker.allHpas;
    allReady = tracker.allReady;
    firstHpa = tracker.firstHpa;
    firstReady = tracker.firstReady;
  }

  // Check by lists what the watches said.
  size_t listedHpas = 0, listedReady = 0;
  for (const auto& h : listAll(admin, hpaCollection)) {
    for (const auto& ref : h.value("/metadata/ownerReferences"_json_pointer, json::array())) {
      if (ref.value("kind", "") == "ScaledObject") {
        ++listedHpas;
        break;
      }
    }
  }
  for (const auto& so : listAll(admin, soCollection)) listedReady += Tracker::isReady(so);

  // Settle, then measure.
  for (auto until = Steady::now() + std::chrono::duration<double>(a.settle);
       Steady::now() < until;) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    if (auto code = exited(pid)) operatorDied(*code, log);
    if (Steady::now() - lastDrain >= std::chrono::seconds(4)) {
      requests.drain(true);
      lastDrain = Steady::now();
    }
  }
  const long rss = procStatus(pid, "VmRSS");
  const long hwm = procStatus(pid, "VmHWM");
  const long threads = procStatus(pid, "Threads");
  const double cpu = procCpuSeconds(pid);
  const double serverCpu = procCpuSeconds(server.pid) - serverCpu0;
  const double wall = secondsSince(start);
  const uint64_t seq1 = requests.drain(true);
  const uint64_t benchRequests = admin.requestCount() - benchRequests0 + watchClient.requestCount();
  const int exitCode = terminate(pid);
  watchClient.stop();
  (void)terminate(server.pid);
  for (auto& t : watches) t.join();

  const uint64_t operatorRequests = seq1 - seq0 > benchRequests ? seq1 - seq0 - benchRequests : 0;
  const double n = a.objects;
  auto seconds = [](double s) {
    return s < 0 ? std::string("not reached") : fmtNumber(std::round(s * 100) / 100) + " s";
  };
  std::printf("operator_bench: %d ScaledObjects (cron trigger) + %d Deployments in %d namespaces\n",
              a.objects, a.objects, a.namespaces);
  std::printf("test server: %s, simulated controllers %s\n",
              a.serverNagle ? "Nagle on (as it starts)" : "TCP_NODELAY (set by the bench)",
              a.simulateControllers ? "on" : "off");
  std::printf("operator: %s\n", commandLine.c_str());
  std::printf("created before the start in %.1f s (%d threads)\n\n", createSeconds,
              a.createThreads);
  std::printf("| figure | value | target |\n|---|---|---|\n");
  std::printf("| objects | %d | 10,000 |\n", a.objects);
  std::printf("| caches synced (/readyz) | %s | |\n", seconds(synced).c_str());
  std::printf("| first HPA / all HPAs | %s / %s | |\n", seconds(firstHpa).c_str(),
              seconds(allHpas).c_str());
  std::printf("| first Ready / all Ready | %s / %s | < 60 s |\n", seconds(firstReady).c_str(),
              seconds(allReady).c_str());
  std::printf("| checked by list: HPAs / Ready | %zu / %zu | %d |\n", listedHpas, listedReady,
              a.objects);
  std::printf(
      "| VmRSS at all Ready / after %g s settling (VmHWM) | %.1f / %.1f MiB (%.1f MiB) | |\n",
      a.settle, rssAtReady / 1024.0, rss / 1024.0, hwm / 1024.0);
  if (a.baseline) {
    std::printf("| baseline VmRSS, 0 objects | %.1f MiB | |\n", baseline.rssKiB / 1024.0);
    std::printf("| per object: (settled - baseline) / N | %.1f KiB | <= 20 KiB |\n",
                static_cast<double>(rss - baseline.rssKiB) / n);
  } else {
    std::printf("| per object: settled / N (no baseline) | %.1f KiB | <= 20 KiB |\n",
                static_cast<double>(rss) / n);
  }
  std::printf("| operator CPU to all Ready / to the end (%.0f s) | %.1f s / %.1f s | |\n", wall,
              cpuAtReady, cpu);
  std::printf("| test server CPU to all Ready / to the end | %.1f s / %.1f s | |\n",
              serverCpuAtReady, serverCpu);
  std::printf("| operator API requests (per object) | %llu (%.2f) | |\n",
              static_cast<unsigned long long>(operatorRequests),
              static_cast<double>(operatorRequests) / n);
  std::printf("| operator threads | %ld | |\n", threads);
  std::printf("\noperator requests by kind (%llu of them seen in the server's log):\n",
              static_cast<unsigned long long>(requests.seen));
  std::vector<std::pair<std::string, std::pair<uint64_t, uint64_t>>> kinds(requests.byKind.begin(),
                                                                           requests.byKind.end());
  std::sort(kinds.begin(), kinds.end(),
            [](const auto& x, const auto& y) { return x.second.first > y.second.first; });
  for (const auto& [kind, c] : kinds) {
    std::printf("  %-45s %8llu  errors %llu\n", kind.c_str(),
                static_cast<unsigned long long>(c.first),
                static_cast<unsigned long long>(c.second));
  }
  bool ok = allReady >= 0 && allHpas >= 0 && static_cast<int>(listedReady) == a.objects &&
            static_cast<int>(listedHpas) == a.objects;
  if (exitCode != 0) std::printf("the operator exited with %d on SIGTERM\n", exitCode);
  if (a.keep) {
    std::printf("logs kept in %s\n", dir.c_str());
  } else {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
  if (!ok) {
    std::fprintf(stderr, "operator_bench: not every ScaledObject was reconciled in %g s\n",
                 a.timeout);
    return 1;
  }
  return 0;
}
