#include "common/azure_auth.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <vector>

#include "updraft/metadata.h"

namespace updraft::azure {
namespace {

using metadata::trim;

bool equalFold(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// host[:port] of "<scheme>://[userinfo@]host[:port][/path]", or nullopt when `value` has no
// scheme/authority or the authority holds characters no host may hold.
std::optional<std::string> endpointHost(std::string_view value) {
  size_t sep = value.find("://");
  if (sep == std::string_view::npos || sep == 0) return std::string();  // no host (Go: Host "")
  std::string_view scheme = value.substr(0, sep);
  if (!std::isalpha(static_cast<unsigned char>(scheme.front()))) return std::nullopt;
  for (char c : scheme) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '+' && c != '-' && c != '.') {
      return std::nullopt;
    }
  }
  std::string_view rest = value.substr(sep + 3);
  std::string_view authority = rest.substr(0, rest.find_first_of("/?#"));
  if (size_t at = authority.rfind('@'); at != std::string_view::npos) {
    authority.remove_prefix(at + 1);
  }
  std::string_view host = authority;
  std::string_view port;
  if (!authority.empty() && authority.front() == '[') {  // [v6]:port
    size_t close = authority.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    host = authority.substr(0, close + 1);
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return std::nullopt;
      port = after.substr(1);
    }
  } else if (size_t colon = authority.rfind(':'); colon != std::string_view::npos) {
    host = authority.substr(0, colon);
    port = authority.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) return std::nullopt;
  }
  for (char c : host) {
    unsigned char u = static_cast<unsigned char>(c);
    if (!std::isalnum(u) && c != '-' && c != '.' && c != '_' && c != '[' && c != ']' && c != ':' &&
        u < 0x80) {
      return std::nullopt;
    }
  }
  if (!port.empty() && !std::all_of(port.begin(), port.end(), [](char c) {
        return std::isdigit(static_cast<unsigned char>(c));
      })) {
    return std::nullopt;
  }
  if (host.empty()) return std::string();
  return std::string(authority);
}

}  // namespace

std::string queryEscape(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size() * 3);
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

Result<ConnectionString> parseConnectionString(std::string_view s) {
  ConnectionString out;
  size_t start = 0;
  while (start <= s.size()) {
    size_t end = s.find(';', start);
    if (end == std::string_view::npos) end = s.size();
    std::string_view part = trim(s.substr(start, end - start));
    start = end + 1;
    if (part.empty()) continue;
    size_t eq = part.find('=');
    if (eq == std::string_view::npos) {
      return Status::invalidArgument(
          "failed parsing connection string due to unmatched key value separated by '='");
    }
    std::string_view key = trim(part.substr(0, eq));
    std::string_view value = trim(part.substr(eq + 1));
    if (equalFold(key, "Endpoint")) {
      auto host = endpointHost(value);
      if (!host) {
        return Status::invalidArgument(
            "failed parsing connection string due to an incorrectly formatted Endpoint value");
      }
      out.endpoint = *host;
    } else if (equalFold(key, "SharedAccessKeyName")) {
      out.keyName = std::string(value);
    } else if (equalFold(key, "SharedAccessKey")) {
      out.key = std::string(value);
    } else if (equalFold(key, "EntityPath")) {
      out.entityPath = std::string(value);
    } else if (equalFold(key, "SharedAccessSignature")) {
      out.sharedAccessSignature = std::string(value);
    }
  }
  if (out.endpoint.empty()) return Status::invalidArgument("key \"Endpoint\" must not be empty");
  if (out.sharedAccessSignature.empty() && out.keyName.empty()) {
    return Status::invalidArgument("key \"SharedAccessKeyName\" must not be empty");
  }
  if (out.key.empty() && out.sharedAccessSignature.empty()) {
    return Status::invalidArgument(
        "key \"SharedAccessKey\" or \"SharedAccessSignature\" cannot both be empty");
  }
  return out;
}

std::string hmacSha256Base64(std::string_view key, std::string_view data) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> mac{};
  unsigned int macLen = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), mac.data(), &macLen);
  std::vector<unsigned char> b64(4 * ((macLen + 2) / 3) + 1);
  int n = EVP_EncodeBlock(b64.data(), mac.data(), static_cast<int>(macLen));
  return std::string(reinterpret_cast<const char*>(b64.data()), static_cast<size_t>(n));
}

std::string sharedAccessSignature(std::string_view resourceUri, std::string_view keyName,
                                  std::string_view key, int64_t expiryUnixSeconds) {
  const std::string enc = lower(queryEscape(resourceUri));
  const std::string se = std::to_string(expiryUnixSeconds);
  const std::string sig = queryEscape(hmacSha256Base64(key, enc + "\n" + se));
  std::string token = "SharedAccessSignature sr=";
  token += enc;
  token += "&sig=";
  token += sig;
  token += "&se=";
  token += se;
  token += "&skn=";
  token += keyName;
  return token;
}

int64_t sasExpiry(TimePoint now) {
  return std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count() +
         2 * 3600;
}

const Cloud& publicCloud() {
  static const Cloud kPublic{"AzurePublicCloud", "servicebus.windows.net",
                             "https://login.microsoftonline.com/"};
  return kPublic;
}

std::optional<Cloud> cloudFromName(std::string_view name) {
  if (equalFold(name, "AzurePublicCloud") || equalFold(name, "AzureCloud")) return publicCloud();
  if (equalFold(name, "AzureUSGovernmentCloud")) {
    return Cloud{"AzureUSGovernmentCloud", "servicebus.usgovcloudapi.net",
                 "https://login.microsoftonline.us/"};
  }
  if (equalFold(name, "AzureChinaCloud")) {
    return Cloud{"AzureChinaCloud", "servicebus.chinacloudapi.cn",
                 "https://login.chinacloudapi.cn/"};
  }
  if (equalFold(name, "AzureGermanCloud")) {
    return Cloud{"AzureGermanCloud", "servicebus.cloudapi.de", "https://login.microsoftonline.de/"};
  }
  return std::nullopt;
}

}  // namespace updraft::azure
