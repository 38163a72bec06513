#include "supervisor.h"

#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <set>
#include <system_error>

extern char** environ;

namespace updraft {

OutputSink stdoutSink() {
  return [](std::string_view line) {
    static std::mutex* mutex = new std::mutex();  // never destroyed: usable during exit
    std::lock_guard lock(*mutex);
    std::fwrite(line.data(), 1, line.size(), stdout);
    std::fputc('\n', stdout);
    std::fflush(stdout);
  };
}

}  // namespace updraft

namespace updraft::process_detail {
namespace {

using std::chrono::milliseconds;

constexpr milliseconds kGroupScanInterval{100};   // the same, in /proc (ignores zombies)
constexpr milliseconds kGroupPollInterval{20};    // while following a group after its leader exited
constexpr milliseconds kNoPidfdPollInterval{50};  // exit detection without pidfds
constexpr milliseconds kGroupGiveUp{1000};        // after SIGKILL (zombies of a non-reaping init)
constexpr milliseconds kStreamLinger{1000};       // output kept open after the group is gone
constexpr milliseconds kMaxPollWait{1000};

std::string errnoText(int err) {
  const char* d = strerrordesc_np(err);
  return d ? std::string(d) : fmt::format("errno {}", err);
}

std::string signalName(int sig) {
  const char* abbrev = sigabbrev_np(sig);
  return abbrev ? std::string("SIG") + abbrev : fmt::format("signal {}", sig);
}

bool isPlainWord(const std::string& s) {
  static constexpr std::string_view kExtra = "_./+:@%,-";
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           kExtra.find(c) != std::string_view::npos;
  });
}

// Moves an fd that landed on 0-2 (possible when updraft runs with a std stream closed) above 2 so
// the child's dup2 calls cannot clobber it.
int keepAboveStdio(int fd) {
  if (fd > 2) return fd;
  int moved = fcntl(fd, F_DUPFD_CLOEXEC, 3);
  close(fd);
  return moved;
}

void closeIfOpen(int& fd) {
  if (fd >= 0) close(fd);
  fd = -1;
}

enum ChildStage : int32_t { kStageSetup = 1, kStageChdir = 2, kStageExec = 3 };
struct ChildError {
  int32_t stage = 0;
  int32_t err = 0;
};

struct ChildArgs {
  char* const* argv;
  char* const* envp;
  const char* const* candidates;  // executable paths to try in order
  size_t candidateCount;
  const char* workingDir;  // nullptr: stay
  int outFd;
  int errFd;
  int devNull;
  pid_t parent;
  int maxFd;
};

[[noreturn]] void childFail(int errFd, int32_t stage, int err) {
  ChildError e{stage, err};
  ssize_t n = write(errFd, &e, sizeof e);
  (void)n;
  _exit(127);
}

// Runs in the forked child: async-signal-safe calls only.
[[noreturn]] void childMain(const ChildArgs& a) {
  auto fail = [&](int32_t stage, int err) { childFail(a.errFd, stage, err); };

  // Signal handlers are reset by exec, ignored signals and the mask are not: start clean.
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  sigemptyset(&dfl.sa_mask);
  for (int sig = 1; sig < NSIG; ++sig) {
    if (sig != SIGKILL && sig != SIGSTOP) sigaction(sig, &dfl, nullptr);
  }
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);

  if (setpgid(0, 0) != 0) fail(kStageSetup, errno);
  if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) fail(kStageSetup, errno);
  if (getppid() != a.parent) _exit(127);  // updraft died before prctl

  if (dup2(a.devNull, 0) < 0 || dup2(a.outFd, 1) < 0 || dup2(a.outFd, 2) < 0) {
    fail(kStageSetup, errno);
  }
  if (a.workingDir != nullptr && chdir(a.workingDir) != 0) fail(kStageChdir, errno);

  // Nothing but 0-2 survives exec (errFd is close-on-exec already and must stay open until then).
  if (close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) != 0) {
    for (int fd = 3; fd <= a.maxFd; ++fd) {
      if (fd != a.errFd) close(fd);
    }
  }

  int err = ENOENT;
  bool sawEacces = false;
  for (size_t i = 0; i < a.candidateCount; ++i) {
    execve(a.candidates[i], a.argv, a.envp);
    err = errno;
    if (err == EACCES) {
      sawEacces = true;
    } else if (err != ENOENT && err != ENOTDIR && err != ESTALE && err != ENODEV &&
               err != ETIMEDOUT) {
      break;  // e.g. ENOEXEC, E2BIG: report that one
    }
  }
  if (sawEacces && (err == ENOENT || err == ENOTDIR)) err = EACCES;
  childFail(a.errFd, kStageExec, err);
}

ExitInfo exitInfoFromStatus(int status) {
  ExitInfo info;
  if (WIFEXITED(status)) {
    info.exited = true;
    info.code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    info.signal = WTERMSIG(status);
  }
  return info;
}

}  // namespace

std::string ExitInfo::describe() const {
  if (exited) {
    if (code == 127) return "exit code 127 (command not found)";
    if (code == 126) return "exit code 126 (command not executable)";
    return fmt::format("exit code {}", code);
  }
  if (signal == 0) return "exit status unknown";
  return fmt::format("killed by signal {} ({})", signal, signalName(signal));
}

std::string formatDuration(milliseconds d) {
  auto ms = d.count();
  if (ms % 1000 == 0) return fmt::format("{}s", ms / 1000);
  if (ms < 1000) return fmt::format("{}ms", ms);
  return fmt::format("{:.1f}s", static_cast<double>(ms) / 1000.0);
}

Result<CommandLine> makeCommandLine(const std::vector<std::string>& command, StringMap env,
                                    std::string workingDir) {
  if (command.empty() || command[0].empty()) {
    return Status::invalidArgument("command: must name a program to run");
  }
  for (size_t i = 0; i < command.size(); ++i) {
    if (command[i].find('\0') != std::string::npos) {
      return Status::invalidArgument(fmt::format("command[{}]: contains a NUL character", i));
    }
  }
  for (const auto& [key, value] : env) {
    if (key.empty() || key.find('=') != std::string::npos || key.find('\0') != std::string::npos ||
        value.find('\0') != std::string::npos) {
      return Status::invalidArgument(fmt::format("env: invalid variable name \"{}\"", key));
    }
  }
  if (workingDir.find('\0') != std::string::npos) {
    return Status::invalidArgument("workingDir: contains a NUL character");
  }
  CommandLine line;
  if (command.size() == 1 && !isPlainWord(command[0])) {
    line.argv = {"/bin/sh", "-c", command[0]};
  } else {
    line.argv = command;
  }
  line.env = std::move(env);
  line.workingDir = std::move(workingDir);
  return line;
}

// ---------------------------------------------------------------------------------------------

Supervisor::Supervisor(std::string name, OutputSink sink)
    : name_(std::move(name)), sink_(sink ? std::move(sink) : stdoutSink()) {}

Supervisor::~Supervisor() {
  join();
  closeIfOpen(wakeFd_);
}

Status Supervisor::start(Client* client) {
  client_ = client;
  wakeFd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wakeFd_ < 0) return Status::internal(fmt::format("{}: eventfd: {}", name_, errnoText(errno)));
  try {
    thread_ = std::thread([this] { run(); });
  } catch (const std::system_error& e) {
    return Status::internal(
        fmt::format("{}: cannot start the supervisor thread: {}", name_, e.what()));
  }
  return Status::ok();
}

void Supervisor::wake() {
  if (wakeFd_ < 0) return;
  uint64_t one = 1;
  ssize_t n = write(wakeFd_, &one, sizeof one);
  (void)n;  // EAGAIN: the counter is already non-zero, the loop will wake anyway
}

void Supervisor::join() {
  if (thread_.joinable()) thread_.join();
}

Result<Supervisor::Spawned> Supervisor::spawn(const CommandLine& command, const StringMap& extraEnv,
                                              std::string prefix) {
  // Everything the child needs is built before fork(): the child may not allocate.
  std::map<std::string, std::string> envMap;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    std::string_view entry(*e);
    size_t eq = entry.find('=');
    if (eq == std::string_view::npos) continue;
    envMap.emplace(std::string(entry.substr(0, eq)), std::string(entry.substr(eq + 1)));
  }
  for (const auto& [k, v] : command.env) envMap[k] = v;
  for (const auto& [k, v] : extraEnv) envMap[k] = v;
  std::vector<std::string> envStrings;
  envStrings.reserve(envMap.size());
  for (const auto& [k, v] : envMap) envStrings.push_back(k + "=" + v);
  std::vector<char*> envp;
  for (auto& s : envStrings) envp.push_back(s.data());
  envp.push_back(nullptr);

  std::vector<std::string> argvStrings = command.argv;
  std::vector<char*> argv;
  for (auto& s : argvStrings) argv.push_back(s.data());
  argv.push_back(nullptr);

  const std::string& program = command.argv[0];
  std::vector<std::string> candidates;
  if (program.find('/') != std::string::npos) {
    candidates.push_back(program);
  } else {
    auto pathIt = envMap.find("PATH");
    std::string path =
        pathIt != envMap.end() ? pathIt->second : std::string("/usr/local/bin:/usr/bin:/bin");
    size_t start = 0;
    while (start <= path.size()) {
      size_t end = path.find(':', start);
      if (end == std::string::npos) end = path.size();
      std::string dir = path.substr(start, end - start);
      candidates.push_back((dir.empty() ? std::string(".") : dir) + "/" + program);
      start = end + 1;
    }
  }
  std::vector<const char*> candidatePtrs;
  for (const auto& c : candidates) candidatePtrs.push_back(c.c_str());

  int out[2] = {-1, -1};
  int err[2] = {-1, -1};
  int devNull = -1;
  auto closeAll = [&] {
    closeIfOpen(out[0]);
    closeIfOpen(out[1]);
    closeIfOpen(err[0]);
    closeIfOpen(err[1]);
    closeIfOpen(devNull);
  };
  if (pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0) {
    int e = errno;
    closeAll();
    return Status::internal(fmt::format("cannot create a pipe: {}", errnoText(e)));
  }
  devNull = open("/dev/null", O_RDONLY | O_CLOEXEC);
  for (int* fd : {&out[0], &out[1], &err[0], &err[1], &devNull}) {
    if (*fd >= 0) *fd = keepAboveStdio(*fd);
  }
  if (out[0] < 0 || out[1] < 0 || err[0] < 0 || err[1] < 0 || devNull < 0) {
    int e = errno;
    closeAll();
    return Status::internal(fmt::format("cannot set up the child's stdio: {}", errnoText(e)));
  }
  long openMax = sysconf(_SC_OPEN_MAX);
  ChildArgs args{argv.data(),
                 envp.data(),
                 candidatePtrs.data(),
                 candidatePtrs.size(),
                 command.workingDir.empty() ? nullptr : command.workingDir.c_str(),
                 out[1],
                 err[1],
                 devNull,
                 getpid(),
                 static_cast<int>(openMax > 0 ? std::min(openMax, 65536L) : 1024L)};

  pid_t pid = fork();
  if (pid < 0) {
    int e = errno;
    closeAll();
    return Status::internal(fmt::format("fork: {}", errnoText(e)));
  }
  if (pid == 0) childMain(args);

  closeIfOpen(out[1]);
  closeIfOpen(err[1]);
  closeIfOpen(devNull);
  setpgid(pid, pid);  // also done by the child; whichever runs first wins, errors are harmless

  ChildError childError;
  size_t got = 0;
  while (got < sizeof childError) {
    ssize_t n = read(err[0], reinterpret_cast<char*>(&childError) + got, sizeof childError - got);
    if (n > 0) {
      got += static_cast<size_t>(n);
    } else if (n == 0 || errno != EINTR) {
      break;
    }
  }
  closeIfOpen(err[0]);
  if (got == sizeof childError) {
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    closeIfOpen(out[0]);
    switch (childError.stage) {
      case kStageChdir:
        return Status::notFound(fmt::format("cannot change to working directory \"{}\": {}",
                                            command.workingDir, errnoText(childError.err)));
      case kStageExec:
        if (childError.err == ENOENT && program.find('/') == std::string::npos) {
          auto pathIt = envMap.find("PATH");
          return Status::notFound(fmt::format("cannot run \"{}\": command not found in PATH ({})",
                                              program,
                                              pathIt != envMap.end() ? pathIt->second : ""));
        }
        return Status::notFound(
            fmt::format("cannot run \"{}\": {}", program, errnoText(childError.err)));
      default:
        return Status::internal(
            fmt::format("cannot set up the child process: {}", errnoText(childError.err)));
    }
  }

  Child child;
  child.pid = pid;
  child.outFd = out[0];
  if (pidfdsWork_) {
    // glibc 2.36's <sys/pidfd.h> lacks extern "C": use the system call.
    child.pidfd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
    if (child.pidfd < 0 && (errno == ENOSYS || errno == EINVAL)) pidfdsWork_ = false;
  }
  fcntl(out[0], F_SETFL, fcntl(out[0], F_GETFL) | O_NONBLOCK);
  ChildId id = nextId_++;
  children_.emplace(id, child);
  streams_[out[0]].prefix = std::move(prefix);
  return Spawned{id, pid};
}

void Supervisor::terminate(ChildId id, milliseconds grace) {
  auto it = children_.find(id);
  if (it == children_.end() || it->second.terminating) return;
  Child& c = it->second;
  c.terminating = true;
  c.killAt = SteadyClock::now() + grace;
  if (!c.exited) {
    if (kill(-c.pid, SIGTERM) != 0 && errno == ESRCH) kill(c.pid, SIGTERM);
  }
}

void Supervisor::handleExit(ChildId id, Child& c, const ExitInfo& info, SteadyTime now) {
  closeIfOpen(c.pidfd);
  c.exited = true;
  if (!c.terminating) {
    // The main process ended on its own: like a container, the rest of it goes too.
    c.killed = true;
    c.giveUpAt = now + kGroupGiveUp;
  }
  client_->onExit(id, info, now);
}

void Supervisor::checkChildren(SteadyTime now) {
  for (auto it = children_.begin(); it != children_.end();) {
    ChildId id = it->first;
    Child& c = it->second;
    if (!c.exited) {
      siginfo_t info{};
      int r = waitid(P_PID, static_cast<id_t>(c.pid), &info, WEXITED | WNOHANG | WNOWAIT);
      if (r == 0 && info.si_pid == c.pid) {
        // Still a zombie, so its process group id cannot have been reused.
        if (!c.terminating) kill(-c.pid, SIGKILL);
        int status = 0;
        while (waitpid(c.pid, &status, 0) < 0 && errno == EINTR) {
        }
        handleExit(id, c, exitInfoFromStatus(status), now);
      } else if (r < 0 && errno == ECHILD) {
        // Reaped by someone else (SIGCHLD set to SIG_IGN somewhere in the process).
        handleExit(id, c, ExitInfo{}, now);
      }
    }
    if (c.exited) {
      if (!c.killed && now >= c.killAt) {
        kill(-c.pid, SIGKILL);
        c.killed = true;
        c.giveUpAt = now + kGroupGiveUp;
      }
    } else if (c.terminating && !c.killed && now >= c.killAt) {
      kill(-c.pid, SIGKILL);
      c.killed = true;
    }
    ++it;
  }

  // Follow the groups whose main process is gone until no process of theirs is left. kill(-g, 0)
  // also counts zombies, which a container's init may leave behind for a while, so a group that
  // still looks present is checked in /proc for live processes (at most every kGroupScanInterval).
  std::vector<pid_t> toScan;
  std::set<pid_t> gone;
  for (auto& [id, c] : children_) {
    if (!c.exited) continue;
    if (kill(-c.pid, 0) != 0 && errno == ESRCH) {
      gone.insert(c.pid);
    } else if (now >= c.nextScanAt) {
      toScan.push_back(c.pid);
      c.nextScanAt = now + kGroupScanInterval;
    }
  }
  if (!toScan.empty()) {
    auto usage = readGroupUsage(toScan);
    for (pid_t pgid : toScan) {
      auto u = usage.find(pgid);
      if (u == usage.end() || u->second.liveProcesses == 0) gone.insert(pgid);
    }
  }
  for (auto it = children_.begin(); it != children_.end();) {
    Child& c = it->second;
    if (c.exited && (gone.count(c.pid) || now >= c.giveUpAt)) {
      auto s = streams_.find(c.outFd);
      if (s != streams_.end()) s->second.closeAt = now + kStreamLinger;
      it = children_.erase(it);
    } else {
      ++it;
    }
  }
}

void Supervisor::emitLines(Stream& stream, bool flushAll) {
  auto emit = [&](std::string_view piece) {
    if (!piece.empty() && piece.back() == '\r') piece.remove_suffix(1);
    std::string line;
    line.reserve(stream.prefix.size() + piece.size());
    line += stream.prefix;
    line += piece;
    sink_(line);
  };
  auto emitLong = [&](std::string_view text) {
    do {
      size_t n = std::min(text.size(), kMaxLineBytes);
      emit(text.substr(0, n));
      text.remove_prefix(n);
    } while (!text.empty());
  };
  std::string_view buf(stream.buffer);
  size_t start = 0;
  for (size_t nl; (nl = buf.find('\n', start)) != std::string_view::npos; start = nl + 1) {
    emitLong(buf.substr(start, nl - start));
  }
  while (buf.size() - start >= kMaxLineBytes) {
    emit(buf.substr(start, kMaxLineBytes));
    start += kMaxLineBytes;
  }
  if (flushAll && start < buf.size()) {
    emitLong(buf.substr(start));
    start = buf.size();
  }
  stream.buffer.erase(0, start);
}

void Supervisor::readStream(int fd, Stream& stream) {
  char chunk[64 * 1024];
  ssize_t n = read(fd, chunk, sizeof chunk);
  if (n > 0) {
    stream.buffer.append(chunk, static_cast<size_t>(n));
    emitLines(stream, false);
  } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
    closeStream(fd);
  }
}

void Supervisor::closeStream(int fd) {
  auto it = streams_.find(fd);
  if (it == streams_.end()) return;
  emitLines(it->second, true);
  close(fd);
  streams_.erase(it);
}

int Supervisor::pollOnce(SteadyTime until) {
  std::vector<pollfd> fds;
  fds.push_back({wakeFd_, POLLIN, 0});
  size_t firstStream = fds.size();
  for (const auto& [fd, stream] : streams_) fds.push_back({fd, POLLIN, 0});
  size_t firstPidfd = fds.size();
  for (const auto& [id, child] : children_) {
    if (child.pidfd >= 0) fds.push_back({child.pidfd, POLLIN, 0});
  }
  auto now = SteadyClock::now();
  int timeoutMs = 0;
  if (until > now) {
    auto wait =
        std::chrono::ceil<milliseconds>(std::min(until - now, SteadyTime::duration(kMaxPollWait)));
    timeoutMs = static_cast<int>(wait.count());
  }
  int r = poll(fds.data(), fds.size(), timeoutMs);
  if (r <= 0) return r;
  if (fds[0].revents & POLLIN) {
    uint64_t value = 0;
    ssize_t n = read(wakeFd_, &value, sizeof value);
    (void)n;
  }
  for (size_t i = firstStream; i < firstPidfd; ++i) {
    if (fds[i].revents == 0) continue;
    auto it = streams_.find(fds[i].fd);
    if (it != streams_.end()) readStream(fds[i].fd, it->second);
  }
  return r;
}

void Supervisor::run() {
  while (true) {
    SteadyTime now = SteadyClock::now();
    checkChildren(now);
    SteadyTime until = client_->onTick(now);
    if (client_->stopping() && children_.empty()) break;

    until = std::min(until, now + kMaxPollWait);
    for (const auto& [id, c] : children_) {
      if (c.exited) {
        until = std::min(until, now + kGroupPollInterval);
      } else {
        if (c.pidfd < 0) until = std::min(until, now + kNoPidfdPollInterval);
        if (c.terminating && !c.killed) until = std::min(until, c.killAt);
      }
    }
    for (const auto& [fd, s] : streams_) until = std::min(until, s.closeAt);
    pollOnce(until);

    now = SteadyClock::now();
    std::vector<int> expired;
    for (const auto& [fd, s] : streams_) {
      if (now >= s.closeAt) expired.push_back(fd);
    }
    for (int fd : expired) closeStream(fd);
  }
  drainStreams();
}

void Supervisor::drainStreams() {
  SteadyTime deadline = SteadyClock::now() + kStreamLinger;
  for (auto& [fd, s] : streams_) s.closeAt = std::min(s.closeAt, deadline);
  while (!streams_.empty()) {
    SteadyTime until = SteadyTime::max();
    for (const auto& [fd, s] : streams_) until = std::min(until, s.closeAt);
    pollOnce(until);
    SteadyTime now = SteadyClock::now();
    std::vector<int> expired;
    for (const auto& [fd, s] : streams_) {
      if (now >= s.closeAt) expired.push_back(fd);
    }
    for (int fd : expired) closeStream(fd);
  }
}

// ---------------------------------------------------------------------------------------------

std::map<pid_t, GroupUsage> readGroupUsage(const std::vector<pid_t>& pgids) {
  std::map<pid_t, GroupUsage> result;
  if (pgids.empty()) return result;
  std::set<pid_t> wanted(pgids.begin(), pgids.end());
  DIR* dir = opendir("/proc");
  if (dir == nullptr) return result;
  char path[300];
  char buf[2048];
  while (dirent* entry = readdir(dir)) {
    const char* name = entry->d_name;
    if (name[0] < '1' || name[0] > '9') continue;
    std::snprintf(path, sizeof path, "/proc/%s/stat", name);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) continue;
    buf[n] = '\0';
    // "pid (comm) state ppid pgrp ...": comm may contain anything, so parse after the last ')'.
    char* p = std::strrchr(buf, ')');
    if (p == nullptr) continue;
    p += 1;
    char state = p[0] == ' ' ? p[1] : '?';
    // Fields after comm, 0-based: 0 state, 2 pgrp, 11 utime, 12 stime, 13 cutime, 14 cstime,
    // 21 rss.
    long long fields[22] = {};
    int index = 0;
    char* save = nullptr;
    for (char* tok = strtok_r(p, " ", &save); tok != nullptr && index < 22;
         tok = strtok_r(nullptr, " ", &save), ++index) {
      if (index > 0) fields[index] = std::strtoll(tok, nullptr, 10);
    }
    if (index < 22) continue;
    auto pgrp = static_cast<pid_t>(fields[2]);
    if (!wanted.count(pgrp)) continue;
    GroupUsage& usage = result[pgrp];
    if (state != 'Z' && state != 'X') usage.liveProcesses++;
    for (int i = 11; i <= 14; ++i) usage.ticks += static_cast<uint64_t>(std::max(0LL, fields[i]));
    usage.rssPages += static_cast<uint64_t>(std::max(0LL, fields[21]));
  }
  closedir(dir);
  return result;
}

}  // namespace updraft::process_detail
