// Helpers for the process tests: output capture, polling, and looking at processes in /proc.
#pragma once

#include <dirent.h>
#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <mutex>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "updraft/process_pool.h"

namespace updraft::testing {

using namespace std::chrono_literals;
using SteadyClock = std::chrono::steady_clock;

// Generous: the machine is shared and may be very busy.
inline constexpr auto kTimeout = std::chrono::seconds(30);

// Polls `pred` every 10 ms until it holds or `timeout` passes.
inline bool waitUntil(const std::function<bool()>& pred,
                      std::chrono::milliseconds timeout = kTimeout) {
  auto deadline = SteadyClock::now() + timeout;
  while (true) {
    if (pred()) return true;
    if (SteadyClock::now() >= deadline) return false;
    std::this_thread::sleep_for(10ms);
  }
}

// Collects lines from an OutputSink, with their arrival time.
class LineCollector {
 public:
  OutputSink sink() {
    return [this](std::string_view line) {
      std::lock_guard lock(mutex_);
      lines_.emplace_back(line);
    };
  }
  std::vector<std::string> lines() const {
    std::lock_guard lock(mutex_);
    return lines_;
  }
  // Lines that start with `prefix` (the prefix is kept).
  std::vector<std::string> linesStartingWith(std::string_view prefix) const {
    std::vector<std::string> out;
    for (auto& l : lines()) {
      if (l.rfind(prefix, 0) == 0) out.push_back(l);
    }
    return out;
  }
  bool waitForLine(std::string_view line, std::chrono::milliseconds timeout = kTimeout) const {
    return waitUntil(
        [&] {
          for (auto& l : lines()) {
            if (l == line) return true;
          }
          return false;
        },
        timeout);
  }
  bool waitForCount(std::string_view prefix, size_t count,
                    std::chrono::milliseconds timeout = kTimeout) const {
    return waitUntil([&] { return linesStartingWith(prefix).size() >= count; }, timeout);
  }

 private:
  mutable std::mutex mutex_;
  std::vector<std::string> lines_;
};

struct ProcInfo {
  bool exists = false;
  char state = '?';
  pid_t pgrp = 0;
};

inline ProcInfo procInfo(pid_t pid) {
  ProcInfo info;
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text;
  if (!std::getline(in, text)) return info;
  auto close = text.rfind(')');
  if (close == std::string::npos) return info;
  std::istringstream rest(text.substr(close + 1));
  pid_t ppid = 0;
  rest >> info.state >> ppid >> info.pgrp;
  info.exists = true;
  return info;
}

// Running (not a zombie, which a container's init may leave behind).
inline bool alive(pid_t pid) {
  auto info = procInfo(pid);
  return info.exists && info.state != 'Z' && info.state != 'X';
}

inline bool dead(pid_t pid) { return !alive(pid); }

// Live (non-zombie) processes of process group `pgid`.
inline std::vector<pid_t> groupMembers(pid_t pgid) {
  std::vector<pid_t> out;
  DIR* dir = opendir("/proc");
  if (dir == nullptr) return out;
  while (dirent* e = readdir(dir)) {
    char* end = nullptr;
    long pid = std::strtol(e->d_name, &end, 10);
    if (end == e->d_name || *end != '\0') continue;
    auto info = procInfo(static_cast<pid_t>(pid));
    if (info.exists && info.pgrp == pgid && info.state != 'Z' && info.state != 'X') {
      out.push_back(static_cast<pid_t>(pid));
    }
  }
  closedir(dir);
  return out;
}

}  // namespace updraft::testing
