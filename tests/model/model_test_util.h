// Shared helpers for the model tests: fake scaler factories and problem lookups.
#pragma once

#include <algorithm>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "updraft/parse.h"
#include "updraft/scaler.h"
#include "updraft/validate.h"

namespace updraft::test {

// A scaler factory with KEDA-like messages, parameterised by its type and parameters:
//   missing required parameter "<p>" in [triggerMetadata]
//   parameter "<p>": "<v>" is not a valid integer
// cpu/memory fakes produce Resource metric specs. metadata "fixedMetricName" forces an External
// metric name (to provoke duplicate names).
class FakeFactory final : public ScalerFactory {
 public:
  FakeFactory(std::string type, std::vector<std::string> required, std::vector<std::string> ints)
      : type_(std::move(type)), required_(std::move(required)), ints_(std::move(ints)) {}

  std::string type() const override { return type_; }

  Result<std::unique_ptr<ScalerDefinition>> parse(const ScalerConfig& config) const override {
    ++calls;
    lastConfig = config;
    std::vector<std::string> errors;
    for (const auto& p : required_) {
      if (!config.triggerMetadata.count(p)) {
        errors.push_back("missing required parameter \"" + p + "\" in [triggerMetadata]");
      }
    }
    for (const auto& p : ints_) {
      auto it = config.triggerMetadata.find(p);
      if (it == config.triggerMetadata.end()) continue;
      const std::string& v = it->second;
      bool ok = !v.empty() &&
                std::all_of(v.begin(), v.end(), [](char c) { return c >= '0' && c <= '9'; });
      if (!ok) errors.push_back("parameter \"" + p + "\": \"" + v + "\" is not a valid integer");
    }
    std::vector<MetricSpec> specs;
    if (type_ == "cpu" || type_ == "memory") {
      MetricSpec m;
      m.source = MetricSpec::Source::kResource;
      m.metricName = type_;
      m.targetType = config.metricType.value_or(MetricTargetType::kUtilization);
      specs.push_back(m);
    } else {
      auto mt = externalMetricTargetType(config);
      if (!mt.isOk()) {
        errors.push_back(mt.status().message());
      } else if (auto fixed = config.triggerMetadata.find("fixedMetricName");
                 fixed != config.triggerMetadata.end()) {
        MetricSpec m;
        m.metricName = fixed->second;
        specs.push_back(m);
      } else {
        specs.push_back(externalMetricSpec(config, type_, *mt, 1));
      }
    }
    if (!errors.empty()) {
      std::string joined;
      for (std::size_t i = 0; i < errors.size(); ++i) joined += (i ? "; " : "") + errors[i];
      return Status::invalidArgument(joined);
    }
    return std::unique_ptr<ScalerDefinition>(new Definition(std::move(specs)));
  }

  mutable int calls = 0;
  mutable ScalerConfig lastConfig;

 private:
  class Definition final : public ScalerDefinition {
   public:
    explicit Definition(std::vector<MetricSpec> specs) : specs_(std::move(specs)) {}
    std::vector<MetricSpec> metricSpecs() const override { return specs_; }
    double activationThreshold() const override { return 0; }
    Result<std::unique_ptr<Scaler>> createScaler(const ScalerContext&) const override {
      return Status::failedPrecondition("fake");
    }

   private:
    std::vector<MetricSpec> specs_;
  };

  std::string type_;
  std::vector<std::string> required_;
  std::vector<std::string> ints_;
};

// Installs fakes for the trigger types the fixtures use; restores the registry when destroyed.
class FakeScalers {
 public:
  FakeScalers() {
    add("kafka", {"bootstrapServers", "consumerGroup", "topic"}, {"lagThreshold"});
    add("cron", {"timezone", "start", "end", "desiredReplicas"}, {"desiredReplicas"});
    add("rabbitmq", {"queueName"}, {"value"});
    add("metrics-api", {"url", "valueLocation"}, {"targetValue"});
    add("prometheus", {"serverAddress", "query", "threshold"}, {});
    add("cpu", {}, {});
    add("memory", {}, {});
  }
  ~FakeScalers() {
    for (auto it = restore_.rbegin(); it != restore_.rend(); ++it) (*it)();
  }
  FakeScalers(const FakeScalers&) = delete;
  FakeScalers& operator=(const FakeScalers&) = delete;

  std::shared_ptr<FakeFactory> add(const std::string& type, std::vector<std::string> required,
                                   std::vector<std::string> ints) {
    auto f = std::make_shared<FakeFactory>(type, std::move(required), std::move(ints));
    restore_.push_back(ScalerRegistry::global().replaceForTest(f));
    byType_[type] = f;
    return f;
  }
  FakeFactory& get(const std::string& type) { return *byType_.at(type); }

 private:
  std::vector<std::function<void()>> restore_;
  std::map<std::string, std::shared_ptr<FakeFactory>> byType_;
};

inline std::string dataPath(const std::string& name) {
  return std::string(UPDRAFT_SOURCE_DIR) + "/tests/model/data/" + name;
}

inline std::string readData(const std::string& name) {
  std::ifstream in(dataPath(name), std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The problems at `path` (exact).
inline std::vector<std::string> messagesAt(const std::vector<Problem>& problems,
                                           const std::string& path) {
  std::vector<std::string> out;
  for (const auto& p : problems) {
    if (p.path == path) out.push_back(p.message);
  }
  return out;
}

inline bool hasProblem(const std::vector<Problem>& problems, const std::string& path,
                       const std::string& messagePart) {
  return std::any_of(problems.begin(), problems.end(), [&](const Problem& p) {
    return p.path == path && p.message.find(messagePart) != std::string::npos;
  });
}

inline std::string dump(const std::vector<Problem>& problems) {
  std::string out;
  for (const auto& p : problems) out += "  " + toString(p) + "\n";
  return out;
}

// Parses exactly one document (REQUIREs it).
inline Document parseOne(const std::string& yaml) {
  auto docs = parseDocuments(yaml, "test.yaml");
  if (!docs.isOk()) throw std::runtime_error(docs.status().toString());
  if (docs->size() != 1) throw std::runtime_error("expected one document");
  return std::move(docs->front());
}

// A minimal valid ScaledObject document, with `extraSpec` appended to its spec (indented 2).
inline std::string soYaml(const std::string& extraSpec,
                          const std::string& triggers =
                              "    - type: kafka\n"
                              "      metadata: {bootstrapServers: k:9092, consumerGroup: g, topic: "
                              "t}\n") {
  return "apiVersion: keda.sh/v1alpha1\n"
         "kind: ScaledObject\n"
         "metadata:\n"
         "  name: so\n"
         "spec:\n"
         "  scaleTargetRef:\n"
         "    name: app\n" +
         extraSpec + "  triggers:\n" + triggers;
}

}  // namespace updraft::test
