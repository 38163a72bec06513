#include "updraft/operator/informer.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <random>

namespace updraft::kube {
namespace {

std::string rvOf(const nlohmann::json& object) {
  if (object.is_object() && object.contains("metadata") && object["metadata"].is_object()) {
    const auto& m = object["metadata"];
    if (m.contains("resourceVersion") && m["resourceVersion"].is_string()) {
      return m["resourceVersion"].get<std::string>();
    }
  }
  return "";
}

// Cached objects are stored packed: MessagePack bytes in a json binary value take about an
// eighth of the memory of the json tree (a 1.3 KB ScaledObject: 1.1 KB packed, 8.7 KiB as a
// tree; the cache holds a ScaledObject, its Deployment and its HPA per object). Readers get a tree
// decoded from a copy of the bytes, taken under the lock and decoded outside it.
nlohmann::json pack(const nlohmann::json& object) {
  std::vector<std::uint8_t> bytes = nlohmann::json::to_msgpack(object);
  bytes.shrink_to_fit();
  return nlohmann::json::binary(std::move(bytes));
}

nlohmann::json unpack(const nlohmann::json& packed) {
  if (!packed.is_binary()) return packed;
  return nlohmann::json::from_msgpack(packed.get_binary());
}

std::vector<std::uint8_t> bytesOf(const nlohmann::json& packed) {
  return packed.is_binary() ? static_cast<const std::vector<std::uint8_t>&>(packed.get_binary())
                            : nlohmann::json::to_msgpack(packed);
}

bool isExpired(const nlohmann::json& status) {
  return status.is_object() &&
         (status.value("code", 0) == 410 || status.value("reason", "") == "Expired" ||
          status.value("reason", "") == "Gone");
}

}  // namespace

Informer::Informer(KubeClient& client, InformerOptions options, InformerHandlers handlers)
    : client_(client), options_(std::move(options)), handlers_(std::move(handlers)) {}

Informer::~Informer() { stop(); }

void Informer::start() {
  if (thread_.joinable()) return;
  stopping_ = false;
  thread_ = std::thread([this] { run(); });
}

void Informer::stop() {
  stopping_ = true;
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

bool Informer::waitForSync(std::chrono::milliseconds timeout) const {
  std::unique_lock lock(mutex_);
  return cv_.wait_for(lock, timeout, [this] { return synced_.load() || stopping_.load(); }) &&
         synced_.load();
}

std::string Informer::keyOf(const nlohmann::json& object) {
  const auto& m = object.contains("metadata") ? object["metadata"] : nlohmann::json::object();
  std::string ns = m.contains("namespace") && m["namespace"].is_string()
                       ? m["namespace"].get<std::string>()
                       : "";
  std::string name =
      m.contains("name") && m["name"].is_string() ? m["name"].get<std::string>() : "";
  return ns.empty() ? name : ns + "/" + name;
}

std::optional<nlohmann::json> Informer::get(const std::string& ns, const std::string& name) const {
  std::vector<std::uint8_t> bytes;
  {
    std::lock_guard lock(mutex_);
    auto it = cache_.find(ns.empty() ? name : ns + "/" + name);
    if (it == cache_.end()) return std::nullopt;
    bytes = bytesOf(it->second);
  }
  return nlohmann::json::from_msgpack(bytes);
}

std::vector<nlohmann::json> Informer::list() const { return list("", nullptr); }

std::vector<nlohmann::json> Informer::list(
    const std::string& ns, const std::function<bool(const nlohmann::json&)>& keep) const {
  std::vector<std::vector<std::uint8_t>> packed;
  {
    std::lock_guard lock(mutex_);
    // Keys are "<ns>/<name>", sorted: one namespace is one range.
    auto it = ns.empty() ? cache_.begin() : cache_.lower_bound(ns + "/");
    for (; it != cache_.end(); ++it) {
      if (!ns.empty() && it->first.compare(0, ns.size() + 1, ns + "/") != 0) break;
      packed.push_back(bytesOf(it->second));
    }
  }
  std::vector<nlohmann::json> out;
  out.reserve(packed.size());
  for (auto& bytes : packed) {
    nlohmann::json o = nlohmann::json::from_msgpack(bytes);
    std::vector<std::uint8_t>().swap(bytes);
    if (!keep || keep(o)) out.push_back(std::move(o));
  }
  return out;
}

size_t Informer::size() const {
  std::lock_guard lock(mutex_);
  return cache_.size();
}

std::string Informer::resourceVersion() const {
  std::lock_guard lock(mutex_);
  return rv_;
}

InformerStats Informer::stats() const {
  std::lock_guard lock(mutex_);
  return stats_;
}

std::string Informer::collectionPath() const {
  return resourcePath(options_.apiVersion, options_.resource, options_.namespace_);
}

void Informer::sleepFor(std::chrono::milliseconds d) {
  std::unique_lock lock(mutex_);
  cv_.wait_for(lock, d, [this] { return stopping_.load(); });
}

void Informer::run() {
  std::mt19937 rng(std::random_device{}());
  auto backoff = options_.initialBackoff;
  auto lastError = std::chrono::steady_clock::now();
  bool needList = true;
  auto failed = [&] {
    {
      std::lock_guard lock(mutex_);
      ++stats_.errors;
    }
    auto now = std::chrono::steady_clock::now();
    if (now - lastError > std::chrono::minutes(2)) backoff = options_.initialBackoff;
    lastError = now;
    // Jitter up to +100 % (client-go's reflector uses jitter 1.0).
    std::uniform_real_distribution<double> jitter(1.0, 2.0);
    sleepFor(std::chrono::milliseconds(static_cast<int64_t>(backoff.count() * jitter(rng))));
    backoff = std::min(backoff * 2, options_.maxBackoff);
  };
  while (!stopping_) {
    if (needList) {
      if (!relist()) {
        failed();
        continue;
      }
      needList = false;
    }
    switch (watchOnce()) {
      case WatchEnd::kClean:
        break;
      case WatchEnd::kExpired:
        needList = true;
        break;
      case WatchEnd::kFailed:
        if (!stopping_) failed();
        break;
    }
  }
}

bool Informer::relist() {
  std::string path = collectionPath() + "?limit=500";
  if (!options_.labelSelector.empty()) {
    path += "&labelSelector=" + queryEscape(options_.labelSelector);
  }
  std::map<std::string, nlohmann::json> fresh;
  std::string rv;
  std::string cont;
  do {
    auto r = client_.get(cont.empty() ? path : path + "&continue=" + queryEscape(cont));
    if (!r.isOk() || !r->ok()) {
      if (r.isOk() && r->code == 410) cont.clear();  // the continue token expired: start again
      spdlog::warn(
          "informer {}: list failed: {}", options_.resource,
          r.isOk() ? r->status("list " + options_.resource).message() : r.status().message());
      return false;
    }
    const auto& body = r->body;
    if (!body.is_object() || !body.contains("items") || !body["items"].is_array()) {
      spdlog::warn("informer {}: list answer has no items array", options_.resource);
      return false;
    }
    for (const auto& item : body["items"]) fresh[keyOf(item)] = pack(item);
    const auto& meta = body.value("metadata", nlohmann::json::object());
    rv = meta.value("resourceVersion", "");
    cont = meta.value("continue", "");
  } while (!cont.empty() && !stopping_);
  if (stopping_) return false;

  // Replace the cache; tell handlers what changed (synthetic deletes for vanished objects).
  std::vector<nlohmann::json> added, deleted;
  std::vector<std::pair<nlohmann::json, nlohmann::json>> updated;
  {
    std::lock_guard lock(mutex_);
    for (auto& [key, obj] : fresh) {
      auto it = cache_.find(key);
      if (it == cache_.end()) {
        added.push_back(unpack(obj));
      } else if (it->second != obj) {
        nlohmann::json before = unpack(it->second), after = unpack(obj);
        if (rvOf(before) != rvOf(after)) updated.emplace_back(std::move(before), std::move(after));
      }
    }
    for (auto& [key, obj] : cache_) {
      if (!fresh.count(key)) deleted.push_back(unpack(obj));
    }
    cache_ = std::move(fresh);
    rv_ = rv;
    ++stats_.lists;
  }
  for (auto& o : deleted) {
    if (handlers_.onDelete) handlers_.onDelete(o);
  }
  for (auto& o : added) {
    if (handlers_.onAdd) handlers_.onAdd(o);
  }
  for (auto& [before, after] : updated) {
    if (handlers_.onUpdate) handlers_.onUpdate(before, after);
  }
  {
    std::lock_guard lock(mutex_);
    synced_ = true;
  }
  cv_.notify_all();
  return true;
}

Informer::WatchEnd Informer::watchOnce() {
  std::mt19937 rng(std::random_device{}());
  const auto min = options_.minWatchTimeout.count();
  std::uniform_int_distribution<int64_t> timeout(min, std::max<int64_t>(min, 2 * min - 1));
  std::string path = collectionPath() + "?watch=1&allowWatchBookmarks=true&resourceVersion=" +
                     queryEscape(resourceVersion()) +
                     "&timeoutSeconds=" + std::to_string(timeout(rng));
  if (!options_.labelSelector.empty()) {
    path += "&labelSelector=" + queryEscape(options_.labelSelector);
  }
  {
    std::lock_guard lock(mutex_);
    ++stats_.watches;
  }
  bool expired = false;
  bool broken = false;
  auto r = client_.stream(path, [&](std::string_view line) {
    if (stopping_) return false;
    auto event = nlohmann::json::parse(line, nullptr, false);
    if (!event.is_object() || !event.contains("type") || !event["type"].is_string()) {
      spdlog::warn("informer {}: ignoring a watch line that is not an event", options_.resource);
      return true;
    }
    const std::string type = event["type"].get<std::string>();
    if (type == "ERROR") {
      if (isExpired(event.value("object", nlohmann::json()))) {
        expired = true;
      } else {
        broken = true;
        spdlog::warn("informer {}: watch error: {}", options_.resource,
                     event.value("object", nlohmann::json()).value("message", "(no message)"));
      }
      return false;
    }
    applyEvent(type, event.value("object", nlohmann::json()));
    return true;
  });
  if (stopping_) return WatchEnd::kClean;
  if (!r.isOk()) {
    spdlog::warn("informer {}: {}", options_.resource, r.status().message());
    return WatchEnd::kFailed;
  }
  if (expired || r->code == 410) {
    std::lock_guard lock(mutex_);
    ++stats_.expired;
    return WatchEnd::kExpired;
  }
  if (broken) return WatchEnd::kFailed;
  if (r->code != 200) {
    spdlog::warn("informer {}: {}", options_.resource,
                 r->status("watch " + options_.resource).message());
    return WatchEnd::kFailed;
  }
  return WatchEnd::kClean;
}

void Informer::applyEvent(const std::string& type, nlohmann::json object) {
  const std::string rv = rvOf(object);
  if (type == "BOOKMARK") {
    std::lock_guard lock(mutex_);
    if (!rv.empty()) rv_ = rv;
    return;
  }
  const std::string key = keyOf(object);
  std::optional<nlohmann::json> before;
  {
    std::lock_guard lock(mutex_);
    if (!rv.empty()) rv_ = rv;
    auto it = cache_.find(key);
    if (it != cache_.end()) before = unpack(it->second);
    if (type == "DELETED") {
      cache_.erase(key);
    } else if (type == "ADDED" || type == "MODIFIED") {
      cache_[key] = pack(object);
    } else {
      return;
    }
  }
  if (type == "DELETED") {
    if (handlers_.onDelete) handlers_.onDelete(object);
  } else if (before) {
    if (handlers_.onUpdate) handlers_.onUpdate(*before, object);
  } else if (handlers_.onAdd) {
    handlers_.onAdd(object);
  }
}

}  // namespace updraft::kube
