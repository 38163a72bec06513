// updraft-kafka-consumer: a demo worker. Joins a consumer group, "processes" each message for a
// while, commits after every message (so the group's lag drops visibly), and leaves the group
// cleanly on SIGTERM or SIGINT (commit, LeaveGroup, exit 0), so its partitions move to the other
// members at once instead of after the session timeout.
//
//   updraft-kafka-consumer --bootstrap HOST:PORT[,...] --topic NAME --group NAME
//                          [--process-ms 200] [--offset-reset earliest|latest]
#include <librdkafka/rdkafka.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

namespace {

std::atomic<bool> stopRequested{false};

void onSignal(int) { stopRequested = true; }

[[noreturn]] void usage(const char* argv0, const char* problem) {
  if (problem) std::fprintf(stderr, "%s: %s\n", argv0, problem);
  std::fprintf(stderr,
               "usage: %s --bootstrap HOST:PORT[,...] --topic NAME --group NAME "
               "[--process-ms N] [--offset-reset earliest|latest]\n",
               argv0);
  std::exit(2);
}

void logAssignment(rd_kafka_t* rk, rd_kafka_resp_err_t err,
                   rd_kafka_topic_partition_list_t* partitions, void*) {
  std::string list;
  for (int i = 0; i < partitions->cnt; ++i) {
    list += (list.empty() ? "" : ",") + std::to_string(partitions->elems[i].partition);
  }
  if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
    std::printf("assigned partitions [%s]\n", list.c_str());
    rd_kafka_assign(rk, partitions);
  } else {
    std::printf("revoked partitions [%s]\n", list.c_str());
    rd_kafka_commit(rk, nullptr, 0);  // keep the progress of the partitions we hand over
    rd_kafka_assign(rk, nullptr);
  }
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  std::string bootstrap, topic, group, offsetReset = "earliest";
  long processMs = 200;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") usage(argv[0], nullptr);
    if (i + 1 >= argc) usage(argv[0], ("missing value for " + arg).c_str());
    std::string value = argv[++i];
    if (arg == "--bootstrap") {
      bootstrap = value;
    } else if (arg == "--topic") {
      topic = value;
    } else if (arg == "--group") {
      group = value;
    } else if (arg == "--process-ms") {
      processMs = std::atol(value.c_str());
      if (processMs < 0) usage(argv[0], "--process-ms must be >= 0");
    } else if (arg == "--offset-reset") {
      offsetReset = value;
      if (value != "earliest" && value != "latest") usage(argv[0], "bad --offset-reset");
    } else {
      usage(argv[0], ("unknown option " + arg).c_str());
    }
  }
  if (bootstrap.empty() || topic.empty() || group.empty()) {
    usage(argv[0], "--bootstrap, --topic and --group are required");
  }
  std::signal(SIGTERM, onSignal);
  std::signal(SIGINT, onSignal);

  char err[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  const std::pair<const char*, std::string> settings[] = {
      {"bootstrap.servers", bootstrap},
      {"group.id", group},
      {"client.id", "updraft-kafka-consumer"},
      {"enable.auto.commit", "false"},
      {"enable.auto.offset.store", "false"},  // only processed messages count as done
      {"auto.offset.reset", offsetReset},  // The mock cluster of librdkafka 2.0.2 moves a departed
                                           // member's partitions only after its
      // session times out: keep that short (6 s is also a real broker's minimum).
      {"session.timeout.ms", "6000"},
      {"heartbeat.interval.ms", "500"},
      {"log_level", "3"},
  };
  for (const auto& [name, value] : settings) {
    if (rd_kafka_conf_set(conf, name, value.c_str(), err, sizeof err) != RD_KAFKA_CONF_OK) {
      std::fprintf(stderr, "updraft-kafka-consumer: %s: %s\n", name, err);
      return 2;
    }
  }
  rd_kafka_conf_set_rebalance_cb(conf, logAssignment);
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
  if (!rk) {
    std::fprintf(stderr, "updraft-kafka-consumer: %s\n", err);
    return 1;
  }
  rd_kafka_poll_set_consumer(rk);
  rd_kafka_topic_partition_list_t* subscription = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(subscription, topic.c_str(), RD_KAFKA_PARTITION_UA);
  if (rd_kafka_resp_err_t e = rd_kafka_subscribe(rk, subscription)) {
    std::fprintf(stderr, "updraft-kafka-consumer: subscribe: %s\n", rd_kafka_err2str(e));
    return 1;
  }
  rd_kafka_topic_partition_list_destroy(subscription);
  std::printf("consuming %s as group %s from %s, %ld ms per message\n", topic.c_str(),
              group.c_str(), bootstrap.c_str(), processMs);
  std::fflush(stdout);

  long processed = 0;
  long reported = 0;
  auto lastReport = std::chrono::steady_clock::now();
  while (!stopRequested) {
    auto now = std::chrono::steady_clock::now();
    if (processed != reported && now - lastReport >= std::chrono::seconds(2)) {
      std::printf("processed %ld messages\n", processed);
      std::fflush(stdout);
      lastReport = now;
      reported = processed;
    }
    rd_kafka_message_t* msg = rd_kafka_consumer_poll(rk, 200);
    if (!msg) continue;
    if (msg->err) {
      if (msg->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
        std::fprintf(stderr, "updraft-kafka-consumer: %s\n", rd_kafka_message_errstr(msg));
      }
      rd_kafka_message_destroy(msg);
      continue;
    }
    // "Work" on the message, in small steps so SIGTERM is handled promptly.
    for (long slept = 0; slept < processMs && !stopRequested; slept += 20) {
      std::this_thread::sleep_for(std::chrono::milliseconds(std::min(20L, processMs - slept)));
    }
    if (!stopRequested) {
      rd_kafka_offset_store(msg->rkt, msg->partition, msg->offset);
      rd_kafka_commit_message(rk, msg, 1);  // async: the lag drops message by message
      ++processed;
    }
    rd_kafka_message_destroy(msg);
  }
  std::printf("stopping after %ld messages: committing and leaving the group\n", processed);
  std::fflush(stdout);
  rd_kafka_commit(rk, nullptr, 0);
  rd_kafka_consumer_close(rk);
  rd_kafka_destroy(rk);
  return 0;
}
