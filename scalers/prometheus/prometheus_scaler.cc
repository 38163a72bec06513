// The `prometheus` trigger (keda-scalers.md §2.3): one PromQL instant query per poll.
//
// Parameters (all from triggerMetadata unless noted), as KEDA's prometheusMetadata:
//   serverAddress, query, threshold (float)           required
//   activationThreshold (float, 0), namespace, queryParameters / customHeaders ("k=v,k2=v2")
//   ignoreNullValues (bool, true), unsafeSsl (bool, false)
//   timeout (Go duration or integer ms; absent or 0 = the global HTTP timeout)
//   awsRegion (triggerMetadata, then authParams), identityOwner
//   authModes / authMode (triggerMetadata, then authParams): apiKey, basic, tls, bearer, custom,
//     oauth; at most one of bearer, basic, oauth. Secrets come from authParams only:
//     bearer: bearerToken (alias token); basic: username (password may be empty); tls: cert, key
//     (ca optional); custom: customAuthHeader, customAuthValue; oauth: oauthTokenURI, clientID
//     (clientSecret, scopes/scope, endpointParams optional); apiKey: apiKey, method, keyParamName.
//   cortexOrgID was removed (an error naming customHeaders); metricName is ignored.
//
// How KEDA applies auth, reproduced here:
//   - Request headers are the customHeaders, then ONE of (first that is enabled): bearer
//     ("Authorization: Bearer <token>"), basic, custom (<customAuthHeader>: <customAuthValue>),
//     each replacing a custom header of the same name. So "bearer,custom" sends only the bearer
//     token, as in KEDA.
//   - apiKey is accepted and validated but not sent (KEDA's prometheus scaler does not apply it).
//   - oauth: KEDA validates it but never sends a token; Updraft fetches a client-credentials token
//     (oauth_client_credentials.h) and sends "Authorization: Bearer <token>" (a custom auth header
//     named Authorization still wins, as a later Header.Set would).
//   - When an auth mode is set and a CA or the tls mode is given, KEDA switches to a TLS transport
//     built with unsafeSsl forced to false: with a CA or client certificate the server certificate
//     is always verified, whatever unsafeSsl says. The client certificate is sent whenever cert and
//     key are both present in that case (even without the tls mode), and a CA that holds no PEM
//     certificate is ignored (Go's AppendCertsFromPEM result is not checked). KEDA adds the CA to
//     the system pool; libcurl replaces its CA bundle with the CA but (Debian's build) keeps the
//     system CA directory, so public servers still verify. Without an auth mode, ca/cert/key are
//     not used at all. A cert/key pair that is not PEM or does not match fails createScaler (KEDA:
//     "error creating the TLS config").
//   - Without an auth mode KEDA tries Azure Managed Prometheus (podIdentity azure-workload), GCP
//     (podIdentity gcp or GoogleApplicationCredentials / credentialsFromEnv /
//     credentialsFromEnvFile) and AWS SigV4 (awsRegion). Those are parsed here, and createScaler
//     fails with a clear "not available yet". An auth mode together with a pod identity is a parse
//     error, as in KEDA. With an auth mode, awsRegion is ignored (KEDA does not try SigV4 then).
//
// Not reproduced: KEDA's keda_scaler_empty_upstream_responses_total counter (the Scaler interface
// has no metrics sink); Go's panic on a non-string sample value (an error here).
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "common/http_client.h"
#include "prometheus/oauth_client_credentials.h"
#include "prometheus/prometheus_query.h"
#include "updraft/metadata.h"
#include "updraft/scaler.h"

namespace updraft {
namespace {

using Headers = std::vector<std::pair<std::string, std::string>>;

bool equalsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

void removeHeader(Headers& headers, std::string_view name) {
  headers.erase(std::remove_if(headers.begin(), headers.end(),
                               [&](const auto& h) { return equalsIgnoreCase(h.first, name); }),
                headers.end());
}

// Go's Header.Set: replaces every header of that name (case-insensitive). Returns its index.
size_t setHeader(Headers& headers, const std::string& name, const std::string& value) {
  removeHeader(headers, name);
  headers.emplace_back(name, value);
  return headers.size() - 1;
}

// GetMetricTargetMili: the target is the quantity "%.3f" of the threshold.
double milliRounded(double v) {
  if (!std::isfinite(v)) return 0;
  char buf[512];
  std::snprintf(buf, sizeof buf, "%.3f", v);
  return std::strtod(buf, nullptr);
}

int noPassphrase(char*, int, int, void*) { return 0; }

// tls.X509KeyPair's checks: a PEM certificate and a PEM private key that belong together.
bool validKeyPair(const std::string& certPem, const std::string& keyPem) {
  std::unique_ptr<BIO, decltype(&BIO_free)> certBio(
      BIO_new_mem_buf(certPem.data(), static_cast<int>(certPem.size())), &BIO_free);
  std::unique_ptr<BIO, decltype(&BIO_free)> keyBio(
      BIO_new_mem_buf(keyPem.data(), static_cast<int>(keyPem.size())), &BIO_free);
  if (!certBio || !keyBio) return false;
  std::unique_ptr<X509, decltype(&X509_free)> cert(
      PEM_read_bio_X509(certBio.get(), nullptr, &noPassphrase, nullptr), &X509_free);
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(
      PEM_read_bio_PrivateKey(keyBio.get(), nullptr, &noPassphrase, nullptr), &EVP_PKEY_free);
  const bool ok = cert && key && X509_check_private_key(cert.get(), key.get()) == 1;
  ERR_clear_error();
  return ok;
}

bool holdsPemCertificate(const std::string& pem) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(
      BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), &BIO_free);
  if (!bio) return false;
  std::unique_ptr<X509, decltype(&X509_free)> cert(
      PEM_read_bio_X509(bio.get(), nullptr, &noPassphrase, nullptr), &X509_free);
  ERR_clear_error();
  return cert != nullptr;
}

std::string quoteText(std::string_view s, size_t max = 200) {
  std::string out = "\"";
  for (size_t i = 0; i < s.size() && i < max; ++i) {
    if (s[i] == '"' || s[i] == '\\') out += '\\';
    out += s[i] == '\n' ? ' ' : s[i];
  }
  out += s.size() > max ? "...\"" : "\"";
  return out;
}

struct Settings {
  std::string serverAddress;
  std::string query;
  StringMap queryParameters;
  double threshold = 0;
  double activationThreshold = 0;
  std::string namespaceName;
  StringMap customHeaders;
  bool ignoreNullValues = true;
  bool unsafeSsl = false;
  Millis timeout{3000};
  std::string awsRegion;
  std::string identityOwner;

  std::set<std::string> authModes;
  std::string bearerToken;
  std::string username;
  std::string password;
  std::string cert;
  std::string key;
  std::string ca;
  oauth::ClientCredentialsConfig oauth;
  std::string customAuthHeader;
  std::string customAuthValue;
  std::string apiKey;

  // Identity paths (used only without an auth mode).
  std::string podIdentityProvider;
  bool gcpCredentials = false;

  bool mode(const char* m) const { return authModes.count(m) > 0; }
  bool authEnabled() const { return !authModes.empty(); }
  // Every secret value, for scrubbing messages (defence in depth).
  std::vector<std::string> secrets() const {
    return {bearerToken, password, key, oauth.clientSecret, apiKey, customAuthValue};
  }
};

void replaceAll(std::string& s, std::string_view what, std::string_view with) {
  size_t pos = 0;
  while ((pos = s.find(what, pos)) != std::string::npos) {
    s.replace(pos, what.size(), with);
    pos += with.size();
  }
}

class PrometheusScaler final : public Scaler {
 public:
  PrometheusScaler(std::shared_ptr<const Settings> settings, const Clock* clock)
      : settings_(std::move(settings)),
        clock_(clock),
        url_(prometheus::buildQueryUrl(settings_->serverAddress, settings_->query,
                                       settings_->namespaceName, settings_->queryParameters)),
        where_("prometheus " + http::HttpClient::redactUrl(settings_->serverAddress) + " query " +
               quoteText(settings_->query)),
        clientPrefix_("GET " + http::HttpClient::redactUrl(url_.prefix) + ": ") {
    const Settings& s = *settings_;
    for (const auto& [name, value] : s.customHeaders) {
      // Go's client ignores these in Request.Header (it writes its own).
      if (equalsIgnoreCase(name, "Host") || equalsIgnoreCase(name, "Content-Length") ||
          equalsIgnoreCase(name, "Transfer-Encoding") || equalsIgnoreCase(name, "Trailer")) {
        continue;
      }
      request_.headers.emplace_back(name, value);
    }
    if (s.mode("oauth")) {
      // bearer and basic exclude oauth; only a custom auth header can come after it.
      oauth_.emplace(s.oauth);
      oauthHeader_ = setHeader(request_.headers, "Authorization", "");  // set on every poll
    }
    if (s.mode("bearer")) {
      setHeader(request_.headers, "Authorization", "Bearer " + s.bearerToken);
    } else if (s.mode("basic")) {
      removeHeader(request_.headers, "Authorization");
      request_.basicAuth = http::BasicAuth{s.username, s.password};
    } else if (s.mode("custom")) {
      if (oauthHeader_ && equalsIgnoreCase(s.customAuthHeader, "Authorization")) {
        oauthHeader_.reset();  // the custom header replaces the token
      }
      removeHeader(request_.headers, s.customAuthHeader);
      request_.headers.emplace_back(s.customAuthHeader, s.customAuthValue);
      if (oauthHeader_) oauthHeader_ = setHeader(request_.headers, "Authorization", "");
    }
    // TLS, with KEDA's transport rules (see the top of this file).
    const bool tlsTransport = s.authEnabled() && (!s.ca.empty() || s.mode("tls"));
    if (tlsTransport) {
      request_.tls.insecureSkipVerify = false;  // KEDA's TLS transport ignores unsafeSsl
      if (!s.ca.empty() && holdsPemCertificate(s.ca)) request_.tls.caPem = s.ca;
      if (!s.cert.empty() && !s.key.empty()) {
        request_.tls.clientCertPem = s.cert;
        request_.tls.clientKeyPem = s.key;
      }
    } else {
      request_.tls.insecureSkipVerify = s.unsafeSsl;
    }
  }

  Result<MetricsAndActivity> getMetricsAndActivity(const std::string& metricName,
                                                   TimePoint deadline) override {
    auto value = execute(deadline);
    if (!value.isOk()) return value.status();
    MetricsAndActivity out;
    out.metrics.push_back(MetricValue{metricName, *value});
    out.isActive = *value > settings_->activationThreshold;
    return out;
  }

  void close() override { client_.closeIdle(); }

 private:
  Status fail(const Status& status) const {
    std::string why = status.message();
    if (why.compare(0, clientPrefix_.size(), clientPrefix_) == 0)
      why.erase(0, clientPrefix_.size());
    std::string message = where_ + ": " + why;
    for (const auto& secret : settings_->secrets()) {
      if (secret.size() >= 4) replaceAll(message, secret, "***");
    }
    if (status.code() == StatusCode::kTimeout) return Status::timeout(std::move(message));
    if (status.code() == StatusCode::kInvalidArgument) {
      return Status::invalidArgument(std::move(message));
    }
    return Status::unavailable(std::move(message));
  }

  Result<double> execute(TimePoint deadline) {
    const Settings& s = *settings_;
    const TimePoint now = clock_->now();
    if (oauth_) {
      auto authorization =
          oauth_->authorization(client_, request_.tls, *clock_, deadline, s.timeout);
      if (!authorization.isOk()) return fail(authorization.status());
      if (oauthHeader_) request_.headers[*oauthHeader_].second = std::move(*authorization);
    }
    request_.url = url_.at(now);
    request_.timeout = http::HttpClient::timeoutUntil(deadline, clock_->now(), s.timeout);
    auto response = client_.send(request_);
    if (!response.isOk()) return fail(response.status());
    const long code = response->status;
    if (code < 200 || code > 299) {
      if (oauth_ && code == 401) oauth_->invalidate();
      std::string why = "prometheus query api returned error. status: " + std::to_string(code);
      why += prometheusError(response->body);
      return fail(Status::unavailable(std::move(why)));
    }
    auto value = prometheus::readQueryResponse(response->body, s.ignoreNullValues);
    if (!value.isOk()) return fail(value.status());
    return *value;
  }

  // Prometheus explains a 4xx/5xx in {"status":"error","errorType":...,"error":...}.
  static std::string prometheusError(const std::string& body) {
    if (body.empty() || body.front() != '{') return {};
    auto doc = nlohmann::json::parse(body, nullptr, false);
    if (!doc.is_object()) return {};
    auto it = doc.find("error");
    if (it == doc.end() || !it->is_string()) return {};
    std::string out = " (";
    if (auto type = doc.find("errorType"); type != doc.end() && type->is_string()) {
      out += type->get<std::string>() + ": ";
    }
    std::string error = it->get<std::string>();
    if (error.size() > 300) error = error.substr(0, 300) + "...";
    return out + error + ")";
  }

  std::shared_ptr<const Settings> settings_;
  const Clock* clock_;
  const prometheus::QueryUrl url_;
  const std::string where_;
  const std::string clientPrefix_;
  http::Request request_;
  std::optional<oauth::ClientCredentialsSource> oauth_;
  std::optional<size_t> oauthHeader_;
  http::HttpClient client_;
};

class PrometheusDefinition final : public ScalerDefinition {
 public:
  PrometheusDefinition(std::shared_ptr<const Settings> settings, MetricSpec spec)
      : settings_(std::move(settings)), spec_(std::move(spec)) {}

  std::vector<MetricSpec> metricSpecs() const override { return {spec_}; }
  double activationThreshold() const override { return settings_->activationThreshold; }

  Result<std::unique_ptr<Scaler>> createScaler(const ScalerContext& context) const override {
    const Settings& s = *settings_;
    if (!s.authEnabled()) {
      std::vector<std::string> unavailable;
      if (s.podIdentityProvider == "azure-workload") {
        unavailable.push_back(
            "Azure Managed Prometheus (podIdentity provider azure-workload) is not available yet");
      }
      if (s.podIdentityProvider == "gcp" || s.gcpCredentials) {
        unavailable.push_back(
            "Google Cloud Managed Prometheus (podIdentity provider gcp, "
            "GoogleApplicationCredentials, credentialsFromEnv or credentialsFromEnvFile) is not "
            "available yet");
      }
      if (!s.awsRegion.empty()) {
        unavailable.push_back(
            "Amazon Managed Service for Prometheus (SigV4 signing, enabled by awsRegion) is not "
            "available yet");
      }
      if (!unavailable.empty()) {
        std::string msg = "prometheus " + http::HttpClient::redactUrl(s.serverAddress) + ": ";
        for (size_t i = 0; i < unavailable.size(); ++i) msg += (i ? "; " : "") + unavailable[i];
        msg +=
            "; use authModes (bearer, basic, tls, custom or oauth) with a TriggerAuthentication "
            "instead";
        return Status::failedPrecondition(std::move(msg));
      }
    } else if ((!s.ca.empty() || s.mode("tls")) && !s.cert.empty() && !s.key.empty() &&
               !validKeyPair(s.cert, s.key)) {
      // KEDA: "error creating the TLS config" from tls.X509KeyPair, when the scaler is built.
      return Status::invalidArgument(
          "prometheus " + http::HttpClient::redactUrl(s.serverAddress) +
          ": error creating the TLS config: authParams cert and key are not a PEM certificate and "
          "its matching PEM private key");
    }
    const Clock* clock = context.clock ? context.clock : &SystemClock::instance();
    return std::unique_ptr<Scaler>(std::make_unique<PrometheusScaler>(settings_, clock));
  }

 private:
  std::shared_ptr<const Settings> settings_;
  MetricSpec spec_;
};

class PrometheusScalerFactory final : public ScalerFactory {
 public:
  std::string type() const override { return "prometheus"; }

  Result<std::unique_ptr<ScalerDefinition>> parse(const ScalerConfig& config) const override {
    const Opt kAuth{.order = {From::kAuthParams}, .optional = true};
    const Opt kAuthSecret{.order = {From::kAuthParams}, .optional = true, .sensitive = true};
    auto s = std::make_shared<Settings>();
    MetadataReader r(config);

    // Removed parameters: cortexOrgID is an error naming its replacement; metricName (still in
    // many objects) is ignored, as KEDA's typed config ignores unknown keys.
    r.deprecated("cortexOrgID",
                 "use customHeaders with X-Scope-OrgID=<org id> instead (for example "
                 "customHeaders: \"X-Scope-OrgID=my-org\")");
    auto serverAddress = r.string("serverAddress");
    auto query = r.string("query");
    auto queryParameters = r.stringMap("queryParameters", {.optional = true});
    auto threshold = r.float64("threshold");
    auto activation = r.float64("activationThreshold", {.optional = true});
    s->namespaceName = r.string("namespace", {.optional = true}).value_or("");
    auto customHeaders = r.stringMap("customHeaders", {.optional = true});
    s->ignoreNullValues = r.boolean("ignoreNullValues", {.defaultValue = "true"}).value_or(true);
    s->unsafeSsl = r.boolean("unsafeSsl", {.optional = true}).value_or(false);
    s->awsRegion = r.string("awsRegion", {.order = {From::kTriggerMetadata, From::kAuthParams},
                                          .optional = true})
                       .value_or("");
    auto timeout = r.duration("timeout", {.optional = true});
    s->timeout = timeout && timeout->count() > 0 ? *timeout : config.globalHttpTimeout;
    s->identityOwner = r.string("identityOwner", {.optional = true}).value_or("");

    // Authentication (KEDA's authentication.Config).
    auto modes = r.list("authModes;authMode",
                        {.order = {From::kTriggerMetadata, From::kAuthParams},
                         .optional = true,
                         .allowed = {"apiKey", "basic", "tls", "bearer", "custom", "oauth"},
                         .exclusiveSet = {"bearer", "basic", "oauth"}});
    if (modes) {
      for (const auto& m : *modes) {
        if (!m.empty()) s->authModes.insert(m);
      }
    }
    s->bearerToken = r.string("bearerToken;token", kAuthSecret).value_or("");
    s->username = r.string("username", kAuth).value_or("");
    s->password = r.string("password", kAuthSecret).value_or("");
    s->cert = r.string("cert", kAuth).value_or("");
    s->key = r.string("key", kAuthSecret).value_or("");
    s->ca = r.string("ca", kAuth).value_or("");
    s->oauth.tokenUri = r.string("oauthTokenURI", kAuth).value_or("");
    s->oauth.scopes = r.list("scopes;scope", kAuth).value_or(std::vector<std::string>{});
    s->oauth.clientId = r.string("clientID", kAuth).value_or("");
    s->oauth.clientSecret = r.string("clientSecret", kAuthSecret).value_or("");
    if (auto params = r.string("endpointParams", kAuthSecret)) {
      auto parsed = oauth::parseQueryString(*params);
      if (parsed.isOk()) {
        s->oauth.endpointParams = std::move(*parsed);
      } else {
        r.addError("endpointParams",
                   "(from authParams) is not a valid query string: " + parsed.status().message());
      }
    }
    s->customAuthHeader = r.string("customAuthHeader", kAuth).value_or("");
    s->customAuthValue = r.string("customAuthValue", kAuthSecret).value_or("");
    const Opt kApiKeyOrder{
        .order = {From::kTriggerMetadata, From::kAuthParams}, .optional = true, .sensitive = true};
    s->apiKey = r.string("apiKey", kApiKeyOrder).value_or("");
    r.enumValue("method", {"header", "query"},
                {.order = {From::kTriggerMetadata, From::kAuthParams}, .defaultValue = "header"});
    r.string("keyParamName",
             {.order = {From::kTriggerMetadata, From::kAuthParams}, .optional = true});

    // Identity paths (KEDA reads these in its Azure/GCP helpers; here only to report them).
    s->podIdentityProvider = config.podIdentityProvider;
    s->gcpCredentials = r.has("GoogleApplicationCredentials", {.order = {From::kAuthParams}}) ||
                        r.has("credentials", {.order = {From::kResolvedEnv}}) ||
                        r.has("credentialsFromEnvFile");
    if (s->podIdentityProvider == "azure-workload") {
      r.string("azureManagedPrometheusResourceURL", {.optional = true});
      r.string("cloud", {.optional = true});
    }

    // KEDA's authentication Config.Validate() (secrets only checked once resolved).
    if (!r.secretsUnresolved()) {
      if (s->mode("bearer") && s->bearerToken.empty()) {
        r.addError("bearer token is required when bearer auth is enabled");
      }
      if (s->mode("basic") && s->username.empty()) {
        r.addError("username is required when basic auth is enabled");
      }
      if (s->mode("tls") && (s->cert.empty() || s->key.empty())) {
        r.addError("cert and key are required when tls auth is enabled");
      }
      if (s->mode("oauth") && (s->oauth.tokenUri.empty() || s->oauth.clientId.empty())) {
        r.addError("oauthTokenURI and clientID are required when oauth is enabled");
      }
      if (s->mode("custom") && (s->customAuthHeader.empty() || s->customAuthValue.empty())) {
        r.addError("customAuthHeader and customAuthValue are required when custom auth is enabled");
      }
      if (s->mode("apiKey") && s->apiKey.empty()) {
        r.addError("apiKey is required when apiKey auth is enabled");
      }
    }
    if (s->mode("oauth") && !s->oauth.tokenUri.empty()) {
      const std::string uri = http::HttpClient::redactUrl(s->oauth.tokenUri);
      if (uri.rfind("http://", 0) != 0 && uri.rfind("https://", 0) != 0) {
        r.addError("oauthTokenURI", "(from authParams) is not an http:// or https:// URL");
      }
    }
    if (s->authEnabled() && !config.podIdentityProvider.empty() &&
        config.podIdentityProvider != "none") {
      r.addError("pod identity cannot be enabled with other auth types");
    }
    auto metricType = externalMetricTargetType(config);
    if (!metricType.isOk()) r.addError(metricType.status().message());
    UPDRAFT_RETURN_IF_ERROR(r.finish());

    s->serverAddress = *serverAddress;
    s->query = *query;
    if (queryParameters) s->queryParameters = std::move(*queryParameters);
    if (customHeaders) s->customHeaders = std::move(*customHeaders);
    s->threshold = *threshold;
    s->activationThreshold = activation.value_or(0);
    MetricSpec spec =
        externalMetricSpec(config, "prometheus", *metricType, milliRounded(*threshold));
    return std::unique_ptr<ScalerDefinition>(
        std::make_unique<PrometheusDefinition>(std::move(s), std::move(spec)));
  }
};

UPDRAFT_REGISTER_SCALER(PrometheusScalerFactory);

}  // namespace
}  // namespace updraft
