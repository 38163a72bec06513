// A fixed-size log-scale histogram of lateness in nanoseconds (HDR-like: 8 linear sub-buckets per
// power of two, so a bucket's width is at most 12.5 % of its values). Not thread-safe: the
// Scheduler guards it with its own mutex. record() is O(1) and never allocates.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "updraft/scheduler.h"

namespace updraft::detail {

class LatenessHistogram {
 public:
  static constexpr std::size_t kBuckets = 62 * 8;

  void record(std::int64_t nanos);
  void reset();

  std::uint64_t count() const { return count_; }
  LatenessSummary summary() const;
  // Cumulative counts of values <= each bound (approximate at bucket resolution), then +Inf.
  std::vector<LatenessBucket> cumulative(const std::vector<double>& upperBoundsSeconds) const;

  static std::size_t indexOf(std::uint64_t nanos);
  // The largest value that falls in bucket `index`.
  static std::uint64_t upperBound(std::size_t index);

 private:
  std::uint64_t quantile(double q) const;

  std::array<std::uint64_t, kBuckets> counts_{};
  std::uint64_t count_ = 0;
  std::uint64_t max_ = 0;
  double sumSeconds_ = 0;
};

}  // namespace updraft::detail
