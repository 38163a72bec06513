// The `kafka` trigger's typed configuration (keda-scalers.md §2.1) and its parser. No I/O.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "updraft/scaler.h"
#include "updraft/status.h"

namespace updraft::kafka {

enum class OffsetResetPolicy { kLatest, kEarliest };
enum class SaslType { kNone, kPlaintext, kScramSha256, kScramSha512, kOAuthBearer, kGssapi };
enum class TokenProvider { kBearer, kAwsMskIam };

// sarama.KafkaVersion: 0.a.b.c for 0.x releases, a.b.c otherwise.
struct KafkaVersion {
  unsigned major = 1, minor = 0, veryMinor = 0, patch = 0;
  bool operator<(const KafkaVersion& o) const;
  std::string toString() const;  // "1.0.0" / "0.10.2.1"
};

// sarama.ParseKafkaVersion: "0.10.2.1" or "2.8.0" (at least 5 characters). Error text as sarama's:
// "invalid version `1.2.3.4`".
Result<KafkaVersion> parseKafkaVersion(std::string_view s);

// KEDA's parsePartitionLimitation: "1,2,5-7" (elements and range bounds trimmed, Go ParseInt with
// 32 bits). Error texts: "invalid partition limitation: <element>", "invalid partition limitation
// range: <element>".
Result<std::vector<int32_t>> parsePartitionLimitation(std::string_view s);

struct AwsAuthorization {
  bool podIdentity = false;  // podIdentityProvider aws (or identityOwner operator)
  std::string roleArn;       // awsRoleArn
  std::string accessKeyId;   // awsAccessKeyID / awsAccessKeyId
  std::string secretAccessKey;
  std::string sessionToken;
};

struct KafkaSettings {
  std::vector<std::string> bootstrapServers;
  std::string group;
  std::string topic;  // empty: every topic the group has committed offsets for
  // Only these partitions count when partitionLimited (KEDA: a non-nil list; "5-3" gives an empty
  // one, which matches no partition). Never set without a topic.
  bool partitionLimited = false;
  std::vector<int32_t> partitionLimitation;
  int64_t lagThreshold = 10;
  int64_t activationLagThreshold = 0;
  OffsetResetPolicy offsetResetPolicy = OffsetResetPolicy::kLatest;
  bool allowIdleConsumers = false;
  bool excludePersistentLag = false;
  bool scaleToZeroOnInvalidOffset = false;
  bool limitToPartitionsWithLag = false;
  bool ensureEvenDistributionOfPartitions = false;
  bool fullMetadata = true;
  KafkaVersion version;  // sarama.V1_0_0_0 unless `version` is given

  // TLS (values from authParams; never printed).
  bool enableTls = false;
  bool unsafeSsl = false;
  std::string ca, cert, key, keyPassword;

  // SASL (values from authParams; never printed).
  SaslType sasl = SaslType::kNone;
  std::string username, password;
  TokenProvider tokenProvider = TokenProvider::kBearer;
  std::vector<std::string> scopes;  // KEDA: strings.Split(scopes, ",")
  std::string oauthTokenEndpointUri;
  std::vector<std::pair<std::string, std::string>> oauthExtensions;
  std::string keytab, realm, kerberosConfig, kerberosServiceName;
  bool kerberosDisableFast = false;
  std::string awsRegion;
  AwsAuthorization aws;

  int triggerIndex = 0;

  // "kafka-<topic>" or "kafka-<consumerGroup>-topics" (before normalization and index prefix).
  std::string metricBaseName() const;
};

// Parses and validates with KEDA's rules; every problem found, joined with "; ".
Result<KafkaSettings> parseKafkaSettings(const ScalerConfig& config);

const char* saslTypeName(SaslType t);

}  // namespace updraft::kafka
