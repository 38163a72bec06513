// Watches: the store publishes every change to the hub (with the store's mutex held); each open
// watch has its own queue of ready-made lines, and the HTTP thread serving it drains the queue and
// writes to the socket without holding the store's mutex.
#pragma once

#include <httplib.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common.h"
#include "selectors.h"

namespace updraft::kubetest {

enum class EventType { Added, Modified, Deleted };
const char* eventTypeName(EventType type);

// One change in the store. `object` is the new state (the last state for Deleted), `old` the
// previous state (null for Added).
struct Event {
  uint64_t rv = 0;
  EventType type = EventType::Added;
  std::string storageKey;
  std::string ns;
  json object;
  json old;
};

struct WatchFilter {
  std::string storageKey;
  std::string ns;  // empty: all namespaces
  LabelSelector labels;
  FieldSelector fields;
};

class Watcher {
 public:
  Watcher(WatchFilter filter, std::string apiVersion, std::string kind, uint64_t startRV);

  // Producer side (store mutex held). Queues the event when it passes the filter; an object that
  // stops matching the selectors is sent as DELETED, one that starts matching as ADDED.
  void offer(const Event& event);
  void pushLine(std::string line);
  // Ends the stream: cleanly (final chunk) or abruptly (the connection is dropped).
  void close(bool abort);

  // Consumer side: waits until lines are queued, the watch is closed, or `until`.
  // Returns the lines taken (possibly none).
  std::vector<std::string> take(std::chrono::steady_clock::time_point until);
  bool closed() const;
  bool aborted() const;
  // The resourceVersion of the last change this watch has been told about, when every line for
  // it has been taken (a bookmark may carry it); 0 while lines are still queued.
  uint64_t rvIfIdle() const;

  const std::string& apiVersion() const { return apiVersion_; }
  const std::string& kind() const { return kind_; }
  std::string line(const char* type, const json& object) const;

 private:
  bool passes(const json& object) const;
  WatchFilter filter_;
  std::string apiVersion_;
  std::string kind_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::string> lines_;
  uint64_t lastSeenRV_;
  bool closed_ = false;
  bool aborted_ = false;
};

class WatchHub {
 public:
  void add(std::shared_ptr<Watcher> watcher);
  void remove(const Watcher* watcher);
  void publish(const Event& event);
  void closeAll(bool abort);
  size_t size() const;

 private:
  mutable std::mutex mu_;
  std::vector<std::shared_ptr<Watcher>> watchers_;
};

struct WatchStreamOptions {
  std::chrono::steady_clock::time_point deadline;  // timeoutSeconds: clean end of stream
  bool bookmarks = false;
  std::chrono::milliseconds bookmarkInterval{5000};
  int socketFd = -1;  // polled for a peer close between events; -1: not checked
};

// Makes `res` a chunked stream of the watcher's lines; the watcher is removed from the hub when
// the stream ends.
void streamWatch(httplib::Response& res, std::shared_ptr<Watcher> watcher, WatchHub& hub,
                 WatchStreamOptions options);

}  // namespace updraft::kubetest
