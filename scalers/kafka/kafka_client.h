// The kafka trigger's connection to a cluster: one librdkafka client per (bootstrap servers,
// security settings), shared by every scaler that points there.
//
// Why: KEDA gives every ScaledObject its own sarama client (one connection per broker, goroutines,
// a metadata cache each); users with ~1,000 ScaledObjects on one cluster saw thousands of
// connections and the operator at 35 GiB (kedacore/keda#7453, #3151, #6955). Here 1,000 scalers on
// one cluster share ONE rd_kafka_t: one connection per broker, one set of broker threads.
//
// Design
//  - ClientPool (process-wide) maps a key to a weak_ptr<KafkaClient>. The key is the SHA-256 of a
//    canonical serialization of everything that makes two connections different: the sorted,
//    de-duplicated bootstrap servers, security protocol, SASL mechanism and credentials, TLS
//    material and verification mode, the OAuth client-credentials settings and the broker
//    version. Secrets are part of the hash, never stored in the key itself, so two objects with
//    the same brokers but different credentials get different clients (and cannot borrow each
//    other's authenticated connections).
//  - acquire() returns a shared_ptr; a scaler holds it until close(). The shared_ptr's deleter
//    removes the pool entry (unless a newer client already replaced it) and calls
//    rd_kafka_destroy() outside the pool lock, so the client is released when the last scaler
//    using it closes. stats() reports live clients and references for tests and benchmarks.
//  - A client is an RD_KAFKA_CONSUMER handle WITHOUT group.id (it never joins a group) with
//    isolation.level=read_uncommitted, so log-end offsets are high watermarks as in KEDA (sarama's
//    OffsetRequest v1 has no isolation level). It is thread-safe: many scalers poll through it
//    concurrently; every call uses its own temporary reply queue.
//  - Per poll, the calls librdkafka 2.0.2 offers and that scale to many groups on one client:
//      * partitions: rd_kafka_metadata() for the one topic (only that topic is requested and
//        cached: KEDA's fullMetadata=false behaviour, always), or for all topics when the trigger
//        has no topic;
//      * committed offsets: the Admin API's ListConsumerGroupOffsets (one OffsetFetch to the
//        group's coordinator; 2.0.2 needs an explicit partition list, so "every topic the group
//        has committed offsets for" asks for all partitions of all topics and keeps the topics
//        with a committed offset). No consumer instance per group, no group join;
//      * log-end offsets: rd_kafka_offsets_for_times() with RD_KAFKA_OFFSET_END (= ListOffsets
//        "latest"), which batches the partitions into one ListOffsets request per leader broker
//        and sends them to all leaders concurrently (rd_kafka_query_watermark_offsets would be one
//        blocking round trip per partition);
//      * the admin request is started first and the log-end query runs while it is in flight.
//    Every call gets the time left until the poll deadline as its timeout.
//  - Broker outages: librdkafka reconnects by itself (backoff capped at 2 s); a poll during the
//    outage fails with an error naming the brokers; the next poll after recovery succeeds.
#pragma once

#include <librdkafka/rdkafka.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "kafka/kafka_lag.h"
#include "kafka/kafka_settings.h"
#include "updraft/clock.h"
#include "updraft/status.h"

namespace updraft::kafka {

// What a librdkafka client needs; two equal configs share one client.
struct ClientConfig {
  std::vector<std::string> bootstrapServers;   // sorted, unique, non-empty entries
  std::string securityProtocol = "plaintext";  // plaintext / ssl / sasl_plaintext / sasl_ssl
  std::string saslMechanism;  // PLAIN / SCRAM-SHA-256 / SCRAM-SHA-512 / OAUTHBEARER
  std::string username, password;
  bool unsafeSsl = false;
  std::string ca, cert, key, keyPassword;
  // OAUTHBEARER with KEDA's "bearer" token provider (OAuth2 client credentials).
  std::string tokenEndpoint;
  std::vector<std::string> scopes;
  std::vector<std::pair<std::string, std::string>> extensions;
  KafkaVersion version;

  // "h1:9092,h2:9092" (for messages).
  std::string brokers() const;
  // Hex SHA-256 of every field (secrets included, never stored in clear in the pool).
  std::string poolKey() const;
  // Every secret value, to scrub from any message that could echo one.
  std::vector<std::string> secrets() const;
};

// The client settings for a parsed trigger. Fails for what librdkafka 2.0.2 cannot do here:
// SASL/GSSAPI and OAUTHBEARER with the aws_msk_iam token provider.
Result<ClientConfig> clientConfigFor(const KafkaSettings& settings);

using TopicPartitionList = std::map<std::string, std::vector<int32_t>>;

class KafkaClient {
 public:
  ~KafkaClient();
  KafkaClient(const KafkaClient&) = delete;
  KafkaClient& operator=(const KafkaClient&) = delete;

  // Builds the librdkafka handle (no I/O: librdkafka connects in the background).
  static Result<std::unique_ptr<KafkaClient>> create(ClientConfig config);

  const ClientConfig& config() const { return config_; }

  // Partition ids of `topic` from a metadata request for that topic only.
  Result<std::vector<int32_t>> topicPartitions(const std::string& topic, Millis timeout);
  // Every topic of the cluster with its partitions (topics the broker reports with an error are
  // left out).
  Result<TopicPartitionList> allTopics(Millis timeout);
  // Committed offsets of `group` for `partitions` (Admin ListConsumerGroupOffsets).
  Result<CommittedOffsets> committedOffsets(const std::string& group,
                                            const TopicPartitionList& partitions, Millis timeout);
  // Log-end offsets (high watermarks) of `partitions`.
  Result<EndOffsets> endOffsets(const TopicPartitionList& partitions, Millis timeout);
  // Both at once: the admin request is in flight while the log-end offsets are queried.
  struct Offsets {
    CommittedOffsets committed;
    EndOffsets end;
  };
  Result<Offsets> offsets(const std::string& group, const TopicPartitionList& partitions,
                          Millis timeout);

  // OAuth token refreshes performed (tests).
  int oauthRefreshes() const { return oauthRefreshes_.load(); }

 private:
  explicit KafkaClient(ClientConfig config);
  static void oauthRefreshCallback(rd_kafka_t* rk, const char* config, void* opaque);
  // Starts ListConsumerGroupOffsets; the result arrives on `queue`.
  void startCommitted(const std::string& group, const TopicPartitionList& partitions,
                      Millis timeout, rd_kafka_queue_t* queue);
  Result<CommittedOffsets> awaitCommitted(rd_kafka_queue_t* queue, Millis timeout);
  std::string scrub(std::string message) const;

  ClientConfig config_;
  rd_kafka_t* rk_ = nullptr;
  std::atomic<int> oauthRefreshes_{0};
};

struct PoolStats {
  size_t clients = 0;     // live librdkafka clients
  size_t references = 0;  // scalers holding them
  uint64_t created = 0;   // clients created since the process started
};

class ClientPool {
 public:
  // The process-wide pool (never destroyed).
  static ClientPool& global();

  // The shared client for `config`, created on first use.
  Result<std::shared_ptr<KafkaClient>> acquire(const ClientConfig& config);
  PoolStats stats() const;
  // false: every acquire() creates its own client (what KEDA does; for benchmarks comparing the
  // two).
  void setSharing(bool sharing);

 private:
  void release(const std::string& key, KafkaClient* client);

  mutable std::mutex mutex_;
  std::map<std::string, std::weak_ptr<KafkaClient>> clients_;
  bool sharing_ = true;
  uint64_t created_ = 0;
};

// Milliseconds left until `deadline` on `clock` (<= 0 when it has passed).
Millis remainingUntil(TimePoint deadline, const Clock& clock);

}  // namespace updraft::kafka
