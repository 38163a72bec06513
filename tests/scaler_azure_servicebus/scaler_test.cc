// azure-servicebus against a fake Service Bus namespace over HTTPS (fake_servicebus.h): counts,
// regex aggregation across pages, missing entities, SAS failures, outages and timeouts.
#include "updraft/scaler.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "common/azure_auth.h"
#include "common/http_client.h"
#include "scaler_azure_servicebus/fake_servicebus.h"

using namespace updraft;
using namespace std::chrono_literals;
using updraft::testing::Counts;
using updraft::testing::FakeServiceBus;
using updraft::testing::scalerConfig;

namespace {

const std::string kKeyName = "RootManageSharedAccessKey";
const std::string kKey = "s3cr3t+Key/With=Sp3cials0123456789abcdefABCDEF=";

// The test server's certificate is signed by the test CA: trust it the documented way.
void trustTestCa() {
  ::setenv(http::kExtraCaFileEnv, updraft::testing::testdataPath("ca.pem").c_str(), 1);
}

struct Live {
  std::unique_ptr<ScalerDefinition> def;
  std::unique_ptr<Scaler> scaler;
  std::string metricName;
  const Clock* clock = &SystemClock::instance();

  Result<MetricsAndActivity> poll(Millis budget = 5000ms) {
    return scaler->getMetricsAndActivity(metricName, clock->now() + budget);
  }
  double value(Millis budget = 5000ms) {
    auto r = poll(budget);
    INFO(r.status().message());
    REQUIRE(r.isOk());
    REQUIRE(r->metrics.size() == 1);
    CHECK(r->metrics[0].metricName == metricName);
    return r->metrics[0].value;
  }
  std::string error(Millis budget = 5000ms) {
    auto r = poll(budget);
    REQUIRE_FALSE(r.isOk());
    return r.status().message();
  }
};

Live live(StringMap md, const std::string& connection, const Clock* clock = nullptr,
          Millis httpTimeout = 3000ms) {
  trustTestCa();
  ScalerConfig c = scalerConfig("azure-servicebus", std::move(md), {{"connection", connection}});
  c.globalHttpTimeout = httpTimeout;
  auto def = ScalerRegistry::global().find("azure-servicebus")->parse(c);
  INFO(def.status().message());
  REQUIRE(def.isOk());
  Live l;
  l.metricName = (*def)->metricSpecs()[0].metricName;
  if (clock) l.clock = clock;
  auto scaler = (*def)->createScaler(ScalerContext{clock, nullptr});
  INFO(scaler.status().message());
  REQUIRE(scaler.isOk());
  l.def = std::move(def.value());
  l.scaler = std::move(scaler.value());
  return l;
}

// Nothing secret may appear in a message: the key, any SAS token or signature, the connection.
void checkNoSecrets(const std::string& msg, const std::vector<std::string>& more = {}) {
  INFO(msg);
  CHECK(msg.find(kKey) == std::string::npos);
  CHECK(msg.find(azure::queryEscape(kKey)) == std::string::npos);
  CHECK(msg.find("SharedAccessKey=") == std::string::npos);
  CHECK(msg.find("SharedAccessSignature sr") == std::string::npos);
  CHECK(msg.find("sig=") == std::string::npos);
  CHECK(msg.find("TrackingId") == std::string::npos);
  for (const auto& s : more) CHECK(msg.find(s) == std::string::npos);
}

std::string field(const std::string& token, const std::string& name) {
  auto v = FakeServiceBus::tokenField(token, name);
  REQUIRE(v);
  return *v;
}

}  // namespace

TEST_CASE("azure-servicebus: a queue's active message count, signed exactly as KEDA signs") {
  FakeServiceBus sb(kKeyName, kKey);
  sb.setQueue("orders", Counts{7, 4, 3, 2, 1});
  sb.setQueue("empty", Counts{0, 9, 9, 0, 0});

  Live l = live({{"queueName", "orders"}}, sb.connectionString());
  CHECK(l.metricName == "s0-azure-servicebus-orders");
  auto r = l.poll();
  REQUIRE(r.isOk());
  CHECK(r->metrics[0].value == 7);  // only active messages: not dead-lettered/scheduled/transfer
  CHECK(r->isActive);
  CHECK(l.value() == 7);  // the client is reused

  const auto targets = sb.targets();
  REQUIRE(targets.size() == 2);
  CHECK(targets[0] == "/orders?api-version=2021-05");
  // sr is the lower-cased, query-escaped full request URL; se is now + 2 h; skn the key name.
  // (The fake sees header values percent-decoded: cpp-httplib 0.11 decodes them. The exact
  // encoding is pinned by the known-answer test in units_test.cc.)
  const std::string token = sb.authorizations().back();
  CHECK(token.rfind("SharedAccessSignature sr=", 0) == 0);
  CHECK(field(token, "sr") ==
        "https://127.0.0.1:" + std::to_string(sb.port()) + "/orders?api-version=2021-05");
  CHECK(field(token, "skn") == kKeyName);
  const long long now = std::chrono::duration_cast<std::chrono::seconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
  const long long se = std::stoll(field(token, "se"));
  CHECK(se >= now + 7200 - 30);
  CHECK(se <= now + 7200 + 1);
  std::string srEncoded = azure::queryEscape(field(token, "sr"));
  for (char& c : srEncoded) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  CHECK(field(token, "sig") == FakeServiceBus::sign(kKey, srEncoded + "\n" + field(token, "se")));

  // Activation: value > activationMessageCount.
  Live a = live({{"queueName", "orders"}, {"activationMessageCount", "7"}},
                sb.connectionString("localhost"));
  r = a.poll();
  REQUIRE(r.isOk());
  CHECK(r->metrics[0].value == 7);
  CHECK_FALSE(r->isActive);
  Live e = live({{"queueName", "empty"}}, sb.connectionString());
  r = e.poll();
  REQUIRE(r.isOk());
  CHECK(r->metrics[0].value == 0);
  CHECK_FALSE(r->isActive);
  CHECK(sb.unauthorized() == 0);
}

TEST_CASE("azure-servicebus: a topic subscription's active message count") {
  FakeServiceBus sb(kKeyName, kKey);
  sb.setSubscription("events", "billing", Counts{11, 1, 0, 0, 0});
  sb.setSubscription("events", "audit", Counts{2, 0, 0, 0, 0});
  Live l = live({{"topicName", "events"}, {"subscriptionName", "billing"}, {"messageCount", "3"}},
                sb.connectionString());
  CHECK(l.metricName == "s0-azure-servicebus-events");
  CHECK(l.def->metricSpecs()[0].target == 3);
  auto r = l.poll();
  REQUIRE(r.isOk());
  CHECK(r->metrics[0].value == 11);
  CHECK(r->isActive);
  CHECK(sb.targets().back() == "/events/Subscriptions/billing?api-version=2021-05");
}

TEST_CASE("azure-servicebus: useRegex over queues, several pages, each operation") {
  FakeServiceBus sb(kKeyName, kKey);
  // 230 matching queues (active = i), plus names that contain a match but are not one.
  for (int i = 0; i < 230; ++i) {
    char name[32];
    std::snprintf(name, sizeof(name), "orders-%03d", i);
    sb.setQueue(name, Counts{i, 100, 100, 0, 0});
  }
  sb.setQueue("archive-orders-1", Counts{1000, 0, 0, 0, 0});
  sb.setQueue("orders", Counts{500, 0, 0, 0, 0});
  sb.setQueue("orders-x-extra", Counts{0, 0, 0, 0, 0});  // "orders-.{3}" must not match
  struct Row {
    std::string operation;
    double expected;
  };
  // sum 0..229 = 26335; max 229; avg 26335 / 230 = 114 (integer division).
  for (const Row& row : {Row{"sum", 26335}, Row{"max", 229}, Row{"avg", 114}}) {
    INFO(row.operation);
    Live l =
        live({{"queueName", "orders-[0-9]{3}"}, {"useRegex", "true"}, {"operation", row.operation}},
             sb.connectionString());
    CHECK(l.metricName == "s0-azure-servicebus-queue-regex");
    size_t before = sb.targets().size();
    CHECK(l.value() == row.expected);
    auto targets = sb.targets();
    REQUIRE(targets.size() - before == 3);  // 233 queues: pages of 100, 100, 33
    CHECK(targets[before] == "/$Resources/Queues?%24top=100&api-version=2021-05");
    CHECK(targets[before + 1] == "/$Resources/Queues?%24skip=100&%24top=100&api-version=2021-05");
    CHECK(targets[before + 2] == "/$Resources/Queues?%24skip=200&%24top=100&api-version=2021-05");
  }
  // The default operation is sum; no match is 0, not an error.
  Live def = live({{"queueName", "orders-[0-9]{3}"}, {"useRegex", "true"}}, sb.connectionString());
  CHECK(def.value() == 26335);
  for (const char* op : {"sum", "max", "avg"}) {
    Live none = live({{"queueName", "nothing-.*"}, {"useRegex", "true"}, {"operation", op}},
                     sb.connectionString());
    auto r = none.poll();
    REQUIRE(r.isOk());
    CHECK(r->metrics[0].value == 0);
    CHECK_FALSE(r->isActive);
  }
  CHECK(sb.unauthorized() == 0);
}

TEST_CASE("azure-servicebus: useRegex over subscriptions; a full last page needs one more") {
  FakeServiceBus sb(kKeyName, kKey);
  for (int i = 0; i < 200; ++i) {  // exactly two full pages
    sb.setSubscription("events", "sub-" + std::to_string(1000 + i), Counts{i % 10, 0, 0, 0, 0});
  }
  sb.setSubscription("other", "sub-9999", Counts{50, 0, 0, 0, 0});
  // sum over i of i % 10 = 20 * 45 = 900; max 9; avg 900 / 200 = 4.
  for (auto [op, expected] :
       std::vector<std::pair<std::string, double>>{{"sum", 900}, {"max", 9}, {"avg", 4}}) {
    INFO(op);
    Live l = live({{"topicName", "events"},
                   {"subscriptionName", "sub-1[0-9]+"},
                   {"useRegex", "true"},
                   {"operation", op}},
                  sb.connectionString());
    CHECK(l.metricName == "s0-azure-servicebus-topic-regex");
    size_t before = sb.targets().size();
    CHECK(l.value() == expected);
    auto targets = sb.targets();
    REQUIRE(targets.size() - before == 3);
    CHECK(targets[before] == "/events/Subscriptions?%24top=100&api-version=2021-05");
    CHECK(targets[before + 2] ==
          "/events/Subscriptions?%24skip=200&%24top=100&api-version=2021-05");
  }
  // A topic that does not exist lists nothing: 0, as in KEDA.
  Live missing = live({{"topicName", "nope"}, {"subscriptionName", ".*"}, {"useRegex", "true"}},
                      sb.connectionString());
  CHECK(missing.value() == 0);
}

TEST_CASE("azure-servicebus: entities that do not exist (KEDA's messages)") {
  FakeServiceBus sb(kKeyName, kKey);
  sb.setSubscription("events", "billing", Counts{1, 0, 0, 0, 0});
  const std::string ns = "\"127.0.0.1:" + std::to_string(sb.port()) + "\"";

  Live q = live({{"queueName", "missing"}}, sb.connectionString());
  auto r = q.poll();
  REQUIRE_FALSE(r.isOk());
  CHECK(r.status().code() == StatusCode::kNotFound);
  CHECK(r.status().message() ==
        "azure-servicebus: queue missing doesn't exist (namespace " + ns + ")");

  Live s = live({{"topicName", "events"}, {"subscriptionName", "nope"}}, sb.connectionString());
  CHECK(s.error() ==
        "azure-servicebus: subscription nope doesn't exist in topic events "
        "(namespace " +
            ns + ")");
  Live t = live({{"topicName", "ghost"}, {"subscriptionName", "billing"}}, sb.connectionString());
  CHECK(t.error() ==
        "azure-servicebus: subscription billing doesn't exist in topic ghost "
        "(namespace " +
            ns + ")");

  // A topic named as a queue: KEDA would read 0 forever; say what is wrong instead.
  Live wrong = live({{"queueName", "events"}}, sb.connectionString());
  std::string msg = wrong.error();
  CHECK(msg.find("azure-servicebus: queue \"events\" in namespace " + ns) == 0);
  CHECK(msg.find("the entity is not a queue (the entry holds a TopicDescription)") !=
        std::string::npos);
}

TEST_CASE("azure-servicebus: a wrong key or key name is a clear 401, without secrets") {
  FakeServiceBus sb(kKeyName, kKey);
  sb.setQueue("orders", Counts{5, 0, 0, 0, 0});
  const std::string wrongKey = "WrongKey0123456789abcdefghijklmnopqrstuvwxy=";
  const std::string conn = "Endpoint=" + sb.endpoint() + ";SharedAccessKeyName=" + kKeyName +
                           ";SharedAccessKey=" + wrongKey;
  Live l = live({{"queueName", "orders"}}, conn);
  auto r = l.poll();
  REQUIRE_FALSE(r.isOk());
  CHECK(r.status().code() == StatusCode::kUnavailable);
  const std::string msg = r.status().message();
  CHECK(msg ==
        "azure-servicebus: queue \"orders\" in namespace \"127.0.0.1:" + std::to_string(sb.port()) +
            "\": GET https://127.0.0.1:" + std::to_string(sb.port()) +
            "/orders: 401 Unauthorized: InvalidSignature: The token has an invalid "
            "signature. (check SharedAccessKeyName and SharedAccessKey in the connection "
            "string, and that the clock is right)");
  checkNoSecrets(msg, {wrongKey, conn});
  CHECK(sb.unauthorized() == 1);

  Live name =
      live({{"queueName", "orders"}},
           "Endpoint=" + sb.endpoint() + ";SharedAccessKeyName=Listen;SharedAccessKey=" + kKey);
  std::string m2 = name.error();
  CHECK(m2.find("401 Unauthorized: InvalidSignature") != std::string::npos);
  checkNoSecrets(m2);
}

TEST_CASE("azure-servicebus: a server echoing the token does not leak it into messages") {
  FakeServiceBus sb(kKeyName, kKey);
  sb.setQueue("orders", Counts{5, 0, 0, 0, 0});
  sb.setEchoAuthorization(true);
  Live l = live({{"queueName", "orders"}}, sb.connectionString());
  std::string msg = l.error();
  const std::string token = sb.authorizations().back();
  CHECK(msg.find("401 Unauthorized: MalformedToken: cannot use '***'.") != std::string::npos);
  checkNoSecrets(msg, {token, field(token, "sig")});
}

TEST_CASE("azure-servicebus: an expired token (the server checks se against its clock)") {
  FakeServiceBus sb(kKeyName, kKey);
  sb.setQueue("orders", Counts{5, 0, 0, 0, 0});
  // The scaler's clock is 3 h behind: se = its now + 2 h is an hour in the past.
  ManualClock slow(SystemClock::instance().now() - 3h);
  Live l = live({{"queueName", "orders"}}, sb.connectionString(), &slow);
  std::string msg = l.error();
  CHECK(msg.find("401 Unauthorized: ExpiredToken: The token is expired. Expiration time: '") !=
        std::string::npos);
  checkNoSecrets(msg);
  // 1 h 59 min behind still works: tokens live 2 h.
  slow.set(SystemClock::instance().now() - 119min);
  CHECK(l.value() == 5);
}

TEST_CASE("azure-servicebus: a SharedAccessSignature connection string is sent verbatim") {
  FakeServiceBus sb(kKeyName, kKey);
  sb.setQueue("orders", Counts{4, 0, 0, 0, 0});
  const std::string nsUrl = "https://127.0.0.1:" + std::to_string(sb.port()) + "/";
  const auto now = SystemClock::instance().now();
  const std::string sas = azure::sharedAccessSignature(nsUrl, kKeyName, kKey,
                                                       azure::sasExpiry(now) - 3600);  // 1 h
  Live l = live({{"queueName", "orders"}},
                "Endpoint=" + sb.endpoint() + ";SharedAccessSignature=" + sas);
  CHECK(l.value() == 4);
  CHECK(sb.authorizations().back() == FakeServiceBus::percentDecode(sas));

  const std::string expired =
      azure::sharedAccessSignature(nsUrl, kKeyName, kKey, azure::sasExpiry(now) - 3 * 3600);
  Live old = live({{"queueName", "orders"}},
                  "Endpoint=" + sb.endpoint() + ";SharedAccessSignature=" + expired);
  std::string msg = old.error();
  CHECK(msg.find("ExpiredToken") != std::string::npos);
  CHECK(msg.find("(the connection string's SharedAccessSignature is not valid or has expired)") !=
        std::string::npos);
  checkNoSecrets(msg, {expired, field(expired, "sig")});
}

TEST_CASE("azure-servicebus: the namespace is down (connection refused)") {
  trustTestCa();
  const int port = updraft::testing::closedPort();
  const std::string conn = "Endpoint=sb://127.0.0.1:" + std::to_string(port) +
                           "/;SharedAccessKeyName=" + kKeyName + ";SharedAccessKey=" + kKey;
  Live l = live({{"topicName", "events"}, {"subscriptionName", "billing"}}, conn);
  auto r = l.poll();
  REQUIRE_FALSE(r.isOk());
  CHECK(r.status().code() == StatusCode::kUnavailable);
  CHECK(r.status().message() ==
        "azure-servicebus: subscription \"billing\" of topic \"events\" in namespace "
        "\"127.0.0.1:" +
            std::to_string(port) + "\": GET https://127.0.0.1:" + std::to_string(port) +
            "/events/Subscriptions/billing: connection refused");
  checkNoSecrets(r.status().message());
}

TEST_CASE("azure-servicebus: a slow namespace times out by the poll deadline") {
  FakeServiceBus sb(kKeyName, kKey);
  sb.setQueue("orders", Counts{5, 0, 0, 0, 0});
  sb.setDelay(1500ms);
  Live l = live({{"queueName", "orders"}}, sb.connectionString());
  auto start = std::chrono::steady_clock::now();
  auto r = l.poll(300ms);
  auto took = std::chrono::steady_clock::now() - start;
  REQUIRE_FALSE(r.isOk());
  CHECK(r.status().code() == StatusCode::kTimeout);
  CHECK(r.status().message().find("azure-servicebus: queue \"orders\" in namespace") == 0);
  CHECK(r.status().message().find("timed out after") != std::string::npos);
  CHECK(took < 1200ms);
  checkNoSecrets(r.status().message());

  // The global HTTP timeout (KEDA_HTTP_DEFAULT_TIMEOUT) caps each request too.
  Live capped = live({{"queueName", "orders"}}, sb.connectionString(), nullptr, 200ms);
  std::string msg = capped.error(5000ms);
  CHECK(msg.find("timed out after 200 ms") != std::string::npos);

  // No time left: fails at once, without a request.
  size_t before = sb.targets().size();
  auto none = l.poll(0ms);
  REQUIRE_FALSE(none.isOk());
  CHECK(none.status().code() == StatusCode::kTimeout);
  std::this_thread::sleep_for(100ms);
  CHECK(sb.targets().size() == before);
}

TEST_CASE("azure-servicebus: TLS trust comes from UPDRAFT_EXTRA_CA_FILE, never a bypass") {
  FakeServiceBus sb(kKeyName, kKey);
  sb.setQueue("orders", Counts{5, 0, 0, 0, 0});
  Live l = live({{"queueName", "orders"}}, sb.connectionString());
  CHECK(l.value() == 5);

  ::unsetenv(http::kExtraCaFileEnv);
  Live untrusted = live({{"queueName", "orders"}}, sb.connectionString());
  ::unsetenv(http::kExtraCaFileEnv);  // live() trusts the CA again; undo it
  std::string msg = untrusted.error();
  CHECK(msg.find("TLS error") != std::string::npos);
  checkNoSecrets(msg);

  ::setenv(http::kExtraCaFileEnv, "/nonexistent/ca.pem", 1);
  msg = untrusted.error();
  CHECK(msg.find("UPDRAFT_EXTRA_CA_FILE \"/nonexistent/ca.pem\": No such file or directory") !=
        std::string::npos);
  trustTestCa();
  CHECK(untrusted.value() == 5);
}

namespace {

// Sets the variables the workload identity webhook sets, for the fake's tenant; unsets on exit.
struct WorkloadIdentityEnv {
  std::string tokenFile = std::string(UPDRAFT_BINARY_DIR) + "/asb-federated-token";
  WorkloadIdentityEnv(const FakeServiceBus& sb, const std::string& assertion) {
    std::ofstream(tokenFile) << assertion << "\n";
    ::setenv("AZURE_CLIENT_ID", "0e5f6a7b-client", 1);
    ::setenv("AZURE_TENANT_ID", "72f988bf-tenant", 1);
    ::setenv("AZURE_FEDERATED_TOKEN_FILE", tokenFile.c_str(), 1);
    ::setenv("AZURE_AUTHORITY_HOST", sb.authorityHost().c_str(), 1);
  }
  ~WorkloadIdentityEnv() {
    for (const char* v : {"AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_FEDERATED_TOKEN_FILE",
                          "AZURE_AUTHORITY_HOST"}) {
      ::unsetenv(v);
    }
    std::remove(tokenFile.c_str());
  }
};

Live liveWorkload(StringMap md, const FakeServiceBus& sb) {
  trustTestCa();
  // fqdn = <namespace>.<endpointSuffix>: "127.0.0" + "." + "1:<port>" reaches the fake.
  md["namespace"] = "127.0.0";
  md["cloud"] = "Private";
  md["endpointSuffix"] = "1:" + std::to_string(sb.port());
  ScalerConfig c = scalerConfig("azure-servicebus", std::move(md));
  c.podIdentityProvider = "azure-workload";
  auto def = ScalerRegistry::global().find("azure-servicebus")->parse(c);
  INFO(def.status().message());
  REQUIRE(def.isOk());
  Live l;
  l.metricName = (*def)->metricSpecs()[0].metricName;
  auto scaler = (*def)->createScaler(ScalerContext{});
  INFO(scaler.status().message());
  REQUIRE(scaler.isOk());
  l.def = std::move(def.value());
  l.scaler = std::move(scaler.value());
  return l;
}

}  // namespace

TEST_CASE("azure-servicebus: workload identity exchanges the federated token for a bearer token") {
  FakeServiceBus sb(kKeyName, kKey);
  sb.setQueue("orders", Counts{6, 0, 0, 0, 0});
  sb.setSubscription("events", "billing", Counts{2, 0, 0, 0, 0});
  const std::string assertion = "eyJhbGciOiJSUzI1NiJ9.federated-sa-token.signature";
  sb.enableWorkloadIdentity("72f988bf-tenant", "0e5f6a7b-client", assertion);
  WorkloadIdentityEnv env(sb, assertion);

  Live l = liveWorkload({{"queueName", "orders"}}, sb);
  CHECK(l.value() == 6);
  CHECK(l.value() == 6);
  CHECK(sb.tokenRequests() == 1);  // cached until shortly before it expires
  CHECK(sb.authorizations().back() == "Bearer eyJ0eXAiOiJKV1QifQ.fake-access-token-1");
  auto targets = sb.targets();
  CHECK(std::count(targets.begin(), targets.end(), "/72f988bf-tenant/oauth2/v2.0/token") == 1);
  CHECK(targets.back() == "/orders?api-version=2021-05");

  Live s = liveWorkload(
      {{"topicName", "events"}, {"subscriptionName", "bill.*"}, {"useRegex", "true"}}, sb);
  CHECK(s.value() == 2);
  CHECK(sb.unauthorized() == 0);

  // A federated token the identity provider does not accept: AAD's error, never the token.
  sb.enableWorkloadIdentity("72f988bf-tenant", "0e5f6a7b-client", "another-assertion-value");
  Live bad = liveWorkload({{"queueName", "orders"}}, sb);
  std::string msg = bad.error();
  CHECK(msg.find("azure-servicebus: queue \"orders\" in namespace \"127.0.0.1:" +
                 std::to_string(sb.port()) +
                 "\": Azure AD workload identity: POST https://127.0.0.1:") == 0);
  CHECK(msg.find("/72f988bf-tenant/oauth2/v2.0/token: 400: invalid_request: AADSTS70021: No "
                 "matching federated identity record found for presented assertion.") !=
        std::string::npos);
  CHECK(msg.find("Trace ID") == std::string::npos);
  checkNoSecrets(msg, {assertion});

  // The token file is read for every exchange (the kubelet rotates it).
  std::remove(env.tokenFile.c_str());
  Live gone = liveWorkload({{"queueName", "orders"}}, sb);
  msg = gone.error();
  CHECK(msg.find("Azure AD workload identity: AZURE_FEDERATED_TOKEN_FILE \"" + env.tokenFile +
                 "\" cannot be read or is empty") != std::string::npos);
}

TEST_CASE("azure-servicebus: workload identity outside a prepared pod is a clear error") {
  for (const char* v : {"AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_FEDERATED_TOKEN_FILE"}) {
    ::unsetenv(v);
  }
  ::setenv("AZURE_CLIENT_ID", "0e5f6a7b-client", 1);
  ScalerConfig c = scalerConfig("azure-servicebus", {{"queueName", "orders"}, {"namespace", "ns"}});
  c.podIdentityProvider = "azure-workload";
  auto def = ScalerRegistry::global().find("azure-servicebus")->parse(c);
  REQUIRE(def.isOk());
  auto scaler = (*def)->createScaler(ScalerContext{});
  ::unsetenv("AZURE_CLIENT_ID");
  REQUIRE_FALSE(scaler.isOk());
  CHECK(scaler.status().code() == StatusCode::kFailedPrecondition);
  CHECK(scaler.status().message() ==
        "azure-servicebus: podIdentity azure-workload (namespace "
        "\"ns.servicebus.windows.net\"): Azure AD workload identity needs AZURE_CLIENT_ID, "
        "AZURE_TENANT_ID and AZURE_FEDERATED_TOKEN_FILE (set in the pod by the workload identity "
        "webhook; outside Azure/Kubernetes set them yourself); missing: AZURE_TENANT_ID, "
        "AZURE_FEDERATED_TOKEN_FILE");
}
