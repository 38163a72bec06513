// examples/lua/github-actions.lua against a local server speaking GitHub's REST shape for
// GET /repos/{owner}/{repo}/actions/runs (GitHub itself cannot run here).
#include <catch2/catch.hpp>
#include <chrono>
#include <mutex>
#include <string>

#include "lua_example_util.h"
#include "scalers/test_server.h"

using namespace updraft;
using updraft::testing::contains;
using updraft::testing::liveExample;
using updraft::testing::TestServer;

namespace {

// Serves /api/v3/repos/{owner}/{repo}/actions/runs (GitHub Enterprise's prefix, to check that
// apiUrl is honoured) and records what it was asked.
class FakeGitHub {
 public:
  FakeGitHub() {
    server_.server().Get(
        R"(/api/v3/repos/([^/]+)/([^/]+)/actions/runs)",
        [this](const httplib::Request& req, httplib::Response& res) {
          std::lock_guard lock(mutex_);
          owner = req.matches[1];
          repo = req.matches[2];
          target = req.target;
          status = req.get_param_value("status");
          perPage = req.get_param_value("per_page");
          authorization =
              req.has_header("Authorization") ? req.get_header_value("Authorization") : "<absent>";
          accept = req.get_header_value("Accept");
          apiVersion = req.get_header_value("X-GitHub-Api-Version");
          if (mode == "rate403") {
            res.status = 403;
            res.set_header("x-ratelimit-limit", "5000");
            res.set_header("x-ratelimit-remaining", "0");
            res.set_header("x-ratelimit-reset", resetAt);
            res.set_content(R"({"message":"API rate limit exceeded for user ID 1."})",
                            "application/json");
          } else if (mode == "rate429") {
            res.status = 429;
            res.set_header("retry-after", "30");
            res.set_content(R"({"message":"You have exceeded a secondary rate limit."})",
                            "application/json");
          } else if (mode == "forbidden") {
            res.status = 403;
            res.set_header("x-ratelimit-remaining", "4999");
            res.set_content(R"({"message":"Resource not accessible by personal access token"})",
                            "application/json");
          } else if (mode == "notfound") {
            res.status = 404;
            res.set_content(R"({"message":"Not Found"})", "application/json");
          } else {
            // The real answer carries the first run in workflow_runs; total_count counts all.
            res.set_header("x-ratelimit-remaining", "4998");
            res.set_content(R"({"total_count":)" + std::to_string(queued) +
                                R"(,"workflow_runs":[{"id":1,"status":"queued"}]})",
                            "application/vnd.github+json; charset=utf-8");
          }
        });
    server_.start();
  }
  ~FakeGitHub() { updraft::testing::closeIdleConnections(); }

  std::string apiUrl() const { return server_.url("/api/v3/"); }
  void set(const std::string& m, int q = 0) {
    std::lock_guard lock(mutex_);
    mode = m;
    queued = q;
  }

  std::mutex mutex_;
  std::string mode = "ok", resetAt = "1700000000";
  int queued = 0;
  std::string owner, repo, target, status, perPage, authorization, accept, apiVersion;

 private:
  TestServer server_;
};

}  // namespace

TEST_CASE("github-actions.lua: queued runs from GitHub's REST API") {
  FakeGitHub github;
  github.set("ok", 7);
  const StringMap metadata = {{"owner", "my-org"},
                              {"repo", "my.repo"},
                              {"apiUrl", github.apiUrl()},
                              {"targetValue", "2"},
                              {"activationTargetValue", "3"}};
  auto live = liveExample("github-actions.lua", metadata,
                          {{"personalAccessToken", "ghp_TESTTOKEN"}}, "queued-runs");
  CHECK(live.metricName() == "s0-lua-queued-runs");

  auto r = live.poll();
  INFO(r.status().message());
  REQUIRE(r.isOk());
  CHECK(r->metrics.at(0).value == 7);
  CHECK(r->isActive);  // 7 > activationTargetValue 3
  {
    std::lock_guard lock(github.mutex_);
    CHECK(github.owner == "my-org");
    CHECK(github.repo == "my.repo");
    CHECK(github.target == "/api/v3/repos/my-org/my.repo/actions/runs?status=queued&per_page=1");
    CHECK(github.status == "queued");
    CHECK(github.perPage == "1");
    CHECK(github.authorization == "Bearer ghp_TESTTOKEN");
    CHECK(github.accept == "application/vnd.github+json");
    CHECK(github.apiVersion == "2022-11-28");
  }

  github.set("ok", 2);
  r = live.poll();
  REQUIRE(r.isOk());
  CHECK(r->metrics.at(0).value == 2);
  CHECK_FALSE(r->isActive);

  // Rate limited: the status and the reset time, never the token.
  github.set("rate403");
  std::string err = live.error();
  CHECK(contains(err,
                 "github-actions: rate limited by GitHub (HTTP 403); x-ratelimit-reset "
                 "1700000000 (in 0 s)"));
  CHECK_FALSE(contains(err, "ghp_TESTTOKEN"));
  github.set("rate429");
  err = live.error();
  CHECK(contains(err,
                 "rate limited by GitHub (HTTP 429); no x-ratelimit-reset header, "
                 "retry-after 30 s"));
  // A reset in the future says how far away it is.
  {
    std::lock_guard lock(github.mutex_);
    github.resetAt = std::to_string(std::chrono::duration_cast<std::chrono::seconds>(
                                        std::chrono::system_clock::now().time_since_epoch())
                                        .count() +
                                    120);
  }
  github.set("rate403");
  err = live.error();
  CHECK((contains(err, "(in 120 s)") || contains(err, "(in 119 s)")));

  // Other failures name the status and GitHub's message.
  github.set("forbidden");
  CHECK(contains(live.error(),
                 "github-actions: HTTP 403 for my-org/my.repo: Resource not "
                 "accessible by personal access token"));
  github.set("notfound");
  CHECK(contains(live.error(), "github-actions: HTTP 404 for my-org/my.repo: Not Found"));
}

TEST_CASE("github-actions.lua: no token, no Authorization header; settings are required") {
  FakeGitHub github;
  github.set("ok", 1);
  auto anonymous =
      liveExample("github-actions.lua",
                  {{"owner", "octo cat"}, {"repo", "hello"}, {"apiUrl", github.apiUrl()}});
  CHECK(anonymous.value() == 1);
  {
    std::lock_guard lock(github.mutex_);
    CHECK(github.authorization == "<absent>");
    CHECK(github.target == "/api/v3/repos/octo%20cat/hello/actions/runs?status=queued&per_page=1");
  }
  auto noRepo = liveExample("github-actions.lua", {{"owner", "o"}, {"apiUrl", github.apiUrl()}});
  CHECK(contains(noRepo.error(), "github-actions: metadata.repo is required"));
}
