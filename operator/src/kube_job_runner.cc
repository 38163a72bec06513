#include "updraft/operator/kube_job_runner.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <exception>
#include <initializer_list>
#include <set>
#include <tuple>
#include <utility>

#include "updraft/model.h"

namespace updraft::kube {

namespace {

using nlohmann::json;

constexpr const char* kNameLabel = "scaledjob.keda.sh/name";
constexpr const char* kGenerationAnnotation = "scaledjob.keda.sh/generation";
constexpr int64_t kDefaultHistoryLimit = 100;  // executor/scale_jobs.go

// Lookups that never throw: the objects come from the API and may hold anything.
const json* find(const json& object, std::initializer_list<const char*> path) {
  const json* at = &object;
  for (const char* key : path) {
    if (!at->is_object()) return nullptr;
    auto it = at->find(key);
    if (it == at->end()) return nullptr;
    at = &*it;
  }
  return at;
}

std::string text(const json& object, std::initializer_list<const char*> path) {
  const json* v = find(object, path);
  return v && v->is_string() ? v->get<std::string>() : std::string();
}

int64_t integer(const json& object, std::initializer_list<const char*> path, int64_t fallback) {
  const json* v = find(object, path);
  return v && v->is_number_integer() ? v->get<int64_t>() : fallback;
}

// The Job's first Complete/Failed condition that is True, or null while it runs.
const json* finishedCondition(const json& job) {
  const json* conditions = find(job, {"status", "conditions"});
  if (!conditions || !conditions->is_array()) return nullptr;
  for (const json& c : *conditions) {
    const std::string type = text(c, {"type"});
    if ((type == "Complete" || type == "Failed") && text(c, {"status"}) == "True") return &c;
  }
  return nullptr;
}

bool beingDeleted(const json& object) {
  const json* t = find(object, {"metadata", "deletionTimestamp"});
  return t && !t->is_null();
}

// Whether the Job's work has started: KEDA's areAllPendingPodConditionsFulfilled /
// isAnyPodRunningOrCompleted, over the Job's pods.
bool started(const std::vector<json>& pods, const std::vector<std::string>& pendingConditions) {
  for (const json& pod : pods) {
    if (pendingConditions.empty()) {
      const std::string phase = text(pod, {"status", "phase"});
      if (phase == "Running" || phase == "Succeeded") return true;
      continue;
    }
    const json* conditions = find(pod, {"status", "conditions"});
    size_t fulfilled = 0;
    for (const std::string& wanted : pendingConditions) {
      if (!conditions || !conditions->is_array()) break;
      fulfilled += std::any_of(conditions->begin(), conditions->end(), [&](const json& c) {
        return text(c, {"type"}) == wanted && text(c, {"status"}) == "True";
      });
    }
    if (fulfilled == pendingConditions.size()) return true;
  }
  return false;
}

// KEDA's generateJobs(): the Job for the ScaledJob `sj`.
Result<json> jobFor(const json& sj, const std::string& ns, const std::string& name,
                    const std::string& version) {
  const json* ref = find(sj, {"spec", "jobTargetRef"});
  if (!ref || !ref->is_object()) return Status::invalidArgument("spec.jobTargetRef is missing");
  const std::string uid = text(sj, {"metadata", "uid"});
  // The controller ownerReference needs it; an object read from the API always has one.
  if (uid.empty()) return Status::invalidArgument("metadata.uid is missing");

  json labels = {{"app.kubernetes.io/name", name},
                 {"app.kubernetes.io/version", version},
                 {"app.kubernetes.io/part-of", name},
                 {"app.kubernetes.io/managed-by", "keda-operator"},
                 {kNameLabel, name}};
  std::set<std::string> excluded;  // split on ',' without trimming, as KEDA
  const std::string excludedList =
      text(sj, {"metadata", "annotations", annotations::kJobExcludedLabels});
  for (size_t start = 0; start <= excludedList.size();) {
    const size_t comma = std::min(excludedList.find(',', start), excludedList.size());
    excluded.insert(excludedList.substr(start, comma - start));
    start = comma + 1;
  }
  if (const json* own = find(sj, {"metadata", "labels"}); own && own->is_object()) {
    for (const auto& [k, v] : own->items()) {
      if (v.is_string() && !excluded.count(k)) labels[k] = v;
    }
  }
  json jobAnnotations = {
      {kGenerationAnnotation, std::to_string(integer(sj, {"metadata", "generation"}, 0))}};
  if (const json* own = find(sj, {"metadata", "annotations"}); own && own->is_object()) {
    for (const auto& [k, v] : own->items()) {
      if (v.is_string()) jobAnnotations[k] = v;
    }
  }

  json spec = *ref;
  if (!spec["template"].is_object()) spec["template"] = json::object();
  json& templ = spec["template"];
  if (!templ["metadata"].is_object()) templ["metadata"] = json::object();
  templ["metadata"]["generateName"] = name + "-";
  if (!templ["metadata"]["labels"].is_object()) templ["metadata"]["labels"] = json::object();
  templ["metadata"]["labels"][kNameLabel] = name;
  if (!templ["spec"].is_object()) templ["spec"] = json::object();
  // Jobs reject restartPolicy Always, the pod default.
  if (text(templ["spec"], {"restartPolicy"}).empty()) templ["spec"]["restartPolicy"] = "OnFailure";

  std::string apiVersion = text(sj, {"apiVersion"});
  if (apiVersion.empty()) apiVersion = kKedaApiVersion;
  return json{{"apiVersion", "batch/v1"},
              {"kind", "Job"},
              {"metadata",
               {{"generateName", name + "-"},
                {"namespace", ns},
                {"labels", std::move(labels)},
                {"annotations", std::move(jobAnnotations)},
                {"ownerReferences",
                 {{{"apiVersion", apiVersion},
                   {"kind", "ScaledJob"},
                   {"name", name},
                   {"uid", uid},
                   {"controller", true},
                   {"blockOwnerDeletion", true}}}}}},
              {"spec", std::move(spec)}};
}

// Runs `body`, turning an unexpected exception into an Internal error: none escapes.
template <class F>
auto guarded(const std::string& what, F&& body) -> decltype(body()) {
  try {
    return body();
  } catch (const std::exception& e) {
    return Status::internal(fmt::format("{}: {}", what, e.what()));
  }
}

}  // namespace

KubeJobRunner::KubeJobRunner(KubeClient& client, const ObjectCache& cache, nlohmann::json scaledJob,
                             KubeJobRunnerOptions options)
    : client_(client),
      cache_(cache),
      options_(std::move(options)),
      namespace_(text(scaledJob, {"metadata", "namespace"})),
      name_(text(scaledJob, {"metadata", "name"})),
      scaledJob_(std::move(scaledJob)) {}

std::string KubeJobRunner::describe() const { return "ScaledJob " + namespace_ + "/" + name_; }

void KubeJobRunner::update(nlohmann::json scaledJob) {
  std::lock_guard lock(mutex_);
  scaledJob_ = std::move(scaledJob);
}

void KubeJobRunner::emit(Event::Type type, const char* reason, std::string message) const {
  if (!options_.events) return;
  options_.events->emit(fmt::format("ScaledJob/{}/{}", namespace_, name_),
                        {type, reason, std::move(message)});
}

Result<std::vector<nlohmann::json>> KubeJobRunner::currentJobs() {
  if (!cache_.watches("jobs")) {
    return Status::failedPrecondition(describe() + ": the object cache does not watch jobs");
  }
  std::vector<json> jobs = cache_.list("jobs", namespace_, {{kNameLabel, name_}});
  std::set<std::string> cached;
  for (const json& job : jobs) cached.insert(text(job, {"metadata", "name"}));

  std::lock_guard lock(mutex_);
  const auto now = Clock::now();
  // Forget writes the cache has caught up with, or that it should have shown by now.
  std::erase_if(created_, [&](const auto& e) {
    return cached.count(e.first) || now - e.second.at > options_.cacheLag;
  });
  std::erase_if(deleted_, [&](const auto& e) {
    return !cached.count(e.first) || now - e.second.at > options_.cacheLag;
  });
  std::erase_if(jobs, [&](const json& job) {
    return deleted_.count(text(job, {"metadata", "name"})) > 0;
  });
  for (const auto& [name, written] : created_) jobs.push_back(written.job);
  return jobs;
}

Result<JobCounts> KubeJobRunner::counts() {
  return guarded(describe() + ": count jobs", [&]() -> Result<JobCounts> {
    auto jobs = currentJobs();
    if (!jobs.isOk()) return jobs.status();
    if (!cache_.watches("pods")) {
      return Status::failedPrecondition(describe() + ": the object cache does not watch pods");
    }
    std::vector<std::string> pendingConditions;
    {
      std::lock_guard lock(mutex_);
      const json* list = find(scaledJob_, {"spec", "scalingStrategy", "pendingPodConditions"});
      if (list && list->is_array()) {
        for (const json& c : *list) {
          if (c.is_string()) pendingConditions.push_back(c.get<std::string>());
        }
      }
    }
    JobCounts counts;
    for (const json& job : *jobs) {
      if (finishedCondition(job)) continue;
      ++counts.running;
      const std::string jobName = text(job, {"metadata", "name"});
      if (!started(cache_.list("pods", namespace_, {{"job-name", jobName}}), pendingConditions)) {
        ++counts.pending;
      }
    }
    return counts;
  });
}

Result<int32_t> KubeJobRunner::createJobs(int32_t count) {
  const std::string what = describe() + ": create Job";
  return guarded(what, [&]() -> Result<int32_t> {
    if (count < 0) {
      return Status::invalidArgument(
          fmt::format("{}: job count must be >= 0, got {}", what, count));
    }
    if (count == 0) return 0;
    Result<json> job = [&] {
      std::lock_guard lock(mutex_);
      return jobFor(scaledJob_, namespace_, name_, options_.version);
    }();
    if (!job.isOk()) return job.status().withContext(what);

    const std::string path = resourcePath("batch/v1", "jobs", namespace_);
    int32_t created = 0;
    Status first;
    for (int32_t i = 0; i < count; ++i) {
      auto response = client_.create(path, *job);
      if (response.isOk() && response->ok()) {
        std::lock_guard lock(mutex_);
        created_[text(response->body, {"metadata", "name"})] = {Clock::now(), response->body};
        ++created;
        continue;
      }
      Status failure =
          response.isOk() ? response->status(what) : response.status().withContext(what);
      spdlog::warn("{}", failure.message());
      emit(Event::Type::kWarning, "KEDAJobCreateFailed", failure.message());
      if (first.isOk()) first = failure;
      // No answer at all: the next creates would only wait for the same timeout.
      if (!response.isOk()) break;
    }
    if (created == 0) return first;
    return created;
  });
}

Status KubeJobRunner::deleteJob(const std::string& name, const char* propagation,
                                const std::string& why) {
  const std::string what = fmt::format("{}: delete Job {}", describe(), name);
  auto response = client_.remove(
      resourcePath("batch/v1", "jobs", namespace_, name),
      {{"apiVersion", "v1"}, {"kind", "DeleteOptions"}, {"propagationPolicy", propagation}});
  if (!response.isOk()) return response.status().withContext(what);
  // 404: someone else deleted it first, which is what we wanted.
  if (!response->ok() && response->code != 404) return response->status(what);
  spdlog::info("{} ({})", what, why);
  std::lock_guard lock(mutex_);
  created_.erase(name);
  deleted_[name] = {Clock::now(), nullptr};
  return Status::ok();
}

Status KubeJobRunner::cleanupHistory() {
  return guarded(describe() + ": job history cleanup", [&]() -> Status {
    auto jobs = currentJobs();
    if (!jobs.isOk()) return jobs.status();
    int64_t successfulLimit = kDefaultHistoryLimit;
    int64_t failedLimit = kDefaultHistoryLimit;
    {
      std::lock_guard lock(mutex_);
      successfulLimit =
          integer(scaledJob_, {"spec", "successfulJobsHistoryLimit"}, successfulLimit);
      failedLimit = integer(scaledJob_, {"spec", "failedJobsHistoryLimit"}, failedLimit);
    }
    // (completion time, creation time, name): RFC 3339 times in seconds, as the API writes them,
    // sort as strings. Failed Jobs often lack completionTime; their condition has a time.
    using Key = std::tuple<std::string, std::string, std::string>;
    std::vector<std::pair<Key, std::string>> complete, failed;
    for (const json& job : *jobs) {
      const json* done = finishedCondition(job);
      // Already going away: no longer part of the history that is kept.
      if (!done || beingDeleted(job)) continue;
      std::string finishedAt = text(job, {"status", "completionTime"});
      if (finishedAt.empty()) finishedAt = text(*done, {"lastTransitionTime"});
      const std::string name = text(job, {"metadata", "name"});
      Key key{finishedAt, text(job, {"metadata", "creationTimestamp"}), name};
      (text(*done, {"type"}) == "Complete" ? complete : failed).emplace_back(std::move(key), name);
    }
    for (auto [list, limit] :
         {std::pair{&complete, successfulLimit}, std::pair{&failed, failedLimit}}) {
      limit = std::max<int64_t>(limit, 0);
      if (static_cast<int64_t>(list->size()) <= limit) continue;
      std::sort(list->begin(), list->end());
      const size_t excess = list->size() - static_cast<size_t>(limit);
      for (size_t i = 0; i < excess; ++i) {
        UPDRAFT_RETURN_IF_ERROR(deleteJob((*list)[i].second, "Background",
                                          fmt::format("beyond the history limit {}", limit)));
      }
    }
    return Status::ok();
  });
}

Result<int32_t> KubeJobRunner::rolloutCleanup() {
  return guarded(describe() + ": rollout cleanup", [&]() -> Result<int32_t> {
    std::string strategy, propagation, generation;
    {
      std::lock_guard lock(mutex_);
      strategy = text(scaledJob_, {"spec", "rolloutStrategy"});
      if (strategy.empty()) strategy = text(scaledJob_, {"spec", "rollout", "strategy"});
      propagation = text(scaledJob_, {"spec", "rollout", "propagationPolicy"}) == "foreground"
                        ? "Foreground"
                        : "Background";
      generation = std::to_string(integer(scaledJob_, {"metadata", "generation"}, 0));
    }
    if (strategy == "gradual") return 0;  // old Jobs run to their end
    auto jobs = currentJobs();
    if (!jobs.isOk()) return jobs.status();
    std::vector<std::string> old;
    for (const json& job : *jobs) {
      const json* gen = find(job, {"metadata", "annotations", kGenerationAnnotation});
      if (beingDeleted(job) || (gen && gen->is_string() && *gen == generation)) continue;
      old.push_back(text(job, {"metadata", "name"}));
    }
    if (old.empty()) return 0;
    emit(Event::Type::kNormal, "ScaledJobRolloutCleanupStarted",
         fmt::format("Deleting {} jobs owned by previous versions of the ScaledJob", old.size()));
    for (const std::string& name : old) {
      Status deleted = deleteJob(name, propagation.c_str(), "rollout of generation " + generation);
      if (!deleted.isOk()) {
        emit(Event::Type::kWarning, "ScaledJobRolloutCleanupFailed", deleted.message());
        return deleted;
      }
    }
    emit(Event::Type::kNormal, "ScaledJobRolloutCleanupCompleted",
         fmt::format("Deleted {} jobs owned by previous versions of the ScaledJob", old.size()));
    return static_cast<int32_t>(old.size());
  });
}

}  // namespace updraft::kube
