// KEDA's lag arithmetic for the kafka trigger (kafka_scaler.go getLagForPartition / getTotalLag),
// as pure functions over offsets already fetched, so each rule is tested without a broker.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "kafka/kafka_settings.h"
#include "updraft/status.h"

namespace updraft::kafka {

// KEDA's invalidOffset: no offset committed (librdkafka reports RD_KAFKA_OFFSET_INVALID, -1001,
// which the client maps to this).
inline constexpr int64_t kInvalidOffset = -1;

// A committed-offset block of the OffsetFetch response for one partition.
struct CommittedBlock {
  int64_t offset = kInvalidOffset;
  std::string error;  // non-empty: the broker's per-partition error
};

// topic -> partition -> value.
using CommittedOffsets = std::map<std::string, std::map<int32_t, CommittedBlock>>;
using EndOffsets = std::map<std::string, std::map<int32_t, int64_t>>;

// excludePersistentLag: the consumer offset seen at the previous call, per partition. One per
// scaler instance (reset when the scaler is rebuilt, as in KEDA).
using PreviousOffsets = std::map<std::string, std::map<int32_t, int64_t>>;

struct PartitionLag {
  int64_t lag = 0;
  int64_t lagWithPersistent = 0;
};

struct TotalLag {
  int64_t totalLag = 0;                // after the cap: the metric value
  int64_t totalLagWithPersistent = 0;  // uncapped, with persistent lag: decides activity
  int64_t uncappedLag = 0;             // totalLag before the cap (for logs)
  int64_t totalTopicPartitions = 0;
  int64_t partitionsWithLag = 0;
};

// getLagForPartition. `group` only names the partition in errors.
Result<PartitionLag> lagForPartition(const KafkaSettings& s, const std::string& topic,
                                     int32_t partition, const CommittedOffsets& committed,
                                     const EndOffsets& end, PreviousOffsets& previous);

// getTotalLag over every partition present in `end` (the log-end offsets response), with the
// partition cap (integer division) and ensureEvenDistributionOfPartitions.
Result<TotalLag> totalLag(const KafkaSettings& s, const CommittedOffsets& committed,
                          const EndOffsets& end, PreviousOffsets& previous);

// KEDA's FindFactors: every factor of n, ascending (nothing for n < 1).
std::vector<int64_t> findFactors(int64_t n);
// getNextFactorThatBalancesConsumersToTopicPartitions.
int64_t nextFactorThatBalancesConsumers(int64_t totalLag, int64_t totalTopicPartitions,
                                        int64_t lagThreshold);

}  // namespace updraft::kafka
