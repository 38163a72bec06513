#include "prometheus/prometheus_query.h"

#include <locale.h>

#include <cerrno>
#include <chrono>
#include <clocale>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <nlohmann/json.hpp>

namespace updraft::prometheus {
namespace {

using Json = nlohmann::ordered_json;

char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }
bool isDigit(char c) { return c >= '0' && c <= '9'; }
bool isHexLetter(char c) { return lower(c) >= 'a' && lower(c) <= 'f'; }

bool equalsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

// Go's strconv.Quote, shortened: values come from the server and only explain an error.
std::string goQuote(std::string_view s) {
  constexpr size_t kMax = 64;
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "\"";
  for (size_t i = 0; i < s.size() && i < kMax; ++i) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20 || c == 0x7f) {
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  out += '"';
  if (s.size() > kMax) out += "...";
  return out;
}

// Go's strconv underscoreOK: '_' only between digits, or between a base prefix and a digit.
bool underscoreOk(std::string_view s) {
  char saw = '^';
  size_t i = 0;
  if (!s.empty() && (s[0] == '-' || s[0] == '+')) s.remove_prefix(1);
  bool hex = false;
  if (s.size() >= 2 && s[0] == '0' &&
      (lower(s[1]) == 'b' || lower(s[1]) == 'o' || lower(s[1]) == 'x')) {
    i = 2;
    saw = '0';
    hex = lower(s[1]) == 'x';
  }
  for (; i < s.size(); ++i) {
    if (isDigit(s[i]) || (hex && isHexLetter(s[i]))) {
      saw = '0';
      continue;
    }
    if (s[i] == '_') {
      if (saw != '0') return false;
      saw = '_';
      continue;
    }
    if (saw == '_') return false;
    saw = '!';
  }
  return saw != '_';
}

locale_t cLocale() {
  static locale_t loc = newlocale(LC_ALL_MASK, "C", static_cast<locale_t>(nullptr));
  return loc;
}

const char* typeName(const Json& j) {
  if (j.is_object()) return "an object";
  if (j.is_array()) return "an array";
  if (j.is_string()) return "a string";
  if (j.is_boolean()) return "a boolean";
  if (j.is_number()) return "a number";
  return "null";
}

// encoding/json matches keys case-insensitively, a later key overwriting an earlier one; null
// leaves the field at its zero value, so it counts as absent here.
const Json* field(const Json& object, std::string_view name) {
  const Json* found = nullptr;
  for (auto it = object.begin(); it != object.end(); ++it) {
    if (equalsIgnoreCase(it.key(), name)) found = &it.value();
  }
  return found && !found->is_null() ? found : nullptr;
}

Status shapeError(std::string_view path, const Json& got, std::string_view expected,
                  std::string_view resultType = {}) {
  std::string msg = "the response is not an instant query result: " + std::string(path) + " is " +
                    typeName(got) + ", expected " + std::string(expected);
  if (!resultType.empty() && resultType != "vector") {
    msg += " (resultType \"" + std::string(resultType) +
           "\"; only instant vectors with at most one series are supported)";
  }
  return Status::unavailable(std::move(msg));
}

void appendUrlSafe(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  for (unsigned char c : s) {
    if (c <= 0x20 || c >= 0x7f) {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
}

}  // namespace

std::string queryEscape(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size() + s.size() / 2);
  for (unsigned char c : s) {
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '_' || c == '.' || c == '~') {
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

std::string rfc3339Utc(TimePoint t) {
  using namespace std::chrono;
  const auto secs = floor<seconds>(t);
  const auto days = floor<std::chrono::days>(secs);
  const year_month_day ymd{sys_days{days}};
  const hh_mm_ss hms{secs - days};
  char buf[32];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02d:%02d:%02dZ", static_cast<int>(ymd.year()),
                static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                static_cast<int>(hms.hours().count()), static_cast<int>(hms.minutes().count()),
                static_cast<int>(hms.seconds().count()));
  return buf;
}

Result<double> parseGoFloat(std::string_view s) {
  auto syntax = [&] {
    return Status::invalidArgument("strconv.ParseFloat: parsing " + goQuote(s) +
                                   ": invalid syntax");
  };
  if (s.empty()) return syntax();
  size_t i = 0;
  bool negative = false;
  bool signed_ = false;
  if (s[0] == '+' || s[0] == '-') {
    negative = s[0] == '-';
    signed_ = true;
    i = 1;
  }
  std::string_view rest = s.substr(i);
  // Specials: [+-]inf, [+-]infinity, nan (no sign), any case.
  if (equalsIgnoreCase(rest, "inf") || equalsIgnoreCase(rest, "infinity")) {
    return negative ? -std::numeric_limits<double>::infinity()
                    : std::numeric_limits<double>::infinity();
  }
  if (!signed_ && equalsIgnoreCase(rest, "nan")) return std::numeric_limits<double>::quiet_NaN();

  const bool hex = rest.size() > 2 && rest[0] == '0' && lower(rest[1]) == 'x';
  size_t j = hex ? 2 : 0;
  bool sawDot = false;
  bool sawDigits = false;
  bool underscores = false;
  for (; j < rest.size(); ++j) {
    const char c = rest[j];
    if (c == '_') {
      underscores = true;
    } else if (c == '.') {
      if (sawDot) break;
      sawDot = true;
    } else if (isDigit(c) || (hex && isHexLetter(c))) {
      sawDigits = true;
    } else {
      break;
    }
  }
  if (!sawDigits) return syntax();
  if (j < rest.size() && lower(rest[j]) == (hex ? 'p' : 'e')) {
    ++j;
    if (j < rest.size() && (rest[j] == '+' || rest[j] == '-')) ++j;
    if (j >= rest.size() || !isDigit(rest[j])) return syntax();
    for (; j < rest.size() && (isDigit(rest[j]) || rest[j] == '_'); ++j) {
      if (rest[j] == '_') underscores = true;
    }
  } else if (hex) {
    return syntax();  // a hexadecimal mantissa requires a 'p' exponent
  }
  if (j != rest.size()) return syntax();
  if (underscores && !underscoreOk(s)) return syntax();

  std::string digits;
  digits.reserve(s.size());
  for (char c : s) {
    if (c != '_') digits += c;
  }
  errno = 0;
  char* end = nullptr;
  const double v = strtod_l(digits.c_str(), &end, cLocale());
  if (end != digits.c_str() + digits.size()) return syntax();
  if (std::isinf(v)) {  // overflow (underflow gives 0 or a denormal, as in Go)
    return Status::invalidArgument("strconv.ParseFloat: parsing " + goQuote(s) +
                                   ": value out of range");
  }
  return v;
}

std::string nonFiniteText(double v) {
  if (std::isnan(v)) return "NaN";
  return v > 0 ? "+Inf" : "-Inf";
}

QueryUrl buildQueryUrl(std::string_view serverAddress, std::string_view query,
                       std::string_view namespaceName, const StringMap& queryParameters) {
  QueryUrl url;
  url.prefix = std::string(serverAddress) + "/api/v1/query?query=" + queryEscape(query) + "&time=";
  if (!namespaceName.empty()) {
    url.suffix += "&namespace=";
    appendUrlSafe(url.suffix, namespaceName);
  }
  for (const auto& [key, value] : queryParameters) {
    url.suffix += '&' + queryEscape(key) + '=' + queryEscape(value);
  }
  return url;
}

Result<double> readQueryResponse(std::string_view body, bool ignoreNullValues) {
  const Json doc = Json::parse(body.begin(), body.end(), nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) {
    return Status::unavailable(body.empty() ? "the response body is empty, expected JSON"
                                            : "the response is not valid JSON");
  }
  // Decode as encoding/json would into KEDA's promQueryResult; any type mismatch is an error.
  if (!doc.is_object() && !doc.is_null()) return shapeError("the body", doc, "an object");
  const Json* data = nullptr;
  std::string resultType;
  const Json* result = nullptr;
  if (doc.is_object()) {
    if (const Json* status = field(doc, "status"); status && !status->is_string()) {
      return shapeError("\"status\"", *status, "a string");
    }
    data = field(doc, "data");
    if (data && !data->is_object()) return shapeError("\"data\"", *data, "an object");
  }
  if (data) {
    if (const Json* type = field(*data, "resultType")) {
      if (!type->is_string()) return shapeError("\"data.resultType\"", *type, "a string");
      resultType = type->get<std::string>();
    }
    result = field(*data, "result");
    if (result && !result->is_array()) {
      return shapeError("\"data.result\"", *result, "an array", resultType);
    }
  }
  const Json* value = nullptr;  // of the first element
  if (result) {
    for (size_t i = 0; i < result->size(); ++i) {
      const Json& element = (*result)[i];
      const std::string path = "\"data.result[" + std::to_string(i) + "]";
      if (element.is_null()) continue;
      if (!element.is_object()) return shapeError(path + "\"", element, "an object", resultType);
      if (const Json* metric = field(element, "metric"); metric && !metric->is_object()) {
        return shapeError(path + ".metric\"", *metric, "an object", resultType);
      }
      const Json* v = field(element, "value");
      if (v && !v->is_array()) return shapeError(path + ".value\"", *v, "an array", resultType);
      if (i == 0) value = v;
    }
  }

  const size_t elements = result ? result->size() : 0;
  if (elements == 0) {
    if (ignoreNullValues) return 0.0;
    return Status::unavailable(
        "prometheus metrics 'prometheus' target may be lost, the result is "
        "empty");
  }
  if (elements > 1) {
    return Status::unavailable("returned multiple elements (" + std::to_string(elements) +
                               " series; the query must return at most one)");
  }
  const size_t valueLength = value ? value->size() : 0;
  if (valueLength == 0) {
    if (ignoreNullValues) return 0.0;
    return Status::unavailable(
        "prometheus metrics 'prometheus' target may be lost, the value list "
        "is empty");
  }
  if (valueLength < 2) return Status::unavailable("didn't return enough values");

  const Json& sample = (*value)[1];
  // KEDA starts from -1 and only parses a non-null value[1]: null yields -1 without an error.
  double v = -1;
  if (!sample.is_null()) {
    if (!sample.is_string()) {
      return shapeError("\"data.result[0].value[1]\"", sample, "a string");
    }
    auto parsed = parseGoFloat(sample.get_ref<const std::string&>());
    if (!parsed.isOk()) {
      return Status::unavailable("the sample value is not a number: " + parsed.status().message());
    }
    v = *parsed;
  }
  if (std::isnan(v) || std::isinf(v)) {
    if (ignoreNullValues) return 0.0;
    return Status::unavailable("prometheus query returns " + nonFiniteText(v));
  }
  return v;
}

}  // namespace updraft::prometheus
