// OAuth 2.0 client-credentials tokens (RFC 6749 §4.4), as Go's
// golang.org/x/oauth2/clientcredentials fetches them, over the shared HTTP client.
//
//   POST <tokenUri>   Content-Type: application/x-www-form-urlencoded
//   grant_type=client_credentials[&scope=<scopes joined by ' '>][&<endpointParams>...]
//
// Client authentication is detected as Go's AuthStyleAutoDetect does: first HTTP Basic with the
// URL-escaped client id and secret; if the server answers with an error, again with client_id /
// client_secret in the form body; the style that worked is kept. The answer is JSON
// ({"access_token", "token_type", "expires_in"}) or, for form/text content types, a query string.
// A token is reused until 10 s before it expires (Go's expiryDelta); one without expires_in is
// reused until the scaler is closed.
//
// Messages name the token endpoint (without userinfo or query) and the HTTP status or reason; never
// the client secret or a token. Not thread-safe: one instance belongs to one scaler.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/http_client.h"
#include "updraft/clock.h"
#include "updraft/status.h"

namespace updraft::oauth {

struct ClientCredentialsConfig {
  std::string tokenUri;
  std::vector<std::string> scopes;
  std::string clientId;
  std::string clientSecret;
  // Extra form parameters (KEDA's endpointParams, a url.Values); may override grant_type only.
  std::vector<std::pair<std::string, std::string>> endpointParams;
};

// Parses a query string the way Go's url.ParseQuery does ("a=1&b=x+y&c=%2F"): '&' separates
// pairs, a ';' is an error, keys and values are unescaped ('+' is a space). InvalidArgument
// (without echoing the input, which may be a secret) on a bad escape or a ';'.
Result<std::vector<std::pair<std::string, std::string>>> parseQueryString(std::string_view s);

class ClientCredentialsSource {
 public:
  explicit ClientCredentialsSource(ClientCredentialsConfig config) : config_(std::move(config)) {}

  // The Authorization header value ("Bearer <token>"): the cached token while valid, else a new
  // one from the token endpoint; each request to it gets min(cap, deadline - now).
  Result<std::string> authorization(http::HttpClient& client, const http::TlsOptions& tls,
                                    const Clock& clock, TimePoint deadline, Millis cap);
  // Forgets the cached token (e.g. after the server rejected it).
  void invalidate() { token_.reset(); }

 private:
  enum class AuthStyle { kUnknown, kInHeader, kInParams };
  struct Token {
    std::string authorization;
    std::optional<TimePoint> expiry;
  };
  Result<Token> fetch(http::HttpClient& client, const http::TlsOptions& tls, const Clock& clock,
                      TimePoint deadline, Millis cap, AuthStyle style);

  ClientCredentialsConfig config_;
  AuthStyle style_ = AuthStyle::kUnknown;
  std::optional<Token> token_;
};

}  // namespace updraft::oauth
