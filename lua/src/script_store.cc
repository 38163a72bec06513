#include "updraft/lua/script_store.h"

#include <fmt/format.h>
#include <openssl/evp.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <lua.hpp>
#include <sstream>

#include "updraft/lua/sandbox.h"

namespace updraft::lua {
namespace {

// Scripts are small programs; a larger file is almost certainly the wrong file.
constexpr uintmax_t kMaxScriptBytes = 1u << 20;

std::string sha256Hex(std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_Digest(data.data(), data.size(), md, &n, EVP_sha256(), nullptr);
  static const char* kDigits = "0123456789abcdef";
  std::string out;
  out.reserve(n * 2);
  for (unsigned i = 0; i < n; ++i) {
    out += kDigits[md[i] >> 4];
    out += kDigits[md[i] & 15];
  }
  return out;
}

Result<std::string> readScriptFile(const std::string& path) {
  std::error_code ec;
  auto size = std::filesystem::file_size(path, ec);
  if (ec) return Status::notFound(fmt::format("cannot read {}: {}", path, ec.message()));
  if (size > kMaxScriptBytes) {
    return Status::invalidArgument(fmt::format("{} is {} bytes; scripts are limited to {} bytes",
                                               path, size, kMaxScriptBytes));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::notFound(fmt::format("cannot read {}: {}", path, std::strerror(errno)));
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return Status::unavailable(fmt::format("cannot read {}", path));
  return text.str();
}

// The script's optional self-check: `function check() ... end` returning nothing/true passes; an
// error or `false [, reason]` refuses the version.
Status runSelfCheck(Sandbox& sb) {
  if (!sb.hasFunction("check")) return Status::ok();
  std::string refusal;
  Status s = sb.call(
      "check", [](lua_State*) { return 0; },
      [&](lua_State* L, int n) -> Status {
        if (n >= 1 && lua_type(L, 1) == LUA_TBOOLEAN && !lua_toboolean(L, 1)) {
          refusal = n >= 2 && lua_type(L, 2) == LUA_TSTRING ? lua_tostring(L, 2) : "returned false";
        }
        return Status::ok();
      });
  if (!s.isOk()) return Status::invalidArgument("check() failed: " + s.message());
  if (!refusal.empty()) return Status::invalidArgument("check() refused the script: " + refusal);
  return Status::ok();
}

Status requireFunctions(const CompiledScript& script, const std::set<std::string>& required) {
  for (const auto& fn : required) {
    if (!script.functions.count(fn)) {
      return Status::invalidArgument(
          fmt::format("{}: must define a global function {}()", script.chunkName, fn));
    }
  }
  return Status::ok();
}

}  // namespace

// ---- ScriptCache ----

ScriptCache& ScriptCache::global() {
  static ScriptCache cache;
  return cache;
}

Result<std::shared_ptr<const CompiledScript>> ScriptCache::compile(
    std::string_view source, const std::string& chunkName,
    const std::set<std::string>& requiredFunctions) {
  const std::string hash = sha256Hex(source);
  const std::string key = hash + '\n' + chunkName;
  // Held while compiling: one compilation per content even when many objects start at once.
  std::lock_guard lock(mutex_);
  if (auto it = byKey_.find(key); it != byKey_.end()) {
    if (auto script = it->second.lock()) {
      UPDRAFT_RETURN_IF_ERROR(requireFunctions(*script, requiredFunctions));
      return script;
    }
  }
  ++compilations_;
  SandboxOptions options;
  options.chunkName = chunkName;
  options.allowIo = false;  // checking a version never talks to the outside (validate, reloads)
  auto sb = Sandbox::create(options);
  if (!sb.isOk()) return sb.status();
  auto bytecode = (*sb)->compile(source);
  if (!bytecode.isOk()) return bytecode.status();
  UPDRAFT_RETURN_IF_ERROR((*sb)->loadCompiled(*bytecode));
  auto script = std::make_shared<CompiledScript>();
  script->hash = hash;
  script->chunkName = chunkName;
  script->source = std::string(source);
  script->bytecode = std::move(*bytecode);
  for (auto& fn : (*sb)->globalFunctions()) script->functions.insert(std::move(fn));
  UPDRAFT_RETURN_IF_ERROR(requireFunctions(*script, requiredFunctions));
  UPDRAFT_RETURN_IF_ERROR(runSelfCheck(**sb));
  // Forget entries whose users are all gone, so the map does not grow with every edit.
  for (auto it = byKey_.begin(); it != byKey_.end();) {
    it = it->second.expired() ? byKey_.erase(it) : std::next(it);
  }
  byKey_[key] = script;
  return std::shared_ptr<const CompiledScript>(std::move(script));
}

// ---- ScriptHandle ----

ScriptHandle::ScriptHandle(std::string name, std::set<std::string> required)
    : name_(std::move(name)), required_(std::move(required)) {}

std::shared_ptr<const CompiledScript> ScriptHandle::current() const {
  std::lock_guard lock(mutex_);
  return current_;
}

std::string ScriptHandle::error() const {
  std::lock_guard lock(mutex_);
  return error_;
}

// ---- ScriptStore ----

ScriptStore& ScriptStore::global() {
  static ScriptStore store;
  return store;
}

ScriptStore::ScriptStore() : ScriptStore(Options{}) {}

ScriptStore::ScriptStore(Options options) : options_(options) {}

ScriptStore::~ScriptStore() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (watcher_.joinable()) watcher_.join();
}

Result<std::shared_ptr<ScriptHandle>> ScriptStore::openInline(
    std::string_view source, const std::string& chunkName, const std::set<std::string>& required) {
  auto script = ScriptCache::global().compile(source, chunkName, required);
  if (!script.isOk()) return script.status();
  auto handle = std::make_shared<ScriptHandle>("inline script", required);
  handle->current_ = *script;
  handle->lastSeenHash_ = (*script)->hash;
  handle->generation_ = 1;
  return handle;
}

Result<std::shared_ptr<ScriptHandle>> ScriptStore::openFile(const std::string& path,
                                                            const std::set<std::string>& required) {
  const std::string abs = std::filesystem::absolute(path).lexically_normal().string();
  std::lock_guard watchLock(watchMutex_);
  std::shared_ptr<ScriptHandle> handle;
  {
    std::lock_guard lock(mutex_);
    if (auto it = files_.find(abs); it != files_.end()) handle = it->second.lock();
  }
  if (handle) {
    // Another object already uses this file: its newest good version must also serve this caller.
    auto current = handle->current();
    std::lock_guard lock(handle->mutex_);
    if (current) UPDRAFT_RETURN_IF_ERROR(requireFunctions(*current, required));
    handle->required_.insert(required.begin(), required.end());
    return handle;
  }
  handle = std::make_shared<ScriptHandle>("file " + abs, required);
  handle->path_ = abs;
  struct stat st {};
  if (::stat(abs.c_str(), &st) == 0) {
    handle->stamp_ = {true,
                      static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec,
                      static_cast<int64_t>(st.st_ctim.tv_sec) * 1000000000 + st.st_ctim.tv_nsec,
                      static_cast<uint64_t>(st.st_size), static_cast<uint64_t>(st.st_ino)};
  }
  auto text = readScriptFile(abs);
  if (!text.isOk()) return text.status();
  const std::string chunkName = std::filesystem::path(abs).filename().string();
  auto script = ScriptCache::global().compile(*text, chunkName, required);
  if (!script.isOk()) return script.status();
  handle->current_ = *script;
  handle->lastSeenHash_ = (*script)->hash;
  handle->generation_ = 1;
  {
    std::lock_guard lock(mutex_);
    files_[abs] = handle;
    ensureWatcher();
  }
  return handle;
}

std::shared_ptr<ScriptHandle> ScriptStore::openConfigMap(const std::string& ns,
                                                         const std::string& name,
                                                         const std::string& key,
                                                         const std::set<std::string>& required) {
  const std::string id = ns + "/" + name + "/" + key;
  std::lock_guard watchLock(watchMutex_);
  std::shared_ptr<ScriptHandle> handle;
  std::optional<std::string> source;
  {
    std::lock_guard lock(mutex_);
    if (auto it = configMaps_.find(id); it != configMaps_.end()) handle = it->second.lock();
    if (handle) {
      std::lock_guard hl(handle->mutex_);
      handle->required_.insert(required.begin(), required.end());
      return handle;
    }
    handle = std::make_shared<ScriptHandle>(fmt::format("ConfigMap {}/{} key {}", ns, name, key),
                                            required);
    handle->error_ = fmt::format("waiting for ConfigMap {}/{} (key {})", ns, name, key);
    configMaps_[id] = handle;
    if (auto d = configMapData_.find(ns + "/" + name); d != configMapData_.end()) {
      if (auto k = d->second.find(key); k != d->second.end()) source = k->second;
    }
  }
  if (source) offer(*handle, *source, name + "/" + key);
  return handle;
}

void ScriptStore::putConfigMap(const std::string& ns, const std::string& name,
                               const StringMap& data) {
  std::lock_guard watchLock(watchMutex_);
  const std::string prefix = ns + "/" + name + "/";
  std::vector<std::pair<std::string, std::shared_ptr<ScriptHandle>>> users;
  {
    std::lock_guard lock(mutex_);
    configMapData_[ns + "/" + name] = data;
    for (auto it = configMaps_.lower_bound(prefix);
         it != configMaps_.end() && it->first.compare(0, prefix.size(), prefix) == 0;) {
      if (auto h = it->second.lock()) {
        users.emplace_back(it->first.substr(prefix.size()), std::move(h));
        ++it;
      } else {
        it = configMaps_.erase(it);
      }
    }
  }
  for (auto& [key, handle] : users) {
    if (auto k = data.find(key); k != data.end()) {
      offer(*handle, k->second, name + "/" + key);
    } else {
      refuse(*handle, fmt::format("ConfigMap {}/{} has no key {}", ns, name, key));
    }
  }
}

void ScriptStore::deleteConfigMap(const std::string& ns, const std::string& name) {
  std::lock_guard watchLock(watchMutex_);
  const std::string prefix = ns + "/" + name + "/";
  std::vector<std::shared_ptr<ScriptHandle>> users;
  {
    std::lock_guard lock(mutex_);
    configMapData_.erase(ns + "/" + name);
    for (auto it = configMaps_.lower_bound(prefix);
         it != configMaps_.end() && it->first.compare(0, prefix.size(), prefix) == 0; ++it) {
      if (auto h = it->second.lock()) users.push_back(std::move(h));
    }
  }
  for (auto& handle : users) {
    refuse(*handle, fmt::format("ConfigMap {}/{} was deleted", ns, name));
  }
}

void ScriptStore::offer(ScriptHandle& handle, const std::string& source,
                        const std::string& chunkName) {
  const std::string hash = sha256Hex(source);
  std::set<std::string> required;
  bool recovered = false;
  {
    std::lock_guard lock(handle.mutex_);
    const bool isCurrent = handle.current_ && handle.current_->hash == hash;
    if (hash == handle.lastSeenHash_ || isCurrent) {
      // Same content as before (a file touched, a ConfigMap resynced, a bad edit reverted).
      handle.lastSeenHash_ = hash;
      recovered = isCurrent && !handle.error_.empty();
      if (isCurrent) handle.error_.clear();
      if (!recovered) return;
    }
    handle.lastSeenHash_ = hash;
    required = handle.required_;
  }
  if (recovered) {
    spdlog::info("lua: {} is back to the running version {}", handle.name(), hash.substr(0, 12));
    notify({handle.name(), true, hash, ""});
    return;
  }
  auto script = ScriptCache::global().compile(source, chunkName, required);
  if (!script.isOk()) {
    refuse(handle, script.status().message());
    return;
  }
  std::string previous;
  {
    std::lock_guard lock(handle.mutex_);
    previous = handle.current_ ? handle.current_->shortHash() : "";
    handle.current_ = *script;
    handle.error_.clear();
    handle.generation_.fetch_add(1, std::memory_order_acq_rel);
  }
  if (previous.empty()) {
    spdlog::info("lua: {} loaded (version {})", handle.name(), (*script)->shortHash());
  } else {
    spdlog::info("lua: {} reloaded: version {} replaces {}", handle.name(), (*script)->shortHash(),
                 previous);
  }
  notify({handle.name(), true, (*script)->hash, ""});
}

void ScriptStore::refuse(ScriptHandle& handle, const std::string& error) {
  std::string kept;
  {
    std::lock_guard lock(handle.mutex_);
    if (handle.current_) kept = handle.current_->hash;
    handle.error_ = error;
  }
  if (kept.empty()) {
    spdlog::error("lua: {}: {}; no version is loaded", handle.name(), error);
  } else {
    spdlog::error("lua: {}: {}; version {} keeps running", handle.name(), error,
                  kept.substr(0, 12));
  }
  notify({handle.name(), false, kept, error});
}

void ScriptStore::notify(const ReloadEvent& event) {
  std::vector<Listener> listeners;
  {
    std::lock_guard lock(mutex_);
    for (const auto& [id, l] : listeners_) listeners.push_back(l);
  }
  for (const auto& l : listeners) l(event);
}

int ScriptStore::addListener(Listener listener) {
  std::lock_guard lock(mutex_);
  listeners_[nextListener_] = std::move(listener);
  return nextListener_++;
}

void ScriptStore::removeListener(int id) {
  std::lock_guard lock(mutex_);
  listeners_.erase(id);
}

void ScriptStore::checkFilesNow() {
  std::lock_guard watchLock(watchMutex_);
  std::vector<std::shared_ptr<ScriptHandle>> handles;
  {
    std::lock_guard lock(mutex_);
    for (auto it = files_.begin(); it != files_.end();) {
      if (auto h = it->second.lock()) {
        handles.push_back(std::move(h));
        ++it;
      } else {
        it = files_.erase(it);
      }
    }
  }
  for (auto& h : handles) {
    ScriptHandle::FileStamp stamp;
    struct stat st {};
    if (::stat(h->path_.c_str(), &st) == 0) {
      stamp = {true, static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec,
               static_cast<int64_t>(st.st_ctim.tv_sec) * 1000000000 + st.st_ctim.tv_nsec,
               static_cast<uint64_t>(st.st_size), static_cast<uint64_t>(st.st_ino)};
    }
    if (stamp == h->stamp_) continue;
    h->stamp_ = stamp;
    if (!stamp.exists) {
      {
        std::lock_guard lock(h->mutex_);
        h->lastSeenHash_.clear();  // the same content coming back must be offered again
      }
      refuse(*h, "the file was deleted");
      continue;
    }
    auto text = readScriptFile(h->path_);
    if (!text.isOk()) {
      refuse(*h, text.status().message());
      continue;
    }
    offer(*h, *text, std::filesystem::path(h->path_).filename().string());
  }
}

void ScriptStore::ensureWatcher() {
  // mutex_ is held.
  if (watcherRunning_ || stopping_) return;
  if (watcher_.joinable()) watcher_.join();  // a previous watcher that found nothing to watch
  watcherRunning_ = true;
  watcher_ = std::thread([this] { watchLoop(); });
}

void ScriptStore::watchLoop() {
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    wake_.wait_for(lock, options_.pollInterval);
    if (stopping_) break;
    lock.unlock();
    checkFilesNow();
    lock.lock();
    if (files_.empty()) break;  // every file handle is gone; openFile starts a new watcher
  }
  watcherRunning_ = false;
}

}  // namespace updraft::lua
