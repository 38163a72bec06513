// Internal to updraft_process: runs child processes for ProcessPoolTarget and ProcessJobRunner.
//
// One Supervisor = one thread. The thread forks every child (so PR_SET_PDEATHSIG, which follows the
// forking *thread*, lasts as long as the supervisor), reads every child's output pipe with poll(),
// detects exits through pidfds and enforces TERM -> KILL deadlines on whole process groups. The
// owner (a Client) reconciles its own state in onTick() and learns about exits in onExit(); both
// run on the supervisor thread.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "updraft/clock.h"
#include "updraft/model.h"
#include "updraft/process_pool.h"
#include "updraft/status.h"

namespace updraft::process_detail {

using SteadyClock = std::chrono::steady_clock;
using SteadyTime = SteadyClock::time_point;

// Lines longer than this are cut into pieces of this size (each piece gets the prefix).
inline constexpr size_t kMaxLineBytes = 64 * 1024;

// How a child's main process ended.
struct ExitInfo {
  bool exited = false;  // true: `code` is the exit code; false: killed by `signal`
  int code = 0;
  int signal = 0;

  bool success() const { return exited && code == 0; }
  // "exit code 1", "exit code 127 (command not found)", "killed by signal 9 (SIGKILL)".
  std::string describe() const;
};

// A command ready to run.
struct CommandLine {
  std::vector<std::string> argv;  // argv[0] is searched in the child's PATH unless it has a '/'
  StringMap env;                  // added to (or replacing in) the parent's environment
  std::string workingDir;         // "" = the parent's
};

// Validates `command` and applies the "a single string runs with /bin/sh -c" rule: a one-element
// command that is not a plain word (letters, digits, `_./+:=@%,-`) becomes {"/bin/sh", "-c", s}.
Result<CommandLine> makeCommandLine(const std::vector<std::string>& command, StringMap env,
                                    std::string workingDir);

// "5s", "250ms", "1.5s".
std::string formatDuration(std::chrono::milliseconds d);

class Supervisor {
 public:
  using ChildId = uint64_t;

  class Client {
   public:
    virtual ~Client() = default;
    // Reconciles. Returns when it wants to be called again (SteadyTime::max(): only on events;
    // it is also called after every wake() and every exit).
    virtual SteadyTime onTick(SteadyTime now) = 0;
    // The child's main process exited (it has been reaped; its group may still be cleaned up).
    virtual void onExit(ChildId id, const ExitInfo& exit, SteadyTime now) = 0;
    // True once the client wants the loop to end; it ends when no child is left.
    virtual bool stopping() = 0;
  };

  struct Spawned {
    ChildId id = 0;
    pid_t pid = 0;
  };

  // `name` is used in logs only.
  Supervisor(std::string name, OutputSink sink);
  ~Supervisor();  // joins; the client must be stopping by then
  Supervisor(const Supervisor&) = delete;
  Supervisor& operator=(const Supervisor&) = delete;

  // Starts the thread. `client` must outlive join().
  Status start(Client* client);
  // Wakes the loop so it calls onTick() soon. Any thread.
  void wake();
  // Waits for the loop to end (after the client reports stopping()). Any thread but the loop's.
  void join();

  // ---- Supervisor thread only (i.e. from onTick / onExit) ----

  // Starts a child in its own process group with stdout+stderr piped to the sink, each line
  // prefixed by `prefix`. Fails (without leaving anything running) when the command cannot be
  // executed: the message names the command and the reason.
  Result<Spawned> spawn(const CommandLine& command, const StringMap& extraEnv, std::string prefix);
  // SIGTERM to the child's process group now, SIGKILL after `grace` unless the group is gone.
  // The group is followed after the main process exits, until it is empty or killed.
  void terminate(ChildId id, std::chrono::milliseconds grace);
  // Children not fully gone yet (main process running, or its group being cleaned up).
  size_t liveChildren() const { return children_.size(); }

 private:
  struct Child {
    pid_t pid = 0;  // also the process group id
    int pidfd = -1;
    bool exited = false;  // main process reaped; following the group until it is empty
    bool terminating = false;
    bool killed = false;
    SteadyTime killAt = SteadyTime::max();
    SteadyTime giveUpAt = SteadyTime::max();  // after SIGKILL: stop following the group
    SteadyTime nextScanAt = SteadyTime::min();
    int outFd = -1;
  };
  struct Stream {
    std::string prefix;
    std::string buffer;
    SteadyTime closeAt = SteadyTime::max();  // set once the child is gone
  };

  void run();
  void checkChildren(SteadyTime now);
  void handleExit(ChildId id, Child& child, const ExitInfo& info, SteadyTime now);
  void readStream(int fd, Stream& stream);
  void emitLines(Stream& stream, bool flushAll);
  void closeStream(int fd);
  void drainStreams();
  int pollOnce(SteadyTime until);

  std::string name_;
  OutputSink sink_;
  Client* client_ = nullptr;
  int wakeFd_ = -1;
  std::thread thread_;
  ChildId nextId_ = 1;
  std::map<ChildId, Child> children_;
  std::map<int, Stream> streams_;  // by read fd
  bool pidfdsWork_ = true;
};

// CPU ticks (utime+stime+cutime+cstime), resident pages and live processes summed over each process
// group in `pgids`, from one pass over /proc/*/stat. Groups with no process are absent.
struct GroupUsage {
  uint64_t ticks = 0;
  uint64_t rssPages = 0;
  int liveProcesses = 0;  // not zombies
};
std::map<pid_t, GroupUsage> readGroupUsage(const std::vector<pid_t>& pgids);

}  // namespace updraft::process_detail
