#include "updraft/quantity.h"

#include <cmath>
#include <cstdlib>
#include <string>

namespace updraft {
namespace {

bool isDigit(char c) { return c >= '0' && c <= '9'; }

// The multiplier for a suffix, or a negative number when the suffix is not valid.
double suffixMultiplier(std::string_view suffix) {
  if (suffix.empty()) return 1;
  if (suffix.size() == 2 && suffix[1] == 'i') {
    switch (suffix[0]) {
      case 'K':
        return std::ldexp(1.0, 10);
      case 'M':
        return std::ldexp(1.0, 20);
      case 'G':
        return std::ldexp(1.0, 30);
      case 'T':
        return std::ldexp(1.0, 40);
      case 'P':
        return std::ldexp(1.0, 50);
      case 'E':
        return std::ldexp(1.0, 60);
      default:
        return -1;
    }
  }
  if (suffix.size() == 1) {
    switch (suffix[0]) {
      case 'n':
        return 1e-9;
      case 'u':
        return 1e-6;
      case 'm':
        return 1e-3;
      case 'k':
        return 1e3;
      case 'M':
        return 1e6;
      case 'G':
        return 1e9;
      case 'T':
        return 1e12;
      case 'P':
        return 1e15;
      case 'E':
        return 1e18;
      default:
        return -1;
    }
  }
  if (suffix[0] == 'e' || suffix[0] == 'E') {
    std::string_view exp = suffix.substr(1);
    if (!exp.empty() && (exp[0] == '+' || exp[0] == '-')) exp.remove_prefix(1);
    if (exp.empty() || exp.size() > 4) return -1;
    for (char c : exp) {
      if (!isDigit(c)) return -1;
    }
    return std::pow(10.0, std::strtod(std::string(suffix.substr(1)).c_str(), nullptr));
  }
  return -1;
}

}  // namespace

Result<double> parseQuantity(std::string_view s) {
  auto bad = [&] {
    // Appended piece by piece: GCC 12 at -O3 reports a false -Wrestrict for "lit" + string.
    std::string message = "\"";
    message.append(s).append("\" is not a valid quantity (e.g. 500m, 1.5, 256Mi, 2G)");
    return Status::invalidArgument(std::move(message));
  };
  size_t i = 0;
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
  size_t digits = 0;
  while (i < s.size() && isDigit(s[i])) ++i, ++digits;
  if (i < s.size() && s[i] == '.') {
    ++i;
    while (i < s.size() && isDigit(s[i])) ++i, ++digits;
  }
  if (digits == 0) return bad();
  double multiplier = suffixMultiplier(s.substr(i));
  if (multiplier < 0) return bad();
  std::string number(s.substr(0, i));
  double v = std::strtod(number.c_str(), nullptr) * multiplier;
  if (!std::isfinite(v)) return bad();
  return v;
}

}  // namespace updraft
