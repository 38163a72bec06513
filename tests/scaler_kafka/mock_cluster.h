// librdkafka's in-process mock cluster (real Kafka protocol on 127.0.0.1 ephemeral ports) with
// helpers to produce messages and commit consumer-group offsets.
#pragma once

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <map>
#include <set>
#include <stdexcept>
#include <string>

namespace updraft::testing {

class MockCluster {
 public:
  explicit MockCluster(int brokers = 3) : brokers_(brokers) {
    char err[512];
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "log_level", "0", err, sizeof err);
    handle_ = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    if (!handle_) throw std::runtime_error(std::string("mock handle: ") + err);
    mock_ = rd_kafka_mock_cluster_new(handle_, brokers);
    if (!mock_) throw std::runtime_error("rd_kafka_mock_cluster_new failed");
    bootstrap_ = rd_kafka_mock_cluster_bootstraps(mock_);
  }
  ~MockCluster() {
    for (auto& [_, c] : committers_) rd_kafka_destroy(c);
    if (producer_) rd_kafka_destroy(producer_);
    if (mock_) rd_kafka_mock_cluster_destroy(mock_);
    rd_kafka_destroy(handle_);
  }
  MockCluster(const MockCluster&) = delete;
  MockCluster& operator=(const MockCluster&) = delete;

  const std::string& bootstrap() const { return bootstrap_; }
  rd_kafka_mock_cluster_t* mock() { return mock_; }
  int brokers() const { return brokers_; }

  void createTopic(const std::string& topic, int partitions) {
    if (rd_kafka_mock_topic_create(mock_, topic.c_str(), partitions, 1)) {
      throw std::runtime_error("cannot create topic " + topic);
    }
  }

  // Appends `count` messages to one partition.
  void produce(const std::string& topic, int32_t partition, int count) {
    if (!producer_) producer_ = client(RD_KAFKA_PRODUCER, "");
    if (known_.insert(topic).second) {
      // Learn the new topic's leaders now rather than on librdkafka's 1 s topic scan.
      rd_kafka_topic_t* rkt = rd_kafka_topic_new(producer_, topic.c_str(), nullptr);
      const rd_kafka_metadata_t* md = nullptr;
      if (!rd_kafka_metadata(producer_, 0, rkt, &md, 5000)) rd_kafka_metadata_destroy(md);
      rd_kafka_topic_destroy(rkt);
    }
    for (int i = 0; i < count; ++i) {
      rd_kafka_resp_err_t err = rd_kafka_producev(
          producer_, RD_KAFKA_V_TOPIC(topic.c_str()), RD_KAFKA_V_PARTITION(partition),
          RD_KAFKA_V_VALUE(const_cast<char*>("m"), 1), RD_KAFKA_V_END);
      if (err) throw std::runtime_error(std::string("produce: ") + rd_kafka_err2str(err));
    }
    if (rd_kafka_flush(producer_, 10000)) throw std::runtime_error("flush timed out");
  }

  // Commits `offset` for the group on one partition (a standalone commit: no group join).
  void commit(const std::string& group, const std::string& topic, int32_t partition,
              int64_t offset) {
    auto& c = committers_[group];
    if (!c) c = client(RD_KAFKA_CONSUMER, group);
    rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(list, topic.c_str(), partition)->offset = offset;
    rd_kafka_resp_err_t err = rd_kafka_commit(c, list, 0);
    rd_kafka_topic_partition_list_destroy(list);
    if (err) throw std::runtime_error(std::string("commit: ") + rd_kafka_err2str(err));
  }

  void setAllBrokers(bool up) {
    for (int id = 1; id <= brokers_; ++id) {
      if (up) {
        rd_kafka_mock_broker_set_up(mock_, id);
      } else {
        rd_kafka_mock_broker_set_down(mock_, id);
      }
    }
  }

  // Tears the cluster down: its ports stop listening.
  void destroy() {
    for (auto& [_, c] : committers_) rd_kafka_destroy(c);
    committers_.clear();
    if (producer_) rd_kafka_destroy(producer_);
    producer_ = nullptr;
    known_.clear();
    rd_kafka_mock_cluster_destroy(mock_);
    mock_ = nullptr;
  }

 private:
  rd_kafka_t* client(rd_kafka_type_t type, const std::string& group) {
    char err[512];
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap_.c_str(), err, sizeof err);
    rd_kafka_conf_set(conf, "log_level", "0", err, sizeof err);
    rd_kafka_conf_set(conf, "linger.ms", "0", err, sizeof err);
    if (!group.empty()) rd_kafka_conf_set(conf, "group.id", group.c_str(), err, sizeof err);
    rd_kafka_t* rk = rd_kafka_new(type, conf, err, sizeof err);
    if (!rk) throw std::runtime_error(std::string("client: ") + err);
    return rk;
  }

  int brokers_;
  rd_kafka_t* handle_ = nullptr;
  rd_kafka_mock_cluster_t* mock_ = nullptr;
  std::string bootstrap_;
  rd_kafka_t* producer_ = nullptr;
  std::map<std::string, rd_kafka_t*> committers_;
  std::set<std::string> known_;
};

}  // namespace updraft::testing
