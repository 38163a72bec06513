// KubeAuthResolver and container env resolution against a MemoryObjectCache (keda-behaviour.md
// §1.6, KEDA's pkg/scaling/resolver).
#include "updraft/operator/kube_auth.h"

#include <catch2/catch.hpp>

using namespace updraft;
using namespace updraft::kube;
using nlohmann::json;

namespace {

// base64 of the test values, as the API serves Secret .data.
constexpr const char* kHunter2 = "aHVudGVyMg==";        // "hunter2"
constexpr const char* kAdmin = "YWRtaW4=";              // "admin"
constexpr const char* kTopSecret = "dG9wLXNlY3JldA==";  // "top-secret"

json secret(const std::string& ns, const std::string& name, json data) {
  return {{"apiVersion", "v1"},
          {"kind", "Secret"},
          {"metadata", {{"namespace", ns}, {"name", name}}},
          {"data", std::move(data)}};
}

json configMap(const std::string& ns, const std::string& name, json data, json binary = nullptr) {
  json cm = {{"apiVersion", "v1"},
             {"kind", "ConfigMap"},
             {"metadata", {{"namespace", ns}, {"name", name}}},
             {"data", std::move(data)}};
  if (!binary.is_null()) cm["binaryData"] = std::move(binary);
  return cm;
}

json triggerAuth(const std::string& ns, const std::string& name, json spec) {
  json ta = {{"apiVersion", "keda.sh/v1alpha1"},
             {"kind", ns.empty() ? "ClusterTriggerAuthentication" : "TriggerAuthentication"},
             {"metadata", {{"name", name}}},
             {"spec", std::move(spec)}};
  if (!ns.empty()) ta["metadata"]["namespace"] = ns;
  return ta;
}

ScaleTriggers triggerWith(const std::string& name,
                          const std::string& kind = "TriggerAuthentication") {
  ScaleTriggers t;
  t.type = "kafka";
  t.authenticationRef = AuthenticationRef{name, kind};
  return t;
}

// A Deployment with an "app" container (first) and a "sidecar".
json deployment() {
  return json::parse(R"js({
    "apiVersion": "apps/v1", "kind": "Deployment",
    "metadata": {"namespace": "shop", "name": "orders"},
    "spec": {"template": {"spec": {"containers": [
      {"name": "app",
       "envFrom": [{"configMapRef": {"name": "app-config"}, "prefix": "CFG_"},
                   {"secretRef": {"name": "db-creds"}}],
       "env": [
         {"name": "HOST", "value": "db.shop"},
         {"name": "URL", "value": "postgres://$(HOST):5432/$(CFG_db)?u=$(user)&x=$(NOPE)&$$(HOST)"},
         {"name": "PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db-creds", "key": "password"}}},
         {"name": "MODE", "valueFrom": {"configMapKeyRef": {"name": "app-config", "key": "mode"}}},
         {"name": "OPT", "valueFrom": {"secretKeyRef": {"name": "absent", "key": "k", "optional": true}}},
         {"name": "OPTKEY", "valueFrom": {"configMapKeyRef": {"name": "app-config", "key": "nokey", "optional": true}}},
         {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
         {"name": "EMPTY"}
       ]
},
      {"name": "sidecar", "env": [{"name": "REGION", "value": "eu-west-1"}]}
    ]
}
}
}
})js");
}

// The Secret and ConfigMap the deployment reads.
void fill(MemoryObjectCache& cache) {
  cache.put("secrets", secret("shop", "db-creds", {{"password", kHunter2}, {"user", kAdmin}}));
  cache.put("configmaps", configMap("shop", "app-config", {{"db", "orders"}, {"mode", "fast"}}));
}

}  // namespace

TEST_CASE("podSpecOf finds the pod template of workloads and ScaledJobs") {
  json dep = deployment();
  CHECK(podSpecOf(dep) == dep["spec"]["template"]["spec"]);
  json sj = {
      {"kind", "ScaledJob"},
      {"spec", {{"jobTargetRef", {{"template", {{"spec", {{"containers", json::array()}}}}}}}}}};
  CHECK(podSpecOf(sj) == json{{"containers", json::array()}});
  CHECK(podSpecOf(json{{"kind", "Foo"}, {"spec", {{"replicas", 2}}}}).is_null());
  CHECK(podSpecOf(json("not an object")).is_null());
  CHECK(podSpecOf(json{{"spec", {{"template", {{"spec", 5}}}}}}).is_null());
}

TEST_CASE("resolveContainerEnv: envFrom with prefix, valueFrom, $(VAR) expansion, optional refs") {
  MemoryObjectCache cache;
  fill(cache);
  auto env = resolveContainerEnv(podSpecOf(deployment()), "", "shop", cache);
  REQUIRE(env.isOk());
  const StringMap& e = *env;
  CHECK(e.at("CFG_db") == "orders");  // configMapRef with prefix
  CHECK(e.at("CFG_mode") == "fast");
  CHECK(e.at("password") == "hunter2");  // secretRef without prefix, base64-decoded
  CHECK(e.at("user") == "admin");
  CHECK(e.at("HOST") == "db.shop");
  // Earlier vars and envFrom vars expand; unknown references stay; $$ escapes.
  CHECK(e.at("URL") == "postgres://db.shop:5432/orders?u=admin&x=$(NOPE)&$(HOST)");
  CHECK(e.at("PASSWORD") == "hunter2");
  CHECK(e.at("MODE") == "fast");
  CHECK(e.count("OPT") == 0);     // optional secret missing: skipped
  CHECK(e.count("OPTKEY") == 0);  // optional key missing: skipped
  CHECK(e.count("POD") == 0);     // fieldRef: skipped like KEDA
  CHECK(e.at("EMPTY").empty());
  CHECK(e.count("REGION") == 0);  // that is the sidecar's

  auto sidecar = resolveContainerEnv(podSpecOf(deployment()), "sidecar", "shop", cache);
  REQUIRE(sidecar.isOk());
  CHECK(*sidecar == StringMap{{"REGION", "eu-west-1"}});
}

TEST_CASE("$(VAR) expansion only sees variables defined before") {
  MemoryObjectCache cache;
  json spec = json::parse(R"js({"containers": [{"name": "c", "env": [
    {"name": "A", "value": "$(B)-a"}, {"name": "B", "value": "b"}, {"name": "C", "value": "$(B)$(A)$"},
    {"name": "D", "value": "$(unclosed"}, {"name": "E", "value": "$x"}]}]})js");
  auto env = resolveContainerEnv(spec, "c", "shop", cache);
  REQUIRE(env.isOk());
  CHECK(env->at("A") == "$(B)-a");
  CHECK(env->at("C") == "b$(B)-a$");
  CHECK(env->at("D") == "$(unclosed");
  CHECK(env->at("E") == "$x");
}

TEST_CASE("resolveContainerEnv errors name the container, the object and the key, never a value") {
  MemoryObjectCache cache;
  fill(cache);
  json spec = podSpecOf(deployment());

  auto unknown = resolveContainerEnv(spec, "worker", "shop", cache);
  REQUIRE_FALSE(unknown.isOk());
  CHECK(unknown.status().message() ==
        "container \"worker\" not found in the scale target (containers: app, sidecar)");

  // A non-optional key that the secret lacks: the error names secret and key, not the contents.
  spec["containers"][0]["env"].push_back(
      {{"name", "TOKEN"},
       {"valueFrom", {{"secretKeyRef", {{"name", "db-creds"}, {"key", "token"}}}}}});
  auto missingKey = resolveContainerEnv(spec, "app", "shop", cache);
  REQUIRE_FALSE(missingKey.isOk());
  const std::string& msg = missingKey.status().message();
  CHECK(msg == "container \"app\": env TOKEN: key \"token\" not found in secret shop/db-creds");
  CHECK(msg.find("hunter2") == std::string::npos);
  CHECK(msg.find(kHunter2) == std::string::npos);

  // A non-optional envFrom secret that does not exist.
  json spec2 = json::parse(
      R"js({"containers": [{"name": "c", "envFrom": [{"secretRef": {"name": "gone"}}]}]})js");
  auto missingSecret = resolveContainerEnv(spec2, "", "shop", cache);
  REQUIRE_FALSE(missingSecret.isOk());
  CHECK(missingSecret.status().message() == "container \"c\": envFrom: secret shop/gone not found");

  auto none = resolveContainerEnv(json::object(), "", "shop", cache);
  REQUIRE_FALSE(none.isOk());
  CHECK(none.status().message() == "the scale target has no containers");

  // Resolving all containers fails with the first failing one.
  auto all = resolveAllContainerEnv(spec, "shop", cache);
  REQUIRE_FALSE(all.isOk());
  CHECK(all.status().message() == msg);
}

TEST_CASE("resolveAllContainerEnv keeps every container in order") {
  MemoryObjectCache cache;
  fill(cache);
  auto all = resolveAllContainerEnv(podSpecOf(deployment()), "shop", cache);
  REQUIRE(all.isOk());
  CHECK(all->second == std::vector<std::string>{"app", "sidecar"});
  CHECK(all->first.at("app").at("PASSWORD") == "hunter2");
  CHECK(all->first.at("sidecar").at("REGION") == "eu-west-1");

  auto empty = resolveAllContainerEnv(nullptr, "shop", cache);
  REQUIRE(empty.isOk());
  CHECK(empty->first.empty());
  CHECK(empty->second.empty());
}

TEST_CASE("TriggerAuthentication: secretTargetRef, configMapTargetRef and env from containers") {
  MemoryObjectCache cache;
  fill(cache);
  cache.put("configmaps",
            configMap("shop", "kafka-config", {{"sasl", "plaintext"}}, {{"cert", kTopSecret}}));
  cache.put("triggerauthentications", triggerAuth("shop", "kafka-auth", json::parse(R"js({
    "secretTargetRef": [{"parameter": "password", "name": "db-creds", "key": "password"},
                        {"parameter": "username", "name": "db-creds", "key": "user"}],
    "configMapTargetRef": [{"parameter": "sasl", "name": "kafka-config", "key": "sasl"},
                           {"parameter": "cert", "name": "kafka-config", "key": "cert"}],
    "env": [{"parameter": "url", "name": "URL"},
            {"parameter": "region", "name": "REGION", "containerName": "sidecar"}],
    "podIdentity": {"provider": "azure-workload"}
  })js")));
  // As the API server serves it: server-set metadata and the status KEDA maintains.
  json served = *cache.get("triggerauthentications", "shop", "kafka-auth");
  served["metadata"].update(json::parse(R"js({"uid": "0b7c", "resourceVersion": "812",
    "generation": 1, "creationTimestamp": "2024-05-01T12:00:00Z",
    "managedFields": [{"manager": "kubectl", "operation": "Update", "apiVersion": "keda.sh/v1alpha1"}]})js"));
  served["status"] = {{"scaledobjects", "orders"}};
  cache.put("triggerauthentications", served);
  auto all = resolveAllContainerEnv(podSpecOf(deployment()), "shop", cache);
  REQUIRE(all.isOk());
  KubeAuthResolver resolver(cache, all->first, all->second);
  std::string warning;
  auto auth = resolver.resolve("shop", triggerWith("kafka-auth"), &warning);
  REQUIRE(auth.isOk());
  CHECK(warning.empty());
  CHECK(auth->params ==
        StringMap{{"password", "hunter2"},
                  {"username", "admin"},
                  {"sasl", "plaintext"},
                  {"cert", "top-secret"},  // binaryData fallback
                  {"url", "postgres://db.shop:5432/orders?u=admin&x=$(NOPE)&$(HOST)"},
                  {"region", "eu-west-1"}});
  CHECK(auth->podIdentityProvider == "azure-workload");

  // The same name in another namespace is not found.
  warning.clear();
  auto other = resolver.resolve("billing", triggerWith("kafka-auth"), &warning);
  REQUIRE(other.isOk());
  CHECK(other->params.empty());
  CHECK(warning ==
        "TriggerAuthentication \"kafka-auth\" not found in namespace billing; the trigger gets no "
        "auth parameters");
}

TEST_CASE("ClusterTriggerAuthentication reads from the cluster object namespace") {
  MemoryObjectCache cache;
  cache.put("secrets", secret("keda", "shared", {{"token", kTopSecret}}));
  cache.put("secrets", secret("shop", "shared", {{"token", kHunter2}}));
  cache.put("clustertriggerauthentications", triggerAuth("", "global", json::parse(R"js({
    "secretTargetRef": [{"parameter": "token", "name": "shared", "key": "token"}]})js")));
  KubeAuthResolver resolver(cache, {}, {}, KubeAuthOptions{"keda"});
  std::string warning;
  auto auth =
      resolver.resolve("shop", triggerWith("global", "ClusterTriggerAuthentication"), &warning);
  REQUIRE(auth.isOk());
  CHECK(warning.empty());
  CHECK(auth->params == StringMap{{"token", "top-secret"}});

  // A TriggerAuthentication of the same name does not exist: kind matters.
  warning.clear();
  auto ta = resolver.resolve("shop", triggerWith("global"), &warning);
  REQUIRE(ta.isOk());
  CHECK(ta->params.empty());
  CHECK(warning.find("TriggerAuthentication \"global\" not found in namespace shop") == 0);
}

TEST_CASE("missing TA, secret or key: empty parameters and warnings without values") {
  MemoryObjectCache cache;
  fill(cache);
  cache.put("secrets", secret("shop", "garbled", {{"token", "!!hunter2!!"}}));
  cache.put("triggerauthentications", triggerAuth("shop", "partial", json::parse(R"js({
    "secretTargetRef": [{"parameter": "password", "name": "db-creds", "key": "pasword"},
                        {"parameter": "garbled", "name": "garbled", "key": "token"},
                        {"parameter": "token", "name": "nope", "key": "token"}],
    "env": [{"parameter": "region", "name": "REGION", "containerName": "worker"},
            {"parameter": "missing", "name": "UNSET"}]})js")));
  auto all = resolveAllContainerEnv(podSpecOf(deployment()), "shop", cache);
  REQUIRE(all.isOk());
  KubeAuthResolver resolver(cache, all->first, all->second);

  std::string warning;
  auto none = resolver.resolve("shop", triggerWith("absent"), &warning);
  REQUIRE(none.isOk());
  CHECK(none->params.empty());
  CHECK(none->podIdentityProvider.empty());
  CHECK(warning ==
        "TriggerAuthentication \"absent\" not found in namespace shop; the trigger gets no auth "
        "parameters");

  warning.clear();
  auto partial = resolver.resolve("shop", triggerWith("partial"), &warning);
  REQUIRE(partial.isOk());
  CHECK(
      partial->params ==
      StringMap{{"password", ""}, {"garbled", ""}, {"token", ""}, {"region", ""}, {"missing", ""}});
  CHECK(warning.find("parameter \"garbled\": key \"token\" of secret shop/garbled is not valid "
                     "base64") != std::string::npos);
  CHECK(warning.find("TriggerAuthentication shop/partial: parameter \"password\": key \"pasword\" "
                     "not found in secret shop/db-creds") != std::string::npos);
  CHECK(warning.find("parameter \"token\": secret shop/nope not found") != std::string::npos);
  CHECK(warning.find("env parameter \"region\": container \"worker\" not found (containers: app, "
                     "sidecar)") != std::string::npos);
  CHECK(warning.find("env parameter \"missing\": UNSET is not set in container \"app\"") !=
        std::string::npos);
  CHECK(warning.find("hunter2") == std::string::npos);
  CHECK(warning.find("admin") == std::string::npos);

  // No trigger auth at all, or no warning sink: nothing to do, no crash.
  ScaleTriggers plain;
  plain.type = "kafka";
  auto nothing = resolver.resolve("shop", plain, nullptr);
  REQUIRE(nothing.isOk());
  CHECK(nothing->params.empty());
  CHECK(resolver.resolve("shop", triggerWith("partial"), nullptr).isOk());
}

TEST_CASE("env[] without a pod template resolves to empty parameters") {
  MemoryObjectCache cache;
  cache.put("triggerauthentications", triggerAuth("shop", "env-only", json::parse(R"js({
    "env": [{"parameter": "region", "name": "REGION"}]})js")));
  KubeAuthResolver resolver(cache, {}, {});
  std::string warning;
  auto auth = resolver.resolve("shop", triggerWith("env-only"), &warning);
  REQUIRE(auth.isOk());
  CHECK(auth->params == StringMap{{"region", ""}});
  CHECK(warning.find("the scale target has no pod template") != std::string::npos);
}

TEST_CASE("cloud secret providers are refused with an error naming the TriggerAuthentication") {
  MemoryObjectCache cache;
  fill(cache);
  cache.put("triggerauthentications", triggerAuth("shop", "vault", json::parse(R"js({
    "secretTargetRef": [{"parameter": "password", "name": "db-creds", "key": "password"}],
    "hashiCorpVault": {"address": "https://vault:8200", "authentication": "token",
                       "credential": {"token": "s.vaulttoken"},
                       "secrets": [{"parameter": "pw", "path": "secret/db", "key": "pw"}]}})js")));
  cache.put("clustertriggerauthentications", triggerAuth("", "aws", json::parse(R"js({
    "awsSecretManager": {"secrets": [{"parameter": "pw", "name": "db"}]}})js")));
  cache.put("triggerauthentications", triggerAuth("shop", "bound", json::parse(R"js({
    "boundServiceAccountToken": [{"parameter": "token", "serviceAccountName": "reader"}]})js")));
  cache.put("triggerauthentications",
            triggerAuth("shop", "file", json::parse(R"js({"filePath": "creds.json"})js")));
  KubeAuthResolver resolver(cache, {}, {});
  std::string warning;

  auto vault = resolver.resolve("shop", triggerWith("vault"), &warning);
  REQUIRE_FALSE(vault.isOk());
  CHECK(vault.status().message().find(
            "TriggerAuthentication shop/vault: hashiCorpVault is not supported yet") == 0);
  CHECK(vault.status().message().find("hunter2") == std::string::npos);
  CHECK(vault.status().message().find("s.vaulttoken") == std::string::npos);

  auto aws = resolver.resolve("shop", triggerWith("aws", "ClusterTriggerAuthentication"), &warning);
  REQUIRE_FALSE(aws.isOk());
  CHECK(aws.status().message().find(
            "ClusterTriggerAuthentication aws: awsSecretManager is not supported yet") == 0);

  auto bound = resolver.resolve("shop", triggerWith("bound"), &warning);
  REQUIRE_FALSE(bound.isOk());
  CHECK(bound.status().message().find("boundServiceAccountToken is not supported yet") !=
        std::string::npos);

  auto file = resolver.resolve("shop", triggerWith("file"), &warning);
  REQUIRE_FALSE(file.isOk());
  CHECK(file.status().message() ==
        "TriggerAuthentication shop/file: filePath is only supported for "
        "ClusterTriggerAuthentication");
  CHECK(warning.empty());
}

TEST_CASE("oauth2 resolves into KEDA's parameters") {
  MemoryObjectCache cache;
  cache.put("secrets", secret("shop", "oauth", {{"secret", kHunter2}}));
  cache.put("triggerauthentications", triggerAuth("shop", "oauth", json::parse(R"js({
    "oauth2": {"type": "clientCredentials", "clientId": "updraft", "tokenUrl": "https://idp/token",
               "scopes": ["read", "write"], "tokenUrlParams": {"b": "x y", "a": "1&2"},
               "clientSecret": {"valueFrom": {"secretKeyRef": {"name": "oauth", "key": "secret"}}}}
  })js")));
  KubeAuthResolver resolver(cache, {}, {});
  std::string warning;
  auto auth = resolver.resolve("shop", triggerWith("oauth"), &warning);
  REQUIRE(auth.isOk());
  CHECK(warning.empty());
  CHECK(auth->params == StringMap{{"oauthTokenURI", "https://idp/token"},
                                  {"clientID", "updraft"},
                                  {"clientSecret", "hunter2"},
                                  {"scopes", "read,write"},
                                  {"endpointParams", "a=1%262&b=x+y"}});
}

TEST_CASE("an unreadable TriggerAuthentication counts as missing") {
  MemoryObjectCache cache;
  cache.put("triggerauthentications",
            triggerAuth("shop", "broken", json::parse(R"js({"secretTargetRef": "oops"})js")));
  KubeAuthResolver resolver(cache, {}, {});
  std::string warning;
  auto auth = resolver.resolve("shop", triggerWith("broken"), &warning);
  REQUIRE(auth.isOk());
  CHECK(auth->params.empty());
  CHECK(warning.find("TriggerAuthentication shop/broken is invalid (spec.secretTargetRef") == 0);

  warning.clear();
  auto kind = resolver.resolve("shop", triggerWith("broken", "Secret"), &warning);
  REQUIRE(kind.isOk());
  CHECK(warning.find("unknown authenticationRef kind \"Secret\"") == 0);
}
