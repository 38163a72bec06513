// The kafka trigger's metadata rules: KEDA's kafka_scaler_test.go tables (each metadata row run
// with and without SASL authParams), plus FromEnv, defaults, offline validation and messages.
#include <catch2/catch.hpp>

#include "kafka/kafka_settings.h"
#include "scalers/test_server.h"
#include "updraft/scaler.h"

using namespace updraft;
using updraft::kafka::KafkaSettings;
using updraft::kafka::OffsetResetPolicy;
using updraft::kafka::SaslType;
using updraft::kafka::TokenProvider;
using updraft::testing::scalerConfig;

namespace {

Result<KafkaSettings> parse(StringMap metadata, StringMap authParams = {}, StringMap env = {}) {
  return kafka::parseKafkaSettings(
      scalerConfig("kafka", std::move(metadata), std::move(authParams), std::move(env)));
}

const StringMap kValidMetadata = {{"bootstrapServers", "broker1:9092,broker2:9092"},
                                  {"consumerGroup", "my-group"},
                                  {"topic", "my-topic"},
                                  {"allowIdleConsumers", "false"}};
const StringMap kWithAuthParams = {
    {"sasl", "plaintext"}, {"username", "admin"}, {"password", "admin"}};

StringMap merged(StringMap base, const StringMap& extra) {
  for (const auto& [k, v] : extra) base[k] = v;
  return base;
}

struct MetadataRow {
  StringMap metadata;
  bool isError;
  std::vector<std::string> brokers;
  std::string group;
  std::string topic;
  std::vector<int32_t> partitionLimitation;
  OffsetResetPolicy policy = OffsetResetPolicy::kLatest;
  bool allowIdleConsumers = false;
  bool excludePersistentLag = false;
  bool limitToPartitionsWithLag = false;
};

// KEDA's parseKafkaMetadataTestDataset (same rows, same expectations) and more.
const std::vector<MetadataRow> kMetadataRows = {
    // failure, no bootstrapServers
    {{}, true, {}, "", ""},
    // failure, no consumer group
    {{{"bootstrapServers", "foobar:9092"}}, true, {"foobar:9092"}, "", ""},
    // success, no topic
    {{{"bootstrapServers", "foobar:9092"}, {"consumerGroup", "my-group"}},
     false,
     {"foobar:9092"},
     "my-group",
     ""},
    // success, ignore partitionLimitation if no topic
    {{{"bootstrapServers", "foobar:9092"},
      {"consumerGroup", "my-group"},
      {"partitionLimitation", "1,2,3,4,5,6"}},
     false,
     {"foobar:9092"},
     "my-group",
     ""},
    // success, no limitation with whitespaced limitation value
    {{{"bootstrapServers", "foobar:9092"},
      {"consumerGroup", "my-group"},
      {"partitionLimitation", "           "}},
     false,
     {"foobar:9092"},
     "my-group",
     ""},
    // success, no limitation
    {{{"bootstrapServers", "foobar:9092"},
      {"consumerGroup", "my-group"},
      {"partitionLimitation", ""}},
     false,
     {"foobar:9092"},
     "my-group",
     ""},
    // failure, version not supported
    {{{"bootstrapServers", "foobar:9092"},
      {"consumerGroup", "my-group"},
      {"topic", "my-topic"},
      {"version", "1.2.3.4"}},
     true,
     {"foobar:9092"},
     "my-group",
     "my-topic"},
    // failure, lagThreshold is negative value
    {{{"bootstrapServers", "foobar:9092"},
      {"consumerGroup", "my-group"},
      {"topic", "my-topic"},
      {"lagThreshold", "-1"}},
     true,
     {"foobar:9092"},
     "my-group",
     "my-topic"},
    // failure, lagThreshold is 0
    {{{"bootstrapServers", "foobar:9092"},
      {"consumerGroup", "my-group"},
      {"topic", "my-topic"},
      {"lagThreshold", "0"}},
     true,
     {"foobar:9092"},
     "my-group",
     "my-topic"},
    // success, lagThreshold is 1000000
    {{{"bootstrapServers", "foobar:9092"},
      {"consumerGroup", "my-group"},
      {"topic", "my-topic"},
      {"lagThreshold", "1000000"},
      {"activationLagThreshold", "0"}},
     false,
     {"foobar:9092"},
     "my-group",
     "my-topic"},
    // failure, activationLagThreshold is not int
    {{{"bootstrapServers", "foobar:9092"},
      {"consumerGroup", "my-group"},
      {"topic", "my-topic"},
      {"lagThreshold", "10"},
      {"activationLagThreshold", "AA"}},
     true,
     {"foobar:9092"},
     "my-group",
     "my-topic"},
    // success, activationLagThreshold is 0
    {{{"bootstrapServers", "foobar:9092"},
      {"consumerGroup", "my-group"},
      {"topic", "my-topic"},
      {"lagThreshold", "10"},
      {"activationLagThreshold", "0"}},
     false,
     {"foobar:9092"},
     "my-group",
     "my-topic"},
    // success (row 12, used for the metric names)
    {{{"bootstrapServers", "foobar:9092"}, {"consumerGroup", "my-group"}, {"topic", "my-topic"}},
     false,
     {"foobar:9092"},
     "my-group",
     "my-topic"},
    // success, partitionLimitation as list
    {{{"bootstrapServers", "foobar:9092"},
      {"consumerGroup", "my-group"},
      {"topic", "my-topic"},
      {"partitionLimitation", "1,2,3,4"}},
     false,
     {"foobar:9092"},
     "my-group",
     "my-topic",
     {1, 2, 3, 4}},
    // success, partitionLimitation as range
    {{{"bootstrapServers", "foobar:9092"},
      {"consumerGroup", "my-group"},
      {"topic", "my-topic"},
      {"partitionLimitation", "1-4"}},
     false,
     {"foobar:9092"},
     "my-group",
     "my-topic",
     {1, 2, 3, 4}},
    // success, partitionLimitation mixed list + ranges
    {{{"bootstrapServers", "foobar:9092"},
      {"consumerGroup", "my-group"},
      {"topic", "my-topic"},
      {"partitionLimitation", "1-4,8,10-12"}},
     false,
     {"foobar:9092"},
     "my-group",
     "my-topic",
     {1, 2, 3, 4, 8, 10, 11, 12}},
    // success, partitionLimitation with whitespace around elements and range bounds
    {{{"bootstrapServers", "foobar:9092"},
      {"consumerGroup", "my-group"},
      {"topic", "my-topic"},
      {"partitionLimitation", " 1 - 3 , 7 "}},
     false,
     {"foobar:9092"},
     "my-group",
     "my-topic",
     {1, 2, 3, 7}},
    // failure, partitionLimitation wrong data type
    {{{"bootstrapServers", "foobar:9092"},
      {"consumerGroup", "my-group"},
      {"topic", "my-topic"},
      {"partitionLimitation", "a,b,c,d"}},
     true,
     {"foobar:9092"},
     "my-group",
     "my-topic"},
    // failure, partitionLimitation range with three bounds
    {{{"bootstrapServers", "foobar:9092"},
      {"consumerGroup", "my-group"},
      {"topic", "my-topic"},
      {"partitionLimitation", "1-2-3"}},
     true,
     {"foobar:9092"},
     "my-group",
     "my-topic"},
    // failure, partitionLimitation is parsed (and rejected) even without a topic
    {{{"bootstrapServers", "foobar:9092"},
      {"consumerGroup", "my-group"},
      {"partitionLimitation", "x"}},
     true,
     {"foobar:9092"},
     "my-group",
     ""},
    // success, more brokers
    {{{"bootstrapServers", "foo:9092,bar:9092"},
      {"consumerGroup", "my-group"},
      {"topic", "my-topic"}},
     false,
     {"foo:9092", "bar:9092"},
     "my-group",
     "my-topic"},
    // success, brokers are trimmed
    {{{"bootstrapServers", " foo:9092 , bar:9092 "},
      {"consumerGroup", "my-group"},
      {"topic", "my-topic"}},
     false,
     {"foo:9092", "bar:9092"},
     "my-group",
     "my-topic"},
    // success, offsetResetPolicy policy latest
    {{{"bootstrapServers", "foo:9092,bar:9092"},
      {"consumerGroup", "my-group"},
      {"topic", "my-topic"},
      {"offsetResetPolicy", "latest"}},
     false,
     {"foo:9092", "bar:9092"},
     "my-group",
     "my-topic"},
    // failure, offsetResetPolicy policy wrong
    {{{"bootstrapServers", "foo:9092,bar:9092"},
      {"consumerGroup", "my-group"},
      {"topic", "my-topic"},
      {"offsetResetPolicy", "foo"}},
     true,
     {"foo:9092", "bar:9092"},
     "my-group",
     "my-topic"},
    // success, offsetResetPolicy policy earliest
    {{{"bootstrapServers", "foo:9092,bar:9092"},
      {"consumerGroup", "my-group"},
      {"topic", "my-topic"},
      {"offsetResetPolicy", "earliest"}},
     false,
     {"foo:9092", "bar:9092"},
     "my-group",
     "my-topic",
     {},
     OffsetResetPolicy::kEarliest},
    // failure, allowIdleConsumers malformed
    {{{"bootstrapServers", "foobar:9092"},
      {"consumerGroup", "my-group"},
      {"topic", "my-topic"},
      {"allowIdleConsumers", "notvalid"}},
     true,
     {"foobar:9092"},
     "my-group",
     "my-topic"},
    // success, allowIdleConsumers is true
    {{{"bootstrapServers", "foobar:9092"},
      {"consumerGroup", "my-group"},
      {"topic", "my-topic"},
      {"allowIdleConsumers", "true"}},
     false,
     {"foobar:9092"},
     "my-group",
     "my-topic",
     {},
     OffsetResetPolicy::kLatest,
     true},
    // failure, excludePersistentLag is malformed
    {{{"bootstrapServers", "foobar:9092"},
      {"consumerGroup", "my-group"},
      {"topic", "my-topic"},
      {"excludePersistentLag", "notvalid"}},
     true,
     {"foobar:9092"},
     "my-group",
     "my-topic"},
    // success, excludePersistentLag is true
    {{{"bootstrapServers", "foobar:9092"},
      {"consumerGroup", "my-group"},
      {"topic", "my-topic"},
      {"excludePersistentLag", "true"}},
     false,
     {"foobar:9092"},
     "my-group",
     "my-topic",
     {},
     OffsetResetPolicy::kLatest,
     false,
     true},
    // success, version supported
    {{{"bootstrapServers", "foobar:9092"},
      {"consumerGroup", "my-group"},
      {"topic", "my-topic"},
      {"allowIdleConsumers", "true"},
      {"version", "1.0.0"}},
     false,
     {"foobar:9092"},
     "my-group",
     "my-topic",
     {},
     OffsetResetPolicy::kLatest,
     true},
    // success, limitToPartitionsWithLag is true
    {{{"bootstrapServers", "foobar:9092"},
      {"consumerGroup", "my-group"},
      {"topic", "my-topic"},
      {"limitToPartitionsWithLag", "true"}},
     false,
     {"foobar:9092"},
     "my-group",
     "my-topic",
     {},
     OffsetResetPolicy::kLatest,
     false,
     false,
     true},
    // failure, limitToPartitionsWithLag is malformed
    {{{"bootstrapServers", "foobar:9092"},
      {"consumerGroup", "my-group"},
      {"topic", "my-topic"},
      {"limitToPartitionsWithLag", "notvalid"}},
     true,
     {"foobar:9092"},
     "my-group",
     "my-topic"},
    // failure, allowIdleConsumers and limitToPartitionsWithLag cannot be set simultaneously
    {{{"bootstrapServers", "foobar:9092"},
      {"consumerGroup", "my-group"},
      {"topic", "my-topic"},
      {"allowIdleConsumers", "true"},
      {"limitToPartitionsWithLag", "true"}},
     true,
     {"foobar:9092"},
     "my-group",
     "my-topic"},
    // success, allowIdleConsumers can be set when limitToPartitionsWithLag is false
    {{{"bootstrapServers", "foobar:9092"},
      {"consumerGroup", "my-group"},
      {"topic", "my-topic"},
      {"allowIdleConsumers", "true"},
      {"limitToPartitionsWithLag", "false"}},
     false,
     {"foobar:9092"},
     "my-group",
     "my-topic",
     {},
     OffsetResetPolicy::kLatest,
     true},
    // failure, topic must be specified when limitToPartitionsWithLag is true
    {{{"bootstrapServers", "foobar:9092"},
      {"consumerGroup", "my-group"},
      {"limitToPartitionsWithLag", "true"}},
     true,
     {"foobar:9092"},
     "my-group",
     ""},
    // failure, limitToPartitionsWithLag and ensureEvenDistributionOfPartitions together
    {{{"bootstrapServers", "foobar:9092"},
      {"consumerGroup", "my-group"},
      {"topic", "my-topic"},
      {"limitToPartitionsWithLag", "true"},
      {"ensureEvenDistributionOfPartitions", "true"}},
     true,
     {"foobar:9092"},
     "my-group",
     "my-topic"},
    // failure, topic must be specified when ensureEvenDistributionOfPartitions is true
    {{{"bootstrapServers", "foobar:9092"},
      {"consumerGroup", "my-group"},
      {"ensureEvenDistributionOfPartitions", "true"}},
     true,
     {"foobar:9092"},
     "my-group",
     ""},
    // success, ensureEvenDistributionOfPartitions with allowIdleConsumers
    {{{"bootstrapServers", "foobar:9092"},
      {"consumerGroup", "my-group"},
      {"topic", "my-topic"},
      {"ensureEvenDistributionOfPartitions", "true"},
      {"allowIdleConsumers", "true"}},
     false,
     {"foobar:9092"},
     "my-group",
     "my-topic",
     {},
     OffsetResetPolicy::kLatest,
     true},
    // failure, fullMetadata false without topic
    {{{"bootstrapServers", "foobar:9092"},
      {"consumerGroup", "my-group"},
      {"fullMetadata", "false"}},
     true,
     {"foobar:9092"},
     "my-group",
     ""},
    // success, fullMetadata false with topic
    {{{"bootstrapServers", "foobar:9092"},
      {"consumerGroup", "my-group"},
      {"topic", "my-topic"},
      {"fullMetadata", "false"}},
     false,
     {"foobar:9092"},
     "my-group",
     "my-topic"},
    // failure, fullMetadata malformed
    {{{"bootstrapServers", "foobar:9092"},
      {"consumerGroup", "my-group"},
      {"topic", "my-topic"},
      {"fullMetadata", "nope"}},
     true,
     {"foobar:9092"},
     "my-group",
     "my-topic"},
    // failure, activationLagThreshold negative
    {{{"bootstrapServers", "foobar:9092"},
      {"consumerGroup", "my-group"},
      {"topic", "my-topic"},
      {"activationLagThreshold", "-1"}},
     true,
     {"foobar:9092"},
     "my-group",
     "my-topic"},
    // failure, lagThreshold is not an integer (JSON number rules: 10.5)
    {{{"bootstrapServers", "foobar:9092"},
      {"consumerGroup", "my-group"},
      {"topic", "my-topic"},
      {"lagThreshold", "10.5"}},
     true,
     {"foobar:9092"},
     "my-group",
     "my-topic"},
    // failure, scaleToZeroOnInvalidOffset malformed
    {{{"bootstrapServers", "foobar:9092"},
      {"consumerGroup", "my-group"},
      {"topic", "my-topic"},
      {"scaleToZeroOnInvalidOffset", "maybe"}},
     true,
     {"foobar:9092"},
     "my-group",
     "my-topic"},
    // failure, unsafeSsl malformed
    {{{"bootstrapServers", "foobar:9092"},
      {"consumerGroup", "my-group"},
      {"topic", "my-topic"},
      {"unsafeSsl", "yes"}},
     true,
     {"foobar:9092"},
     "my-group",
     "my-topic"},
    // success, 0.x version
    {{{"bootstrapServers", "foobar:9092"},
      {"consumerGroup", "my-group"},
      {"topic", "my-topic"},
      {"version", "0.10.2.1"}},
     false,
     {"foobar:9092"},
     "my-group",
     "my-topic"},
};

void checkRow(const MetadataRow& row, const StringMap& authParams, size_t index) {
  auto s = parse(row.metadata, authParams);
  INFO("row " << index << " with " << authParams.size()
              << " authParams: " << (s.isOk() ? "ok" : s.status().message()));
  CHECK(s.isOk() == !row.isError);
  if (!s.isOk()) {
    CHECK(s.status().code() == StatusCode::kInvalidArgument);
    return;
  }
  CHECK(s->bootstrapServers == row.brokers);
  CHECK(s->group == row.group);
  CHECK(s->topic == row.topic);
  CHECK(s->partitionLimitation == row.partitionLimitation);
  CHECK(s->partitionLimited == !row.partitionLimitation.empty());
  CHECK(s->offsetResetPolicy == row.policy);
  CHECK(s->allowIdleConsumers == row.allowIdleConsumers);
  CHECK(s->excludePersistentLag == row.excludePersistentLag);
  CHECK(s->limitToPartitionsWithLag == row.limitToPartitionsWithLag);
  auto lt = row.metadata.find("lagThreshold");
  CHECK(s->lagThreshold == (lt == row.metadata.end() ? 10 : std::stoll(lt->second)));
}

struct AuthRow {
  StringMap authParams;
  bool isError;
  bool enableTls;
};

// KEDA's parseKafkaAuthParamsTestDataset: authParams with validKafkaMetadata.
const std::vector<AuthRow> kAuthRows = {
    {{{"sasl", "plaintext"}, {"username", "admin"}, {"password", "admin"}}, false, false},
    {{{"sasl", "scram_sha256"}, {"username", "admin"}, {"password", "admin"}}, false, false},
    {{{"sasl", "scram_sha512"}, {"username", "admin"}, {"password", "admin"}}, false, false},
    {{{"tls", "enable"}, {"ca", "caaa"}, {"cert", "ceert"}, {"key", "keey"}}, false, true},
    {{{"tls", "enable"}, {"cert", "ceert"}, {"key", "keey"}}, false, true},
    {{{"tls", "enable"}, {"cert", "ceert"}, {"key", "keey"}, {"keyPassword", "keeyPassword"}},
     false,
     true},
    {{{"tls", "enable"}, {"ca", "caaa"}}, false, true},
    {{{"sasl", "plaintext"},
      {"username", "admin"},
      {"password", "admin"},
      {"tls", "enable"},
      {"ca", "caaa"},
      {"cert", "ceert"},
      {"key", "keey"}},
     false,
     true},
    {{{"sasl", "plaintext"}, {"username", "admin"}, {"password", "admin"}, {"tls", "disable"}},
     false,
     false},
    {{{"sasl", "oauthbearer"},
      {"username", "admin"},
      {"password", "admin"},
      {"scopes", "scope"},
      {"oauthTokenEndpointUri", "https://website.com"},
      {"tls", "disable"}},
     false,
     false},
    {{{"sasl", "gssapi"},
      {"username", "admin"},
      {"password", "admin"},
      {"kerberosConfig", "<config>"},
      {"realm", "tst.com"}},
     false,
     false},
    {{{"sasl", "gssapi"},
      {"username", "admin"},
      {"keytab", "/path/to/keytab"},
      {"kerberosConfig", "<config>"},
      {"realm", "tst.com"}},
     false,
     false},
    {{{"sasl", "gssapi"},
      {"username", "admin"},
      {"password", "admin"},
      {"kerberosConfig", "<config>"},
      {"realm", "tst.com"},
      {"tls", "enable"},
      {"ca", "caaa"},
      {"cert", "ceert"},
      {"key", "keey"}},
     false,
     true},
    {{{"sasl", "gssapi"},
      {"username", "admin"},
      {"keytab", "/path/to/keytab"},
      {"kerberosConfig", "<config>"},
      {"realm", "tst.com"},
      {"kerberosServiceName", "srckafka"}},
     false,
     false},
    // failure, bad sasl type
    {{{"sasl", "foo"},
      {"username", "admin"},
      {"password", "admin"},
      {"scopes", "scope"},
      {"oauthTokenEndpointUri", "https://website.com"},
      {"tls", "disable"}},
     true,
     false},
    // success, oauthbearer missing scope
    {{{"sasl", "oauthbearer"},
      {"username", "admin"},
      {"password", "admin"},
      {"oauthTokenEndpointUri", "https://website.com"},
      {"tls", "disable"}},
     false,
     false},
    // failure, oauthbearer missing oauthTokenEndpointUri
    {{{"sasl", "oauthbearer"},
      {"username", "admin"},
      {"password", "admin"},
      {"scopes", "scope"},
      {"oauthTokenEndpointUri", ""},
      {"tls", "disable"}},
     true,
     false},
    {{{"sasl", "foo"}, {"username", "admin"}, {"password", "admin"}}, true, false},
    {{{"sasl", "plaintext"}, {"password", "admin"}}, true, false},
    {{{"sasl", "plaintext"}, {"username", "admin"}}, true, false},
    {{{"sasl", "scram_sha512"}, {"username", "admin"}}, true, false},
    {{{"tls", "enable"}, {"ca", "caaa"}, {"key", "keey"}}, true, false},
    {{{"tls", "enable"}, {"ca", "caaa"}, {"cert", "ceert"}}, true, false},
    {{{"tls", "yes"}, {"ca", "caaa"}, {"cert", "ceert"}, {"key", "keey"}}, true, false},
    {{{"sasl", "foo"},
      {"username", "admin"},
      {"password", "admin"},
      {"tls", "enable"},
      {"ca", "caaa"},
      {"cert", "ceert"},
      {"key", "keey"}},
     true,
     false},
    {{{"sasl", "plaintext"},
      {"username", "admin"},
      {"password", "admin"},
      {"tls", "foo"},
      {"ca", "caaa"},
      {"cert", "ceert"},
      {"key", "keey"}},
     true,
     false},
    {{{"sasl", "plaintext"},
      {"password", "admin"},
      {"tls", "enable"},
      {"ca", "caaa"},
      {"cert", "ceert"},
      {"key", "keey"}},
     true,
     false},
    {{{"sasl", "plaintext"},
      {"username", "admin"},
      {"tls", "enable"},
      {"ca", "caaa"},
      {"cert", "ceert"},
      {"key", "keey"}},
     true,
     false},
    {{{"sasl", "plaintext"},
      {"username", "admin"},
      {"password", "admin"},
      {"tls", "enable"},
      {"ca", "caaa"},
      {"key", "keey"}},
     true,
     false},
    {{{"sasl", "plaintext"},
      {"username", "admin"},
      {"password", "admin"},
      {"tls", "enable"},
      {"ca", "caaa"},
      {"cert", "ceert"}},
     true,
     false},
    // failure, GSSAPI missing password and keytab
    {{{"sasl", "gssapi"},
      {"username", "admin"},
      {"kerberosConfig", "<config>"},
      {"realm", "tst.com"}},
     true,
     false},
    // failure, GSSAPI both password and keytab
    {{{"sasl", "gssapi"},
      {"username", "admin"},
      {"password", "admin"},
      {"keytab", "/path/to/keytab"},
      {"kerberosConfig", "<config>"},
      {"realm", "tst.com"}},
     true,
     false},
    // failure, GSSAPI missing realm
    {{{"sasl", "gssapi"},
      {"username", "admin"},
      {"password", "admin"},
      {"kerberosConfig", "<config>"},
      {"tls", "enable"},
      {"ca", "caaa"},
      {"cert", "ceert"},
      {"key", "keey"}},
     true,
     false},
    // failure, GSSAPI missing username
    {{{"sasl", "gssapi"},
      {"keytab", "/path/to/keytab"},
      {"kerberosConfig", "<config>"},
      {"realm", "tst.com"},
      {"tls", "enable"},
      {"ca", "caaa"},
      {"cert", "ceert"},
      {"key", "keey"}},
     true,
     false},
    // failure, GSSAPI missing kerberosConfig
    {{{"sasl", "gssapi"},
      {"username", "admin"},
      {"keytab", "/path/to/keytab"},
      {"realm", "tst.com"}},
     true,
     false},
    {{{"sasl", "gssapi"},
      {"username", "admin"},
      {"keytab", "/path/to/keytab"},
      {"kerberosConfig", "<config>"},
      {"realm", "tst.com"},
      {"kerberosDisableFAST", "true"}},
     false,
     false},
    {{{"sasl", "gssapi"},
      {"username", "admin"},
      {"keytab", "/path/to/keytab"},
      {"kerberosConfig", "<config>"},
      {"realm", "tst.com"},
      {"kerberosDisableFAST", "notabool"}},
     true,
     false},
    {{{"sasl", "none"}}, false, false},
    // sasl values from a Secret keep a trailing newline or space: trimmed
    {{{"sasl", "plaintext\n"}, {"username", "admin"}, {"password", "admin"}}, false, false},
    {{{"sasl", "scram_sha256 "}, {"username", "admin"}, {"password", "admin"}}, false, false},
    {{{"sasl", "scram_sha512\n"}, {"username", "admin"}, {"password", "admin"}}, false, false},
};

struct OAuthRow {
  StringMap metadata;
  StringMap authParams;
  bool isError;
  bool enableTls;
};

// KEDA's parseKafkaOAuthbearerAuthParamsTestDataset.
const std::vector<OAuthRow> kOAuthRows = {
    {{},
     {{"sasl", "oauthbearer"},
      {"username", "admin"},
      {"password", "admin"},
      {"scopes", "scope"},
      {"oauthTokenEndpointUri", "https://website.com"},
      {"tls", "disable"}},
     false,
     false},
    {{},
     {{"sasl", "oauthbearer"},
      {"saslTokenProvider", "bearer"},
      {"username", "admin"},
      {"password", "admin"},
      {"scopes", "scope"},
      {"oauthTokenEndpointUri", "https://website.com"},
      {"tls", "disable"}},
     false,
     false},
    {{},
     {{"sasl", "oauthbearer"},
      {"username", "admin"},
      {"password", "admin"},
      {"scopes", "scope1, scope2"},
      {"oauthTokenEndpointUri", "https://website.com"},
      {"tls", "disable"}},
     false,
     false},
    {{},
     {{"sasl", "oauthbearer"},
      {"username", "admin"},
      {"password", "admin"},
      {"oauthTokenEndpointUri", "https://website.com"},
      {"tls", "disable"}},
     false,
     false},
    {{},
     {{"sasl", "foo"},
      {"username", "admin"},
      {"password", "admin"},
      {"scopes", "scope"},
      {"oauthTokenEndpointUri", "https://website.com"},
      {"tls", "disable"}},
     true,
     false},
    {{},
     {{"sasl", "oauthbearer"},
      {"username", "admin"},
      {"password", "admin"},
      {"scopes", "scope"},
      {"oauthTokenEndpointUri", ""},
      {"tls", "disable"}},
     true,
     false},
    {{},
     {{"sasl", "oauthbearer"},
      {"username", "admin"},
      {"password", "admin"},
      {"scopes", "scope"},
      {"oauthTokenEndpointUri", "https://website.com"},
      {"tls", "disable"},
      {"oauthExtensions", "extension_foo=bar"}},
     false,
     false},
    {{},
     {{"sasl", "oauthbearer"},
      {"username", "admin"},
      {"password", "admin"},
      {"scopes", "scope"},
      {"oauthTokenEndpointUri", "https://website.com"},
      {"tls", "disable"},
      {"oauthExtensions", "extension_foo=bar,extension_baz=baz"}},
     false,
     false},
    {{},
     {{"sasl", "oauthbearer"},
      {"username", "admin"},
      {"password", "admin"},
      {"scopes", "scope"},
      {"oauthTokenEndpointUri", "https://website.com"},
      {"tls", "disable"},
      {"oauthExtensions", "extension_foo=bar,extension_bazbaz"}},
     true,
     false},
    // MSK IAM + TLS + credentials
    {{{"awsRegion", "eu-west-1"}},
     {{"sasl", "oauthbearer"},
      {"saslTokenProvider", "aws_msk_iam"},
      {"tls", "enable"},
      {"awsAccessKeyID", "none"},
      {"awsSecretAccessKey", "none"}},
     false,
     true},
    // MSK IAM + TLS + role
    {{{"awsRegion", "eu-west-1"}},
     {{"sasl", "oauthbearer"},
      {"saslTokenProvider", "aws_msk_iam"},
      {"tls", "enable"},
      {"awsRegion", "eu-west-1"},
      {"awsRoleArn", "none"}},
     false,
     true},
    // failure, MSK without TLS
    {{},
     {{"sasl", "oauthbearer"}, {"saslTokenProvider", "aws_msk_iam"}, {"tls", "disable"}},
     true,
     false},
    // failure, MSK without region
    {{},
     {{"sasl", "oauthbearer"},
      {"saslTokenProvider", "aws_msk_iam"},
      {"tls", "enable"},
      {"awsRegion", ""}},
     true,
     true},
    // failure, MSK without credentials
    {{},
     {{"sasl", "oauthbearer"},
      {"saslTokenProvider", "aws_msk_iam"},
      {"tls", "enable"},
      {"awsRegion", "eu-west-1"}},
     true,
     true},
    // failure, saslTokenProvider not in the enum
    {{},
     {{"sasl", "oauthbearer"},
      {"saslTokenProvider", "google"},
      {"username", "admin"},
      {"password", "admin"},
      {"oauthTokenEndpointUri", "https://website.com"}},
     true,
     false},
};

}  // namespace

TEST_CASE("kafka metadata rows parse as in KEDA, with and without SASL authParams") {
  for (size_t i = 0; i < kMetadataRows.size(); ++i) {
    checkRow(kMetadataRows[i], kWithAuthParams, i);
    checkRow(kMetadataRows[i], {}, i);
  }
}

TEST_CASE("kafka authParams rows (TriggerAuthentication) parse as in KEDA") {
  for (size_t i = 0; i < kAuthRows.size(); ++i) {
    const AuthRow& row = kAuthRows[i];
    auto s = parse(kValidMetadata, row.authParams);
    INFO("auth row " << i << ": " << (s.isOk() ? "ok" : s.status().message()));
    REQUIRE(s.isOk() == !row.isError);
    if (!s.isOk()) continue;
    CHECK(s->enableTls == row.enableTls);
    if (s->enableTls) {
      auto get = [&](const char* k) {
        auto it = row.authParams.find(k);
        return it == row.authParams.end() ? std::string() : it->second;
      };
      CHECK(s->ca == get("ca"));
      CHECK(s->cert == get("cert"));
      CHECK(s->key == get("key"));
      CHECK(s->keyPassword == get("keyPassword"));
    }
  }
}

TEST_CASE("kafka sasl and tls may be set in the trigger metadata, which wins over authParams") {
  const StringMap base = {{"bootstrapServers", "foobar:9092"},
                          {"consumerGroup", "my-group"},
                          {"topic", "my-topic"},
                          {"allowIdleConsumers", "true"},
                          {"version", "1.0.0"}};
  SECTION("sasl in metadata, credentials in authParams") {
    for (const char* mode : {"plaintext", "scram_sha256", "scram_sha512"}) {
      auto s =
          parse(merged(base, {{"sasl", mode}}), {{"username", "admin"}, {"password", "admin"}});
      INFO(mode << ": " << s.status().message());
      REQUIRE(s.isOk());
      CHECK(std::string(kafka::saslTypeName(s->sasl)) == mode);
    }
  }
  SECTION("tls in metadata, certificates in authParams; unsafeSsl") {
    auto s = parse(merged(base, {{"tls", "enable"}, {"unsafeSsl", "true"}}), {{"ca", "caaa"}});
    REQUIRE(s.isOk());
    CHECK(s->enableTls);
    CHECK(s->unsafeSsl);
    CHECK(s->ca == "caaa");
    CHECK_FALSE(parse(merged(base, {{"tls", "enable"}}), {{"ca", "caaa"}, {"key", "keey"}}).isOk());
    CHECK_FALSE(parse(merged(base, {{"tls", "random"}}), {{"ca", "caaa"}}).isOk());
  }
  SECTION(
      "both places: the trigger metadata wins (typed-config order triggerMetadata;authParams)") {
    auto s = parse(merged(base, {{"sasl", "scram_sha512"}}),
                   {{"sasl", "plaintext"}, {"username", "admin"}, {"password", "admin"}});
    REQUIRE(s.isOk());
    CHECK(s->sasl == SaslType::kScramSha512);
    auto t = parse(merged(base, {{"tls", "disable"}}), {{"tls", "enable"}, {"cert", "c"}});
    REQUIRE(t.isOk());
    CHECK_FALSE(t->enableTls);
  }
  SECTION("oauthbearer in metadata") {
    auto s = parse(merged(base, {{"sasl", "oauthbearer"}, {"tls", "disable"}}),
                   {{"username", "admin"},
                    {"password", "admin"},
                    {"scopes", "scope"},
                    {"oauthTokenEndpointUri", "https://website.com"}});
    REQUIRE(s.isOk());
    CHECK(s->tokenProvider == TokenProvider::kBearer);
    CHECK(s->oauthTokenEndpointUri == "https://website.com");
  }
}

TEST_CASE("kafka oauthbearer rows parse as in KEDA") {
  for (size_t i = 0; i < kOAuthRows.size(); ++i) {
    const OAuthRow& row = kOAuthRows[i];
    auto s = parse(merged(kValidMetadata, row.metadata), row.authParams);
    INFO("oauth row " << i << ": " << (s.isOk() ? "ok" : s.status().message()));
    REQUIRE(s.isOk() == !row.isError);
    if (!s.isOk()) continue;
    CHECK(s->enableTls == row.enableTls);
    CHECK(s->sasl == SaslType::kOAuthBearer);
    auto tp = row.authParams.find("saslTokenProvider");
    if (tp == row.authParams.end() || tp->second == "bearer") {
      CHECK(s->tokenProvider == TokenProvider::kBearer);
      auto scopes = row.authParams.find("scopes");
      const std::string text = scopes == row.authParams.end() ? "" : scopes->second;
      CHECK(s->scopes.size() == static_cast<size_t>(std::count(text.begin(), text.end(), ',') + 1));
      auto ext = row.authParams.find("oauthExtensions");
      if (ext != row.authParams.end()) {
        CHECK(s->oauthExtensions.size() ==
              static_cast<size_t>(std::count(ext->second.begin(), ext->second.end(), ',') + 1));
      }
    } else {
      CHECK(s->tokenProvider == TokenProvider::kAwsMskIam);
      CHECK(s->awsRegion == "eu-west-1");
    }
  }
  SECTION("aws credentials from pod identity or the target's environment") {
    StringMap md = merged(kValidMetadata, {{"awsRegion", "eu-west-1"}, {"tls", "enable"}});
    StringMap ap = {{"sasl", "oauthbearer"}, {"saslTokenProvider", "aws_msk_iam"}};
    auto config = scalerConfig("kafka", md, ap);
    config.podIdentityProvider = "aws";
    auto s = kafka::parseKafkaSettings(config);
    INFO(s.status().message());
    CHECK(s.isOk());
    auto env =
        parse(merged(md, {{"awsAccessKeyIDFromEnv", "ID"}, {"awsSecretAccessKeyFromEnv", "KEY"}}),
              ap, {{"ID", "AKIA"}, {"KEY", "secret"}});
    REQUIRE(env.isOk());
    CHECK(env->aws.accessKeyId == "AKIA");
    auto noSecret = parse(merged(md, {{"awsAccessKeyIDFromEnv", "ID"}}), ap, {{"ID", "AKIA"}});
    REQUIRE_FALSE(noSecret.isOk());
    CHECK_THAT(noSecret.status().message(), Catch::Contains("awsSecretAccessKey not found"));
  }
}

TEST_CASE("kafka parameters from the target's environment (...FromEnv)") {
  StringMap env = {{"BROKERS", "kafka-0:9092, kafka-1:9092"}, {"GROUP", "orders"}, {"TOPIC", "t"}};
  auto s = parse({{"bootstrapServersFromEnv", "BROKERS"},
                  {"consumerGroupFromEnv", "GROUP"},
                  {"topicFromEnv", "TOPIC"}},
                 {}, env);
  REQUIRE(s.isOk());
  CHECK(s->bootstrapServers == std::vector<std::string>{"kafka-0:9092", "kafka-1:9092"});
  CHECK(s->group == "orders");
  CHECK(s->topic == "t");
  SECTION("metadata wins over the environment") {
    auto m = parse({{"bootstrapServers", "direct:9092"},
                    {"bootstrapServersFromEnv", "BROKERS"},
                    {"consumerGroupFromEnv", "GROUP"}},
                   {}, env);
    REQUIRE(m.isOk());
    CHECK(m->bootstrapServers == std::vector<std::string>{"direct:9092"});
  }
  SECTION("an unset variable is a missing parameter") {
    auto m = parse({{"bootstrapServersFromEnv", "NOPE"}, {"consumerGroup", "g"}}, {}, env);
    REQUIRE_FALSE(m.isOk());
    CHECK_THAT(m.status().message(),
               Catch::Contains("missing required parameter \"bootstrapServers\""));
    CHECK_THAT(m.status().message(), Catch::Contains("NOPE"));
  }
}

TEST_CASE("kafka defaults") {
  auto s = parse({{"bootstrapServers", "b:9092"}, {"consumerGroup", "g"}});
  REQUIRE(s.isOk());
  CHECK(s->lagThreshold == 10);
  CHECK(s->activationLagThreshold == 0);
  CHECK(s->offsetResetPolicy == OffsetResetPolicy::kLatest);
  CHECK_FALSE(s->allowIdleConsumers);
  CHECK_FALSE(s->excludePersistentLag);
  CHECK_FALSE(s->scaleToZeroOnInvalidOffset);
  CHECK_FALSE(s->limitToPartitionsWithLag);
  CHECK_FALSE(s->ensureEvenDistributionOfPartitions);
  CHECK(s->fullMetadata);
  CHECK(s->version.toString() == "1.0.0");
  CHECK_FALSE(s->enableTls);
  CHECK(s->sasl == SaslType::kNone);
  CHECK(s->partitionLimitation.empty());
}

TEST_CASE("kafka version strings follow sarama.ParseKafkaVersion") {
  for (const char* good : {"1.0.0", "2.8.1", "3.6.0", "0.10.2.1", "0.8.2.0", "10.0.0"}) {
    auto v = kafka::parseKafkaVersion(good);
    INFO(good);
    REQUIRE(v.isOk());
    CHECK(v->toString() == good);
  }
  for (const char* bad : {"1.2.3.4", "1.0", "0.10.2", "2.8", "a.b.c", "1.0.0-rc1", "0.1", ""}) {
    auto v = kafka::parseKafkaVersion(bad);
    INFO(bad);
    REQUIRE_FALSE(v.isOk());
    CHECK(v.status().message() == "invalid version `" + std::string(bad) + "`");
  }
  auto s = parse(merged(kValidMetadata, {{"version", "1.2.3.4"}}));
  REQUIRE_FALSE(s.isOk());
  CHECK_THAT(s.status().message(),
             Catch::Contains("error parsing kafka version: invalid version `1.2.3.4`"));
}

TEST_CASE("kafka error messages name the parameter and never echo secrets") {
  auto s = parse(merged(kValidMetadata, {{"lagThreshold", "0"}, {"tls", "maybe"}}),
                 {{"sasl", "plaintext"}, {"username", "admin"}, {"password", "hunter2-secret"}});
  REQUIRE_FALSE(s.isOk());
  CHECK_THAT(s.status().message(), Catch::Contains("\"lagThreshold\" must be positive number"));
  CHECK_THAT(s.status().message(), Catch::Contains("parameter \"tls\""));
  CHECK_THAT(s.status().message(), !Catch::Contains("hunter2"));
  // A bad value that came from a Secret is not quoted.
  auto fromSecret = parse(kValidMetadata, {{"sasl", "s3cr3t-mode"}});
  REQUIRE_FALSE(fromSecret.isOk());
  CHECK_THAT(fromSecret.status().message(),
             Catch::Contains("parameter \"sasl\" (from authParams)"));
  CHECK_THAT(fromSecret.status().message(), !Catch::Contains("s3cr3t"));
  auto noUser = parse(kValidMetadata, {{"sasl", "plaintext"}, {"password", "topsecret"}});
  REQUIRE_FALSE(noUser.isOk());
  CHECK(noUser.status().message() == "no username given");
  auto gss = parse(kValidMetadata, {{"sasl", "gssapi"},
                                    {"username", "u"},
                                    {"keytab", "k"},
                                    {"realm", "r"},
                                    {"kerberosDisableFAST", "sekrit"}});
  REQUIRE_FALSE(gss.isOk());
  CHECK_THAT(gss.status().message(), !Catch::Contains("sekrit"));
}

TEST_CASE("kafka offline validation does not ask for secrets it cannot see") {
  auto config =
      scalerConfig("kafka", merged(kValidMetadata, {{"sasl", "scram_sha256"}, {"tls", "enable"}}));
  config.secretsUnresolved = true;
  CHECK(kafka::parseKafkaSettings(config).isOk());
  // bootstrap servers and topic from an environment the validator cannot see
  auto envConfig = scalerConfig("kafka", {{"bootstrapServersFromEnv", "B"},
                                          {"consumerGroup", "g"},
                                          {"topicFromEnv", "T"},
                                          {"limitToPartitionsWithLag", "true"}});
  envConfig.secretsUnresolved = true;
  auto s = kafka::parseKafkaSettings(envConfig);
  INFO(s.status().message());
  CHECK(s.isOk());
  // ...but metadata errors are still found
  auto bad =
      scalerConfig("kafka", merged(kValidMetadata, {{"sasl", "kerberos"}, {"lagThreshold", "x"}}));
  bad.secretsUnresolved = true;
  auto b = kafka::parseKafkaSettings(bad);
  REQUIRE_FALSE(b.isOk());
  CHECK_THAT(b.status().message(), Catch::Contains("\"sasl\""));
  CHECK_THAT(b.status().message(), Catch::Contains("\"lagThreshold\""));
  // aws_msk_iam requires TLS: not knowable when tls may come from the TriggerAuthentication
  auto msk = scalerConfig("kafka", merged(kValidMetadata, {{"sasl", "oauthbearer"},
                                                           {"saslTokenProvider", "aws_msk_iam"},
                                                           {"awsRegion", "eu-west-1"}}));
  msk.secretsUnresolved = true;
  CHECK(kafka::parseKafkaSettings(msk).isOk());
  msk.triggerMetadata["tls"] = "disable";
  CHECK_FALSE(kafka::parseKafkaSettings(msk).isOk());
}

TEST_CASE("kafka metric names and targets are KEDA's") {
  auto factory = ScalerRegistry::global().find("kafka");
  REQUIRE(factory);
  struct Row {
    size_t dataset;
    int triggerIndex;
    const char* name;
  };
  // KEDA's kafkaMetricIdentifiers.
  for (const Row& row : {Row{12, 0, "s0-kafka-my-topic"}, Row{12, 1, "s1-kafka-my-topic"},
                         Row{2, 1, "s1-kafka-my-group-topics"}}) {
    auto config = scalerConfig("kafka", kMetadataRows[row.dataset].metadata, kWithAuthParams);
    config.triggerIndex = row.triggerIndex;
    auto def = factory->parse(config);
    REQUIRE(def.isOk());
    auto specs = (*def)->metricSpecs();
    REQUIRE(specs.size() == 1);
    CHECK(specs[0].metricName == row.name);
    CHECK(specs[0].target == 10);
    CHECK(specs[0].targetType == MetricTargetType::kAverageValue);
  }
  SECTION("names are normalized, targets are lagThreshold, activation is activationLagThreshold") {
    auto config = scalerConfig("kafka", {{"bootstrapServers", "b:9092"},
                                         {"consumerGroup", "g"},
                                         {"topic", "orders.v1/eu"},
                                         {"lagThreshold", "5"},
                                         {"activationLagThreshold", "3"}});
    config.metricType = MetricTargetType::kValue;
    auto def = factory->parse(config);
    REQUIRE(def.isOk());
    CHECK((*def)->metricSpecs()[0].metricName == "s0-kafka-orders-v1-eu");
    CHECK((*def)->metricSpecs()[0].target == 5);
    CHECK((*def)->metricSpecs()[0].targetType == MetricTargetType::kValue);
    CHECK((*def)->activationThreshold() == 3);
  }
  SECTION("Utilization is rejected") {
    auto config = scalerConfig("kafka", kValidMetadata);
    config.metricType = MetricTargetType::kUtilization;
    CHECK_FALSE(factory->parse(config).isOk());
  }
}
