// Kubernetes quantities and RFC 3339 timestamps.
#include <cctype>
#include <charconv>
#include <chrono>
#include <cmath>
#include <string>

#include "model_internal.h"
#include "updraft/parse.h"

namespace updraft {

namespace {

bool isDigit(char c) { return c >= '0' && c <= '9'; }

}  // namespace

Result<TimePoint> parseRfc3339(std::string_view text) {
  auto bad = [&](std::string_view why) -> Status {
    return Status::invalidArgument("invalid timestamp " + model_internal::quote(text) + ": " +
                                   std::string(why) +
                                   " (expected RFC 3339 such as 2024-05-01T12:00:00Z)");
  };
  auto num = [&](std::size_t pos, std::size_t len, int& out) -> bool {
    if (pos + len > text.size()) return false;
    out = 0;
    for (std::size_t k = pos; k < pos + len; ++k) {
      if (!isDigit(text[k])) return false;
      out = out * 10 + (text[k] - '0');
    }
    return true;
  };
  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
  if (!num(0, 4, year) || text.size() < 19 || text[4] != '-' || !num(5, 2, month) ||
      text[7] != '-' || !num(8, 2, day) || (text[10] != 'T' && text[10] != 't') ||
      !num(11, 2, hour) || text[13] != ':' || !num(14, 2, minute) || text[16] != ':' ||
      !num(17, 2, second)) {
    return bad("not in the form YYYY-MM-DDTHH:MM:SS");
  }
  std::chrono::year_month_day ymd{std::chrono::year{year},
                                  std::chrono::month{static_cast<unsigned>(month)},
                                  std::chrono::day{static_cast<unsigned>(day)}};
  if (!ymd.ok()) return bad("no such date");
  if (hour > 23 || minute > 59 || second > 59) return bad("no such time of day");
  std::size_t i = 19;
  std::chrono::nanoseconds fraction{0};
  if (i < text.size() && text[i] == '.') {
    ++i;
    std::size_t start = i;
    long long ns = 0;
    int digits = 0;
    while (i < text.size() && isDigit(text[i])) {
      if (digits < 9) {
        ns = ns * 10 + (text[i] - '0');
        ++digits;
      }
      ++i;
    }
    if (i == start) return bad("a '.' without fraction digits");
    while (digits < 9) ns *= 10, ++digits;
    fraction = std::chrono::nanoseconds(ns);
  }
  int offsetMinutes = 0;
  if (i < text.size() && (text[i] == 'Z' || text[i] == 'z')) {
    ++i;
  } else if (i < text.size() && (text[i] == '+' || text[i] == '-')) {
    int oh = 0, om = 0;
    if (!num(i + 1, 2, oh) || i + 3 >= text.size() || text[i + 3] != ':' || !num(i + 4, 2, om) ||
        oh > 23 || om > 59) {
      return bad("a malformed time zone offset");
    }
    offsetMinutes = (oh * 60 + om) * (text[i] == '-' ? -1 : 1);
    i += 6;
  } else {
    return bad("no time zone (add Z for UTC)");
  }
  if (i != text.size()) return bad("unexpected text after the time zone");
  auto tp = std::chrono::sys_days(ymd) + std::chrono::hours(hour) + std::chrono::minutes(minute) +
            std::chrono::seconds(second) - std::chrono::minutes(offsetMinutes);
  return std::chrono::time_point_cast<Duration>(tp) +
         std::chrono::duration_cast<Duration>(fraction);
}

}  // namespace updraft
