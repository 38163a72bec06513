// LocalAuthResolver: TriggerAuthentications in `updraft run` (secrets from files or environment).
#include <stdlib.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "updraft/triggers.h"

using namespace updraft;

namespace {

TriggerAuthentication makeAuth(std::string name, bool cluster) {
  TriggerAuthentication ta;
  ta.clusterScoped = cluster;
  ta.metadata.name = std::move(name);
  ta.metadata.namespace_ = cluster ? "" : "shop";
  ta.spec.secretTargetRef.push_back({"password", "kafka-creds", "password"});
  ta.spec.secretTargetRef.push_back({"username", "kafka-creds", "user"});
  ta.spec.env.push_back({"region", "UPDRAFT_TEST_REGION", ""});
  if (cluster) ta.spec.podIdentity = PodIdentity{"azure-workload", "", "", "", "", "", ""};
  return ta;
}

ScaleTriggers triggerWith(std::string name, std::string kind) {
  ScaleTriggers t;
  t.type = "kafka";
  t.authenticationRef = AuthenticationRef{std::move(name), std::move(kind)};
  return t;
}

}  // namespace

TEST_CASE("secrets come from <dir>/<secret>/<key>, then UPDRAFT_SECRET_<NAME>_<KEY>") {
  auto dir = std::filesystem::temp_directory_path() / "updraft-auth-test";
  std::filesystem::create_directories(dir / "kafka-creds");
  std::ofstream(dir / "kafka-creds" / "password") << "s3cret";
  ::setenv("UPDRAFT_SECRET_KAFKA_CREDS_USER", "alice", 1);
  ::setenv("UPDRAFT_TEST_REGION", "eu-west-1", 1);
  LocalAuthResolver resolver({makeAuth("creds", false)}, dir.string());

  std::string warning;
  auto params = resolver.resolve("shop", triggerWith("creds", "TriggerAuthentication"), &warning);
  REQUIRE(params.isOk());
  CHECK(params->params.at("password") == "s3cret");
  CHECK(params->params.at("username") == "alice");
  CHECK(params->params.at("region") == "eu-west-1");
  CHECK(warning.empty());
  CHECK(LocalAuthResolver::secretEnvName("kafka-creds", "user") ==
        "UPDRAFT_SECRET_KAFKA_CREDS_USER");

  // A namespaced TriggerAuthentication is not visible from another namespace (KEDA QUIRK: a
  // missing one yields empty params, with a warning here).
  warning.clear();
  params = resolver.resolve("other", triggerWith("creds", "TriggerAuthentication"), &warning);
  REQUIRE(params.isOk());
  CHECK(params->params.empty());
  CHECK(warning.find("not found in namespace other") != std::string::npos);

  // A missing secret key resolves to "" and says where it looked, without any value.
  ::unsetenv("UPDRAFT_SECRET_KAFKA_CREDS_USER");
  warning.clear();
  params = resolver.resolve("shop", triggerWith("creds", "TriggerAuthentication"), &warning);
  REQUIRE(params.isOk());
  CHECK(params->params.at("username").empty());
  CHECK(warning.find("UPDRAFT_SECRET_KAFKA_CREDS_USER") != std::string::npos);
  CHECK(warning.find("s3cret") == std::string::npos);
  std::filesystem::remove_all(dir);
}

TEST_CASE("ClusterTriggerAuthentication is found from any namespace, by kind") {
  ::setenv("UPDRAFT_SECRET_KAFKA_CREDS_PASSWORD", "p", 1);
  ::setenv("UPDRAFT_SECRET_KAFKA_CREDS_USER", "u", 1);
  LocalAuthResolver resolver({makeAuth("shared", true)}, "/nonexistent");
  std::string warning;
  auto params =
      resolver.resolve("any", triggerWith("shared", "ClusterTriggerAuthentication"), &warning);
  REQUIRE(params.isOk());
  CHECK(params->params.at("password") == "p");
  CHECK(params->podIdentityProvider == "azure-workload");
  params = resolver.resolve("any", triggerWith("shared", "TriggerAuthentication"), &warning);
  REQUIRE(params.isOk());
  CHECK(params->params.empty());  // the kind must match
  ::unsetenv("UPDRAFT_SECRET_KAFKA_CREDS_PASSWORD");
  ::unsetenv("UPDRAFT_SECRET_KAFKA_CREDS_USER");
}
