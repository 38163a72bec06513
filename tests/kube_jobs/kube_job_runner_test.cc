// KubeJobRunner against the Kubernetes API test server (tools/kube-test-apiserver): the Jobs it
// creates, how it counts them, history and rollout cleanup. The object cache is a
// MemoryObjectCache refreshed from the server's lists by sync(), so each test decides exactly when
// the "informer" catches up.
#include "updraft/operator/kube_job_runner.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "kube_test_server/kube_support.h"

using namespace updraft;
using namespace updraft::kube;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

const std::string kJobs = "/apis/batch/v1/namespaces/shop/jobs";
const std::string kPods = "/api/v1/namespaces/shop/pods";
const std::string kScaledJobs = "/apis/keda.sh/v1alpha1/namespaces/shop/scaledjobs";

json scaledJobCrd() {
  return {{"apiVersion", "apiextensions.k8s.io/v1"},
          {"kind", "CustomResourceDefinition"},
          {"metadata", {{"name", "scaledjobs.keda.sh"}}},
          {"spec",
           {{"group", "keda.sh"},
            {"names", {{"kind", "ScaledJob"}, {"plural", "scaledjobs"}, {"singular", "scaledjob"}}},
            {"scope", "Namespaced"},
            {"versions",
             {{{"name", "v1alpha1"},
               {"served", true},
               {"storage", true},
               {"subresources", {{"status", json::object()}}}}}}}}};
}

json scaledJob(const json& spec = json::object(), const json& metadata = json::object()) {
  json sj = {{"apiVersion", "keda.sh/v1alpha1"},
             {"kind", "ScaledJob"},
             {"metadata", {{"name", "orders"}, {"namespace", "shop"}}},
             {"spec",
              {{"jobTargetRef",
                {{"template",
                  {{"spec",
                    {{"containers",
                      {{{"name", "worker"}, {"image", "busybox"}, {"command", {"true"}}}}}}}}}}},
               {"triggers", {{{"type", "cron"}}}}}}};
  sj["spec"].merge_patch(spec);
  sj["metadata"].merge_patch(metadata);
  return sj;
}

class Recorder final : public EventSink {
 public:
  void emit(const std::string& object, const Event& event) override {
    std::lock_guard lock(mutex_);
    events_.emplace_back(object, event);
  }
  std::vector<Event> withReason(const std::string& reason) const {
    std::lock_guard lock(mutex_);
    std::vector<Event> out;
    for (const auto& [object, e] : events_) {
      if (e.reason == reason && object == "ScaledJob/shop/orders") out.push_back(e);
    }
    return out;
  }

 private:
  mutable std::mutex mutex_;
  std::vector<std::pair<std::string, Event>> events_;
};

// A server with namespace "shop", the ScaledJob CRD and one ScaledJob "orders" (a live owner, so
// the server's garbage collector keeps the Jobs).
struct Env {
  explicit Env(const json& sj = scaledJob()) {
    REQUIRE(cluster.createNamespace("shop") == 201);
    REQUIRE(
        cluster.api.post("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", scaledJobCrd())
            .code == 201);
    auto created = cluster.api.post(kScaledJobs, sj);
    REQUIRE(created.code == 201);
    object = created.json();
    auto config = KubeConfig::fromKubeconfig(cluster.server.kubeconfig());
    REQUIRE(config.isOk());
    client = std::make_unique<KubeClient>(*config);
    sync();
  }

  std::unique_ptr<KubeJobRunner> runner(KubeJobRunnerOptions options = {}) {
    options.events = &events;
    return std::make_unique<KubeJobRunner>(*client, cache, object, options);
  }

  // The informer catching up: the cache gets the server's Jobs and Pods.
  void sync() {
    for (const char* resource : {"jobs", "pods"}) {
      for (const json& o : cache.list(resource, "")) {
        cache.erase(resource, o["metadata"]["namespace"], o["metadata"]["name"]);
      }
      // Elsewhere, so that the cache watches the resource even when "shop" has none.
      cache.put(resource, {{"metadata", {{"name", "marker"}, {"namespace", "elsewhere"}}}});
    }
    for (const json& job : list(kJobs)) cache.put("jobs", job);
    for (const json& pod : list(kPods)) cache.put("pods", pod);
  }

  std::vector<json> list(const std::string& path) const {
    auto r = cluster.api.get(path);
    REQUIRE(r.code == 200);
    return r.json()["items"].get<std::vector<json>>();
  }
  std::vector<std::string> jobNames() const {
    std::vector<std::string> names;
    for (const json& job : list(kJobs)) names.push_back(job["metadata"]["name"]);
    return names;
  }

  // Changes the ScaledJob on the server (a new generation when the spec changes).
  json patchScaledJob(const json& patch) {
    auto r = cluster.api.patch(kScaledJobs + "/orders", patch);
    REQUIRE(r.code == 200);
    object = r.json();
    return object;
  }

  void finish(const std::string& job, const std::string& type, const std::string& at,
              bool withCompletionTime = true) {
    json status = {
        {"conditions", {{{"type", type}, {"status", "True"}, {"lastTransitionTime", at}}}}};
    if (withCompletionTime) status["completionTime"] = at;
    REQUIRE(cluster.api.patch(kJobs + "/" + job + "/status", {{"status", status}}).code == 200);
  }

  void pod(const std::string& job, const std::string& name, const json& status,
           const json& ownerJob = nullptr) {
    json pod = {{"apiVersion", "v1"},
                {"kind", "Pod"},
                {"metadata", {{"name", name}, {"labels", {{"job-name", job}}}}},
                {"spec", {{"containers", {{{"name", "worker"}, {"image", "busybox"}}}}}}};
    if (!ownerJob.is_null()) {
      pod["metadata"]["ownerReferences"] = {{{"apiVersion", "batch/v1"},
                                             {"kind", "Job"},
                                             {"name", job},
                                             {"uid", ownerJob["metadata"]["uid"]},
                                             {"controller", true}}};
    }
    REQUIRE(cluster.api.post(kPods, pod).code == 201);
    REQUIRE(cluster.api.patch(kPods + "/" + name + "/status", {{"status", status}}).code == 200);
  }

  json job(const std::string& name) const { return cluster.api.get(kJobs + "/" + name).json(); }

  kubetest_test::Cluster cluster;
  std::unique_ptr<KubeClient> client;
  MemoryObjectCache cache;
  Recorder events;
  json object;  // the ScaledJob as the server last returned it
};

bool isCounts(const Result<JobCounts>& counts, int32_t running, int32_t pending) {
  INFO(counts.status().toString());
  return counts.isOk() && counts->running == running && counts->pending == pending;
}

}  // namespace

TEST_CASE("kube jobs: the Job object is shaped as KEDA's") {
  Env env(scaledJob(
      {{"jobTargetRef", {{"parallelism", 1}, {"backoffLimit", 2}}}},
      {{"labels", {{"team", "payments"}, {"cost-center", "42"}}},
       {"annotations",
        {{"scaledjob.keda.sh/job-excluded-labels", "cost-center,other"}, {"note", "kept"}}}}));
  auto runner = env.runner({.version = "9.9.9"});
  CHECK(runner->describe() == "ScaledJob shop/orders");

  auto created = runner->createJobs(2);
  INFO(created.status().toString());
  REQUIRE(created.isOk());
  CHECK(*created == 2);
  // The owner is live, so the server's garbage collector (100 ms tick) keeps them.
  std::this_thread::sleep_for(300ms);
  const auto jobs = env.list(kJobs);
  REQUIRE(jobs.size() == 2);
  CHECK(jobs[0]["metadata"]["name"] != jobs[1]["metadata"]["name"]);
  for (const json& job : jobs) {
    const json& meta = job["metadata"];
    CHECK(meta["generateName"] == "orders-");
    CHECK(meta["name"].get<std::string>().rfind("orders-", 0) == 0);
    CHECK(meta["labels"] == json{{"app.kubernetes.io/name", "orders"},
                                 {"app.kubernetes.io/version", "9.9.9"},
                                 {"app.kubernetes.io/part-of", "orders"},
                                 {"app.kubernetes.io/managed-by", "keda-operator"},
                                 {"scaledjob.keda.sh/name", "orders"},
                                 {"team", "payments"}});
    CHECK(meta["annotations"] ==
          json{{"scaledjob.keda.sh/generation", "1"},
               {"scaledjob.keda.sh/job-excluded-labels", "cost-center,other"},
               {"note", "kept"}});
    CHECK(meta["ownerReferences"] == json::array({{{"apiVersion", "keda.sh/v1alpha1"},
                                                   {"kind", "ScaledJob"},
                                                   {"name", "orders"},
                                                   {"uid", env.object["metadata"]["uid"]},
                                                   {"controller", true},
                                                   {"blockOwnerDeletion", true}}}));
    const json& spec = job["spec"];
    CHECK(spec["parallelism"] == 1);
    CHECK(spec["backoffLimit"] == 2);
    CHECK(spec["template"]["metadata"]["generateName"] == "orders-");
    CHECK(spec["template"]["metadata"]["labels"] == json{{"scaledjob.keda.sh/name", "orders"}});
    CHECK(spec["template"]["spec"]["restartPolicy"] == "OnFailure");
    CHECK(spec["template"]["spec"]["containers"][0]["image"] == "busybox");
  }

  // A restartPolicy that is set is kept; template labels are added to, not replaced.
  runner->update(env.patchScaledJob({{"spec",
                                      {{"jobTargetRef",
                                        {{"template",
                                          {{"metadata", {{"labels", {{"tier", "batch"}}}}},
                                           {"spec", {{"restartPolicy", "Never"}}}}}}}}}}));
  REQUIRE(runner->createJobs(1).isOk());
  env.sync();
  bool sawNever = false;
  for (const json& job : env.list(kJobs)) {
    if (job["metadata"]["annotations"]["scaledjob.keda.sh/generation"] != "2") continue;
    sawNever = true;
    CHECK(job["spec"]["template"]["spec"]["restartPolicy"] == "Never");
    CHECK(job["spec"]["template"]["metadata"]["labels"] ==
          json{{"scaledjob.keda.sh/name", "orders"}, {"tier", "batch"}});
  }
  CHECK(sawNever);
}

TEST_CASE("kube jobs: running and pending from Jobs and their pods") {
  Env env;
  auto runner = env.runner();
  CHECK(isCounts(runner->counts(), 0, 0));
  REQUIRE(runner->createJobs(4).isOk());
  // Another ScaledJob's Job does not count.
  REQUIRE(env.cluster.api
              .post(kJobs, {{"metadata",
                             {{"name", "someone-else"},
                              {"labels", {{"scaledjob.keda.sh/name", "invoices"}}}}},
                            {"spec", scaledJob()["spec"]["jobTargetRef"]}})
              .code == 201);
  env.sync();
  const auto names = env.jobNames();
  REQUIRE(names.size() == 5);
  std::vector<std::string> ours;
  for (const auto& n : names) {
    if (n != "someone-else") ours.push_back(n);
  }
  CHECK(isCounts(runner->counts(), 4, 4));

  env.pod(ours[0], "p0", {{"phase", "Running"}});     // started
  env.pod(ours[1], "p1", {{"phase", "Pending"}});     // not yet
  env.pod(ours[2], "p2a", {{"phase", "Failed"}});     // a retry...
  env.pod(ours[2], "p2b", {{"phase", "Succeeded"}});  // ...that went through
  env.finish(ours[3], "Complete", "2026-01-01T00:00:00Z");
  env.sync();
  CHECK(isCounts(runner->counts(), 3, 1));

  env.finish(ours[1], "Failed", "2026-01-01T00:01:00Z", false);
  env.sync();
  CHECK(isCounts(runner->counts(), 2, 0));
}

TEST_CASE("kube jobs: pendingPodConditions decide pending") {
  Env env(scaledJob({{"scalingStrategy", {{"pendingPodConditions", {"Ready", "PodScheduled"}}}}}));
  auto runner = env.runner();
  REQUIRE(runner->createJobs(2).isOk());
  env.sync();
  const auto names = env.jobNames();
  REQUIRE(names.size() == 2);
  // Running, but not every listed condition is True yet.
  env.pod(names[0], "p0",
          {{"phase", "Running"},
           {"conditions",
            {{{"type", "PodScheduled"}, {"status", "True"}},
             {{"type", "Ready"}, {"status", "False"}}}}});
  env.pod(names[1], "p1",
          {{"phase", "Pending"},
           {"conditions",
            {{{"type", "PodScheduled"}, {"status", "True"}},
             {{"type", "Ready"}, {"status", "True"}}}}});
  env.sync();
  CHECK(isCounts(runner->counts(), 2, 1));
  REQUIRE(env.cluster.api
              .patch(kPods + "/p0/status", {{"status",
                                             {{"conditions",
                                               {{{"type", "PodScheduled"}, {"status", "True"}},
                                                {{"type", "Ready"}, {"status", "True"}}}}}}})
              .code == 200);
  env.sync();
  CHECK(isCounts(runner->counts(), 2, 0));
}

TEST_CASE("kube jobs: created Jobs count before the cache sees them, deleted ones stop counting") {
  Env env(scaledJob({{"rollout", {{"strategy", "immediate"}}}}));
  auto runner = env.runner();
  REQUIRE(runner->createJobs(2).isOk());
  // Two polls in a row before the informer catches up: the handler would not create again.
  CHECK(isCounts(runner->counts(), 2, 2));
  CHECK(isCounts(runner->counts(), 2, 2));
  env.sync();
  CHECK(isCounts(runner->counts(), 2, 2));  // seen once, not twice

  // A new generation: the rollout deletes both; the stale cache still has them.
  runner->update(env.patchScaledJob({{"spec", {{"pollingInterval", 5}}}}));
  auto deleted = runner->rolloutCleanup();
  REQUIRE(deleted.isOk());
  CHECK(*deleted == 2);
  CHECK(isCounts(runner->counts(), 0, 0));
  CHECK(runner->rolloutCleanup().value() == 0);  // not deleted twice
  env.sync();
  CHECK(isCounts(runner->counts(), 0, 0));

  // Remembered only for cacheLag: a create the cache never shows stops counting.
  auto quick = env.runner({.cacheLag = 200ms});
  REQUIRE(quick->createJobs(1).isOk());
  CHECK(isCounts(quick->counts(), 1, 1));
  std::this_thread::sleep_for(300ms);
  CHECK(isCounts(quick->counts(), 0, 0));
}

TEST_CASE("kube jobs: history limits delete the oldest finished Jobs") {
  Env env(scaledJob({{"successfulJobsHistoryLimit", 1}, {"failedJobsHistoryLimit", 1}}));
  auto runner = env.runner();
  REQUIRE(runner->createJobs(6).isOk());
  env.sync();
  const auto names = env.jobNames();
  REQUIRE(names.size() == 6);
  // Completion order differs from name order.
  env.finish(names[0], "Complete", "2026-01-01T00:03:00Z");
  env.finish(names[1], "Complete", "2026-01-01T00:01:00Z");
  env.finish(names[2], "Complete", "2026-01-01T00:02:00Z");
  // Failed Jobs without completionTime: the condition's time orders them.
  env.finish(names[3], "Failed", "2026-01-01T00:05:00Z", false);
  env.finish(names[4], "Failed", "2026-01-01T00:04:00Z", false);
  // Background propagation deletes the Job's pods (the server's default for Jobs orphans them).
  env.pod(names[1], "p1", {{"phase", "Succeeded"}}, env.job(names[1]));
  env.sync();

  REQUIRE(runner->cleanupHistory().isOk());
  auto left = env.jobNames();
  std::sort(left.begin(), left.end());
  std::vector<std::string> expected = {names[0], names[3], names[5]};
  std::sort(expected.begin(), expected.end());
  CHECK(left == expected);
  CHECK(env.list(kPods).empty());
  // The cache has not caught up: nothing is deleted twice, and the running one still counts.
  REQUIRE(runner->cleanupHistory().isOk());
  CHECK(isCounts(runner->counts(), 1, 1));

  // Default limits (100) keep everything.
  Env other;
  auto relaxed = other.runner();
  REQUIRE(relaxed->createJobs(3).isOk());
  other.sync();
  for (const auto& n : other.jobNames()) other.finish(n, "Complete", "2026-01-01T00:00:00Z");
  other.sync();
  REQUIRE(relaxed->cleanupHistory().isOk());
  CHECK(other.jobNames().size() == 3);
}

TEST_CASE("kube jobs: rollout immediate deletes old generations, gradual keeps them") {
  Env env(scaledJob({{"rollout", {{"strategy", "gradual"}}}}));
  auto runner = env.runner();
  REQUIRE(runner->createJobs(2).isOk());
  // A labelled Job without the generation annotation (e.g. made by hand) is old too.
  REQUIRE(env.cluster.api
              .post(kJobs,
                    {{"metadata",
                      {{"name", "handmade"}, {"labels", {{"scaledjob.keda.sh/name", "orders"}}}}},
                     {"spec", scaledJob()["spec"]["jobTargetRef"]}})
              .code == 201);
  env.sync();

  SECTION("gradual keeps the old Jobs") {
    runner->update(env.patchScaledJob({{"spec", {{"pollingInterval", 7}}}}));
    REQUIRE(env.object["metadata"]["generation"] == 2);
    CHECK(runner->rolloutCleanup().value() == 0);
    CHECK(env.jobNames().size() == 3);
    CHECK(env.events.withReason("ScaledJobRolloutCleanupStarted").empty());
  }
  SECTION("the deprecated rolloutStrategy wins over rollout.strategy") {
    runner->update(env.patchScaledJob(
        {{"spec", {{"rolloutStrategy", "gradual"}, {"rollout", {{"strategy", "immediate"}}}}}}));
    CHECK(runner->rolloutCleanup().value() == 0);
    CHECK(env.jobNames().size() == 3);
  }
  SECTION("immediate deletes every Job of another generation") {
    runner->update(env.patchScaledJob(
        {{"spec",
          {{"rollout", {{"strategy", "immediate"}, {"propagationPolicy", "foreground"}}}}}}));
    REQUIRE(env.object["metadata"]["generation"] == 2);
    REQUIRE(runner->createJobs(1).isOk());  // the current generation's
    env.sync();
    auto deleted = runner->rolloutCleanup();
    INFO(deleted.status().toString());
    REQUIRE(deleted.isOk());
    CHECK(*deleted == 3);
    const auto left = env.list(kJobs);
    REQUIRE(left.size() == 1);
    CHECK(left[0]["metadata"]["annotations"]["scaledjob.keda.sh/generation"] == "2");
    CHECK(isCounts(runner->counts(), 1, 1));
    auto started = env.events.withReason("ScaledJobRolloutCleanupStarted");
    auto completed = env.events.withReason("ScaledJobRolloutCleanupCompleted");
    REQUIRE(started.size() == 1);
    REQUIRE(completed.size() == 1);
    CHECK(started[0].type == Event::Type::kNormal);
    CHECK(completed[0].message.find("3 jobs") != std::string::npos);
  }
  SECTION("a failed delete is reported") {
    runner->update(env.patchScaledJob({{"spec", {{"rollout", {{"strategy", "immediate"}}}}}}));
    REQUIRE(
        env.cluster.api.control("/_test/fail?status=500&count=1&method=DELETE&path=/jobs/").code ==
        200);
    auto deleted = runner->rolloutCleanup();
    REQUIRE_FALSE(deleted.isOk());
    CHECK(deleted.status().message().find("ScaledJob shop/orders: delete Job") == 0);
    CHECK(deleted.status().message().find("500") != std::string::npos);
    auto failed = env.events.withReason("ScaledJobRolloutCleanupFailed");
    REQUIRE(failed.size() == 1);
    CHECK(failed[0].type == Event::Type::kWarning);
  }
}

TEST_CASE("kube jobs: a failing create gives a clear error and KEDAJobCreateFailed") {
  Env env;
  auto runner = env.runner();
  REQUIRE(env.cluster.api
              .control("/_test/fail?status=500&count=1&method=POST&path=/jobs&message=etcd%20down")
              .code == 200);
  auto created = runner->createJobs(1);
  REQUIRE_FALSE(created.isOk());
  CHECK(created.status().code() == StatusCode::kUnavailable);
  const std::string message = created.status().message();
  CHECK(message.find("ScaledJob shop/orders: create Job: 500") == 0);
  CHECK(message.find("etcd down") != std::string::npos);
  CHECK(message.find("test-token") == std::string::npos);
  auto failed = env.events.withReason("KEDAJobCreateFailed");
  REQUIRE(failed.size() == 1);
  CHECK(failed[0].type == Event::Type::kWarning);
  CHECK(failed[0].message == message);
  CHECK(isCounts(runner->counts(), 0, 0));

  // One of three fails: the others are still created and counted.
  REQUIRE(env.cluster.api.control("/_test/fail?status=500&count=1&method=POST&path=/jobs").code ==
          200);
  created = runner->createJobs(3);
  REQUIRE(created.isOk());
  CHECK(*created == 2);
  CHECK(env.events.withReason("KEDAJobCreateFailed").size() == 2);
  CHECK(isCounts(runner->counts(), 2, 2));
}

TEST_CASE("kube jobs: bad input and a cache without jobs are errors, not crashes") {
  Env env;
  MemoryObjectCache empty;
  KubeJobRunner blind(*env.client, empty, env.object);
  CHECK(blind.counts().status().code() == StatusCode::kFailedPrecondition);
  CHECK(blind.cleanupHistory().code() == StatusCode::kFailedPrecondition);
  CHECK(blind.createJobs(-1).status().code() == StatusCode::kInvalidArgument);
  CHECK(blind.createJobs(0).value() == 0);

  json noTarget = env.object;
  noTarget["spec"].erase("jobTargetRef");
  KubeJobRunner broken(*env.client, env.cache, noTarget);
  auto created = broken.createJobs(1);
  CHECK(created.status().code() == StatusCode::kInvalidArgument);
  CHECK(created.status().message() ==
        "ScaledJob shop/orders: create Job: spec.jobTargetRef is missing");

  // Wrong types from the API are read as absent.
  json odd = env.object;
  odd["metadata"]["generation"] = "two";
  odd["metadata"]["labels"] = {{"n", 3}};
  odd["spec"]["successfulJobsHistoryLimit"] = "x";
  odd["spec"]["scalingStrategy"] = {{"pendingPodConditions", "Ready"}};
  KubeJobRunner tolerant(*env.client, env.cache, odd);
  REQUIRE(tolerant.createJobs(1).isOk());
  CHECK(isCounts(tolerant.counts(), 1, 1));
  CHECK(tolerant.cleanupHistory().isOk());
}
