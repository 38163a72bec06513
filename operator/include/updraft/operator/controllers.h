// The ScaledObject and ScaledJob controllers of `updraft operator` (keda-behaviour.md §3, §4).
//
// Each object gets one engine handler (ScaledObjectHandler / ScaledJobHandler) and one scheduler
// task that polls it at its pollingInterval. A reconcile (object added, its spec, labels or
// annotations changed, its HPA edited, leadership gained) rebuilds what changed: finalizer and
// label, pause, the target's /scale, triggers with their TriggerAuthentications, the owned HPA in
// KEDA's shape, the handler. Only the leader writes (finalizers, HPAs, /scale, status, Jobs);
// every replica keeps handlers so any of them can answer the external metrics API.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "updraft/clock.h"
#include "updraft/metrics_sink.h"
#include "updraft/operator/kube_client.h"
#include "updraft/operator/kube_events.h"
#include "updraft/operator/object_cache.h"
#include "updraft/operator/rest_mapper.h"
#include "updraft/scheduler.h"
#include "updraft/status.h"

namespace updraft::kube {

class WorkQueue;

struct ControllerContext {
  KubeClient* client = nullptr;
  const ObjectCache* cache = nullptr;
  RestMapper* mapper = nullptr;
  Scheduler* scheduler = nullptr;
  KubeEventSink* events = nullptr;  // optional
  MetricsSink* metrics = nullptr;   // optional
  const Clock* clock = nullptr;
  std::function<bool()> isLeader;  // empty: always leader
  std::string version = "0.1.0";
  std::string clusterObjectNamespace;  // ClusterTriggerAuthentication secrets
  Duration pollTimeout = Seconds(6);
  size_t workers = 4;
};

struct ControllerStats {
  uint64_t reconciles = 0;
  uint64_t failures = 0;  // reconciles that ended in an error (retried)
  uint64_t polls = 0;
  uint64_t statusWrites = 0;
  size_t objects = 0;  // objects with a running handler
};

class ScaledObjectController {
 public:
  explicit ScaledObjectController(ControllerContext context);
  ~ScaledObjectController();  // stop()
  void start();
  void stop();

  // "<namespace>/<name>" of a ScaledObject to reconcile.
  void enqueue(const std::string& key);
  // Every cached ScaledObject (leadership gained).
  void enqueueAll();
  // Informer handlers: which changes deserve a reconcile (KEDA's predicates: generation, labels,
  // annotations, deletion, finalizers; not status).
  void onObject(const nlohmann::json* before, const nlohmann::json& after);
  void onDeleted(const nlohmann::json& last);
  // An HPA changed or vanished: its owning ScaledObject reverts it.
  void onHpa(const nlohmann::json& hpa);
  // A (Cluster)TriggerAuthentication changed: the objects that use it rebuild their scalers.
  void onAuth(const nlohmann::json& auth);
  // A Secret or ConfigMap changed: the objects of its namespace (every namespace for the cluster
  // object namespace) that use authentication re-resolve it; their fingerprint decides whether
  // anything is rebuilt.
  void onAuthSource(const nlohmann::json& secretOrConfigMap);

  // The external metrics API's question, answered from the object's handler.
  Result<double> metricValue(const std::string& ns, const std::string& name,
                             const std::string& metricName, TimePoint deadline);

  bool idle() const;  // nothing queued or being reconciled
  ControllerStats stats() const;

  struct Entry;

 private:
  bool process(const std::string& key);
  Status reconcile(const std::string& key);
  std::shared_ptr<Entry> find(const std::string& key) const;
  void drop(const std::string& key);
  bool leader() const { return !ctx_.isLeader || ctx_.isLeader(); }

  ControllerContext ctx_;
  std::unique_ptr<WorkQueue> queue_;
  mutable std::mutex mutex_;
  std::map<std::string, std::shared_ptr<Entry>> entries_;
  std::atomic<uint64_t> reconciles_{0}, failures_{0}, polls_{0}, statusWrites_{0};
  friend struct SoReconciler;
};

class ScaledJobController {
 public:
  explicit ScaledJobController(ControllerContext context);
  ~ScaledJobController();
  void start();
  void stop();
  void enqueue(const std::string& key);
  void enqueueAll();
  void onObject(const nlohmann::json* before, const nlohmann::json& after);
  void onDeleted(const nlohmann::json& last);
  void onAuth(const nlohmann::json& auth);
  void onAuthSource(const nlohmann::json& secretOrConfigMap);  // as ScaledObjectController's
  bool idle() const;
  ControllerStats stats() const;

  struct Entry;

 private:
  bool process(const std::string& key);
  Status reconcile(const std::string& key);
  void drop(const std::string& key);
  bool leader() const { return !ctx_.isLeader || ctx_.isLeader(); }

  ControllerContext ctx_;
  std::unique_ptr<WorkQueue> queue_;
  mutable std::mutex mutex_;
  std::map<std::string, std::shared_ptr<Entry>> entries_;
  std::atomic<uint64_t> reconciles_{0}, failures_{0}, polls_{0}, statusWrites_{0};
};

}  // namespace updraft::kube
