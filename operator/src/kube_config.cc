// KubeConfig: in-cluster service account files and kubeconfig files (hpa-and-kube-api.md §3.10,
// §3.11).
#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "file_text.h"
#include "updraft/operator/kube_client.h"

namespace updraft::kube {
namespace {

Result<std::string> readFile(const std::string& path, const char* what) {
  auto text = readFileText(path);
  if (!text) return Status::notFound(fmt::format("cannot read the {} {}", what, path));
  return std::move(*text);
}

Result<std::string> base64Decode(std::string_view in, const std::string& field) {
  static const std::string kAlphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  int value = 0, bits = 0;
  for (char c : in) {
    if (c == '=' || c == '\n' || c == '\r' || c == ' ') continue;
    auto pos = kAlphabet.find(c);
    if (pos == std::string::npos) {
      return Status::invalidArgument(field + " is not valid base64");
    }
    value = (value << 6) | static_cast<int>(pos);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((value >> bits) & 0xff);
    }
  }
  return out;
}

// One merged view of the kubeconfig files: the first file to define a name wins.
struct Merged {
  std::map<std::string, std::pair<YAML::Node, std::string>> clusters, users;  // node, file dir
  std::map<std::string, YAML::Node> contexts;
  std::string currentContext;
};

Status mergeFile(Merged& m, const std::string& path) {
  YAML::Node root;
  try {
    root = YAML::LoadFile(path);
  } catch (const std::exception& e) {
    return Status::invalidArgument(fmt::format("kubeconfig {}: {}", path, e.what()));
  }
  const std::string dir = std::filesystem::absolute(path).parent_path().string();
  auto named = [&](const char* list, const char* inner, auto& into, bool withDir) -> Status {
    if (!root[list]) return Status::ok();
    if (!root[list].IsSequence()) {
      return Status::invalidArgument(fmt::format("kubeconfig {}: {} must be a list", path, list));
    }
    for (const auto& item : root[list]) {
      if (!item.IsMap() || !item["name"]) continue;
      const std::string name = item["name"].as<std::string>();
      if constexpr (std::is_same_v<std::decay_t<decltype(into)>,
                                   std::map<std::string, YAML::Node>>) {
        (void)withDir;
        into.emplace(name, item[inner]);
      } else {
        into.emplace(name, std::make_pair(item[inner], dir));
      }
    }
    return Status::ok();
  };
  try {
    UPDRAFT_RETURN_IF_ERROR(named("clusters", "cluster", m.clusters, true));
    UPDRAFT_RETURN_IF_ERROR(named("users", "user", m.users, true));
    UPDRAFT_RETURN_IF_ERROR(named("contexts", "context", m.contexts, false));
    if (m.currentContext.empty() && root["current-context"]) {
      m.currentContext = root["current-context"].as<std::string>();
    }
  } catch (const std::exception& e) {
    return Status::invalidArgument(fmt::format("kubeconfig {}: {}", path, e.what()));
  }
  return Status::ok();
}

std::string str(const YAML::Node& n, const char* key) {
  if (!n || !n.IsMap() || !n[key] || !n[key].IsScalar()) return "";
  return n[key].as<std::string>();
}

std::string resolvePath(const std::string& path, const std::string& dir) {
  if (path.empty() || std::filesystem::path(path).is_absolute()) return path;
  return (std::filesystem::path(dir) / path).string();
}

// `<field>-data` (base64) or `<field>` (a file path).
Result<std::string> pemFrom(const YAML::Node& n, const std::string& field, const std::string& dir) {
  if (auto data = str(n, (field + "-data").c_str()); !data.empty()) {
    return base64Decode(data, field + "-data");
  }
  if (auto file = str(n, field.c_str()); !file.empty()) {
    return readFile(resolvePath(file, dir), field.c_str());
  }
  return std::string();
}

}  // namespace

Result<KubeConfig> KubeConfig::inCluster(const std::string& root) {
  const char* host = std::getenv("KUBERNETES_SERVICE_HOST");
  const char* port = std::getenv("KUBERNETES_SERVICE_PORT");
  if (!host || !port || !*host || !*port) {
    return Status::failedPrecondition(
        "not running in a cluster: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not "
        "set");
  }
  KubeConfig c;
  std::string h = host;
  if (h.find(':') != std::string::npos) h = "[" + h + "]";  // IPv6
  c.server = fmt::format("https://{}:{}", h, port);
  c.tokenFile = root + "/token";
  c.caFile = root + "/ca.crt";
  auto token = readFile(c.tokenFile, "service account token");
  if (!token.isOk()) return token.status();
  if (!std::filesystem::exists(c.caFile)) {
    return Status::notFound("cannot read the cluster CA " + c.caFile);
  }
  if (auto ns = readFile(root + "/namespace", "namespace file"); ns.isOk()) {
    c.namespace_ = trimTrailing(*ns);
  }
  return c;
}

Result<KubeConfig> KubeConfig::fromKubeconfig(const std::string& paths,
                                              const std::string& context) {
  Merged m;
  std::stringstream list(paths);
  std::string path;
  int files = 0;
  while (std::getline(list, path, ':')) {
    if (path.empty()) continue;
    if (!std::filesystem::exists(path)) continue;  // as kubectl: missing entries are skipped
    UPDRAFT_RETURN_IF_ERROR(mergeFile(m, path));
    ++files;
  }
  if (files == 0) return Status::notFound("no kubeconfig file found in " + paths);
  const std::string ctxName = context.empty() ? m.currentContext : context;
  if (ctxName.empty())
    return Status::invalidArgument("kubeconfig: no current-context and none given");
  auto ctx = m.contexts.find(ctxName);
  if (ctx == m.contexts.end()) {
    return Status::notFound(fmt::format("kubeconfig: no context named \"{}\"", ctxName));
  }
  const std::string clusterName = str(ctx->second, "cluster");
  const std::string userName = str(ctx->second, "user");
  auto cluster = m.clusters.find(clusterName);
  if (cluster == m.clusters.end()) {
    return Status::notFound(fmt::format("kubeconfig: context \"{}\" names no known cluster \"{}\"",
                                        ctxName, clusterName));
  }
  KubeConfig c;
  const YAML::Node& cl = cluster->second.first;
  c.server = str(cl, "server");
  while (!c.server.empty() && c.server.back() == '/') c.server.pop_back();
  if (c.server.empty()) {
    return Status::invalidArgument(
        fmt::format("kubeconfig: cluster \"{}\" has no server", clusterName));
  }
  auto ca = pemFrom(cl, "certificate-authority", cluster->second.second);
  if (!ca.isOk()) return ca.status().withContext("kubeconfig cluster " + clusterName);
  c.caPem = *ca;
  c.insecureSkipVerify = str(cl, "insecure-skip-tls-verify") == "true";
  c.tlsServerName = str(cl, "tls-server-name");
  c.namespace_ = str(ctx->second, "namespace");
  if (auto user = m.users.find(userName); user != m.users.end()) {
    const YAML::Node& u = user->second.first;
    const std::string& dir = user->second.second;
    c.token = str(u, "token");
    c.tokenFile = resolvePath(str(u, "tokenFile"), dir);
    auto cert = pemFrom(u, "client-certificate", dir);
    if (!cert.isOk()) return cert.status().withContext("kubeconfig user " + userName);
    auto key = pemFrom(u, "client-key", dir);
    if (!key.isOk()) return key.status().withContext("kubeconfig user " + userName);
    c.clientCertPem = *cert;
    c.clientKeyPem = *key;
    if (u && u.IsMap() && u["exec"]) {
      return Status::invalidArgument(fmt::format(
          "kubeconfig user \"{}\": exec credential plugins are not supported; use a token or a "
          "client certificate",
          userName));
    }
  }
  return c;
}

Result<KubeConfig> KubeConfig::load(const std::string& kubeconfig, const std::string& context) {
  if (!kubeconfig.empty()) return fromKubeconfig(kubeconfig, context);
  if (const char* env = std::getenv("KUBECONFIG"); env && *env) return fromKubeconfig(env, context);
  if (const char* host = std::getenv("KUBERNETES_SERVICE_HOST"); host && *host) return inCluster();
  const char* home = std::getenv("HOME");
  return fromKubeconfig(std::string(home ? home : "") + "/.kube/config", context);
}

}  // namespace updraft::kube
