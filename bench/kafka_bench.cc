// kafka_bench: N kafka ScaledObjects (distinct consumer groups) on ONE cluster, as a user with many
// tenants has them. Starts librdkafka's mock cluster in-process, commits offsets for every group,
// builds the objects from YAML through validation, buildTriggers and the scaler registry (as
// `updraft run` does), creates their scalers and polls each of them a few times. Prints what the
// process holds before and after: TCP connections to the brokers (from /proc/self/net/tcp* matched
// against this process's socket fds), threads (/proc/self/status) and RSS, the client pool, and
// the poll latency.
//
//   kafka_bench [--objects 1000] [--rounds 3] [--brokers 3] [--partitions 8] [--threads 1]
//               [--no-sharing] [--mock-nagle]
//
// --no-sharing gives every scaler its own librdkafka client, which is what KEDA does (one sarama
// client per ScaledObject); use it with fewer objects (e.g. --objects 100) to compare.
// --mock-nagle leaves the mock brokers' sockets as librdkafka creates them (Nagle on; Kafka brokers
// set TCP_NODELAY), which adds ~40 ms delayed-ACK stalls to concurrent polls.
#include <arpa/inet.h>
#include <dirent.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "bench_util.h"
#include "kafka/kafka_client.h"
#include "updraft/parse.h"
#include "updraft/triggers.h"
#include "updraft/validate.h"

using namespace updraft;

namespace {

std::set<int> portsOf(const std::string& bootstrap) {
  std::set<int> ports;
  std::stringstream ss(bootstrap);
  std::string item;
  while (std::getline(ss, item, ','))
    ports.insert(std::atoi(item.substr(item.rfind(':') + 1).c_str()));
  return ports;
}

std::set<unsigned long> socketInodes() {
  std::set<unsigned long> inodes;
  DIR* dir = opendir("/proc/self/fd");
  if (!dir) return inodes;
  while (dirent* e = readdir(dir)) {
    const std::string path = std::string("/proc/self/fd/") + e->d_name;
    char target[128];
    ssize_t n = readlink(path.c_str(), target, sizeof target - 1);
    if (n <= 0) continue;
    target[n] = 0;
    unsigned long inode = 0;
    if (std::sscanf(target, "socket:[%lu]", &inode) == 1) inodes.insert(inode);
  }
  closedir(dir);
  return inodes;
}

// Sets TCP_NODELAY on this process's sockets bound to `ports`: the mock brokers' listening
// sockets (accepted connections inherit it on Linux). Real Kafka brokers set it on every
// connection; librdkafka's mock does not, and without it two responses queued on one connection
// wait ~40 ms for a delayed ACK, which would measure the mock rather than the scaler.
int setNoDelayOnBrokerSockets(const std::set<int>& ports) {
  int done = 0;
  DIR* dir = opendir("/proc/self/fd");
  if (!dir) return 0;
  while (dirent* e = readdir(dir)) {
    const int fd = std::atoi(e->d_name);
    sockaddr_in addr{};
    socklen_t len = sizeof addr;
    if (fd <= 2 || getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0 ||
        addr.sin_family != AF_INET || !ports.count(ntohs(addr.sin_port))) {
      continue;
    }
    int one = 1;
    if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) == 0) ++done;
  }
  closedir(dir);
  return done;
}

// Established client-side connections of this process to `ports`.
long brokerConnections(const std::set<int>& ports) {
  const auto mine = socketInodes();
  long count = 0;
  for (const char* file : {"/proc/self/net/tcp", "/proc/self/net/tcp6"}) {
    std::ifstream in(file);
    std::string line;
    std::getline(in, line);  // header
    while (std::getline(in, line)) {
      std::istringstream ls(line);
      std::string sl, local, remote, state, queues, timer, retr, uid, timeout;
      unsigned long inode = 0;
      ls >> sl >> local >> remote >> state >> queues >> timer >> retr >> uid >> timeout >> inode;
      if (state != "01") continue;  // ESTABLISHED
      const int remotePort =
          static_cast<int>(std::strtol(remote.substr(remote.find(':') + 1).c_str(), nullptr, 16));
      if (ports.count(remotePort) && mine.count(inode)) ++count;
    }
  }
  return count;
}

long threadCount() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("Threads:", 0) == 0) return std::atol(line.c_str() + 8);
  }
  return -1;
}

struct Snapshot {
  long connections;
  long threads;
  long rss;
};

Snapshot snapshot(const std::set<int>& ports) {
  return {brokerConnections(ports), threadCount(), bench::residentBytes()};
}

void printSnapshot(const char* when, const Snapshot& s) {
  std::printf("%-34s connections to brokers %5ld   threads %5ld   RSS %7.1f MiB\n", when,
              s.connections, s.threads, static_cast<double>(s.rss) / (1024.0 * 1024.0));
}

// Commits `offset` on every partition for `group` through one admin client (no group join).
bool commitOffsets(rd_kafka_t* admin, const std::string& group, int partitions, int64_t offset) {
  rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(partitions);
  for (int p = 0; p < partitions; ++p)
    rd_kafka_topic_partition_list_add(list, "bench", p)->offset = offset;
  rd_kafka_AlterConsumerGroupOffsets_t* req =
      rd_kafka_AlterConsumerGroupOffsets_new(group.c_str(), list);
  rd_kafka_queue_t* q = rd_kafka_queue_new(admin);
  rd_kafka_AlterConsumerGroupOffsets(admin, &req, 1, nullptr, q);
  rd_kafka_event_t* ev = rd_kafka_queue_poll(q, 10000);
  bool ok = ev && !rd_kafka_event_error(ev);
  if (ev) rd_kafka_event_destroy(ev);
  rd_kafka_queue_destroy(q);
  rd_kafka_AlterConsumerGroupOffsets_destroy(req);
  rd_kafka_topic_partition_list_destroy(list);
  return ok;
}

std::string objectYaml(long i, const std::string& bootstrap) {
  return "apiVersion: keda.sh/v1alpha1\nkind: ScaledObject\nmetadata:\n  name: tenant-" +
         std::to_string(i) + "\n  namespace: bench\nspec:\n  scaleTargetRef:\n    name: consumer-" +
         std::to_string(i) +
         "\n  pollingInterval: 30\n  maxReplicaCount: 20\n  triggers:\n"
         "    - type: kafka\n      metadata:\n        bootstrapServers: \"" +
         bootstrap + "\"\n        consumerGroup: tenant-" + std::to_string(i) +
         "\n        topic: bench\n        lagThreshold: \"10\"\n";
}

double percentile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t idx = static_cast<size_t>(q * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(idx, v.size() - 1)];
}

}  // namespace

int main(int argc, char** argv) {
  long objects = 1000;
  int rounds = 3;
  int brokers = 3;
  int partitions = 8;
  int threads = 1;
  bool sharing = true;
  bool mockNagle = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> long { return i + 1 < argc ? std::atol(argv[++i]) : -1; };
    if (a == "--objects")
      objects = next();
    else if (a == "--rounds")
      rounds = static_cast<int>(next());
    else if (a == "--brokers")
      brokers = static_cast<int>(next());
    else if (a == "--partitions")
      partitions = static_cast<int>(next());
    else if (a == "--threads")
      threads = static_cast<int>(next());
    else if (a == "--no-sharing")
      sharing = false;
    else
      objects = -1;
  }
  if (objects <= 0 || rounds <= 0 || brokers <= 0 || partitions <= 0 || threads <= 0) {
    std::fprintf(
        stderr,
        "usage: %s [--objects N] [--rounds R] [--brokers B] [--partitions P] [--threads T] "
        "[--no-sharing]\n",
        argv[0]);
    return 2;
  }

  // ---- the cluster: one topic, messages on every partition, offsets for every group ----
  char err[512];
  rd_kafka_conf_t* mconf = rd_kafka_conf_new();
  rd_kafka_conf_set(mconf, "log_level", "0", err, sizeof err);
  rd_kafka_t* mockHandle = rd_kafka_new(RD_KAFKA_PRODUCER, mconf, err, sizeof err);
  rd_kafka_mock_cluster_t* cluster = rd_kafka_mock_cluster_new(mockHandle, brokers);
  const std::string bootstrap = rd_kafka_mock_cluster_bootstraps(cluster);
  rd_kafka_mock_topic_create(cluster, "bench", partitions, 1);
  {
    rd_kafka_conf_t* pconf = rd_kafka_conf_new();
    rd_kafka_conf_set(pconf, "bootstrap.servers", bootstrap.c_str(), err, sizeof err);
    rd_kafka_conf_set(pconf, "log_level", "0", err, sizeof err);
    rd_kafka_t* producer = rd_kafka_new(RD_KAFKA_PRODUCER, pconf, err, sizeof err);
    for (int p = 0; p < partitions; ++p) {
      for (int m = 0; m < 100; ++m) {
        rd_kafka_producev(producer, RD_KAFKA_V_TOPIC("bench"), RD_KAFKA_V_PARTITION(p),
                          RD_KAFKA_V_VALUE(const_cast<char*>("m"), 1), RD_KAFKA_V_END);
      }
    }
    rd_kafka_flush(producer, 30000);
    rd_kafka_destroy(producer);
    rd_kafka_conf_t* aconf = rd_kafka_conf_new();
    rd_kafka_conf_set(aconf, "bootstrap.servers", bootstrap.c_str(), err, sizeof err);
    rd_kafka_conf_set(aconf, "log_level", "0", err, sizeof err);
    rd_kafka_t* admin = rd_kafka_new(RD_KAFKA_PRODUCER, aconf, err, sizeof err);
    for (long i = 0; i < objects; ++i) {
      if (!commitOffsets(admin, "tenant-" + std::to_string(i), partitions, i % 100)) {
        std::fprintf(stderr, "cannot commit offsets for tenant-%ld\n", i);
        return 1;
      }
    }
    rd_kafka_destroy(admin);
  }
  const std::set<int> ports = portsOf(bootstrap);
  const int nodelay = mockNagle ? 0 : setNoDelayOnBrokerSockets(ports);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));

  std::printf(
      "kafka_bench: %ld kafka ScaledObjects (one consumer group each) on one mock cluster "
      "(%d brokers, topic of %d partitions), %d poll round(s), %d polling thread(s), "
      "client sharing %s\n",
      objects, brokers, partitions, rounds, threads, sharing ? "ON" : "OFF (KEDA-like)");
  std::printf("mock brokers: %s\n", mockNagle ? "Nagle left on (librdkafka's mock as is)"
                                              : ("TCP_NODELAY set on " + std::to_string(nodelay) +
                                                 " listening socket(s), as a Kafka broker does")
                                                    .c_str());
  const Snapshot base = snapshot(ports);
  printSnapshot("before (cluster running)", base);

  // ---- objects: YAML -> validate -> buildTriggers -> createScaler ----
  kafka::ClientPool::global().setSharing(sharing);
  struct Object {
    std::vector<BuiltTrigger> triggers;
    std::unique_ptr<Scaler> scaler;
  };
  std::vector<Object> all(static_cast<size_t>(objects));
  const auto createStart = std::chrono::steady_clock::now();
  const ScalerContext context{&SystemClock::instance(), nullptr};
  for (long i = 0; i < objects; ++i) {
    auto docs = parseDocuments(objectYaml(i, bootstrap), "bench.yaml");
    if (!docs.isOk() || docs->size() != 1 || !validateDocument((*docs)[0]).ok()) {
      std::fprintf(stderr, "object %ld does not parse or validate\n", i);
      return 1;
    }
    const ScaledObject& so = *(*docs)[0].scaledObject();
    auto triggers = buildTriggers(so.metadata, so.spec.triggers, {});
    if (!triggers.isOk()) {
      std::fprintf(stderr, "%s\n", triggers.status().message().c_str());
      return 1;
    }
    auto scaler = (*triggers)[0].definition->createScaler(context);
    if (!scaler.isOk()) {
      std::fprintf(stderr, "%s\n", scaler.status().message().c_str());
      return 1;
    }
    all[static_cast<size_t>(i)].triggers = std::move(*triggers);
    all[static_cast<size_t>(i)].scaler = std::move(*scaler);
  }
  const double createMs = bench::toMillis(std::chrono::steady_clock::now() - createStart);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  printSnapshot("after creating the scalers", snapshot(ports));

  // ---- polls ----
  std::vector<std::vector<double>> latencies(static_cast<size_t>(threads));
  std::atomic<long> errors{0};
  std::atomic<long> wrong{0};
  std::string firstError;
  std::mutex errorMutex;
  const auto pollStart = std::chrono::steady_clock::now();
  for (int r = 0; r < rounds; ++r) {
    std::vector<std::thread> workers;
    for (int t = 0; t < threads; ++t) {
      workers.emplace_back([&, t] {
        for (long i = t; i < objects; i += threads) {
          Object& o = all[static_cast<size_t>(i)];
          const auto t0 = std::chrono::steady_clock::now();
          auto m = o.scaler->getMetricsAndActivity(o.triggers[0].specs[0].metricName,
                                                   SystemClock::instance().now() + Seconds(6));
          latencies[static_cast<size_t>(t)].push_back(
              bench::toMillis(std::chrono::steady_clock::now() - t0));
          if (!m.isOk()) {
            ++errors;
            std::lock_guard lock(errorMutex);
            if (firstError.empty()) firstError = m.status().message();
            continue;
          }
          // Lag per partition is 100 - (i % 100); KEDA's cap: lag / 10 > partitions (integer
          // division) -> partitions x 10.
          const long lag = partitions * (100 - i % 100);
          const long want = lag / 10 > partitions ? partitions * 10L : lag;
          if (m->metrics[0].value != static_cast<double>(want)) ++wrong;
        }
      });
    }
    for (auto& w : workers) w.join();
  }
  const double pollWall = bench::toMillis(std::chrono::steady_clock::now() - pollStart);
  const Snapshot after = snapshot(ports);
  printSnapshot("after polling", after);

  std::vector<double> lat;
  for (auto& v : latencies) lat.insert(lat.end(), v.begin(), v.end());
  const auto pool = kafka::ClientPool::global().stats();
  std::printf("client pool                        %zu librdkafka client(s) for %zu scalers\n",
              pool.clients, pool.references);
  std::printf(
      "growth over 'before'               connections +%ld, threads +%ld, RSS +%.1f MiB "
      "(%.1f KiB per object)\n",
      after.connections - base.connections, after.threads - base.threads,
      static_cast<double>(after.rss - base.rss) / (1024.0 * 1024.0),
      static_cast<double>(after.rss - base.rss) / 1024.0 / static_cast<double>(objects));
  std::printf(
      "scaler creation                    %.1f ms for %ld objects (YAML, validation, "
      "triggers, scaler)\n",
      createMs, objects);
  std::printf(
      "poll latency (metadata + committed + log-end offsets)  p50 %.2f ms  p99 %.2f ms  "
      "max %.2f ms  (%zu polls, %.0f polls/s)\n",
      percentile(lat, 0.5), percentile(lat, 0.99), percentile(lat, 1.0), lat.size(),
      static_cast<double>(lat.size()) / (pollWall / 1000.0));
  std::printf("poll errors                        %ld%s%s; wrong values %ld\n", errors.load(),
              firstError.empty() ? "" : " - first: ", firstError.c_str(), wrong.load());

  for (auto& o : all) o.scaler->close();
  all.clear();
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  printSnapshot("after closing every scaler", snapshot(ports));
  rd_kafka_mock_cluster_destroy(cluster);
  rd_kafka_destroy(mockHandle);
  return errors.load() == 0 && wrong.load() == 0 ? 0 : 1;
}
