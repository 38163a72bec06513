// The simulated controllers (--simulate-controllers): what kube-controller-manager would do for
// the tests' workloads, reduced to status bookkeeping.
//   - Deployments, StatefulSets, ReplicaSets: status.replicas/updatedReplicas follow spec.replicas
//     at once; readyReplicas/availableReplicas follow after --ready-delay (a scale-down is
//     immediate); status.observedGeneration follows metadata.generation.
//   - Jobs: a new Job gets status.active=1 and startTime, then stays as it is (tests patch
//     /status to finish it).
//   - Garbage collector: an object all of whose owners are gone is deleted (background).
#include <set>

#include "api.h"

namespace updraft::kubetest {

namespace {

int64_t intAt(const json& o, const char* path, int64_t fallback) {
  const json* v = jsonAtPath(o, path);
  return v && v->is_number_integer() ? v->get<int64_t>() : fallback;
}

json availableCondition(const json& status, bool available) {
  std::string value = available ? "True" : "False";
  std::string now = nowRfc3339();
  json condition = {
      {"type", "Available"},
      {"status", value},
      {"reason", available ? "MinimumReplicasAvailable" : "MinimumReplicasUnavailable"},
      {"message", available ? "Deployment has minimum availability."
                            : "Deployment does not have minimum availability."},
      {"lastUpdateTime", now},
      {"lastTransitionTime", now}};
  if (const json* cs = jsonAtPath(status, "conditions"); cs && cs->is_array()) {
    for (const auto& c : *cs) {
      if (c.value("type", "") == "Available" && c.value("status", "") == value) return c;
    }
  }
  return condition;
}

}  // namespace

void Api::controllerTick() {
  if (!options_.simulateControllers) return;
  std::lock_guard lock(store_.mutex());
  auto now = std::chrono::steady_clock::now();
  for (const char* key : {"apps/deployments", "apps/statefulsets", "apps/replicasets"}) {
    const Store::Bucket* bucket = store_.bucket(key);
    if (!bucket) continue;
    std::vector<std::pair<json, json>> changes;  // (old, new)
    for (const auto& [id, obj] : *bucket) {
      if (jsonAtPath(obj, "metadata.deletionTimestamp")) continue;
      int64_t desired = intAt(obj, "spec.replicas", 1);
      std::string uid = obj["metadata"].value("uid", "");
      json status =
          obj.contains("status") && obj["status"].is_object() ? obj["status"] : json::object();
      int64_t ready = intAt(status, "readyReplicas", 0);
      if (desired <= ready) {
        ready = desired;
        readyAt_.erase(uid);
      } else {
        auto& due = readyAt_[uid];
        if (due.first != desired) due = {desired, now + options_.readyDelay};
        if (now >= due.second) {
          ready = desired;
          readyAt_.erase(uid);
        }
      }
      json next = status;
      next["observedGeneration"] = intAt(obj, "metadata.generation", 1);
      next["replicas"] = desired;
      next["readyReplicas"] = ready;
      next["availableReplicas"] = ready;
      if (std::string(key) == "apps/replicasets") {
        next["fullyLabeledReplicas"] = desired;
      } else {
        next["updatedReplicas"] = desired;
      }
      if (std::string(key) == "apps/statefulsets") next["currentReplicas"] = desired;
      if (std::string(key) == "apps/deployments") {
        next["unavailableReplicas"] = desired - ready;
        if (desired - ready == 0) next.erase("unavailableReplicas");
        next["conditions"] = json::array({availableCondition(status, ready >= desired)});
      }
      if (next != status) {
        json updated = obj;
        updated["status"] = next;
        changes.emplace_back(obj, std::move(updated));
      }
    }
    for (auto& [old, updated] : changes) {
      store_.put(key, std::move(updated), EventType::Modified, old);
    }
  }
  if (const Store::Bucket* jobs = store_.bucket("batch/jobs")) {
    std::vector<std::pair<json, json>> changes;
    for (const auto& [id, obj] : *jobs) {
      if (jsonAtPath(obj, "metadata.deletionTimestamp") || jsonAtPath(obj, "status.startTime")) {
        continue;
      }
      const json* suspend = jsonAtPath(obj, "spec.suspend");
      if (suspend && suspend->is_boolean() && suspend->get<bool>()) continue;
      json updated = obj;
      updated["status"]["active"] = 1;
      updated["status"]["startTime"] = nowRfc3339();
      changes.emplace_back(obj, std::move(updated));
    }
    for (auto& [old, updated] : changes) {
      store_.put("batch/jobs", std::move(updated), EventType::Modified, old);
    }
  }
  // Garbage collector: dependents whose owners are all gone.
  std::set<std::string> live;
  for (const auto& [key, bucket] : store_.buckets()) {
    for (const auto& [id, obj] : bucket) live.insert(obj["metadata"].value("uid", ""));
  }
  std::vector<std::tuple<std::string, std::string, std::string>> orphans;
  for (const auto& [key, bucket] : store_.buckets()) {
    for (const auto& [id, obj] : bucket) {
      const json* refs = jsonAtPath(obj, "metadata.ownerReferences");
      if (!refs || !refs->is_array() || refs->empty()) continue;
      if (jsonAtPath(obj, "metadata.deletionTimestamp")) continue;
      bool anyLive = false;
      for (const auto& r : *refs) {
        if (r.is_object() && live.count(r.value("uid", ""))) anyLive = true;
      }
      if (!anyLive) orphans.emplace_back(key, id.first, id.second);
    }
  }
  for (const auto& [key, ns, name] : orphans) {
    if (const ResourceType* rt = registry_.findByStorageKey(key)) {
      deleteLocked(*rt, ns, name, "Background");
    }
  }
  if (!orphans.empty()) settlePendingDeletions();
  for (auto it = readyAt_.begin(); it != readyAt_.end();) {
    it = live.count(it->first) ? std::next(it) : readyAt_.erase(it);
  }
}

}  // namespace updraft::kubetest
