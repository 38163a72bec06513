#include "kafka/kafka_lag.h"

#include <algorithm>
#include <cmath>

namespace updraft::kafka {

Result<PartitionLag> lagForPartition(const KafkaSettings& s, const std::string& topic,
                                     int32_t partition, const CommittedOffsets& committed,
                                     const EndOffsets& end, PreviousOffsets& previous) {
  const std::string where = "consumer group \"" + s.group + "\", topic \"" + topic +
                            "\", partition " + std::to_string(partition);
  const CommittedBlock* block = nullptr;
  if (auto t = committed.find(topic); t != committed.end()) {
    if (auto p = t->second.find(partition); p != t->second.end()) block = &p->second;
  }
  if (!block) {
    return Status::unavailable(where + ": no committed-offset block in the OffsetFetch response");
  }
  if (!block->error.empty()) {
    return Status::unavailable(where + ": committed offset: " + block->error);
  }
  const int64_t consumerOffset = block->offset;

  // An invalid consumer offset is settled before the log-end offset is looked up, so
  // scaleToZeroOnInvalidOffset works even when the partition is missing from that response.
  if (consumerOffset == kInvalidOffset) {
    if (s.offsetResetPolicy == OffsetResetPolicy::kLatest) {
      const int64_t v = s.scaleToZeroOnInvalidOffset ? 0 : 1;
      return PartitionLag{v, v};
    }
    if (s.scaleToZeroOnInvalidOffset) return PartitionLag{0, 0};
  }

  auto t = end.find(topic);
  if (t == end.end()) return PartitionLag{0, 0};  // Event Hubs quirk: treated as no lag
  auto p = t->second.find(partition);
  if (p == t->second.end()) return PartitionLag{0, 0};
  const int64_t latestOffset = p->second;

  if (consumerOffset == kInvalidOffset) {  // earliest, scaleToZeroOnInvalidOffset false
    return PartitionLag{latestOffset, latestOffset};
  }

  if (s.excludePersistentLag) {
    auto& topicMemory = previous[topic];
    auto prev = topicMemory.find(partition);
    if (prev == topicMemory.end()) {
      topicMemory[partition] = consumerOffset;  // first sighting: counts
    } else if (prev->second == consumerOffset) {
      // Stuck on the same offset since the previous call: not counted for scaling, but still
      // counted for activity.
      return PartitionLag{0, latestOffset - consumerOffset};
    } else {
      prev->second = consumerOffset;
    }
  }
  return PartitionLag{latestOffset - consumerOffset, latestOffset - consumerOffset};
}

std::vector<int64_t> findFactors(int64_t n) {
  std::vector<int64_t> factors;
  if (n < 1) return factors;
  const auto sqrtN = static_cast<int64_t>(std::sqrt(static_cast<double>(n)));
  for (int64_t i = 1; i <= sqrtN; ++i) {
    if (n % i == 0) {
      factors.push_back(i);
      if (i != n / i) factors.push_back(n / i);
    }
  }
  std::sort(factors.begin(), factors.end());
  return factors;
}

int64_t nextFactorThatBalancesConsumers(int64_t totalLag, int64_t totalTopicPartitions,
                                        int64_t lagThreshold) {
  for (int64_t factor : findFactors(totalTopicPartitions)) {
    if (factor * lagThreshold >= totalLag) return factor;
  }
  return totalTopicPartitions;
}

Result<TotalLag> totalLag(const KafkaSettings& s, const CommittedOffsets& committed,
                          const EndOffsets& end, PreviousOffsets& previous) {
  TotalLag out;
  for (const auto& [topic, partitions] : end) {
    for (const auto& [partition, _] : partitions) {
      auto lag = lagForPartition(s, topic, partition, committed, end, previous);
      if (!lag.isOk()) return lag.status();
      out.totalLag += lag->lag;
      out.totalLagWithPersistent += lag->lagWithPersistent;
      if (lag->lag > 0) ++out.partitionsWithLag;
    }
    out.totalTopicPartitions += static_cast<int64_t>(partitions.size());
  }
  out.uncappedLag = out.totalLag;

  if (!s.allowIdleConsumers || s.limitToPartitionsWithLag || s.ensureEvenDistributionOfPartitions) {
    // Never more consumers than partitions (or partitions with lag): integer division, as Go.
    int64_t upperBound = out.totalTopicPartitions;
    if (s.ensureEvenDistributionOfPartitions) {
      out.totalLag =
          nextFactorThatBalancesConsumers(out.totalLag, out.totalTopicPartitions, s.lagThreshold) *
          s.lagThreshold;
    }
    if (s.limitToPartitionsWithLag) upperBound = out.partitionsWithLag;
    if (out.totalLag / s.lagThreshold > upperBound) out.totalLag = upperBound * s.lagThreshold;
  }
  return out;
}

}  // namespace updraft::kafka
