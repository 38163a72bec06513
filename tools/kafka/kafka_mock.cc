// updraft-kafka-mock: a Kafka cluster for demos, with no Kafka installed. Starts librdkafka's
// in-process mock cluster (real Kafka protocol on 127.0.0.1), creates topics, prints
//   bootstrap=127.0.0.1:PORT,127.0.0.1:PORT,...
// as the FIRST line of stdout (flushed), then produces bursts of messages on a schedule until it
// is stopped with SIGTERM or SIGINT. Everything after the first line goes to stderr.
//
//   updraft-kafka-mock [--brokers N] [--topic NAME:PARTITIONS]... [--bursts S:M[,S:M...]]
//                      [--repeat SECONDS]
//
//   --brokers 3                  brokers in the cluster
//   --topic orders:10            a topic and its partition count (repeatable; default orders:10)
//   --bursts 5:200,60:400        at 5 s send 200 messages, at 60 s send 400 (seconds from start),
//                                spread evenly over the partitions of every topic
//   --repeat 120                 start the schedule again every 120 s (default: run it once)
#include <arpa/inet.h>
#include <dirent.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace {

std::atomic<bool> stopRequested{false};

void onSignal(int) { stopRequested = true; }

struct Topic {
  std::string name;
  int partitions = 10;
};

struct Burst {
  double at = 0;  // seconds from the start of the schedule
  long messages = 0;
};

[[noreturn]] void usage(const char* argv0, const char* problem) {
  if (problem) std::fprintf(stderr, "%s: %s\n", argv0, problem);
  std::fprintf(stderr,
               "usage: %s [--brokers N] [--topic NAME:PARTITIONS]... [--bursts S:M[,S:M...]] "
               "[--repeat SECONDS]\n",
               argv0);
  std::exit(2);
}

bool parseBursts(const std::string& text, std::vector<Burst>& out) {
  size_t start = 0;
  while (start < text.size()) {
    size_t comma = text.find(',', start);
    if (comma == std::string::npos) comma = text.size();
    std::string item = text.substr(start, comma - start);
    size_t colon = item.find(':');
    if (colon == std::string::npos) return false;
    char* end = nullptr;
    Burst b;
    b.at = std::strtod(item.c_str(), &end);
    if (end != item.c_str() + colon || b.at < 0) return false;
    b.messages = std::strtol(item.c_str() + colon + 1, &end, 10);
    if (*end != '\0' || b.messages < 0) return false;
    out.push_back(b);
    start = comma + 1;
  }
  return !out.empty();
}

// Sleeps until `t` unless a stop is requested; false when stopping.
bool sleepUntil(std::chrono::steady_clock::time_point t) {
  while (!stopRequested) {
    auto now = std::chrono::steady_clock::now();
    if (now >= t) return true;
    std::this_thread::sleep_for(
        std::min<std::chrono::steady_clock::duration>(t - now, std::chrono::milliseconds(100)));
  }
  return false;
}

// Kafka brokers set TCP_NODELAY on their connections; librdkafka's mock does not, so a client with
// several requests in flight on one connection would wait ~40 ms for delayed ACKs. Setting it on
// the mock's listening sockets (accepted connections inherit it on Linux) makes it behave like a
// broker.
void setNoDelayOnListeners(const std::string& bootstrap) {
  std::set<int> ports;
  for (size_t start = 0; start < bootstrap.size();) {
    size_t comma = bootstrap.find(',', start);
    if (comma == std::string::npos) comma = bootstrap.size();
    std::string item = bootstrap.substr(start, comma - start);
    ports.insert(std::atoi(item.substr(item.rfind(':') + 1).c_str()));
    start = comma + 1;
  }
  DIR* dir = opendir("/proc/self/fd");
  if (!dir) return;
  while (dirent* e = readdir(dir)) {
    const int fd = std::atoi(e->d_name);
    sockaddr_in addr{};
    socklen_t len = sizeof addr;
    if (fd > 2 && getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0 &&
        addr.sin_family == AF_INET && ports.count(ntohs(addr.sin_port))) {
      int one = 1;
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
  }
  closedir(dir);
}

}  // namespace

int main(int argc, char** argv) {
  int brokers = 3;
  std::vector<Topic> topics;
  std::vector<Burst> bursts;
  double repeat = 0;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") usage(argv[0], nullptr);
    if (i + 1 >= argc) usage(argv[0], ("missing value for " + arg).c_str());
    std::string value = argv[++i];
    if (arg == "--brokers") {
      brokers = std::atoi(value.c_str());
      if (brokers < 1 || brokers > 32) usage(argv[0], "--brokers must be 1..32");
    } else if (arg == "--topic") {
      size_t colon = value.rfind(':');
      Topic t;
      t.name = value.substr(0, colon);
      if (colon != std::string::npos) t.partitions = std::atoi(value.c_str() + colon + 1);
      if (t.name.empty() || t.partitions < 1 || t.partitions > 10000) {
        usage(argv[0], "--topic must be NAME:PARTITIONS with 1..10000 partitions");
      }
      topics.push_back(t);
    } else if (arg == "--bursts") {
      if (!parseBursts(value, bursts)) usage(argv[0], "--bursts must be SECONDS:MESSAGES,...");
    } else if (arg == "--repeat") {
      repeat = std::atof(value.c_str());
      if (repeat <= 0) usage(argv[0], "--repeat must be a positive number of seconds");
    } else {
      usage(argv[0], ("unknown option " + arg).c_str());
    }
  }
  if (topics.empty()) topics.push_back(Topic{"orders", 10});
  if (bursts.empty()) bursts = {{5, 200}, {60, 400}};

  std::signal(SIGTERM, onSignal);
  std::signal(SIGINT, onSignal);
  std::signal(SIGPIPE, SIG_IGN);  // the reader of the first line may go away

  char err[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  rd_kafka_conf_set(conf, "log_level", "3", err, sizeof err);
  rd_kafka_t* mockHandle = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
  if (!mockHandle) {
    std::fprintf(stderr, "updraft-kafka-mock: %s\n", err);
    return 1;
  }
  rd_kafka_mock_cluster_t* cluster = rd_kafka_mock_cluster_new(mockHandle, brokers);
  if (!cluster) {
    std::fprintf(stderr, "updraft-kafka-mock: cannot start the mock cluster\n");
    return 1;
  }
  const std::string bootstrap = rd_kafka_mock_cluster_bootstraps(cluster);
  for (const Topic& t : topics) {
    if (rd_kafka_mock_topic_create(cluster, t.name.c_str(), t.partitions, 1)) {
      std::fprintf(stderr, "updraft-kafka-mock: cannot create topic %s\n", t.name.c_str());
      return 1;
    }
  }
  setNoDelayOnListeners(bootstrap);
  std::printf("bootstrap=%s\n", bootstrap.c_str());
  std::fflush(stdout);
  for (const Topic& t : topics) {
    std::fprintf(stderr, "updraft-kafka-mock: %d broker(s) at %s, topic %s with %d partitions\n",
                 brokers, bootstrap.c_str(), t.name.c_str(), t.partitions);
  }

  rd_kafka_conf_t* pconf = rd_kafka_conf_new();
  rd_kafka_conf_set(pconf, "bootstrap.servers", bootstrap.c_str(), err, sizeof err);
  rd_kafka_conf_set(pconf, "linger.ms", "5", err, sizeof err);
  rd_kafka_conf_set(pconf, "log_level", "3", err, sizeof err);
  rd_kafka_t* producer = rd_kafka_new(RD_KAFKA_PRODUCER, pconf, err, sizeof err);
  if (!producer) {
    std::fprintf(stderr, "updraft-kafka-mock: producer: %s\n", err);
    return 1;
  }

  long sent = 0;
  auto scheduleStart = std::chrono::steady_clock::now();
  while (!stopRequested) {
    for (const Burst& b : bursts) {
      auto at = scheduleStart + std::chrono::milliseconds(static_cast<long>(b.at * 1000));
      if (!sleepUntil(at)) break;
      for (const Topic& t : topics) {
        for (long m = 0; m < b.messages && !stopRequested; ++m) {
          std::string value = "message-" + std::to_string(sent + m);
          rd_kafka_resp_err_t e;
          while (
              (e = rd_kafka_producev(producer, RD_KAFKA_V_TOPIC(t.name.c_str()),
                                     RD_KAFKA_V_PARTITION(static_cast<int32_t>(m % t.partitions)),
                                     RD_KAFKA_V_VALUE(value.data(), value.size()),
                                     RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END)) ==
              RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            rd_kafka_poll(producer, 50);
          }
          if (e) {
            std::fprintf(stderr, "updraft-kafka-mock: produce: %s\n", rd_kafka_err2str(e));
            break;
          }
        }
        rd_kafka_flush(producer, 10000);
        std::fprintf(
            stderr, "updraft-kafka-mock: t=%.0fs burst of %ld messages to %s\n",
            std::chrono::duration<double>(std::chrono::steady_clock::now() - scheduleStart).count(),
            b.messages, t.name.c_str());
      }
      sent += b.messages;
    }
    if (repeat <= 0) break;
    scheduleStart += std::chrono::milliseconds(static_cast<long>(repeat * 1000));
  }
  // Stay up (consumers and updraft keep using the cluster) until stopped.
  while (!stopRequested) std::this_thread::sleep_for(std::chrono::milliseconds(100));

  std::fprintf(stderr, "updraft-kafka-mock: stopping\n");
  rd_kafka_flush(producer, 1000);
  rd_kafka_destroy(producer);
  rd_kafka_mock_cluster_destroy(cluster);
  rd_kafka_destroy(mockHandle);
  return 0;
}
