#include "updraft/operator/rest_mapper.h"

#include <fmt/format.h>

namespace updraft::kube {

Result<ResourceMapping> RestMapper::map(const std::string& apiVersion, const std::string& kind) {
  const auto now = std::chrono::steady_clock::now();
  {
    std::lock_guard lock(mutex_);
    auto it = cache_.find(apiVersion);
    if (it != cache_.end()) {
      auto k = it->second.byKind.find(kind);
      if (k != it->second.byKind.end()) return k->second;
      if (now - it->second.readAt < std::chrono::minutes(1)) {
        return Status::notFound(
            fmt::format("no kind \"{}\" is served in the group/version \"{}\"", kind, apiVersion));
      }
    }
  }
  auto r = client_.get(apiPrefix(apiVersion));
  if (!r.isOk()) return r.status();
  if (r->code == 404) {
    return Status::notFound(fmt::format("the group/version \"{}\" is not served", apiVersion));
  }
  if (!r->ok()) return r->status("discovery of " + apiVersion);
  GroupVersion gv;
  gv.readAt = now;
  const auto slash = apiVersion.find('/');
  const std::string group = slash == std::string::npos ? "" : apiVersion.substr(0, slash);
  const std::string version =
      slash == std::string::npos ? apiVersion : apiVersion.substr(slash + 1);
  const auto& resources = r->body.value("resources", nlohmann::json::array());
  std::map<std::string, bool> scaled;  // resource -> has /scale
  for (const auto& res : resources) {
    std::string name = res.value("name", "");
    if (auto s = name.find('/'); s != std::string::npos && name.substr(s + 1) == "scale") {
      scaled[name.substr(0, s)] = true;
    }
  }
  for (const auto& res : resources) {
    std::string name = res.value("name", "");
    if (name.empty() || name.find('/') != std::string::npos) continue;
    ResourceMapping m{group,
                      version,
                      res.value("kind", ""),
                      name,
                      res.value("namespaced", true),
                      scaled.count(name) > 0};
    gv.byKind.emplace(m.kind, m);
  }
  std::lock_guard lock(mutex_);
  auto& slot = cache_[apiVersion] = std::move(gv);
  auto k = slot.byKind.find(kind);
  if (k == slot.byKind.end()) {
    return Status::notFound(
        fmt::format("no kind \"{}\" is served in the group/version \"{}\"", kind, apiVersion));
  }
  return k->second;
}

}  // namespace updraft::kube
