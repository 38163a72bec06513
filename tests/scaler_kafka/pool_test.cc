// One librdkafka client per (brokers, credentials): sharing, release, and what createScaler refuses
// (bad TLS material, unsupported SASL modes); OAuth client credentials through the refresh
// callback.
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <thread>

#include "kafka/kafka_client.h"
#include "kafka/kafka_oauth.h"
#include "mock_cluster.h"
#include "scalers/test_server.h"
#include "updraft/scaler.h"

using namespace updraft;
using updraft::kafka::ClientPool;
using updraft::testing::MockCluster;
using updraft::testing::scalerConfig;
using updraft::testing::TestServer;

namespace {

std::unique_ptr<ScalerDefinition> definition(StringMap metadata, StringMap authParams = {}) {
  auto def = ScalerRegistry::global().find("kafka")->parse(
      scalerConfig("kafka", std::move(metadata), std::move(authParams)));
  INFO(def.status().message());
  REQUIRE(def.isOk());
  return std::move(*def);
}

Result<std::unique_ptr<Scaler>> create(const ScalerDefinition& def) {
  return def.createScaler(ScalerContext{&SystemClock::instance(), nullptr});
}

std::unique_ptr<Scaler> createOk(const ScalerDefinition& def) {
  auto s = create(def);
  INFO(s.status().message());
  REQUIRE(s.isOk());
  return std::move(*s);
}

// client.key re-encrypted with `password` (PKCS#8, AES-256-CBC).
std::string encryptedClientKey(const std::string& password) {
  const std::string pem = updraft::testing::readTestdata("client.key");
  BIO* in = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  EVP_PKEY* key = PEM_read_bio_PrivateKey(in, nullptr, nullptr, nullptr);
  BIO_free(in);
  REQUIRE(key);
  BIO* out = BIO_new(BIO_s_mem());
  PEM_write_bio_PKCS8PrivateKey(out, key, EVP_aes_256_cbc(), nullptr, 0, nullptr,
                                const_cast<char*>(password.c_str()));
  char* data = nullptr;
  long len = BIO_get_mem_data(out, &data);
  std::string result(data, static_cast<size_t>(len));
  BIO_free(out);
  EVP_PKEY_free(key);
  return result;
}

}  // namespace

TEST_CASE("scalers on the same cluster with the same credentials share one client") {
  MockCluster cluster(3);
  cluster.createTopic("t", 2);
  cluster.produce("t", 0, 5);
  const auto before = ClientPool::global().stats();

  auto a = definition(
      {{"bootstrapServers", cluster.bootstrap()}, {"consumerGroup", "ga"}, {"topic", "t"}});
  auto b = definition(
      {{"bootstrapServers", cluster.bootstrap()}, {"consumerGroup", "gb"}, {"topic", "t"}});
  // Same brokers listed in another order and with spaces: still the same cluster.
  std::string reversed;
  {
    std::vector<std::string> parts;
    std::string s = cluster.bootstrap();
    for (size_t start = 0, comma; start <= s.size(); start = comma + 1) {
      comma = s.find(',', start);
      if (comma == std::string::npos) comma = s.size();
      parts.push_back(s.substr(start, comma - start));
    }
    for (auto it = parts.rbegin(); it != parts.rend(); ++it) reversed += *it + " , ";
  }
  auto c = definition({{"bootstrapServers", reversed}, {"consumerGroup", "gc"}});

  auto sa = createOk(*a);
  auto sb = createOk(*b);
  auto sc = createOk(*c);
  auto during = ClientPool::global().stats();
  CHECK(during.clients == before.clients + 1);
  CHECK(during.references == before.references + 3);
  CHECK(during.created == before.created + 1);

  // Both poll through it, concurrently.
  const auto deadline = [] { return SystemClock::instance().now() + Seconds(5); };
  std::thread other([&] {
    for (int i = 0; i < 5; ++i) CHECK(sb->getMetricsAndActivity("m", deadline()).isOk());
  });
  for (int i = 0; i < 5; ++i) {
    auto r = sa->getMetricsAndActivity("m", deadline());
    INFO(r.status().message());
    CHECK(r.isOk());
  }
  other.join();

  sa->close();
  CHECK(ClientPool::global().stats().references == before.references + 2);
  sb.reset();  // destruction closes too
  sc->close();
  sc->close();  // idempotent
  auto after = ClientPool::global().stats();
  CHECK(after.clients == before.clients);
  CHECK(after.references == before.references);

  // A scaler created afterwards gets a new client.
  auto again = createOk(*a);
  CHECK(ClientPool::global().stats().created == before.created + 2);
}

TEST_CASE("different credentials or security settings get different clients") {
  const auto before = ClientPool::global().stats();
  const StringMap base = {
      {"bootstrapServers", "127.0.0.1:9"}, {"consumerGroup", "g"}, {"topic", "t"}};
  auto alice = definition(base, {{"sasl", "plaintext"}, {"username", "alice"}, {"password", "a"}});
  auto alice2 = definition(base, {{"sasl", "plaintext"}, {"username", "alice"}, {"password", "a"}});
  auto bob = definition(base, {{"sasl", "plaintext"}, {"username", "bob"}, {"password", "b"}});
  auto scram = definition(base, {{"sasl", "scram_sha512"}, {"username", "bob"}, {"password", "b"}});
  auto plain = definition(base);
  auto s1 = createOk(*alice);
  auto s2 = createOk(*alice2);
  CHECK(ClientPool::global().stats().clients == before.clients + 1);
  auto s3 = createOk(*bob);
  CHECK(ClientPool::global().stats().clients == before.clients + 2);
  auto s4 = createOk(*scram);
  auto s5 = createOk(*plain);
  CHECK(ClientPool::global().stats().clients == before.clients + 4);
  CHECK(ClientPool::global().stats().references == before.references + 5);
  s1.reset();
  s2.reset();
  s3.reset();
  s4.reset();
  s5.reset();
  CHECK(ClientPool::global().stats().clients == before.clients);
}

TEST_CASE("pool keys hash the secrets and never hold them in clear") {
  kafka::ClientConfig c;
  c.bootstrapServers = {"b:9092"};
  c.password = "p4ssw0rd-value";
  const std::string key = c.poolKey();
  CHECK(key.size() == 64);
  CHECK(key.find("p4ssw0rd") == std::string::npos);
  kafka::ClientConfig d = c;
  d.password = "other";
  CHECK(d.poolKey() != key);
  d = c;
  d.ca = "x";
  CHECK(d.poolKey() != key);
  d = c;
  CHECK(d.poolKey() == key);
}

TEST_CASE("sharing can be switched off (one client per scaler, as KEDA)") {
  MockCluster cluster(1);
  const auto before = ClientPool::global().stats();
  ClientPool::global().setSharing(false);
  auto def = definition({{"bootstrapServers", cluster.bootstrap()}, {"consumerGroup", "g"}});
  auto s1 = createOk(*def);
  auto s2 = createOk(*def);
  ClientPool::global().setSharing(true);
  CHECK(ClientPool::global().stats().clients == before.clients + 2);
  s1.reset();
  s2.reset();
  CHECK(ClientPool::global().stats().clients == before.clients);
}

TEST_CASE("TLS material is handed to librdkafka; bad material fails createScaler without secrets") {
  const StringMap md = {{"bootstrapServers", "127.0.0.1:9"},
                        {"consumerGroup", "g"},
                        {"topic", "t"},
                        {"tls", "enable"}};
  const std::string ca = updraft::testing::readTestdata("ca.pem");
  const std::string cert = updraft::testing::readTestdata("client.pem");
  const std::string key = updraft::testing::readTestdata("client.key");

  SECTION("valid CA, certificate and key") {
    auto def = definition(md, {{"ca", ca}, {"cert", cert}, {"key", key}});
    CHECK(create(*def).isOk());
  }
  SECTION("unsafeSsl with a CA only") {
    StringMap m = md;
    m["unsafeSsl"] = "true";
    auto def = definition(m, {{"ca", ca}});
    CHECK(create(*def).isOk());
  }
  SECTION("an encrypted key with its keyPassword") {
    const std::string encrypted = encryptedClientKey("open-sesame-42");
    auto good =
        definition(md, {{"cert", cert}, {"key", encrypted}, {"keyPassword", "open-sesame-42"}});
    auto ok = create(*good);
    INFO(ok.status().message());
    CHECK(ok.isOk());
    auto bad =
        definition(md, {{"cert", cert}, {"key", encrypted}, {"keyPassword", "wrong-guess-77"}});
    auto r = create(*bad);
    REQUIRE_FALSE(r.isOk());
    CHECK_THAT(r.status().message(), Catch::Contains("kafka brokers 127.0.0.1:9"));
    CHECK_THAT(r.status().message(), !Catch::Contains("wrong-guess-77"));
    CHECK_THAT(r.status().message(), !Catch::Contains("BEGIN"));
  }
  SECTION("a CA that is not PEM") {
    auto def = definition(md, {{"ca", "not a certificate at all"}});
    auto r = create(*def);
    REQUIRE_FALSE(r.isOk());
    CHECK_THAT(r.status().message(), Catch::Contains("kafka brokers 127.0.0.1:9"));
    CHECK_THAT(r.status().message(), !Catch::Contains("not a certificate at all"));
  }
}

TEST_CASE("SASL modes librdkafka cannot serve here are refused at createScaler, clearly") {
  const StringMap md = {
      {"bootstrapServers", "127.0.0.1:9"}, {"consumerGroup", "g"}, {"topic", "t"}};
  auto gssapi = definition(md, {{"sasl", "gssapi"},
                                {"username", "u"},
                                {"keytab", "kt"},
                                {"realm", "EXAMPLE.COM"},
                                {"kerberosConfig", "[libdefaults]"}});
  auto r = create(*gssapi);
  REQUIRE_FALSE(r.isOk());
  CHECK(r.status().code() == StatusCode::kFailedPrecondition);
  CHECK_THAT(r.status().message(), Catch::Contains("gssapi"));
  CHECK_THAT(r.status().message(), Catch::Contains("not supported"));

  StringMap mskMd = md;
  mskMd["awsRegion"] = "eu-west-1";
  mskMd["tls"] = "enable";
  auto msk = definition(mskMd, {{"sasl", "oauthbearer"},
                                {"saslTokenProvider", "aws_msk_iam"},
                                {"awsAccessKeyID", "AKIA"},
                                {"awsSecretAccessKey", "very-secret-key"}});
  auto m = create(*msk);
  REQUIRE_FALSE(m.isOk());
  CHECK_THAT(m.status().message(), Catch::Contains("aws_msk_iam is not supported"));
  CHECK_THAT(m.status().message(), !Catch::Contains("very-secret-key"));
}

TEST_CASE("SASL/PLAIN and SCRAM against a broker without SASL: a poll error naming the brokers") {
  MockCluster cluster(1);  // the 2.0.2 mock broker has no SASL handshake
  cluster.createTopic("t", 1);
  auto def = definition({{"bootstrapServers", cluster.bootstrap()},
                         {"consumerGroup", "g"},
                         {"topic", "t"},
                         {"sasl", "scram_sha256"}},
                        {{"username", "u"}, {"password", "scram-secret-9"}});
  auto s = createOk(*def);
  auto r = s->getMetricsAndActivity("m", SystemClock::instance().now() + Millis(1500));
  REQUIRE_FALSE(r.isOk());
  CHECK_THAT(r.status().message(), Catch::Contains(cluster.bootstrap()));
  CHECK_THAT(r.status().message(), !Catch::Contains("scram-secret-9"));
}

TEST_CASE("OAUTHBEARER fetches a client-credentials token from the token endpoint") {
  TestServer server;
  std::mutex mutex;
  std::vector<std::string> bodies;
  std::vector<std::string> authorizations;
  server.server().Post("/token", [&](const httplib::Request& req, httplib::Response& res) {
    {
      std::lock_guard lock(mutex);
      bodies.push_back(req.body);
      authorizations.push_back(req.get_header_value("Authorization"));
    }
    res.set_content(R"({"access_token":"tok-123","token_type":"bearer","expires_in":300})",
                    "application/json");
  });
  server.server().Post("/strict", [&](const httplib::Request& req, httplib::Response& res) {
    // Accepts credentials in the body only (Go's AuthStyleInParams fallback).
    if (req.has_header("Authorization")) {
      res.status = 401;
      return;
    }
    std::lock_guard lock(mutex);
    bodies.push_back(req.body);
    res.set_content("access_token=tok-456&expires_in=60", "application/x-www-form-urlencoded");
  });
  server.server().Post("/broken",
                       [](const httplib::Request&, httplib::Response& res) { res.status = 500; });
  server.start();

  SECTION("the token request") {
    auto token = kafka::fetchOAuthToken(
        {"client-1", "s3cret", server.url("/token"), {"scope1", " scope2", ""}}, Millis(3000));
    REQUIRE(token.isOk());
    CHECK(token->accessToken == "tok-123");
    CHECK(token->lifetime == Millis(300000));
    std::lock_guard lock(mutex);
    REQUIRE(bodies.size() == 1);
    CHECK(bodies[0] == "grant_type=client_credentials&scope=scope1+scope2");
    CHECK(authorizations[0] == "Basic Y2xpZW50LTE6czNjcmV0");  // client-1:s3cret
  }
  SECTION("credentials in the body when the header is refused") {
    auto token =
        kafka::fetchOAuthToken({"client-1", "s3cret", server.url("/strict"), {}}, Millis(3000));
    REQUIRE(token.isOk());
    CHECK(token->accessToken == "tok-456");
    CHECK(token->lifetime == Millis(60000));
    std::lock_guard lock(mutex);
    CHECK(bodies.back() == "grant_type=client_credentials&client_id=client-1&client_secret=s3cret");
  }
  SECTION("errors name the endpoint, not the secret") {
    auto token =
        kafka::fetchOAuthToken({"client-1", "s3cret", server.url("/broken"), {}}, Millis(3000));
    REQUIRE_FALSE(token.isOk());
    CHECK_THAT(token.status().message(), Catch::Contains(server.url("/broken")));
    CHECK_THAT(token.status().message(), Catch::Contains("500"));
    CHECK_THAT(token.status().message(), !Catch::Contains("s3cret"));
  }
  SECTION("a scaler's client asks for a token when it connects") {
    MockCluster cluster(1);
    auto def = definition({{"bootstrapServers", cluster.bootstrap()},
                           {"consumerGroup", "g"},
                           {"topic", "t"},
                           {"sasl", "oauthbearer"}},
                          {{"username", "client-1"},
                           {"password", "s3cret"},
                           {"scopes", "kafka"},
                           {"oauthTokenEndpointUri", server.url("/token")}});
    auto s = createOk(*def);
    for (int i = 0; i < 100; ++i) {
      {
        std::lock_guard lock(mutex);
        if (!bodies.empty()) break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    std::lock_guard lock(mutex);
    REQUIRE_FALSE(bodies.empty());
    CHECK(bodies[0] == "grant_type=client_credentials&scope=kafka");
  }
}

TEST_CASE("old broker versions configure librdkafka's fallback protocol; versions split clients") {
  const auto before = ClientPool::global().stats();
  const StringMap base = {{"bootstrapServers", "127.0.0.1:9"}, {"consumerGroup", "g"}};
  StringMap old = base;
  old["version"] = "0.9.0.1";
  StringMap recent = base;
  recent["version"] = "2.8.0";
  auto a = createOk(*definition(old));
  auto b = createOk(*definition(recent));
  auto c = createOk(*definition(base));
  CHECK(ClientPool::global().stats().clients == before.clients + 3);
}
