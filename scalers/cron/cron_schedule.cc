#include "cron/cron_schedule.h"

#include <date/date.h>
#include <date/tz.h>

#include <array>
#include <cctype>
#include <charconv>
#include <exception>
#include <vector>

namespace updraft::cron {
namespace {

using std::chrono::hours;
using std::chrono::minutes;
using std::chrono::seconds;
using SysSeconds = date::sys_seconds;

constexpr uint64_t kStarBit = uint64_t{1} << 63;

struct Bounds {
  unsigned min, max;
  const std::array<std::string_view, 12>* names;  // names[i] = value min+i (nullptr: none)
  unsigned nameBase;
};

constexpr std::array<std::string_view, 12> kMonthNames = {"jan", "feb", "mar", "apr", "may", "jun",
                                                          "jul", "aug", "sep", "oct", "nov", "dec"};
constexpr std::array<std::string_view, 12> kDowNames = {"sun", "mon", "tue", "wed", "thu", "fri",
                                                        "sat", "",    "",    "",    "",    ""};

const Bounds kMinutes{0, 59, nullptr, 0};
const Bounds kHours{0, 23, nullptr, 0};
const Bounds kDom{1, 31, nullptr, 0};
const Bounds kMonths{1, 12, &kMonthNames, 1};
const Bounds kDow{0, 6, &kDowNames, 0};

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (true) {
    size_t end = s.find(sep, start);
    if (end == std::string_view::npos) {
      out.push_back(s.substr(start));
      return out;
    }
    out.push_back(s.substr(start, end - start));
    start = end + 1;
  }
}

std::vector<std::string_view> fields(std::string_view s) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
    size_t start = i;
    while (i < s.size() && !std::isspace(static_cast<unsigned char>(s[i]))) ++i;
    if (i > start) out.push_back(s.substr(start, i - start));
  }
  return out;
}

// Go's strconv.Atoi plus robfig's "negative number" check.
Result<unsigned> mustParseInt(std::string_view expr) {
  std::string_view digits = expr;
  bool negative = false;
  if (!digits.empty() && (digits[0] == '+' || digits[0] == '-')) {
    negative = digits[0] == '-';
    digits.remove_prefix(1);
  }
  unsigned long long v = 0;
  auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), v);
  if (digits.empty() || ec != std::errc() || ptr != digits.data() + digits.size()) {
    return Status::invalidArgument("failed to parse int from " + std::string(expr));
  }
  if (negative && v != 0) {
    return Status::invalidArgument("negative number (" + std::string(expr) +
                                   ") not allowed: " + std::string(expr));
  }
  if (v > 1000000) {
    return Status::invalidArgument("failed to parse int from " + std::string(expr));
  }
  return static_cast<unsigned>(v);
}

Result<unsigned> parseIntOrName(std::string_view expr, const Bounds& b) {
  if (b.names) {
    std::string l = lower(expr);
    for (size_t i = 0; i < b.names->size(); ++i) {
      if (!(*b.names)[i].empty() && (*b.names)[i] == l)
        return b.nameBase + static_cast<unsigned>(i);
    }
  }
  return mustParseInt(expr);
}

Result<uint64_t> getRange(std::string_view expr, const Bounds& r) {
  auto rangeAndStep = split(expr, '/');
  auto lowAndHigh = split(rangeAndStep[0], '-');
  bool singleDigit = lowAndHigh.size() == 1;
  unsigned start = 0, end = 0, step = 1;
  uint64_t extra = 0;
  if (lowAndHigh[0] == "*" || lowAndHigh[0] == "?") {
    start = r.min;
    end = r.max;
    extra = kStarBit;
  } else {
    auto s = parseIntOrName(lowAndHigh[0], r);
    if (!s.isOk()) return s.status();
    start = *s;
    if (lowAndHigh.size() == 1) {
      end = start;
    } else if (lowAndHigh.size() == 2) {
      auto e = parseIntOrName(lowAndHigh[1], r);
      if (!e.isOk()) return e.status();
      end = *e;
    } else {
      return Status::invalidArgument("too many hyphens: " + std::string(expr));
    }
  }
  if (rangeAndStep.size() == 2) {
    auto st = mustParseInt(rangeAndStep[1]);
    if (!st.isOk()) return st.status();
    step = *st;
    if (singleDigit) end = r.max;  // "N/step" means "N-max/step"
    if (step > 1) extra = 0;
  } else if (rangeAndStep.size() > 2) {
    return Status::invalidArgument("too many slashes: " + std::string(expr));
  }
  auto e = std::string(expr);
  if (start < r.min) {
    return Status::invalidArgument("beginning of range (" + std::to_string(start) +
                                   ") below minimum (" + std::to_string(r.min) + "): " + e);
  }
  if (end > r.max) {
    return Status::invalidArgument("end of range (" + std::to_string(end) + ") above maximum (" +
                                   std::to_string(r.max) + "): " + e);
  }
  if (start > end) {
    return Status::invalidArgument("beginning of range (" + std::to_string(start) +
                                   ") beyond end of range (" + std::to_string(end) + "): " + e);
  }
  if (step == 0) return Status::invalidArgument("step of range should be a positive number: " + e);
  uint64_t bits = 0;
  for (unsigned i = start; i <= end; i += step) bits |= uint64_t{1} << i;
  return bits | extra;
}

Result<uint64_t> getField(std::string_view field, const Bounds& r) {
  uint64_t bits = 0;
  for (auto expr : split(field, ',')) {
    auto b = getRange(expr, r);
    if (!b.isOk()) return b.status();
    bits |= *b;
  }
  return bits;
}

bool has(uint64_t bits, unsigned v) { return (bits >> v) & 1; }

// ---- Go's time.Time operations, in one zone ----

struct Local {
  int year;
  unsigned month, day, hour, minute, second, weekday;
};

Local toLocal(SysSeconds t, const date::time_zone* zone) {
  auto local = zone->to_local(t);
  auto days = date::floor<date::days>(local);
  date::year_month_day ymd{days};
  date::hh_mm_ss<seconds> tod{local - days};
  return Local{int(ymd.year()),
               unsigned(ymd.month()),
               unsigned(ymd.day()),
               static_cast<unsigned>(tod.hours().count()),
               static_cast<unsigned>(tod.minutes().count()),
               static_cast<unsigned>(tod.seconds().count()),
               date::weekday{days}.c_encoding()};
}

// Go's time.Date(year, month, day, hour, min, sec, 0, loc), with the same normalisation of
// out-of-range months/days and the same choice of offset for skipped or repeated local times.
SysSeconds goDate(int year, int month, int day, int hour, int minute, int second,
                  const date::time_zone* zone) {
  int m0 = month - 1;
  int carry = m0 >= 0 ? m0 / 12 : -((11 - m0) / 12);  // floor(m0 / 12)
  year += carry;
  m0 -= carry * 12;
  auto days =
      date::sys_days(date::year{year} / date::month{unsigned(m0 + 1)} / 1) + date::days{day - 1};
  SysSeconds unix = days + hours{hour} + minutes{minute} + seconds{second};
  // Go: look the offset up as if the local time were UTC, then correct once.
  auto info = zone->get_info(unix);
  auto offset = info.offset;
  if (offset != seconds{0}) {
    SysSeconds utc = unix - offset;
    if (utc < info.begin || utc >= info.end) offset = zone->get_info(utc).offset;
    unix -= offset;
  }
  return unix;
}

}  // namespace

Result<const date::time_zone*> findZone(std::string_view name) {
  try {
    if (name == "Local") return date::current_zone();
    return date::locate_zone(std::string(name));
  } catch (const std::exception&) {
    return Status::invalidArgument("unknown time zone \"" + std::string(name) + "\"");
  }
}

Result<Schedule> Schedule::parse(std::string_view specIn) {
  Schedule s;
  std::string_view spec = specIn;
  while (!spec.empty() && std::isspace(static_cast<unsigned char>(spec.front())))
    spec.remove_prefix(1);
  while (!spec.empty() && std::isspace(static_cast<unsigned char>(spec.back())))
    spec.remove_suffix(1);
  s.spec_ = std::string(spec);
  if (spec.empty()) return Status::invalidArgument("empty spec string");
  if (spec.substr(0, 3) == "TZ=" || spec.substr(0, 8) == "CRON_TZ=") {
    size_t space = spec.find(' ');
    if (space == std::string_view::npos) {
      return Status::invalidArgument("provided bad location: missing schedule after " +
                                     std::string(spec));
    }
    size_t eq = spec.find('=');
    auto zone = findZone(spec.substr(eq + 1, space - eq - 1));
    if (!zone.isOk())
      return Status::invalidArgument("provided bad location: " + zone.status().message());
    s.zone_ = *zone;
    spec.remove_prefix(space);
    while (!spec.empty() && std::isspace(static_cast<unsigned char>(spec.front())))
      spec.remove_prefix(1);
  }
  if (!spec.empty() && spec[0] == '@') {
    return Status::invalidArgument("parser does not accept descriptors: " + std::string(spec));
  }
  auto f = fields(spec);
  if (f.size() != 5) {
    std::string list = "[";
    for (size_t i = 0; i < f.size(); ++i) list += (i ? " " : "") + std::string(f[i]);
    return Status::invalidArgument("expected exactly 5 fields, found " + std::to_string(f.size()) +
                                   ": " + list + "]");
  }
  const Bounds* bounds[5] = {&kMinutes, &kHours, &kDom, &kMonths, &kDow};
  uint64_t* out[5] = {&s.minute_, &s.hour_, &s.dom_, &s.month_, &s.dow_};
  for (int i = 0; i < 5; ++i) {
    auto bits = getField(f[i], *bounds[i]);
    if (!bits.isOk()) return bits.status();
    *out[i] = *bits;
  }
  // Reject a day-of-month restriction that no selected month can satisfy (robfig would accept it
  // and never fire). Only relevant when the day of week does not widen the match.
  bool domOnly = (s.dom_ & kStarBit) == 0 && (s.dow_ & kStarBit) != 0;
  if (domOnly) {
    static constexpr unsigned kDaysIn[13] = {0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool possible = false;
    for (unsigned m = 1; m <= 12 && !possible; ++m) {
      if (!has(s.month_, m)) continue;
      for (unsigned d = 1; d <= kDaysIn[m] && !possible; ++d) possible = has(s.dom_, d);
    }
    if (!possible) {
      return Status::invalidArgument(
          "schedule never fires: no selected month has the selected days "
          "of month: " +
          std::string(spec));
    }
  }
  return s;
}

std::optional<TimePoint> Schedule::next(TimePoint from, const date::time_zone* zone) const {
  if (zone_) zone = zone_;
  if (!zone) return std::nullopt;
  // Start at the upcoming whole second.
  SysSeconds t = date::floor<seconds>(from) + seconds{1};
  bool added = false;
  Local l = toLocal(t, zone);
  const int yearLimit = l.year + 5;
  auto dayMatches = [&](const Local& x) {
    bool domMatch = has(dom_, x.day);
    bool dowMatch = has(dow_, x.weekday);
    if ((dom_ & kStarBit) || (dow_ & kStarBit)) return domMatch && dowMatch;
    return domMatch || dowMatch;
  };

wrap:
  l = toLocal(t, zone);
  if (l.year > yearLimit) return std::nullopt;

  while (!has(month_, l.month)) {
    if (!added) {
      added = true;
      t = goDate(l.year, int(l.month), 1, 0, 0, 0, zone);
      l = toLocal(t, zone);
    }
    t = goDate(l.year, int(l.month) + 1, int(l.day), int(l.hour), int(l.minute), int(l.second),
               zone);
    l = toLocal(t, zone);
    if (l.month == 1) goto wrap;
  }

  while (!dayMatches(l)) {
    if (!added) {
      added = true;
      t = goDate(l.year, int(l.month), int(l.day), 0, 0, 0, zone);
      l = toLocal(t, zone);
    }
    t = goDate(l.year, int(l.month), int(l.day) + 1, int(l.hour), int(l.minute), int(l.second),
               zone);
    l = toLocal(t, zone);
    // Notice if the hour is no longer midnight due to DST.
    if (l.hour != 0) {
      if (l.hour > 12) {
        t += hours{24 - int(l.hour)};
      } else {
        t -= hours{int(l.hour)};
      }
      l = toLocal(t, zone);
    }
    if (l.day == 1) goto wrap;
  }

  while (!has(hour_, l.hour)) {
    if (!added) {
      added = true;
      t = goDate(l.year, int(l.month), int(l.day), int(l.hour), 0, 0, zone);
    }
    t += hours{1};
    l = toLocal(t, zone);
    if (l.hour == 0) goto wrap;
  }

  while (!has(minute_, l.minute)) {
    if (!added) {
      added = true;
      t = date::floor<minutes>(t);
    }
    t += minutes{1};
    l = toLocal(t, zone);
    if (l.minute == 0) goto wrap;
  }

  // Seconds: five-field schedules fire at second 0.
  while (l.second != 0) {
    if (!added) {
      added = true;
      t = date::floor<seconds>(t);
    }
    t += seconds{1};
    l = toLocal(t, zone);
    if (l.second == 0) goto wrap;
  }
  return std::chrono::time_point_cast<Duration>(t);
}

}  // namespace updraft::cron
