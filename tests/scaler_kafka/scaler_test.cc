// The kafka scaler against librdkafka's mock cluster (real Kafka protocol, in-process): lag from
// committed and log-end offsets, caps, invalid offsets, topic-less groups, persistent lag,
// activation, broker outages and deadlines.
#include "updraft/scaler.h"

#include <catch2/catch.hpp>
#include <chrono>
#include <thread>

#include "mock_cluster.h"
#include "scalers/test_server.h"

using namespace updraft;
using updraft::testing::MockCluster;
using updraft::testing::scalerConfig;

namespace {

struct Live {
  std::unique_ptr<ScalerDefinition> definition;
  std::unique_ptr<Scaler> scaler;
  std::string metric;

  Result<MetricsAndActivity> poll(Millis budget = Millis(5000)) {
    return scaler->getMetricsAndActivity(metric, SystemClock::instance().now() + budget);
  }
  MetricsAndActivity pollOk() {
    auto r = poll();
    INFO(r.status().message());
    REQUIRE(r.isOk());
    REQUIRE(r->metrics.size() == 1);
    CHECK(r->metrics[0].metricName == metric);
    return *r;
  }
  double value() { return pollOk().metrics[0].value; }
};

Live live(StringMap metadata, StringMap authParams = {}) {
  auto config = scalerConfig("kafka", std::move(metadata), std::move(authParams));
  auto def = ScalerRegistry::global().find("kafka")->parse(config);
  INFO(def.status().message());
  REQUIRE(def.isOk());
  Live l;
  l.definition = std::move(*def);
  l.metric = l.definition->metricSpecs()[0].metricName;
  ScalerContext context{&SystemClock::instance(), nullptr};
  auto scaler = l.definition->createScaler(context);
  INFO(scaler.status().message());
  REQUIRE(scaler.isOk());
  l.scaler = std::move(*scaler);
  return l;
}

StringMap md(const MockCluster& c, const std::string& group, const std::string& topic,
             StringMap extra = {}) {
  StringMap m = {{"bootstrapServers", c.bootstrap()}, {"consumerGroup", group}};
  if (!topic.empty()) m["topic"] = topic;
  for (auto& [k, v] : extra) m[k] = v;
  return m;
}

}  // namespace

TEST_CASE("kafka lag is log-end minus committed offset, summed over partitions") {
  MockCluster cluster(3);
  cluster.createTopic("orders", 3);
  cluster.produce("orders", 0, 10);
  cluster.produce("orders", 1, 20);
  cluster.produce("orders", 2, 30);
  cluster.commit("billing", "orders", 0, 5);
  cluster.commit("billing", "orders", 1, 20);
  cluster.commit("billing", "orders", 2, 0);

  auto l = live(md(cluster, "billing", "orders"));
  CHECK(l.metric == "s0-kafka-orders");
  auto m = l.pollOk();
  CHECK(m.metrics[0].value == 35);  // 5 + 0 + 30; 35 / 10 = 3 is not above 3 partitions
  CHECK(m.isActive);

  SECTION("consumers catching up lower the lag and end activity") {
    cluster.commit("billing", "orders", 0, 10);
    cluster.commit("billing", "orders", 2, 30);
    auto caught = l.pollOk();
    CHECK(caught.metrics[0].value == 0);
    CHECK_FALSE(caught.isActive);
  }
  SECTION("new messages raise it") {
    cluster.produce("orders", 1, 4);
    CHECK(l.value() == 39);
  }
}

TEST_CASE("kafka caps the value at partitions x lagThreshold unless allowIdleConsumers") {
  MockCluster cluster(2);
  cluster.createTopic("t", 3);
  for (int p = 0; p < 3; ++p) {
    cluster.produce("t", p, 100);
    cluster.commit("g", "t", p, 0);
  }
  auto capped = live(md(cluster, "g", "t"));
  CHECK(capped.value() == 30);  // 300 / 10 = 30 > 3 partitions -> 3 x 10
  auto idle = live(md(cluster, "g", "t", {{"allowIdleConsumers", "true"}}));
  CHECK(idle.value() == 300);
  auto threshold = live(md(cluster, "g", "t", {{"lagThreshold", "50"}}));
  CHECK(threshold.value() == 150);  // 300 / 50 = 6 > 3 -> 3 x 50
  CHECK(threshold.definition->metricSpecs()[0].target == 50);

  SECTION("limitToPartitionsWithLag caps at the partitions that have lag") {
    cluster.commit("g", "t", 1, 100);
    cluster.commit("g", "t", 2, 100);
    auto limited = live(md(cluster, "g", "t", {{"limitToPartitionsWithLag", "true"}}));
    CHECK(limited.value() == 10);  // 1 partition with lag
    auto unlimited = live(md(cluster, "g", "t"));
    CHECK(unlimited.value() == 30);  // 100 / 10 > 3
  }
  SECTION("ensureEvenDistributionOfPartitions reports a factor of the partition count") {
    cluster.commit("g", "t", 0, 95);
    cluster.commit("g", "t", 1, 95);
    cluster.commit("g", "t", 2, 90);  // lag 20 -> 3 partitions: factors 1, 3 -> 3 x 10
    auto even = live(md(cluster, "g", "t", {{"ensureEvenDistributionOfPartitions", "true"}}));
    CHECK(even.value() == 30);
  }
}

TEST_CASE("kafka partitionLimitation counts only the listed partitions") {
  MockCluster cluster(3);
  cluster.createTopic("t", 6);
  for (int p = 0; p < 6; ++p) {
    cluster.produce("t", p, 10 * (p + 1));
    cluster.commit("g", "t", p, 0);
  }
  auto all = live(md(cluster, "g", "t", {{"allowIdleConsumers", "true"}}));
  CHECK(all.value() == 210);
  auto some = live(
      md(cluster, "g", "t", {{"allowIdleConsumers", "true"}, {"partitionLimitation", "0, 2-3"}}));
  CHECK(some.value() == 10 + 30 + 40);
  // The cap counts the limited partitions only: 80 / 10 > 3 -> 30.
  auto capped = live(md(cluster, "g", "t", {{"partitionLimitation", "0,2-3"}}));
  CHECK(capped.value() == 30);
  for (const char* nothing : {"7-9", "3-1"}) {  // no such partition; an empty range (KEDA: [])
    auto none = live(md(cluster, "g", "t", {{"partitionLimitation", nothing}}));
    auto r = none.poll();
    REQUIRE_FALSE(r.isOk());
    CHECK_THAT(r.status().message(),
               Catch::Contains("expected at least one active partition within the topic 't'"));
  }
}

TEST_CASE("kafka partitions without a committed offset (-1)") {
  MockCluster cluster(2);
  cluster.createTopic("t", 3);
  cluster.produce("t", 0, 7);
  cluster.produce("t", 1, 11);
  cluster.produce("t", 2, 0);

  SECTION("latest: 1 per partition, so a new group still activates") {
    auto l = live(md(cluster, "fresh", "t"));
    auto m = l.pollOk();
    CHECK(m.metrics[0].value == 3);
    CHECK(m.isActive);
  }
  SECTION("latest + scaleToZeroOnInvalidOffset: 0 and inactive") {
    auto l = live(md(cluster, "fresh", "t", {{"scaleToZeroOnInvalidOffset", "true"}}));
    auto m = l.pollOk();
    CHECK(m.metrics[0].value == 0);
    CHECK_FALSE(m.isActive);
  }
  SECTION("earliest: the whole log") {
    auto l = live(md(cluster, "fresh", "t",
                     {{"offsetResetPolicy", "earliest"}, {"allowIdleConsumers", "true"}}));
    CHECK(l.value() == 18);
  }
  SECTION("earliest + scaleToZeroOnInvalidOffset: 0") {
    auto l = live(md(cluster, "fresh", "t",
                     {{"offsetResetPolicy", "earliest"}, {"scaleToZeroOnInvalidOffset", "true"}}));
    auto m = l.pollOk();
    CHECK(m.metrics[0].value == 0);
    CHECK_FALSE(m.isActive);
  }
  SECTION("mixed: committed partitions use their lag") {
    cluster.commit("half", "t", 1, 10);
    auto l = live(md(cluster, "half", "t"));
    CHECK(l.value() == 1 + 1 + 1);  // p0 invalid (1), p1 lag 1, p2 invalid (1)
  }
}

TEST_CASE("kafka without a topic sums every topic the group has committed offsets for") {
  MockCluster cluster(3);
  cluster.createTopic("a", 2);
  cluster.createTopic("b", 3);
  cluster.createTopic("unrelated", 4);
  cluster.produce("a", 0, 20);
  cluster.produce("a", 1, 5);
  cluster.produce("b", 1, 40);
  cluster.produce("unrelated", 0, 1000);
  cluster.commit("multi", "a", 0, 10);  // lag 10
  cluster.commit("multi", "b", 1, 38);  // lag 2

  auto l = live(md(cluster, "multi", "", {{"allowIdleConsumers", "true"}}));
  CHECK(l.metric == "s0-kafka-multi-topics");
  auto m = l.pollOk();
  // a: p0 10, p1 not committed (1); b: p1 2, p0 and p2 not committed (1 each). "unrelated": none.
  CHECK(m.metrics[0].value == 10 + 1 + 2 + 1 + 1);
  CHECK(m.isActive);

  SECTION("the cap counts the partitions of those topics (5)") {
    cluster.produce("b", 1, 500);
    auto capped = live(md(cluster, "multi", ""));
    CHECK(capped.value() == 50);
  }
  SECTION("partitionLimitation is ignored without a topic") {
    auto limited = live(
        md(cluster, "multi", "", {{"allowIdleConsumers", "true"}, {"partitionLimitation", "0"}}));
    CHECK(limited.value() == 15);
  }
  SECTION("a group that never committed has no topics: 0, inactive") {
    auto none = live(md(cluster, "never", ""));
    auto n = none.pollOk();
    CHECK(n.metrics[0].value == 0);
    CHECK_FALSE(n.isActive);
  }
}

TEST_CASE("kafka excludePersistentLag remembers offsets per scaler instance") {
  MockCluster cluster(1);
  cluster.createTopic("t", 2);
  cluster.produce("t", 0, 30);
  cluster.produce("t", 1, 30);
  cluster.commit("g", "t", 0, 10);
  cluster.commit("g", "t", 1, 25);
  auto l = live(
      md(cluster, "g", "t", {{"excludePersistentLag", "true"}, {"allowIdleConsumers", "true"}}));
  CHECK(l.value() == 25);   // first sighting counts
  auto stuck = l.pollOk();  // nobody moved: both partitions persistent
  CHECK(stuck.metrics[0].value == 0);
  CHECK(stuck.isActive);  // activity still sees the lag (scale from zero works)
  cluster.commit("g", "t", 0, 20);
  CHECK(l.value() == 10);  // p0 moved and counts; p1 still stuck
  // A new scaler (e.g. rebuilt after an error) starts with an empty memory.
  auto fresh = live(
      md(cluster, "g", "t", {{"excludePersistentLag", "true"}, {"allowIdleConsumers", "true"}}));
  CHECK(fresh.value() == 15);
}

TEST_CASE("kafka activity: uncapped lag against activationLagThreshold") {
  MockCluster cluster(1);
  cluster.createTopic("t", 1);
  cluster.produce("t", 0, 100);
  cluster.commit("g", "t", 0, 97);
  auto l = live(md(cluster, "g", "t", {{"activationLagThreshold", "5"}}));
  auto low = l.pollOk();
  CHECK(low.metrics[0].value == 3);
  CHECK_FALSE(low.isActive);
  cluster.commit("g", "t", 0, 95);
  auto equal = l.pollOk();
  CHECK(equal.metrics[0].value == 5);
  CHECK_FALSE(equal.isActive);  // strictly greater
  cluster.commit("g", "t", 0, 40);
  auto high = l.pollOk();
  CHECK(high.metrics[0].value == 10);  // capped: 1 partition x 10
  CHECK(high.isActive);                // on the uncapped 60
  auto threshold = live(md(cluster, "g", "t", {{"activationLagThreshold", "50"}}));
  auto m = threshold.pollOk();
  CHECK(m.metrics[0].value == 10);
  CHECK(m.isActive);  // 60 > 50 although the value is 10
}

TEST_CASE("kafka: a cluster that goes away is a poll error naming the brokers; then it recovers") {
  MockCluster cluster(3);
  cluster.createTopic("t", 2);
  cluster.produce("t", 0, 12);
  cluster.commit("g", "t", 0, 2);
  cluster.commit("g", "t", 1, 0);
  auto l = live(md(cluster, "g", "t"));
  CHECK(l.value() == 10);

  cluster.setAllBrokers(false);
  const auto start = std::chrono::steady_clock::now();
  auto down = l.poll(Millis(1500));
  const auto took = std::chrono::steady_clock::now() - start;
  REQUIRE_FALSE(down.isOk());
  INFO(down.status().message());
  CHECK_THAT(down.status().message(), Catch::Contains("kafka brokers " + cluster.bootstrap()));
  CHECK_THAT(down.status().message(), Catch::Contains("consumer group \"g\""));
  CHECK_THAT(down.status().message(), Catch::Contains("topic \"t\""));
  CHECK(took < std::chrono::milliseconds(3000));  // the deadline bounds every call

  cluster.setAllBrokers(true);
  Result<MetricsAndActivity> up = Status::unavailable("not polled");
  for (int i = 0; i < 40 && !up.isOk(); ++i) {
    up = l.poll(Millis(1000));
    if (!up.isOk()) std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
  INFO(up.status().message());
  REQUIRE(up.isOk());
  CHECK(up->metrics[0].value == 10);

  SECTION("destroyed cluster") {
    cluster.destroy();
    auto gone = l.poll(Millis(1000));
    REQUIRE_FALSE(gone.isOk());
    CHECK_THAT(gone.status().message(), Catch::Contains(cluster.bootstrap()));
  }
}

TEST_CASE("kafka polls honour the deadline") {
  MockCluster cluster(1);
  cluster.createTopic("t", 1);
  auto l = live(md(cluster, "g", "t"));
  auto past = l.scaler->getMetricsAndActivity(l.metric, SystemClock::instance().now() - Seconds(1));
  REQUIRE_FALSE(past.isOk());
  CHECK(past.status().code() == StatusCode::kTimeout);
  CHECK_THAT(past.status().message(), Catch::Contains("no time left"));

  cluster.setAllBrokers(false);
  const auto start = std::chrono::steady_clock::now();
  auto r = l.poll(Millis(400));
  const auto took = std::chrono::steady_clock::now() - start;
  REQUIRE_FALSE(r.isOk());
  CHECK(took < std::chrono::milliseconds(1500));
}

TEST_CASE("kafka topic errors from the broker fail the poll with the reason") {
  MockCluster cluster(1);
  cluster.createTopic("secret-topic", 2);
  rd_kafka_mock_topic_set_error(cluster.mock(), "secret-topic",
                                RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED);
  auto l = live(md(cluster, "g", "secret-topic"));
  auto r = l.poll();
  REQUIRE_FALSE(r.isOk());
  CHECK_THAT(r.status().message(), Catch::Contains("describing topic \"secret-topic\""));
  CHECK_THAT(r.status().message(), Catch::Contains("authoriz"));
}

TEST_CASE("kafka cap uses integer division against a real broker too") {
  MockCluster cluster(1);
  cluster.createTopic("t", 1);
  cluster.produce("t", 0, 4);
  cluster.commit("g", "t", 0, 1);
  auto l = live(md(cluster, "g", "t", {{"lagThreshold", "2"}}));
  CHECK(l.value() == 3);  // 3 / 2 == 1 is not above 1 partition: 3, not 2
  cluster.produce("t", 0, 1);
  CHECK(l.value() == 2);  // 4 / 2 == 2 > 1: 1 x 2
}

TEST_CASE("kafka broker errors on the offset requests fail the poll with the request and reason") {
  MockCluster cluster(1);
  cluster.createTopic("t", 2);
  cluster.produce("t", 0, 3);
  cluster.commit("g", "t", 0, 1);
  auto l = live(md(cluster, "g", "t"));
  CHECK(l.value() == 3);  // 2 + 1 (p1: nothing committed)

  constexpr int16_t kOffsetFetch = 9;
  rd_kafka_mock_push_request_errors(cluster.mock(), kOffsetFetch, 1,
                                    RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED);
  auto denied = l.poll();
  REQUIRE_FALSE(denied.isOk());
  CHECK_THAT(denied.status().message(), Catch::Contains("consumer group \"g\""));
  CHECK_THAT(denied.status().message(), Catch::Contains("committed offsets"));
  CHECK_THAT(denied.status().message(), Catch::Contains("uthorization"));

  constexpr int16_t kListOffsets = 2;
  rd_kafka_mock_push_request_errors(cluster.mock(), kListOffsets, 1,
                                    RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED);
  auto noEnd = l.poll();
  REQUIRE_FALSE(noEnd.isOk());
  CHECK_THAT(noEnd.status().message(), Catch::Contains("log-end offsets"));

  CHECK(l.value() == 3);  // errors are per poll: the next one succeeds
}
