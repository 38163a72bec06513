#include <date/date.h>
#include <date/tz.h>

#include <catch2/catch.hpp>
#include <chrono>

#include "cron/cron_schedule.h"
#include "test_server.h"
#include "updraft/scaler.h"

using namespace updraft;
using updraft::testing::scalerConfig;

namespace {

TimePoint utc(int y, unsigned mo, unsigned d, int h, int mi, int s = 0) {
  return TimePoint(date::sys_days(date::year{y} / date::month{mo} / date::day{d}) +
                   std::chrono::hours{h} + std::chrono::minutes{mi} + std::chrono::seconds{s});
}

std::string show(std::optional<TimePoint> t) {
  if (!t) return "never";
  return date::format("%F %T UTC", date::floor<std::chrono::seconds>(*t));
}

const date::time_zone* zone(const char* name) { return *cron::findZone(name); }

std::optional<TimePoint> next(const char* spec, TimePoint from, const char* tz = "Etc/UTC") {
  auto s = cron::Schedule::parse(spec);
  REQUIRE(s.isOk());
  return s->next(from, zone(tz));
}

std::unique_ptr<ScalerDefinition> parseCron(const StringMap& metadata, int index = 0) {
  auto config = scalerConfig("cron", metadata);
  config.triggerIndex = index;
  auto def = ScalerRegistry::global().find("cron")->parse(config);
  INFO(def.status().message());
  REQUIRE(def.isOk());
  return std::move(def.value());
}

}  // namespace

TEST_CASE("cron: schedule syntax as robfig/cron parses it") {
  struct Row {
    const char* spec;
    const char* error;  // nullptr = valid; else a substring of the error
  };
  const Row rows[] = {
      {"0 0 * * Thu", nullptr},
      {"*/15 9-17 ? * MON-fri", nullptr},
      {"0,30 */2 1,15 jan-jun,Dec sun", nullptr},
      {"5/20 * * * *", nullptr},
      {"  0  0  *  *  *  ", nullptr},
      {"CRON_TZ=Asia/Tokyo 0 9 * * *", nullptr},
      {"+5 * * * *", nullptr},
      {"0 0 * *", "expected exactly 5 fields, found 4: [0 0 * *]"},
      {"0 0 0 * * *", "expected exactly 5 fields, found 6"},
      {"", "empty spec string"},
      {"60 * * * *", "end of range (60) above maximum (59): 60"},
      {"* 24 * * *", "end of range (24) above maximum (23): 24"},
      {"* * 0 * *", "beginning of range (0) below minimum (1): 0"},
      {"* * * 13 *", "end of range (13) above maximum (12): 13"},
      {"* * * * 7", "end of range (7) above maximum (6): 7"},
      {"5-1 * * * *", "beginning of range (5) beyond end of range (1): 5-1"},
      {"*/0 * * * *", "step of range should be a positive number: */0"},
      {"1-2-3 * * * *", "too many hyphens: 1-2-3"},
      {"*/2/3 * * * *", "too many slashes: */2/3"},
      {"x * * * *", "failed to parse int from x"},
      {"-1 * * * *", "failed to parse int from"},
      {"1, * * * *", "failed to parse int from"},
      {"@daily", "parser does not accept descriptors"},
      {"TZ=Mars/Olympus 0 0 * * *", "unknown time zone \"Mars/Olympus\""},
      {"0 0 31 2 *", "schedule never fires"},
      {"0 0 31 feb,apr,jun *", "schedule never fires"},
  };
  for (const auto& row : rows) {
    INFO(row.spec);
    auto s = cron::Schedule::parse(row.spec);
    if (!row.error) {
      CHECK(s.isOk());
      if (!s.isOk()) FAIL(s.status().message());
    } else {
      REQUIRE_FALSE(s.isOk());
      CHECK_THAT(s.status().message(), Catch::Contains(row.error));
    }
  }
  // "0 0 31 2 5": day of week widens the match, so it does fire (on Fridays in February).
  CHECK(cron::Schedule::parse("0 0 31 2 5").isOk());
}

TEST_CASE("cron: next activation, field by field") {
  // 2024-06-15 is a Saturday.
  CHECK(show(next("0 9 * * 1-5", utc(2024, 6, 15, 12, 0))) == "2024-06-17 09:00:00 UTC");
  CHECK(show(next("*/15 * * * *", utc(2024, 6, 15, 10, 7))) == "2024-06-15 10:15:00 UTC");
  CHECK(show(next("5/20 * * * *", utc(2024, 6, 15, 10, 26))) == "2024-06-15 10:45:00 UTC");
  CHECK(show(next("0 */6 * * *", utc(2024, 6, 15, 13, 0))) == "2024-06-15 18:00:00 UTC");
  CHECK(show(next("0 0 1 jan,JUL ?", utc(2024, 2, 10, 0, 0))) == "2024-07-01 00:00:00 UTC");
  // Strictly after: exactly at an activation gives the following one.
  CHECK(show(next("0 9 * * *", utc(2024, 6, 15, 9, 0))) == "2024-06-16 09:00:00 UTC");
  CHECK(show(next("0 9 * * *", utc(2024, 6, 15, 8, 59, 59))) == "2024-06-15 09:00:00 UTC");
  // Both day fields restricted: either matches (the 13th, or a Friday). 2024-09-01 is a Sunday.
  CHECK(show(next("0 0 13 * 5", utc(2024, 9, 1, 0, 0))) == "2024-09-06 00:00:00 UTC");
  CHECK(show(next("0 0 13 * *", utc(2024, 9, 1, 0, 0))) == "2024-09-13 00:00:00 UTC");
  CHECK(show(next("0 0 * * 5", utc(2024, 9, 1, 0, 0))) == "2024-09-06 00:00:00 UTC");
  // Rare schedules: leap days, year wrap.
  CHECK(show(next("0 0 29 2 *", utc(2021, 3, 1, 0, 0))) == "2024-02-29 00:00:00 UTC");
  CHECK(show(next("59 23 31 12 *", utc(2024, 12, 31, 23, 59, 30))) == "2025-12-31 23:59:00 UTC");
}

TEST_CASE("cron: next activation in time zones") {
  CHECK(show(next("0 9 * * *", utc(2024, 6, 15, 0, 0), "Europe/Paris")) ==
        "2024-06-15 07:00:00 UTC");  // CEST, +2
  CHECK(show(next("0 9 * * *", utc(2024, 1, 15, 0, 0), "Europe/Paris")) ==
        "2024-01-15 08:00:00 UTC");  // CET, +1
  CHECK(show(next("30 9 * * *", utc(2024, 6, 15, 0, 0), "Asia/Kolkata")) ==
        "2024-06-15 04:00:00 UTC");  // +5:30
  CHECK(show(next("0 0 * * *", utc(2024, 6, 15, 12, 0), "Pacific/Kiritimati")) ==
        "2024-06-16 10:00:00 UTC");  // +14
  // The day of week is the local one: Monday 00:30 in Tokyo is Sunday 15:30 UTC.
  CHECK(show(next("30 0 * * mon", utc(2024, 6, 15, 0, 0), "Asia/Tokyo")) ==
        "2024-06-16 15:30:00 UTC");
  // A CRON_TZ prefix wins over the zone passed in.
  CHECK(show(next("CRON_TZ=Asia/Tokyo 0 9 * * *", utc(2024, 6, 15, 1, 0), "America/New_York")) ==
        "2024-06-16 00:00:00 UTC");
}

TEST_CASE("cron: daylight saving transitions behave as robfig/cron") {
  // New York springs forward on 2021-03-14 at 02:00 EST -> 03:00 EDT: 02:30 does not exist that
  // day, so it is skipped.
  CHECK(show(next("30 2 * * *", utc(2021, 3, 13, 12, 0), "America/New_York")) ==
        "2021-03-15 06:30:00 UTC");
  CHECK(show(next("30 3 * * *", utc(2021, 3, 14, 5, 0), "America/New_York")) ==
        "2021-03-14 07:30:00 UTC");  // 03:30 EDT
  // It falls back on 2021-11-07 at 02:00 EDT -> 01:00 EST: 01:30 happens twice, and robfig fires at
  // both occurrences.
  CHECK(show(next("30 1 * * *", utc(2021, 11, 7, 4, 0), "America/New_York")) ==
        "2021-11-07 05:30:00 UTC");  // 01:30 EDT
  CHECK(show(next("30 1 * * *", utc(2021, 11, 7, 5, 30), "America/New_York")) ==
        "2021-11-07 06:30:00 UTC");  // 01:30 EST
  CHECK(show(next("30 1 * * *", utc(2021, 11, 7, 6, 30), "America/New_York")) ==
        "2021-11-08 06:30:00 UTC");
  // Hourly schedules keep firing every real hour across both transitions.
  CHECK(show(next("0 * * * *", utc(2021, 3, 14, 6, 30), "America/New_York")) ==
        "2021-03-14 07:00:00 UTC");  // 03:00 EDT, right after 01:59 EST
  CHECK(show(next("0 9 * * *", utc(2024, 3, 31, 0, 0), "Europe/Paris")) ==
        "2024-03-31 07:00:00 UTC");  // first CEST morning
}

TEST_CASE("cron: next() walks fields, not minutes") {
  auto s = cron::Schedule::parse("0 0 29 2 *");
  REQUIRE(s.isOk());
  const auto* paris = zone("Europe/Paris");
  auto begin = std::chrono::steady_clock::now();
  TimePoint t = utc(2021, 3, 1, 0, 0);
  for (int i = 0; i < 2000; ++i) {
    auto n = s->next(t + std::chrono::minutes(i), paris);
    REQUIRE(n.has_value());
  }
  // A minute-by-minute search would take ~1.5 million steps per call here.
  CHECK(std::chrono::steady_clock::now() - begin < std::chrono::seconds(5));
}

TEST_CASE("cron: metric names follow KEDA") {
  auto def = parseCron({{"timezone", "Etc/UTC"},
                        {"start", "0 0 * * Thu"},
                        {"end", "59 23 * * Thu"},
                        {"desiredReplicas", "10"}});
  auto specs = def->metricSpecs();
  REQUIRE(specs.size() == 1);
  CHECK(specs[0].metricName == "s0-cron-Etc-UTC-00xxThu-5923xxThu");
  CHECK(specs[0].source == MetricSpec::Source::kExternal);
  CHECK(specs[0].targetType == MetricTargetType::kAverageValue);
  CHECK(specs[0].target == 1);

  auto def2 = parseCron({{"timezone", "America/Argentina/Buenos_Aires"},
                         {"start", "*/5 9-17 ? * 1,2"},
                         {"end", "0 18 * * *"},
                         {"desiredReplicas", "3"}},
                        2);
  CHECK(def2->metricSpecs()[0].metricName ==
        "s2-cron-America-Argentina-Buenos_Aires-xSl59-17Qmx1Cm2-018xxx");
}

TEST_CASE("cron: metricType Value is honoured, Utilization rejected") {
  auto config = scalerConfig("cron", {{"timezone", "UTC"},
                                      {"start", "0 8 * * *"},
                                      {"end", "0 18 * * *"},
                                      {"desiredReplicas", "2"}});
  config.metricType = MetricTargetType::kValue;
  auto def = ScalerRegistry::global().find("cron")->parse(config);
  REQUIRE(def.isOk());
  CHECK(def.value()->metricSpecs()[0].targetType == MetricTargetType::kValue);
  config.metricType = MetricTargetType::kUtilization;
  auto bad = ScalerRegistry::global().find("cron")->parse(config);
  REQUIRE_FALSE(bad.isOk());
  CHECK_THAT(bad.status().message(), Catch::Contains("'Utilization' metric type is unsupported"));
}

TEST_CASE("cron: parse errors are collected") {
  auto factory = ScalerRegistry::global().find("cron");
  REQUIRE(factory);
  SECTION("everything missing") {
    auto r = factory->parse(scalerConfig("cron", {}));
    REQUIRE_FALSE(r.isOk());
    CHECK(r.status().code() == StatusCode::kInvalidArgument);
    CHECK(r.status().message() ==
          "missing required parameter \"timezone\" in [triggerMetadata]; "
          "missing required parameter \"start\" in [triggerMetadata]; "
          "missing required parameter \"end\" in [triggerMetadata]; "
          "missing required parameter \"desiredReplicas\" in [triggerMetadata]");
  }
  SECTION("bad values") {
    auto r = factory->parse(scalerConfig("cron", {{"timezone", "Mars/Olympus"},
                                                  {"start", "0 8 * *"},
                                                  {"end", "61 18 * * *"},
                                                  {"desiredReplicas", "0"}}));
    REQUIRE_FALSE(r.isOk());
    CHECK(r.status().message() ==
          "parameter \"timezone\": unknown time zone \"Mars/Olympus\"; "
          "parameter \"start\": \"0 8 * *\" is not a valid schedule: expected exactly 5 fields, "
          "found 4: [0 8 * *]; "
          "parameter \"end\": \"61 18 * * *\" is not a valid schedule: end of range (61) above "
          "maximum (59): 61; "
          "parameter \"desiredReplicas\": must be a non-zero integer");
  }
  SECTION("start equal to end") {
    auto r = factory->parse(scalerConfig("cron", {{"timezone", "UTC"},
                                                  {"start", "0 8 * * *"},
                                                  {"end", "0 8 * * *"},
                                                  {"desiredReplicas", "1.5"}}));
    REQUIRE_FALSE(r.isOk());
    CHECK(r.status().message() ==
          "parameter \"desiredReplicas\": \"1.5\" is not a valid integer; "
          "start and end can not have exactly same time input");
  }
}

TEST_CASE("cron: activity follows the window in the trigger's time zone") {
  auto def = parseCron({{"timezone", "America/New_York"},
                        {"start", "0 9 * * 1-5"},
                        {"end", "0 17 * * 1-5"},
                        {"desiredReplicas", "7"}});
  ManualClock clock;
  ScalerContext context;
  context.clock = &clock;
  auto scaler = def->createScaler(context);
  REQUIRE(scaler.isOk());
  const std::string name = def->metricSpecs()[0].metricName;
  auto at = [&](TimePoint t) {
    clock.set(t);
    auto r = scaler.value()->getMetricsAndActivity(name, t + std::chrono::seconds(5));
    REQUIRE(r.isOk());
    REQUIRE(r->metrics.size() == 1);
    CHECK(r->metrics[0].metricName == name);
    CHECK(r->metrics[0].value == (r->isActive ? 7.0 : 0.0));
    return r->isActive;
  };
  // Friday 2021-03-12 (EST, -5): 09:00 local = 14:00 UTC.
  CHECK_FALSE(at(utc(2021, 3, 12, 13, 59)));
  CHECK(at(utc(2021, 3, 12, 14, 0)));
  CHECK(at(utc(2021, 3, 12, 21, 59)));
  CHECK_FALSE(at(utc(2021, 3, 12, 22, 0)));
  // Weekend.
  CHECK_FALSE(at(utc(2021, 3, 13, 15, 0)));
  // Monday 2021-03-15 is EDT (-4): 09:00 local = 13:00 UTC, 17:00 local = 21:00 UTC.
  CHECK_FALSE(at(utc(2021, 3, 15, 12, 30)));
  CHECK(at(utc(2021, 3, 15, 13, 0)));
  CHECK(at(utc(2021, 3, 15, 20, 59)));
  CHECK_FALSE(at(utc(2021, 3, 15, 21, 0)));
}

TEST_CASE("cron: overnight windows and other zones") {
  // 22:00 -> 06:00 in Asia/Kolkata (+5:30): 16:30 UTC -> 00:30 UTC.
  auto def = parseCron({{"timezone", "Asia/Kolkata"},
                        {"start", "0 22 * * *"},
                        {"end", "0 6 * * *"},
                        {"desiredReplicas", "4"}});
  ManualClock clock(utc(2024, 6, 15, 16, 29));
  auto scaler = def->createScaler(ScalerContext{&clock, nullptr});
  REQUIRE(scaler.isOk());
  auto active = [&] {
    auto r = scaler.value()->getMetricsAndActivity("m", clock.now());
    REQUIRE(r.isOk());
    return r->isActive;
  };
  CHECK_FALSE(active());
  clock.set(utc(2024, 6, 15, 16, 30));
  CHECK(active());
  clock.set(utc(2024, 6, 15, 23, 59));
  CHECK(active());
  clock.set(utc(2024, 6, 16, 0, 29, 59));
  CHECK(active());
  clock.set(utc(2024, 6, 16, 0, 30));
  CHECK_FALSE(active());

  // Europe/London across the spring change (2024-03-31 01:00 UTC): 08:00-09:00 local.
  auto london = parseCron({{"timezone", "Europe/London"},
                           {"start", "0 8 * * *"},
                           {"end", "0 9 * * *"},
                           {"desiredReplicas", "1"}});
  auto s2 = london->createScaler(ScalerContext{&clock, nullptr});
  REQUIRE(s2.isOk());
  auto londonActive = [&](TimePoint t) {
    clock.set(t);
    return s2.value()->getMetricsAndActivity("m", t)->isActive;
  };
  CHECK(londonActive(utc(2024, 3, 30, 8, 30)));        // GMT
  CHECK_FALSE(londonActive(utc(2024, 3, 31, 8, 30)));  // 09:30 BST
  CHECK(londonActive(utc(2024, 3, 31, 7, 30)));        // 08:30 BST
}
