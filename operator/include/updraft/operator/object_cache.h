// Read access to cached Kubernetes objects by resource: the informers' caches in the operator, a
// map in tests. Controllers and resolvers read through this so they can be tested without a server.
#pragma once

#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace updraft::kube {

class Informer;

using LabelMap = std::map<std::string, std::string>;

// True when every key=value of `selector` is among the object's metadata.labels.
bool labelsMatch(const nlohmann::json& object, const LabelMap& selector);

class ObjectCache {
 public:
  virtual ~ObjectCache() = default;
  // `resource` is the plural resource name ("secrets", "configmaps", "triggerauthentications",
  // "clustertriggerauthentications", "jobs", "pods", ...); `ns` is "" for cluster-scoped objects.
  // nullopt when the object is not in the cache.
  virtual std::optional<nlohmann::json> get(std::string_view resource, const std::string& ns,
                                            const std::string& name) const = 0;
  // Objects of `resource` in `ns` ("" = every namespace) whose labels match `selector`.
  virtual std::vector<nlohmann::json> list(std::string_view resource, const std::string& ns,
                                           const LabelMap& selector = {}) const = 0;
  // Whether `resource` is cached at all (a resource that is not watched answers nothing).
  virtual bool watches(std::string_view resource) const = 0;
};

// An in-memory cache for tests and tools. Thread-safe.
class MemoryObjectCache final : public ObjectCache {
 public:
  void put(const std::string& resource, nlohmann::json object);
  void erase(const std::string& resource, const std::string& ns, const std::string& name);
  std::optional<nlohmann::json> get(std::string_view resource, const std::string& ns,
                                    const std::string& name) const override;
  std::vector<nlohmann::json> list(std::string_view resource, const std::string& ns,
                                   const LabelMap& selector = {}) const override;
  bool watches(std::string_view resource) const override;

 private:
  mutable std::mutex mutex_;
  // resource -> "<ns>/<name>" -> object
  std::map<std::string, std::map<std::string, nlohmann::json>, std::less<>> objects_;
};

// The informers' caches, one informer per resource. Informers must outlive this object.
class InformerObjectCache final : public ObjectCache {
 public:
  void add(const std::string& resource, const Informer* informer);
  std::optional<nlohmann::json> get(std::string_view resource, const std::string& ns,
                                    const std::string& name) const override;
  std::vector<nlohmann::json> list(std::string_view resource, const std::string& ns,
                                   const LabelMap& selector = {}) const override;
  bool watches(std::string_view resource) const override;

 private:
  std::map<std::string, const Informer*, std::less<>> informers_;
};

}  // namespace updraft::kube
