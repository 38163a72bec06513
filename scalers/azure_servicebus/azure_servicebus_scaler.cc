// The `azure-servicebus` trigger (keda-scalers.md §2.2): the active message count of a queue or a
// topic subscription (or an aggregate over those whose names match a regex), read from the
// namespace's management REST API (Atom, api-version 2021-05) with a SAS token signed from the
// connection string, or with an Azure AD token (podIdentity azure-workload).
#include <algorithm>
#include <cctype>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "azure_servicebus/servicebus_atom.h"
#include "common/azure_auth.h"
#include "common/azure_workload_identity.h"
#include "common/go_regex.h"
#include "common/http_client.h"
#include "updraft/metadata.h"
#include "updraft/scaler.h"

namespace updraft {
namespace {

constexpr const char* kApiVersion = "2021-05";
constexpr int kPageSize = 100;   // $top of list requests (the service's default page size)
constexpr int kMaxPages = 1000;  // a runaway-paging guard: 100,000 entities
// The Go SDK's scope for Service Bus (sic: double slash), for every cloud.
constexpr const char* kServiceBusScope = "https://servicebus.azure.net//.default";

enum class EntityType { kQueue, kSubscription };

struct Settings {
  EntityType entityType = EntityType::kQueue;
  std::string queueName;
  std::string topicName;
  std::string subscriptionName;
  int64_t targetLength = 5;
  int64_t activationTargetLength = 0;
  std::string connection;  // secret
  std::string namespaceName;
  std::string fullyQualifiedNamespace;  // workload identity only
  std::string activeDirectoryEndpoint;  // workload identity: default authority host
  bool useRegex = false;
  std::optional<GoRegex> entityNameRegex;
  std::string operation = "sum";
  std::string podIdentity;
  Millis timeout{3000};
};

// Go's url.URL.EscapedPath for a path: keeps A-Z a-z 0-9 - _ . ~ $ & + , / : ; = @.
std::string escapePath(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) ||
        std::string_view("-_.~$&+,/:;=@").find(static_cast<char>(c)) != std::string_view::npos) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

std::string percentDecode(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && std::isxdigit(static_cast<unsigned char>(s[i + 1])) &&
        std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
      out += static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

std::string dq(std::string_view s) { return "\"" + std::string(s) + "\""; }

void replaceAll(std::string& s, std::string_view what, std::string_view with) {
  if (what.size() < 4) return;
  size_t pos = 0;
  while ((pos = s.find(what, pos)) != std::string::npos) {
    s.replace(pos, what.size(), with);
    pos += with.size();
  }
}

std::string reasonPhrase(long status) {
  switch (status) {
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 409:
      return "Conflict";
    case 429:
      return "Too Many Requests";
    case 500:
      return "Internal Server Error";
    case 503:
      return "Service Unavailable";
    default:
      return "";
  }
}

class AzureServiceBusScaler final : public Scaler {
 public:
  // With a connection string (SAS) ...
  AzureServiceBusScaler(std::shared_ptr<const Settings> settings, azure::ConnectionString conn,
                        const Clock* clock)
      : settings_(std::move(settings)),
        conn_(std::move(conn)),
        clock_(clock),
        namespace_(conn_.endpoint),
        base_("https://" + namespace_) {}
  // ... or with workload identity (Azure AD bearer tokens) for settings->fullyQualifiedNamespace.
  AzureServiceBusScaler(std::shared_ptr<const Settings> settings,
                        std::unique_ptr<azure::WorkloadIdentityCredential> credential,
                        const Clock* clock)
      : settings_(std::move(settings)),
        credential_(std::move(credential)),
        clock_(clock),
        namespace_(settings_->fullyQualifiedNamespace),
        base_("https://" + namespace_) {}

  Result<MetricsAndActivity> getMetricsAndActivity(const std::string& metricName,
                                                   TimePoint deadline) override {
    auto count = activeCount(deadline);
    if (!count.isOk()) return scrubbed(count.status());
    MetricsAndActivity out;
    out.metrics.push_back(MetricValue{metricName, static_cast<double>(*count)});
    out.isActive = *count > settings_->activationTargetLength;
    return out;
  }

  void close() override { client_.closeIdle(); }

 private:
  Result<int64_t> activeCount(TimePoint deadline) {
    const Settings& s = *settings_;
    if (s.useRegex) return aggregate(deadline);
    if (s.entityType == EntityType::kQueue) {
      auto count = getEntity("/" + escapePath(s.queueName), servicebus::EntityKind::kQueue,
                             deadline, "queue " + dq(s.queueName));
      if (!count.isOk()) return count.status();
      if (!*count) {
        return Status::notFound("azure-servicebus: queue " + s.queueName +
                                " doesn't exist (namespace " + dq(namespace_) + ")");
      }
      return **count;
    }
    auto count = getEntity(
        "/" + escapePath(s.topicName) + "/Subscriptions/" + escapePath(s.subscriptionName),
        servicebus::EntityKind::kSubscription, deadline,
        "subscription " + dq(s.subscriptionName) + " of topic " + dq(s.topicName));
    if (!count.isOk()) return count.status();
    if (!*count) {
      return Status::notFound("azure-servicebus: subscription " + s.subscriptionName +
                              " doesn't exist in topic " + s.topicName + " (namespace " +
                              dq(namespace_) + ")");
    }
    return **count;
  }

  // useRegex: every page of the list, entries whose whole name matches, aggregated.
  Result<int64_t> aggregate(TimePoint deadline) {
    const Settings& s = *settings_;
    const bool queues = s.entityType == EntityType::kQueue;
    const auto kind =
        queues ? servicebus::EntityKind::kQueue : servicebus::EntityKind::kSubscription;
    const std::string listPath = queues ? std::string("/$Resources/Queues")
                                        : "/" + escapePath(s.topicName) + "/Subscriptions";
    const std::string what = queues ? "queues matching " + dq(s.queueName)
                                    : "subscriptions of topic " + dq(s.topicName) + " matching " +
                                          dq(s.subscriptionName);
    std::vector<int64_t> counts;
    int64_t skip = 0;
    for (int page = 0;; ++page) {
      if (page == kMaxPages) {
        return Status::unavailable("azure-servicebus: " + what + " in namespace " + dq(namespace_) +
                                   ": more than " + std::to_string(kMaxPages) +
                                   " pages of entities");
      }
      // Query parameters in Go's url.Values.Encode order (sorted, '$' escaped).
      std::string query = "?";
      if (skip > 0) query += "%24skip=" + std::to_string(skip) + "&";
      query += "%24top=" + std::to_string(kPageSize) + "&api-version=" + kApiVersion;
      auto response = get(listPath + query, deadline, what);
      if (!response.isOk()) return response.status();
      auto entries = servicebus::parseFeed(response->body, kind);
      if (!entries.isOk()) return badDocument(what, listPath, entries.status());
      for (const auto& e : *entries) {
        if (s.entityNameRegex->fullMatch(e.name)) counts.push_back(e.activeMessageCount);
      }
      if (entries->size() < static_cast<size_t>(kPageSize)) break;
      skip += static_cast<int64_t>(entries->size());
    }
    int64_t result = 0;
    for (int64_t v : counts) {
      if (s.operation == "max") {
        result = std::max(result, v);
      } else {
        result += v;
      }
    }
    if (s.operation == "avg" && !counts.empty()) result /= static_cast<int64_t>(counts.size());
    return result;
  }

  Result<std::optional<int64_t>> getEntity(const std::string& path, servicebus::EntityKind kind,
                                           TimePoint deadline, const std::string& what) {
    auto response = get(path + "?api-version=" + kApiVersion, deadline, what, /*notFoundOk=*/true);
    if (!response.isOk()) return response.status();
    if (response->status == 404) return std::optional<int64_t>();
    auto count = servicebus::parseEntry(response->body, kind);
    if (!count.isOk()) return badDocument(what, path, count.status());
    return *count;
  }

  Status badDocument(const std::string& what, const std::string& path, const Status& why) const {
    return Status::unavailable("azure-servicebus: " + what + " in namespace " + dq(namespace_) +
                               ": GET " + base_ + path + ": unexpected response: " + why.message());
  }

  Result<http::Response> get(const std::string& pathAndQuery, TimePoint deadline,
                             const std::string& what, bool notFoundOk = false) {
    const Settings& s = *settings_;
    http::Request req;
    req.url = base_ + pathAndQuery;
    const TimePoint now = clock_->now();
    req.timeout = http::HttpClient::timeoutUntil(deadline, now, s.timeout);
    req.followRedirects = false;
    const std::string where = "azure-servicebus: " + what + " in namespace " + dq(namespace_);
    if (credential_) {
      auto token = credential_->token(deadline, s.timeout);
      if (!token.isOk()) return token.status().withContext(where);
      lastToken_ = "Bearer " + *token;
      req.timeout = http::HttpClient::timeoutUntil(deadline, clock_->now(), s.timeout);
    } else if (conn_.sharedAccessSignature.empty()) {
      lastToken_ =
          azure::sharedAccessSignature(req.url, conn_.keyName, conn_.key, azure::sasExpiry(now));
    } else {
      lastToken_ = conn_.sharedAccessSignature;
    }
    req.headers.emplace_back("Authorization", lastToken_);
    auto response = client_.send(req);
    if (!response.isOk()) return response.status().withContext(where);
    long status = response->status;
    if (status >= 200 && status < 300) return response;
    if (status == 404 && notFoundOk) return response;
    std::string msg =
        where + ": GET " + http::HttpClient::redactUrl(req.url) + ": " + std::to_string(status);
    if (std::string reason = reasonPhrase(status); !reason.empty()) msg += " " + reason;
    if (std::string detail = servicebus::errorDetail(response->body); !detail.empty()) {
      msg += ": " + detail;
    }
    if (credential_) {
      if (status == 401) msg += " (the Azure AD token of the workload identity was not accepted)";
      if (status == 403) {
        msg +=
            " (the workload identity needs the Azure Service Bus Data Owner role on the "
            "namespace to read entity counts)";
      }
    } else if (status == 401) {
      msg += conn_.sharedAccessSignature.empty()
                 ? " (check SharedAccessKeyName and SharedAccessKey in the connection string, and "
                   "that the clock is right)"
                 : " (the connection string's SharedAccessSignature is not valid or has expired)";
    } else if (status == 403) {
      msg += " (the shared access policy needs the Manage claim to read entity counts)";
    }
    return Status::unavailable(msg);
  }

  // Removes every credential from a message (defence in depth: a server could echo one, as sent
  // or percent-decoded).
  Status scrubbed(const Status& s) const {
    std::vector<std::string> secrets = {settings_->connection, lastToken_,
                                        conn_.sharedAccessSignature, conn_.key};
    if (size_t sig = lastToken_.find("sig="); sig != std::string::npos) {
      size_t end = lastToken_.find('&', sig);
      secrets.push_back(lastToken_.substr(sig + 4, end == std::string::npos ? end : end - sig - 4));
    }
    if (lastToken_.rfind("Bearer ", 0) == 0) secrets.push_back(lastToken_.substr(7));
    for (size_t i = 0, n = secrets.size(); i < n; ++i) secrets.push_back(percentDecode(secrets[i]));
    std::sort(secrets.begin(), secrets.end(),
              [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
    std::string msg = s.message();
    for (const auto& secret : secrets) replaceAll(msg, secret, "***");
    if (msg == s.message()) return s;
    switch (s.code()) {
      case StatusCode::kTimeout:
        return Status::timeout(msg);
      case StatusCode::kNotFound:
        return Status::notFound(msg);
      case StatusCode::kInvalidArgument:
        return Status::invalidArgument(msg);
      case StatusCode::kFailedPrecondition:
        return Status::failedPrecondition(msg);
      default:
        return Status::unavailable(msg);
    }
  }

  std::shared_ptr<const Settings> settings_;
  azure::ConnectionString conn_;
  std::unique_ptr<azure::WorkloadIdentityCredential> credential_;
  const Clock* clock_;
  const std::string namespace_;  // host[:port] of the namespace, for messages
  const std::string base_;
  std::string lastToken_;
  http::HttpClient client_;
};

class AzureServiceBusDefinition final : public ScalerDefinition {
 public:
  AzureServiceBusDefinition(std::shared_ptr<const Settings> settings, MetricSpec spec)
      : settings_(std::move(settings)), spec_(std::move(spec)) {}

  std::vector<MetricSpec> metricSpecs() const override { return {spec_}; }
  double activationThreshold() const override {
    return static_cast<double>(settings_->activationTargetLength);
  }

  Result<std::unique_ptr<Scaler>> createScaler(const ScalerContext& context) const override {
    const Settings& s = *settings_;
    const Clock* clock = context.clock ? context.clock : &SystemClock::instance();
    if (s.podIdentity == "azure-workload") {
      auto identity = azure::workloadIdentityFromEnv(s.activeDirectoryEndpoint);
      if (!identity.isOk()) {
        return identity.status().withContext(
            "azure-servicebus: podIdentity azure-workload (namespace " +
            dq(s.fullyQualifiedNamespace) + ")");
      }
      auto credential = std::make_unique<azure::WorkloadIdentityCredential>(
          std::move(identity.value()), kServiceBusScope, clock);
      return std::unique_ptr<Scaler>(
          std::make_unique<AzureServiceBusScaler>(settings_, std::move(credential), clock));
    }
    auto conn = azure::parseConnectionString(s.connection);
    if (!conn.isOk()) {
      return Status::invalidArgument("azure-servicebus: the connection string is not valid: " +
                                     conn.status().message());
    }
    return std::unique_ptr<Scaler>(
        std::make_unique<AzureServiceBusScaler>(settings_, std::move(conn.value()), clock));
  }

 private:
  std::shared_ptr<const Settings> settings_;
  MetricSpec spec_;
};

// KEDA's azureServiceBusMetadata.Validate(): the first problem only.
std::optional<std::string> validate(Settings& s) {
  s.entityType = EntityType::kQueue;
  bool none = true;
  auto compile = [&s](const std::string& field,
                      const std::string& pattern) -> std::optional<std::string> {
    auto re = GoRegex::compile(pattern);
    if (re.isOk()) {
      s.entityNameRegex.emplace(std::move(re.value()));
      return std::nullopt;
    }
    if (re.status().code() == StatusCode::kInvalidArgument) {
      return field + " is not a valid regular expression (" + re.status().message() + ")";
    }
    return field + " is a regular expression updraft cannot evaluate: " + re.status().message();
  };
  if (!s.queueName.empty()) {
    none = false;
    if (!s.subscriptionName.empty()) return "subscription name provided with queue name";
    if (s.useRegex) {
      if (auto err = compile("queueName", s.queueName)) return err;
    }
  }
  if (!s.topicName.empty()) {
    if (!none) return "both topic and queue name metadata provided";
    none = false;
    s.entityType = EntityType::kSubscription;
    if (s.subscriptionName.empty()) return "no subscription name provided with topic name";
    if (s.useRegex) {
      if (auto err = compile("subscriptionName", s.subscriptionName)) return err;
    }
  }
  if (none) return "no service bus entity type set";
  return std::nullopt;
}

class AzureServiceBusScalerFactory final : public ScalerFactory {
 public:
  std::string type() const override { return "azure-servicebus"; }

  Result<std::unique_ptr<ScalerDefinition>> parse(const ScalerConfig& config) const override {
    auto metricType = externalMetricTargetType(config);
    if (!metricType.isOk()) {
      return Status::invalidArgument("error getting scaler metric type: " +
                                     metricType.status().message());
    }
    auto s = std::make_shared<Settings>();
    MetadataReader r(config);
    auto target = r.int64("messageCount", {.defaultValue = "5"});
    auto activation = r.int64("activationMessageCount", {.optional = true});
    s->queueName = r.string("queueName", {.optional = true}).value_or("");
    s->topicName = r.string("topicName", {.optional = true}).value_or("");
    s->subscriptionName = r.string("subscriptionName", {.optional = true}).value_or("");
    s->connection = r.string("connection", {.order = {From::kAuthParams, From::kResolvedEnv},
                                            .optional = true,
                                            .sensitive = true})
                        .value_or("");
    s->namespaceName = r.string("namespace", {.optional = true}).value_or("");
    s->useRegex = r.boolean("useRegex", {.defaultValue = "false"}).value_or(false);
    s->operation =
        r.enumValue("operation", {"sum", "max", "avg"}, {.defaultValue = "sum"}).value_or("sum");
    // Read raw by KEDA (azure.ParseEnvironmentProperty), only with workload identity.
    (void)r.string("cloud", {.optional = true});
    (void)r.string("endpointSuffix", {.optional = true});
    if (target) s->targetLength = *target;
    if (activation) s->activationTargetLength = *activation;
    if (auto err = validate(*s)) r.addError(*err);
    UPDRAFT_RETURN_IF_ERROR(r.finish());

    s->podIdentity = config.podIdentityProvider;
    s->timeout = config.globalHttpTimeout;
    if (s->podIdentity.empty() || s->podIdentity == "none") {
      if (s->connection.empty() && !config.secretsUnresolved) {
        return Status::invalidArgument("no connection setting given");
      }
    } else if (s->podIdentity == "azure-workload") {
      if (s->namespaceName.empty()) {
        return Status::invalidArgument("namespace are required when using pod identity");
      }
      auto suffix = endpointSuffix(config.triggerMetadata);
      if (!suffix.isOk()) return suffix.status();
      s->fullyQualifiedNamespace = s->namespaceName + "." + *suffix;
      auto cloudIt = config.triggerMetadata.find("cloud");
      auto cloud =
          azure::cloudFromName(cloudIt == config.triggerMetadata.end() ? "" : cloudIt->second);
      s->activeDirectoryEndpoint = (cloud ? *cloud : azure::publicCloud()).activeDirectoryEndpoint;
    } else {
      return Status::invalidArgument("azure service bus doesn't support pod identity " +
                                     s->podIdentity);
    }

    std::string name = s->entityType == EntityType::kQueue ? s->queueName : s->topicName;
    if (s->useRegex) name = s->entityType == EntityType::kQueue ? "queue-regex" : "topic-regex";
    MetricSpec spec = externalMetricSpec(config, "azure-servicebus-" + name, *metricType,
                                         static_cast<double>(s->targetLength));
    return std::unique_ptr<ScalerDefinition>(
        std::make_unique<AzureServiceBusDefinition>(std::move(s), std::move(spec)));
  }

 private:
  // KEDA's azure.ParseEnvironmentProperty(metadata, "endpointSuffix", ServiceBusEndpointSuffix):
  // raw (untrimmed) values; `cloud` case-insensitive; Private needs endpointSuffix.
  static Result<std::string> endpointSuffix(const StringMap& metadata) {
    auto get = [&metadata](const char* key) -> std::string {
      auto it = metadata.find(key);
      return it == metadata.end() ? std::string() : it->second;
    };
    std::string cloud = get("cloud");
    if (cloud.empty()) return azure::publicCloud().serviceBusEndpointSuffix;
    std::string lowerCloud = cloud;
    std::transform(lowerCloud.begin(), lowerCloud.end(), lowerCloud.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (lowerCloud == "private") {
      std::string suffix = get("endpointSuffix");
      if (suffix.empty()) {
        return Status::invalidArgument("endpointSuffix must be provided for Private cloud type");
      }
      return suffix;
    }
    auto env = azure::cloudFromName(cloud);
    if (!env) return Status::invalidArgument("invalid cloud environment " + cloud);
    return env->serviceBusEndpointSuffix;
  }
};

UPDRAFT_REGISTER_SCALER(AzureServiceBusScalerFactory);

}  // namespace
}  // namespace updraft
