#include "controller_support.h"

#include <spdlog/spdlog.h>

#include "updraft/operator/kube_auth.h"

namespace updraft::kube {

std::string stringAt(const nlohmann::json& object, const char* pointer) {
  nlohmann::json::json_pointer ptr(pointer);
  if (!object.contains(ptr)) return {};
  const auto& v = object.at(ptr);
  return v.is_string() ? v.get<std::string>() : std::string();
}

std::string objectKey(const nlohmann::json& object) {
  return stringAt(object, "/metadata/namespace") + "/" + stringAt(object, "/metadata/name");
}

namespace {

nlohmann::json fieldOr(const nlohmann::json& object, const char* pointer) {
  nlohmann::json::json_pointer ptr(pointer);
  return object.contains(ptr) ? object.at(ptr) : nlohmann::json();
}

}  // namespace

std::optional<nlohmann::json> finalizersWith(const nlohmann::json& object, bool present) {
  nlohmann::json list = nlohmann::json::array();
  bool found = false;
  for (const auto& f : fieldOr(object, "/metadata/finalizers")) {
    if (f == kKedaFinalizer) {
      found = true;
    } else {
      list.push_back(f);
    }
  }
  if (found == present) return std::nullopt;
  if (present) list.push_back(kKedaFinalizer);
  return list;
}

Result<ApiResponse> patchMetadata(const ControllerContext& ctx, const std::string& path,
                                  const nlohmann::json& object, nlohmann::json metadata) {
  metadata["resourceVersion"] = stringAt(object, "/metadata/resourceVersion");
  return ctx.client->patch(path, {{"metadata", std::move(metadata)}}, PatchType::kMerge);
}

bool reconcileRelevantChange(const nlohmann::json& before, const nlohmann::json& after) {
  for (const char* p : {"/metadata/generation", "/metadata/labels", "/metadata/annotations",
                        "/metadata/deletionTimestamp", "/metadata/finalizers"}) {
    if (fieldOr(before, p) != fieldOr(after, p)) return true;
  }
  return false;
}

std::string handlerFingerprint(const nlohmann::json& object) {
  return fieldOr(object, "/metadata/generation").dump() + "|" +
         fieldOr(object, "/metadata/labels").dump() + "|" +
         fieldOr(object, "/metadata/annotations").dump();
}

bool usesAuth(const nlohmann::json& scalable, const nlohmann::json& auth) {
  const std::string kind = auth.value("kind", "TriggerAuthentication");
  const std::string name = stringAt(auth, "/metadata/name");
  const std::string authNs = stringAt(auth, "/metadata/namespace");
  if (kind == "TriggerAuthentication" && authNs != stringAt(scalable, "/metadata/namespace")) {
    return false;
  }
  for (const auto& t : fieldOr(scalable, "/spec/triggers")) {
    if (!t.is_object() || !t.contains("authenticationRef")) continue;
    const auto& ref = t["authenticationRef"];
    if (!ref.is_object()) continue;
    if (ref.value("name", "") == name && ref.value("kind", "TriggerAuthentication") == kind) {
      return true;
    }
  }
  return false;
}

bool usesAnyAuth(const nlohmann::json& scalable) {
  for (const auto& t : fieldOr(scalable, "/spec/triggers")) {
    if (t.is_object() && t.contains("authenticationRef")) return true;
  }
  return false;
}

std::vector<std::string> authSourceUsers(const ControllerContext& ctx, const char* resource,
                                         const nlohmann::json& secretOrConfigMap) {
  const std::string ns = stringAt(secretOrConfigMap, "/metadata/namespace");
  std::vector<std::string> keys;
  for (const auto& o : ctx.cache->list(resource, ns == ctx.clusterObjectNamespace ? "" : ns)) {
    if (usesAnyAuth(o)) keys.push_back(objectKey(o));
  }
  return keys;
}

nlohmann::json workloadPodSpec(const ControllerContext& ctx, const ResourceMapping& mapping,
                               const std::string& ns, const std::string& name) {
  std::optional<nlohmann::json> workload;
  if (ctx.cache->watches(mapping.resource)) {
    workload = ctx.cache->get(mapping.resource, ns, name);
  } else {
    auto r = ctx.client->get(resourcePath(mapping.apiVersion(), mapping.resource, ns, name));
    if (r.isOk() && r->ok()) workload = r->body;
  }
  return workload ? podSpecOf(*workload) : nlohmann::json();
}

Result<std::vector<BuiltTrigger>> buildObjectTriggers(
    const ControllerContext& ctx, const ObjectMeta& meta,
    const std::vector<ScaleTriggers>& triggers, const std::string& kind,
    const nlohmann::json& podSpec, const std::string& envSourceContainer, bool asMetricSource,
    std::string* authFingerprint) {
  std::map<std::string, StringMap> envs;
  std::vector<std::string> order;
  if (podSpec.is_object()) {
    auto env = resolveAllContainerEnv(podSpec, meta.namespace_, *ctx.cache);
    if (env.isOk()) {
      envs = std::move(env->first);
      order = std::move(env->second);
    } else {
      spdlog::warn("{} {}/{}: the target's env is not resolved: {}", kind, meta.namespace_,
                   meta.name, env.status().message());
    }
  }
  TriggerBuildOptions options;
  options.objectKind = kind;
  options.asMetricSource = asMetricSource;
  const std::string container =
      !envSourceContainer.empty() ? envSourceContainer : (order.empty() ? "" : order.front());
  if (auto it = envs.find(container); it != envs.end()) options.resolvedEnv = it->second;
  KubeAuthOptions authOptions;
  authOptions.clusterObjectNamespace = ctx.clusterObjectNamespace;
  KubeAuthResolver auth(*ctx.cache, envs, order, authOptions);
  options.auth = &auth;

  if (authFingerprint) {
    // The versions of everything the authentication was read from.
    std::string fp;
    auto add = [&](const char* resource, const std::string& ns, const std::string& name) {
      auto o = ctx.cache->get(resource, ns, name);
      fp += "|" + name + "@" + (o ? stringAt(*o, "/metadata/resourceVersion") : "-");
    };
    for (const auto& t : triggers) {
      if (!t.authenticationRef || t.authenticationRef->name.empty()) continue;
      const AuthenticationRef& authRef = *t.authenticationRef;
      const bool cluster = authRef.kind == "ClusterTriggerAuthentication";
      const std::string authNs = cluster ? "" : meta.namespace_;
      const std::string refNs = cluster ? ctx.clusterObjectNamespace : meta.namespace_;
      auto ta = ctx.cache->get(cluster ? "clustertriggerauthentications" : "triggerauthentications",
                               authNs, authRef.name);
      fp += "|" + authRef.name + "@" + (ta ? stringAt(*ta, "/metadata/resourceVersion") : "-");
      if (!ta) continue;
      for (const auto& ref : fieldOr(*ta, "/spec/secretTargetRef")) {
        if (ref.is_object()) add("secrets", refNs, ref.value("name", ""));
      }
      for (const auto& ref : fieldOr(*ta, "/spec/configMapTargetRef")) {
        if (ref.is_object()) add("configmaps", refNs, ref.value("name", ""));
      }
    }
    *authFingerprint = fp;
  }
  return buildTriggers(meta, triggers, options);
}

ScalerBuilder scalerBuilderFor(const ControllerContext& ctx, ResourceUsageSource* usage) {
  ScalerContext sc{ctx.clock, usage};
  return [sc](const BuiltTrigger& t) { return t.definition->createScaler(sc); };
}

}  // namespace updraft::kube
