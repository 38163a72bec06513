// `updraft validate` through the binary: files, stdin, exit codes, hostile input.
#include <catch2/catch.hpp>

#include "e2e/cli_support.h"

using namespace updraft::e2e;

namespace {
const char* kGood = R"(apiVersion: keda.sh/v1alpha1
kind: ScaledObject
metadata: {name: ok, namespace: default}
spec:
  scaleTargetRef: {name: web}
  triggers:
    - type: cron
      metadata: {timezone: Europe/Berlin, start: "0 8 * * *", end: "0 18 * * *", desiredReplicas: "3"}
)";
}  // namespace

TEST_CASE("validate: exit 0 for valid documents, 1 with field paths for invalid ones") {
  TempDir dir;
  auto good = dir.write("good.yaml", kGood);
  auto r = runCommand({updraftBinary(), "validate", good});
  INFO(r.out << r.err);
  CHECK(r.exitCode == 0);
  CHECK(r.out.find("valid") != std::string::npos);

  auto bad = dir.write("bad.yaml", std::string(kGood) + R"(---
apiVersion: keda.sh/v1alpha1
kind: ScaledObject
metadata: {name: broken}
spec:
  scaleTargetRef: {name: web}
  pollingInterval: 0
  triggers:
    - type: kafak
      metadata: {}
)");
  r = runCommand({updraftBinary(), "validate", bad});
  INFO(r.out << r.err);
  CHECK(r.exitCode == 1);
  const std::string all = r.out + r.err;
  CHECK(all.find("spec.pollingInterval") != std::string::npos);
  CHECK(all.find("spec.triggers[0].type") != std::string::npos);
  CHECK(all.find("kafak") != std::string::npos);
}

TEST_CASE("validate reads stdin and survives garbage") {
  auto r = runCommand({updraftBinary(), "validate", "-"}, std::chrono::seconds(30), kGood);
  CHECK(r.exitCode == 0);

  std::string garbage;
  for (int i = 0; i < 4096; ++i) garbage += static_cast<char>((i * 7919) % 256);
  r = runCommand({updraftBinary(), "validate", "-"}, std::chrono::seconds(30), garbage);
  CHECK(r.exitCode == 1);
  CHECK((r.out + r.err).find("binary") != std::string::npos);

  r = runCommand({updraftBinary(), "validate", "-"}, std::chrono::seconds(30),
                 std::string(200000, '['));
  CHECK(r.exitCode == 1);

  r = runCommand({updraftBinary(), "validate", "/nonexistent/file.yaml"});
  CHECK(r.exitCode == 1);
  CHECK((r.out + r.err).find("/nonexistent/file.yaml") != std::string::npos);
}

TEST_CASE("validate compiles lua trigger scripts and reports the script's line") {
  TempDir dir;
  auto bad = dir.write("lua.yaml", R"(apiVersion: keda.sh/v1alpha1
kind: ScaledObject
metadata: {name: scripted}
spec:
  scaleTargetRef: {name: web}
  triggers:
    - type: lua
      metadata:
        targetValue: "10"
        script: |
          function getMetric(ctx)
            return 1 +
          end
)");
  auto r = runCommand({updraftBinary(), "validate", bad});
  INFO(r.out << r.err);
  CHECK(r.exitCode == 1);
  CHECK((r.out + r.err).find("script.lua:3:") != std::string::npos);
}
