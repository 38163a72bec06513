// Where Lua scripts come from: compiled once per content, watched, and hot-reloaded.
//
//   ScriptCache   content hash -> a checked, compiled script (bytecode). 1,000 objects on one
//                 script compile and check it once; each object then loads the bytecode into its
//                 own sandbox (its own state, upvalues and ctx.state).
//   ScriptHandle  one script source (an inline text, a file, a ConfigMap key) and its current good
//                 version. Users keep the handle and compare generation() between calls: a new
//                 generation means a new checked version to switch to between two calls.
//   ScriptStore   the process-wide set of handles. Files are polled (stat, then content hash) by a
//                 watcher thread while any file handle is alive; ConfigMap keys are fed by the
//                 operator's informer through putConfigMap()/deleteConfigMap().
//
// Reload rules (docs/lua.md): a changed source is compiled and checked first (syntax, top level
// run in a fresh sandbox, every function its users require, and `check()` when the script defines
// one: an error or a false result refuses the version). A good version replaces the old one for
// the next call; a bad version, an unreadable or deleted file, or a deleted ConfigMap key leaves
// the old version running, and the problem is logged, counted in the listeners and kept in
// ScriptHandle::error() until a good version arrives.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "updraft/model.h"
#include "updraft/status.h"

namespace updraft::lua {

// A checked script, immutable and shared between all users of the same content.
struct CompiledScript {
  std::string hash;       // sha256 of the source, lowercase hex
  std::string chunkName;  // in error messages: "<chunkName>:<line>: ..."
  std::string source;
  std::string bytecode;             // host-compiled; load with Sandbox::loadCompiled
  std::set<std::string> functions;  // global functions the top level defines
  std::string shortHash() const { return hash.substr(0, 12); }
};

class ScriptCache {
 public:
  static ScriptCache& global();

  // Compiles and checks `source` once per (hash, chunkName) while any user holds the result.
  // Errors: InvalidArgument for syntax errors, missing functions and a failing check(),
  // ScriptError for a top level that fails or hits a limit. Messages carry "<chunkName>:<line>:".
  Result<std::shared_ptr<const CompiledScript>> compile(
      std::string_view source, const std::string& chunkName,
      const std::set<std::string>& requiredFunctions);

  // How many scripts were actually compiled (not served from the cache). For tests/benchmarks.
  size_t compilations() const { return compilations_.load(); }

 private:
  mutable std::mutex mutex_;
  std::map<std::string, std::weak_ptr<const CompiledScript>> byKey_;
  std::atomic<size_t> compilations_{0};
};

// What a reload attempt did, for listeners (metrics, Kubernetes events).
struct ReloadEvent {
  std::string script;  // ScriptHandle::name()
  bool ok = false;
  std::string hash;   // the new version (ok) or the version kept running (failure; may be empty)
  std::string error;  // why the new version was refused
};

class ScriptHandle {
 public:
  // "file /etc/updraft/queue.lua", "ConfigMap default/scripts key queue.lua", "inline script".
  const std::string& name() const { return name_; }
  // The current good version; nullptr while none was ever good (a ConfigMap not yet seen).
  std::shared_ptr<const CompiledScript> current() const;
  // Increases each time current() changes.
  uint64_t generation() const { return generation_.load(std::memory_order_acquire); }
  // The problem with the newest source when it was refused (the old version keeps running), or
  // why there is no version yet; empty when current() is the newest source.
  std::string error() const;

  ScriptHandle(std::string name, std::set<std::string> required);

 private:
  friend class ScriptStore;
  std::string name_;
  mutable std::mutex mutex_;
  std::set<std::string> required_;
  std::shared_ptr<const CompiledScript> current_;
  std::string error_;
  std::atomic<uint64_t> generation_{0};
  // File watching state (file handles only).
  std::string path_;
  struct FileStamp {
    bool exists = false;
    int64_t mtimeNs = 0, ctimeNs = 0;
    uint64_t size = 0, inode = 0;
    bool operator==(const FileStamp&) const = default;
  } stamp_;
  std::string lastSeenHash_;  // hash of the newest source seen (good or bad)
};

class ScriptStore {
 public:
  struct Options {
    std::chrono::milliseconds pollInterval{250};  // how often watched files are stat()ed
  };
  using Listener = std::function<void(const ReloadEvent&)>;

  static ScriptStore& global();
  ScriptStore();
  explicit ScriptStore(Options options);
  ~ScriptStore();
  ScriptStore(const ScriptStore&) = delete;
  ScriptStore& operator=(const ScriptStore&) = delete;

  // An inline script: compiled (through the cache) now; never changes.
  Result<std::shared_ptr<ScriptHandle>> openInline(std::string_view source,
                                                   const std::string& chunkName,
                                                   const std::set<std::string>& required);
  // A file: read and compiled now (an unreadable or bad file fails, so nothing starts on a bad
  // script), then watched while the handle lives. Handles are shared per path; each caller's
  // required functions are added to the checks of later versions.
  Result<std::shared_ptr<ScriptHandle>> openFile(const std::string& path,
                                                 const std::set<std::string>& required);
  // A ConfigMap key in `ns`. current() stays null until the informer delivers the ConfigMap.
  std::shared_ptr<ScriptHandle> openConfigMap(const std::string& ns, const std::string& name,
                                              const std::string& key,
                                              const std::set<std::string>& required);

  // Informer feed: the ConfigMap's current data (every key), or its deletion.
  void putConfigMap(const std::string& ns, const std::string& name, const StringMap& data);
  void deleteConfigMap(const std::string& ns, const std::string& name);

  // Runs one watcher pass now (tests; the watcher thread calls the same).
  void checkFilesNow();

  int addListener(Listener listener);
  void removeListener(int id);

 private:
  void offer(ScriptHandle& handle, const std::string& source, const std::string& chunkName);
  void refuse(ScriptHandle& handle, const std::string& error);
  void notify(const ReloadEvent& event);
  void ensureWatcher();
  void watchLoop();

  Options options_;
  std::mutex mutex_;
  std::map<std::string, std::weak_ptr<ScriptHandle>> files_;       // by path
  std::map<std::string, std::weak_ptr<ScriptHandle>> configMaps_;  // "ns/name/key"
  std::map<std::string, StringMap> configMapData_;                 // "ns/name" -> data seen
  std::map<int, Listener> listeners_;
  int nextListener_ = 1;
  std::mutex watchMutex_;  // serialises watcher passes
  std::thread watcher_;
  bool stopping_ = false;
  bool watcherRunning_ = false;
  std::condition_variable wake_;
};

}  // namespace updraft::lua
