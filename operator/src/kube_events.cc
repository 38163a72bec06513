#include "updraft/operator/kube_events.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <random>

#include "updraft/operator/metrics_api.h"  // formatRfc3339

namespace updraft::kube {
namespace {

constexpr auto kAggregateWindow = std::chrono::minutes(10);

struct ObjectRef {
  std::string kind, ns, name;
};

ObjectRef splitKey(const std::string& key) {
  ObjectRef r;
  auto a = key.find('/');
  auto b = a == std::string::npos ? std::string::npos : key.find('/', a + 1);
  if (b == std::string::npos) {
    r.name = key;
    return r;
  }
  r.kind = key.substr(0, a);
  r.ns = key.substr(a + 1, b - a - 1);
  r.name = key.substr(b + 1);
  return r;
}

std::string randomSuffix() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  return fmt::format("{:016x}", rng());
}

}  // namespace

KubeEventSink::KubeEventSink(KubeClient& client, size_t maxQueue)
    : client_(client), maxQueue_(maxQueue) {
  thread_ = std::thread([this] { run(); });
}

KubeEventSink::~KubeEventSink() { stop(); }

void KubeEventSink::emit(const std::string& object, const Event& event) {
  std::lock_guard lock(mutex_);
  if (stopping_) return;
  if (queue_.size() >= maxQueue_) {
    stats_.dropped++;
    return;
  }
  auto uid = uids_.find(object);
  queue_.push_back(
      {object, event, uid == uids_.end() ? "" : uid->second, std::chrono::system_clock::now()});
  cv_.notify_one();
}

void KubeEventSink::setUid(const std::string& object, const std::string& uid) {
  std::lock_guard lock(mutex_);
  uids_[object] = uid;
}

void KubeEventSink::forget(const std::string& object) {
  std::lock_guard lock(mutex_);
  uids_.erase(object);
}

void KubeEventSink::stop(std::chrono::milliseconds wait) {
  {
    std::unique_lock lock(mutex_);
    if (!thread_.joinable()) return;
    cv_.wait_for(lock, wait, [this] { return queue_.empty(); });
    stopping_ = true;
    queue_.clear();
    cv_.notify_all();
  }
  thread_.join();
}

KubeEventStats KubeEventSink::stats() const {
  std::lock_guard lock(mutex_);
  return stats_;
}

void KubeEventSink::run() {
  std::unique_lock lock(mutex_);
  while (true) {
    cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
    if (stopping_) return;
    Pending p = std::move(queue_.front());
    queue_.pop_front();
    lock.unlock();
    post(p);
    lock.lock();
    cv_.notify_all();  // stop() waits for an empty queue
  }
}

void KubeEventSink::post(const Pending& p) {
  const ObjectRef ref = splitKey(p.object);
  const std::string type = p.event.type == Event::Type::kWarning ? "Warning" : "Normal";
  const std::string when = formatRfc3339(p.at);
  const std::string key = p.object + "|" + p.event.reason + "|" + p.event.message;
  const auto now = std::chrono::steady_clock::now();
  std::optional<Posted> previous;
  {
    std::lock_guard lock(mutex_);
    for (auto it = recent_.begin(); it != recent_.end();) {  // keep the map small
      it = now - it->second.first > kAggregateWindow ? recent_.erase(it) : std::next(it);
    }
    if (auto it = recent_.find(key); it != recent_.end()) previous = it->second;
  }
  const std::string collection = resourcePath("v1", "events", ref.ns);
  if (previous) {
    auto r =
        client_.patch(collection + "/" + previous->name,
                      {{"count", previous->count + 1}, {"lastTimestamp", when}}, PatchType::kMerge);
    if (r.isOk() && r->ok()) {
      std::lock_guard lock(mutex_);
      recent_[key].count++;
      stats_.aggregated++;
      return;
    }  // the Event expired or was deleted: create a new one
  }
  const std::string name = ref.name + "." + randomSuffix();
  nlohmann::json involved = {{"apiVersion", "keda.sh/v1alpha1"},
                             {"kind", ref.kind},
                             {"namespace", ref.ns},
                             {"name", ref.name}};
  if (!p.uid.empty()) involved["uid"] = p.uid;
  nlohmann::json body = {{"apiVersion", "v1"},
                         {"kind", "Event"},
                         {"metadata", {{"name", name}, {"namespace", ref.ns}}},
                         {"involvedObject", involved},
                         {"reason", p.event.reason},
                         {"message", p.event.message},
                         {"type", type},
                         {"source", {{"component", "keda-operator"}}},
                         {"reportingComponent", "keda-operator"},
                         {"firstTimestamp", when},
                         {"lastTimestamp", when},
                         {"count", 1}};
  auto r = client_.create(collection, body);
  std::lock_guard lock(mutex_);
  if (r.isOk() && r->ok()) {
    stats_.posted++;
    recent_[key] = Posted{name, 1, now};
  } else {
    stats_.failed++;
    spdlog::warn("event {} for {}: {}", p.event.reason, p.object,
                 r.isOk() ? r->status("creating the Event").message() : r.status().message());
  }
}

}  // namespace updraft::kube
