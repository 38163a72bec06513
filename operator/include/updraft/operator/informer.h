// An informer: list + watch of one resource into a local cache, with client-go's recovery rules
// (hpa-and-kube-api.md §3.2).
//
// - Lists page by page (limit 500 + continue), then watches from the list's resourceVersion with
//   bookmarks and a server-side timeout of 5-10 min (a clean end re-watches from the last seen
//   resourceVersion, no relist).
// - 410 Gone/Expired (on the watch request or as an ERROR event) relists: the cache is replaced and
//   handlers see synthetic deletes for objects that vanished meanwhile and updates for changes.
// - Connection failures, 429 and 5xx back off 0.8 s doubling to 30 s (reset after 2 min without
//   errors) and re-watch.
// Handlers run on the informer's own thread, without any informer lock held; they must be quick
// (queue work elsewhere).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "updraft/operator/kube_client.h"

namespace updraft::kube {

struct InformerOptions {
  std::string apiVersion;     // "keda.sh/v1alpha1", "v1", ...
  std::string resource;       // plural: "scaledobjects", "configmaps", ...
  std::string namespace_;     // empty: all namespaces
  std::string labelSelector;  // optional
  std::chrono::seconds minWatchTimeout{
      300};  // each watch asks for a random timeout in [min, 2*min)
  std::chrono::milliseconds initialBackoff{800};
  std::chrono::milliseconds maxBackoff{30000};
};

struct InformerHandlers {
  std::function<void(const nlohmann::json& object)> onAdd;
  std::function<void(const nlohmann::json& before, const nlohmann::json& after)> onUpdate;
  std::function<void(const nlohmann::json& last)> onDelete;
};

struct InformerStats {
  uint64_t lists = 0;    // full lists (the first one included)
  uint64_t watches = 0;  // watch requests
  uint64_t expired = 0;  // 410s that forced a relist
  uint64_t errors = 0;   // failed lists/watches that backed off
};

class Informer {
 public:
  Informer(KubeClient& client, InformerOptions options, InformerHandlers handlers);
  ~Informer();  // stops
  Informer(const Informer&) = delete;
  Informer& operator=(const Informer&) = delete;

  void start();
  // Ends the loop and joins it. Call KubeClient::stop() first to cut an open watch at once;
  // otherwise the watch ends at its next event or its progress check (about a second).
  void stop();

  // True once the first list has been delivered to the handlers.
  bool hasSynced() const { return synced_.load(); }
  // Waits up to `timeout` for hasSynced().
  bool waitForSync(std::chrono::milliseconds timeout) const;

  std::optional<nlohmann::json> get(const std::string& ns, const std::string& name) const;
  std::vector<nlohmann::json> list() const;
  // Copies of the objects in namespace `ns` ("" = all) for which `keep` (may be empty) is true.
  std::vector<nlohmann::json> list(const std::string& ns,
                                   const std::function<bool(const nlohmann::json&)>& keep) const;
  size_t size() const;
  std::string resourceVersion() const;
  InformerStats stats() const;

  // "<namespace>/<name>" or "<name>" for cluster-scoped objects.
  static std::string keyOf(const nlohmann::json& object);

 private:
  void run();
  bool relist();  // false on failure (backoff)
  enum class WatchEnd { kClean, kExpired, kFailed };
  WatchEnd watchOnce();
  void applyEvent(const std::string& type, nlohmann::json object);
  void sleepFor(std::chrono::milliseconds d);
  std::string collectionPath() const;

  KubeClient& client_;
  InformerOptions options_;
  InformerHandlers handlers_;
  mutable std::mutex mutex_;
  mutable std::condition_variable cv_;
  std::map<std::string, nlohmann::json> cache_;
  std::string rv_;
  InformerStats stats_;
  std::atomic<bool> synced_{false};
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

}  // namespace updraft::kube
