// Azure helpers shared by scalers: connection strings, Shared Access Signatures (SAS) and the
// names of Azure clouds, with the rules of the Azure Go SDK that KEDA uses.
//
//   auto conn = azure::parseConnectionString(connectionString);   // never echoes a value
//   std::string auth = azure::sharedAccessSignature(
//       "https://ns.servicebus.windows.net/orders?api-version=2021-05", conn->keyName, conn->key,
//       azure::sasExpiry(clock.now()));
//   req.headers.emplace_back("Authorization", auth);
//
// Nothing here does I/O. Error messages never contain a key, a signature or the connection string.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "updraft/clock.h"
#include "updraft/status.h"

namespace updraft::azure {

// Go's url.QueryEscape: A-Z a-z 0-9 '-' '_' '.' '~' are kept, ' ' becomes '+', every other byte
// becomes %XX with upper-case hex digits.
std::string queryEscape(std::string_view s);

// A Service Bus / Event Hubs connection string
// ("Endpoint=sb://<ns>.servicebus.windows.net/;SharedAccessKeyName=<name>;SharedAccessKey=<key>"
// or "Endpoint=sb://...;SharedAccessSignature=SharedAccessSignature
// sr=...&sig=...&se=...&skn=...").
struct ConnectionString {
  // host[:port] of Endpoint, as written (the scheme, sb:// or any other, is not kept: management
  // requests always go to https://<endpoint>/).
  std::string endpoint;
  std::string keyName;
  std::string key;                    // secret
  std::string sharedAccessSignature;  // secret; sent verbatim as the Authorization header
  std::string entityPath;
};

// Parses `s` as the Go SDK does (keys case-insensitive, values split on the first '=', unknown keys
// ignored), except that empty segments (a trailing ';') and whitespace around keys and values are
// tolerated. Errors (InvalidArgument), none of which quotes a value:
//   failed parsing connection string due to unmatched key value separated by '='
//   failed parsing connection string due to an incorrectly formatted Endpoint value
//   key "Endpoint" must not be empty
//   key "SharedAccessKeyName" must not be empty
//   key "SharedAccessKey" or "SharedAccessSignature" cannot both be empty
Result<ConnectionString> parseConnectionString(std::string_view s);

// The SAS token for one request, as the Go SDK builds it:
//   enc = lower(queryEscape(resourceUri)); se = expiry in Unix seconds;
//   sig = queryEscape(base64(HMAC-SHA256(key bytes as given, enc + "\n" + se)))
//   => "SharedAccessSignature sr=<enc>&sig=<sig>&se=<se>&skn=<keyName>"
std::string sharedAccessSignature(std::string_view resourceUri, std::string_view keyName,
                                  std::string_view key, int64_t expiryUnixSeconds);
// Unix seconds of now + 2 h (the lifetime the Go SDK gives its tokens).
int64_t sasExpiry(TimePoint now);

// base64(HMAC-SHA256(key, data)) with the standard alphabet and padding.
std::string hmacSha256Base64(std::string_view key, std::string_view data);

// An Azure cloud as named in trigger metadata (`cloud`), after go-autorest's EnvironmentFromName.
struct Cloud {
  std::string name;                      // canonical: AzurePublicCloud, AzureUSGovernmentCloud, ...
  std::string serviceBusEndpointSuffix;  // servicebus.windows.net, ...
  std::string activeDirectoryEndpoint;   // https://login.microsoftonline.com/, ...
};
// Case-insensitive: AzurePublicCloud (or AzureCloud), AzureUSGovernmentCloud, AzureChinaCloud,
// AzureGermanCloud. nullopt for anything else (AzureStackCloud needs a file KEDA reads from
// AZURE_ENVIRONMENT_FILEPATH, which is not supported).
std::optional<Cloud> cloudFromName(std::string_view name);
const Cloud& publicCloud();

}  // namespace updraft::azure
