#include "patch.h"

#include <algorithm>
#include <vector>

namespace updraft::kubetest {

PatchType patchTypeFromContentType(const std::string& contentType) {
  std::string base = contentType.substr(0, contentType.find(';'));
  while (!base.empty() && base.back() == ' ') base.pop_back();
  if (base == "application/merge-patch+json") return PatchType::Merge;
  if (base == "application/json-patch+json") return PatchType::Json;
  if (base == "application/strategic-merge-patch+json") return PatchType::Strategic;
  if (base == "application/apply-patch+yaml") return PatchType::Apply;
  throw unsupportedMediaType(
      "the body of the request was in an unknown format - accepted media "
      "types include: application/json-patch+json, "
      "application/merge-patch+json, application/apply-patch+yaml, "
      "application/strategic-merge-patch+json");
}

json applyMergePatch(const json& target, const json& patch) {
  json out = target;
  out.merge_patch(patch);
  return out;
}

json applyJsonPatch(const json& target, const json& patch) {
  if (!patch.is_array()) {
    throw badRequest("json: cannot unmarshal " + std::string(patch.type_name()) +
                     " into Go value of type jsonpatch.Patch");
  }
  if (patch.size() > 10000) {
    throw ApiError(422, "Invalid",
                   "The allowed number of operations in a JSON patch is 10000, got " +
                       std::to_string(patch.size()));
  }
  for (const auto& op : patch) {
    if (!op.is_object() || !op.contains("op") || !op["op"].is_string()) {
      throw badRequest("a JSON patch operation must be an object with a string \"op\"");
    }
  }
  try {
    return target.patch(patch);
  } catch (const json::exception& e) {
    std::string what = e.what();
    // nlohmann prefixes "[json.exception.<kind>.<id>] "; keep the readable part.
    if (auto pos = what.find("] "); pos != std::string::npos) what = what.substr(pos + 2);
    throw ApiError(422, "Invalid",
                   "the server rejected our request due to an error in our "
                   "request: json patch failed: " +
                       what);
  }
}

namespace {

struct ListStrategy {
  enum Kind { Replace, MergeByKey, MergePrimitive } kind = Replace;
  std::string key;
};

ListStrategy listStrategy(const std::vector<std::string>& path, const std::string& resource) {
  if (path.empty()) return {};
  const std::string& last = path.back();
  std::string parent = path.size() >= 2 ? path[path.size() - 2] : "";
  auto byKey = [](std::string k) { return ListStrategy{ListStrategy::MergeByKey, std::move(k)}; };
  if (last == "containers" || last == "initContainers" || last == "ephemeralContainers") {
    return byKey("name");
  }
  if (last == "ports") {
    if (parent == "containers" || parent == "initContainers" || parent == "ephemeralContainers") {
      return byKey("containerPort");
    }
    if (resource == "services" && path.size() == 2 && parent == "spec") return byKey("port");
    return {};
  }
  if (last == "env" || last == "volumes" || last == "imagePullSecrets" ||
      last == "resourceClaims" || (last == "secrets" && resource == "serviceaccounts")) {
    return byKey("name");
  }
  if (last == "volumeMounts") return byKey("mountPath");
  if (last == "volumeDevices") return byKey("devicePath");
  if (last == "conditions") return byKey("type");
  if (last == "ownerReferences") return byKey("uid");
  if (last == "hostAliases") return byKey("ip");
  if (last == "topologySpreadConstraints") return byKey("topologyKey");
  if (last == "finalizers" && parent == "metadata") return {ListStrategy::MergePrimitive, ""};
  return {};
}

bool isDirectiveKey(const std::string& k) {
  return k == "$patch" || k == "$retainKeys" || k.rfind("$setElementOrder/", 0) == 0 ||
         k.rfind("$deleteFromPrimitiveList/", 0) == 0;
}

json mergeValue(const json& original, const json& patch, std::vector<std::string>& path,
                const std::string& resource);

// Reorders `list` so the elements named in `order` come first, in that order.
void applyElementOrder(json& list, const json& order, const ListStrategy& strategy) {
  if (!list.is_array() || !order.is_array()) return;
  json ordered = json::array();
  std::vector<bool> used(list.size(), false);
  for (const auto& want : order) {
    for (size_t i = 0; i < list.size(); ++i) {
      if (used[i]) continue;
      bool same = strategy.kind == ListStrategy::MergeByKey
                      ? (want.is_object() && list[i].is_object() &&
                         want.value(strategy.key, json()) == list[i].value(strategy.key, json()))
                      : want == list[i];
      if (same) {
        ordered.push_back(list[i]);
        used[i] = true;
        break;
      }
    }
  }
  for (size_t i = 0; i < list.size(); ++i) {
    if (!used[i]) ordered.push_back(list[i]);
  }
  list = std::move(ordered);
}

json mergeMap(const json& original, const json& patch, std::vector<std::string>& path,
              const std::string& resource) {
  if (auto p = patch.find("$patch"); p != patch.end()) {
    if (*p == "replace") {
      json out = json::object();
      for (const auto& [k, v] : patch.items()) {
        if (!isDirectiveKey(k)) out[k] = v;
      }
      return out;
    }
    if (*p != "merge" && *p != "delete") {
      throw badRequest("unknown patch type: " + p->dump() + " in map");
    }
  }
  json out = original.is_object() ? original : json::object();
  for (const auto& [k, v] : patch.items()) {
    if (k.rfind("$deleteFromPrimitiveList/", 0) == 0) {
      std::string field = k.substr(std::string("$deleteFromPrimitiveList/").size());
      if (out.contains(field) && out[field].is_array() && v.is_array()) {
        json kept = json::array();
        for (const auto& e : out[field]) {
          if (std::find(v.begin(), v.end(), e) == v.end()) kept.push_back(e);
        }
        out[field] = kept;
      }
      continue;
    }
    if (isDirectiveKey(k)) continue;
    if (v.is_null()) {
      out.erase(k);
      continue;
    }
    if (v.is_object() && v.value("$patch", "") == "delete") {
      out.erase(k);
      continue;
    }
    path.push_back(k);
    json base = out.contains(k) ? out[k] : json();
    out[k] = mergeValue(base, v, path, resource);
    path.pop_back();
  }
  for (const auto& [k, v] : patch.items()) {
    if (k.rfind("$setElementOrder/", 0) != 0) continue;
    std::string field = k.substr(std::string("$setElementOrder/").size());
    if (!out.contains(field)) continue;
    path.push_back(field);
    applyElementOrder(out[field], v, listStrategy(path, resource));
    path.pop_back();
  }
  if (auto rk = patch.find("$retainKeys"); rk != patch.end() && rk->is_array()) {
    for (auto it = out.begin(); it != out.end();) {
      if (std::find(rk->begin(), rk->end(), it.key()) == rk->end()) {
        it = out.erase(it);
      } else {
        ++it;
      }
    }
  }
  return out;
}

json mergeList(const json& original, const json& patch, std::vector<std::string>& path,
               const std::string& resource) {
  ListStrategy strategy = listStrategy(path, resource);
  json base = original.is_array() ? original : json::array();
  if (strategy.kind == ListStrategy::Replace) {
    json out = json::array();
    for (const auto& e : patch)
      out.push_back(e.is_object() ? mergeMap(json(), e, path, resource) : e);
    return out;
  }
  if (strategy.kind == ListStrategy::MergePrimitive) {
    for (const auto& e : patch) {
      if (std::find(base.begin(), base.end(), e) == base.end()) base.push_back(e);
    }
    return base;
  }
  for (const auto& e : patch) {
    if (e.is_object() && e.value("$patch", "") == "replace") {
      json out = json::array();
      for (const auto& x : patch) {
        if (x.is_object() && x.contains("$patch")) continue;
        out.push_back(x);
      }
      return out;
    }
  }
  for (const auto& e : patch) {
    if (!e.is_object() || !e.contains(strategy.key)) {
      throw badRequest("map: " + e.dump() +
                       " does not contain declared merge key: " + strategy.key);
    }
    const json& key = e[strategy.key];
    auto match = std::find_if(base.begin(), base.end(), [&](const json& x) {
      return x.is_object() && x.contains(strategy.key) && x[strategy.key] == key;
    });
    if (e.value("$patch", "") == "delete") {
      base.erase(std::remove_if(base.begin(), base.end(),
                                [&](const json& x) {
                                  return x.is_object() && x.contains(strategy.key) &&
                                         x[strategy.key] == key;
                                }),
                 base.end());
      continue;
    }
    if (match != base.end()) {
      *match = mergeMap(*match, e, path, resource);
    } else {
      base.push_back(mergeMap(json(), e, path, resource));
    }
  }
  return base;
}

json mergeValue(const json& original, const json& patch, std::vector<std::string>& path,
                const std::string& resource) {
  if (patch.is_object()) return mergeMap(original, patch, path, resource);
  if (patch.is_array()) return mergeList(original, patch, path, resource);
  return patch;
}

}  // namespace

json applyStrategicMergePatch(const json& target, const json& patch, const std::string& resource) {
  if (!patch.is_object()) {
    throw badRequest("a strategic merge patch must be a JSON object, not " +
                     std::string(patch.type_name()));
  }
  std::vector<std::string> path;
  return mergeMap(target, patch, path, resource);
}

}  // namespace updraft::kubetest
