#include "kube_test_server/kube_support.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

extern char** environ;

namespace updraft::kubetest_test {

std::string serverBinary() {
  return std::string(UPDRAFT_BINARY_DIR) + "/tools/kube-test-apiserver/updraft-kube-test-apiserver";
}

std::string base64(const std::string& data) {
  static const char kTable[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < data.size(); i += 3) {
    uint32_t v = (static_cast<unsigned char>(data[i]) << 16) |
                 (static_cast<unsigned char>(data[i + 1]) << 8) |
                 static_cast<unsigned char>(data[i + 2]);
    for (int s : {18, 12, 6, 0}) out += kTable[(v >> s) & 63];
  }
  if (size_t left = data.size() - i; left > 0) {
    uint32_t v = static_cast<unsigned char>(data[i]) << 16;
    if (left == 2) v |= static_cast<unsigned char>(data[i + 1]) << 8;
    out += kTable[(v >> 18) & 63];
    out += kTable[(v >> 12) & 63];
    out += left == 2 ? kTable[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

std::string readFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TempDir::TempDir() {
  char tmpl[] = "/tmp/updraft-kube-test-XXXXXX";
  if (!mkdtemp(tmpl)) throw std::runtime_error("mkdtemp failed");
  path_ = tmpl;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::string TempDir::write(const std::string& name, const std::string& content) const {
  std::string p = path_ + "/" + name;
  std::ofstream(p, std::ios::binary) << content;
  return p;
}

namespace {

std::vector<char*> toArgv(const std::vector<std::string>& args) {
  std::vector<char*> v;
  for (const auto& a : args) v.push_back(const_cast<char*>(a.c_str()));
  v.push_back(nullptr);
  return v;
}

int decode(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

}  // namespace

ServerProcess::ServerProcess(const std::string& dir, std::vector<std::string> extraArgs) {
  certDir_ = dir + "/certs";
  std::vector<std::string> args = {serverBinary(), "--port",  "0",         "--cert-dir",
                                   certDir_,       "--token", "test-token"};
  args.insert(args.end(), extraArgs.begin(), extraArgs.end());
  int out[2];
  if (pipe(out)) throw std::runtime_error("pipe failed");
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, out[1], 1);
  posix_spawn_file_actions_addclose(&fa, out[0]);
  posix_spawn_file_actions_addclose(&fa, out[1]);
  auto argv = toArgv(args);
  pid_t pid;
  if (posix_spawn(&pid, argv[0], &fa, nullptr, argv.data(), environ) != 0) {
    throw std::runtime_error("cannot start " + args[0]);
  }
  posix_spawn_file_actions_destroy(&fa);
  close(out[1]);
  pid_ = pid;
  outFd_ = out[0];
  std::string text;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (text.find('\n') == std::string::npos && std::chrono::steady_clock::now() < deadline) {
    pollfd p{outFd_, POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    char buf[4096];
    ssize_t n = ::read(outFd_, buf, sizeof buf);
    if (n <= 0) break;
    text.append(buf, static_cast<size_t>(n));
  }
  std::string first = text.substr(0, text.find('\n'));
  if (first.rfind("listening=", 0) != 0) {
    stop();
    throw std::runtime_error("the server did not start: \"" + text + "\"");
  }
  url_ = first.substr(std::string("listening=").size());
}

ServerProcess::~ServerProcess() { stop(); }

int ServerProcess::stop() {
  if (pid_ <= 0) return -1;
  kill(pid_, SIGTERM);
  int status = 0;
  int code = -1;
  for (int i = 0; i < 200; ++i) {
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      code = decode(status);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  if (code < 0) {
    kill(pid_, SIGKILL);
    waitpid(pid_, &status, 0);
    code = decode(status);
  }
  pid_ = -1;
  if (outFd_ >= 0) close(outFd_);
  outFd_ = -1;
  return code;
}

nlohmann::json Response::json() const { return nlohmann::json::parse(body, nullptr, false); }

std::string Response::header(const std::string& lowerName) const {
  for (const auto& [k, v] : headers) {
    if (k == lowerName) return v;
  }
  return "";
}

Client::Client(std::string base, std::string caFile, std::string token)
    : base_(std::move(base)), caFile_(std::move(caFile)), token_(std::move(token)) {}

void Client::useClientCert(const std::string& certFile, const std::string& keyFile) {
  certFile_ = certFile;
  keyFile_ = keyFile;
  token_.clear();
}

namespace {

size_t appendBody(char* data, size_t size, size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}

size_t appendHeader(char* data, size_t size, size_t n, void* out) {
  std::string line(data, size * n);
  auto colon = line.find(':');
  if (colon != std::string::npos) {
    std::string name = line.substr(0, colon);
    std::transform(name.begin(), name.end(), name.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    std::string value = line.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ')) value.erase(value.begin());
    while (!value.empty() && (value.back() == '\r' || value.back() == '\n')) value.pop_back();
    static_cast<std::vector<std::pair<std::string, std::string>>*>(out)->emplace_back(name, value);
  }
  return size * n;
}

// A configured easy handle and its header list (caller frees both).
CURL* makeHandle(const Client& c, const std::string& method, const std::string& url,
                 curl_slist** headers) {
  CURL* h = curl_easy_init();
  curl_easy_setopt(h, CURLOPT_URL, url.c_str());
  curl_easy_setopt(h, CURLOPT_CAINFO, c.caFile().c_str());
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method.c_str());
  if (!c.certFile().empty()) {
    curl_easy_setopt(h, CURLOPT_SSLCERT, c.certFile().c_str());
    curl_easy_setopt(h, CURLOPT_SSLKEY, c.keyFile().c_str());
  }
  if (!c.token().empty()) {
    *headers = curl_slist_append(*headers, ("Authorization: Bearer " + c.token()).c_str());
  }
  *headers = curl_slist_append(*headers, "Accept: application/json");
  curl_easy_setopt(h, CURLOPT_USERAGENT, "kube-test-server-test/1.0");
  return h;
}

}  // namespace

Response Client::request(const std::string& method, const std::string& path,
                         const std::string& body, const std::string& contentType) const {
  curl_slist* headers = nullptr;
  CURL* h = makeHandle(*this, method, base_ + path, &headers);
  Response r;
  if (!body.empty() || method == "POST" || method == "PUT" || method == "PATCH") {
    headers = curl_slist_append(headers, ("Content-Type: " + contentType).c_str());
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body.c_str());
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
  }
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, appendBody);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &r.body);
  curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, appendHeader);
  curl_easy_setopt(h, CURLOPT_HEADERDATA, &r.headers);
  curl_easy_setopt(h, CURLOPT_TIMEOUT, 30L);
  CURLcode rc = curl_easy_perform(h);
  if (rc == CURLE_OK) curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r.code);
  curl_easy_cleanup(h);
  curl_slist_free_all(headers);
  if (rc != CURLE_OK) r.body = std::string("curl: ") + curl_easy_strerror(rc);
  return r;
}

WatchStream::WatchStream(const Client& client, const std::string& pathAndQuery) {
  std::string url = client.base() + pathAndQuery;
  thread_ = std::thread([this, client, url] {
    curl_slist* headers = nullptr;
    CURL* h = makeHandle(client, "GET", url, &headers);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, onData);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, this);
    curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, onProgress);
    curl_easy_setopt(h, CURLOPT_XFERINFODATA, this);
    CURLcode rc = curl_easy_perform(h);
    long code = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_cleanup(h);
    curl_slist_free_all(headers);
    std::lock_guard lock(mu_);
    result_ = rc;
    code_ = code;
    ended_ = true;
    cv_.notify_all();
  });
}

WatchStream::~WatchStream() {
  abort_ = true;
  thread_.join();
}

size_t WatchStream::onData(char* data, size_t size, size_t n, void* self) {
  auto* w = static_cast<WatchStream*>(self);
  std::lock_guard lock(w->mu_);
  w->partial_.append(data, size * n);
  size_t nl;
  while ((nl = w->partial_.find('\n')) != std::string::npos) {
    std::string line = w->partial_.substr(0, nl);
    w->partial_.erase(0, nl + 1);
    if (!line.empty()) w->events_.push_back(json::parse(line, nullptr, false));
  }
  w->cv_.notify_all();
  return size * n;
}

int WatchStream::onProgress(void* self, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  return static_cast<WatchStream*>(self)->abort_ ? 1 : 0;
}

std::optional<json> WatchStream::next(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  cv_.wait_for(lock, timeout, [&] { return !events_.empty() || ended_; });
  if (events_.empty()) return std::nullopt;
  json e = std::move(events_.front());
  events_.pop_front();
  return e;
}

std::optional<json> WatchStream::nextChange(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return std::nullopt;
    auto e = next(left);
    if (!e || (*e)["type"] != "BOOKMARK") return e;
  }
}

bool WatchStream::waitEnd(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  return cv_.wait_for(lock, timeout, [&] { return ended_; });
}

json configMap(const std::string& name, const json& labels, const json& data) {
  return {{"apiVersion", "v1"},
          {"kind", "ConfigMap"},
          {"metadata", {{"name", name}, {"labels", labels}}},
          {"data", data}};
}

json deployment(const std::string& name, int replicas, const std::string& app) {
  return {{"apiVersion", "apps/v1"},
          {"kind", "Deployment"},
          {"metadata", {{"name", name}, {"labels", {{"app", app}}}}},
          {"spec",
           {{"replicas", replicas},
            {"selector",
             {{"matchLabels", {{"app", app}}},
              {"matchExpressions",
               {{{"key", "tier"}, {"operator", "In"}, {"values", {"web", "api"}}}}}}},
            {"template",
             {{"metadata", {{"labels", {{"app", app}, {"tier", "web"}}}}},
              {"spec",
               {{"containers",
                 {{{"name", "main"},
                   {"image", "busybox:1"},
                   {"env", {{{"name", "A"}, {"value", "1"}}, {{"name", "B"}, {"value", "2"}}}}},
                  {{"name", "sidecar"}, {"image", "envoy:1"}}}}}}}}}}};
}

json scaledObjectCrd() {
  return {{"apiVersion", "apiextensions.k8s.io/v1"},
          {"kind", "CustomResourceDefinition"},
          {"metadata", {{"name", "scaledobjects.keda.sh"}}},
          {"spec",
           {{"group", "keda.sh"},
            {"names",
             {{"kind", "ScaledObject"},
              {"listKind", "ScaledObjectList"},
              {"plural", "scaledobjects"},
              {"singular", "scaledobject"},
              {"shortNames", {"so"}}}},
            {"scope", "Namespaced"},
            {"versions",
             {{{"name", "v1alpha1"},
               {"served", true},
               {"storage", true},
               {"schema",
                {{"openAPIV3Schema",
                  {{"type", "object"}, {"x-kubernetes-preserve-unknown-fields", true}}}}},
               {"subresources", {{"status", json::object()}}}}}}}}};
}

json widgetCrd(const std::string& scope) {
  return {{"apiVersion", "apiextensions.k8s.io/v1"},
          {"kind", "CustomResourceDefinition"},
          {"metadata", {{"name", "widgets.example.com"}}},
          {"spec",
           {{"group", "example.com"},
            {"names", {{"kind", "Widget"}, {"plural", "widgets"}}},
            {"scope", scope},
            {"versions",
             {{{"name", "v1"},
               {"served", true},
               {"storage", true},
               {"subresources",
                {{"status", json::object()},
                 {"scale",
                  {{"specReplicasPath", ".spec.size"},
                   {"statusReplicasPath", ".status.size"},
                   {"labelSelectorPath", ".status.selector"}}}}}}}}}}};
}

std::string findOnPath(const std::string& name) {
  const char* path = std::getenv("PATH");
  if (!path) return "";
  std::stringstream ss(path);
  std::string dir;
  while (std::getline(ss, dir, ':')) {
    std::string candidate = dir + "/" + name;
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return "";
}

CommandResult run(const std::vector<std::string>& args, std::chrono::seconds timeout) {
  CommandResult r;
  int out[2];
  if (pipe(out)) throw std::runtime_error("pipe failed");
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, out[1], 1);
  posix_spawn_file_actions_adddup2(&fa, out[1], 2);
  posix_spawn_file_actions_addclose(&fa, out[0]);
  posix_spawn_file_actions_addclose(&fa, out[1]);
  auto argv = toArgv(args);
  pid_t pid;
  if (posix_spawnp(&pid, argv[0], &fa, nullptr, argv.data(), environ) != 0) {
    posix_spawn_file_actions_destroy(&fa);
    close(out[0]);
    close(out[1]);
    r.output = "cannot start " + args[0];
    return r;
  }
  posix_spawn_file_actions_destroy(&fa);
  close(out[1]);
  auto deadline = std::chrono::steady_clock::now() + timeout;
  char buf[8192];
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd p{out[0], POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    ssize_t n = ::read(out[0], buf, sizeof buf);
    if (n <= 0) break;
    r.output.append(buf, static_cast<size_t>(n));
  }
  close(out[0]);
  int status = 0;
  if (waitpid(pid, &status, WNOHANG) != pid) {
    if (std::chrono::steady_clock::now() >= deadline) kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
  }
  r.exitCode = decode(status);
  return r;
}

}  // namespace updraft::kubetest_test
