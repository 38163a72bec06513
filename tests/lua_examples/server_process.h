// Real servers (Prometheus, RabbitMQ) for the example scalers' tests, as child processes in a
// temporary directory. The approach of tests/scaler_prometheus/real_prometheus_test.cc: fork/exec
// with PR_SET_PDEATHSIG (so a crashed test leaves nothing running), output to a log file in the
// directory, stopped by the destructor, the directory removed.
//
// A missing server binary fails the test when UPDRAFT_REQUIRE_SERVERS is set (CI: scripts/setup.sh
// installs them), and otherwise skips it with a WARN naming what to install.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace updraft::testing {

// The first executable of `candidates`, or "". When the environment variable `overrideEnv` is
// set, only the binary it names.
inline std::string findServerBinary(const char* overrideEnv, std::vector<std::string> candidates) {
  if (const char* bin = std::getenv(overrideEnv); bin && *bin) candidates = {bin};
  for (const auto& c : candidates) {
    if (::access(c.c_str(), X_OK) == 0) return c;
  }
  return "";
}

// True when tests must not skip for a missing server.
inline bool serversRequired() {
  const char* v = std::getenv("UPDRAFT_REQUIRE_SERVERS");
  return v && *v && std::string(v) != "0";
}

// At the top of a TEST_CASE: UPDRAFT_REQUIRE_SERVER_OR_SKIP(binary, "rabbitmq-server");
#define UPDRAFT_REQUIRE_SERVER_OR_SKIP(binary, what)                                         \
  do {                                                                                       \
    if ((binary).empty()) {                                                                  \
      if (::updraft::testing::serversRequired()) {                                           \
        FAIL(what << " not found and UPDRAFT_REQUIRE_SERVERS is set: run scripts/setup.sh"); \
      }                                                                                      \
      WARN("SKIPPED: " << what << " not found (run scripts/setup.sh; set "                   \
                       << "UPDRAFT_REQUIRE_SERVERS=1 to make this a failure)");              \
      return;                                                                                \
    }                                                                                        \
  } while (0)

// A temporary directory, removed (with its contents) on destruction.
class TempDir {
 public:
  explicit TempDir(const std::string& prefix) {
    std::string tmpl = "/tmp/" + prefix + "-XXXXXX";
    if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }
  void write(const std::string& name, const std::string& text) const {
    std::ofstream out(file(name));
    out << text;
  }

 private:
  std::string path_;
};

// One child process: argv, extra environment, stdout+stderr appended to `logFile`.
class ChildProcess {
 public:
  ChildProcess() = default;
  ~ChildProcess() { stop(std::chrono::milliseconds(0)); }
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  void start(const std::vector<std::string>& args,
             const std::vector<std::pair<std::string, std::string>>& env,
             const std::string& logFile) {
    REQUIRE(pid_ <= 0);
    std::vector<char*> argv;
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    std::vector<std::string> envStrings;
    for (char** e = environ; *e; ++e) {
      std::string kv = *e;
      bool replaced = false;
      for (const auto& [k, v] : env) replaced = replaced || kv.rfind(k + "=", 0) == 0;
      if (!replaced) envStrings.push_back(std::move(kv));
    }
    for (const auto& [k, v] : env) envStrings.push_back(k + "=" + v);
    std::vector<char*> envp;
    for (auto& s : envStrings) envp.push_back(s.data());
    envp.push_back(nullptr);
    const pid_t parent = ::getpid();
    pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      // Only async-signal-safe calls until exec.
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != parent) ::_exit(1);
      int fd = ::open(logFile.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      if (fd >= 0) {
        ::dup2(fd, 1);
        ::dup2(fd, 2);
        ::close(fd);
      }
      int devnull = ::open("/dev/null", O_RDONLY);
      if (devnull >= 0) ::dup2(devnull, 0);
      ::execve(argv[0], argv.data(), envp.data());
      ::_exit(127);
    }
    pid_ = pid;
  }

  // True while the process runs (reaps it when it has exited).
  bool running() {
    if (pid_ <= 0) return false;
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return false;
    }
    return true;
  }

  // SIGTERM, then SIGKILL after `grace` (at once when grace is 0).
  void stop(std::chrono::milliseconds grace) {
    if (pid_ <= 0) return;
    ::kill(pid_, grace.count() > 0 ? SIGTERM : SIGKILL);
    const auto until = std::chrono::steady_clock::now() + grace;
    int status = 0;
    while (::waitpid(pid_, &status, WNOHANG) == 0) {
      if (std::chrono::steady_clock::now() >= until) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, &status, 0);
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    pid_ = -1;
  }

 private:
  pid_t pid_ = -1;
};

inline std::string fileTail(const std::string& path, size_t max = 3000) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string s = ss.str();
  return s.size() > max ? s.substr(s.size() - max) : s;
}

}  // namespace updraft::testing
