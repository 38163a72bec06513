// Azure AD workload identity for scalers running in a pod that the workload identity webhook set
// up: the federated service-account token (AZURE_FEDERATED_TOKEN_FILE) is exchanged for an access
// token with the OAuth 2.0 client-credentials grant and a client assertion, as the Azure SDKs'
// WorkloadIdentityCredential does:
//
//   POST <AZURE_AUTHORITY_HOST><AZURE_TENANT_ID>/oauth2/v2.0/token
//     client_id=<AZURE_CLIENT_ID>&scope=<scope>&grant_type=client_credentials
//     &client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer
//     &client_assertion=<contents of AZURE_FEDERATED_TOKEN_FILE>
//   -> {"token_type":"Bearer","expires_in":3599,"access_token":"..."}
//
// Tokens are cached and refreshed 5 minutes before they expire; the file is re-read for every
// exchange (the kubelet rotates it). Messages never contain the assertion or an access token.
#pragma once

#include <string>
#include <string_view>

#include "common/http_client.h"
#include "updraft/clock.h"
#include "updraft/status.h"

namespace updraft::azure {

struct WorkloadIdentityConfig {
  std::string clientId;
  std::string tenantId;
  std::string tokenFile;
  std::string authorityHost;  // with a trailing '/'
};

// From the environment the webhook sets: AZURE_CLIENT_ID, AZURE_TENANT_ID,
// AZURE_FEDERATED_TOKEN_FILE and (optional, default `defaultAuthorityHost`, the cloud's Active
// Directory endpoint) AZURE_AUTHORITY_HOST. FailedPrecondition naming every missing variable.
Result<WorkloadIdentityConfig> workloadIdentityFromEnv(std::string_view defaultAuthorityHost);

class WorkloadIdentityCredential {
 public:
  WorkloadIdentityCredential(WorkloadIdentityConfig config, std::string scope, const Clock* clock);

  // An access token for the scope, from the cache or a new exchange that ends by `deadline`
  // (each request also capped at `cap`). Not thread-safe (one per scaler).
  Result<std::string> token(TimePoint deadline, Millis cap);

  // Token exchanges performed so far (for tests and metrics).
  int exchanges() const { return exchanges_; }

 private:
  WorkloadIdentityConfig config_;
  std::string scope_;
  const Clock* clock_;
  http::HttpClient client_;
  std::string token_;
  TimePoint refreshAt_{};
  int exchanges_ = 0;
};

}  // namespace updraft::azure
