// azure-servicebus: metadata parsing (KEDA's rules and messages), metric specs, createScaler
// checks.
#include <catch2/catch.hpp>
#include <cstdlib>
#include <string>

#include "scalers/test_server.h"
#include "updraft/scaler.h"

using namespace updraft;
using updraft::testing::scalerConfig;

namespace {

const std::string kConn =
    "Endpoint=sb://myns.servicebus.windows.net/;SharedAccessKeyName=RootManageSharedAccessKey;"
    "SharedAccessKey=S3cr3tK3y+/abcdefghijklmnopqrstuvwxyz0123=";
const std::string kSecretKey = "S3cr3tK3y+/abcdefghijklmnopqrstuvwxyz0123=";

struct Parsed {
  Result<std::unique_ptr<ScalerDefinition>> def;
  std::string error() const { return def.isOk() ? std::string() : def.status().message(); }
};

ScalerConfig config(StringMap md, StringMap auth = {{"connection", kConn}}, StringMap env = {},
                    std::string podIdentity = "") {
  ScalerConfig c = scalerConfig("azure-servicebus", std::move(md), std::move(auth), std::move(env));
  c.podIdentityProvider = std::move(podIdentity);
  return c;
}

Result<std::unique_ptr<ScalerDefinition>> parse(const ScalerConfig& c) {
  auto factory = ScalerRegistry::global().find("azure-servicebus");
  REQUIRE(factory);
  return factory->parse(c);
}

std::string parseError(const ScalerConfig& c) {
  auto def = parse(c);
  REQUIRE_FALSE(def.isOk());
  CHECK(def.status().code() == StatusCode::kInvalidArgument);
  return def.status().message();
}

MetricSpec onlySpec(const ScalerConfig& c) {
  auto def = parse(c);
  INFO(def.status().message());
  REQUIRE(def.isOk());
  auto specs = (*def)->metricSpecs();
  REQUIRE(specs.size() == 1);
  return specs[0];
}

Status createError(const ScalerConfig& c) {
  auto def = parse(c);
  INFO(def.status().message());
  REQUIRE(def.isOk());
  auto scaler = (*def)->createScaler(ScalerContext{});
  REQUIRE_FALSE(scaler.isOk());
  return scaler.status();
}

}  // namespace

TEST_CASE("azure-servicebus: the factory is registered under KEDA's trigger type") {
  auto factory = ScalerRegistry::global().find("azure-servicebus");
  REQUIRE(factory);
  CHECK(factory->type() == "azure-servicebus");
}

TEST_CASE("azure-servicebus: entity rules (KEDA's Validate, first problem only)") {
  struct Row {
    StringMap md;
    std::string error;  // empty: valid
  };
  const std::vector<Row> rows = {
      {{}, "no service bus entity type set"},
      {{{"subscriptionName", "sub"}}, "no service bus entity type set"},
      {{{"queueName", "  "}}, "no service bus entity type set"},  // blank counts as absent
      {{{"queueName", "orders"}}, ""},
      {{{"topicName", "events"}, {"subscriptionName", "billing"}}, ""},
      {{{"queueName", "orders"}, {"subscriptionName", "billing"}},
       "subscription name provided with queue name"},
      {{{"queueName", "orders"}, {"topicName", "events"}},
       "both topic and queue name metadata provided"},
      {{{"queueName", "orders"}, {"topicName", "events"}, {"subscriptionName", "billing"}},
       "subscription name provided with queue name"},
      {{{"topicName", "events"}}, "no subscription name provided with topic name"},
      // Names are not regexes unless useRegex is true.
      {{{"queueName", "orders-("}}, ""},
      {{{"queueName", "orders-("}, {"useRegex", "true"}},
       "queueName is not a valid regular expression (missing closing ))"},
      {{{"topicName", "t"}, {"subscriptionName", "sub-[a-"}, {"useRegex", "true"}},
       "subscriptionName is not a valid regular expression (missing closing ])"},
      {{{"queueName", "orders-.*"}, {"useRegex", "true"}}, ""},
      {{{"queueName", "(?i)orders"}, {"useRegex", "true"}}, ""},
      {{{"queueName", "orders\\pL"}, {"useRegex", "true"}},
       "queueName is a regular expression updraft cannot evaluate: Unicode character classes "
       "(\\p, \\P) are not supported"},
  };
  for (const auto& row : rows) {
    INFO("metadata: " << row.md.size() << " keys, expected: " << row.error);
    auto def = parse(config(row.md));
    if (row.error.empty()) {
      INFO(def.status().message());
      CHECK(def.isOk());
    } else {
      REQUIRE_FALSE(def.isOk());
      CHECK(def.status().message() == row.error);
    }
  }
}

TEST_CASE("azure-servicebus: numbers, booleans and the operation enum") {
  auto spec = onlySpec(config({{"queueName", "orders"}}));
  CHECK(spec.metricName == "s0-azure-servicebus-orders");
  CHECK(spec.source == MetricSpec::Source::kExternal);
  CHECK(spec.targetType == MetricTargetType::kAverageValue);
  CHECK(spec.target == 5);  // messageCount defaults to 5
  auto def = parse(config({{"queueName", "orders"}}));
  CHECK((*def)->activationThreshold() == 0);

  def = parse(
      config({{"queueName", "orders"}, {"messageCount", " 10 "}, {"activationMessageCount", "3"}}));
  REQUIRE(def.isOk());
  CHECK((*def)->metricSpecs()[0].target == 10);
  CHECK((*def)->activationThreshold() == 3);

  // KEDA does not check messageCount > 0.
  CHECK(onlySpec(config({{"queueName", "orders"}, {"messageCount", "0"}})).target == 0);

  CHECK(parseError(config({{"queueName", "orders"}, {"messageCount", "abc"}})) ==
        "parameter \"messageCount\": \"abc\" is not a valid integer");
  CHECK(parseError(config({{"queueName", "orders"}, {"messageCount", "2.5"}})) ==
        "parameter \"messageCount\": \"2.5\" is not a valid integer");
  CHECK(parseError(config({{"queueName", "orders"}, {"activationMessageCount", "1e3"}})) ==
        "parameter \"activationMessageCount\": \"1e3\" is not a valid integer");
  CHECK(parseError(config({{"queueName", "orders"}, {"useRegex", "yes"}})) ==
        "parameter \"useRegex\": \"yes\" is not a valid boolean (use true or false)");
  // operation is validated even without useRegex.
  CHECK(parseError(config({{"queueName", "orders"}, {"operation", "min"}})) ==
        "parameter \"operation\": \"min\" must be one of sum, max, avg");
  for (const char* op : {"sum", "max", "avg"}) {
    CHECK(
        parse(config({{"queueName", "orders.*"}, {"useRegex", "true"}, {"operation", op}})).isOk());
  }
  // Field errors and the entity rule are all reported.
  CHECK(parseError(config({{"messageCount", "x"}})) ==
        "parameter \"messageCount\": \"x\" is not a valid integer; no service bus entity type set");
}

TEST_CASE("azure-servicebus: metric names (KEDA's, normalized, with the trigger index)") {
  CHECK(onlySpec(config({{"topicName", "events"}, {"subscriptionName", "billing"}})).metricName ==
        "s0-azure-servicebus-events");
  CHECK(onlySpec(config({{"queueName", "orders-.*"}, {"useRegex", "true"}})).metricName ==
        "s0-azure-servicebus-queue-regex");
  CHECK(onlySpec(
            config({{"topicName", "events"}, {"subscriptionName", "bill.*"}, {"useRegex", "true"}}))
            .metricName == "s0-azure-servicebus-topic-regex");
  auto c = config({{"queueName", "orders.v1/eu:x"}});
  c.triggerIndex = 2;
  CHECK(onlySpec(c).metricName == "s2-azure-servicebus-orders-v1-eu-x");

  auto v = config({{"queueName", "orders"}, {"messageCount", "7"}});
  v.metricType = MetricTargetType::kValue;
  auto spec = onlySpec(v);
  CHECK(spec.targetType == MetricTargetType::kValue);
  CHECK(spec.target == 7);

  auto u = config({{"queueName", "orders"}});
  u.metricType = MetricTargetType::kUtilization;
  CHECK(parseError(u) ==
        "error getting scaler metric type: 'Utilization' metric type is unsupported for external "
        "metrics, allowed values are 'Value' or 'AverageValue'");
}

TEST_CASE("azure-servicebus: the connection comes from authParams, else connectionFromEnv") {
  CHECK(parseError(config({{"queueName", "orders"}}, {})) == "no connection setting given");
  CHECK(parseError(config({{"queueName", "orders"}}, {{"connection", "  \n"}})) ==
        "no connection setting given");
  CHECK(parse(config({{"queueName", "orders"}, {"connectionFromEnv", "SB_CONN"}}, {},
                     {{"SB_CONN", kConn}}))
            .isOk());
  CHECK(parseError(config({{"queueName", "orders"}, {"connectionFromEnv", "SB_CONN"}}, {}, {})) ==
        "no connection setting given");
  // A connection in triggerMetadata is not read (KEDA: order=authParams;resolvedEnv).
  CHECK(parseError(config({{"queueName", "orders"}, {"connection", kConn}}, {})) ==
        "no connection setting given");
  // authParams wins over resolvedEnv: the broken one in authParams is the one used.
  Status s = createError(config({{"queueName", "orders"}, {"connectionFromEnv", "SB_CONN"}},
                                {{"connection", "Endpoint=sb://x/;SharedAccessKeyName=k"}},
                                {{"SB_CONN", kConn}}));
  CHECK(s.message() ==
        "azure-servicebus: the connection string is not valid: key \"SharedAccessKey\" or "
        "\"SharedAccessSignature\" cannot both be empty");
  // podIdentity none is the same as no pod identity.
  CHECK(parseError(config({{"queueName", "orders"}}, {}, {}, "none")) ==
        "no connection setting given");
  // Offline validation: the TriggerAuthentication may supply it.
  auto offline = config({{"queueName", "orders"}}, {});
  offline.secretsUnresolved = true;
  CHECK(parse(offline).isOk());
}

TEST_CASE("azure-servicebus: connection strings are checked when the scaler is created") {
  struct Row {
    std::string conn;
    std::string error;
  };
  const std::vector<Row> rows = {
      {"Endpoint=sb://myns.servicebus.windows.net/;SharedAccessKeyName=k;SharedAccessKey",
       "failed parsing connection string due to unmatched key value separated by '='"},
      {"SharedAccessKeyName=k;SharedAccessKey=" + kSecretKey, "key \"Endpoint\" must not be empty"},
      {"Endpoint=myns.servicebus.windows.net;SharedAccessKeyName=k;SharedAccessKey=" + kSecretKey,
       "key \"Endpoint\" must not be empty"},
      {"Endpoint=sb://my ns/;SharedAccessKeyName=k;SharedAccessKey=" + kSecretKey,
       "failed parsing connection string due to an incorrectly formatted Endpoint value"},
      {"Endpoint=sb://myns.servicebus.windows.net/;SharedAccessKey=" + kSecretKey,
       "key \"SharedAccessKeyName\" must not be empty"},
      {"Endpoint=sb://myns.servicebus.windows.net/;SharedAccessKeyName=k",
       "key \"SharedAccessKey\" or \"SharedAccessSignature\" cannot both be empty"},
  };
  for (const auto& row : rows) {
    INFO(row.error);
    Status s = createError(config({{"queueName", "orders"}}, {{"connection", row.conn}}));
    CHECK(s.code() == StatusCode::kInvalidArgument);
    CHECK(s.message() == "azure-servicebus: the connection string is not valid: " + row.error);
    CHECK(s.message().find(kSecretKey) == std::string::npos);
  }
  // Accepted: keys in any case, a trailing ';', an EntityPath, a SharedAccessSignature alone.
  for (const std::string& conn :
       {std::string("endpoint=sb://myns.servicebus.windows.net/;sharedaccesskeyname=k;"
                    "sharedaccesskey=") +
            kSecretKey + ";",
        kConn + ";EntityPath=orders",
        std::string("Endpoint=sb://myns.servicebus.windows.net/;SharedAccessSignature="
                    "SharedAccessSignature sr=x&sig=y&se=1&skn=k")}) {
    auto def = parse(config({{"queueName", "orders"}}, {{"connection", conn}}));
    REQUIRE(def.isOk());
    auto scaler = (*def)->createScaler(ScalerContext{});
    INFO(scaler.status().message());
    CHECK(scaler.isOk());
  }
}

TEST_CASE("azure-servicebus: pod identity azure-workload") {
  // Outside a pod set up by the workload identity webhook, createScaler says what is missing.
  for (const char* v : {"AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_FEDERATED_TOKEN_FILE",
                        "AZURE_AUTHORITY_HOST"}) {
    ::unsetenv(v);
  }
  const StringMap queue = {{"queueName", "orders"}, {"namespace", "myns"}};
  // No connection needed; namespace is.
  CHECK(parseError(config({{"queueName", "orders"}}, {}, {}, "azure-workload")) ==
        "namespace are required when using pod identity");
  auto fqdn = [&](StringMap md) {
    Status s = createError(config(std::move(md), {}, {}, "azure-workload"));
    CHECK(s.code() == StatusCode::kFailedPrecondition);
    CHECK(s.message().find("): Azure AD workload identity needs AZURE_CLIENT_ID, "
                           "AZURE_TENANT_ID and AZURE_FEDERATED_TOKEN_FILE") != std::string::npos);
    auto open = s.message().find("namespace \"");
    REQUIRE(open != std::string::npos);
    auto close = s.message().find('"', open + 11);
    return s.message().substr(open + 11, close - open - 11);
  };
  CHECK(fqdn(queue) == "myns.servicebus.windows.net");
  auto with = [&](StringMap extra) {
    StringMap md = queue;
    for (auto& [k, v] : extra) md[k] = v;
    return md;
  };
  CHECK(fqdn(with({{"cloud", "AzurePublicCloud"}})) == "myns.servicebus.windows.net");
  CHECK(fqdn(with({{"cloud", "azurechinacloud"}})) == "myns.servicebus.chinacloudapi.cn");
  CHECK(fqdn(with({{"cloud", "AzureUSGovernmentCloud"}})) == "myns.servicebus.usgovcloudapi.net");
  CHECK(fqdn(with({{"cloud", "AzureGermanCloud"}})) == "myns.servicebus.cloudapi.de");
  CHECK(fqdn(with({{"cloud", "Private"}, {"endpointSuffix", "sb.contoso.internal"}})) ==
        "myns.sb.contoso.internal");
  // endpointSuffix is only honoured for the Private cloud.
  CHECK(fqdn(with({{"endpointSuffix", "sb.contoso.internal"}})) == "myns.servicebus.windows.net");
  CHECK(parseError(config(with({{"cloud", "private"}}), {}, {}, "azure-workload")) ==
        "endpointSuffix must be provided for Private cloud type");
  CHECK(parseError(config(with({{"cloud", "Mars"}}), {}, {}, "azure-workload")) ==
        "invalid cloud environment Mars");
  // Without workload identity the cloud is not consulted (the connection string has the host).
  CHECK(parse(config(with({{"cloud", "Mars"}}))).isOk());

  CHECK(parseError(config(queue, {}, {}, "aws")) ==
        "azure service bus doesn't support pod identity aws");
}

TEST_CASE("azure-servicebus: messages never contain the connection string or the key") {
  const std::vector<ScalerConfig> configs = {
      config({{"messageCount", "x"}}),
      config({{"queueName", "a"}, {"topicName", "b"}}),
      config({{"queueName", "a"}, {"connectionFromEnv", "SB"}}, {}, {{"SB", "Endpoint=" + kConn}}),
  };
  for (const auto& c : configs) {
    auto def = parse(c);
    std::string msg = def.isOk() ? std::string() : def.status().message();
    if (def.isOk()) {
      auto scaler = (*def)->createScaler(ScalerContext{});
      if (!scaler.isOk()) msg = scaler.status().message();
    }
    CHECK(msg.find(kSecretKey) == std::string::npos);
    CHECK(msg.find("SharedAccessKey=") == std::string::npos);
  }
}
