// The served resource types: the built-in ones and those CustomResourceDefinitions declare, and
// the discovery documents (/api, /apis, /apis/{group}, APIResourceLists) built from them.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common.h"

namespace updraft::kubetest {

struct ScalePaths {
  std::string specReplicas = ".spec.replicas";
  std::string statusReplicas = ".status.replicas";
  std::string labelSelector;  // empty: a deployment-style spec.selector object is used
};

struct ResourceType {
  std::string group;     // "" for the core group
  std::string version;   // "v1"
  std::string resource;  // plural, "deployments"
  std::string kind;      // "Deployment"
  std::string singular;  // "deployment"
  bool namespaced = true;
  bool statusSubresource = false;
  std::optional<ScalePaths> scale;
  bool builtin = true;  // strategic merge patch is accepted only for built-in types
  std::vector<std::string> shortNames;
  std::vector<std::string> categories;

  // Objects of all versions of one group+resource share one storage bucket.
  std::string storageKey() const { return group + "/" + resource; }
  std::string apiVersion() const { return group.empty() ? version : group + "/" + version; }
  // "deployments.apps" / "pods": the name used in messages.
  std::string qualifiedResource() const {
    return group.empty() ? resource : resource + "." + group;
  }
  std::string listKind() const { return kind + "List"; }
};

class Registry {
 public:
  Registry();  // the built-in types

  // Replaces the CRD-derived types (served versions of every established CRD).
  void setCustom(std::vector<ResourceType> types);
  // Types declared by one CRD object (spec.versions with served=true); throws ApiError 422 when
  // the CRD is not valid enough to serve.
  static std::vector<ResourceType> fromCrd(const json& crd);

  const ResourceType* find(const std::string& group, const std::string& version,
                           const std::string& resource) const;
  // Any served version of this storage key (for the garbage collector and controllers).
  const ResourceType* findByStorageKey(const std::string& key) const;
  // The type serving apiVersion + kind (ownerReferences, admission).
  const ResourceType* findByKind(const std::string& apiVersion, const std::string& kind) const;
  std::vector<const ResourceType*> all() const;

  bool groupVersionServed(const std::string& group, const std::string& version) const;
  json coreVersions(const std::string& serverAddress) const;  // /api
  json groupList() const;                                     // /apis
  std::optional<json> group(const std::string& name) const;   // /apis/{group}
  json resourceList(const std::string& group, const std::string& version) const;

 private:
  std::vector<std::string> versionsOf(const std::string& group) const;
  std::vector<ResourceType> builtin_;
  std::vector<ResourceType> custom_;
};

}  // namespace updraft::kubetest
