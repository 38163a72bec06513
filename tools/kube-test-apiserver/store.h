// The object store: one bucket per group/resource, a single monotonically increasing
// resourceVersion, a bounded history of changes (for watch resume and consistent pages), and the
// state file. Not thread-safe by itself: callers hold mutex() around every call.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <utility>

#include "common.h"
#include "watch.h"

namespace updraft::kubetest {

class Store {
 public:
  // (namespace, name) → object; the namespace is "" for cluster-scoped objects.
  using Bucket = std::map<std::pair<std::string, std::string>, json>;

  Store(size_t watchWindow, WatchHub& hub);

  std::mutex& mutex() { return mu_; }

  uint64_t resourceVersion() const { return rv_; }
  // Watches and snapshots can start at any resourceVersion >= this one.
  uint64_t oldestResumableRV() const { return compacted_; }

  const json* get(const std::string& key, const std::string& ns, const std::string& name) const;
  const Bucket* bucket(const std::string& key) const;
  const std::map<std::string, Bucket>& buckets() const { return buckets_; }

  // Stores `object` under the next resourceVersion (written into metadata.resourceVersion),
  // records the change and publishes it to the watches. Returns the stored object.
  const json& put(const std::string& key, json object, EventType type, const json& old);
  // Removes an object; `last` (its final state) is published with a new resourceVersion.
  void erase(const std::string& key, const std::string& ns, const std::string& name, json last);

  // The bucket as it was at `rv` (undoing later changes from the history); nullopt when the
  // history does not reach back that far.
  std::optional<Bucket> snapshotAt(const std::string& key, uint64_t rv) const;
  // Changes after `rv` (oldest first); false when `rv` is older than the history.
  bool changesSince(uint64_t rv, std::vector<const Event*>& out) const;
  // Forgets the history: resuming from any earlier resourceVersion gets 410 Gone.
  void compact();

  // JSON file with the objects, the resourceVersion and the history. Throws std::runtime_error.
  void save(const std::string& path) const;
  // False when the file does not exist; throws std::runtime_error when it is unreadable.
  bool load(const std::string& path);

 private:
  void record(Event event);

  std::mutex mu_;
  size_t window_;
  WatchHub& hub_;
  std::map<std::string, Bucket> buckets_;
  std::deque<Event> history_;
  uint64_t rv_ = 0;
  uint64_t compacted_ = 0;
};

}  // namespace updraft::kubetest
