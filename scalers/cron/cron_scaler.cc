// The `cron` trigger (keda-scalers.md §2.7): desiredReplicas inside a [start, end) window of two
// cron schedules evaluated in a time zone, 0 outside it.
#include <date/tz.h>

#include <memory>
#include <optional>
#include <string>

#include "cron/cron_schedule.h"
#include "updraft/metadata.h"
#include "updraft/scaler.h"

namespace updraft {
namespace {

// KEDA's parseCronTimeFormat: a schedule made safe for a metric name.
std::string cronNamePart(std::string_view spec) {
  std::string out;
  for (char c : spec) {
    switch (c) {
      case ' ':
        break;
      case '*':
        out += 'x';
        break;
      case '/':
        out += "Sl";
        break;
      case '?':
        out += "Qm";
        break;
      case ',':
        out += "Cm";
        break;
      default:
        out += c;
    }
  }
  return out;
}

// KEDA: active unless the next start comes before the next end; "never" behaves like Go's zero time
// (earlier than any real time).
bool cronActive(TimePoint now, std::optional<TimePoint> nextStart,
                std::optional<TimePoint> nextEnd) {
  if (!nextEnd) return false;
  if (nextStart && *nextStart < *nextEnd && now < *nextStart) return false;
  return now <= *nextEnd;
}

struct CronSettings {
  std::string timezone;
  const date::time_zone* zone = nullptr;
  cron::Schedule start;
  cron::Schedule end;
  int64_t desiredReplicas = 0;
};

class CronScaler final : public Scaler {
 public:
  CronScaler(std::shared_ptr<const CronSettings> settings, const Clock* clock)
      : settings_(std::move(settings)), clock_(clock) {}

  Result<MetricsAndActivity> getMetricsAndActivity(const std::string& metricName,
                                                   TimePoint /*deadline*/) override {
    const TimePoint now = clock_->now();
    const CronSettings& s = *settings_;
    bool active = cronActive(now, s.start.next(now, s.zone), s.end.next(now, s.zone));
    MetricsAndActivity out;
    out.isActive = active;
    out.metrics.push_back(
        MetricValue{metricName, active ? static_cast<double>(s.desiredReplicas) : 0.0});
    return out;
  }

 private:
  std::shared_ptr<const CronSettings> settings_;
  const Clock* clock_;
};

class CronDefinition final : public ScalerDefinition {
 public:
  CronDefinition(std::shared_ptr<const CronSettings> settings, MetricSpec spec)
      : settings_(std::move(settings)), spec_(std::move(spec)) {}

  std::vector<MetricSpec> metricSpecs() const override { return {spec_}; }
  double activationThreshold() const override { return 0; }
  Result<std::unique_ptr<Scaler>> createScaler(const ScalerContext& context) const override {
    const Clock* clock = context.clock ? context.clock : &SystemClock::instance();
    return std::unique_ptr<Scaler>(std::make_unique<CronScaler>(settings_, clock));
  }

 private:
  std::shared_ptr<const CronSettings> settings_;
  MetricSpec spec_;
};

class CronScalerFactory final : public ScalerFactory {
 public:
  std::string type() const override { return "cron"; }

  Result<std::unique_ptr<ScalerDefinition>> parse(const ScalerConfig& config) const override {
    MetadataReader r(config);
    auto timezone = r.string("timezone");
    auto start = r.string("start");
    auto end = r.string("end");
    auto desired = r.int64("desiredReplicas");
    auto settings = std::make_shared<CronSettings>();
    if (timezone) {
      auto zone = cron::findZone(*timezone);
      if (zone.isOk()) {
        settings->timezone = *timezone;
        settings->zone = *zone;
      } else {
        r.addError("timezone", zone.status().message());
      }
    }
    auto parseSchedule = [&](const char* name, const std::optional<std::string>& spec,
                             cron::Schedule& out) {
      if (!spec) return;
      auto schedule = cron::Schedule::parse(*spec);
      if (schedule.isOk()) {
        out = std::move(schedule.value());
      } else {
        r.addError(name,
                   "\"" + *spec + "\" is not a valid schedule: " + schedule.status().message());
      }
    };
    parseSchedule("start", start, settings->start);
    parseSchedule("end", end, settings->end);
    if (start && end && *start == *end) {
      r.addError("start and end can not have exactly same time input");
    }
    if (desired && *desired == 0) r.addError("desiredReplicas", "must be a non-zero integer");
    if (desired) settings->desiredReplicas = *desired;
    auto metricType = externalMetricTargetType(config);
    if (!metricType.isOk()) r.addError(metricType.status().message());
    UPDRAFT_RETURN_IF_ERROR(r.finish());

    std::string name = "cron-" + *timezone + "-" + cronNamePart(*start) + "-" + cronNamePart(*end);
    MetricSpec spec = externalMetricSpec(config, name, *metricType, 1);
    return std::unique_ptr<ScalerDefinition>(
        std::make_unique<CronDefinition>(std::move(settings), std::move(spec)));
  }
};

UPDRAFT_REGISTER_SCALER(CronScalerFactory);

}  // namespace
}  // namespace updraft
