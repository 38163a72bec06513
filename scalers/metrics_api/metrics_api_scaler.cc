// The `metrics-api` trigger (keda-scalers.md §2.9): GET a URL, read one number out of the response.
#include <algorithm>
#include <cctype>
#include <memory>
#include <optional>
#include <set>
#include <string>

#include "common/http_client.h"
#include "metrics_api/value_extractors.h"
#include "updraft/metadata.h"
#include "updraft/scaler.h"

namespace updraft {
namespace {

using metrics_api::Format;
using metrics_api::ValueLocation;

struct Settings {
  std::string url;
  std::string valueLocationText;
  std::optional<ValueLocation> valueLocation;
  double targetValue = 0;
  double activationTargetValue = 0;
  Format format = Format::kJson;
  bool unsafeSsl = false;
  Millis timeout{3000};
  bool aggregateFromKubeServiceEndpoints = false;
  std::string aggregationType = "average";
  // Authentication (values from authParams; never printed).
  std::set<std::string> authModes;
  std::string apiKey;
  std::string method = "header";
  std::string keyParamName;
  std::string username;
  std::string password;
  std::string bearerToken;
  std::string ca;
  std::string cert;
  std::string key;
  std::string customAuthHeader;
  std::string customAuthValue;
};

std::string urlEncode(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

// Sets ?name=value on url, replacing an existing `name` parameter (Go's url.Values.Set).
std::string withQueryParam(const std::string& url, std::string_view name, std::string_view value) {
  size_t hashPos = url.find('#');
  std::string fragment = hashPos == std::string::npos ? "" : url.substr(hashPos);
  std::string base = url.substr(0, hashPos);
  size_t q = base.find('?');
  std::string path = base.substr(0, q);
  std::string query = q == std::string::npos ? "" : base.substr(q + 1);
  std::string kept;
  const std::string encodedName = urlEncode(name);
  size_t start = 0;
  while (start <= query.size() && !query.empty()) {
    size_t amp = query.find('&', start);
    if (amp == std::string::npos) amp = query.size();
    std::string_view pair(query.data() + start, amp - start);
    std::string_view key = pair.substr(0, pair.find('='));
    if (!pair.empty() && key != name && key != encodedName) {
      if (!kept.empty()) kept += '&';
      kept += pair;
    }
    start = amp + 1;
  }
  if (!kept.empty()) kept += '&';
  kept += encodedName + "=" + urlEncode(value);
  return path + "?" + kept + fragment;
}

class MetricsApiScaler final : public Scaler {
 public:
  MetricsApiScaler(std::shared_ptr<const Settings> settings, const Clock* clock)
      : settings_(std::move(settings)), clock_(clock) {}

  Result<MetricsAndActivity> getMetricsAndActivity(const std::string& metricName,
                                                   TimePoint deadline) override {
    auto value = fetch(deadline);
    if (!value.isOk()) return value.status();
    MetricsAndActivity out;
    out.metrics.push_back(MetricValue{metricName, *value});
    out.isActive = *value > settings_->activationTargetValue;
    return out;
  }

  void close() override { client_.closeIdle(); }

 private:
  Result<double> fetch(TimePoint deadline) {
    const Settings& s = *settings_;
    http::Request req;
    req.url = s.url;
    req.timeout = http::HttpClient::timeoutUntil(deadline, clock_->now(), s.timeout);
    req.tls.insecureSkipVerify = s.unsafeSsl;
    req.tls.caPem = s.ca;
    if (s.authModes.count("apiKey")) {
      if (s.method == "query") {
        req.url =
            withQueryParam(s.url, s.keyParamName.empty() ? "api_key" : s.keyParamName, s.apiKey);
      } else {
        req.headers.emplace_back(s.keyParamName.empty() ? "X-API-KEY" : s.keyParamName, s.apiKey);
      }
    }
    if (s.authModes.count("basic")) req.basicAuth = http::BasicAuth{s.username, s.password};
    if (s.authModes.count("bearer")) req.bearerToken = s.bearerToken;
    if (s.authModes.count("tls")) {
      req.tls.clientCertPem = s.cert;
      req.tls.clientKeyPem = s.key;
    }
    if (s.authModes.count("custom"))
      req.headers.emplace_back(s.customAuthHeader, s.customAuthValue);

    const std::string where = "metrics-api: GET " + http::HttpClient::redactUrl(s.url);
    auto response = client_.send(req);
    if (!response.isOk()) return response.status().withContext("metrics-api");
    if (response->status != 200) {
      return Status::unavailable(where + ": api returned " + std::to_string(response->status));
    }
    auto value = s.valueLocation->extract(response->body);
    if (!value.isOk()) return Status::unavailable(where + ": " + value.status().message());
    return *value;
  }

  std::shared_ptr<const Settings> settings_;
  const Clock* clock_;
  http::HttpClient client_;
};

class MetricsApiDefinition final : public ScalerDefinition {
 public:
  MetricsApiDefinition(std::shared_ptr<const Settings> settings, MetricSpec spec)
      : settings_(std::move(settings)), spec_(std::move(spec)) {}

  std::vector<MetricSpec> metricSpecs() const override { return {spec_}; }
  double activationThreshold() const override { return settings_->activationTargetValue; }
  Result<std::unique_ptr<Scaler>> createScaler(const ScalerContext& context) const override {
    if (settings_->aggregateFromKubeServiceEndpoints) {
      return Status::failedPrecondition(
          "metrics-api: aggregateFromKubeServiceEndpoints reads the service's EndpointSlices from "
          "the Kubernetes API, which is not available outside Kubernetes; point url at one "
          "endpoint instead");
    }
    const Clock* clock = context.clock ? context.clock : &SystemClock::instance();
    return std::unique_ptr<Scaler>(std::make_unique<MetricsApiScaler>(settings_, clock));
  }

 private:
  std::shared_ptr<const Settings> settings_;
  MetricSpec spec_;
};

class MetricsApiScalerFactory final : public ScalerFactory {
 public:
  std::string type() const override { return "metrics-api"; }

  Result<std::unique_ptr<ScalerDefinition>> parse(const ScalerConfig& config) const override {
    const Opt kAuth{.order = {From::kAuthParams}};
    const Opt kAuthOptional{.order = {From::kAuthParams}, .optional = true};
    auto s = std::make_shared<Settings>();
    MetadataReader r(config);

    auto url = r.string("url");
    auto valueLocation = r.string("valueLocation");
    auto targetValue = r.float64("targetValue", {.optional = true});
    auto activation = r.float64("activationTargetValue", {.defaultValue = "0"});
    auto format =
        r.enumValue("format", {"prometheus", "json", "xml", "yaml"}, {.defaultValue = "json"});
    s->unsafeSsl = r.boolean("unsafeSsl", {.defaultValue = "false"}).value_or(false);
    // timeout: Go duration or milliseconds; absent or 0 = the global HTTP timeout.
    auto timeout = r.duration("timeout", {.optional = true});
    s->timeout = timeout && timeout->count() > 0 ? *timeout : config.globalHttpTimeout;
    s->aggregateFromKubeServiceEndpoints =
        r.boolean("aggregateFromKubeServiceEndpoints", {.defaultValue = "false"}).value_or(false);
    s->aggregationType = r.enumValue("aggregationType", {"average", "sum", "max", "min"},
                                     {.defaultValue = "average"})
                             .value_or("average");

    // Authentication: the authModes list (authMode accepted as an alias), then per-mode secrets.
    auto modes =
        r.list("authModes;authMode", {.optional = true,
                                      .allowed = {"apiKey", "basic", "bearer", "tls", "custom"},
                                      .exclusiveSet = {"bearer", "basic"}});
    if (modes) {
      for (const auto& m : *modes) s->authModes.insert(m);
    }
    s->method =
        r.enumValue("method", {"header", "query"}, {.defaultValue = "header"}).value_or("header");
    s->keyParamName = r.string("keyParamName", {.optional = true}).value_or("");
    s->ca = r.string("ca", kAuthOptional).value_or("");
    bool apiKey = s->authModes.count("apiKey") > 0;
    bool basic = s->authModes.count("basic") > 0;
    bool bearer = s->authModes.count("bearer") > 0;
    bool tls = s->authModes.count("tls") > 0;
    bool custom = s->authModes.count("custom") > 0;
    s->apiKey = r.string("apiKey", apiKey ? kAuth : kAuthOptional).value_or("");
    s->username = r.string("username", basic ? kAuth : kAuthOptional).value_or("");
    s->password = r.string("password", kAuthOptional).value_or("");
    s->bearerToken = r.string("token;bearerToken", bearer ? kAuth : kAuthOptional).value_or("");
    s->cert = r.string("cert", tls ? kAuth : kAuthOptional).value_or("");
    s->key = r.string("key", tls ? kAuth : kAuthOptional).value_or("");
    s->customAuthHeader = r.string("customAuthHeader", custom ? kAuth : kAuthOptional).value_or("");
    s->customAuthValue = r.string("customAuthValue", custom ? kAuth : kAuthOptional).value_or("");

    if (url) {
      // http(s)://<host>...; the message shows the URL without credentials or query.
      const std::string redacted = http::HttpClient::redactUrl(*url);
      std::string scheme = redacted.substr(0, redacted.find("://"));
      std::transform(scheme.begin(), scheme.end(), scheme.begin(),
                     [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
      const size_t hostStart = scheme.size() + 3;
      bool ok = (scheme == "http" || scheme == "https") && hostStart < redacted.size() &&
                redacted[hostStart] != '/';
      if (!ok)
        r.addError("url", "\"" + redacted + "\" is not an http:// or https:// URL with a host");
      s->url = *url;
    }
    if (format) {
      s->format = *format == "prometheus" ? Format::kPrometheus
                  : *format == "xml"      ? Format::kXml
                  : *format == "yaml"     ? Format::kYaml
                                          : Format::kJson;
    }
    if (valueLocation && format) {
      auto location = ValueLocation::parse(s->format, *valueLocation);
      if (location.isOk()) {
        s->valueLocation.emplace(std::move(location.value()));
      } else {
        r.addError("valueLocation", location.status().message());
      }
      s->valueLocationText = *valueLocation;
    }
    if (activation) s->activationTargetValue = *activation;
    if (targetValue) s->targetValue = *targetValue;
    // KEDA: a zero or absent targetValue is an error unless the trigger only feeds a formula.
    bool targetInvalid = !targetValue && r.has("targetValue");  // already reported
    if (s->targetValue == 0 && !targetInvalid && !config.asMetricSource) {
      r.addError("no targetValue given in metadata (parameter \"targetValue\" must be non-zero)");
    }
    auto metricType = externalMetricTargetType(config);
    if (!metricType.isOk()) r.addError(metricType.status().message());
    UPDRAFT_RETURN_IF_ERROR(r.finish());

    MetricSpec spec =
        externalMetricSpec(config, "metric-api-" + *valueLocation, *metricType, s->targetValue);
    return std::unique_ptr<ScalerDefinition>(
        std::make_unique<MetricsApiDefinition>(std::move(s), std::move(spec)));
  }
};

UPDRAFT_REGISTER_SCALER(MetricsApiScalerFactory);

}  // namespace
}  // namespace updraft
