// `updraft validate`: output format and exit codes.
//
// The command lives in app/ (linked only into the `updraft` binary), so it is compiled into this
// test directly.
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>

#include "commands.h"
#include "model/model_test_util.h"

using updraft::test::dataPath;
using updraft::test::FakeScalers;

namespace {

struct TempDir {
  std::filesystem::path path;
  TempDir() {
    path = std::filesystem::temp_directory_path() /
           ("updraft-validate-test-" + std::to_string(::getpid()));
    std::filesystem::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  std::string write(const std::string& name, const std::string& content) const {
    std::ofstream out(path / name, std::ios::binary);
    out << content;
    return (path / name).string();
  }
};

struct Run {
  int code = 0;
  std::string out;
  std::string err;
};

Run run(const std::vector<std::string>& paths) {
  std::ostringstream out, err;
  Run r;
  r.code = updraft::app::runValidate(paths, out, err);
  r.out = out.str();
  r.err = err.str();
  return r;
}

}  // namespace

TEST_CASE("valid files: one line per document, exit 0", "[validate-command]") {
  FakeScalers fakes;
  std::string so = dataPath("scaledobject-full.yaml");
  std::string auth = dataPath("auth.yaml");
  Run r = run({so, auth});
  INFO(r.out << r.err);
  CHECK(r.code == 0);
  CHECK(r.err.empty());
  CHECK(r.out == so + ":2: ScaledObject shop/orders-consumer: valid\n" + auth +
                     ":3: TriggerAuthentication shop/kafka-credentials: valid\n" + auth +
                     ":25: ClusterTriggerAuthentication rabbitmq-conn: valid\n");
}

TEST_CASE("invalid documents list errors and warnings; exit 1", "[validate-command]") {
  FakeScalers fakes;
  std::string bad = dataPath("invalid-scaledobject.yaml");
  Run r = run({bad});
  INFO(r.out);
  CHECK(r.code == 1);
  CHECK(r.out.rfind(bad + ":2: ScaledObject default/broken: invalid\n", 0) == 0);
  CHECK(r.out.find("\n  error: spec.triggers[0].metadata.lagThreshold: must be a string (quote "
                   "it: \"5\")\n") != std::string::npos);
  CHECK(r.out.find("\n  error: spec.minReplicaCount: minReplicaCount must be less than or equal "
                   "to maxReplicaCount\n") != std::string::npos);
  CHECK(r.out.find("\n  warning: spec.pollingIntrval: unknown field (did you mean "
                   "\"pollingInterval\"?)\n") != std::string::npos);
}

TEST_CASE("warnings alone do not fail", "[validate-command]") {
  FakeScalers fakes;
  TempDir dir;
  std::string f = dir.write("w.yaml",
                            "apiVersion: keda.sh/v1alpha1\nkind: ScaledObject\nmetadata: {name: "
                            "w}\nspec:\n  scaleTargetRef: {name: a}\n  minReplicaCount: 1\n"
                            "  pollingInterval: 5\n  triggers:\n  - type: cron\n    metadata: "
                            "{timezone: UTC, start: a, end: b, desiredReplicas: \"1\"}\n");
  Run r = run({f});
  INFO(r.out);
  CHECK(r.code == 0);
  CHECK(r.out == f + ":1: ScaledObject default/w: valid\n  warning: spec.pollingInterval: "
                     "PollingInterval is configured but is not relevant. PollingInterval is only "
                     "relevant when minReplicaCount = 0 or idleReplicaCount = 0 or "
                     "useCachedMetrics is enabled\n");
}

TEST_CASE("unreadable files are reported on err and the others still run", "[validate-command]") {
  FakeScalers fakes;
  TempDir dir;
  std::string good = dataPath("kafka-consumer.json");
  Run r = run({(dir.path / "missing.yaml").string(), dir.path.string(), good});
  CHECK(r.code == 1);
  CHECK(r.err.find("updraft validate: cannot read " + (dir.path / "missing.yaml").string() +
                   ": No such file or directory\n") != std::string::npos);
  CHECK(r.err.find("cannot read " + dir.path.string() + ": it is a directory") !=
        std::string::npos);
  CHECK(r.out == good + ":1: ScaledObject stream/kafka-consumer: valid\n");
}

TEST_CASE("whole-file failures: syntax, binary, empty, too big", "[validate-command]") {
  TempDir dir;
  std::string syntax = dir.write("syntax.yaml", "a: [1, 2\nb: 3\n");
  std::string binary = dir.write("bin.dat", std::string("\x7f"
                                                        "ELF\0\0\0",
                                                        7));
  std::string empty = dir.write("empty.yaml", "# nothing\n");
  std::string big = dir.write("big.yaml", std::string(5 * 1024 * 1024, '#'));
  Run r = run({syntax, binary, empty, big});
  INFO(r.out << r.err);
  CHECK(r.code == 1);
  CHECK(r.out.find(syntax + ":") != std::string::npos);
  CHECK(r.out.find("YAML syntax error") != std::string::npos);
  CHECK(r.out.find(binary + " is not text (binary data at byte 0)") != std::string::npos);
  CHECK(r.out.find(empty + ": no documents") != std::string::npos);
  CHECK(r.out.find(big + " is 5242880 bytes, over the limit of 4194304 bytes") !=
        std::string::npos);
}

TEST_CASE("stdin is read with -", "[validate-command]") {
  FakeScalers fakes;
  std::istringstream in(
      "apiVersion: keda.sh/v1alpha1\nkind: TriggerAuthentication\nmetadata: {name: t}\nspec: "
      "{}\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\n");
  auto* old = std::cin.rdbuf(in.rdbuf());
  Run r = run({"-"});
  std::cin.rdbuf(old);
  INFO(r.out);
  CHECK(r.code == 1);
  CHECK(r.out.find("<stdin>:1: TriggerAuthentication default/t: valid\n") == 0);
  CHECK(
      r.out.find("<stdin>:6: Deployment d: invalid\n  error: kind: unknown kind \"Deployment\"") !=
      std::string::npos);
}

TEST_CASE("no paths is an error", "[validate-command]") {
  Run r = run({});
  CHECK(r.code == 1);
  CHECK(r.err.find("no input") != std::string::npos);
}
