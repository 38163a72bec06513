#include "resources.h"

#include <algorithm>
#include <regex>
#include <set>
#include <tuple>

namespace updraft::kubetest {

namespace {

ResourceType make(std::string group, std::string version, std::string resource, std::string kind,
                  bool namespaced, bool status, bool scale,
                  std::vector<std::string> shortNames = {}) {
  ResourceType t;
  t.group = std::move(group);
  t.version = std::move(version);
  t.resource = std::move(resource);
  t.kind = std::move(kind);
  t.singular = t.kind;
  std::transform(t.singular.begin(), t.singular.end(), t.singular.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  t.namespaced = namespaced;
  t.statusSubresource = status;
  if (scale) t.scale = ScalePaths{};
  t.shortNames = std::move(shortNames);
  return t;
}

// Kubernetes' version priority: GA before beta before alpha, higher numbers first, then others
// alphabetically.
std::tuple<int, int, int, std::string> versionRank(const std::string& v) {
  static const std::regex re("^v([0-9]+)(?:(alpha|beta)([0-9]+))?$");
  std::smatch m;
  if (!std::regex_match(v, m, re)) return {3, 0, 0, v};
  int major = std::stoi(m[1]);
  if (!m[2].matched) return {0, -major, 0, ""};
  int minor = std::stoi(m[3]);
  return {m[2] == "beta" ? 1 : 2, -major, -minor, ""};
}

const std::vector<std::string> kVerbs = {"create", "delete", "deletecollection", "get",
                                         "list",   "patch",  "update",           "watch"};

}  // namespace

Registry::Registry() {
  builtin_ = {
      make("", "v1", "namespaces", "Namespace", false, true, false, {"ns"}),
      make("", "v1", "pods", "Pod", true, true, false, {"po"}),
      make("", "v1", "secrets", "Secret", true, false, false),
      make("", "v1", "configmaps", "ConfigMap", true, false, false, {"cm"}),
      make("", "v1", "services", "Service", true, true, false, {"svc"}),
      make("", "v1", "serviceaccounts", "ServiceAccount", true, false, false, {"sa"}),
      make("", "v1", "events", "Event", true, false, false, {"ev"}),
      make("apps", "v1", "deployments", "Deployment", true, true, true, {"deploy"}),
      make("apps", "v1", "statefulsets", "StatefulSet", true, true, true, {"sts"}),
      make("apps", "v1", "replicasets", "ReplicaSet", true, true, true, {"rs"}),
      make("autoscaling", "v2", "horizontalpodautoscalers", "HorizontalPodAutoscaler", true, true,
           false, {"hpa"}),
      make("batch", "v1", "jobs", "Job", true, true, false),
      make("coordination.k8s.io", "v1", "leases", "Lease", true, false, false),
      make("events.k8s.io", "v1", "events", "Event", true, false, false, {"ev"}),
      make("apiregistration.k8s.io", "v1", "apiservices", "APIService", false, true, false),
      make("admissionregistration.k8s.io", "v1", "validatingwebhookconfigurations",
           "ValidatingWebhookConfiguration", false, false, false),
      make("admissionregistration.k8s.io", "v1", "mutatingwebhookconfigurations",
           "MutatingWebhookConfiguration", false, false, false),
      make("apiextensions.k8s.io", "v1", "customresourcedefinitions", "CustomResourceDefinition",
           false, true, false, {"crd", "crds"}),
  };
}

void Registry::setCustom(std::vector<ResourceType> types) { custom_ = std::move(types); }

std::vector<ResourceType> Registry::fromCrd(const json& crd) {
  std::string name = crd.value("/metadata/name"_json_pointer, "");
  std::vector<std::pair<std::string, std::string>> errors;
  auto str = [&](const char* pointer) {
    const json* v = &crd;
    try {
      v = &crd.at(json::json_pointer(pointer));
    } catch (const json::exception&) {
      return std::string();
    }
    return v->is_string() ? v->get<std::string>() : std::string();
  };
  std::string group = str("/spec/group");
  std::string plural = str("/spec/names/plural");
  std::string kind = str("/spec/names/kind");
  std::string scope = str("/spec/scope");
  if (group.empty()) errors.push_back({"spec.group", "Required value"});
  if (plural.empty()) errors.push_back({"spec.names.plural", "Required value"});
  if (kind.empty()) errors.push_back({"spec.names.kind", "Required value"});
  if (scope != "Namespaced" && scope != "Cluster") {
    errors.push_back({"spec.scope", "Unsupported value: \"" + scope +
                                        "\": supported values: \"Cluster\", \"Namespaced\""});
  }
  if (!group.empty() && !plural.empty() && name != plural + "." + group) {
    errors.push_back({"metadata.name", "Invalid value: \"" + name +
                                           "\": must be spec.names.plural+\".\"+spec.group"});
  }
  const json* versions = jsonAtPath(crd, "spec.versions");
  if (!versions || !versions->is_array() || versions->empty()) {
    errors.push_back({"spec.versions",
                      "Invalid value: must have exactly one version marked as "
                      "storage version"});
  }
  std::vector<ResourceType> out;
  if (errors.empty()) {
    int storage = 0;
    for (const auto& v : *versions) {
      if (!v.is_object() || !v.contains("name") || !v["name"].is_string()) {
        errors.push_back({"spec.versions[].name", "Required value"});
        continue;
      }
      if (v.value("storage", false)) ++storage;
      if (!v.value("served", false)) continue;
      ResourceType t;
      t.group = group;
      t.version = v["name"].get<std::string>();
      t.resource = plural;
      t.kind = kind;
      t.singular = str("/spec/names/singular");
      if (t.singular.empty()) {
        t.singular = kind;
        std::transform(t.singular.begin(), t.singular.end(), t.singular.begin(),
                       [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
      }
      t.namespaced = scope == "Namespaced";
      t.builtin = false;
      if (const json* sn = jsonAtPath(crd, "spec.names.shortNames"); sn && sn->is_array()) {
        for (const auto& s : *sn) {
          if (s.is_string()) t.shortNames.push_back(s.get<std::string>());
        }
      }
      if (const json* c = jsonAtPath(crd, "spec.names.categories"); c && c->is_array()) {
        for (const auto& s : *c) {
          if (s.is_string()) t.categories.push_back(s.get<std::string>());
        }
      }
      if (const json* sub = jsonAtPath(v, "subresources"); sub && sub->is_object()) {
        t.statusSubresource = sub->contains("status");
        if (auto sc = sub->find("scale"); sc != sub->end() && sc->is_object()) {
          ScalePaths p;
          p.specReplicas = sc->value("specReplicasPath", ".spec.replicas");
          p.statusReplicas = sc->value("statusReplicasPath", ".status.replicas");
          p.labelSelector = sc->value("labelSelectorPath", "");
          t.scale = p;
        }
      }
      out.push_back(std::move(t));
    }
    if (storage != 1) {
      errors.push_back({"spec.versions",
                        "Invalid value: must have exactly one version marked as "
                        "storage version"});
    }
  }
  if (!errors.empty()) {
    throw invalid("apiextensions.k8s.io", "CustomResourceDefinition", name, errors);
  }
  return out;
}

const ResourceType* Registry::find(const std::string& group, const std::string& version,
                                   const std::string& resource) const {
  for (const auto* list : {&builtin_, &custom_}) {
    for (const auto& t : *list) {
      if (t.group == group && t.version == version && t.resource == resource) return &t;
    }
  }
  return nullptr;
}

const ResourceType* Registry::findByStorageKey(const std::string& key) const {
  for (const auto* list : {&builtin_, &custom_}) {
    for (const auto& t : *list) {
      if (t.storageKey() == key) return &t;
    }
  }
  return nullptr;
}

const ResourceType* Registry::findByKind(const std::string& apiVersion,
                                         const std::string& kind) const {
  for (const auto* list : {&builtin_, &custom_}) {
    for (const auto& t : *list) {
      if (t.apiVersion() == apiVersion && t.kind == kind) return &t;
    }
  }
  return nullptr;
}

std::vector<const ResourceType*> Registry::all() const {
  std::vector<const ResourceType*> out;
  for (const auto* list : {&builtin_, &custom_}) {
    for (const auto& t : *list) out.push_back(&t);
  }
  return out;
}

std::vector<std::string> Registry::versionsOf(const std::string& group) const {
  std::set<std::string> set;
  for (const auto* t : all()) {
    if (t->group == group) set.insert(t->version);
  }
  std::vector<std::string> v(set.begin(), set.end());
  std::sort(v.begin(), v.end(),
            [](const auto& a, const auto& b) { return versionRank(a) < versionRank(b); });
  return v;
}

bool Registry::groupVersionServed(const std::string& group, const std::string& version) const {
  for (const auto* t : all()) {
    if (t->group == group && t->version == version) return true;
  }
  return false;
}

json Registry::coreVersions(const std::string& serverAddress) const {
  return {{"kind", "APIVersions"},
          {"versions", {"v1"}},
          {"serverAddressByClientCIDRs",
           {{{"clientCIDR", "0.0.0.0/0"}, {"serverAddress", serverAddress}}}}};
}

std::optional<json> Registry::group(const std::string& name) const {
  auto versions = versionsOf(name);
  if (name.empty() || versions.empty()) return std::nullopt;
  json g = {{"name", name}, {"versions", json::array()}};
  for (const auto& v : versions) {
    g["versions"].push_back({{"groupVersion", name + "/" + v}, {"version", v}});
  }
  g["preferredVersion"] = g["versions"][0];
  return g;
}

json Registry::groupList() const {
  std::vector<std::string> names;
  for (const auto* t : all()) {
    if (!t->group.empty() && std::find(names.begin(), names.end(), t->group) == names.end()) {
      names.push_back(t->group);
    }
  }
  json list = {{"kind", "APIGroupList"}, {"apiVersion", "v1"}, {"groups", json::array()}};
  for (const auto& n : names) {
    json g = *group(n);
    g["kind"] = "APIGroup";
    g["apiVersion"] = "v1";
    list["groups"].push_back(g);
  }
  return list;
}

json Registry::resourceList(const std::string& group, const std::string& version) const {
  json list = {{"kind", "APIResourceList"},
               {"apiVersion", "v1"},
               {"groupVersion", group.empty() ? version : group + "/" + version},
               {"resources", json::array()}};
  for (const auto* t : all()) {
    if (t->group != group || t->version != version) continue;
    json r = {{"name", t->resource},
              {"singularName", t->singular},
              {"namespaced", t->namespaced},
              {"kind", t->kind},
              {"verbs", kVerbs}};
    if (!t->shortNames.empty()) r["shortNames"] = t->shortNames;
    if (!t->categories.empty()) r["categories"] = t->categories;
    list["resources"].push_back(r);
    if (t->statusSubresource) {
      list["resources"].push_back({{"name", t->resource + "/status"},
                                   {"singularName", ""},
                                   {"namespaced", t->namespaced},
                                   {"kind", t->kind},
                                   {"verbs", {"get", "patch", "update"}}});
    }
    if (t->scale) {
      list["resources"].push_back({{"name", t->resource + "/scale"},
                                   {"singularName", ""},
                                   {"namespaced", t->namespaced},
                                   {"group", "autoscaling"},
                                   {"version", "v1"},
                                   {"kind", "Scale"},
                                   {"verbs", {"get", "patch", "update"}}});
    }
  }
  return list;
}

}  // namespace updraft::kubetest
