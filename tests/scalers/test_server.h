// A cpp-httplib server on 127.0.0.1:<free port>, served from a background thread, for scaler tests.
#pragma once

#include <arpa/inet.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <memory>
#include <mutex>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>

#include "updraft/scaler.h"

namespace updraft::testing {

inline std::string testdataPath(const std::string& name) {
  return std::string(UPDRAFT_SOURCE_DIR) + "/tests/scalers/testdata/" + name;
}

inline std::string readTestdata(const std::string& name) {
  std::ifstream in(testdataPath(name));
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class TestServer {
 public:
  explicit TestServer(std::unique_ptr<httplib::Server> server = std::make_unique<httplib::Server>())
      : server_(std::move(server)) {
    server_->set_keep_alive_max_count(1000);
    server_->set_keep_alive_timeout(2);
    // Count client connections by their source port.
    server_->set_pre_routing_handler([this](const httplib::Request& req, httplib::Response&) {
      std::lock_guard lock(mutex_);
      ports_.insert(req.remote_port);
      ++requests_;
      return httplib::Server::HandlerResponse::Unhandled;
    });
  }
  ~TestServer() { stop(); }
  TestServer(const TestServer&) = delete;
  TestServer& operator=(const TestServer&) = delete;

  httplib::Server& server() { return *server_; }

  // Binds to a free port and serves in a thread. Register handlers before calling.
  void start() {
    port_ = server_->bind_to_any_port("127.0.0.1");
    if (port_ <= 0) throw std::runtime_error("test server: bind failed");
    thread_ = std::thread([this] { server_->listen_after_bind(); });
    for (int i = 0; i < 500 && !server_->is_running(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  }
  void stop() {
    if (thread_.joinable()) {
      server_->stop();
      thread_.join();
    }
  }

  int port() const { return port_; }
  std::string url(const std::string& path, const std::string& scheme = "http") const {
    return scheme + "://127.0.0.1:" + std::to_string(port_) + path;
  }
  size_t connections() const {
    std::lock_guard lock(mutex_);
    return ports_.size();
  }
  size_t requests() const {
    std::lock_guard lock(mutex_);
    return requests_;
  }

 private:
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  int port_ = 0;
  mutable std::mutex mutex_;
  std::set<int> ports_;
  size_t requests_ = 0;
};

// An HTTPS server (server.pem for 127.0.0.1) that requires a client certificate signed by ca.pem.
inline std::unique_ptr<httplib::Server> makeMutualTlsServer() {
  return std::make_unique<httplib::SSLServer>(testdataPath("server.pem").c_str(),
                                              testdataPath("server.key").c_str(),
                                              testdataPath("ca.pem").c_str());
}

// A port on 127.0.0.1 where nothing listens (bound, then released).
inline int closedPort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    throw std::runtime_error("closedPort: socket/bind failed");
  }
  ::close(fd);
  return ntohs(addr.sin_port);
}

inline ScalerConfig scalerConfig(std::string type, StringMap metadata, StringMap authParams = {},
                                 StringMap resolvedEnv = {}) {
  ScalerConfig c;
  c.scalableObjectName = "so";
  c.scalableObjectNamespace = "default";
  c.scalableObjectType = "ScaledObject";
  c.triggerType = std::move(type);
  c.triggerMetadata = std::move(metadata);
  c.authParams = std::move(authParams);
  c.resolvedEnv = std::move(resolvedEnv);
  return c;
}

}  // namespace updraft::testing
