#include "common/azure_workload_identity.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <vector>

#include "common/azure_auth.h"

namespace updraft::azure {
namespace {

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? std::string(v) : std::string();
}

std::string firstLine(std::string s, size_t max) {
  if (size_t nl = s.find_first_of("\r\n"); nl != std::string::npos) s.erase(nl);
  if (s.size() > max) s = s.substr(0, max) + "...";
  return s;
}

}  // namespace

Result<WorkloadIdentityConfig> workloadIdentityFromEnv(std::string_view defaultAuthorityHost) {
  WorkloadIdentityConfig c;
  c.clientId = env("AZURE_CLIENT_ID");
  c.tenantId = env("AZURE_TENANT_ID");
  c.tokenFile = env("AZURE_FEDERATED_TOKEN_FILE");
  c.authorityHost = env("AZURE_AUTHORITY_HOST");
  if (c.authorityHost.empty()) c.authorityHost = std::string(defaultAuthorityHost);
  if (!c.authorityHost.empty() && c.authorityHost.back() != '/') c.authorityHost += '/';
  std::vector<std::string> missing;
  if (c.clientId.empty()) missing.push_back("AZURE_CLIENT_ID");
  if (c.tenantId.empty()) missing.push_back("AZURE_TENANT_ID");
  if (c.tokenFile.empty()) missing.push_back("AZURE_FEDERATED_TOKEN_FILE");
  if (!missing.empty()) {
    std::string list;
    for (const auto& m : missing) list += (list.empty() ? "" : ", ") + m;
    return Status::failedPrecondition(
        "Azure AD workload identity needs AZURE_CLIENT_ID, AZURE_TENANT_ID and "
        "AZURE_FEDERATED_TOKEN_FILE (set in the pod by the workload identity webhook; outside "
        "Azure/Kubernetes set them yourself); missing: " +
        list);
  }
  return c;
}

WorkloadIdentityCredential::WorkloadIdentityCredential(WorkloadIdentityConfig config,
                                                       std::string scope, const Clock* clock)
    : config_(std::move(config)), scope_(std::move(scope)), clock_(clock) {}

Result<std::string> WorkloadIdentityCredential::token(TimePoint deadline, Millis cap) {
  const TimePoint now = clock_->now();
  if (!token_.empty() && now < refreshAt_) return token_;

  std::ifstream in(config_.tokenFile);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string assertion = ss.str();
  while (!assertion.empty() && std::isspace(static_cast<unsigned char>(assertion.back()))) {
    assertion.pop_back();
  }
  if (!in || assertion.empty()) {
    return Status::failedPrecondition("Azure AD workload identity: AZURE_FEDERATED_TOKEN_FILE \"" +
                                      config_.tokenFile + "\" cannot be read or is empty");
  }

  http::Request req;
  req.method = "POST";
  req.url = config_.authorityHost + queryEscape(config_.tenantId) + "/oauth2/v2.0/token";
  req.headers.emplace_back("Content-Type", "application/x-www-form-urlencoded");
  req.body = "client_id=" + queryEscape(config_.clientId) + "&scope=" + queryEscape(scope_) +
             "&grant_type=client_credentials"
             "&client_assertion_type=" +
             queryEscape("urn:ietf:params:oauth:client-assertion-type:jwt-bearer") +
             "&client_assertion=" + queryEscape(assertion);
  req.timeout = http::HttpClient::timeoutUntil(deadline, now, cap);
  req.followRedirects = false;
  const std::string where = "Azure AD workload identity: POST " + req.url;
  auto response = client_.send(req);
  ++exchanges_;
  if (!response.isOk()) return response.status().withContext("Azure AD workload identity");

  nlohmann::json doc = nlohmann::json::parse(response->body, nullptr, false);
  if (response->status != 200) {
    std::string msg = where + ": " + std::to_string(response->status);
    if (doc.is_object() && doc.contains("error") && doc["error"].is_string()) {
      msg += ": " + doc["error"].get<std::string>();
      if (doc.contains("error_description") && doc["error_description"].is_string()) {
        msg += ": " + firstLine(doc["error_description"].get<std::string>(), 300);
      }
    }
    // Defence in depth: the identity provider is not expected to echo the assertion.
    for (size_t p = assertion.size() < 8 ? std::string::npos : msg.find(assertion);
         p != std::string::npos; p = msg.find(assertion, p)) {
      msg.replace(p, assertion.size(), "***");
    }
    return Status::unavailable(msg);
  }
  if (!doc.is_object() || !doc.contains("access_token") || !doc["access_token"].is_string() ||
      doc["access_token"].get<std::string>().empty()) {
    return Status::unavailable(where + ": the response holds no access_token");
  }
  int64_t expiresIn = 3600;
  if (doc.contains("expires_in")) {
    const auto& e = doc["expires_in"];
    if (e.is_number_integer()) {
      expiresIn = e.get<int64_t>();
    } else if (e.is_string()) {
      expiresIn = std::atoll(e.get<std::string>().c_str());
    }
  }
  token_ = doc["access_token"].get<std::string>();
  // Refresh 5 minutes early (or halfway through a short lifetime).
  const int64_t early = std::min<int64_t>(300, expiresIn / 2);
  refreshAt_ = now + std::chrono::seconds(expiresIn - early);
  return token_;
}

}  // namespace updraft::azure
