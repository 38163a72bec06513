// JSON -> model: every field, defaults, and the API server's strictness.
#include "updraft/parse.h"

#include <catch2/catch.hpp>
#include <chrono>
#include <string>

#include "model/model_test_util.h"

using nlohmann::json;
using namespace updraft;
using updraft::test::dump;
using updraft::test::hasProblem;
using updraft::test::messagesAt;
using updraft::test::parseOne;
using updraft::test::readData;
using updraft::test::soYaml;

TEST_CASE("a full ScaledObject maps every field", "[parse]") {
  auto docs = parseDocuments(readData("scaledobject-full.yaml"), "so.yaml");
  REQUIRE(docs.isOk());
  REQUIRE(docs->size() == 1);
  const Document& d = docs->front();
  INFO(dump(d.errors) << dump(d.warnings));
  CHECK(d.errors.empty());
  CHECK(d.warnings.empty());
  CHECK(d.sourceName == "so.yaml");
  CHECK(d.line == 2);
  CHECK(d.apiVersion == "keda.sh/v1alpha1");
  CHECK(d.kind == "ScaledObject");
  CHECK(d.displayName() == "shop/orders-consumer");
  const ScaledObject* so = d.scaledObject();
  REQUIRE(so);
  const ObjectMeta& m = so->metadata;
  CHECK(m.name == "orders-consumer");
  CHECK(m.namespace_ == "shop");
  CHECK(m.uid == "6f1c2a9e-5d1b-4f1e-9a57-0c7d2b1e9f10");
  CHECK(m.resourceVersion == "48213");
  CHECK(m.generation == 3);
  REQUIRE(m.creationTimestamp);
  CHECK(toSeconds(*m.creationTimestamp) == 1714564800.0);
  CHECK(m.labels.at("team") == "payments");
  CHECK(m.annotations.at("autoscaling.keda.sh/paused") == "false");
  CHECK(m.finalizers == std::vector<std::string>{"finalizer.keda.sh"});

  const ScaledObjectSpec& s = so->spec;
  CHECK(s.scaleTargetRef.apiVersion == "apps/v1");
  CHECK(s.scaleTargetRef.kind == "Deployment");
  CHECK(s.scaleTargetRef.name == "orders-consumer");
  CHECK(s.scaleTargetRef.envSourceContainerName == "consumer");
  CHECK(s.pollingInterval == 15);
  CHECK(s.initialCooldownPeriod == 60);
  CHECK(s.cooldownPeriod == 120);
  CHECK(s.idleReplicaCount == 0);
  CHECK(s.minReplicaCount == 1);
  CHECK(s.maxReplicaCount == 20);
  REQUIRE(s.fallback);
  CHECK(s.fallback->failureThreshold == 3);
  CHECK(s.fallback->replicas == 6);
  CHECK(s.fallback->behavior == "currentReplicasIfHigher");
  REQUIRE(s.advanced);
  CHECK(s.advanced->restoreToOriginalReplicaCount);
  REQUIRE(s.advanced->horizontalPodAutoscalerConfig);
  CHECK(so->hpaName() == "orders-consumer-hpa");
  const HpaBehavior* b = so->hpaBehavior();
  REQUIRE(b);
  REQUIRE(b->scaleDown);
  CHECK(b->scaleDown->stabilizationWindowSeconds == 300);
  CHECK(b->scaleDown->selectPolicy == "Min");
  CHECK(b->scaleDown->tolerance == Approx(0.05));
  REQUIRE(b->scaleDown->policies);
  REQUIRE(b->scaleDown->policies->size() == 1);
  CHECK((*b->scaleDown->policies)[0].type == "Percent");
  CHECK((*b->scaleDown->policies)[0].value == 50);
  CHECK((*b->scaleDown->policies)[0].periodSeconds == 60);
  REQUIRE(b->scaleUp);
  CHECK(b->scaleUp->policies->size() == 2);
  CHECK_FALSE(b->scaleUp->tolerance);
  CHECK_FALSE(so->isUsingModifiers());

  REQUIRE(s.triggers.size() == 2);
  const ScaleTriggers& k = s.triggers[0];
  CHECK(k.type == "kafka");
  CHECK(k.name == "lag");
  CHECK(k.useCachedMetrics);
  CHECK(k.metricType == MetricTargetType::kAverageValue);
  CHECK(k.metadata.at("lagThreshold") == "50");
  REQUIRE(k.authenticationRef);
  CHECK(k.authenticationRef->name == "kafka-credentials");
  CHECK(k.authenticationRef->kind == "TriggerAuthentication");
  CHECK(s.triggers[1].metadata.at("start") == "0 8 * * 1-5");
  CHECK_FALSE(s.triggers[1].metricType);
  CHECK_FALSE(s.triggers[1].useCachedMetrics);
}

TEST_CASE("defaults and derived values of a minimal ScaledObject", "[parse]") {
  Document d = parseOne(
      "apiVersion: keda.sh/v1alpha1\nkind: ScaledObject\nmetadata: {name: m}\n"
      "spec:\n  scaleTargetRef: {name: app}\n  triggers:\n  - type: cron\n    metadata: {}\n");
  INFO(dump(d.errors));
  CHECK(d.errors.empty());
  const ScaledObject* so = d.scaledObject();
  REQUIRE(so);
  CHECK(so->metadata.namespace_ == "default");
  CHECK(d.displayName() == "default/m");
  CHECK_FALSE(so->spec.pollingInterval);
  CHECK(so->effectivePollingInterval() == 30);
  CHECK(so->effectiveCooldownPeriod() == 300);
  CHECK(so->effectiveInitialCooldownPeriod() == 0);
  CHECK(so->effectiveMinReplicaCount() == 0);
  CHECK(so->effectiveMaxReplicaCount() == 100);
  CHECK(so->hpaMinReplicas() == 1);
  CHECK(so->hpaName() == "keda-hpa-m");
  CHECK(so->spec.scaleTargetRef.gvkString() == "apps/v1.Deployment");
  CHECK_FALSE(so->spec.fallback);
  CHECK_FALSE(so->spec.advanced);
  CHECK(so->spec.triggers[0].metadata.empty());
  CHECK(d.raw["spec"]["scaleTargetRef"]["name"] == "app");
}

TEST_CASE("fallback behavior defaults to static; authenticationRef kind to TriggerAuthentication",
          "[parse]") {
  Document d = parseOne(soYaml("  fallback: {failureThreshold: 0, replicas: 0}\n",
                               "    - type: kafka\n      metadata: {}\n"
                               "      authenticationRef: {name: creds}\n"));
  INFO(dump(d.errors));
  CHECK(d.errors.empty());
  CHECK(d.scaledObject()->spec.fallback->behavior == "static");
  CHECK(d.scaledObject()->spec.triggers[0].authenticationRef->kind == "TriggerAuthentication");
}

TEST_CASE("wrong types are errors with the field path", "[parse]") {
  Document d = parseOne(
      soYaml("  pollingInterval: \"30\"\n  cooldownPeriod: 1.5\n  minReplicaCount: true\n"
             "  maxReplicaCount: 3000000000\n  advanced: []\n",
             "    - type: kafka\n      useCachedMetrics: \"yes\"\n"
             "      metadata:\n        lagThreshold: 5\n        enabled: true\n        ratio: 0.5\n"
             "        nested: {a: b}\n        empty:\n"));
  INFO(dump(d.errors));
  CHECK(messagesAt(d.errors, "spec.pollingInterval") ==
        std::vector<std::string>{"expected an integer, got string \"30\""});
  CHECK(messagesAt(d.errors, "spec.cooldownPeriod") ==
        std::vector<std::string>{"expected an integer, got number 1.5"});
  CHECK(messagesAt(d.errors, "spec.minReplicaCount") ==
        std::vector<std::string>{"expected an integer, got boolean true"});
  CHECK(messagesAt(d.errors, "spec.maxReplicaCount") ==
        std::vector<std::string>{"3000000000 is out of range for int32"});
  CHECK(messagesAt(d.errors, "spec.advanced") ==
        std::vector<std::string>{"expected an object, got a list"});
  CHECK(messagesAt(d.errors, "spec.triggers[0].useCachedMetrics") ==
        std::vector<std::string>{"expected a boolean (true or false), got string \"yes\""});
  CHECK(messagesAt(d.errors, "spec.triggers[0].metadata.lagThreshold") ==
        std::vector<std::string>{"must be a string (quote it: \"5\")"});
  CHECK(messagesAt(d.errors, "spec.triggers[0].metadata.enabled") ==
        std::vector<std::string>{"must be a string (quote it: \"true\")"});
  CHECK(messagesAt(d.errors, "spec.triggers[0].metadata.ratio") ==
        std::vector<std::string>{"must be a string (quote it: \"0.5\")"});
  CHECK(messagesAt(d.errors, "spec.triggers[0].metadata.nested") ==
        std::vector<std::string>{"must be a string, got an object"});
  CHECK(hasProblem(d.warnings, "spec.triggers[0].metadata.empty", "null value ignored"));
  // Fields with errors keep their defaults; bad metadata keeps its text (no cascading errors).
  const ScaledObject* so = d.scaledObject();
  REQUIRE(so);
  CHECK_FALSE(so->spec.pollingInterval);
  CHECK(so->spec.triggers[0].metadata.at("lagThreshold") == "5");
  CHECK(so->spec.triggers[0].metadata.count("empty") == 0);
}

TEST_CASE("CRD minimums, maximums and enums", "[parse]") {
  Document d = parseOne(
      soYaml("  pollingInterval: 0\n  cooldownPeriod: -1\n  initialCooldownPeriod: -5\n"
             "  idleReplicaCount: -1\n  minReplicaCount: -1\n  maxReplicaCount: 0\n"
             "  fallback: {failureThreshold: -1, replicas: -2, behavior: sometimes}\n"
             "  advanced:\n    scalingModifiers: {metricType: Average}\n"
             "    horizontalPodAutoscalerConfig:\n      behavior:\n        scaleUp:\n"
             "          stabilizationWindowSeconds: 3601\n          selectPolicy: max\n"
             "          tolerance: -1\n"
             "          policies:\n          - {type: Pod, value: 0, periodSeconds: 1801}\n"
             "          - {}\n",
             "    - type: kafka\n      metricType: average\n      metadata: {}\n"
             "      authenticationRef: {name: a, kind: Secret}\n"));
  INFO(dump(d.errors));
  CHECK(messagesAt(d.errors, "spec.pollingInterval") ==
        std::vector<std::string>{"must be greater than or equal to 1, got 0"});
  CHECK(hasProblem(d.errors, "spec.cooldownPeriod", "must be greater than or equal to 0, got -1"));
  CHECK(hasProblem(d.errors, "spec.initialCooldownPeriod", "greater than or equal to 0"));
  CHECK(hasProblem(d.errors, "spec.idleReplicaCount", "greater than or equal to 0"));
  CHECK(hasProblem(d.errors, "spec.minReplicaCount", "greater than or equal to 0"));
  CHECK(hasProblem(d.errors, "spec.maxReplicaCount", "must be greater than or equal to 1, got 0"));
  CHECK(hasProblem(d.errors, "spec.fallback.failureThreshold", "greater than or equal to 0"));
  CHECK(hasProblem(d.errors, "spec.fallback.replicas", "greater than or equal to 0"));
  CHECK(messagesAt(d.errors, "spec.fallback.behavior") ==
        std::vector<std::string>{
            "unsupported value \"sometimes\": supported values: \"static\", \"currentReplicas\", "
            "\"currentReplicasIfHigher\", \"currentReplicasIfLower\", \"scalingModifiers\""});
  CHECK(hasProblem(d.errors, "spec.advanced.scalingModifiers.metricType",
                   "unsupported value \"Average\""));
  const std::string up = "spec.advanced.horizontalPodAutoscalerConfig.behavior.scaleUp";
  CHECK(hasProblem(d.errors, up + ".stabilizationWindowSeconds",
                   "must be less than or equal to 3600, got 3601"));
  CHECK(hasProblem(d.errors, up + ".selectPolicy", "(did you mean \"Max\"?)"));
  CHECK(hasProblem(d.errors, up + ".tolerance", "must not be negative"));
  CHECK(hasProblem(d.errors, up + ".policies[0].type", "supported values: \"Pods\", \"Percent\""));
  CHECK(hasProblem(d.errors, up + ".policies[0].value", "greater than or equal to 1, got 0"));
  CHECK(hasProblem(d.errors, up + ".policies[0].periodSeconds", "less than or equal to 1800"));
  CHECK(hasProblem(d.errors, up + ".policies[1].type", "required field is missing"));
  CHECK(hasProblem(d.errors, up + ".policies[1].value", "required field is missing"));
  CHECK(hasProblem(d.errors, up + ".policies[1].periodSeconds", "required field is missing"));
  CHECK(hasProblem(d.errors, "spec.triggers[0].metricType",
                   "supported values: \"AverageValue\", \"Value\", \"Utilization\""));
  CHECK(
      hasProblem(d.errors, "spec.triggers[0].authenticationRef.kind",
                 "supported values: \"TriggerAuthentication\", \"ClusterTriggerAuthentication\""));
}

TEST_CASE("required fields", "[parse]") {
  SECTION("spec and metadata") {
    Document d = parseOne("apiVersion: keda.sh/v1alpha1\nkind: ScaledObject\n");
    CHECK(messagesAt(d.errors, "metadata") ==
          std::vector<std::string>{"required field is missing"});
    CHECK(messagesAt(d.errors, "spec") == std::vector<std::string>{"required field is missing"});
  }
  SECTION("inside the spec") {
    Document d = parseOne(
        "apiVersion: keda.sh/v1alpha1\nkind: ScaledObject\nmetadata: {generateName: x-}\n"
        "spec:\n  scaleTargetRef: {name: \"\"}\n  fallback: {}\n  triggers:\n"
        "  - metadata: {}\n  - type: cron\n  - type: \"\"\n    metadata: {}\n"
        "    authenticationRef: {}\n");
    INFO(dump(d.errors));
    CHECK(
        messagesAt(d.errors, "metadata.name") ==
        std::vector<std::string>{"required field is missing (generateName is not supported here)"});
    CHECK(messagesAt(d.errors, "spec.scaleTargetRef.name") ==
          std::vector<std::string>{"must not be empty"});
    CHECK(hasProblem(d.errors, "spec.fallback.failureThreshold", "required field is missing"));
    CHECK(hasProblem(d.errors, "spec.fallback.replicas", "required field is missing"));
    CHECK(hasProblem(d.errors, "spec.triggers[0].type", "required field is missing"));
    CHECK(messagesAt(d.errors, "spec.triggers[1].metadata") ==
          std::vector<std::string>{
              "required field is missing (write metadata: {} for a scaler without parameters)"});
    CHECK(hasProblem(d.errors, "spec.triggers[2].type", "must not be empty"));
    CHECK(hasProblem(d.errors, "spec.triggers[2].authenticationRef.name",
                     "required field is missing"));
  }
  SECTION("scaleTargetRef and triggers") {
    Document d = parseOne(
        "apiVersion: keda.sh/v1alpha1\nkind: ScaledObject\nmetadata: {name: a}\nspec: {}\n");
    CHECK(hasProblem(d.errors, "spec.scaleTargetRef", "required field is missing"));
    CHECK(hasProblem(d.errors, "spec.triggers", "required field is missing"));
    Document e = parseOne(
        "apiVersion: keda.sh/v1alpha1\nkind: ScaledObject\nmetadata: {name: a}\n"
        "spec: {scaleTargetRef: {name: b}, triggers: []}\n");
    CHECK(hasProblem(e.errors, "spec.triggers", "must have at least 1 item"));
  }
}

TEST_CASE("unknown fields are warnings, with a suggestion when close", "[parse]") {
  Document d = parseOne(
      "apiVersion: keda.sh/v1alpha1\nkind: ScaledObject\nmetadata: {name: a, nmespace: x}\n"
      "status: {conditions: []}\nextra: 1\n"
      "spec:\n  scaleTargetRef: {name: b}\n  pollingIntrval: 10\n  somethingElse: 1\n"
      "  triggers:\n  - type: cron\n    metadata: {}\n    metdata: {}\n");
  INFO(dump(d.warnings));
  CHECK(d.errors.empty());
  CHECK(messagesAt(d.warnings, "spec.pollingIntrval") ==
        std::vector<std::string>{"unknown field (did you mean \"pollingInterval\"?)"});
  CHECK(messagesAt(d.warnings, "spec.somethingElse") == std::vector<std::string>{"unknown field"});
  CHECK(hasProblem(d.warnings, "metadata.nmespace", "did you mean \"namespace\""));
  CHECK(hasProblem(d.warnings, "spec.triggers[0].metdata", "did you mean \"metadata\""));
  CHECK(messagesAt(d.warnings, "extra") == std::vector<std::string>{"unknown field"});
  CHECK(messagesAt(d.warnings, "status").empty());  // kubectl get -o yaml output is fine
}

TEST_CASE("kinds and apiVersions", "[parse]") {
  SECTION("unknown kind names the supported ones") {
    Document d = parseOne("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\n");
    CHECK_FALSE(d.hasObject());
    REQUIRE(d.errors.size() == 1);
    CHECK(d.errors[0].path == "kind");
    CHECK(d.errors[0].message ==
          "unknown kind \"Deployment\" (supported: ScaledObject, ScaledJob, TriggerAuthentication, "
          "ClusterTriggerAuthentication (keda.sh/v1alpha1), ProcessPool (updraft.dev/v1alpha1))");
    Document typo = parseOne("apiVersion: keda.sh/v1alpha1\nkind: ScaledObjet\n");
    CHECK(hasProblem(typo.errors, "kind", "did you mean \"ScaledObject\"?"));
  }
  SECTION("wrong apiVersion for a known kind") {
    Document d = parseOne("apiVersion: keda.k8s.io/v1alpha1\nkind: ScaledObject\n");
    CHECK_FALSE(d.hasObject());
    CHECK(hasProblem(d.errors, "apiVersion",
                     "\"keda.k8s.io/v1alpha1\" is not supported for kind ScaledObject (expected "
                     "keda.sh/v1alpha1)"));
  }
  SECTION("missing kind / apiVersion, non-object documents") {
    Document d = parseOne("metadata: {name: x}\n");
    CHECK(hasProblem(d.errors, "apiVersion", "required field is missing"));
    CHECK(hasProblem(d.errors, "kind", "required field is missing"));
    Document s = parseOne("just a string\n");
    CHECK(hasProblem(s.errors, "", "expected an object with apiVersion and kind, got string"));
    Document l = parseOne("- a\n- b\n");
    CHECK(hasProblem(l.errors, "", "got a list"));
  }
}

TEST_CASE("object metadata rules", "[parse]") {
  Document d = parseOne(
      "apiVersion: keda.sh/v1alpha1\nkind: ScaledObject\n"
      "metadata:\n  name: Bad_Name\n  namespace: My.NS\n  creationTimestamp: yesterday\n"
      "  labels: {ok: fine, \"bad key!\": x, v: \"not ok!\", n: 5}\n"
      "  annotations:\n    autoscaling.keda.sh/paused: maybe\n"
      "    autoscaling.keda.sh/paused-replicas: lots\n"
      "spec: {scaleTargetRef: {name: a}, triggers: [{type: cron, metadata: {}}]}\n");
  INFO(dump(d.errors) << dump(d.warnings));
  CHECK(
      hasProblem(d.errors, "metadata.name", "\"Bad_Name\" must be a lowercase RFC 1123 subdomain"));
  CHECK(hasProblem(d.errors, "metadata.namespace", "must be a lowercase RFC 1123 label"));
  CHECK(hasProblem(d.errors, "metadata.creationTimestamp", "invalid timestamp \"yesterday\""));
  CHECK(hasProblem(d.errors, "metadata.labels[\"bad key!\"]", "invalid label key"));
  CHECK(hasProblem(d.errors, "metadata.labels.v", "invalid label value \"not ok!\""));
  CHECK(hasProblem(d.errors, "metadata.labels.n", "must be a string (quote it: \"5\")"));
  CHECK(hasProblem(d.warnings, "metadata.annotations[\"autoscaling.keda.sh/paused\"]",
                   "KEDA treats any value it cannot parse as \"true\""));
  CHECK(hasProblem(d.warnings, "metadata.annotations[\"autoscaling.keda.sh/paused-replicas\"]",
                   "the mere presence of this annotation pauses"));
}

TEST_CASE("a full ScaledJob maps every field", "[parse]") {
  auto docs = parseDocuments(readData("scaledjob-full.yaml"), "sj.yaml");
  REQUIRE(docs.isOk());
  const Document& d = docs->front();
  INFO(dump(d.errors) << dump(d.warnings));
  CHECK(d.errors.empty());
  CHECK(d.warnings.empty());
  const ScaledJob* sj = d.scaledJob();
  REQUIRE(sj);
  const ScaledJobSpec& s = sj->spec;
  CHECK(s.jobTargetRef["backoffLimit"] == 2);
  CHECK(s.jobTargetRef["template"]["spec"]["containers"][0]["name"] == "worker");
  CHECK(s.pollingInterval == 10);
  CHECK(s.successfulJobsHistoryLimit == 5);
  CHECK(s.failedJobsHistoryLimit == 10);
  CHECK(s.envSourceContainerName == "worker");
  CHECK(s.minReplicaCount == 0);
  CHECK(s.maxReplicaCount == 50);
  CHECK(s.rolloutStrategy.empty());
  REQUIRE(s.rollout);
  CHECK(s.rollout->strategy == "gradual");
  CHECK(s.rollout->propagationPolicy == "foreground");
  REQUIRE(s.scalingStrategy);
  CHECK(s.scalingStrategy->strategy == "custom");
  CHECK(s.scalingStrategy->customScalingQueueLengthDeduction == 1);
  CHECK(s.scalingStrategy->customScalingRunningJobPercentage == "0.5");
  CHECK(s.scalingStrategy->pendingPodConditions ==
        std::vector<std::string>{"Ready", "PodScheduled"});
  CHECK(s.scalingStrategy->multipleScalersCalculation == "sum");
  REQUIRE(s.triggers.size() == 1);
  CHECK(s.triggers[0].authenticationRef->kind == "ClusterTriggerAuthentication");
  CHECK(sj->minReplicaCount() == 0);
  CHECK(sj->maxReplicaCount() == 50);
}

TEST_CASE("ScaledJob rules at parse time", "[parse]") {
  Document d = parseOne(
      "apiVersion: keda.sh/v1alpha1\nkind: ScaledJob\nmetadata: {name: j}\n"
      "spec:\n  rolloutStrategy: sometimes\n  scalingStrategy: {strategy: fast, "
      "multipleScalersCalculation: median}\n  triggers: [{type: cron, metadata: {}}]\n");
  INFO(dump(d.errors));
  CHECK(hasProblem(d.errors, "spec.jobTargetRef", "required field is missing"));
  CHECK(
      hasProblem(d.errors, "spec.rolloutStrategy", "supported values: \"gradual\", \"immediate\""));
  CHECK(hasProblem(d.errors, "spec.scalingStrategy.strategy",
                   "supported values: \"default\", \"custom\", \"accurate\", \"eager\""));
  CHECK(hasProblem(d.errors, "spec.scalingStrategy.multipleScalersCalculation",
                   "unsupported value \"median\""));

  Document e = parseOne(
      "apiVersion: keda.sh/v1alpha1\nkind: ScaledJob\nmetadata: {name: j}\n"
      "spec:\n  rolloutStrategy: gradual\n  jobTargetRef: {template: {spec: {containers: []}}}\n"
      "  triggers: [{type: cron, metadata: {}}]\n");
  CHECK(hasProblem(e.errors, "spec.jobTargetRef.template.spec.containers",
                   "must have at least 1 item"));
  CHECK(hasProblem(e.warnings, "spec.rolloutStrategy", "deprecated: use spec.rollout.strategy"));
  CHECK(e.scaledJob()->spec.rolloutStrategy == "gradual");
}

TEST_CASE("TriggerAuthentication and ClusterTriggerAuthentication", "[parse]") {
  auto docs = parseDocuments(readData("auth.yaml"), "auth.yaml");
  REQUIRE(docs.isOk());
  REQUIRE(docs->size() == 2);
  const Document& ta = (*docs)[0];
  INFO(dump(ta.errors) << dump(ta.warnings));
  CHECK(ta.errors.empty());
  CHECK(ta.warnings.empty());
  const TriggerAuthentication* a = ta.triggerAuthentication();
  REQUIRE(a);
  CHECK_FALSE(a->clusterScoped);
  CHECK(a->metadata.namespace_ == "shop");
  REQUIRE(a->spec.secretTargetRef.size() == 2);
  CHECK(a->spec.secretTargetRef[1].parameter == "password");
  CHECK(a->spec.secretTargetRef[1].name == "kafka-secrets");
  CHECK(a->spec.secretTargetRef[1].key == "password");
  REQUIRE(a->spec.configMapTargetRef.size() == 1);
  CHECK(a->spec.configMapTargetRef[0].key == "username");
  REQUIRE(a->spec.env.size() == 1);
  CHECK(a->spec.env[0].name == "KAFKA_TLS");
  CHECK(a->spec.env[0].containerName == "consumer");

  const Document& cta = (*docs)[1];
  INFO(dump(cta.errors) << dump(cta.warnings));
  CHECK(cta.errors.empty());
  CHECK(cta.line == 25);
  CHECK(cta.index == 1);
  const TriggerAuthentication* c = cta.triggerAuthentication();
  REQUIRE(c);
  CHECK(c->clusterScoped);
  CHECK(c->metadata.namespace_.empty());
  CHECK(cta.displayName() == "rabbitmq-conn");
  REQUIRE(c->spec.podIdentity);
  CHECK(c->spec.podIdentity->provider == "azure-workload");
  CHECK(c->spec.podIdentity->identityTenantId == "72f988bf-0000-4000-8000-000000000002");
  CHECK(c->spec.filePath == "rabbitmq/credentials.json");
  CHECK(c->spec.oauth2["tokenUrl"] == "https://auth.example.com/oauth/token");
  CHECK(c->spec.oauth2["scopes"] == json::array({"read", "write"}));
}

TEST_CASE("TriggerAuthentication field rules", "[parse]") {
  Document d = parseOne(
      "apiVersion: keda.sh/v1alpha1\nkind: ClusterTriggerAuthentication\n"
      "metadata: {name: c, namespace: ignored}\n"
      "spec:\n  podIdentity: {provider: azure}\n  secretTargetRef: [{parameter: p}]\n"
      "  hashiCorpVault: {address: http://v, authentication: ldap, secrets: []}\n"
      "  oauth2: {clientId: x}\n");
  INFO(dump(d.errors) << dump(d.warnings));
  CHECK(hasProblem(d.warnings, "metadata.namespace", "ignored: the object is cluster-scoped"));
  CHECK(d.triggerAuthentication()->metadata.namespace_.empty());
  CHECK(
      hasProblem(d.errors, "spec.podIdentity.provider",
                 "supported values: \"azure-workload\", \"gcp\", \"aws\", \"aws-eks\", \"none\""));
  CHECK(hasProblem(d.errors, "spec.secretTargetRef[0].name", "required field is missing"));
  CHECK(hasProblem(d.errors, "spec.secretTargetRef[0].key", "required field is missing"));
  CHECK(hasProblem(d.errors, "spec.hashiCorpVault.authentication", "unsupported value \"ldap\""));
  CHECK(hasProblem(d.errors, "spec.hashiCorpVault.secrets", "must have at least 1 item"));
  // oauth2.type defaults to clientCredentials (CRD default).
  CHECK(d.triggerAuthentication()->spec.oauth2["type"] == "clientCredentials");
}

TEST_CASE("ProcessPool", "[parse]") {
  auto docs = parseDocuments(readData("processpool.yaml"), "pp.yaml");
  REQUIRE(docs.isOk());
  REQUIRE(docs->size() == 2);
  const Document& d = (*docs)[0];
  INFO(dump(d.errors) << dump(d.warnings));
  CHECK(d.errors.empty());
  CHECK(d.warnings.empty());
  const ProcessPool* p = d.processPool();
  REQUIRE(p);
  CHECK(p->metadata.namespace_ == "default");
  CHECK(p->spec.command == std::vector<std::string>{"python3", "-m", "worker", "--queue", "jobs"});
  CHECK(p->spec.env.at("QUEUE_URL") == "amqp://localhost:5672");
  CHECK(p->spec.workingDir == "/srv/worker");
  CHECK(p->spec.gracePeriodSeconds == 20);
  CHECK(p->spec.initialReplicas == 1);
  CHECK(p->spec.cpuRequestCores == Approx(0.25));
  CHECK(p->spec.memoryRequestBytes == Approx(128.0 * 1024 * 1024));
  CHECK((*docs)[1].scaledObject()->spec.scaleTargetRef.gvkString() ==
        "updraft.dev/v1alpha1.ProcessPool");

  SECTION("a command string runs with /bin/sh -c; defaults") {
    Document s = parseOne(
        "apiVersion: updraft.dev/v1alpha1\nkind: ProcessPool\nmetadata: {name: p}\n"
        "spec: {command: \"sleep 5 && echo done\"}\n");
    CHECK(s.errors.empty());
    CHECK(s.processPool()->spec.command ==
          std::vector<std::string>{"/bin/sh", "-c", "sleep 5 && echo done"});
    CHECK(s.processPool()->spec.gracePeriodSeconds == 10);
    CHECK(s.processPool()->spec.initialReplicas == 0);
    CHECK_FALSE(s.processPool()->spec.cpuRequestCores);
  }
  SECTION("errors") {
    Document s = parseOne(
        "apiVersion: updraft.dev/v1alpha1\nkind: ProcessPool\nmetadata: {name: p}\n"
        "spec:\n  command: [sleep, 10]\n  env: {PORT: 8080, \"A=B\": x}\n"
        "  gracePeriodSeconds: -1\n  resources: {requests: {cpu: 2x, memory: 0}, limits: {}}\n");
    INFO(dump(s.errors) << dump(s.warnings));
    CHECK(hasProblem(s.errors, "spec.command[1]", "must be a string (quote it: \"10\")"));
    CHECK(hasProblem(s.errors, "spec.env.PORT", "must be a string (quote it: \"8080\")"));
    CHECK(hasProblem(s.errors, "spec.env[\"A=B\"]", "invalid environment variable name"));
    CHECK(hasProblem(s.errors, "spec.gracePeriodSeconds", "greater than or equal to 0"));
    CHECK(hasProblem(s.errors, "spec.resources.requests.cpu", "\"2x\" is not a valid quantity"));
    CHECK(hasProblem(s.errors, "spec.resources.requests.memory", "must be greater than 0"));
    CHECK(hasProblem(s.warnings, "spec.resources.limits", "unknown field"));
    Document none = parseOne(
        "apiVersion: updraft.dev/v1alpha1\nkind: ProcessPool\nmetadata: {name: p}\nspec: {}\n");
    CHECK(hasProblem(none.errors, "spec.command", "required field is missing"));
  }
}

TEST_CASE("parseQuantity", "[parse][quantity]") {
  CHECK(*parseQuantity("500m") == Approx(0.5));
  CHECK(*parseQuantity("2") == 2);
  CHECK(*parseQuantity("1.5") == 1.5);
  CHECK(*parseQuantity(".5") == 0.5);
  CHECK(*parseQuantity("128Mi") == 134217728.0);
  CHECK(*parseQuantity("1Ki") == 1024);
  CHECK(*parseQuantity("1Gi") == 1073741824.0);
  CHECK(*parseQuantity("2Ti") == 2.0 * 1099511627776.0);
  CHECK(*parseQuantity("1Pi") == 1125899906842624.0);
  CHECK(*parseQuantity("1Ei") == 1152921504606846976.0);
  CHECK(*parseQuantity("1k") == 1000);
  CHECK(*parseQuantity("1M") == 1e6);
  CHECK(*parseQuantity("1G") == 1e9);
  CHECK(*parseQuantity("1T") == 1e12);
  CHECK(*parseQuantity("1P") == 1e15);
  CHECK(*parseQuantity("1E") == 1e18);
  CHECK(*parseQuantity("1e3") == 1000);
  CHECK(*parseQuantity("1E3") == 1000);
  CHECK(*parseQuantity("5e-1") == 0.5);
  CHECK(*parseQuantity("100u") == Approx(1e-4));
  CHECK(*parseQuantity("10n") == Approx(1e-8));
  CHECK(*parseQuantity("-1") == -1);
  CHECK(*parseQuantity("+2k") == 2000);
  for (std::string bad : {"", "m", "1x", "1 m", " 1", "1mi", "1KI", "1e", "1e+", "1.2.3", "Mi",
                          "1ki", "1e3m", "--1", "1e999"}) {
    INFO(bad);
    auto r = parseQuantity(bad);
    REQUIRE_FALSE(r.isOk());
    CHECK(r.status().message().find("is not a valid quantity") != std::string::npos);
  }
}

TEST_CASE("parseRfc3339", "[parse]") {
  CHECK(toSeconds(*parseRfc3339("1970-01-01T00:00:00Z")) == 0);
  CHECK(toSeconds(*parseRfc3339("2024-05-01T14:00:00+02:00")) == 1714564800.0);
  CHECK(toSeconds(*parseRfc3339("2024-05-01T12:00:00.5Z")) == Approx(1714564800.5));
  CHECK(toSeconds(*parseRfc3339("2024-02-29T00:00:00-01:30")) ==
        toSeconds(*parseRfc3339("2024-02-29T01:30:00Z")));
  for (std::string bad : {"2024-05-01", "2024-05-01T12:00:00", "2023-02-29T00:00:00Z",
                          "2024-13-01T00:00:00Z", "2024-05-01T24:00:00Z", "2024-05-01T12:00:00.Z",
                          "2024-05-01T12:00:00Zjunk", "2024-05-01 12:00:00Z"}) {
    INFO(bad);
    CHECK_FALSE(parseRfc3339(bad).isOk());
  }
}

TEST_CASE("kubectl List documents expand to their items", "[parse]") {
  auto docs = parseDocuments(
      "apiVersion: v1\nkind: List\nitems:\n"
      "- {apiVersion: keda.sh/v1alpha1, kind: TriggerAuthentication, metadata: {name: a}}\n"
      "- {apiVersion: keda.sh/v1alpha1, kind: TriggerAuthentication, metadata: {name: b}}\n",
      "list.yaml");
  REQUIRE(docs.isOk());
  REQUIRE(docs->size() == 2);
  CHECK((*docs)[1].displayName() == "default/b");
  CHECK((*docs)[1].errors.size() == 1);  // spec is required
}

TEST_CASE("duplicate keys become document errors", "[parse]") {
  Document d = parseOne(soYaml("  minReplicaCount: 1\n  minReplicaCount: 2\n"));
  CHECK(hasProblem(d.errors, "spec.minReplicaCount", "duplicate key \"minReplicaCount\""));
}

TEST_CASE("parseObject takes JSON directly and never throws", "[parse]") {
  json j = json::parse(readData("kafka-consumer.json"));
  Document d = parseObject(j);
  INFO(dump(d.errors));
  CHECK(d.errors.empty());
  CHECK(d.line == 0);
  CHECK(d.scaledObject()->metadata.namespace_ == "stream");
  CHECK(d.scaledObject()->spec.maxReplicaCount == 12);

  for (json weird : {json(nullptr), json(5), json::array(), json{{"kind", json::array()}},
                     json{{"apiVersion", "keda.sh/v1alpha1"},
                          {"kind", "ScaledObject"},
                          {"metadata", 7},
                          {"spec", {{"triggers", {1, "x", nullptr}}}}}}) {
    Document w = parseObject(weird);
    CHECK_FALSE(w.errors.empty());
  }
}

TEST_CASE("integers from a JSON parser (unsigned storage) and beyond int64", "[parse]") {
  json j = json::parse(
      R"({"apiVersion": "keda.sh/v1alpha1", "kind": "ScaledObject", "metadata": {"name": "a",
          "generation": 18446744073709551615},
          "spec": {"scaleTargetRef": {"name": "b"}, "minReplicaCount": 2,
                   "maxReplicaCount": 18446744073709551615,
                   "triggers": [{"type": "cron", "metadata": {}}]}})");
  REQUIRE(j["spec"]["minReplicaCount"].is_number_unsigned());
  Document d = parseObject(j);
  INFO(dump(d.errors));
  CHECK(d.scaledObject()->spec.minReplicaCount == 2);
  CHECK(messagesAt(d.errors, "spec.maxReplicaCount") ==
        std::vector<std::string>{"18446744073709551615 is out of range for int32"});
  CHECK(messagesAt(d.errors, "metadata.generation") ==
        std::vector<std::string>{"18446744073709551615 is out of range for int64"});
}
