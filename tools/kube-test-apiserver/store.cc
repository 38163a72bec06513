#include "store.h"

#include <cstdio>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace updraft::kubetest {

Store::Store(size_t watchWindow, WatchHub& hub) : window_(watchWindow), hub_(hub) {}

const json* Store::get(const std::string& key, const std::string& ns,
                       const std::string& name) const {
  auto b = buckets_.find(key);
  if (b == buckets_.end()) return nullptr;
  auto it = b->second.find({ns, name});
  return it == b->second.end() ? nullptr : &it->second;
}

const Store::Bucket* Store::bucket(const std::string& key) const {
  auto b = buckets_.find(key);
  return b == buckets_.end() ? nullptr : &b->second;
}

void Store::record(Event event) {
  hub_.publish(event);
  history_.push_back(std::move(event));
  while (history_.size() > window_) {
    compacted_ = history_.front().rv;
    history_.pop_front();
  }
}

const json& Store::put(const std::string& key, json object, EventType type, const json& old) {
  ++rv_;
  object["metadata"]["resourceVersion"] = std::to_string(rv_);
  std::string ns = object["metadata"].value("namespace", "");
  std::string name = object["metadata"].value("name", "");
  json& slot = buckets_[key][{ns, name}];
  slot = std::move(object);
  record(Event{rv_, type, key, ns, slot, old});
  return slot;
}

void Store::erase(const std::string& key, const std::string& ns, const std::string& name,
                  json last) {
  auto b = buckets_.find(key);
  if (b == buckets_.end()) return;
  auto it = b->second.find({ns, name});
  if (it == b->second.end()) return;
  std::string eventKey = key, eventNs = ns;  // the arguments may live in the erased node
  json old = std::move(it->second);
  b->second.erase(it);
  ++rv_;
  last["metadata"]["resourceVersion"] = std::to_string(rv_);
  record(Event{rv_, EventType::Deleted, eventKey, eventNs, std::move(last), std::move(old)});
}

std::optional<Store::Bucket> Store::snapshotAt(const std::string& key, uint64_t rv) const {
  if (rv < compacted_ || rv > rv_) return std::nullopt;
  Bucket b;
  if (auto* cur = bucket(key)) b = *cur;
  for (auto it = history_.rbegin(); it != history_.rend() && it->rv > rv; ++it) {
    if (it->storageKey != key) continue;
    std::string name = it->object["metadata"].value("name", "");
    if (it->type == EventType::Added) {
      b.erase({it->ns, name});
    } else {
      b[{it->ns, name}] = it->old;
    }
  }
  return b;
}

bool Store::changesSince(uint64_t rv, std::vector<const Event*>& out) const {
  if (rv < compacted_) return false;
  for (const auto& e : history_) {
    if (e.rv > rv) out.push_back(&e);
  }
  return true;
}

void Store::compact() {
  history_.clear();
  compacted_ = rv_;
}

void Store::save(const std::string& path) const {
  json state = {{"resourceVersion", rv_}, {"compacted", compacted_}};
  json objects = json::array();
  for (const auto& [key, b] : buckets_) {
    for (const auto& [id, obj] : b) objects.push_back({{"key", key}, {"object", obj}});
  }
  state["objects"] = std::move(objects);
  json history = json::array();
  for (const auto& e : history_) {
    history.push_back({{"rv", e.rv},
                       {"type", eventTypeName(e.type)},
                       {"key", e.storageKey},
                       {"namespace", e.ns},
                       {"object", e.object},
                       {"old", e.old}});
  }
  state["history"] = std::move(history);
  std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << dumpJson(state);
    if (!out.flush()) throw std::runtime_error("cannot write " + tmp);
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    throw std::runtime_error("cannot rename " + tmp + " to " + path);
  }
}

bool Store::load(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  std::stringstream ss;
  ss << in.rdbuf();
  json state;
  try {
    state = json::parse(ss.str());
    buckets_.clear();
    history_.clear();
    rv_ = state.at("resourceVersion").get<uint64_t>();
    compacted_ = state.value("compacted", rv_);
    for (const auto& o : state.at("objects")) {
      const json& obj = o.at("object");
      buckets_[o.at("key").get<std::string>()]
              [{obj["metadata"].value("namespace", ""), obj["metadata"].value("name", "")}] = obj;
    }
    for (const auto& h : state.value("history", json::array())) {
      std::string t = h.at("type").get<std::string>();
      EventType type = t == "ADDED"      ? EventType::Added
                       : t == "MODIFIED" ? EventType::Modified
                                         : EventType::Deleted;
      history_.push_back(Event{h.at("rv").get<uint64_t>(), type, h.at("key").get<std::string>(),
                               h.value("namespace", ""), h.at("object"), h.value("old", json())});
    }
    while (history_.size() > window_) {
      compacted_ = history_.front().rv;
      history_.pop_front();
    }
  } catch (const json::exception& e) {
    throw std::runtime_error("state file " + path + " is not valid: " + e.what());
  }
  return true;
}

}  // namespace updraft::kubetest
