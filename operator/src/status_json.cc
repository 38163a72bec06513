#include "updraft/operator/status_json.h"

#include <algorithm>
#include <chrono>
#include <ctime>
#include <limits>
#include <string_view>
#include <utility>

#include "updraft/parse.h"

namespace updraft::kube {
namespace {

using nlohmann::json;

// metav1.Time: RFC 3339 in UTC, whole seconds.
std::string formatRfc3339(TimePoint t) {
  const auto seconds = std::chrono::floor<std::chrono::seconds>(t);
  const std::time_t tt = static_cast<std::time_t>(seconds.time_since_epoch().count());
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

json conditionJson(const char* type, const Condition& c) {
  json out = {{"type", type}, {"status", conditionStatusName(c.status)}};
  if (!c.reason.empty()) out["reason"] = c.reason;
  if (!c.message.empty()) out["message"] = c.message;
  return out;
}

// GetInitializedConditions' order: Ready, Active, Fallback, Paused.
json conditionsJson(const ScalableStatus& s) {
  return json::array({conditionJson("Ready", s.ready), conditionJson("Active", s.active),
                      conditionJson("Fallback", s.fallback), conditionJson("Paused", s.paused)});
}

json triggersActivityJson(const std::map<std::string, bool>& activity) {
  json out = json::object();
  for (const auto& [metric, active] : activity) out[metric] = {{"isActive", active}};
  return out;
}

void putIfSet(json& out, const char* key, const std::string& value) {
  if (!value.empty()) out[key] = value;
}

void putIfSet(json& out, const char* key, const std::vector<std::string>& value) {
  if (!value.empty()) out[key] = value;
}

// ---- Reading back: every accessor ignores a value of the wrong type ----

const json* child(const json& j, std::string_view key) {
  if (!j.is_object()) return nullptr;
  auto it = j.find(key);
  return it == j.end() ? nullptr : &*it;
}

std::string stringAt(const json& j, std::string_view key) {
  const json* c = child(j, key);
  return c && c->is_string() ? c->get<std::string>() : std::string();
}

std::optional<int32_t> int32At(const json& j, std::string_view key) {
  const json* c = child(j, key);
  if (!c || !c->is_number_integer()) return std::nullopt;
  if (c->is_number_unsigned()) {
    const uint64_t v = c->get<uint64_t>();
    if (v > static_cast<uint64_t>(std::numeric_limits<int32_t>::max())) return std::nullopt;
    return static_cast<int32_t>(v);
  }
  const int64_t v = c->get<int64_t>();
  if (v < std::numeric_limits<int32_t>::min() || v > std::numeric_limits<int32_t>::max()) {
    return std::nullopt;
  }
  return static_cast<int32_t>(v);
}

std::vector<std::string> stringsAt(const json& j, std::string_view key) {
  std::vector<std::string> out;
  const json* c = child(j, key);
  if (!c || !c->is_array()) return out;
  for (const json& v : *c) {
    if (v.is_string()) out.push_back(v.get<std::string>());
  }
  return out;
}

// Unique values in order of first appearance, comma-joined (KEDA's status type lists).
std::string joinUnique(const std::vector<std::string>& values) {
  std::vector<std::string> seen;
  std::string out;
  for (const std::string& v : values) {
    if (std::find(seen.begin(), seen.end(), v) != seen.end()) continue;
    seen.push_back(v);
    out += (out.empty() ? "" : ",") + v;
  }
  return out;
}

Condition conditionFromJson(const json& c) {
  Condition out;
  const std::string status = stringAt(c, "status");
  out.status = status == "True"    ? ConditionStatus::kTrue
               : status == "False" ? ConditionStatus::kFalse
                                   : ConditionStatus::kUnknown;
  out.reason = stringAt(c, "reason");
  out.message = stringAt(c, "message");
  return out;
}

}  // namespace

json scaledObjectStatusJson(const ScalableStatus& status, const StatusExtras& extras) {
  json out = json::object();
  const std::string kind = extras.scaleTargetKind.empty() && extras.gvkr ? extras.gvkr->kindString()
                                                                         : extras.scaleTargetKind;
  putIfSet(out, "scaleTargetKind", kind);
  if (extras.gvkr) {
    out["scaleTargetGVKR"] = {{"group", extras.gvkr->group},
                              {"version", extras.gvkr->version},
                              {"kind", extras.gvkr->kind},
                              {"resource", extras.gvkr->resource}};
  }
  if (status.originalReplicaCount) out["originalReplicaCount"] = *status.originalReplicaCount;
  if (status.lastActiveTime) out["lastActiveTime"] = formatRfc3339(*status.lastActiveTime);
  putIfSet(out, "externalMetricNames", status.externalMetricNames);
  putIfSet(out, "resourceMetricNames", status.resourceMetricNames);
  putIfSet(out, "compositeScalerName", status.compositeScalerName);
  out["conditions"] = conditionsJson(status);
  if (!status.health.empty()) {
    json health = json::object();
    for (const auto& [metric, h] : status.health) {
      health[metric] = {{"numberOfFailures", h.numberOfFailures},
                        {"status", h.failing ? "Failing" : "Happy"}};
    }
    out["health"] = std::move(health);
  }
  if (status.pausedReplicaCount) out["pausedReplicaCount"] = *status.pausedReplicaCount;
  putIfSet(out, "hpaName", extras.hpaName);
  putIfSet(out, "triggersTypes", extras.triggersTypes);
  putIfSet(out, "authenticationsTypes", extras.authenticationsTypes);
  if (!status.triggersActivity.empty()) {
    out["triggersActivity"] = triggersActivityJson(status.triggersActivity);
  }
  return out;
}

json scaledJobStatusJson(const ScalableStatus& status, const std::string& triggersTypes,
                         const std::string& authenticationsTypes) {
  json out = json::object();
  if (status.lastActiveTime) out["lastActiveTime"] = formatRfc3339(*status.lastActiveTime);
  putIfSet(out, "externalMetricNames", status.externalMetricNames);
  out["conditions"] = conditionsJson(status);
  putIfSet(out, "triggersTypes", triggersTypes);
  putIfSet(out, "authenticationsTypes", authenticationsTypes);
  if (!status.triggersActivity.empty()) {
    out["triggersActivity"] = triggersActivityJson(status.triggersActivity);
  }
  return out;
}

ScalableStatus scalableStatusFromJson(const json& status) {
  ScalableStatus out;
  if (const json* conditions = child(status, "conditions"); conditions && conditions->is_array()) {
    for (const json& c : *conditions) {
      const std::string type = stringAt(c, "type");
      Condition* target = type == "Ready"      ? &out.ready
                          : type == "Active"   ? &out.active
                          : type == "Fallback" ? &out.fallback
                          : type == "Paused"   ? &out.paused
                                               : nullptr;  // HPAActive and unknown types
      if (target) *target = conditionFromJson(c);
    }
  }
  if (auto t = parseRfc3339(stringAt(status, "lastActiveTime")); t.isOk()) {
    out.lastActiveTime = *t;
  }
  out.originalReplicaCount = int32At(status, "originalReplicaCount");
  out.pausedReplicaCount = int32At(status, "pausedReplicaCount");
  if (const json* health = child(status, "health"); health && health->is_object()) {
    for (auto it = health->begin(); it != health->end(); ++it) {
      if (!it.value().is_object()) continue;
      out.health[it.key()] = {int32At(it.value(), "numberOfFailures").value_or(0),
                              stringAt(it.value(), "status") == "Failing"};
    }
  }
  if (const json* activity = child(status, "triggersActivity"); activity && activity->is_object()) {
    for (auto it = activity->begin(); it != activity->end(); ++it) {
      const json* active = child(it.value(), "isActive");
      out.triggersActivity[it.key()] = active && active->is_boolean() && active->get<bool>();
    }
  }
  out.externalMetricNames = stringsAt(status, "externalMetricNames");
  out.resourceMetricNames = stringsAt(status, "resourceMetricNames");
  out.compositeScalerName = stringAt(status, "compositeScalerName");
  return out;
}

json mergePatchDiff(const json& before, const json& after) {
  if (!before.is_object() || !after.is_object()) {
    return before == after ? json::object() : after;
  }
  json patch = json::object();
  for (auto it = before.begin(); it != before.end(); ++it) {
    if (!after.contains(it.key())) patch[it.key()] = nullptr;
  }
  for (auto it = after.begin(); it != after.end(); ++it) {
    const json* old = child(before, it.key());
    if (old && *old == it.value()) continue;
    // A nested object that existed before changes key by key; anything else is replaced.
    patch[it.key()] = old && old->is_object() && it.value().is_object()
                          ? mergePatchDiff(*old, it.value())
                          : it.value();
  }
  return patch;
}

std::string triggersTypesOf(const std::vector<ScaleTriggers>& triggers) {
  std::vector<std::string> types;
  for (const ScaleTriggers& t : triggers) types.push_back(t.type);
  return joinUnique(types);
}

std::string authenticationsTypesOf(const std::vector<ScaleTriggers>& triggers) {
  std::vector<std::string> names;
  for (const ScaleTriggers& t : triggers) {
    if (t.authenticationRef) names.push_back(t.authenticationRef->name);
  }
  return joinUnique(names);
}

}  // namespace updraft::kube
