// The prometheus trigger's metadata: every parameter, default, auth combination and error of
// KEDA's scaler (keda-scalers.md §2.3), with secrets never in a message.
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "prom_test_util.h"

using namespace updraft;
using updraft::testing::LiveScaler;
using updraft::testing::liveScaler;
using updraft::testing::promConfig;
using updraft::testing::prometheusFactory;
using updraft::testing::readTestdata;

namespace {

// Every secret below contains "SECRET"; no message may.
const StringMap kSecrets = {{"bearerToken", "tok-SECRET-1"},
                            {"password", "pw-SECRET-2"},
                            {"clientSecret", "cs-SECRET-3"},
                            {"customAuthValue", "cv-SECRET-4"},
                            {"apiKey", "api-SECRET-5"},
                            {"key", "key-SECRET-6"},
                            {"endpointParams", "a=SECRET;b=1"},
                            {"cert", "cert-SECRET-7"},
                            {"GoogleApplicationCredentials", "{\"SECRET\":1}"}};

StringMap base(StringMap extra = {}) {
  StringMap m = {
      {"serverAddress", "http://127.0.0.1:9090"}, {"query", "sum(up)"}, {"threshold", "10"}};
  for (auto& [k, v] : extra) m[k] = v;
  return m;
}

StringMap secrets(std::initializer_list<const char*> names, StringMap extra = {}) {
  StringMap out;
  for (const char* n : names) out[n] = kSecrets.at(n);
  for (auto& [k, v] : extra) out[k] = v;
  return out;
}

struct Row {
  const char* name;
  StringMap metadata;
  StringMap auth;
  const char* error;  // "" = parses; else every part separated by '|' must be in the message
  std::string podIdentity = "";
};

void checkRow(const Row& row) {
  INFO(row.name);
  ScalerConfig config = promConfig(row.metadata, row.auth);
  config.podIdentityProvider = row.podIdentity;
  auto def = prometheusFactory().parse(config);
  if (std::string(row.error).empty()) {
    INFO(def.status().message());
    CHECK(def.isOk());
    return;
  }
  REQUIRE_FALSE(def.isOk());
  const std::string& msg = def.status().message();
  INFO(msg);
  CHECK(def.status().code() == StatusCode::kInvalidArgument);
  std::string expected = row.error;
  size_t start = 0;
  while (start <= expected.size()) {
    size_t bar = expected.find('|', start);
    if (bar == std::string::npos) bar = expected.size();
    CHECK_THAT(msg, Catch::Contains(expected.substr(start, bar - start)));
    start = bar + 1;
  }
  CHECK_THAT(msg, !Catch::Contains("SECRET"));
}

}  // namespace

TEST_CASE("prometheus: a valid trigger gives KEDA's metric spec and activation") {
  auto config = promConfig(base({{"activationThreshold", "2.5"}, {"metricName", "ignored"}}));
  config.triggerIndex = 3;
  auto def = prometheusFactory().parse(config);
  REQUIRE(def.isOk());
  auto specs = def.value()->metricSpecs();
  REQUIRE(specs.size() == 1);
  CHECK(specs[0].source == MetricSpec::Source::kExternal);
  CHECK(specs[0].metricName == "s3-prometheus");  // metricName is ignored, as in KEDA
  CHECK(specs[0].target == 10);
  CHECK(specs[0].targetType == MetricTargetType::kAverageValue);
  CHECK(def.value()->activationThreshold() == 2.5);

  config = promConfig(base({{"threshold", "0.0125"}}));
  config.metricType = MetricTargetType::kValue;
  def = prometheusFactory().parse(config);
  REQUIRE(def.isOk());
  CHECK(def.value()->metricSpecs()[0].targetType == MetricTargetType::kValue);
  CHECK(def.value()->metricSpecs()[0].target == 0.013);  // "%.3f" quantity, as KEDA
  CHECK(def.value()->activationThreshold() == 0);        // default

  def = prometheusFactory().parse(promConfig(base({{"threshold", "0.0004"}})));
  REQUIRE(def.isOk());
  CHECK(def.value()->metricSpecs()[0].target == 0);
  def = prometheusFactory().parse(promConfig(base({{"threshold", " 2.5e1 "}})));
  REQUIRE(def.isOk());
  CHECK(def.value()->metricSpecs()[0].target == 25);
}

TEST_CASE("prometheus: parse table (parameters, auth combinations, errors)") {
  const std::string pem = readTestdata("client.pem");
  const std::string pemKey = readTestdata("client.key");
  const Row rows[] = {
      // ---- accepted ----
      {"minimal", base(), {}, ""},
      {"all plain parameters",
       base({{"activationThreshold", "-1.5"},
             {"namespace", "team-a"},
             {"queryParameters", "dedup=true, partial_response = false"},
             {"customHeaders", "X-Scope-OrgID=org-1,X-Other=v"},
             {"ignoreNullValues", "false"},
             {"unsafeSsl", "true"},
             {"timeout", "1500"},
             {"awsRegion", "eu-west-1"},
             {"identityOwner", "operator"}}),
       {},
       ""},
      {"ignoreNullValues takes Go's ParseBool spellings",
       base({{"ignoreNullValues", "F"}}),
       {},
       ""},
      {"timeout as a Go duration", base({{"timeout", "2m3.5s"}}), {}, ""},
      {"timeout 0 means the global timeout", base({{"timeout", "0"}}), {}, ""},
      {"awsRegion from authParams", base(), {{"awsRegion", "us-east-1"}}, ""},
      {"metricName is silently ignored", base({{"metricName", "http_requests"}}), {}, ""},
      {"bearer", base({{"authModes", "bearer"}}), secrets({"bearerToken"}), ""},
      {"bearer via the token alias and authMode alias",
       base({{"authMode", "bearer"}}),
       {{"token", "tok-SECRET-1"}},
       ""},
      {"authModes from authParams", base(), secrets({"bearerToken"}, {{"authModes", "bearer"}}),
       ""},
      {"basic with an empty password", base({{"authModes", "basic"}}), {{"username", "u"}}, ""},
      {"basic with a password", base({{"authModes", "basic"}}),
       secrets({"password"}, {{"username", "u"}}), ""},
      {"tls without ca", base({{"authModes", "tls"}}), {{"cert", pem}, {"key", pemKey}}, ""},
      {"tls with ca",
       base({{"authModes", "tls"}}),
       {{"cert", pem}, {"key", pemKey}, {"ca", readTestdata("ca.pem")}},
       ""},
      {"custom", base({{"authModes", "custom"}}),
       secrets({"customAuthValue"}, {{"customAuthHeader", "X-Auth"}}), ""},
      {"oauth", base({{"authModes", "oauth"}}),
       secrets({"clientSecret"}, {{"oauthTokenURI", "https://idp/token"},
                                  {"clientID", "id"},
                                  {"scopes", "read, write"},
                                  {"endpointParams", "audience=prom&x=a+b"}}),
       ""},
      {"apiKey is accepted (and, as in KEDA, not sent)", base({{"authModes", "apiKey"}}),
       secrets({"apiKey"}), ""},
      {"several modes, spaces trimmed", base({{"authModes", " tls , bearer ,custom "}}),
       secrets({"bearerToken", "customAuthValue"},
               {{"cert", pem}, {"key", pemKey}, {"customAuthHeader", "X-A"}}),
       ""},
      {"pod identity none with auth", base({{"authModes", "bearer"}}), secrets({"bearerToken"}), "",
       "none"},

      // ---- rejected ----
      {"nothing given",
       {},
       {},
       "missing required parameter \"serverAddress\" in [triggerMetadata]|"
       "missing required parameter \"query\" in [triggerMetadata]|"
       "missing required parameter \"threshold\" in [triggerMetadata]"},
      {"empty values count as absent",
       base({{"query", "  "}}),
       {},
       "missing required parameter \"query\""},
      {"threshold not a number",
       base({{"threshold", "ten"}}),
       {},
       "parameter \"threshold\": \"ten\""},
      {"threshold with a unit", base({{"threshold", "10m"}}), {}, "parameter \"threshold\""},
      {"activationThreshold not a number",
       base({{"activationThreshold", "1,5"}}),
       {},
       "parameter \"activationThreshold\""},
      {"ignoreNullValues not a bool",
       base({{"ignoreNullValues", "yes"}}),
       {},
       "parameter \"ignoreNullValues\": \"yes\""},
      {"unsafeSsl not a bool", base({{"unsafeSsl", "2"}}), {}, "parameter \"unsafeSsl\""},
      {"timeout negative", base({{"timeout", "-1s"}}), {}, "parameter \"timeout\""},
      {"timeout not a duration", base({{"timeout", "1.5"}}), {}, "parameter \"timeout\""},
      {"queryParameters value holding '='",
       base({{"queryParameters", "a=b=c"}}),
       {},
       "parameter \"queryParameters\""},
      {"customHeaders without '='",
       base({{"customHeaders", "X-Scope-OrgID"}}),
       {},
       "parameter \"customHeaders\""},
      {"cortexOrgID was removed",
       base({{"cortexOrgID", "org-1"}}),
       {},
       "parameter \"cortexOrgID\" is deprecated|customHeaders|X-Scope-OrgID"},
      {"unknown auth mode",
       base({{"authModes", "digest"}}),
       {},
       "parameter \"authModes\": element \"digest\" must be one of apiKey, basic, tls, bearer, "
       "custom, oauth"},
      {"bearer and basic", base({{"authModes", "bearer,basic"}}),
       secrets({"bearerToken"}, {{"username", "u"}}), "parameter \"authModes\"|only one of"},
      {"basic and oauth", base({{"authModes", "basic,oauth"}}),
       secrets({"clientSecret"},
               {{"username", "u"}, {"oauthTokenURI", "http://i"}, {"clientID", "c"}}),
       "only one of bearer, basic, oauth"},
      {"bearer and oauth", base({{"authModes", "oauth,bearer"}}), secrets({"bearerToken"}),
       "only one of bearer, basic, oauth"},
      {"bearer without a token",
       base({{"authModes", "bearer"}}),
       {},
       "bearer token is required when bearer auth is enabled"},
      {"a token in triggerMetadata is not read",
       base({{"authModes", "bearer"}, {"bearerToken", "tok-SECRET-1"}}),
       {},
       "bearer token is required"},
      {"basic without a username", base({{"authModes", "basic"}}), secrets({"password"}),
       "username is required when basic auth is enabled"},
      {"tls without a key", base({{"authModes", "tls"}}), secrets({"cert"}),
       "cert and key are required when tls auth is enabled"},
      {"tls with only a ca",
       base({{"authModes", "tls"}}),
       {{"ca", pem}},
       "cert and key are required when tls auth is enabled"},
      {"custom without a value",
       base({{"authModes", "custom"}}),
       {{"customAuthHeader", "X"}},
       "customAuthHeader and customAuthValue are required when custom auth is enabled"},
      {"oauth without a clientID", base({{"authModes", "oauth"}}),
       secrets({"clientSecret"}, {{"oauthTokenURI", "http://idp/token"}}),
       "oauthTokenURI and clientID are required when oauth is enabled"},
      {"oauth with a non-http token URI", base({{"authModes", "oauth"}}),
       secrets({"clientSecret"}, {{"oauthTokenURI", "ftp://idp/SECRET"}, {"clientID", "c"}}),
       "parameter \"oauthTokenURI\": (from authParams) is not an http:// or https:// URL"},
      {"oauth endpointParams with ';' (not echoed)", base({{"authModes", "oauth"}}),
       secrets({"endpointParams"}, {{"oauthTokenURI", "http://idp/t"}, {"clientID", "c"}}),
       "parameter \"endpointParams\": (from authParams) is not a valid query string"},
      {"apiKey without a key",
       base({{"authModes", "apiKey"}}),
       {},
       "apiKey is required when apiKey auth is enabled"},
      {"apiKey method is checked even when unused",
       base({{"method", "cookie"}}),
       {},
       "parameter \"method\": \"cookie\" must be one of header, query"},
      {"auth with a pod identity", base({{"authModes", "bearer"}}), secrets({"bearerToken"}),
       "pod identity cannot be enabled with other auth types", "azure-workload"},
      {"auth with a gcp pod identity", base({{"authModes", "custom"}}),
       secrets({"customAuthValue"}, {{"customAuthHeader", "X"}}),
       "pod identity cannot be enabled with other auth types", "gcp"},
      {"every error at once",
       {{"threshold", "x"}, {"authModes", "bearer,basic"}},
       {},
       "missing required parameter \"serverAddress\"|missing required parameter \"query\"|"
       "parameter \"threshold\": \"x\" is not a valid number|only one of bearer, basic, oauth"},
      {"every auth error at once",
       base({{"authModes", "bearer,tls,custom,apiKey"}}),
       {},
       "bearer token is required|cert and key are required|customAuthHeader and "
       "customAuthValue are required|apiKey is required"},
  };
  for (const Row& row : rows) checkRow(row);

  SECTION("Utilization is not an external metric type") {
    auto config = promConfig(base());
    config.metricType = MetricTargetType::kUtilization;
    auto def = prometheusFactory().parse(config);
    REQUIRE_FALSE(def.isOk());
    CHECK_THAT(def.status().message(),
               Catch::Contains("'Utilization' metric type is unsupported for external metrics"));
  }
  SECTION("offline validation does not ask for secrets a TriggerAuthentication will supply") {
    auto config = promConfig(base({{"authModes", "bearer"}}));
    config.secretsUnresolved = true;
    CHECK(prometheusFactory().parse(config).isOk());
    config = promConfig(base({{"authModes", "tls,custom"}}));
    config.secretsUnresolved = true;
    CHECK(prometheusFactory().parse(config).isOk());
  }
}

TEST_CASE("prometheus: cloud identity paths parse, then fail clearly when the scaler is built") {
  struct Case {
    const char* name;
    StringMap metadata;
    StringMap auth;
    StringMap env;
    std::string podIdentity;
    const char* error;  // "" = createScaler succeeds
  };
  const Case cases[] = {
      {"azure workload identity",
       base(),
       {},
       {},
       "azure-workload",
       "Azure Managed Prometheus (podIdentity provider azure-workload) is not available yet"},
      {"gcp workload identity",
       base(),
       {},
       {},
       "gcp",
       "Google Cloud Managed Prometheus (podIdentity provider gcp"},
      {"GoogleApplicationCredentials",
       base(),
       secrets({"GoogleApplicationCredentials"}),
       {},
       "",
       "Google Cloud Managed Prometheus"},
      {"credentialsFromEnv",
       base({{"credentialsFromEnv", "GCP_CREDS"}}),
       {},
       {{"GCP_CREDS", "{\"SECRET\":2}"}},
       "",
       "Google Cloud Managed Prometheus"},
      {"credentialsFromEnvFile",
       base({{"credentialsFromEnvFile", "GCP_FILE"}}),
       {},
       {},
       "",
       "Google Cloud Managed Prometheus"},
      {"awsRegion (SigV4)",
       base({{"awsRegion", "eu-west-1"}, {"identityOwner", "operator"}}),
       {},
       {},
       "",
       "Amazon Managed Service for Prometheus (SigV4 signing, enabled by awsRegion)"},
      {"awsRegion from authParams",
       base(),
       {{"awsRegion", "eu-west-1"}},
       {},
       "aws",
       "Amazon Managed Service for Prometheus"},
      {"identityOwner alone does nothing", base({{"identityOwner", "pod"}}), {}, {}, "", ""},
      {"aws pod identity without a region does nothing", base(), {}, {}, "aws", ""},
      {"with an auth mode the cloud paths are not tried",
       base({{"authModes", "bearer"}, {"awsRegion", "eu-west-1"}}),
       secrets({"bearerToken"}),
       {},
       "",
       ""},
      {"a tls pair that is not PEM",
       base({{"authModes", "tls"}}),
       secrets({"cert", "key"}),
       {},
       "",
       "error creating the TLS config: authParams cert and key are not a PEM certificate"},
      {"a tls pair that does not match",
       base({{"authModes", "tls"}}),
       {{"cert", readTestdata("client.pem")}, {"key", readTestdata("server.key")}},
       {},
       "",
       "error creating the TLS config"},
  };
  for (const Case& c : cases) {
    INFO(c.name);
    auto config = promConfig(c.metadata, c.auth, c.env);
    config.podIdentityProvider = c.podIdentity;
    auto def = prometheusFactory().parse(config);
    INFO(def.status().message());
    REQUIRE(def.isOk());
    auto scaler = def.value()->createScaler(ScalerContext{});
    if (std::string(c.error).empty()) {
      INFO(scaler.status().message());
      CHECK(scaler.isOk());
      continue;
    }
    REQUIRE_FALSE(scaler.isOk());
    INFO(scaler.status().message());
    CHECK_THAT(scaler.status().message(), Catch::Contains(c.error));
    CHECK_THAT(scaler.status().message(), Catch::Contains("http://127.0.0.1:9090"));
    CHECK_THAT(scaler.status().message(), !Catch::Contains("SECRET"));
  }
}
