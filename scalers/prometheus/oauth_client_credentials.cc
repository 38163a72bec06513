#include "prometheus/oauth_client_credentials.h"

#include <algorithm>
#include <cctype>
#include <map>
#include <nlohmann/json.hpp>

#include "prometheus/prometheus_query.h"

namespace updraft::oauth {
namespace {

// Expire a token this long before the server says (Go oauth2's expiryDelta).
constexpr Millis kExpiryDelta{10000};

int hexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Go's url.QueryUnescape.
std::optional<std::string> queryUnescape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      out += ' ';
    } else if (s[i] == '%') {
      if (i + 2 >= s.size()) return std::nullopt;
      const int hi = hexValue(s[i + 1]);
      const int lo = hexValue(s[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out += static_cast<char>(hi * 16 + lo);
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

std::string lowerAscii(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Go oauth2's Token.Type(): the scheme to send with the access token.
std::string tokenScheme(std::string_view tokenType) {
  const std::string t = lowerAscii(tokenType);
  if (t.empty() || t == "bearer") return "Bearer";
  if (t == "mac") return "MAC";
  if (t == "basic") return "Basic";
  return std::string(tokenType);
}

std::string encodeForm(const std::map<std::string, std::vector<std::string>>& values) {
  std::string out;
  for (const auto& [key, list] : values) {
    for (const auto& v : list) {
      if (!out.empty()) out += '&';
      out += prometheus::queryEscape(key) + '=' + prometheus::queryEscape(v);
    }
  }
  return out;
}

}  // namespace

Result<std::vector<std::pair<std::string, std::string>>> parseQueryString(std::string_view s) {
  std::vector<std::pair<std::string, std::string>> out;
  size_t start = 0;
  while (start <= s.size()) {
    size_t end = s.find('&', start);
    if (end == std::string_view::npos) end = s.size();
    std::string_view pair = s.substr(start, end - start);
    start = end + 1;
    if (pair.find(';') != std::string_view::npos) {
      return Status::invalidArgument("invalid semicolon separator in query");
    }
    if (pair.empty()) continue;
    size_t eq = pair.find('=');
    auto key = queryUnescape(pair.substr(0, eq));
    auto value =
        queryUnescape(eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1));
    if (!key || !value) return Status::invalidArgument("invalid URL escape");
    out.emplace_back(std::move(*key), std::move(*value));
  }
  return out;
}

Result<std::string> ClientCredentialsSource::authorization(http::HttpClient& client,
                                                           const http::TlsOptions& tls,
                                                           const Clock& clock, TimePoint deadline,
                                                           Millis cap) {
  if (token_ && (!token_->expiry || clock.now() + kExpiryDelta < *token_->expiry)) {
    return token_->authorization;
  }
  token_.reset();
  AuthStyle style = style_ == AuthStyle::kUnknown ? AuthStyle::kInHeader : style_;
  auto token = fetch(client, tls, clock, deadline, cap, style);
  if (!token.isOk() && style_ == AuthStyle::kUnknown &&
      token.status().code() == StatusCode::kFailedPrecondition) {
    // The endpoint answered with an error: it may want the credentials in the body.
    style = AuthStyle::kInParams;
    token = fetch(client, tls, clock, deadline, cap, style);
  }
  if (!token.isOk()) {
    Status s = token.status();
    // kFailedPrecondition is internal (an HTTP-level refusal); callers see Unavailable.
    if (s.code() == StatusCode::kFailedPrecondition) return Status::unavailable(s.message());
    return s;
  }
  style_ = style;
  token_ = std::move(token.value());
  return token_->authorization;
}

Result<ClientCredentialsSource::Token> ClientCredentialsSource::fetch(http::HttpClient& client,
                                                                      const http::TlsOptions& tls,
                                                                      const Clock& clock,
                                                                      TimePoint deadline,
                                                                      Millis cap, AuthStyle style) {
  const TimePoint now = clock.now();
  const std::string where =
      "oauth2 token endpoint " + http::HttpClient::redactUrl(config_.tokenUri);
  std::map<std::string, std::vector<std::string>> form;
  form["grant_type"] = {"client_credentials"};
  if (!config_.scopes.empty()) {
    std::string joined;
    for (size_t i = 0; i < config_.scopes.size(); ++i) {
      if (i) joined += ' ';
      joined += config_.scopes[i];
    }
    form["scope"] = {joined};
  }
  std::map<std::string, std::vector<std::string>> extra;
  for (const auto& [k, v] : config_.endpointParams) extra[k].push_back(v);
  for (auto& [k, list] : extra) {
    if (form.count(k) && k != "grant_type") {
      return Status::invalidArgument(where + ": endpointParams cannot overwrite parameter \"" + k +
                                     "\"");
    }
    form[k] = list;
  }

  http::Request req;
  req.method = "POST";
  req.url = config_.tokenUri;
  req.timeout = http::HttpClient::timeoutUntil(deadline, now, cap);
  req.tls = tls;
  req.headers.emplace_back("Content-Type", "application/x-www-form-urlencoded");
  req.headers.emplace_back("Accept", "application/json");
  if (style == AuthStyle::kInHeader) {
    req.basicAuth = http::BasicAuth{prometheus::queryEscape(config_.clientId),
                                    prometheus::queryEscape(config_.clientSecret)};
  } else {
    form["client_id"] = {config_.clientId};
    if (!config_.clientSecret.empty()) form["client_secret"] = {config_.clientSecret};
  }
  req.body = encodeForm(form);

  auto response = client.send(req);
  if (!response.isOk()) {
    return Status(response.status()).withContext("oauth2: cannot fetch token");
  }
  const long code = response->status;
  if (code < 200 || code > 299) {
    std::string why = where + ": cannot fetch token: status " + std::to_string(code);
    // RFC 6749 §5.2 error codes are safe to show ("invalid_client"); descriptions are not shown.
    auto body = nlohmann::json::parse(response->body, nullptr, false);
    if (body.is_object() && body.contains("error") && body["error"].is_string()) {
      std::string error = body["error"].get<std::string>();
      if (error.size() <= 64 && std::all_of(error.begin(), error.end(),
                                            [](char c) { return std::isalnum(c) || c == '_'; })) {
        why += " (" + error + ")";
      }
    }
    return Status::failedPrecondition(std::move(why));
  }

  std::string accessToken;
  std::string tokenType;
  std::optional<long long> expiresIn;
  std::string contentType;
  if (const std::string* ct = response->header("Content-Type")) {
    contentType = lowerAscii(ct->substr(0, ct->find(';')));
    while (!contentType.empty() && contentType.back() == ' ') contentType.pop_back();
  }
  if (contentType == "application/x-www-form-urlencoded" || contentType == "text/plain") {
    auto values = parseQueryString(response->body);
    if (!values.isOk()) {
      return Status::failedPrecondition(where + ": the token response is not a valid form");
    }
    for (const auto& [k, v] : *values) {
      // url.Values.Get returns the first value of a key.
      if (k == "access_token" && accessToken.empty()) accessToken = v;
      if (k == "token_type" && tokenType.empty()) tokenType = v;
      if (k == "expires_in" && !expiresIn) {
        char* end = nullptr;
        long long n = std::strtoll(v.c_str(), &end, 10);
        if (!v.empty() && end == v.c_str() + v.size()) expiresIn = n;
      }
    }
  } else {
    auto body = nlohmann::json::parse(response->body, nullptr, false);
    if (!body.is_object()) {
      return Status::failedPrecondition(where + ": the token response is not a JSON object");
    }
    if (auto it = body.find("access_token"); it != body.end() && it->is_string()) {
      accessToken = it->get<std::string>();
    }
    if (auto it = body.find("token_type"); it != body.end() && it->is_string()) {
      tokenType = it->get<std::string>();
    }
    if (auto it = body.find("expires_in"); it != body.end()) {
      if (it->is_number_integer()) {
        expiresIn = it->get<long long>();
      } else if (it->is_number_float()) {
        expiresIn = static_cast<long long>(it->get<double>());
      } else if (it->is_string()) {
        const std::string& s = it->get_ref<const std::string&>();
        char* end = nullptr;
        long long n = std::strtoll(s.c_str(), &end, 10);
        if (!s.empty() && end == s.c_str() + s.size()) expiresIn = n;
      }
    }
  }
  if (accessToken.empty()) {
    return Status::failedPrecondition(where + ": server response missing access_token");
  }
  Token token;
  token.authorization = tokenScheme(tokenType) + " " + accessToken;
  if (expiresIn && *expiresIn > 0) {
    const long long seconds = std::min<long long>(*expiresIn, 2147483647LL);
    token.expiry = now + std::chrono::seconds(seconds);
  }
  return token;
}

}  // namespace updraft::oauth
