// KEDA's lag arithmetic on fixed offsets (no broker): invalid offsets, persistent lag, the
// partition cap with integer division, limitToPartitionsWithLag and
// ensureEvenDistributionOfPartitions.
#include <catch2/catch.hpp>

#include "kafka/kafka_lag.h"

using namespace updraft;
using namespace updraft::kafka;

namespace {

KafkaSettings settings(std::function<void(KafkaSettings&)> f = {}) {
  KafkaSettings s;
  s.group = "g";
  s.topic = "t";
  if (f) f(s);
  return s;
}

// committed/end offsets for topic "t" from {partition, committed, end}.
struct P {
  int32_t partition;
  int64_t committed;
  int64_t end;
};

std::pair<CommittedOffsets, EndOffsets> offsets(std::initializer_list<P> ps) {
  CommittedOffsets c;
  EndOffsets e;
  for (const P& p : ps) {
    c["t"][p.partition] = CommittedBlock{p.committed, ""};
    e["t"][p.partition] = p.end;
  }
  return {c, e};
}

TotalLag total(const KafkaSettings& s, std::initializer_list<P> ps) {
  auto [c, e] = offsets(ps);
  PreviousOffsets prev;
  auto r = totalLag(s, c, e, prev);
  INFO(r.status().message());
  REQUIRE(r.isOk());
  return *r;
}

}  // namespace

TEST_CASE("lag per partition is log-end minus committed, not clamped") {
  auto s = settings();
  auto [c, e] = offsets({{0, 5, 15}, {1, 20, 18}});
  PreviousOffsets prev;
  CHECK(lagForPartition(s, "t", 0, c, e, prev)->lag == 10);
  CHECK(lagForPartition(s, "t", 1, c, e, prev)->lag == -2);
  auto t = total(settings([](auto& s) { s.allowIdleConsumers = true; }), {{0, 5, 15}, {1, 20, 18}});
  CHECK(t.totalLag == 8);
  CHECK(t.partitionsWithLag == 1);
}

TEST_CASE("invalid committed offsets follow offsetResetPolicy and scaleToZeroOnInvalidOffset") {
  PreviousOffsets prev;
  auto [c, e] = offsets({{0, kInvalidOffset, 40}});
  SECTION("latest: 1, or 0 with scaleToZeroOnInvalidOffset") {
    auto lag = lagForPartition(settings(), "t", 0, c, e, prev);
    CHECK(lag->lag == 1);
    CHECK(lag->lagWithPersistent == 1);
    auto zero = lagForPartition(settings([](auto& s) { s.scaleToZeroOnInvalidOffset = true; }), "t",
                                0, c, e, prev);
    CHECK(zero->lag == 0);
    CHECK(zero->lagWithPersistent == 0);
  }
  SECTION("earliest: the whole log-end offset, or 0 with scaleToZeroOnInvalidOffset") {
    auto earliest = settings([](auto& s) { s.offsetResetPolicy = OffsetResetPolicy::kEarliest; });
    CHECK(lagForPartition(earliest, "t", 0, c, e, prev)->lag == 40);
    earliest.scaleToZeroOnInvalidOffset = true;
    CHECK(lagForPartition(earliest, "t", 0, c, e, prev)->lag == 0);
  }
  SECTION("decided before the log-end offset is needed") {
    EndOffsets none;
    CHECK(lagForPartition(settings(), "t", 0, c, none, prev)->lag == 1);
    auto earliest = settings([](auto& s) { s.offsetResetPolicy = OffsetResetPolicy::kEarliest; });
    CHECK(lagForPartition(earliest, "t", 0, c, none, prev)->lag == 0);  // missing: lag 0
  }
}

TEST_CASE("missing or failed committed-offset blocks fail the poll; missing log-end is lag 0") {
  PreviousOffsets prev;
  auto [c, e] = offsets({{0, 5, 15}});
  auto missing = lagForPartition(settings(), "t", 1, c, e, prev);
  REQUIRE_FALSE(missing.isOk());
  CHECK_THAT(missing.status().message(), Catch::Contains("partition 1"));
  CHECK_THAT(missing.status().message(), Catch::Contains("consumer group \"g\""));
  c["t"][0].error = "Broker: Not coordinator";
  auto failed = lagForPartition(settings(), "t", 0, c, e, prev);
  REQUIRE_FALSE(failed.isOk());
  CHECK_THAT(failed.status().message(), Catch::Contains("Not coordinator"));
  c["t"][0].error.clear();
  EndOffsets other{{"u", {{0, 100}}}};
  CHECK(lagForPartition(settings(), "t", 0, c, other, prev)->lag == 0);
}

TEST_CASE("excludePersistentLag ignores a partition stuck on the same offset, for the value only") {
  auto s = settings([](auto& s) { s.excludePersistentLag = true; });
  PreviousOffsets prev;
  auto [c, e] = offsets({{0, 5, 15}});
  auto first = lagForPartition(s, "t", 0, c, e, prev);
  CHECK(first->lag == 10);  // first sighting counts
  auto second = lagForPartition(s, "t", 0, c, e, prev);
  CHECK(second->lag == 0);  // same offset: persistent
  CHECK(second->lagWithPersistent == 10);
  c["t"][0].offset = 8;
  auto moved = lagForPartition(s, "t", 0, c, e, prev);
  CHECK(moved->lag == 7);
  // Invalid offsets are not covered (kedacore/keda#5274): still 1.
  c["t"][1] = CommittedBlock{kInvalidOffset, ""};
  e["t"][1] = 3;
  CHECK(lagForPartition(s, "t", 1, c, e, prev)->lag == 1);
  CHECK(lagForPartition(s, "t", 1, c, e, prev)->lag == 1);
  // Without the option the memory is not used.
  PreviousOffsets none;
  auto plain = settings();
  lagForPartition(plain, "t", 0, c, e, none);
  CHECK(none.empty());
}

TEST_CASE("the partition cap uses integer division") {
  // 3 partitions, threshold 10.
  SECTION("capped to partitions x threshold") {
    auto t = total(settings([](auto& s) { s.lagThreshold = 10; }),
                   {{0, 0, 500}, {1, 0, 300}, {2, 0, 200}});
    CHECK(t.totalLag == 30);
    CHECK(t.uncappedLag == 1000);
    CHECK(t.totalLagWithPersistent == 1000);
  }
  SECTION("39 / 10 == 3 is not above 3 partitions: not capped") {
    auto t =
        total(settings([](auto& s) { s.lagThreshold = 10; }), {{0, 0, 13}, {1, 0, 13}, {2, 0, 13}});
    CHECK(t.totalLag == 39);
  }
  SECTION("allowIdleConsumers: no cap") {
    auto t = total(settings([](auto& s) { s.allowIdleConsumers = true; }),
                   {{0, 0, 500}, {1, 0, 300}, {2, 0, 200}});
    CHECK(t.totalLag == 1000);
  }
  SECTION("limitToPartitionsWithLag: capped to the partitions that have lag") {
    auto t = total(settings([](auto& s) { s.limitToPartitionsWithLag = true; }),
                   {{0, 0, 500}, {1, 300, 300}, {2, 200, 200}});
    CHECK(t.partitionsWithLag == 1);
    CHECK(t.totalLag == 10);
  }
  SECTION("limitToPartitionsWithLag applies even with allowIdleConsumers semantics off") {
    auto t = total(settings([](auto& s) { s.limitToPartitionsWithLag = true; }),
                   {{0, 0, 15}, {1, 0, 25}, {2, 200, 200}});
    CHECK(t.totalLag == 20);
  }
}

TEST_CASE("ensureEvenDistributionOfPartitions rounds up to a factor of the partition count") {
  CHECK(findFactors(6) == std::vector<int64_t>{1, 2, 3, 6});
  CHECK(findFactors(16) == std::vector<int64_t>{1, 2, 4, 8, 16});
  CHECK(findFactors(1) == std::vector<int64_t>{1});
  CHECK(findFactors(0).empty());
  CHECK(nextFactorThatBalancesConsumers(25, 6, 10) == 3);
  CHECK(nextFactorThatBalancesConsumers(41, 6, 10) == 6);
  CHECK(nextFactorThatBalancesConsumers(1000, 6, 10) == 6);
  auto even = settings([](auto& s) { s.ensureEvenDistributionOfPartitions = true; });
  std::initializer_list<P> six = {{0, 0, 5}, {1, 0, 5}, {2, 0, 5}, {3, 0, 5}, {4, 0, 5}, {5, 0, 0}};
  auto t = total(even, six);  // lag 25 -> 3 consumers
  CHECK(t.totalLag == 30);
  // No lag still reports one consumer's worth (KEDA quirk); activity uses the real lag.
  auto zero = total(even, {{0, 5, 5}, {1, 5, 5}});
  CHECK(zero.totalLag == 10);
  CHECK(zero.totalLagWithPersistent == 0);
  // Lag beyond every factor: all partitions.
  auto big = total(even, {{0, 0, 500}, {1, 0, 500}});
  CHECK(big.totalLag == 20);
}
