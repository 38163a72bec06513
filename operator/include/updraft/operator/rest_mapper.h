// Kind -> resource mapping through the API's discovery documents, as client-go's RESTMapper: which
// plural resource serves a kind, and whether it has a /scale subresource. Answers are cached per
// group/version; a kind not found re-reads its group once a minute (a CRD installed later).
#pragma once

#include <chrono>
#include <map>
#include <mutex>
#include <string>

#include "updraft/operator/kube_client.h"
#include "updraft/status.h"

namespace updraft::kube {

struct ResourceMapping {
  std::string group;  // "" for the core group
  std::string version;
  std::string kind;
  std::string resource;  // plural: "deployments"
  bool namespaced = true;
  bool hasScale = false;  // "<resource>/scale" is served
  std::string apiVersion() const { return group.empty() ? version : group + "/" + version; }
};

class RestMapper {
 public:
  explicit RestMapper(KubeClient& client) : client_(client) {}
  // NotFound when the group/version or the kind is not served.
  Result<ResourceMapping> map(const std::string& apiVersion, const std::string& kind);

 private:
  struct GroupVersion {
    std::map<std::string, ResourceMapping> byKind;
    std::chrono::steady_clock::time_point readAt;
  };
  KubeClient& client_;
  std::mutex mutex_;
  std::map<std::string, GroupVersion> cache_;
};

}  // namespace updraft::kube
