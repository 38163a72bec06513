#include "lateness_histogram.h"

#include <algorithm>
#include <bit>
#include <chrono>
#include <cmath>
#include <limits>

namespace updraft::detail {

std::size_t LatenessHistogram::indexOf(std::uint64_t v) {
  if (v < 8) return static_cast<std::size_t>(v);
  const int e = std::bit_width(v) - 1;  // 3..63
  const std::uint64_t sub = (v >> (e - 3)) & 7;
  return static_cast<std::size_t>(e - 2) * 8 + static_cast<std::size_t>(sub);
}

std::uint64_t LatenessHistogram::upperBound(std::size_t index) {
  if (index < 8) return index;
  const int e = static_cast<int>(index / 8) + 2;
  const std::uint64_t sub = index % 8;
  const std::uint64_t width = std::uint64_t{1} << (e - 3);
  return ((8 + sub) << (e - 3)) + (width - 1);
}

void LatenessHistogram::record(std::int64_t nanos) {
  const std::uint64_t v = nanos < 0 ? 0 : static_cast<std::uint64_t>(nanos);
  ++counts_[indexOf(v)];
  ++count_;
  max_ = std::max(max_, v);
  sumSeconds_ += static_cast<double>(v) * 1e-9;
}

void LatenessHistogram::reset() { *this = LatenessHistogram(); }

std::uint64_t LatenessHistogram::quantile(double q) const {
  if (count_ == 0) return 0;
  const auto rank = std::max<std::uint64_t>(
      1, static_cast<std::uint64_t>(std::ceil(q * static_cast<double>(count_))));
  std::uint64_t seen = 0;
  for (std::size_t i = 0; i < kBuckets; ++i) {
    seen += counts_[i];
    if (seen >= rank) return std::min(upperBound(i), max_);
  }
  return max_;
}

LatenessSummary LatenessHistogram::summary() const {
  auto ns = [](std::uint64_t v) {
    return std::chrono::duration_cast<Duration>(std::chrono::nanoseconds(v));
  };
  LatenessSummary s;
  s.count = count_;
  s.p50 = ns(quantile(0.50));
  s.p90 = ns(quantile(0.90));
  s.p99 = ns(quantile(0.99));
  s.max = ns(max_);
  s.sumSeconds = sumSeconds_;
  return s;
}

std::vector<LatenessBucket> LatenessHistogram::cumulative(
    const std::vector<double>& upperBoundsSeconds) const {
  std::vector<LatenessBucket> out;
  out.reserve(upperBoundsSeconds.size() + 1);
  for (double bound : upperBoundsSeconds) {
    const double boundNs = bound * 1e9;
    std::uint64_t n = 0;
    for (std::size_t i = 0; i < kBuckets && static_cast<double>(upperBound(i)) <= boundNs; ++i) {
      n += counts_[i];
    }
    out.push_back({bound, n});
  }
  out.push_back({std::numeric_limits<double>::infinity(), count_});
  return out;
}

}  // namespace updraft::detail
