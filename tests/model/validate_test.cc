// Semantic validation: KEDA's rules with their messages, paths, and the scaler hand-off.
#include "updraft/validate.h"

#include <catch2/catch.hpp>
#include <string>

#include "model/model_test_util.h"

using nlohmann::json;
using namespace updraft;
using updraft::test::dump;
using updraft::test::FakeFactory;
using updraft::test::FakeScalers;
using updraft::test::hasProblem;
using updraft::test::messagesAt;
using updraft::test::parseOne;
using updraft::test::readData;
using updraft::test::soYaml;

namespace {

ValidationReport check(const std::string& yaml) {
  Document d = parseOne(yaml);
  return validateDocument(d);
}

const char* kKafka =
    "    - type: kafka\n      metadata: {bootstrapServers: k:9092, consumerGroup: g, topic: t}\n";

ScaledObject baseObject() {
  ScaledObject so;
  so.metadata.name = "so";
  so.metadata.namespace_ = "default";
  so.spec.scaleTargetRef.name = "app";
  ScaleTriggers t;
  t.type = "kafka";
  t.metadata = {{"bootstrapServers", "k:9092"}, {"consumerGroup", "g"}, {"topic", "t"}};
  so.spec.triggers.push_back(t);
  return so;
}

}  // namespace

TEST_CASE("the example files are valid", "[validate]") {
  FakeScalers fakes;
  for (std::string file : {"scaledobject-full.yaml", "scaledjob-full.yaml", "auth.yaml",
                           "processpool.yaml", "kafka-consumer.json"}) {
    auto docs = parseDocuments(readData(file), file);
    REQUIRE(docs.isOk());
    for (const Document& d : *docs) {
      ValidationReport r = validateDocument(d);
      INFO(file << ": " << d.kind << "\n" << dump(r.errors) << dump(r.warnings));
      CHECK(r.ok());
      CHECK(r.warnings.empty());
    }
  }
}

TEST_CASE("scaler factories get the trigger as a ScalerConfig", "[validate][scalers]") {
  FakeScalers fakes;
  Document d = parseOne(
      soYaml("  advanced:\n    scalingModifiers: {formula: lag * 2, target: \"5\"}\n",
             "    - type: cpu\n      metricType: Utilization\n      metadata: {value: \"50\"}\n"
             "    - type: kafka\n      name: lag\n      useCachedMetrics: true\n"
             "      metricType: Value\n"
             "      metadata: {bootstrapServers: k:9092, consumerGroup: g, topic: t}\n"));
  d.scaledObject();
  ValidationReport r = validateDocument(d);
  INFO(dump(r.errors));
  CHECK(r.ok());
  const FakeFactory& kafka = fakes.get("kafka");
  REQUIRE(kafka.calls == 1);
  const ScalerConfig& c = kafka.lastConfig;
  CHECK(c.scalableObjectName == "so");
  CHECK(c.scalableObjectNamespace == "default");
  CHECK(c.scalableObjectType == "ScaledObject");
  CHECK(c.triggerIndex == 1);
  CHECK(c.triggerName == "lag");
  CHECK(c.triggerType == "kafka");
  CHECK(c.useCachedMetrics);
  CHECK(c.metricType == MetricTargetType::kValue);
  CHECK(c.triggerMetadata.at("topic") == "t");
  CHECK(c.asMetricSource);
  CHECK(c.secretsUnresolved);
  CHECK(fakes.get("cpu").calls == 1);
}

TEST_CASE("scaler errors land on the trigger's metadata, per parameter when named",
          "[validate][scalers]") {
  FakeScalers fakes;
  ValidationReport r = check(
      soYaml("", "    - type: kafka\n      metadata: {bootstrapServers: k, lagThreshold: ten}\n"));
  INFO(dump(r.errors));
  CHECK(messagesAt(r.errors, "spec.triggers[0].metadata.consumerGroup") ==
        std::vector<std::string>{
            "missing required parameter \"consumerGroup\" in [triggerMetadata]"});
  CHECK(messagesAt(r.errors, "spec.triggers[0].metadata.topic") ==
        std::vector<std::string>{"missing required parameter \"topic\" in [triggerMetadata]"});
  CHECK(messagesAt(r.errors, "spec.triggers[0].metadata.lagThreshold") ==
        std::vector<std::string>{"parameter \"lagThreshold\": \"ten\" is not a valid integer"});

  // A message that names no parameter stays on metadata.
  ValidationReport u =
      check(soYaml("",
                   "    - type: kafka\n      metricType: Utilization\n"
                   "      metadata: {bootstrapServers: k, consumerGroup: g, topic: t}\n"));
  CHECK(hasProblem(u.errors, "spec.triggers[0].metadata",
                   "'Utilization' metric type is unsupported for external metrics"));
}

TEST_CASE("unknown scaler types list the known ones", "[validate][scalers]") {
  FakeScalers fakes;
  ValidationReport r = check(soYaml("", "    - type: kafak\n      metadata: {}\n"));
  auto msgs = messagesAt(r.errors, "spec.triggers[0].type");
  REQUIRE(msgs.size() == 1);
  CHECK(msgs[0].rfind("unknown scaler type \"kafak\" (known: ", 0) == 0);
  CHECK(msgs[0].find("kafka, memory, metrics-api") != std::string::npos);
  CHECK(msgs[0].find("did you mean \"kafka\"?") != std::string::npos);
}

TEST_CASE("a trigger with parse errors is not handed to its scaler", "[validate][scalers]") {
  FakeScalers fakes;
  ValidationReport r = check(soYaml(
      "",
      "    - type: kafka\n      metadata: {bootstrapServers: k, consumerGroup: g, topic: 5}\n"));
  CHECK(fakes.get("kafka").calls == 0);
  CHECK(messagesAt(r.errors, "spec.triggers[0].metadata.topic") ==
        std::vector<std::string>{"must be a string (quote it: \"5\")"});
}

TEST_CASE("duplicate metric names across triggers", "[validate][scalers]") {
  FakeScalers fakes;
  ValidationReport r = check(
      soYaml("",
             "    - type: kafka\n      metadata: {bootstrapServers: k, consumerGroup: g, topic: t, "
             "fixedMetricName: same}\n"
             "    - type: kafka\n      metadata: {bootstrapServers: k, consumerGroup: g, topic: t, "
             "fixedMetricName: same}\n"));
  CHECK(messagesAt(r.errors, "spec.triggers[1]") ==
        std::vector<std::string>{"metricName same defined multiple times in ScaledObject so"});
}

TEST_CASE("§1.7 trigger rules", "[validate]") {
  FakeScalers fakes;
  SECTION("no triggers") {
    ScaledObject so = baseObject();
    so.spec.triggers.clear();
    ValidationReport r = validateScaledObject(so);
    CHECK(messagesAt(r.errors, "spec.triggers") ==
          std::vector<std::string>{"no triggers defined in the ScaledObject"});
  }
  SECTION("useCachedMetrics on cpu / memory / cron") {
    ValidationReport r = check(soYaml(
        "  minReplicaCount: 1\n",
        "    - {type: cpu, useCachedMetrics: true, metricType: Utilization, metadata: {value: "
        "\"50\"}}\n"
        "    - {type: cron, useCachedMetrics: true, metadata: {timezone: UTC, start: a, end: b, "
        "desiredReplicas: \"1\"}}\n"
        "    - {type: kafka, useCachedMetrics: true, metadata: {bootstrapServers: k, "
        "consumerGroup: g, topic: t}}\n"));
    CHECK(messagesAt(r.errors, "spec.triggers[0].useCachedMetrics") ==
          std::vector<std::string>{
              "property \"useCachedMetrics\" is not supported for \"cpu\" scaler"});
    CHECK(messagesAt(r.errors, "spec.triggers[1].useCachedMetrics") ==
          std::vector<std::string>{
              "property \"useCachedMetrics\" is not supported for \"cron\" scaler"});
    CHECK(messagesAt(r.errors, "spec.triggers[2].useCachedMetrics").empty());
  }
  SECTION("unique trigger names") {
    std::string t =
        "    - type: kafka\n      name: q\n"
        "      metadata: {bootstrapServers: k, consumerGroup: g, topic: t}\n";
    ValidationReport r = check(soYaml("", t + t));
    CHECK(messagesAt(r.errors, "spec.triggers[1].name") ==
          std::vector<std::string>{
              "triggerName \"q\" is defined multiple times in the ScaledObject, but it must be "
              "unique"});
    CHECK(messagesAt(r.errors, "spec.triggers[0].name").empty());
  }
}

TEST_CASE("§1.8 replica bounds, CEL rule and the idle QUIRK", "[validate]") {
  FakeScalers fakes;
  SECTION("min > max") {
    ScaledObject so = baseObject();
    so.spec.minReplicaCount = 5;
    so.spec.maxReplicaCount = 3;
    ValidationReport r = validateScaledObject(so);
    CHECK(
        messagesAt(r.errors, "spec.minReplicaCount") ==
        std::vector<std::string>{"minReplicaCount must be less than or equal to maxReplicaCount"});
    so.spec.maxReplicaCount.reset();
    so.spec.minReplicaCount = 101;  // against the default max of 100
    CHECK(hasProblem(validateScaledObject(so).errors, "spec.minReplicaCount",
                     "minReplicaCount must be less than or equal to maxReplicaCount"));
  }
  SECTION("min == max is fine; min 0 with max 1 is fine") {
    ScaledObject so = baseObject();
    so.spec.minReplicaCount = 3;
    so.spec.maxReplicaCount = 3;
    CHECK(validateScaledObject(so).ok());
    so.spec.minReplicaCount = 0;
    so.spec.maxReplicaCount = 1;
    CHECK(validateScaledObject(so).ok());
  }
  SECTION("idle must be below min") {
    ScaledObject so = baseObject();
    so.spec.minReplicaCount = 2;
    so.spec.idleReplicaCount = 2;
    CHECK(messagesAt(validateScaledObject(so).errors, "spec.idleReplicaCount") ==
          std::vector<std::string>{"IdleReplicaCount=2 must be less than MinReplicaCount=2"});
  }
  SECTION("QUIRK: idle 0 with min unset is rejected, with an explicit min 0 it passes") {
    ScaledObject so = baseObject();
    so.spec.idleReplicaCount = 0;
    CHECK(messagesAt(validateScaledObject(so).errors, "spec.idleReplicaCount") ==
          std::vector<std::string>{"IdleReplicaCount=0 must be less than MinReplicaCount=0"});
    so.spec.minReplicaCount = 0;
    ValidationReport r = validateScaledObject(so);
    INFO(dump(r.errors));
    CHECK(r.ok());
  }
  SECTION("idle other than 0 warns") {
    ScaledObject so = baseObject();
    so.spec.minReplicaCount = 3;
    so.spec.idleReplicaCount = 1;
    ValidationReport r = validateScaledObject(so);
    CHECK(r.ok());
    CHECK(
        hasProblem(r.warnings, "spec.idleReplicaCount", "only idleReplicaCount 0 works reliably"));
  }
}

TEST_CASE("§5.1 name lengths", "[validate]") {
  FakeScalers fakes;
  ScaledObject so = baseObject();
  so.metadata.name = std::string(64, 'a');
  ValidationReport r = validateScaledObject(so);
  CHECK(messagesAt(r.errors, "metadata.name") ==
        std::vector<std::string>{
            "scaledobject name \"" + std::string(64, 'a') +
                "\" is 64 characters long; must be no more than 63 characters because it is used "
                "as the \"scaledobject.keda.sh/name\" label value",
            "HPA name \"keda-hpa-" + std::string(64, 'a') +
                "\" derived from scaledobject is 73 characters long; must be no more than 63 "
                "characters; set spec.advanced.horizontalPodAutoscalerConfig.name to a shorter "
                "name or shorten the scaledobject name"});

  so.metadata.name = std::string(55, 'b');  // keda-hpa- + 55 = 64
  r = validateScaledObject(so);
  CHECK(messagesAt(r.errors, "metadata.name").size() == 1);
  so.spec.advanced = AdvancedConfig{};
  so.spec.advanced->horizontalPodAutoscalerConfig = HorizontalPodAutoscalerConfig{"short", {}};
  CHECK(validateScaledObject(so).ok());
  so.spec.advanced->horizontalPodAutoscalerConfig->name = std::string(64, 'c');
  CHECK(hasProblem(validateScaledObject(so).errors,
                   "spec.advanced.horizontalPodAutoscalerConfig.name", "is 64 characters long"));
}

TEST_CASE("§3.5 relevance warnings (verbatim)", "[validate]") {
  FakeScalers fakes;
  const std::string polling =
      "PollingInterval is configured but is not relevant. PollingInterval is only relevant when "
      "minReplicaCount = 0 or idleReplicaCount = 0 or useCachedMetrics is enabled";
  const std::string cooldown =
      "CooldownPeriod is configured but is not relevant. CooldownPeriod is only relevant when "
      "minReplicaCount = 0 or idleReplicaCount = 0";
  ScaledObject so = baseObject();
  so.spec.pollingInterval = 10;
  so.spec.cooldownPeriod = 60;
  CHECK(validateScaledObject(so).warnings.empty());  // min unset = 0: relevant

  so.spec.minReplicaCount = 1;
  ValidationReport r = validateScaledObject(so);
  CHECK(r.ok());
  CHECK(messagesAt(r.warnings, "spec.pollingInterval") == std::vector<std::string>{polling});
  CHECK(messagesAt(r.warnings, "spec.cooldownPeriod") == std::vector<std::string>{cooldown});

  so.spec.triggers[0].useCachedMetrics = true;  // polling feeds the cache
  r = validateScaledObject(so);
  CHECK(messagesAt(r.warnings, "spec.pollingInterval").empty());
  CHECK(messagesAt(r.warnings, "spec.cooldownPeriod").size() == 1);

  so.spec.triggers[0].useCachedMetrics = false;
  so.spec.idleReplicaCount = 0;
  CHECK(validateScaledObject(so).warnings.empty());
}

TEST_CASE("§5.7 only cpu/memory triggers need min > 0", "[validate]") {
  FakeScalers fakes;
  const std::string msg =
      "scaledobject has only cpu/memory triggers AND minReplica is 0 (scale to zero doesn't work "
      "in this case)";
  const std::string cpu =
      "    - {type: cpu, metricType: Utilization, metadata: {value: \"60\"}}\n"
      "    - {type: memory, metricType: AverageValue, metadata: {value: 1Gi}}\n";
  CHECK(messagesAt(check(soYaml("", cpu)).errors, "spec.minReplicaCount") ==
        std::vector<std::string>{msg});
  CHECK(messagesAt(check(soYaml("  minReplicaCount: 0\n", cpu)).errors, "spec.minReplicaCount") ==
        std::vector<std::string>{msg});
  CHECK(check(soYaml("  minReplicaCount: 1\n", cpu)).ok());
  CHECK(check(soYaml("", cpu + kKafka)).ok());
}

TEST_CASE("fallback rules", "[validate][fallback]") {
  FakeScalers fakes;
  SECTION("needs a trigger that is not cpu/memory") {
    ValidationReport r =
        check(soYaml("  minReplicaCount: 1\n  fallback: {failureThreshold: 3, replicas: 2}\n",
                     "    - {type: cpu, metricType: Utilization, metadata: {value: \"60\"}}\n"));
    CHECK(messagesAt(r.errors, "spec.fallback") ==
          std::vector<std::string>{
              "at least one trigger (that is not cpu or memory) has to have the `AverageValue` "
              "type for the fallback to be enabled"});
    // Value targets are accepted since KEDA 2.18.
    CHECK(check(soYaml("  fallback: {failureThreshold: 3, replicas: 2}\n",
                       "    - type: kafka\n      metricType: Value\n"
                       "      metadata: {bootstrapServers: k, consumerGroup: g, topic: t}\n"))
              .ok());
  }
  SECTION("negative values (objects built in code)") {
    ScaledObject so = baseObject();
    so.spec.fallback = Fallback{-1, 2, "static"};
    CHECK(messagesAt(validateScaledObject(so).errors, "spec.fallback") ==
          std::vector<std::string>{
              "FailureThreshold=-1 & Replicas=2 must both be greater than or equal to 0"});
  }
  SECTION("with scalingModifiers, a non-integer target silently disables fallback (QUIRK)") {
    std::string named =
        "    - type: kafka\n      name: lag\n"
        "      metadata: {bootstrapServers: k, consumerGroup: g, topic: t}\n";
    ValidationReport r =
        check(soYaml("  fallback: {failureThreshold: 3, replicas: 2}\n"
                     "  advanced: {scalingModifiers: {formula: lag, target: \"2.5\"}}\n",
                     named));
    INFO(dump(r.errors));
    CHECK(r.ok());
    CHECK(messagesAt(r.warnings, "spec.fallback") ==
          std::vector<std::string>{
              "fallback is silently disabled: with scalingModifiers KEDA enables fallback only "
              "when spec.advanced.scalingModifiers.target is a positive integer, got \"2.5\""});
    ValidationReport ok =
        check(soYaml("  fallback: {failureThreshold: 3, replicas: 2}\n"
                     "  advanced: {scalingModifiers: {formula: lag, target: \"2\"}}\n",
                     named));
    CHECK(ok.ok());
    CHECK(ok.warnings.empty());
  }
  SECTION("behavior scalingModifiers requires a formula") {
    ValidationReport r = check(
        soYaml("  fallback: {failureThreshold: 3, replicas: 2, behavior: scalingModifiers}\n"));
    CHECK(messagesAt(r.errors, "spec.fallback.behavior") ==
          std::vector<std::string>{"fallback behavior \"scalingModifiers\" requires "
                                   "spec.advanced.scalingModifiers.formula"});
  }
}

TEST_CASE("scalingModifiers rules", "[validate][modifiers]") {
  FakeScalers fakes;
  std::string named =
      "    - type: kafka\n      name: lag\n"
      "      metadata: {bootstrapServers: k, consumerGroup: g, topic: t}\n";
  const std::string base = "spec.advanced.scalingModifiers";
  SECTION("formula mandatory once the struct is used") {
    ValidationReport r = check(soYaml("  advanced: {scalingModifiers: {target: \"5\"}}\n", named));
    CHECK(messagesAt(r.errors, base + ".formula") ==
          std::vector<std::string>{"error ScalingModifiers.Formula is mandatory"});
  }
  SECTION("target required with a formula, > 0, a number") {
    CHECK(
        hasProblem(check(soYaml("  advanced: {scalingModifiers: {formula: lag}}\n", named)).errors,
                   base + ".target", "formula is given but target is empty"));
    for (std::string bad : {"0", "-1", "abc", "1,5"}) {
      INFO(bad);
      ValidationReport r = check(soYaml(
          "  advanced: {scalingModifiers: {formula: lag, target: \"" + bad + "\"}}\n", named));
      CHECK(hasProblem(r.errors, base + ".target",
                       "error converting target for scalingModifiers (string->float) to valid "
                       "target"));
    }
    CHECK(check(soYaml("  advanced: {scalingModifiers: {formula: lag, target: \"0.5\"}}\n", named))
              .ok());
  }
  SECTION("activationTarget must be a number when set; metricType not Utilization") {
    ValidationReport r = check(
        soYaml("  advanced: {scalingModifiers: {formula: lag, target: \"5\", activationTarget: x, "
               "metricType: Utilization}}\n",
               named));
    CHECK(hasProblem(r.errors, base + ".activationTarget", "\"x\" is not a number"));
    CHECK(hasProblem(r.errors, base + ".metricType",
                     "error trigger type is Utilization, but it needs to be AverageValue or Value "
                     "for external metrics"));
    CHECK(check(soYaml("  advanced: {scalingModifiers: {formula: lag, target: \"5\", "
                       "activationTarget: \"1.5\", metricType: Value}}\n",
                       named))
              .ok());
  }
  SECTION("the formula is compiled against named, non-cpu/memory triggers") {
    ValidationReport r = check(soYaml(
        "  minReplicaCount: 1\n  advanced: {scalingModifiers: {formula: \"lag + cpuload\", "
        "target: \"5\"}}\n",
        named + "    - {type: cpu, name: cpuload, metricType: Utilization, metadata: {value: "
                "\"50\"}}\n"));
    CHECK(messagesAt(r.errors, base + ".formula") ==
          std::vector<std::string>{
              "error validating formula in ScalingModifiers: unknown name cpuload (1:7)"});
    CHECK(hasProblem(check(soYaml("  advanced: {scalingModifiers: {formula: \"lag +\", target: "
                                  "\"5\"}}\n",
                                  named))
                         .errors,
                     base + ".formula", "error validating formula in ScalingModifiers: "));
    CHECK(check(soYaml("  advanced: {scalingModifiers: {formula: \"lag * 2\", target: \"5\"}}\n",
                       named))
              .ok());
  }
}

TEST_CASE("ScaledJob rules", "[validate][scaledjob]") {
  FakeScalers fakes;
  const std::string head =
      "apiVersion: keda.sh/v1alpha1\nkind: ScaledJob\nmetadata: {name: j}\nspec:\n"
      "  jobTargetRef: {template: {spec: {containers: [{name: w, image: x}]}}}\n";
  SECTION("metricType cannot be set") {
    ValidationReport r = check(head +
                               "  triggers:\n  - type: rabbitmq\n    metricType: AverageValue\n"
                               "    metadata: {queueName: q}\n");
    CHECK(messagesAt(r.errors, "spec.triggers[0].metricType") ==
          std::vector<std::string>{"Cannot set metricType in ScaledJob triggers"});
    CHECK(fakes.get("rabbitmq").lastConfig.scalableObjectType == "ScaledJob");
  }
  SECTION("trigger rules and warnings") {
    ValidationReport r = check(head +
                               "  minReplicaCount: 5\n  maxReplicaCount: 2\n"
                               "  scalingStrategy: {strategy: custom, "
                               "customScalingRunningJobPercentage: half}\n"
                               "  triggers:\n  - {type: rabbitmq, name: a, useCachedMetrics: true, "
                               "metadata: {queueName: q}}\n"
                               "  - {type: rabbitmq, name: a, metadata: {queueName: q}}\n");
    CHECK(messagesAt(r.errors, "spec.triggers[1].name") ==
          std::vector<std::string>{
              "triggerName \"a\" is defined multiple times in the ScaledJob, but it must be "
              "unique"});
    CHECK(hasProblem(r.warnings, "spec.triggers[0].useCachedMetrics",
                     "ignored for ScaledJob triggers"));
    CHECK(
        hasProblem(r.warnings, "spec.minReplicaCount", "KEDA uses maxReplicaCount as the minimum"));
    CHECK(hasProblem(r.warnings, "spec.scalingStrategy.customScalingRunningJobPercentage",
                     "silently falls back to the default scaling strategy"));
  }
  SECTION("no triggers") {
    ScaledJob sj;
    sj.metadata.name = "j";
    sj.spec.jobTargetRef = json::object();
    CHECK(messagesAt(validateScaledJob(sj).errors, "spec.triggers") ==
          std::vector<std::string>{"no triggers defined in the ScaledJob"});
  }
}

TEST_CASE("TriggerAuthentication webhook rules (verbatim)", "[validate][auth]") {
  auto ta = [](const std::string& spec, const char* kind = "TriggerAuthentication") {
    return check(std::string("apiVersion: keda.sh/v1alpha1\nkind: ") + kind +
                 "\nmetadata: {name: a}\nspec:\n" + spec);
  };
  SECTION("azure-workload") {
    CHECK(messagesAt(ta("  podIdentity: {provider: azure-workload, identityId: \"\"}\n").errors,
                     "spec.podIdentity.identityId") ==
          std::vector<std::string>{
              "identityId of PodIdentity should not be empty. If it's set, identityId has to be "
              "different than \"\""});
    CHECK(
        messagesAt(
            ta("  podIdentity: {provider: azure-workload, identityAuthorityHost: h}\n").errors,
            "spec.podIdentity.identityTenantId") ==
        std::vector<std::string>{"identityTenantID of PodIdentity should not be nil or empty when "
                                 "identityAuthorityHost of PodIdentity is set"});
    CHECK(
        messagesAt(ta("  podIdentity: {provider: azure-workload, identityTenantId: \"\"}\n").errors,
                   "spec.podIdentity.identityTenantId") ==
        std::vector<std::string>{
            "identityTenantId of PodIdentity should not be empty. If it's set, identityTenantId "
            "has to be different than \"\""});
    CHECK(ta("  podIdentity: {provider: azure-workload}\n").ok());
  }
  SECTION("aws") {
    CHECK(messagesAt(
              ta("  podIdentity: {provider: aws, roleArn: r, identityOwner: workload}\n").errors,
              "spec.podIdentity.roleArn") ==
          std::vector<std::string>{
              "roleArn of PodIdentity can't be set if KEDA isn't identityOwner"});
    CHECK(messagesAt(ta("  podIdentity: {provider: aws, externalID: e}\n").errors,
                     "spec.podIdentity.externalID") ==
          std::vector<std::string>{"externalID of PodIdentity requires roleArn to be set"});
    CHECK(ta("  podIdentity: {provider: aws, roleArn: r, externalID: e, identityOwner: keda}\n")
              .ok());
  }
  SECTION("oauth2") {
    CHECK(messagesAt(ta("  oauth2: {type: password, clientId: c, tokenUrl: https://t/x}\n").errors,
                     "spec.oauth2.type") ==
          std::vector<std::string>{"oauth2.type must be 'clientCredentials', got 'password'"});
    CHECK(messagesAt(ta("  oauth2: {tokenUrl: https://t/x}\n").errors, "spec.oauth2.clientId") ==
          std::vector<std::string>{"oauth2.clientId is required when oauth2 is configured"});
    CHECK(messagesAt(ta("  oauth2: {clientId: c}\n").errors, "spec.oauth2.tokenUrl") ==
          std::vector<std::string>{"oauth2.tokenUrl is required when oauth2 is configured"});
    for (std::string bad : {"ftp://t/x", "not a url", "https://", "//host/x"}) {
      INFO(bad);
      CHECK(messagesAt(ta("  oauth2: {clientId: c, tokenUrl: \"" + bad + "\"}\n").errors,
                       "spec.oauth2.tokenUrl") ==
            std::vector<std::string>{"oauth2.tokenUrl must be a valid http or https URL"});
    }
    CHECK(ta("  oauth2: {clientId: c, tokenUrl: \"http://idp:8080/token\"}\n").ok());
  }
  SECTION("QUIRK: gcp / aws-eks / none skip the oauth2 checks") {
    CHECK(ta("  podIdentity: {provider: gcp}\n  oauth2: {type: password}\n").ok());
    CHECK(ta("  podIdentity: {provider: none}\n  oauth2: {type: password}\n").ok());
    CHECK_FALSE(ta("  podIdentity: {provider: aws}\n  oauth2: {type: password}\n").ok());
  }
  SECTION("filePath only for ClusterTriggerAuthentication, relative, without ..") {
    CHECK(messagesAt(ta("  filePath: creds.json\n").errors, "spec.filePath") ==
          std::vector<std::string>{"filePath is only supported for ClusterTriggerAuthentication"});
    CHECK(ta("  filePath: team/creds.json\n", "ClusterTriggerAuthentication").ok());
    CHECK(hasProblem(ta("  filePath: /etc/creds.json\n", "ClusterTriggerAuthentication").errors,
                     "spec.filePath", "must be a relative path"));
    CHECK(hasProblem(ta("  filePath: a/../../b\n", "ClusterTriggerAuthentication").errors,
                     "spec.filePath", "must be a relative path"));
    CHECK(ta("  filePath: a..b/c\n", "ClusterTriggerAuthentication").ok());
  }
  SECTION("the struct entry point") {
    TriggerAuthentication t;
    t.metadata.name = "a";
    t.spec.podIdentity = PodIdentity{};
    t.spec.podIdentity->provider = "aws";
    t.spec.podIdentity->externalID = "x";
    CHECK(hasProblem(validateTriggerAuthentication(t).errors, "spec.podIdentity.externalID",
                     "requires roleArn"));
  }
}

TEST_CASE("validateDocument merges parse and semantic problems without repeats", "[validate]") {
  FakeScalers fakes;
  auto docs = parseDocuments(readData("invalid-scaledobject.yaml"), "invalid.yaml");
  REQUIRE(docs.isOk());
  ValidationReport r = validateDocument(docs->front());
  INFO(dump(r.errors) << dump(r.warnings));
  CHECK_FALSE(r.ok());
  CHECK(hasProblem(r.warnings, "spec.pollingIntrval", "unknown field"));
  CHECK(messagesAt(r.errors, "spec.minReplicaCount") ==
        std::vector<std::string>{"minReplicaCount must be less than or equal to maxReplicaCount"});
  CHECK(hasProblem(r.errors, "spec.cooldownPeriod", "expected an integer, got string \"300\""));
  CHECK(messagesAt(r.errors, "spec.triggers[0].metadata.lagThreshold") ==
        std::vector<std::string>{"must be a string (quote it: \"5\")"});
  CHECK(hasProblem(r.errors, "spec.triggers[1].type", "unknown scaler type \"kafak\""));
  CHECK(r.errors.size() == 4);

  // Semantic checks at a path that failed to parse are dropped.
  Document d = parseOne(
      "apiVersion: keda.sh/v1alpha1\nkind: ScaledObject\nmetadata: {name: x}\nspec: {triggers: "
      "5}\n");
  ValidationReport s = validateDocument(d);
  INFO(dump(s.errors));
  CHECK(messagesAt(s.errors, "spec.triggers") ==
        std::vector<std::string>{"expected a list, got number 5"});
}

TEST_CASE("validation of objects built in code repeats the CRD minimums", "[validate]") {
  FakeScalers fakes;
  ScaledObject so = baseObject();
  so.spec.scaleTargetRef.name.clear();
  so.spec.pollingInterval = 0;
  so.spec.triggers[0].type.clear();
  ValidationReport r = validateScaledObject(so);
  CHECK(hasProblem(r.errors, "spec.scaleTargetRef.name", "required field is missing"));
  CHECK(hasProblem(r.errors, "spec.pollingInterval", "must be greater than or equal to 1"));
  CHECK(hasProblem(r.errors, "spec.triggers[0].type", "required field is missing"));

  ProcessPool pool;
  CHECK(hasProblem(validateProcessPool(pool).errors, "spec.command", "required field is missing"));
  pool.spec.command = {"sleep", "1"};
  CHECK(validateProcessPool(pool).ok());
}

TEST_CASE("scaleTargetRef apiVersion and ProcessPool targets", "[validate]") {
  FakeScalers fakes;
  ScaledObject so = baseObject();
  so.spec.scaleTargetRef.apiVersion = "apps/v1/beta";
  CHECK(messagesAt(validateScaledObject(so).errors, "spec.scaleTargetRef.apiVersion") ==
        std::vector<std::string>{"unexpected GroupVersion string: apps/v1/beta"});
  so.spec.scaleTargetRef.apiVersion = "";
  so.spec.scaleTargetRef.kind = "ProcessPool";
  CHECK(
      messagesAt(validateScaledObject(so).errors, "spec.scaleTargetRef.apiVersion") ==
      std::vector<std::string>{
          "a ProcessPool target needs apiVersion: updraft.dev/v1alpha1 (the default is apps/v1)"});
  so.spec.scaleTargetRef.apiVersion = "updraft.dev/v1alpha1";
  CHECK(validateScaledObject(so).ok());
  so.spec.scaleTargetRef.kind = "Deployment";
  CHECK(hasProblem(validateScaledObject(so).errors, "spec.scaleTargetRef.kind",
                   "updraft.dev/v1alpha1 only has kind ProcessPool"));
  so.spec.scaleTargetRef = {"v1", "ReplicationController", "rc", ""};
  CHECK(validateScaledObject(so).ok());
}
