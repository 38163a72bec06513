#include "model_internal.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <limits>

#include "updraft/parse.h"

namespace updraft {

std::string toString(const Problem& problem) {
  if (problem.path.empty()) return problem.message;
  return problem.path + ": " + problem.message;
}

namespace model_internal {

namespace {
bool isSimpleKey(std::string_view key) {
  if (key.empty()) return false;
  return std::all_of(key.begin(), key.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-';
  });
}
}  // namespace

std::string quote(std::string_view text, std::size_t maxLength) {
  std::string out = "\"";
  std::size_t shown = 0;
  for (char c : text) {
    if (shown >= maxLength) {
      out += "...";
      break;
    }
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\r':
        out += "\\r";
        break;
      default:
        out += c;
    }
    ++shown;
  }
  out += "\"";
  return out;
}

std::string childPath(const std::string& parent, std::string_view key) {
  if (isSimpleKey(key)) {
    return parent.empty() ? std::string(key) : parent + "." + std::string(key);
  }
  return parent + "[" + quote(key, 200) + "]";
}

std::string indexPath(const std::string& parent, std::size_t index) {
  return parent + "[" + std::to_string(index) + "]";
}

std::string scalarText(const nlohmann::json& value) {
  if (value.is_string()) return value.get<std::string>();
  if (value.is_number_float()) {
    double d = value.get<double>();
    if (std::isnan(d)) return ".nan";
    if (std::isinf(d)) return d > 0 ? ".inf" : "-.inf";
  }
  return value.dump();
}

std::string describeJson(const nlohmann::json& value) {
  switch (value.type()) {
    case nlohmann::json::value_t::null:
      return "null";
    case nlohmann::json::value_t::boolean:
      return std::string("boolean ") + (value.get<bool>() ? "true" : "false");
    case nlohmann::json::value_t::number_integer:
    case nlohmann::json::value_t::number_unsigned:
    case nlohmann::json::value_t::number_float:
      return "number " + scalarText(value);
    case nlohmann::json::value_t::string:
      return "string " + quote(value.get_ref<const std::string&>(), 60);
    case nlohmann::json::value_t::object:
      return "an object";
    case nlohmann::json::value_t::array:
      return "a list";
    default:
      return "a binary value";
  }
}

std::optional<bool> parseGoBool(std::string_view s) {
  if (s == "1" || s == "t" || s == "T" || s == "TRUE" || s == "true" || s == "True") return true;
  if (s == "0" || s == "f" || s == "F" || s == "FALSE" || s == "false" || s == "False") {
    return false;
  }
  return std::nullopt;
}

std::optional<double> parseGoFloat(std::string_view s) {
  if (s.empty()) return std::nullopt;
  std::string_view body = s;
  bool negative = false;
  if (body[0] == '+' || body[0] == '-') {
    negative = body[0] == '-';
    body.remove_prefix(1);
  }
  std::string lower;
  for (char c : body) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (lower == "inf" || lower == "infinity") {
    return negative ? -std::numeric_limits<double>::infinity()
                    : std::numeric_limits<double>::infinity();
  }
  if (lower == "nan") return std::numeric_limits<double>::quiet_NaN();
  // Decimal digits, one optional point, optional exponent; underscores are not allowed in base 10.
  std::size_t i = 0;
  bool digits = false;
  while (i < body.size() && std::isdigit(static_cast<unsigned char>(body[i]))) ++i, digits = true;
  if (i < body.size() && body[i] == '.') {
    ++i;
    while (i < body.size() && std::isdigit(static_cast<unsigned char>(body[i]))) ++i, digits = true;
  }
  if (!digits) return std::nullopt;
  if (i < body.size() && (body[i] == 'e' || body[i] == 'E')) {
    ++i;
    if (i < body.size() && (body[i] == '+' || body[i] == '-')) ++i;
    std::size_t start = i;
    while (i < body.size() && std::isdigit(static_cast<unsigned char>(body[i]))) ++i;
    if (i == start) return std::nullopt;
  }
  if (i != body.size()) return std::nullopt;
  double v = 0;
  auto [ptr, ec] = std::from_chars(body.data(), body.data() + body.size(), v);
  if (ptr != body.data() + body.size()) return std::nullopt;
  if (ec == std::errc::result_out_of_range) return std::nullopt;  // Go: ErrRange
  if (ec != std::errc()) return std::nullopt;
  return negative ? -v : v;
}

std::optional<long long> parseGoInt(std::string_view s) {
  if (s.empty()) return std::nullopt;
  std::string text(s);
  if (text[0] == '+') text.erase(0, 1);
  long long v = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || ptr != text.data() + text.size()) return std::nullopt;
  return v;
}

std::size_t editDistance(std::string_view a, std::string_view b, std::size_t cap) {
  std::size_t la = a.size(), lb = b.size();
  if ((la > lb ? la - lb : lb - la) > cap) return cap + 1;
  std::vector<std::size_t> prev(lb + 1), cur(lb + 1);
  for (std::size_t j = 0; j <= lb; ++j) prev[j] = j;
  for (std::size_t i = 1; i <= la; ++i) {
    cur[0] = i;
    std::size_t rowMin = cur[0];
    for (std::size_t j = 1; j <= lb; ++j) {
      std::size_t cost = std::tolower(static_cast<unsigned char>(a[i - 1])) ==
                                 std::tolower(static_cast<unsigned char>(b[j - 1]))
                             ? 0
                             : 1;
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost});
      rowMin = std::min(rowMin, cur[j]);
    }
    if (rowMin > cap) return cap + 1;
    std::swap(prev, cur);
  }
  return std::min(prev[lb], cap + 1);
}

std::string closestMatch(std::string_view word, const std::vector<std::string>& candidates) {
  std::size_t cap = word.size() <= 4 ? 1 : (word.size() <= 8 ? 2 : 3);
  std::string best;
  std::size_t bestDistance = cap + 1;
  for (const auto& c : candidates) {
    std::size_t d = editDistance(word, c, cap);
    if (d < bestDistance) {
      bestDistance = d;
      best = c;
    }
  }
  return best;
}

}  // namespace model_internal
}  // namespace updraft
