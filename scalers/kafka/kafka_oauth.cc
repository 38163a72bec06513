#include "kafka/kafka_oauth.h"

#include <algorithm>
#include <cctype>
#include <nlohmann/json.hpp>

#include "common/http_client.h"

namespace updraft::kafka {
namespace {

// Go's url.QueryEscape.
std::string queryEscape(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else if (c == ' ') {
      out += '+';
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

std::string queryUnescape(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      out += ' ';
    } else if (s[i] == '%' && i + 2 < s.size() &&
               std::isxdigit(static_cast<unsigned char>(s[i + 1])) &&
               std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
      out += static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

// Form-encoded response (Content-Type application/x-www-form-urlencoded or text/plain).
std::string formValue(std::string_view body, std::string_view name) {
  size_t start = 0;
  while (start <= body.size()) {
    size_t amp = body.find('&', start);
    if (amp == std::string_view::npos) amp = body.size();
    std::string_view pair = body.substr(start, amp - start);
    size_t eq = pair.find('=');
    if (queryUnescape(pair.substr(0, eq)) == name) {
      return eq == std::string_view::npos ? "" : queryUnescape(pair.substr(eq + 1));
    }
    start = amp + 1;
  }
  return "";
}

}  // namespace

Result<OAuthToken> fetchOAuthToken(const OAuthClientCredentials& c, Millis timeout) {
  const std::string where = "oauth token endpoint " + http::HttpClient::redactUrl(c.tokenUrl);
  std::string scope;
  for (const auto& s : c.scopes) {
    std::string_view trimmed = s;
    while (!trimmed.empty() && std::isspace(static_cast<unsigned char>(trimmed.front()))) {
      trimmed.remove_prefix(1);
    }
    while (!trimmed.empty() && std::isspace(static_cast<unsigned char>(trimmed.back()))) {
      trimmed.remove_suffix(1);
    }
    if (trimmed.empty()) continue;
    if (!scope.empty()) scope += ' ';
    scope += trimmed;
  }
  const auto started = std::chrono::steady_clock::now();
  Status lastError;
  for (int attempt = 0; attempt < 2; ++attempt) {
    const bool inHeader = attempt == 0;
    http::Request req;
    req.method = "POST";
    req.url = c.tokenUrl;
    req.headers.emplace_back("Content-Type", "application/x-www-form-urlencoded");
    req.body = "grant_type=client_credentials";
    if (!scope.empty()) req.body += "&scope=" + queryEscape(scope);
    if (inHeader) {
      req.basicAuth = http::BasicAuth{queryEscape(c.clientId), queryEscape(c.clientSecret)};
    } else {
      req.body += "&client_id=" + queryEscape(c.clientId);
      if (!c.clientSecret.empty()) req.body += "&client_secret=" + queryEscape(c.clientSecret);
    }
    auto spent = std::chrono::duration_cast<Millis>(std::chrono::steady_clock::now() - started);
    req.timeout = timeout - spent;
    auto resp = http::HttpClient::shared().send(req);
    if (!resp.isOk()) return resp.status().withContext(where);  // no HTTP answer: no retry
    if (resp->status < 200 || resp->status > 299) {
      lastError = Status::unavailable(where + ": server answered " + std::to_string(resp->status));
      continue;
    }
    OAuthToken token;
    const std::string* type = resp->header("Content-Type");
    const bool form = type && (type->find("application/x-www-form-urlencoded") == 0 ||
                               type->find("text/plain") == 0);
    if (form) {
      token.accessToken = formValue(resp->body, "access_token");
      std::string expires = formValue(resp->body, "expires_in");
      if (!expires.empty() && std::all_of(expires.begin(), expires.end(), ::isdigit) &&
          expires.size() < 10) {
        token.lifetime = Millis(std::stoll(expires) * 1000);
      }
    } else {
      auto json = nlohmann::json::parse(resp->body, nullptr, /*allow_exceptions=*/false);
      if (json.is_discarded() || !json.is_object()) {
        return Status::unavailable(where + ": response is not a JSON object");
      }
      if (auto it = json.find("access_token"); it != json.end() && it->is_string()) {
        token.accessToken = it->get<std::string>();
      }
      if (auto it = json.find("expires_in"); it != json.end()) {
        if (it->is_number() && it->get<double>() > 0) {
          token.lifetime = Millis(static_cast<int64_t>(it->get<double>() * 1000));
        } else if (it->is_string()) {
          const std::string v = it->get<std::string>();
          if (!v.empty() && v.size() < 10 && std::all_of(v.begin(), v.end(), ::isdigit)) {
            token.lifetime = Millis(std::stoll(v) * 1000);
          }
        }
      }
    }
    if (token.accessToken.empty()) {
      return Status::unavailable(where + ": server response missing access_token");
    }
    return token;
  }
  return lastError;
}

}  // namespace updraft::kafka
