// Go/JSON value syntaxes used by KEDA's TypedConfig (see metadata.h).
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <string>

#include "updraft/metadata.h"

namespace updraft::metadata {
namespace {

bool isDigit(char c) { return c >= '0' && c <= '9'; }

// Length of the JSON number at the start of s (whole string must match), or 0.
// allowFraction=false accepts only the integer part.
bool matchesJsonNumber(std::string_view s, bool integerOnly) {
  size_t i = 0;
  if (i < s.size() && s[i] == '-') ++i;
  if (i >= s.size()) return false;
  if (s[i] == '0') {
    ++i;
  } else if (s[i] >= '1' && s[i] <= '9') {
    while (i < s.size() && isDigit(s[i])) ++i;
  } else {
    return false;
  }
  if (integerOnly) return i == s.size();
  if (i < s.size() && s[i] == '.') {
    ++i;
    size_t start = i;
    while (i < s.size() && isDigit(s[i])) ++i;
    if (i == start) return false;
  }
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
    size_t start = i;
    while (i < s.size() && isDigit(s[i])) ++i;
    if (i == start) return false;
  }
  return i == s.size();
}

}  // namespace

std::string_view trim(std::string_view s) {
  constexpr std::string_view kSpace = " \t\n\r\f\v";
  size_t b = s.find_first_not_of(kSpace);
  if (b == std::string_view::npos) return {};
  size_t e = s.find_last_not_of(kSpace);
  return s.substr(b, e - b + 1);
}

Result<int64_t> parseJsonInt64(std::string_view s) {
  if (!matchesJsonNumber(s, /*integerOnly=*/true)) {
    return Status::invalidArgument("is not a valid integer");
  }
  std::string copy(s);
  errno = 0;
  char* end = nullptr;
  long long v = std::strtoll(copy.c_str(), &end, 10);
  if (errno == ERANGE) return Status::invalidArgument("is out of range for a 64-bit integer");
  return static_cast<int64_t>(v);
}

Result<double> parseJsonFloat64(std::string_view s) {
  if (!matchesJsonNumber(s, /*integerOnly=*/false)) {
    return Status::invalidArgument("is not a valid number");
  }
  std::string copy(s);
  errno = 0;
  char* end = nullptr;
  double v = std::strtod(copy.c_str(), &end);
  if (errno == ERANGE && std::isinf(v)) {
    return Status::invalidArgument("is out of range for a 64-bit float");
  }
  return v;
}

Result<bool> parseGoBool(std::string_view s) {
  if (s == "1" || s == "t" || s == "T" || s == "true" || s == "TRUE" || s == "True") return true;
  if (s == "0" || s == "f" || s == "F" || s == "false" || s == "FALSE" || s == "False") {
    return false;
  }
  return Status::invalidArgument("is not a valid boolean (use true or false)");
}

Result<std::chrono::nanoseconds> parseGoDuration(std::string_view s) {
  // A transcription of Go's time.ParseDuration.
  const Status invalid = Status::invalidArgument("is not a valid duration");
  const Status overflow = Status::invalidArgument("is out of range for a duration");
  constexpr uint64_t kLimit = uint64_t{1} << 63;
  bool neg = false;
  if (!s.empty() && (s[0] == '-' || s[0] == '+')) {
    neg = s[0] == '-';
    s.remove_prefix(1);
  }
  if (s == "0") return std::chrono::nanoseconds(0);
  if (s.empty()) return invalid;
  uint64_t total = 0;
  while (!s.empty()) {
    if (!(s[0] == '.' || isDigit(s[0]))) return invalid;
    // Integer part.
    uint64_t v = 0;
    size_t i = 0;
    for (; i < s.size() && isDigit(s[i]); ++i) {
      if (v > (kLimit - 1) / 10) return overflow;
      v = v * 10 + static_cast<uint64_t>(s[i] - '0');
      if (v > kLimit) return overflow;
    }
    bool pre = i > 0;
    s.remove_prefix(i);
    // Fraction.
    uint64_t f = 0;
    double scale = 1;
    bool post = false;
    if (!s.empty() && s[0] == '.') {
      s.remove_prefix(1);
      size_t j = 0;
      bool overflowed = false;
      for (; j < s.size() && isDigit(s[j]); ++j) {
        if (overflowed) continue;
        if (f > (kLimit - 1) / 10) {
          overflowed = true;
          continue;
        }
        uint64_t next = f * 10 + static_cast<uint64_t>(s[j] - '0');
        if (next > kLimit) {
          overflowed = true;
          continue;
        }
        f = next;
        scale *= 10;
      }
      post = j > 0;
      s.remove_prefix(j);
    }
    if (!pre && !post) return invalid;
    // Unit.
    size_t u = 0;
    while (u < s.size() && s[u] != '.' && !isDigit(s[u])) ++u;
    if (u == 0) return Status::invalidArgument("is not a valid duration (missing unit)");
    std::string_view unitName = s.substr(0, u);
    s.remove_prefix(u);
    uint64_t unit = 0;
    if (unitName == "ns") {
      unit = 1;
    } else if (unitName == "us" || unitName == "\xC2\xB5s" || unitName == "\xCE\xBCs") {
      unit = 1000;
    } else if (unitName == "ms") {
      unit = 1000000;
    } else if (unitName == "s") {
      unit = 1000000000;
    } else if (unitName == "m") {
      unit = 60ULL * 1000000000;
    } else if (unitName == "h") {
      unit = 3600ULL * 1000000000;
    } else {
      return Status::invalidArgument("is not a valid duration (unknown unit)");
    }
    if (v > kLimit / unit) return overflow;
    v *= unit;
    if (f > 0) {
      v += static_cast<uint64_t>(static_cast<double>(f) * (static_cast<double>(unit) / scale));
      if (v > kLimit) return overflow;
    }
    total += v;
    if (total > kLimit) return overflow;
  }
  if (neg) {
    return std::chrono::nanoseconds(total == kLimit ? std::numeric_limits<int64_t>::min()
                                                    : -static_cast<int64_t>(total));
  }
  if (total > kLimit - 1) return overflow;
  return std::chrono::nanoseconds(static_cast<int64_t>(total));
}

Result<Millis> parseDurationOrMillis(std::string_view s) {
  int64_t ns = 0;
  if (auto d = parseGoDuration(s); d.isOk()) {
    ns = d->count();
    if (ns < 0) return Status::invalidArgument("must not be negative");
    return std::chrono::duration_cast<Millis>(std::chrono::nanoseconds(ns));
  }
  auto ms = parseJsonInt64(s);
  if (!ms.isOk()) {
    return Status::invalidArgument(
        "is not a valid duration (use a Go duration such as \"30s\" or an integer number of "
        "milliseconds)");
  }
  if (*ms < 0) return Status::invalidArgument("must not be negative");
  if (*ms > std::numeric_limits<int64_t>::max() / 1000000) {
    return Status::invalidArgument("is out of range for a duration");
  }
  return Millis(*ms);
}

}  // namespace updraft::metadata
