#include <algorithm>
#include <utility>

#include "updraft/metadata.h"

namespace updraft {
namespace {

constexpr size_t kMaxRangeElements = 100000;

std::vector<std::string> splitAliases(std::string_view name) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= name.size()) {
    size_t end = name.find(';', start);
    if (end == std::string_view::npos) end = name.size();
    std::string_view part = metadata::trim(name.substr(start, end - start));
    if (!part.empty()) out.emplace_back(part);
    start = end + 1;
  }
  if (out.empty()) out.emplace_back(name);
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

std::string quote(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  out += '"';
  return out;
}

std::string joinNames(const std::vector<std::string>& v, std::string_view sep) {
  std::string out;
  for (size_t i = 0; i < v.size(); ++i) {
    if (i) out += sep;
    out += v[i];
  }
  return out;
}

std::string orderText(const std::vector<From>& order) {
  std::string out = "[";
  for (size_t i = 0; i < order.size(); ++i) {
    if (i) out += ' ';
    out += fromName(order[i]);
  }
  return out + "]";
}

bool contains(const std::vector<From>& order, From f) {
  return std::find(order.begin(), order.end(), f) != order.end();
}

}  // namespace

const char* fromName(From from) {
  switch (from) {
    case From::kTriggerMetadata:
      return "triggerMetadata";
    case From::kResolvedEnv:
      return "resolvedEnv";
    case From::kAuthParams:
      return "authParams";
  }
  return "?";
}

MetadataReader::MetadataReader(const ScalerConfig& config) : config_(config) {}

std::optional<MetadataReader::Found> MetadataReader::rawLookup(
    const std::vector<std::string>& names, const Opt& opt) const {
  for (From from : opt.order) {
    for (const auto& alias : names) {
      const StringMap* map = nullptr;
      std::string key = alias;
      switch (from) {
        case From::kTriggerMetadata:
          map = &config_.triggerMetadata;
          break;
        case From::kAuthParams:
          map = &config_.authParams;
          break;
        case From::kResolvedEnv: {
          map = &config_.resolvedEnv;
          auto it = config_.triggerMetadata.find(alias + "FromEnv");
          if (it == config_.triggerMetadata.end()) continue;
          key = std::string(metadata::trim(it->second));
          if (key.empty()) continue;
          break;
        }
      }
      auto it = map->find(key);
      if (it == map->end()) continue;
      std::string_view v = metadata::trim(it->second);
      if (v.empty()) continue;
      Found found;
      found.value = std::string(v);
      found.from = from;
      found.echo = from == From::kTriggerMetadata && !opt.sensitive;
      return found;
    }
  }
  return std::nullopt;
}

std::optional<MetadataReader::Found> MetadataReader::lookup(std::string_view name, const Opt& opt,
                                                            bool checkEnum) {
  std::vector<std::string> names = splitAliases(name);
  for (const auto& n : names) asked_.insert(n);
  const std::string& primary = names.front();

  std::optional<Found> found = rawLookup(names, opt);
  if (!found && !opt.defaultValue.empty()) {
    found = Found{opt.defaultValue, From::kTriggerMetadata, true, !opt.sensitive};
  }
  if (!found) {
    if (opt.optional) return std::nullopt;
    bool secretSource =
        contains(opt.order, From::kResolvedEnv) || contains(opt.order, From::kAuthParams);
    if (config_.secretsUnresolved && secretSource) {
      unresolved_.insert(primary);
      return std::nullopt;
    }
    std::string msg =
        "missing required parameter " + quote(primary) + " in " + orderText(opt.order);
    if (contains(opt.order, From::kResolvedEnv)) {
      for (const auto& alias : names) {
        auto it = config_.triggerMetadata.find(alias + "FromEnv");
        if (it == config_.triggerMetadata.end()) continue;
        std::string_view env = metadata::trim(it->second);
        if (env.empty()) continue;
        msg += " (" + alias + "FromEnv names " + quote(env) +
               ", which is unset or empty in the target's environment)";
        break;
      }
    }
    errors_.push_back(std::move(msg));
    return std::nullopt;
  }
  if (checkEnum && !opt.allowed.empty() &&
      std::find(opt.allowed.begin(), opt.allowed.end(), found->value) == opt.allowed.end()) {
    std::string subject = "parameter " + quote(primary);
    if (found->echo) {
      subject += ": " + quote(found->value);
    } else {
      subject += std::string(" (from ") + fromName(found->from) + "): the value";
    }
    errors_.push_back(subject + " must be one of " + joinNames(opt.allowed, ", "));
    return std::nullopt;
  }
  return found;
}

void MetadataReader::conversionError(std::string_view name, const Found& found,
                                     std::string_view what) {
  std::string primary = splitAliases(name).front();
  std::string msg = "parameter " + quote(primary);
  if (found.echo) {
    msg += ": " + quote(found.value);
  } else {
    msg += std::string(" (from ") + fromName(found.from) + "): the value";
  }
  msg += ' ';
  msg += what;
  errors_.push_back(std::move(msg));
}

std::optional<std::string> MetadataReader::string(std::string_view name, const Opt& opt) {
  auto found = lookup(name, opt, /*checkEnum=*/true);
  if (!found) return std::nullopt;
  return std::move(found->value);
}

std::optional<std::string> MetadataReader::enumValue(std::string_view name,
                                                     std::vector<std::string> allowed, Opt opt) {
  opt.allowed.insert(opt.allowed.end(), allowed.begin(), allowed.end());
  return string(name, opt);
}

std::optional<int64_t> MetadataReader::int64(std::string_view name, const Opt& opt) {
  auto found = lookup(name, opt, true);
  if (!found) return std::nullopt;
  auto v = metadata::parseJsonInt64(found->value);
  if (!v.isOk()) {
    conversionError(name, *found, v.status().message());
    return std::nullopt;
  }
  return *v;
}

std::optional<double> MetadataReader::float64(std::string_view name, const Opt& opt) {
  auto found = lookup(name, opt, true);
  if (!found) return std::nullopt;
  auto v = metadata::parseJsonFloat64(found->value);
  if (!v.isOk()) {
    conversionError(name, *found, v.status().message());
    return std::nullopt;
  }
  return *v;
}

std::optional<bool> MetadataReader::boolean(std::string_view name, const Opt& opt) {
  auto found = lookup(name, opt, true);
  if (!found) return std::nullopt;
  auto v = metadata::parseGoBool(found->value);
  if (!v.isOk()) {
    conversionError(name, *found, v.status().message());
    return std::nullopt;
  }
  return *v;
}

std::optional<Millis> MetadataReader::duration(std::string_view name, const Opt& opt) {
  auto found = lookup(name, opt, true);
  if (!found) return std::nullopt;
  auto v = metadata::parseDurationOrMillis(found->value);
  if (!v.isOk()) {
    conversionError(name, *found, v.status().message());
    return std::nullopt;
  }
  return *v;
}

std::optional<StringMap> MetadataReader::stringMap(std::string_view name, const Opt& opt) {
  auto found = lookup(name, opt, false);
  if (!found) return std::nullopt;
  StringMap out;
  auto elements = split(found->value, ',');
  for (size_t i = 0; i < elements.size(); ++i) {
    std::string_view element = metadata::trim(elements[i]);
    auto kv = split(element, '=');
    if (kv.size() != 2) {
      std::string what = "is not a valid map: element " + std::to_string(i + 1);
      if (found->echo) what += " (" + quote(element) + ")";
      what += " must be key=value, and values must not contain '='";
      conversionError(name, *found, what);
      return std::nullopt;
    }
    out[std::string(metadata::trim(kv[0]))] = std::string(metadata::trim(kv[1]));
  }
  return out;
}

std::optional<std::vector<std::string>> MetadataReader::list(std::string_view name,
                                                             const Opt& opt) {
  auto found = lookup(name, opt, false);
  if (!found) return std::nullopt;
  std::vector<std::string> out;
  for (auto part : split(found->value, ',')) out.emplace_back(metadata::trim(part));
  std::string primary = splitAliases(name).front();
  bool ok = true;
  if (!opt.allowed.empty()) {
    for (const auto& element : out) {
      if (std::find(opt.allowed.begin(), opt.allowed.end(), element) != opt.allowed.end()) {
        continue;
      }
      std::string msg = "parameter " + quote(primary);
      if (found->echo) {
        msg += ": element " + quote(element);
      } else {
        msg += std::string(" (from ") + fromName(found->from) + "): an element";
      }
      errors_.push_back(msg + " must be one of " + joinNames(opt.allowed, ", "));
      ok = false;
    }
  }
  if (!opt.exclusiveSet.empty()) {
    int count = 0;
    for (const auto& element : out) {
      count += std::count(opt.exclusiveSet.begin(), opt.exclusiveSet.end(), element) > 0;
    }
    if (count > 1) {
      std::string msg = "parameter " + quote(primary);
      if (found->echo) msg += ": " + quote(found->value);
      errors_.push_back(msg + " may contain only one of " + joinNames(opt.exclusiveSet, ", "));
      ok = false;
    }
  }
  if (!ok) return std::nullopt;
  return out;
}

std::optional<std::vector<int64_t>> MetadataReader::int64List(std::string_view name,
                                                              const Opt& opt) {
  auto found = lookup(name, opt, false);
  if (!found) return std::nullopt;
  std::vector<int64_t> out;
  auto elements = split(found->value, ',');
  for (size_t i = 0; i < elements.size(); ++i) {
    std::string_view element = metadata::trim(elements[i]);
    auto fail = [&](std::string_view why) {
      std::string what = "is not a valid integer list: element " + std::to_string(i + 1);
      if (found->echo) what += " (" + quote(element) + ")";
      what += ' ';
      what += why;
      conversionError(name, *found, what);
    };
    if (!opt.rangeSeparator.empty() && element.find(opt.rangeSeparator) != std::string_view::npos) {
      std::vector<std::string_view> bounds;
      size_t start = 0;
      while (true) {
        size_t pos = element.find(opt.rangeSeparator, start);
        if (pos == std::string_view::npos) {
          bounds.push_back(element.substr(start));
          break;
        }
        bounds.push_back(element.substr(start, pos - start));
        start = pos + opt.rangeSeparator.size();
      }
      if (bounds.size() != 2) {
        fail("must be start" + opt.rangeSeparator + "end");
        return std::nullopt;
      }
      auto lo = metadata::parseJsonInt64(metadata::trim(bounds[0]));
      auto hi = metadata::parseJsonInt64(metadata::trim(bounds[1]));
      if (!lo.isOk() || !hi.isOk()) {
        fail("has a bound that is not a valid integer");
        return std::nullopt;
      }
      if (*hi >= *lo && static_cast<uint64_t>(*hi - *lo) >= kMaxRangeElements) {
        fail("is a range of more than " + std::to_string(kMaxRangeElements) + " values");
        return std::nullopt;
      }
      for (int64_t v = *lo; v <= *hi; ++v) out.push_back(v);
      continue;
    }
    auto v = metadata::parseJsonInt64(element);
    if (!v.isOk()) {
      fail(v.status().message());
      return std::nullopt;
    }
    out.push_back(*v);
  }
  return out;
}

void MetadataReader::deprecated(std::string_view name, std::string_view message, const Opt& opt) {
  auto names = splitAliases(name);
  for (const auto& n : names) asked_.insert(n);
  if (!rawLookup(names, opt)) return;
  std::string msg = "parameter " + quote(names.front()) + " is deprecated";
  if (!message.empty()) {
    msg += ": ";
    msg += message;
  }
  errors_.push_back(std::move(msg));
}

void MetadataReader::deprecatedAnnounce(std::string_view name, std::string_view message,
                                        const Opt& opt) {
  auto names = splitAliases(name);
  for (const auto& n : names) asked_.insert(n);
  if (!rawLookup(names, opt)) return;
  warnings_.emplace_back(message);
}

bool MetadataReader::has(std::string_view name, const Opt& opt) const {
  return rawLookup(splitAliases(name), opt).has_value();
}

bool MetadataReader::unresolved(std::string_view name) const {
  return unresolved_.count(splitAliases(name).front()) > 0;
}

void MetadataReader::addError(std::string_view name, std::string_view message) {
  std::string msg = "parameter " + quote(splitAliases(name).front()) + ": ";
  msg += message;
  errors_.push_back(std::move(msg));
}

void MetadataReader::addError(std::string message) { errors_.push_back(std::move(message)); }

Status MetadataReader::finish() const {
  if (errors_.empty()) return Status::ok();
  return Status::invalidArgument(joinNames(errors_, "; "));
}

std::vector<std::string> MetadataReader::unexpectedKeys() const {
  std::vector<std::string> out;
  constexpr std::string_view kFromEnv = "FromEnv";
  for (const auto& [key, _] : config_.triggerMetadata) {
    if (asked_.count(key)) continue;
    std::string_view k = key;
    if (k.size() > kFromEnv.size() && k.substr(k.size() - kFromEnv.size()) == kFromEnv &&
        asked_.count(k.substr(0, k.size() - kFromEnv.size()))) {
      continue;
    }
    out.push_back(key);
  }
  return out;
}

}  // namespace updraft
