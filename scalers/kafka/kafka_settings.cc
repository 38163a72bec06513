#include "kafka/kafka_settings.h"

#include <cctype>
#include <limits>

#include "updraft/metadata.h"

namespace updraft::kafka {
namespace {

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (true) {
    size_t end = s.find(sep, start);
    if (end == std::string_view::npos) {
      out.push_back(s.substr(start));
      return out;
    }
    out.push_back(s.substr(start, end - start));
    start = end + 1;
  }
}

bool allDigits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!std::isdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

// Go's strconv.ParseInt(s, 10, 32): optional sign, decimal digits (leading zeros allowed).
std::optional<int32_t> parseGoInt32(std::string_view s) {
  bool negative = false;
  if (!s.empty() && (s[0] == '+' || s[0] == '-')) {
    negative = s[0] == '-';
    s.remove_prefix(1);
  }
  if (!allDigits(s)) return std::nullopt;
  int64_t v = 0;
  for (char c : s) {
    v = v * 10 + (c - '0');
    if (v > int64_t{1} << 31) return std::nullopt;
  }
  if (negative) v = -v;
  if (v < std::numeric_limits<int32_t>::min() || v > std::numeric_limits<int32_t>::max()) {
    return std::nullopt;
  }
  return static_cast<int32_t>(v);
}

// fmt.Sscanf "%d" into a uint: digits that fit.
std::optional<unsigned> parseUint(std::string_view s) {
  if (!allDigits(s)) return std::nullopt;
  uint64_t v = 0;
  for (char c : s) {
    v = v * 10 + static_cast<uint64_t>(c - '0');
    if (v > std::numeric_limits<unsigned>::max()) return std::nullopt;
  }
  return static_cast<unsigned>(v);
}

}  // namespace

bool KafkaVersion::operator<(const KafkaVersion& o) const {
  if (major != o.major) return major < o.major;
  if (minor != o.minor) return minor < o.minor;
  if (veryMinor != o.veryMinor) return veryMinor < o.veryMinor;
  return patch < o.patch;
}

std::string KafkaVersion::toString() const {
  if (major == 0) {
    return "0." + std::to_string(minor) + "." + std::to_string(veryMinor) + "." +
           std::to_string(patch);
  }
  return std::to_string(major) + "." + std::to_string(minor) + "." + std::to_string(veryMinor);
}

Result<KafkaVersion> parseKafkaVersion(std::string_view s) {
  const std::string invalid = "invalid version `" + std::string(s) + "`";
  if (s.size() < 5) return Status::invalidArgument(invalid);
  auto parts = split(s, '.');
  KafkaVersion v;
  if (s[0] == '0') {
    // ^0\.\d+\.\d+\.\d+$
    if (parts.size() != 4 || parts[0] != "0") return Status::invalidArgument(invalid);
    auto a = parseUint(parts[1]), b = parseUint(parts[2]), c = parseUint(parts[3]);
    if (!a || !b || !c) return Status::invalidArgument(invalid);
    v = KafkaVersion{0, *a, *b, *c};
  } else {
    // ^\d+\.\d+\.\d+$
    if (parts.size() != 3) return Status::invalidArgument(invalid);
    auto a = parseUint(parts[0]), b = parseUint(parts[1]), c = parseUint(parts[2]);
    if (!a || !b || !c) return Status::invalidArgument(invalid);
    v = KafkaVersion{*a, *b, *c, 0};
  }
  return v;
}

Result<std::vector<int32_t>> parsePartitionLimitation(std::string_view s) {
  std::vector<int32_t> out;
  for (std::string_view part : split(s, ',')) {
    part = metadata::trim(part);
    if (part.find('-') != std::string_view::npos) {
      auto bounds = split(part, '-');
      if (bounds.size() != 2) {
        return Status::invalidArgument("invalid partition limitation range: " + std::string(part));
      }
      auto lo = parseGoInt32(metadata::trim(bounds[0]));
      auto hi = parseGoInt32(metadata::trim(bounds[1]));
      if (!lo || !hi) {
        return Status::invalidArgument("invalid partition limitation: " + std::string(part));
      }
      // KEDA appends every value of the range; a partition id is never above 2^31, but keep a
      // sane bound so "0-2147483647" cannot exhaust memory.
      if (static_cast<int64_t>(*hi) - *lo >= 1'000'000) {
        return Status::invalidArgument("invalid partition limitation range: " + std::string(part) +
                                       " (more than 1000000 partitions)");
      }
      for (int64_t i = *lo; i <= *hi; ++i) out.push_back(static_cast<int32_t>(i));
    } else {
      auto v = parseGoInt32(part);
      if (!v) return Status::invalidArgument("invalid partition limitation: " + std::string(part));
      out.push_back(*v);
    }
  }
  return out;
}

const char* saslTypeName(SaslType t) {
  switch (t) {
    case SaslType::kNone:
      return "none";
    case SaslType::kPlaintext:
      return "plaintext";
    case SaslType::kScramSha256:
      return "scram_sha256";
    case SaslType::kScramSha512:
      return "scram_sha512";
    case SaslType::kOAuthBearer:
      return "oauthbearer";
    case SaslType::kGssapi:
      return "gssapi";
  }
  return "?";
}

std::string KafkaSettings::metricBaseName() const {
  return topic.empty() ? "kafka-" + group + "-topics" : "kafka-" + topic;
}

Result<KafkaSettings> parseKafkaSettings(const ScalerConfig& config) {
  const Opt kTmEnv{.order = {From::kTriggerMetadata, From::kResolvedEnv}};
  const Opt kTmAp{.order = {From::kTriggerMetadata, From::kAuthParams}};
  const Opt kAp{.order = {From::kAuthParams}, .optional = true};
  // In offline validation authParams (and resolvedEnv) are not resolved: checks that need their
  // values are skipped, as MetadataReader does for required parameters.
  const bool unresolved = config.secretsUnresolved;
  auto tmHas = [&](const char* name) {
    auto it = config.triggerMetadata.find(name);
    return it != config.triggerMetadata.end() && !metadata::trim(it->second).empty();
  };

  KafkaSettings s;
  s.triggerIndex = config.triggerIndex;
  MetadataReader r(config);

  if (auto v = r.list("bootstrapServers", kTmEnv)) s.bootstrapServers = *v;
  if (auto v = r.string("consumerGroup", kTmEnv)) s.group = *v;
  Opt topicOpt = kTmEnv;
  topicOpt.optional = true;
  if (auto v = r.string("topic", topicOpt)) s.topic = *v;
  // A topic named through topicFromEnv that offline validation cannot resolve still counts as set.
  const bool topicSet = !s.topic.empty() || (unresolved && tmHas("topicFromEnv"));
  auto partitionLimitation = r.string("partitionLimitation", {.optional = true});
  if (auto v = r.int64("lagThreshold", {.defaultValue = "10"})) s.lagThreshold = *v;
  if (auto v = r.int64("activationLagThreshold", {.defaultValue = "0"})) {
    s.activationLagThreshold = *v;
  }
  if (auto v = r.enumValue("offsetResetPolicy", {"latest", "earliest"}, {.defaultValue = "latest"}))
    s.offsetResetPolicy =
        *v == "earliest" ? OffsetResetPolicy::kEarliest : OffsetResetPolicy::kLatest;
  auto flag = [&](const char* name, bool& out, const char* def) {
    if (auto v = r.boolean(name, {.defaultValue = def})) out = *v;
  };
  flag("allowIdleConsumers", s.allowIdleConsumers, "false");
  flag("excludePersistentLag", s.excludePersistentLag, "false");
  flag("scaleToZeroOnInvalidOffset", s.scaleToZeroOnInvalidOffset, "false");
  flag("limitToPartitionsWithLag", s.limitToPartitionsWithLag, "false");
  flag("ensureEvenDistributionOfPartitions", s.ensureEvenDistributionOfPartitions, "false");
  flag("fullMetadata", s.fullMetadata, "true");
  auto version = r.string("version", {.optional = true});

  // TLS.
  Opt tlsOpt = kTmAp;
  tlsOpt.defaultValue = "disable";
  auto tls = r.enumValue("tls", {"enable", "disable"}, tlsOpt);
  flag("unsafeSsl", s.unsafeSsl, "false");
  s.ca = r.string("ca", kAp).value_or("");
  s.cert = r.string("cert", kAp).value_or("");
  s.key = r.string("key", kAp).value_or("");
  s.keyPassword = r.string("keyPassword", kAp).value_or("");

  // SASL.
  Opt saslOpt = kTmAp;
  saslOpt.optional = true;
  auto sasl = r.enumValue(
      "sasl", {"none", "plaintext", "scram_sha256", "scram_sha512", "oauthbearer", "gssapi"},
      saslOpt);
  s.username = r.string("username", kAp).value_or("");
  s.password = r.string("password", kAp).value_or("");
  auto tokenProvider = r.enumValue("saslTokenProvider", {"bearer", "aws_msk_iam"}, saslOpt);
  auto scopes = r.string("scopes", kAp);
  s.oauthTokenEndpointUri = r.string("oauthTokenEndpointUri", kAp).value_or("");
  auto extensions = r.string("oauthExtensions", kAp);
  s.keytab = r.string("keytab", kAp).value_or("");
  s.realm = r.string("realm", kAp).value_or("");
  s.kerberosConfig = r.string("kerberosConfig", kAp).value_or("");
  s.kerberosServiceName = r.string("kerberosServiceName", kAp).value_or("");
  if (auto v = r.boolean("kerberosDisableFAST",
                         {.order = {From::kAuthParams}, .defaultValue = "false"})) {
    s.kerberosDisableFast = *v;
  }
  s.awsRegion = r.string("awsRegion", {.optional = true}).value_or("");

  // ---- KEDA's Validate() ----
  if (s.lagThreshold <= 0) {
    r.addError("\"lagThreshold\" must be positive number");
  }
  if (s.activationLagThreshold < 0) {
    r.addError("\"activationLagThreshold\" must be a non-negative number");
  }
  // Parsed (and its errors reported) even without a topic, then dropped (KEDA sets it to nil).
  if (partitionLimitation) {
    auto limits = parsePartitionLimitation(*partitionLimitation);
    if (!limits.isOk()) {
      r.addError(limits.status().message());
    } else if (topicSet) {
      s.partitionLimited = true;
      s.partitionLimitation = std::move(*limits);
    }
  }
  if (s.allowIdleConsumers && s.limitToPartitionsWithLag) {
    r.addError("allowIdleConsumers and limitToPartitionsWithLag cannot be set simultaneously");
  }
  if (!topicSet && s.limitToPartitionsWithLag) {
    r.addError("topic must be specified when using limitToPartitionsWithLag");
  }
  if (s.limitToPartitionsWithLag && s.ensureEvenDistributionOfPartitions) {
    r.addError(
        "limitToPartitionsWithLag and ensureEvenDistributionOfPartitions cannot be set "
        "simultaneously");
  }
  if (!topicSet && s.ensureEvenDistributionOfPartitions) {
    r.addError("topic must be specified when using ensureEvenDistributionOfPartitions");
  }
  if (!topicSet && !s.fullMetadata) {
    r.addError("topic must be specified when using fullMetadata=false");
  }

  // parseTLS: cert and key come together.
  s.enableTls = tls && *tls == "enable";
  if (s.enableTls && !unresolved) {
    if (!s.cert.empty() && s.key.empty()) r.addError("key must be provided with cert");
    if (!s.key.empty() && s.cert.empty()) r.addError("cert must be provided with key");
  }
  // tls may still come from the TriggerAuthentication when secrets are unresolved.
  const bool tlsKnown = !unresolved || tmHas("tls");

  // parseSASL.
  const std::string saslText = sasl.value_or("none");
  if (saslText == "plaintext" || saslText == "scram_sha256" || saslText == "scram_sha512") {
    s.sasl = saslText == "plaintext"      ? SaslType::kPlaintext
             : saslText == "scram_sha256" ? SaslType::kScramSha256
                                          : SaslType::kScramSha512;
    if (!unresolved) {
      if (s.username.empty()) {
        r.addError("no username given");
      } else if (s.password.empty()) {
        r.addError("no password given");
      }
    }
  } else if (saslText == "oauthbearer") {
    s.sasl = SaslType::kOAuthBearer;
    const std::string prefix = "error parsing OAuth token provider configuration: ";
    s.tokenProvider = tokenProvider.value_or("bearer") == "aws_msk_iam" ? TokenProvider::kAwsMskIam
                                                                        : TokenProvider::kBearer;
    if (s.tokenProvider == TokenProvider::kBearer) {
      if (!unresolved) {
        if (s.username.empty()) {
          r.addError(prefix + "no username given");
        } else if (s.password.empty()) {
          r.addError(prefix + "no password given");
        } else if (s.oauthTokenEndpointUri.empty()) {
          r.addError(prefix + "no oauth token endpoint uri given");
        }
      }
      const std::string scopesText = scopes.value_or("");
      for (auto scope : split(scopesText, ',')) s.scopes.emplace_back(scope);
      if (extensions) {
        for (auto ext : split(*extensions, ',')) {
          auto kv = split(ext, '=');
          if (kv.size() != 2) {
            r.addError(prefix + "invalid OAuthBearer extension, must be of format key=value");
            break;
          }
          s.oauthExtensions.emplace_back(std::string(kv[0]), std::string(kv[1]));
        }
      }
    } else {
      if (!s.enableTls && tlsKnown) {
        r.addError(prefix + "TLS is required for AWS MSK authentication");
      } else if (s.awsRegion.empty()) {
        r.addError(prefix + "no awsRegion given");
      } else if (!unresolved) {
        // awsutils.GetAwsAuthorization.
        const auto& ap = config.authParams;
        auto get = [](const StringMap& m, const char* k) {
          auto it = m.find(k);
          return it == m.end() ? std::string() : std::string(metadata::trim(it->second));
        };
        auto fromEnv = [&](const char* k) {
          auto name = get(config.triggerMetadata, k);
          return name.empty() ? std::string() : get(config.resolvedEnv, name.c_str());
        };
        const std::string owner = get(config.triggerMetadata, "identityOwner");
        if (config.podIdentityProvider == "aws" || owner == "operator") {
          s.aws.podIdentity = true;
          s.aws.roleArn = get(ap, "awsRoleArn");
        } else if (owner.empty() || owner == "pod") {
          std::string keyId = get(ap, "awsAccessKeyID");
          if (keyId.empty()) keyId = get(ap, "awsAccessKeyId");
          if (!get(ap, "awsRoleArn").empty()) {
            s.aws.roleArn = get(ap, "awsRoleArn");
          } else if (!keyId.empty() && !get(ap, "awsSecretAccessKey").empty()) {
            s.aws.accessKeyId = keyId;
            s.aws.secretAccessKey = get(ap, "awsSecretAccessKey");
            s.aws.sessionToken = get(ap, "awsSessionToken");
          } else {
            s.aws.accessKeyId = fromEnv("awsAccessKeyIDFromEnv");
            s.aws.secretAccessKey = fromEnv("awsSecretAccessKeyFromEnv");
            s.aws.sessionToken = fromEnv("awsSessionTokenFromEnv");
            if (s.aws.accessKeyId.empty()) {
              r.addError("error getting AWS authorization: awsAccessKeyID not found");
            } else if (s.aws.secretAccessKey.empty()) {
              r.addError("error getting AWS authorization: awsSecretAccessKey not found");
            }
          }
        }
      }
    }
  } else if (saslText == "gssapi") {
    s.sasl = SaslType::kGssapi;
    if (!unresolved) {
      if (s.username.empty()) {
        r.addError("no username given");
      } else if (s.password.empty() == s.keytab.empty()) {
        r.addError(
            "exactly one of 'password' or 'keytab' must be provided for GSSAPI authentication");
      } else if (s.realm.empty()) {
        r.addError("no realm given");
      } else if (s.kerberosConfig.empty()) {
        r.addError("no Kerberos configuration file (kerberosConfig) given");
      }
    }
  }

  // sarama.ParseKafkaVersion (after the typed config, as KEDA does).
  if (version) {
    auto v = parseKafkaVersion(*version);
    if (v.isOk()) {
      s.version = *v;
    } else {
      r.addError("error parsing kafka version: " + v.status().message());
    }
  }

  auto metricType = externalMetricTargetType(config);
  if (!metricType.isOk()) r.addError(metricType.status().message());
  UPDRAFT_RETURN_IF_ERROR(r.finish());
  return s;
}

}  // namespace updraft::kafka
