// A ScaledJob under `updraft operator`: Jobs created from a metrics-api trigger with KEDA's labels
// and owner reference, finished by the test (the test API server's simulated Job controller only
// marks them active), the successful- and failed-Jobs history limits, the finalizer and the Ready
// condition.
#include <algorithm>
#include <catch2/catch.hpp>
#include <set>

#include "operator_ha/operator_ha_support.h"

using namespace updraft::operator_ha_test;

namespace {

json scaledJob(const std::string& name, const std::string& metricUrl) {
  return {{"apiVersion", "keda.sh/v1alpha1"},
          {"kind", "ScaledJob"},
          {"metadata", {{"name", name}, {"namespace", kNs}, {"labels", {{"team", "batch"}}}}},
          {"spec",
           {{"jobTargetRef",
             {{"template",
               {{"spec",
                 {{"containers",
                   {{{"name", "worker"},
                     {"image", "busybox:1.36"},
                     {"command", {"sh", "-c", "echo work"}}}}}}}}}}},
            {"pollingInterval", 1},
            {"maxReplicaCount", 10},
            {"successfulJobsHistoryLimit", 1},
            {"failedJobsHistoryLimit", 1},
            {"triggers",
             {{{"type", "metrics-api"},
               {"metadata",
                {{"url", metricUrl}, {"valueLocation", "value"}, {"targetValue", "1"}}}}}}}}};
}

std::vector<json> jobsOf(const Client& api, const std::string& sj) {
  return list(api, jobsPath() + "?labelSelector=scaledjob.keda.sh%2Fname%3D" + sj);
}

std::string nameOf(const json& o) { return o.value("/metadata/name"_json_pointer, std::string()); }

// Marks a Job finished the way the Job controller would.
void complete(const Client& api, const std::string& job, const std::string& at) {
  json status = {
      {"active", 0},
      {"succeeded", 1},
      {"completionTime", at},
      {"conditions", {{{"type", "Complete"}, {"status", "True"}, {"lastTransitionTime", at}}}}};
  auto r = api.patch(jobsPath() + "/" + job + "/status", {{"status", status}});
  INFO(r.body);
  REQUIRE(r.code == 200);
}

// Marks a Job failed (no completionTime, as the Job controller).
void fail(const Client& api, const std::string& job, const std::string& at) {
  json status = {{"active", 0},
                 {"failed", 1},
                 {"conditions",
                  {{{"type", "Failed"},
                    {"status", "True"},
                    {"reason", "BackoffLimitExceeded"},
                    {"lastTransitionTime", at}}}}};
  auto r = api.patch(jobsPath() + "/" + job + "/status", {{"status", status}});
  INFO(r.body);
  REQUIRE(r.code == 200);
}

}  // namespace

TEST_CASE("a ScaledJob creates Jobs for pending events and keeps one finished Job",
          "[operator_ha][scaledjob]") {
  ApiServer server;
  MetricSource metric;
  metric.set("queue", 3);
  OperatorProcess op(server, "operator");
  REQUIRE(op.waitReady());

  create(server.api(), scaledJobsPath(), scaledJob("batch", metric.url("queue")));
  const json sj = *get(server.api(), scaledJobsPath() + "/batch");
  const std::string uid = sj.value("/metadata/uid"_json_pointer, std::string());
  REQUIRE(!uid.empty());

  // 3 pending events, targetValue 1: 3 Jobs, and no more while they run.
  HA_WAIT_FOR("3 Jobs", 15000, jobsOf(server.api(), "batch").size() == 3);
  HA_WAIT_FOR("the finalizer and Ready True on the ScaledJob", 5000, [&] {
    auto o = get(server.api(), scaledJobsPath() + "/batch");
    if (!o) return false;
    auto f = o->value("/metadata/finalizers"_json_pointer, json::array());
    return std::find(f.begin(), f.end(), "finalizer.keda.sh") != f.end() &&
           hasCondition(*o, "Ready", "True");
  }());
  HA_WAIT_FOR("the simulated Job controller starting the Jobs", 5000, [&] {
    for (const auto& j : jobsOf(server.api(), "batch")) {
      if (j.value("/status/active"_json_pointer, 0) != 1) return false;
    }
    return true;
  }());
  std::this_thread::sleep_for(2500ms);  // two more polls: still 3 (they count as running)
  auto jobs = jobsOf(server.api(), "batch");
  REQUIRE(jobs.size() == 3);
  std::vector<std::string> names;
  for (const auto& job : jobs) {
    INFO(job.dump(2));
    names.push_back(nameOf(job));
    CHECK(nameOf(job).rfind("batch-", 0) == 0);
    const json labels = job.value("/metadata/labels"_json_pointer, json::object());
    CHECK(labels.value("scaledjob.keda.sh/name", "") == "batch");
    CHECK(labels.value("app.kubernetes.io/name", "") == "batch");
    CHECK(labels.value("app.kubernetes.io/part-of", "") == "batch");
    CHECK(labels.value("app.kubernetes.io/managed-by", "") == "keda-operator");
    CHECK(labels.value("team", "") == "batch");  // the ScaledJob's own labels are copied
    CHECK(job.value("/spec/template/metadata/labels/scaledjob.keda.sh~1name"_json_pointer,
                    std::string()) == "batch");
    CHECK(job.value("/spec/template/spec/containers/0/image"_json_pointer, std::string()) ==
          "busybox:1.36");
    CHECK(job.value("/spec/template/spec/restartPolicy"_json_pointer, std::string()) ==
          "OnFailure");
    auto refs = job.value("/metadata/ownerReferences"_json_pointer, json::array());
    REQUIRE(refs.size() == 1);
    CHECK(refs[0].value("apiVersion", "") == "keda.sh/v1alpha1");
    CHECK(refs[0].value("kind", "") == "ScaledJob");
    CHECK(refs[0].value("name", "") == "batch");
    CHECK(refs[0].value("uid", "") == uid);
    CHECK(refs[0].value("controller", false));
  }

  // The queue drains and the Jobs finish, in a known order: only the newest finished Job stays.
  metric.set("queue", 0);
  std::sort(names.begin(), names.end());
  complete(server.api(), names[0], "2030-01-01T00:00:01Z");
  complete(server.api(), names[1], "2030-01-01T00:00:03Z");
  complete(server.api(), names[2], "2030-01-01T00:00:02Z");
  HA_WAIT_FOR("the history limit deleting 2 finished Jobs", 10000, [&] {
    auto left = jobsOf(server.api(), "batch");
    return left.size() == 1 && nameOf(left[0]) == names[1];
  }());
  std::this_thread::sleep_for(1500ms);  // an empty queue creates nothing
  REQUIRE(jobsOf(server.api(), "batch").size() == 1);

  // New events: Jobs again, next to the finished one.
  metric.set("queue", 2);
  HA_WAIT_FOR("2 new Jobs", 10000, jobsOf(server.api(), "batch").size() == 3);
  std::set<std::string> now;
  for (const auto& j : jobsOf(server.api(), "batch")) now.insert(nameOf(j));
  CHECK(now.count(names[1]) == 1);

  // Both fail: failedJobsHistoryLimit 1 keeps the newer failure, next to the newest success.
  metric.set("queue", 0);
  now.erase(names[1]);
  REQUIRE(now.size() == 2);
  const std::string older = *now.begin(), newer = *now.rbegin();
  fail(server.api(), newer, "2030-01-01T00:01:00Z");
  fail(server.api(), older, "2030-01-01T00:00:30Z");
  HA_WAIT_FOR("the failed-history limit deleting the older failure", 10000, [&] {
    std::set<std::string> left;
    for (const auto& j : jobsOf(server.api(), "batch")) left.insert(nameOf(j));
    return left == std::set<std::string>{names[1], newer};
  }());

  // Deleting the ScaledJob: the operator removes its finalizer and the object goes.
  REQUIRE(server.api().del(scaledJobsPath() + "/batch").code == 200);
  HA_WAIT_FOR("the ScaledJob gone", 10000, !get(server.api(), scaledJobsPath() + "/batch"));
  REQUIRE(op.running());
}
