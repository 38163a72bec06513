// Shared pieces of the metrics API and certificate tests: a fake provider, temporary directories,
// the Kubernetes API test server as a child process, and a raw libcurl client that reports which
// certificate a connection saw.
#pragma once

#include <curl/curl.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "kube_test_server/kube_support.h"
#include "updraft/operator/certificates.h"
#include "updraft/operator/metrics_api.h"

namespace updraft::testing {

using namespace std::chrono_literals;

// Answers from a table keyed by metric name; records every call.
class FakeProvider : public kube::ExternalMetricsProvider {
 public:
  struct Call {
    std::string ns;
    std::string metric;
    std::string selector;  // canonical
    TimePoint deadline;
    TimePoint at;
  };

  void set(const std::string& metric, Result<std::vector<kube::ExternalMetricValue>> answer,
           std::chrono::milliseconds delay = {}) {
    std::lock_guard lock(mutex_);
    answers_.erase(metric);
    answers_.emplace(metric, Entry{std::move(answer), delay});
  }

  Result<std::vector<kube::ExternalMetricValue>> getExternalMetric(
      const std::string& ns, const std::string& metricName, const kube::LabelSelector& selector,
      TimePoint deadline) override {
    std::chrono::milliseconds delay{};
    {
      std::lock_guard lock(mutex_);
      calls_.push_back(
          {ns, metricName, selector.toString(), deadline, std::chrono::system_clock::now()});
      auto it = answers_.find(metricName);
      if (it == answers_.end()) {
        return Status::notFound("no metric \"" + metricName + "\" in namespace " + ns);
      }
      delay = it->second.delay;
    }
    if (delay.count() > 0) std::this_thread::sleep_for(delay);
    std::lock_guard lock(mutex_);
    return answers_.at(metricName).answer;
  }

  std::vector<Call> calls() const {
    std::lock_guard lock(mutex_);
    return calls_;
  }

 private:
  struct Entry {
    Result<std::vector<kube::ExternalMetricValue>> answer;
    std::chrono::milliseconds delay;
  };
  mutable std::mutex mutex_;
  std::map<std::string, Entry> answers_;
  std::vector<Call> calls_;
};

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/updraft-metrics-api-XXXXXX";
    path_ = ::mkdtemp(tmpl);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Certificates for 127.0.0.1/localhost, in memory.
inline std::unique_ptr<kube::CertificateManager> localCertificates(std::string dir = {}) {
  kube::CertificateOptions o;
  o.dir = std::move(dir);
  o.dnsNames = {"localhost", "updraft-metrics-apiserver.updraft.svc"};
  o.ipAddresses = {"127.0.0.1"};
  auto m = kube::CertificateManager::create(o);
  INFO(m.status().toString());
  REQUIRE(m.isOk());
  return std::move(m).value();
}

// The Kubernetes API test server in a temporary directory, removed afterwards.
struct TestApiServer {
  kubetest_test::TempDir dir;
  kubetest_test::ServerProcess process{dir.path()};
  std::string kubeconfig() const { return process.kubeconfig(); }
};

// One libcurl easy handle (one keep-alive connection), reporting per request whether a new
// connection was made and the certificate the server presented on it.
class RawClient {
 public:
  struct Reply {
    CURLcode code = CURLE_OK;
    long status = 0;
    std::string body;
    std::string headers;
    long newConnections = 0;
    std::string serverCertPem;  // when a new connection was made
  };

  explicit RawClient(std::string caPem) : caPem_(std::move(caPem)) { handle_ = curl_easy_init(); }
  ~RawClient() { curl_easy_cleanup(handle_); }
  RawClient(const RawClient&) = delete;
  RawClient& operator=(const RawClient&) = delete;

  Reply get(const std::string& url) {
    Reply r;
    curl_easy_setopt(handle_, CURLOPT_URL, url.c_str());
    curl_blob blob{caPem_.data(), caPem_.size(), CURL_BLOB_COPY};
    curl_easy_setopt(handle_, CURLOPT_CAINFO_BLOB, &blob);
    curl_easy_setopt(handle_, CURLOPT_CERTINFO, 1L);
    curl_easy_setopt(handle_, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(handle_, CURLOPT_TIMEOUT_MS, 10000L);
    curl_easy_setopt(handle_, CURLOPT_WRITEFUNCTION, &RawClient::write);
    curl_easy_setopt(handle_, CURLOPT_WRITEDATA, &r.body);
    curl_easy_setopt(handle_, CURLOPT_HEADERFUNCTION, &RawClient::write);
    curl_easy_setopt(handle_, CURLOPT_HEADERDATA, &r.headers);
    r.code = curl_easy_perform(handle_);
    curl_easy_getinfo(handle_, CURLINFO_RESPONSE_CODE, &r.status);
    curl_easy_getinfo(handle_, CURLINFO_NUM_CONNECTS, &r.newConnections);
    if (r.newConnections > 0) {
      curl_certinfo* info = nullptr;
      if (curl_easy_getinfo(handle_, CURLINFO_CERTINFO, &info) == CURLE_OK && info &&
          info->num_of_certs > 0) {
        for (curl_slist* s = info->certinfo[0]; s; s = s->next) {
          std::string line = s->data;
          if (line.rfind("Cert:", 0) == 0) r.serverCertPem = line.substr(5);
        }
      }
    }
    return r;
  }

 private:
  static size_t write(char* p, size_t size, size_t n, void* out) {
    static_cast<std::string*>(out)->append(p, size * n);
    return size * n;
  }
  std::string caPem_;
  CURL* handle_ = nullptr;
};

}  // namespace updraft::testing
