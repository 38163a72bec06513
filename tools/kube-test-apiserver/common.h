// Shared bits of the Kubernetes API test server: JSON alias, API errors (rendered as
// `Status` objects), time stamps, uids, base64.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace updraft::kubetest {

using json = nlohmann::json;

// An error the API returns as a `Status` object. Thrown by the store, patch and selector code;
// the HTTP layer turns it into a response.
struct ApiError : std::runtime_error {
  ApiError(int code, std::string reason, const std::string& message, json details = nullptr)
      : std::runtime_error(message),
        code(code),
        reason(std::move(reason)),
        details(std::move(details)) {}
  int code;
  std::string reason;
  json details;  // {"name","group","kind","causes":[...]} or null
  std::vector<std::pair<std::string, std::string>> headers;  // extra response headers
};

// Serializes compactly; invalid UTF-8 (from a client's bytes quoted in a message) is replaced.
std::string dumpJson(const json& value);

// {"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",...}
json statusObject(const ApiError& error);
json successStatus(const json& details);

ApiError badRequest(const std::string& message);
ApiError methodNotAllowed(const std::string& message);
ApiError unsupportedMediaType(const std::string& message);
// A 422 Invalid for <kind> "<name>" with one cause per (field, message).
ApiError invalid(const std::string& group, const std::string& kind, const std::string& name,
                 const std::vector<std::pair<std::string, std::string>>& fieldErrors);

// RFC 3339 with seconds ("2026-01-02T15:04:05Z") and with microseconds (MicroTime).
std::string nowRfc3339();
std::string nowMicroTime();
// Random RFC 4122 version 4 uid.
std::string newUid();
// n characters from Kubernetes' generateName alphabet.
std::string randomSuffix(size_t n);
// Unsigned decimal → value; false on anything else (empty, sign, overflow).
bool parseUint(std::string_view s, uint64_t& out);

std::string base64Encode(std::string_view data);
// Standard or URL-safe alphabet, padding optional; false on other characters.
bool base64Decode(std::string_view text, std::string& out);

// The value at a dotted path (".spec.replicas" or "spec.replicas"), or nullptr.
const json* jsonAtPath(const json& object, std::string_view path);
// Sets the value at a dotted path, creating objects on the way. False when a non-object is in the
// way.
bool setJsonAtPath(json& object, std::string_view path, json value);

}  // namespace updraft::kubetest
