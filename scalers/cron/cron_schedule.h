// Five-field cron schedules with robfig/cron v3's syntax and next-activation algorithm (the library
// KEDA's cron scaler uses, with the parser options Minute|Hour|Dom|Month|Dow).
//
// Syntax: "<minute> <hour> <day-of-month> <month> <day-of-week>", fields separated by whitespace.
// Each field is a comma list of: `*` or `?` (every value), `N`, `N-M`, each optionally followed by
// `/step` (`N/step` means N-max/step). Months take jan..dec and days of week sun..sat
// (case-insensitive); days of week are 0-6 (0 = Sunday). When both day fields are restricted a day
// matches if either matches, otherwise both must. An optional "CRON_TZ=<zone> " or "TZ=<zone> "
// prefix pins the schedule to that zone.
//
// next() transcribes robfig's SpecSchedule.Next: it walks field by field (month, day, hour, minute)
// in the schedule's local time, so it costs at most a few hundred steps even for rare schedules and
// handles DST the same way: a time skipped by a spring-forward gap does not fire that day, and a
// time repeated by a fall-back fires at both occurrences (01:30 EDT and 01:30 EST).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "updraft/clock.h"
#include "updraft/status.h"

namespace date {
class time_zone;
}

namespace updraft::cron {

// Finds an IANA zone ("Europe/Paris", "Etc/UTC", "UTC"; "Local" = the machine's zone).
// InvalidArgument `unknown time zone "Mars/Olympus"` when there is no such zone.
Result<const date::time_zone*> findZone(std::string_view name);

class Schedule {
 public:
  // Errors (InvalidArgument) follow robfig's wording, e.g.
  // "expected exactly 5 fields, found 6: [0 0 * * * *]", "end of range (60) above maximum (59):
  // 60". A schedule whose day-of-month never exists in its months ("0 0 31 2 *") is rejected too.
  static Result<Schedule> parse(std::string_view spec);

  // The first activation strictly after `t` (rounded up to the next whole second, as robfig does),
  // evaluated in `zone` unless the spec carried its own CRON_TZ. nullopt when nothing matches
  // within five years (robfig's limit).
  std::optional<TimePoint> next(TimePoint t, const date::time_zone* zone) const;

  const std::string& spec() const { return spec_; }

 private:
  std::string spec_;
  uint64_t minute_ = 0, hour_ = 0, dom_ = 0, month_ = 0, dow_ = 0;
  const date::time_zone* zone_ = nullptr;  // from CRON_TZ=, else nullptr
};

}  // namespace updraft::cron
