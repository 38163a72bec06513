// Helpers for end-to-end tests that run the `updraft` binary.
#pragma once

#include <chrono>
#include <string>
#include <vector>

namespace updraft::e2e {

std::string updraftBinary();

// A temporary directory removed (with its contents) on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }
  std::string write(const std::string& name, const std::string& content) const;

 private:
  std::string path_;
};

struct CommandResult {
  int exitCode = -1;
  std::string out;
  std::string err;
};

// Runs argv to completion (killed after `timeout`), capturing stdout and stderr.
CommandResult runCommand(const std::vector<std::string>& argv,
                         std::chrono::seconds timeout = std::chrono::seconds(60),
                         const std::string& stdinData = "");

// A long-running child whose stdout lines are read as they come.
class Child {
 public:
  explicit Child(const std::vector<std::string>& argv);
  ~Child();  // SIGKILL if still running
  // Waits up to `timeout` for a stdout line containing `needle`; returns it, or "" on timeout.
  std::string waitForLine(const std::string& needle, std::chrono::milliseconds timeout);
  // All stdout seen so far.
  const std::string& output() const { return output_; }
  void signal(int sig);
  // Waits for exit; returns the exit code (128+signal when killed), -1 on timeout.
  int wait(std::chrono::milliseconds timeout);
  int pid() const { return pid_; }

 private:
  bool readSome(std::chrono::milliseconds timeout);
  int pid_ = -1;
  int outFd_ = -1;
  std::string output_;
  size_t scanned_ = 0;
  int exitCode_ = -1;
};

// Number of live processes whose parent is `pid`.
int countChildren(int pid);

// A port on 127.0.0.1 nobody listens on (bound to port 0, read, closed).
int freeLocalPort();

// Replaces `path` atomically (write + rename), as editors and kubelet's ConfigMap volumes do.
void replaceFile(const std::string& path, const std::string& text);

}  // namespace updraft::e2e
