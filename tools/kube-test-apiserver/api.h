// The Kubernetes API semantics on top of the store: create/get/list/update/patch/delete,
// optimistic concurrency, generation, /status and /scale, finalizers, ownerReference garbage
// collection, namespaces, CRDs (which change what the registry serves), admission webhooks, watch
// start, and the simulated controllers (controllers.cc).
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "admission.h"
#include "common.h"
#include "patch.h"
#include "resources.h"
#include "store.h"
#include "watch.h"

namespace updraft::kubetest {

struct ListOptions {
  std::string labelSelector;
  std::string fieldSelector;
  std::string resourceVersion;
  std::string resourceVersionMatch;
  uint64_t limit = 0;
  std::string continueToken;
  bool sendInitialEvents = false;
  bool allowWatchBookmarks = false;
};

struct DeleteOptions {
  std::string propagationPolicy;  // "" = the resource's default
  std::optional<std::string> preconditionUid;
  std::optional<std::string> preconditionResourceVersion;
  bool dryRun = false;
};

struct WriteResult {
  int code = 200;
  json body;
  std::vector<std::string> warnings;
};

struct ApiOptions {
  bool simulateControllers = true;
  std::chrono::milliseconds readyDelay{0};
};

class Api {
 public:
  Api(Store& store, Registry& registry, WatchHub& hub, ApiOptions options);

  // Creates the default namespaces when missing and serves the stored CRDs (after a load).
  void bootstrap();

  json get(const ResourceType& rt, const std::string& ns, const std::string& name,
           const std::string& sub);
  json list(const ResourceType& rt, const std::string& ns, const ListOptions& options);
  WriteResult create(const ResourceType& rt, const std::string& ns, json body, const Caller& caller,
                     bool dryRun);
  WriteResult update(const ResourceType& rt, const std::string& ns, const std::string& name,
                     const std::string& sub, json body, const Caller& caller, bool dryRun);
  WriteResult patch(const ResourceType& rt, const std::string& ns, const std::string& name,
                    const std::string& sub, PatchType type, const json& patch,
                    const std::string& fieldManager, const Caller& caller, bool dryRun);
  WriteResult remove(const ResourceType& rt, const std::string& ns, const std::string& name,
                     const DeleteOptions& options, const Caller& caller);
  WriteResult removeCollection(const ResourceType& rt, const std::string& ns,
                               const ListOptions& list, const DeleteOptions& options,
                               const Caller& caller);
  // A watcher registered with the hub, with the initial events (or a 410 ERROR) queued.
  std::shared_ptr<Watcher> watch(const ResourceType& rt, const std::string& ns,
                                 const ListOptions& options);

  // One step of the simulated controllers (deployment/statefulset/replicaset status, jobs,
  // garbage collection of objects whose owners are gone). Called periodically.
  void controllerTick();

 private:
  struct Mutation {
    enum class Op { Create, Update, Delete } op = Op::Create;
    ResourceType rt;
    std::string ns, name, sub;
    std::string baseRV;  // the resourceVersion the mutation was computed from
    json object;         // new state
    json old;            // previous state
    json admissionObject, admissionOld;
    bool noop = false;  // an update that changes nothing
    DeleteOptions del;
    std::vector<json> webhooks;
    json namespaceLabels;
  };
  using Prepare = std::function<Mutation()>;
  using Commit = std::function<WriteResult(Mutation&)>;

  // prepare (store locked) → admission webhooks (unlocked) → commit (locked, retried from prepare
  // when the object changed in between).
  WriteResult write(const Prepare& prepare, const Commit& commit, const Caller& caller,
                    bool dryRun);

  // All below: store mutex held.
  Mutation prepareCreate(const ResourceType& rt, const std::string& ns, json body);
  Mutation prepareUpdate(const ResourceType& rt, const std::string& ns, const std::string& name,
                         const std::string& sub, json body, bool fromPatch);
  WriteResult commitCreate(Mutation& m);
  WriteResult commitUpdate(Mutation& m);
  WriteResult commitDelete(Mutation& m);

  const json& current(const ResourceType& rt, const std::string& ns, const std::string& name) const;
  void checkNamespace(const ResourceType& rt, const std::string& ns, const std::string& name);
  void validate(const ResourceType& rt, const json& object, const json* old);
  void defaults(const ResourceType& rt, json& object);
  json scaleOf(const ResourceType& rt, const json& object) const;
  // Deletes an object (store locked): finalizers, propagation, cascades. Returns the object
  // when it is kept (deletionTimestamp set), null when removed.
  json deleteLocked(const ResourceType& rt, const std::string& ns, const std::string& name,
                    std::string policy);
  void removeNow(const std::string& key, const std::string& ns, const std::string& name, json last);
  void collectDependents(const std::string& ownerUid);
  void settlePendingDeletions();
  bool hasBlockingDependents(const std::string& uid) const;
  std::vector<std::tuple<std::string, std::string, std::string>> dependentsOf(
      const std::string& uid) const;
  void refreshCustomResources();
  json withApiVersion(const ResourceType& rt, json object) const;
  const json* namespaceObject(const std::string& ns) const;
  std::vector<json> webhookConfigs() const;

  Store& store_;
  Registry& registry_;
  WatchHub& hub_;
  ApiOptions options_;
  // Simulated deployment controller: uid → (ready target, when it becomes ready).
  std::map<std::string, std::pair<int64_t, std::chrono::steady_clock::time_point>> readyAt_;
};

}  // namespace updraft::kubetest
