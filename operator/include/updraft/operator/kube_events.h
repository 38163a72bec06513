// Kubernetes Events (core/v1) for the engine's EventSink, with KEDA's reasons and texts and KEDA's
// source component ("keda-operator"), so `kubectl describe scaledobject` reads as it does under
// KEDA. Events are posted from a background thread (a poll never waits for the API); a repeat of
// the same object, reason and text within 10 minutes increments the first one's count, as
// client-go's recorder does. The queue is bounded; what does not fit is counted and dropped.
#pragma once

#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <thread>

#include "updraft/operator/kube_client.h"
#include "updraft/scaled_status.h"

namespace updraft::kube {

struct KubeEventStats {
  uint64_t posted = 0;      // created
  uint64_t aggregated = 0;  // count patches
  uint64_t dropped = 0;     // queue full
  uint64_t failed = 0;      // API errors
};

class KubeEventSink final : public EventSink {
 public:
  explicit KubeEventSink(KubeClient& client, size_t maxQueue = 10000);
  ~KubeEventSink() override;  // stop()
  // `object` is "<Kind>/<namespace>/<name>". Objects whose uid is known get it in involvedObject.
  void emit(const std::string& object, const Event& event) override;
  void setUid(const std::string& object, const std::string& uid);
  void forget(const std::string& object);
  // Posts what is queued (at most `wait`), then ends the thread.
  void stop(std::chrono::milliseconds wait = std::chrono::milliseconds(2000));
  KubeEventStats stats() const;

 private:
  struct Pending {
    std::string object;
    Event event;
    std::string uid;
    std::chrono::system_clock::time_point at;
  };
  struct Posted {
    std::string name;
    int32_t count = 1;
    std::chrono::steady_clock::time_point first;
  };
  void run();
  void post(const Pending& p);

  KubeClient& client_;
  size_t maxQueue_;
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<Pending> queue_;
  std::map<std::string, std::string> uids_;
  std::map<std::string, Posted> recent_;  // object|reason|message -> the Event created
  KubeEventStats stats_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace updraft::kube
