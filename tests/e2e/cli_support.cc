#include "e2e/cli_support.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

extern char** environ;

namespace updraft::e2e {

std::string updraftBinary() { return std::string(UPDRAFT_BINARY_DIR) + "/app/updraft"; }

TempDir::TempDir() {
  char tmpl[] = "/tmp/updraft-e2e-XXXXXX";
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

int decodeStatus(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

}  // namespace

CommandResult runCommand(const std::vector<std::string>& argv, std::chrono::seconds timeout,
                         const std::string& stdinData) {
  int outPipe[2], errPipe[2], inPipe[2];
  if (pipe(outPipe) || pipe(errPipe) || pipe(inPipe)) throw std::runtime_error("pipe failed");
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, inPipe[0], 0);
  posix_spawn_file_actions_adddup2(&fa, outPipe[1], 1);
  posix_spawn_file_actions_adddup2(&fa, errPipe[1], 2);
  for (int fd : {outPipe[0], outPipe[1], errPipe[0], errPipe[1], inPipe[0], inPipe[1]}) {
    posix_spawn_file_actions_addclose(&fa, fd);
  }
  pid_t pid;
  auto args = toArgv(argv);
  if (posix_spawn(&pid, args[0], &fa, nullptr, args.data(), environ) != 0) {
    throw std::runtime_error("cannot spawn " + argv[0]);
  }
  posix_spawn_file_actions_destroy(&fa);
  close(outPipe[1]);
  close(errPipe[1]);
  close(inPipe[0]);
  // Feed stdin from a thread so a large input cannot deadlock against full output pipes.
  std::thread feeder([fd = inPipe[1], &stdinData] {
    size_t off = 0;
    while (off < stdinData.size()) {
      ssize_t n = ::write(fd, stdinData.data() + off, stdinData.size() - off);
      if (n <= 0) break;
      off += static_cast<size_t>(n);
    }
    close(fd);
  });
  CommandResult r;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  pollfd fds[2] = {{outPipe[0], POLLIN, 0}, {errPipe[0], POLLIN, 0}};
  int open = 2;
  char buf[65536];
  while (open > 0 && std::chrono::steady_clock::now() < deadline) {
    if (::poll(fds, 2, 100) <= 0) continue;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP))) continue;
      ssize_t n = ::read(fds[i].fd, buf, sizeof buf);
      if (n <= 0) {
        close(fds[i].fd);
        fds[i].fd = -1;
        --open;
      } else {
        (i == 0 ? r.out : r.err).append(buf, static_cast<size_t>(n));
      }
    }
  }
  if (open > 0) kill(pid, SIGKILL);
  for (auto& f : fds) {
    if (f.fd >= 0) close(f.fd);
  }
  feeder.join();
  int status = 0;
  waitpid(pid, &status, 0);
  r.exitCode = decodeStatus(status);
  return r;
}

Child::Child(const std::vector<std::string>& argv) {
  int outPipe[2];
  if (pipe(outPipe)) throw std::runtime_error("pipe failed");
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, outPipe[1], 1);
  posix_spawn_file_actions_addclose(&fa, outPipe[0]);
  posix_spawn_file_actions_addclose(&fa, outPipe[1]);
  auto args = toArgv(argv);
  pid_t pid;
  if (posix_spawn(&pid, args[0], &fa, nullptr, args.data(), environ) != 0) {
    throw std::runtime_error("cannot spawn " + argv[0]);
  }
  posix_spawn_file_actions_destroy(&fa);
  close(outPipe[1]);
  pid_ = pid;
  outFd_ = outPipe[0];
}

Child::~Child() {
  if (exitCode_ < 0 && pid_ > 0) {
    kill(pid_, SIGKILL);
    int status;
    waitpid(pid_, &status, 0);
  }
  if (outFd_ >= 0) close(outFd_);
}

bool Child::readSome(std::chrono::milliseconds timeout) {
  if (outFd_ < 0) return false;
  pollfd p{outFd_, POLLIN, 0};
  if (::poll(&p, 1, static_cast<int>(timeout.count())) <= 0) return false;
  char buf[65536];
  ssize_t n = ::read(outFd_, buf, sizeof buf);
  if (n <= 0) {
    close(outFd_);
    outFd_ = -1;
    return false;
  }
  output_.append(buf, static_cast<size_t>(n));
  return true;
}

std::string Child::waitForLine(const std::string& needle, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    size_t pos = output_.find(needle, scanned_);
    if (pos != std::string::npos) {
      size_t start = output_.rfind('\n', pos);
      start = start == std::string::npos ? 0 : start + 1;
      size_t end = output_.find('\n', pos);
      if (end != std::string::npos) {
        scanned_ = end + 1;
        return output_.substr(start, end - start);
      }
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return "";
    if (!readSome(std::min(left, std::chrono::milliseconds(200))) && outFd_ < 0) return "";
  }
}

void Child::signal(int sig) {
  if (pid_ > 0 && exitCode_ < 0) kill(pid_, sig);
}

int Child::wait(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (exitCode_ < 0) {
    int status = 0;
    pid_t r = waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      exitCode_ = decodeStatus(status);
      break;
    }
    if (std::chrono::steady_clock::now() >= deadline) return -1;
    readSome(std::chrono::milliseconds(50));
  }
  while (readSome(std::chrono::milliseconds(10))) {
  }
  return exitCode_;
}

int countChildren(int pid) {
  int count = 0;
  DIR* d = opendir("/proc");
  if (!d) return -1;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    std::ifstream stat(std::string("/proc/") + e->d_name + "/stat");
    std::string line;
    std::getline(stat, line);
    auto close = line.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream rest(line.substr(close + 2));
    char state;
    int ppid;
    rest >> state >> ppid;
    if (ppid == pid && state != 'Z') ++count;
  }
  closedir(d);
  return count;
}

int freeLocalPort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    ::close(fd);
    return -1;
  }
  ::close(fd);
  return ntohs(addr.sin_port);
}

void replaceFile(const std::string& path, const std::string& text) {
  {
    std::ofstream f(path + ".new", std::ios::binary);
    f << text;
  }
  std::filesystem::rename(path + ".new", path);
}

}  // namespace updraft::e2e
