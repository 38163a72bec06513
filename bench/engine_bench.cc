// engine_bench: the target end to end. N ScaledObjects (parsed from YAML, validated,
// triggers built through the scaler registry) at pollingInterval 1 s, each a ScaledObjectHandler
// with an in-process scaler and an in-memory target, polled by the real Scheduler on the real
// clock, with an HPA sync every 15 s per object as in `updraft run`. Prints poll lateness, CPU as
// % of one core, and memory per object (RSS growth while creating the objects).
//
//   engine_bench [--objects N] [--seconds D]        (defaults: 10000 objects, 60 s)
// Targets: p99 lateness <= 100 ms, CPU <= 10 % of one core, memory <= 10 KiB per object.
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "bench_util.h"
#include "updraft/parse.h"
#include "updraft/scaled_object_handler.h"
#include "updraft/scheduler.h"
#include "updraft/validate.h"

using namespace updraft;

namespace {

// The in-process scaler: a value that moves with time, so objects activate, scale and cool down.
class InProcessScaler final : public Scaler {
 public:
  explicit InProcessScaler(int seed) : seed_(seed) {}
  Result<MetricsAndActivity> getMetricsAndActivity(const std::string& metricName,
                                                   TimePoint now) override {
    const auto s = std::chrono::duration_cast<Seconds>(now.time_since_epoch()).count();
    const double value = static_cast<double>((s / 30 + seed_) % 8) * 7.0;  // 0..49, 30 s steps
    MetricsAndActivity m;
    m.metrics.push_back(MetricValue{metricName, value});
    m.isActive = value > 0;
    return m;
  }

 private:
  int seed_;
};

class InProcessDefinition final : public ScalerDefinition {
 public:
  InProcessDefinition(MetricSpec spec, int seed) : spec_(std::move(spec)), seed_(seed) {}
  std::vector<MetricSpec> metricSpecs() const override { return {spec_}; }
  double activationThreshold() const override { return 0; }
  Result<std::unique_ptr<Scaler>> createScaler(const ScalerContext&) const override {
    return std::unique_ptr<Scaler>(std::make_unique<InProcessScaler>(seed_));
  }

 private:
  MetricSpec spec_;
  int seed_;
};

class InProcessFactory final : public ScalerFactory {
 public:
  std::string type() const override { return "in-process"; }
  Result<std::unique_ptr<ScalerDefinition>> parse(const ScalerConfig& c) const override {
    auto it = c.triggerMetadata.find("seed");
    int seed = it == c.triggerMetadata.end() ? 0 : std::atoi(it->second.c_str());
    return std::unique_ptr<ScalerDefinition>(std::make_unique<InProcessDefinition>(
        externalMetricSpec(c, "in-process", MetricTargetType::kAverageValue, 10), seed));
  }
};

class MemoryTarget final : public ScaleTarget {
 public:
  std::string describe() const override { return "memory"; }
  Result<int32_t> currentReplicas() override { return replicas_.load(); }
  Result<int32_t> readyReplicas() override { return replicas_.load(); }
  Status setReplicas(int32_t r) override {
    replicas_ = r;
    return Status::ok();
  }

 private:
  std::atomic<int32_t> replicas_{0};
};

struct Object {
  std::mutex mutex;
  MemoryTarget target;
  std::unique_ptr<ScaledObjectHandler> handler;
};

std::string objectYaml(long i) {
  return "apiVersion: keda.sh/v1alpha1\nkind: ScaledObject\nmetadata:\n  name: so-" +
         std::to_string(i) + "\n  namespace: bench\nspec:\n  scaleTargetRef:\n    name: app-" +
         std::to_string(i) +
         "\n  pollingInterval: 1\n  cooldownPeriod: 60\n  maxReplicaCount: 20\n  triggers:\n"
         "    - type: in-process\n      name: load\n      metadata:\n        seed: \"" +
         std::to_string(i % 8) + "\"\n";
}

}  // namespace

int main(int argc, char** argv) {
  long objects = 10'000;
  long seconds = 60;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--objects")) objects = std::atol(argv[i + 1]);
    if (!std::strcmp(argv[i], "--seconds")) seconds = std::atol(argv[i + 1]);
  }
  if (objects <= 0 || seconds <= 0) {
    std::fprintf(stderr, "usage: %s [--objects N] [--seconds D]\n", argv[0]);
    return 2;
  }
  auto restore = ScalerRegistry::global().replaceForTest(std::make_shared<InProcessFactory>());

  Scheduler scheduler(SystemClock::instance());
  if (Status s = scheduler.start(); !s.isOk()) {
    std::fprintf(stderr, "start: %s\n", s.toString().c_str());
    return 1;
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(100));

  const long rssBefore = bench::residentBytes();
  std::vector<std::unique_ptr<Object>> all;
  all.reserve(static_cast<size_t>(objects));
  const auto now = SystemClock::instance().now();
  for (long i = 0; i < objects; ++i) {
    auto docs = parseDocuments(objectYaml(i), "bench.yaml");
    if (!docs.isOk() || docs->size() != 1 || !validateDocument((*docs)[0]).ok()) {
      std::fprintf(stderr, "object %ld does not parse or validate\n", i);
      return 1;
    }
    const ScaledObject& so = *(*docs)[0].scaledObject();
    auto triggers = buildTriggers(so.metadata, so.spec.triggers, {});
    if (!triggers.isOk()) {
      std::fprintf(stderr, "%s\n", triggers.status().message().c_str());
      return 1;
    }
    auto obj = std::make_unique<Object>();
    ScaledObjectHandlerOptions opts;
    opts.createdAt = now;
    static const ScalerContext context{&SystemClock::instance(), nullptr};
    auto handler = ScaledObjectHandler::create(
        so, std::move(*triggers), obj->target,
        [](const BuiltTrigger& t) { return t.definition->createScaler(context); }, opts);
    if (!handler.isOk()) {
      std::fprintf(stderr, "%s\n", handler.status().message().c_str());
      return 1;
    }
    obj->handler = std::move(*handler);
    Object* o = obj.get();
    TaskSpec poll;
    poll.interval = Seconds(1);
    poll.timeout = Seconds(6);
    poll.run = [o](const PollContext& c) {
      std::lock_guard lock(o->mutex);
      o->handler->poll(c.scheduled, c.deadline);
    };
    TaskSpec hpa;
    hpa.interval = Seconds(15);
    hpa.timeout = Seconds(6);
    hpa.run = [o](const PollContext& c) {
      std::lock_guard lock(o->mutex);
      o->handler->hpaSync(c.scheduled, c.deadline);
    };
    if (!scheduler.add(std::move(poll)).isOk() || !scheduler.add(std::move(hpa)).isOk()) {
      std::fprintf(stderr, "cannot schedule object %ld\n", i);
      return 1;
    }
    all.push_back(std::move(obj));
  }
  const long rssAfter = bench::residentBytes();

  // Measure after a warm-up second so creation work is not counted.
  std::this_thread::sleep_for(std::chrono::seconds(2));
  scheduler.resetLateness();
  const auto runs0 = scheduler.stats().runs;
  const double cpu0 = bench::cpuSeconds();
  const auto wall0 = std::chrono::steady_clock::now();
  std::this_thread::sleep_for(std::chrono::seconds(seconds));
  const double cpu1 = bench::cpuSeconds();
  const double wall =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - wall0).count();
  const SchedulerStats st = scheduler.stats();
  (void)scheduler.stop();

  long active = 0;
  for (auto& o : all) {
    std::lock_guard lock(o->mutex);
    if (o->handler->status().active.status == ConditionStatus::kTrue) ++active;
  }
  const double pollsPerSec = static_cast<double>(st.runs - runs0) / wall;
  std::printf("engine_bench: %ld ScaledObjects, pollingInterval 1 s, HPA sync 15 s, %ld s\n",
              objects, seconds);
  std::printf("runs                %.0f/s (polls + HPA syncs), skips %llu, timeouts %llu\n",
              pollsPerSec, static_cast<unsigned long long>(st.skips),
              static_cast<unsigned long long>(st.timeouts));
  std::printf(
      "poll lateness       p50 %.2f ms, p99 %.2f ms, max %.2f ms   (target p99 <= 100 ms)\n",
      bench::toMillis(st.lateness.p50), bench::toMillis(st.lateness.p99),
      bench::toMillis(st.lateness.max));
  std::printf("cpu                 %.2f %% of one core                      (target <= 10 %%)\n",
              (cpu1 - cpu0) / wall * 100.0);
  std::printf("memory              %.0f bytes/object                         (target <= 10 KiB)\n",
              static_cast<double>(rssAfter - rssBefore) / static_cast<double>(objects));
  std::printf("objects active now  %ld of %ld\n", active, objects);
  restore();
  return 0;
}
