// The HTTP side: authentication (bearer tokens, client certificates), routing of the REST paths
// to Api calls, discovery, watch streams, and the /_test/ controls (failure injection, request
// log, compaction, dropping watches, token rotation).
#pragma once

#include <httplib.h>

#include <chrono>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "api.h"
#include "common.h"
#include "resources.h"
#include "store.h"
#include "watch.h"

namespace updraft::kubetest {

struct FrontendConfig {
  std::vector<std::string> tokens;  // accepted bearer tokens
  std::chrono::seconds minRequestTimeout{1800};
  std::chrono::milliseconds bookmarkInterval{5000};
  std::string stateFile;  // for POST /_test/save
};

class HttpFrontend {
 public:
  HttpFrontend(Api& api, Registry& registry, Store& store, WatchHub& hub, FrontendConfig config);

  // Routes every method and path of `server` to this frontend.
  void install(httplib::Server& server);
  // "127.0.0.1:6443", reported by /api.
  void setServerAddress(std::string address);

 private:
  struct Failure {
    int status = 0;
    int remaining = 0;
    int retryAfter = -1;
    std::string path;  // substring filter; empty: any
    std::string method;
    std::string message;
  };

  void handle(const httplib::Request& req, httplib::Response& res);
  void handleTestControl(const httplib::Request& req, httplib::Response& res);
  void handleApi(const httplib::Request& req, httplib::Response& res, const Caller& caller);
  void handleResource(const httplib::Request& req, httplib::Response& res, const Caller& caller,
                      const std::string& group, const std::string& version,
                      std::vector<std::string> rest);
  std::optional<Caller> authenticate(const httplib::Request& req);
  bool injectFailure(const httplib::Request& req, httplib::Response& res);
  uint64_t logRequest(const httplib::Request& req);
  void logResult(uint64_t seq, int code);

  Api& api_;
  Registry& registry_;
  Store& store_;
  WatchHub& hub_;
  FrontendConfig config_;
  std::string serverAddress_;

  std::mutex mu_;  // guards everything below
  std::vector<std::string> tokens_;
  Failure failure_;
  std::deque<json> requests_;
  uint64_t nextSeq_ = 1;
};

}  // namespace updraft::kubetest
