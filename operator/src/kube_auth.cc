#include "updraft/operator/kube_auth.h"

#include <fmt/format.h>

#include <cctype>
#include <optional>
#include <string_view>

#include "updraft/parse.h"

namespace updraft::kube {
namespace {

using nlohmann::json;

// Safe accessors: API objects come from the cache as-is, and nlohmann's value() throws on a wrong
// type; a field of the wrong type reads as absent.
const json* member(const json& obj, std::string_view key) {
  if (!obj.is_object()) return nullptr;
  auto it = obj.find(key);
  return it == obj.end() ? nullptr : &*it;
}

std::string str(const json& obj, std::string_view key) {
  const json* v = member(obj, key);
  return v && v->is_string() ? v->get<std::string>() : std::string();
}

bool flag(const json& obj, std::string_view key) {
  const json* v = member(obj, key);
  return v && v->is_boolean() && v->get<bool>();
}

const json& arrayOrEmpty(const json* v) {
  static const json kEmpty = json::array();
  return v && v->is_array() ? *v : kEmpty;
}

// Secret .data is base64 ([]byte in the API). Errors never quote the input.
std::optional<std::string> base64Decode(std::string_view in) {
  static constexpr std::string_view kAlphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  int value = 0, bits = 0;
  for (char c : in) {
    if (c == '=' || c == '\n' || c == '\r') continue;
    auto pos = kAlphabet.find(c);
    if (pos == std::string_view::npos) return std::nullopt;
    value = ((value << 6) | static_cast<int>(pos)) & 0xffffff;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((value >> bits) & 0xff);
    }
  }
  return out;
}

enum class Source { kSecret, kConfigMap };

// One key of a Secret (decoded) or ConfigMap. NotFound names the object and key, never a value.
// `binaryData`: a ConfigMap key may also come from .binaryData (TA configMapTargetRef only; env
// and envFrom read .data as the kubelet does).
Result<std::string> readKey(const ObjectCache& cache, Source source, const std::string& ns,
                            const std::string& name, const std::string& key,
                            bool binaryData = false) {
  const bool secret = source == Source::kSecret;
  const char* resource = secret ? "secrets" : "configmaps";
  const char* what = secret ? "secret" : "configMap";
  auto obj = cache.get(resource, ns, name);
  if (!obj) {
    return Status::notFound(
        fmt::format("{} {}/{} not found{}", what, ns, name,
                    cache.watches(resource) ? "" : fmt::format(" ({} are not watched)", resource)));
  }
  const json* data = member(*obj, "data");
  const json* v = data ? member(*data, key) : nullptr;
  if (v && v->is_string()) {
    if (!secret) return v->get<std::string>();
    if (auto decoded = base64Decode(v->get_ref<const std::string&>())) return std::move(*decoded);
    return Status::invalidArgument(
        fmt::format("key \"{}\" of secret {}/{} is not valid base64", key, ns, name));
  }
  if (binaryData) {
    const json* bin = member(*obj, "binaryData");
    const json* b = bin ? member(*bin, key) : nullptr;
    if (b && b->is_string()) {
      if (auto decoded = base64Decode(b->get_ref<const std::string&>())) return std::move(*decoded);
    }
  }
  return Status::notFound(fmt::format("key \"{}\" not found in {} {}/{}", key, what, ns, name));
}

// All keys of a Secret (decoded) or ConfigMap .data, for envFrom.
Result<StringMap> readAll(const ObjectCache& cache, Source source, const std::string& ns,
                          const std::string& name) {
  const bool secret = source == Source::kSecret;
  const char* resource = secret ? "secrets" : "configmaps";
  auto obj = cache.get(resource, ns, name);
  if (!obj) {
    return Status::notFound(
        fmt::format("{} {}/{} not found", secret ? "secret" : "configMap", ns, name));
  }
  StringMap out;
  const json* data = member(*obj, "data");
  if (!data || !data->is_object()) return out;
  for (const auto& [k, v] : data->items()) {
    if (!v.is_string()) continue;
    if (!secret) {
      out[k] = v.get<std::string>();
    } else if (auto decoded = base64Decode(v.get_ref<const std::string&>())) {
      out[k] = std::move(*decoded);
    } else {
      return Status::invalidArgument(
          fmt::format("key \"{}\" of secret {}/{} is not valid base64", k, ns, name));
    }
  }
  return out;
}

// Kubernetes' $(VAR) expansion (third_party/forked/golang/expansion): "$$" is a literal "$", an
// undefined $(VAR) stays as written, an unclosed "$(" is kept.
std::string expand(const std::string& value, const StringMap& env) {
  std::string out;
  size_t checkpoint = 0;
  for (size_t cursor = 0; cursor < value.size(); ++cursor) {
    if (value[cursor] != '$' || cursor + 1 >= value.size()) continue;
    out.append(value, checkpoint, cursor - checkpoint);
    const char next = value[cursor + 1];
    size_t advance = 1;
    if (next == '$') {
      out += '$';
    } else if (next == '(') {
      size_t close = value.find(')', cursor + 2);
      if (close == std::string::npos) {
        out += "$(";
      } else {
        const std::string name = value.substr(cursor + 2, close - cursor - 2);
        auto it = env.find(name);
        out += it != env.end() ? it->second : "$(" + name + ")";
        advance = close - cursor;
      }
    } else {
      out += '$';
      out += next;
    }
    cursor += advance;
    checkpoint = cursor + 1;
  }
  out.append(value, checkpoint);
  return out;
}

// KEDA's resolveEnv for one container: envFrom first, then env[] in order.
Result<StringMap> resolveEnvOf(const json& container, const std::string& ns,
                               const ObjectCache& cache) {
  StringMap resolved;
  for (const json& from : arrayOrEmpty(member(container, "envFrom"))) {
    const std::string prefix = str(from, "prefix");
    const json* ref = member(from, "configMapRef");
    Source source = Source::kConfigMap;
    if (!ref) {
      ref = member(from, "secretRef");
      source = Source::kSecret;
    }
    if (!ref) continue;
    auto all = readAll(cache, source, ns, str(*ref, "name"));
    if (!all) {
      if (flag(*ref, "optional")) continue;
      return all.status().withContext("envFrom");
    }
    for (auto& [k, v] : *all) resolved[prefix + k] = std::move(v);
  }
  for (const json& var : arrayOrEmpty(member(container, "env"))) {
    const std::string name = str(var, "name");
    const std::string value = str(var, "value");
    const json* from = member(var, "valueFrom");
    if (!value.empty() || !from) {
      resolved[name] = expand(value, resolved);
      continue;
    }
    const json* ref = member(*from, "secretKeyRef");
    Source source = Source::kSecret;
    if (!ref) {
      ref = member(*from, "configMapKeyRef");
      source = Source::kConfigMap;
    }
    if (!ref) continue;  // fieldRef / resourceFieldRef: KEDA skips them
    auto v = readKey(cache, source, ns, str(*ref, "name"), str(*ref, "key"));
    if (!v) {
      if (flag(*ref, "optional")) continue;
      return v.status().withContext(fmt::format("env {}", name));
    }
    resolved[name] = std::move(*v);
  }
  return resolved;
}

std::string join(const std::vector<std::string>& items, std::string_view sep) {
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out += sep;
    out += items[i];
  }
  return out;
}

void addWarning(std::string* warning, const std::string& message) {
  if (!warning) return;
  if (!warning->empty()) *warning += "; ";
  *warning += message;
}

// KEDA's condition for each cloud provider: configured with at least one secret.
bool hasSecrets(const json& provider) {
  const json* secrets = member(provider, "secrets");
  return secrets && secrets->is_array() && !secrets->empty();
}

// Go's url.Values.Encode: keys sorted, query-escaped ("+" for space), joined with "&".
std::string urlEncode(const json& params) {
  auto escape = [](const std::string& s) {
    std::string out;
    for (unsigned char c : s) {
      if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
        out += static_cast<char>(c);
      } else if (c == ' ') {
        out += '+';
      } else {
        out += fmt::format("%{:02X}", c);
      }
    }
    return out;
  };
  std::string out;
  for (const auto& [k, v] : params.items()) {
    if (!v.is_string()) continue;
    if (!out.empty()) out += '&';
    out += escape(k) + "=" + escape(v.get<std::string>());
  }
  return out;
}

}  // namespace

KubeAuthResolver::KubeAuthResolver(const ObjectCache& cache,
                                   std::map<std::string, StringMap> containerEnv,
                                   std::vector<std::string> containerOrder, KubeAuthOptions options)
    : cache_(cache),
      containerEnv_(std::move(containerEnv)),
      containerOrder_(std::move(containerOrder)),
      options_(std::move(options)) {}

Result<ResolvedAuth> KubeAuthResolver::resolve(const std::string& ns, const ScaleTriggers& trigger,
                                               std::string* warning) {
  ResolvedAuth out;
  if (!trigger.authenticationRef || trigger.authenticationRef->name.empty() || ns.empty()) {
    return out;
  }
  const AuthenticationRef& ref = *trigger.authenticationRef;
  const bool cluster = ref.kind == "ClusterTriggerAuthentication";
  if (!cluster && !ref.kind.empty() && ref.kind != "TriggerAuthentication") {
    // KEDA: "unknown trigger auth kind" is logged like a missing TA.
    addWarning(warning, fmt::format("unknown authenticationRef kind \"{}\"; the trigger gets no "
                                    "auth parameters",
                                    ref.kind));
    return out;
  }
  const std::string kind = cluster ? "ClusterTriggerAuthentication" : "TriggerAuthentication";
  const std::string display =
      cluster ? fmt::format("{} {}", kind, ref.name) : fmt::format("{} {}/{}", kind, ns, ref.name);
  auto obj = cache_.get(cluster ? "clustertriggerauthentications" : "triggerauthentications",
                        cluster ? "" : ns, ref.name);
  if (!obj) {
    // KEDA QUIRK: a missing TA is only logged; the scaler then reports what it misses.
    addWarning(warning, fmt::format("{} \"{}\" not found{}; the trigger gets no auth parameters",
                                    kind, ref.name, cluster ? "" : " in namespace " + ns));
    return out;
  }
  Document doc = parseObject(*obj);
  const TriggerAuthentication* ta = doc.triggerAuthentication();
  if (!ta || !doc.ok() || ta->clusterScoped != cluster) {
    // Unreadable counts as missing in KEDA (the typed Get fails).
    std::string problems;
    for (const Problem& p : doc.errors) problems += (problems.empty() ? "" : ", ") + toString(p);
    addWarning(warning, fmt::format("{} is invalid ({}); the trigger gets no auth parameters",
                                    display, problems.empty() ? "not a " + kind : problems));
    return out;
  }
  const TriggerAuthenticationSpec& spec = ta->spec;

  // Providers that need a cloud API or the operator's file root: refuse clearly rather than
  // scaling on half the credentials.
  auto unsupported = [&](const char* provider) {
    return Status::failedPrecondition(
        fmt::format("{}: {} is not supported yet (supported: secretTargetRef, configMapTargetRef, "
                    "env, podIdentity, oauth2)",
                    display, provider));
  };
  if (hasSecrets(spec.hashiCorpVault)) return unsupported("hashiCorpVault");
  if (hasSecrets(spec.azureKeyVault)) return unsupported("azureKeyVault");
  if (hasSecrets(spec.gcpSecretManager)) return unsupported("gcpSecretManager");
  if (hasSecrets(spec.awsSecretManager)) return unsupported("awsSecretManager");
  if (spec.boundServiceAccountToken.is_array() && !spec.boundServiceAccountToken.empty()) {
    return unsupported("boundServiceAccountToken");
  }
  if (!spec.filePath.empty()) {
    if (!cluster) {
      return Status::invalidArgument(
          fmt::format("{}: filePath is only supported for ClusterTriggerAuthentication", display));
    }
    return unsupported("filePath");
  }

  if (spec.podIdentity) out.podIdentityProvider = spec.podIdentity->provider;
  StringMap& params = out.params;
  for (const EnvRef& e : spec.env) {
    params[e.parameter] = "";
    if (containerOrder_.empty()) {
      addWarning(warning, fmt::format("{}: env parameter \"{}\": the scale target has no pod "
                                      "template",
                                      display, e.parameter));
      continue;
    }
    const std::string& container = e.containerName.empty() ? containerOrder_[0] : e.containerName;
    auto it = containerEnv_.find(container);
    if (it == containerEnv_.end()) {
      addWarning(
          warning,
          fmt::format("{}: env parameter \"{}\": container \"{}\" not found (containers: {})",
                      display, e.parameter, container, join(containerOrder_, ", ")));
    } else if (auto v = it->second.find(e.name); v != it->second.end()) {
      params[e.parameter] = v->second;
    } else {
      addWarning(warning, fmt::format("{}: env parameter \"{}\": {} is not set in container \"{}\"",
                                      display, e.parameter, e.name, container));
    }
  }

  // KEDA reads a CTA's references from the cluster object namespace.
  const std::string& refNs = cluster ? options_.clusterObjectNamespace : ns;
  auto fromRef = [&](Source source, const std::string& parameter, const std::string& name,
                     const std::string& key) {
    auto v = readKey(cache_, source, refNs, name, key, source == Source::kConfigMap);
    if (!v) {
      // KEDA logs and resolves the parameter to "".
      addWarning(warning,
                 fmt::format("{}: parameter \"{}\": {}", display, parameter, v.status().message()));
    }
    params[parameter] = v ? std::move(*v) : std::string();
  };
  for (const SecretTargetRef& s : spec.configMapTargetRef) {
    fromRef(Source::kConfigMap, s.parameter, s.name, s.key);
  }
  for (const SecretTargetRef& s : spec.secretTargetRef) {
    fromRef(Source::kSecret, s.parameter, s.name, s.key);
  }
  if (spec.oauth2.is_object()) {
    const json* secretRef = member(spec.oauth2, "clientSecret");
    secretRef = secretRef ? member(*secretRef, "valueFrom") : nullptr;
    secretRef = secretRef ? member(*secretRef, "secretKeyRef") : nullptr;
    const json& sr = secretRef ? *secretRef : json::object();
    fromRef(Source::kSecret, "clientSecret", str(sr, "name"), str(sr, "key"));
    params["oauthTokenURI"] = str(spec.oauth2, "tokenUrl");
    params["clientID"] = str(spec.oauth2, "clientId");
    std::vector<std::string> scopes;
    for (const json& s : arrayOrEmpty(member(spec.oauth2, "scopes"))) {
      if (s.is_string()) scopes.push_back(s.get<std::string>());
    }
    if (!scopes.empty()) params["scopes"] = join(scopes, ",");
    const json* urlParams = member(spec.oauth2, "tokenUrlParams");
    if (urlParams && urlParams->is_object() && !urlParams->empty()) {
      params["endpointParams"] = urlEncode(*urlParams);
    }
  }
  return out;
}

Result<StringMap> resolveContainerEnv(const json& podSpec, const std::string& containerName,
                                      const std::string& ns, const ObjectCache& cache) {
  const json& containers = arrayOrEmpty(member(podSpec, "containers"));
  if (containers.empty()) return Status::notFound("the scale target has no containers");
  const json* container = containerName.empty() ? &containers[0] : nullptr;
  std::vector<std::string> names;
  for (const json& c : containers) {
    names.push_back(str(c, "name"));
    if (!container && names.back() == containerName) container = &c;
  }
  if (!container) {
    return Status::notFound(
        fmt::format("container \"{}\" not found in the scale target (containers: {})",
                    containerName, join(names, ", ")));
  }
  auto env = resolveEnvOf(*container, ns, cache);
  if (!env) {
    return env.status().withContext(fmt::format("container \"{}\"", str(*container, "name")));
  }
  return env;
}

Result<std::pair<std::map<std::string, StringMap>, std::vector<std::string>>>
resolveAllContainerEnv(const json& podSpec, const std::string& ns, const ObjectCache& cache) {
  std::pair<std::map<std::string, StringMap>, std::vector<std::string>> out;
  for (const json& c : arrayOrEmpty(member(podSpec, "containers"))) {
    const std::string name = str(c, "name");
    auto env = resolveEnvOf(c, ns, cache);
    if (!env) return env.status().withContext(fmt::format("container \"{}\"", name));
    out.first[name] = std::move(*env);
    out.second.push_back(name);
  }
  return out;
}

json podSpecOf(const json& workload) {
  const json* spec = member(workload, "spec");
  if (!spec) return nullptr;
  if (str(workload, "kind") == "ScaledJob") spec = member(*spec, "jobTargetRef");
  const json* tmpl = spec ? member(*spec, "template") : nullptr;
  const json* podSpec = tmpl ? member(*tmpl, "spec") : nullptr;
  return podSpec && podSpec->is_object() ? *podSpec : json(nullptr);
}

}  // namespace updraft::kube
