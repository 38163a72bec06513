#include "updraft/operator/object_cache.h"

#include "updraft/operator/informer.h"

namespace updraft::kube {

bool labelsMatch(const nlohmann::json& object, const LabelMap& selector) {
  if (selector.empty()) return true;
  const nlohmann::json* labels = nullptr;
  if (auto m = object.find("metadata"); m != object.end() && m->is_object()) {
    if (auto l = m->find("labels"); l != m->end() && l->is_object()) labels = &*l;
  }
  if (!labels) return false;
  for (const auto& [k, v] : selector) {
    auto it = labels->find(k);
    if (it == labels->end() || !it->is_string() || it->get_ref<const std::string&>() != v) {
      return false;
    }
  }
  return true;
}

namespace {

std::string keyOf(const std::string& ns, const std::string& name) {
  return ns.empty() ? name : ns + "/" + name;
}

std::string namespaceOf(const nlohmann::json& object) {
  return object.value("/metadata/namespace"_json_pointer, std::string());
}

}  // namespace

void MemoryObjectCache::put(const std::string& resource, nlohmann::json object) {
  std::string key =
      keyOf(namespaceOf(object), object.value("/metadata/name"_json_pointer, std::string()));
  std::lock_guard lock(mutex_);
  objects_[resource][key] = std::move(object);
}

void MemoryObjectCache::erase(const std::string& resource, const std::string& ns,
                              const std::string& name) {
  std::lock_guard lock(mutex_);
  if (auto it = objects_.find(resource); it != objects_.end()) it->second.erase(keyOf(ns, name));
}

std::optional<nlohmann::json> MemoryObjectCache::get(std::string_view resource,
                                                     const std::string& ns,
                                                     const std::string& name) const {
  std::lock_guard lock(mutex_);
  auto it = objects_.find(resource);
  if (it == objects_.end()) return std::nullopt;
  auto o = it->second.find(keyOf(ns, name));
  if (o == it->second.end()) return std::nullopt;
  return o->second;
}

std::vector<nlohmann::json> MemoryObjectCache::list(std::string_view resource,
                                                    const std::string& ns,
                                                    const LabelMap& selector) const {
  std::lock_guard lock(mutex_);
  std::vector<nlohmann::json> out;
  auto it = objects_.find(resource);
  if (it == objects_.end()) return out;
  for (const auto& [key, object] : it->second) {
    if (!ns.empty() && namespaceOf(object) != ns) continue;
    if (labelsMatch(object, selector)) out.push_back(object);
  }
  return out;
}

bool MemoryObjectCache::watches(std::string_view resource) const {
  std::lock_guard lock(mutex_);
  return objects_.find(resource) != objects_.end();
}

void InformerObjectCache::add(const std::string& resource, const Informer* informer) {
  informers_[resource] = informer;
}

std::optional<nlohmann::json> InformerObjectCache::get(std::string_view resource,
                                                       const std::string& ns,
                                                       const std::string& name) const {
  auto it = informers_.find(resource);
  if (it == informers_.end()) return std::nullopt;
  return it->second->get(ns, name);
}

std::vector<nlohmann::json> InformerObjectCache::list(std::string_view resource,
                                                      const std::string& ns,
                                                      const LabelMap& selector) const {
  auto it = informers_.find(resource);
  if (it == informers_.end()) return {};
  return it->second->list(
      ns, [&selector](const nlohmann::json& o) { return labelsMatch(o, selector); });
}

bool InformerObjectCache::watches(std::string_view resource) const {
  return informers_.find(resource) != informers_.end();
}

}  // namespace updraft::kube
