// OAuth2 client credentials for SASL/OAUTHBEARER (KEDA's "bearer" token provider: Go's
// golang.org/x/oauth2/clientcredentials with username = client id, password = client secret).
//
// librdkafka 2.0.2 as packaged by Debian is built without its own OIDC support
// (sasl.oauthbearer.method=oidc needs libcurl at librdkafka's build time), so the token is fetched
// here, with the project's libcurl client, from librdkafka's token refresh callback.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "updraft/clock.h"
#include "updraft/status.h"

namespace updraft::kafka {

struct OAuthClientCredentials {
  std::string clientId;
  std::string clientSecret;
  std::string tokenUrl;
  std::vector<std::string> scopes;  // empty elements are dropped
};

struct OAuthToken {
  std::string accessToken;
  // Lifetime from the token response's expires_in; 1 hour when the server gives none.
  Millis lifetime{3600 * 1000};
};

// POSTs grant_type=client_credentials (scope = the scopes joined by spaces) with the client id and
// secret in a Basic Authorization header; if the server rejects that, retries once with them in
// the form body (Go's AuthStyleAutoDetect). Errors name the token URL without query or
// credentials and never contain the secret or a token.
Result<OAuthToken> fetchOAuthToken(const OAuthClientCredentials& credentials, Millis timeout);

}  // namespace updraft::kafka
