// A fake Azure Service Bus namespace: the management REST API (Atom, api-version 2021-05) over
// HTTPS with the test certificate (tests/scalers/testdata/server.pem, valid for 127.0.0.1 and
// localhost), on a free port. It answers like the service:
//   GET /<queue>?api-version=2021-05                          entry with a QueueDescription
//   GET /<topic>/Subscriptions/<sub>?api-version=2021-05      entry with a SubscriptionDescription
//   GET /<topic>?api-version=2021-05                          entry with a TopicDescription
//   GET /$Resources/Queues?$skip=K&$top=N&api-version=...     feed of queues (pages of <= 100)
//   GET /<topic>/Subscriptions?$skip=K&$top=N&api-version=... feed of subscriptions
//   anything that does not exist                              200, empty "Publicly Listed Services"
// Every request must carry `Authorization: SharedAccessSignature sr=..&sig=..&se=..&skn=..`: the
// key name must be known, sig must be the HMAC-SHA256 (with the key's bytes) of the encoded sr +
// "\n" + se,
// se must be in the future by the real clock, and sr must be a prefix of the request's URL as
// lower(QueryEscape(https://<Host><target>)) (tests check that the scaler's sr is the whole URL).
// Otherwise 401 with the service's <Error> body. `Authorization: Bearer <token>` is accepted for
// tokens this server issued itself from its Azure AD token endpoint
//   POST /<tenant>/oauth2/v2.0/token   (client-credentials grant with a client assertion)
// once enableWorkloadIdentity() named the tenant, client id and federated token it accepts.
// The signature check is written here independently of scalers/common/azure_auth.
#pragma once

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "scalers/test_server.h"

namespace updraft::testing {

struct Counts {
  int64_t active = 0;
  int64_t deadLetter = 0;
  int64_t scheduled = 0;
  int64_t transfer = 0;
  int64_t transferDeadLetter = 0;
};

class FakeServiceBus {
 public:
  FakeServiceBus(std::string keyName, std::string key)
      : keyName_(std::move(keyName)),
        key_(std::move(key)),
        server_(std::make_unique<httplib::SSLServer>(testdataPath("server.pem").c_str(),
                                                     testdataPath("server.key").c_str())) {
    server_.server().Get(R"(/.*)", [this](const httplib::Request& req, httplib::Response& res) {
      handle(req, res);
    });
    server_.server().Post(
        R"(/([^/]+)/oauth2/v2\.0/token)",
        [this](const httplib::Request& req, httplib::Response& res) { tokenEndpoint(req, res); });
    server_.start();
  }

  int port() const { return server_.port(); }
  std::string endpoint(const std::string& host = "127.0.0.1") const {
    return "sb://" + host + ":" + std::to_string(port()) + "/";
  }
  std::string connectionString(const std::string& host = "127.0.0.1") const {
    return "Endpoint=" + endpoint(host) + ";SharedAccessKeyName=" + keyName_ +
           ";SharedAccessKey=" + key_;
  }

  void setQueue(const std::string& name, Counts c) {
    std::lock_guard lock(mutex_);
    queues_[name] = c;
  }
  void setSubscription(const std::string& topic, const std::string& sub, Counts c) {
    std::lock_guard lock(mutex_);
    topics_[topic][sub] = c;
  }
  void addTopic(const std::string& topic) {
    std::lock_guard lock(mutex_);
    topics_[topic];
  }
  void enableWorkloadIdentity(std::string tenant, std::string clientId, std::string assertion) {
    std::lock_guard lock(mutex_);
    tenant_ = std::move(tenant);
    clientId_ = std::move(clientId);
    assertion_ = std::move(assertion);
  }
  // The authority host for AZURE_AUTHORITY_HOST.
  std::string authorityHost() const { return "https://127.0.0.1:" + std::to_string(port()) + "/"; }
  int tokenRequests() const {
    std::lock_guard lock(mutex_);
    return tokenRequests_;
  }
  // A misbehaving server: rejects every request with its Authorization header in the error body.
  void setEchoAuthorization(bool on) {
    std::lock_guard lock(mutex_);
    echo_ = on;
  }
  void setDelay(std::chrono::milliseconds d) {
    std::lock_guard lock(mutex_);
    delay_ = d;
  }
  // Request targets as received, e.g. "/orders?api-version=2021-05".
  std::vector<std::string> targets() const {
    std::lock_guard lock(mutex_);
    return targets_;
  }
  std::vector<std::string> authorizations() const {
    std::lock_guard lock(mutex_);
    return authorizations_;
  }
  int unauthorized() const {
    std::lock_guard lock(mutex_);
    return unauthorized_;
  }

  // Base64(HMAC-SHA256(key, data)).
  static std::string sign(const std::string& key, const std::string& data) {
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
         reinterpret_cast<const unsigned char*>(data.data()), data.size(), mac, &len);
    unsigned char out[128];
    int n = EVP_EncodeBlock(out, mac, static_cast<int>(len));
    return std::string(reinterpret_cast<char*>(out), static_cast<size_t>(n));
  }
  // One field of a (percent-decoded) SAS token. sig, se and skn hold no '&'; the decoded sr may
  // (it is a URL with a query), so it spans up to the first of the other three.
  static std::optional<std::string> tokenField(const std::string& token, const std::string& name) {
    const std::string prefix = "SharedAccessSignature ";
    if (token.rfind(prefix, 0) != 0) return std::nullopt;
    const std::string body = "&" + token.substr(prefix.size());
    size_t srEnd = body.size();
    for (const char* other : {"&sig=", "&se=", "&skn="}) {
      srEnd = std::min(srEnd, body.rfind(other));
    }
    if (name == "sr") {
      if (body.rfind("&sr=", 0) != 0 || srEnd == std::string::npos) return std::nullopt;
      return body.substr(4, srEnd - 4);
    }
    size_t p = body.rfind("&" + name + "=");
    if (p == std::string::npos || p < srEnd) return std::nullopt;
    size_t v = p + name.size() + 2;
    size_t e = body.find('&', v);
    return body.substr(v, e == std::string::npos ? e : e - v);
  }

  // Decodes %XX (as cpp-httplib does to header values).
  static std::string percentDecode(const std::string& s) {
    std::string out;
    for (size_t i = 0; i < s.size(); ++i) {
      if (s[i] == '%' && i + 2 < s.size()) {
        out += static_cast<char>(std::stoi(s.substr(i + 1, 2), nullptr, 16));
        i += 2;
      } else {
        out += s[i];
      }
    }
    return out;
  }
  // Encodes like Go's url.QueryEscape (written independently of the scaler's helper).
  static std::string formEncode(const std::string& s) {
    std::string out;
    char buf[4];
    for (unsigned char c : s) {
      if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
        out += static_cast<char>(c);
      } else if (c == ' ') {
        out += '+';
      } else {
        std::snprintf(buf, sizeof(buf), "%%%02X", c);
        out += buf;
      }
    }
    return out;
  }

 private:
  static std::string lower(std::string s) {
    for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
  }
  static std::string now8601() {
    std::time_t t = std::time(nullptr);
    char buf[32];
    std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
    return buf;
  }
  static std::string errorBody(int code, const std::string& detail) {
    return "<Error><Code>" + std::to_string(code) + "</Code><Detail>" + detail +
           " TrackingId:6c1b2f0e-5d37-4f0b-9e3a-2f6f1c1d9a10_G7, SystemTracker:NoSystemTracker, "
           "Timestamp:" +
           now8601() + "</Detail></Error>";
  }
  void reject(httplib::Response& res, int code, const std::string& detail) {
    ++unauthorized_;
    res.status = code;
    res.set_content(errorBody(code, detail), "application/xml; charset=utf-8");
  }

  // Checks the SAS token; returns false (with the response filled in) when it is not valid.
  bool authorize(const httplib::Request& req, httplib::Response& res) {
    const std::string auth = req.get_header_value("Authorization");
    authorizations_.push_back(auth);
    if (echo_) {
      reject(res, 401, "MalformedToken: cannot use '" + auth + "'.");
      return false;
    }
    if (auth.rfind("Bearer ", 0) == 0) {
      if (issued_.count(auth.substr(7))) return true;
      reject(res, 401, "InvalidIssuer: Token issuer is invalid.");
      return false;
    }
    const std::string prefix = "SharedAccessSignature ";
    if (auth.rfind(prefix, 0) != 0) {
      reject(res, 401,
             "MalformedToken: The credentials contained in the authorization header are not in "
             "the WRAP format.");
      return false;
    }
    std::map<std::string, std::string> fields;
    for (const char* name : {"sr", "sig", "se", "skn"}) {
      if (auto v = tokenField(auth, name)) fields[name] = *v;
    }
    if (!fields.count("sr") || !fields.count("sig") || !fields.count("se") ||
        !fields.count("skn")) {
      reject(res, 401, "MalformedToken: The token is missing a required field.");
      return false;
    }
    if (fields["skn"] != keyName_) {
      reject(res, 401, "InvalidSignature: The token has an invalid signature.");
      return false;
    }
    // cpp-httplib 0.11 hands header values over percent-decoded, so the audience is re-encoded
    // the one way a client may encode it (lower(QueryEscape(url))) before checking the HMAC.
    const std::string srEncoded = lower(formEncode(fields["sr"]));
    if (fields["sig"] != sign(key_, srEncoded + "\n" + fields["se"])) {
      reject(res, 401, "InvalidSignature: The token has an invalid signature.");
      return false;
    }
    long long se = std::stoll(fields["se"]);
    long long now = std::chrono::duration_cast<std::chrono::seconds>(
                        std::chrono::system_clock::now().time_since_epoch())
                        .count();
    if (se <= now) {
      std::time_t t = static_cast<std::time_t>(se);
      char buf[32];
      std::strftime(buf, sizeof(buf), "%m/%d/%Y %H:%M:%S", std::gmtime(&t));
      reject(res, 401,
             std::string("ExpiredToken: The token is expired. Expiration time: '") + buf + "'");
      return false;
    }
    // As the service: the token's audience must be a prefix of the request's URL.
    const std::string url = "https://" + req.get_header_value("Host") + req.target;
    if (lower(formEncode(url)).rfind(srEncoded, 0) != 0) {
      reject(res, 401,
             "InvalidAudience: The token audience " + fields["sr"] +
                 " does not match the request URL " + url + ".");
      return false;
    }
    return true;
  }

  std::string selfUrl(const httplib::Request& req, const std::string& path) const {
    return "https://" + req.get_header_value("Host") + path + "?api-version=2021-05";
  }

  static std::string countDetails(const Counts& c) {
    return "<CountDetails xmlns:d2p1=\"http://schemas.microsoft.com/netservices/2011/06/"
           "servicebus\"><d2p1:ActiveMessageCount>" +
           std::to_string(c.active) + "</d2p1:ActiveMessageCount><d2p1:DeadLetterMessageCount>" +
           std::to_string(c.deadLetter) +
           "</d2p1:DeadLetterMessageCount><d2p1:ScheduledMessageCount>" +
           std::to_string(c.scheduled) +
           "</d2p1:ScheduledMessageCount><d2p1:TransferMessageCount>" + std::to_string(c.transfer) +
           "</d2p1:TransferMessageCount><d2p1:TransferDeadLetterMessageCount>" +
           std::to_string(c.transferDeadLetter) +
           "</d2p1:TransferDeadLetterMessageCount></CountDetails>";
  }
  static int64_t total(const Counts& c) {
    return c.active + c.deadLetter + c.scheduled + c.transfer + c.transferDeadLetter;
  }

  static std::string queueDescription(const Counts& c) {
    return "<QueueDescription xmlns=\"http://schemas.microsoft.com/netservices/2010/10/servicebus/"
           "connect\" xmlns:i=\"http://www.w3.org/2001/XMLSchema-instance\">"
           "<LockDuration>PT1M</LockDuration><MaxSizeInMegabytes>1024</MaxSizeInMegabytes>"
           "<RequiresDuplicateDetection>false</RequiresDuplicateDetection>"
           "<RequiresSession>false</RequiresSession>"
           "<DefaultMessageTimeToLive>P14D</DefaultMessageTimeToLive>"
           "<DeadLetteringOnMessageExpiration>false</DeadLetteringOnMessageExpiration>"
           "<DuplicateDetectionHistoryTimeWindow>PT10M</DuplicateDetectionHistoryTimeWindow>"
           "<MaxDeliveryCount>10</MaxDeliveryCount>"
           "<EnableBatchedOperations>true</EnableBatchedOperations>"
           "<SizeInBytes>" +
           std::to_string(total(c) * 512) + "</SizeInBytes><MessageCount>" +
           std::to_string(total(c)) +
           "</MessageCount><IsAnonymousAccessible>false</IsAnonymousAccessible>"
           "<AuthorizationRules/><Status>Active</Status>"
           "<CreatedAt>2026-02-03T19:34:05.4983039Z</CreatedAt>"
           "<UpdatedAt>2026-04-12T01:28:26.7163324Z</UpdatedAt>"
           "<AccessedAt>2026-11-20T20:37:28.447Z</AccessedAt>"
           "<SupportOrdering>true</SupportOrdering>" +
           countDetails(c) +
           "<AutoDeleteOnIdle>P10675199DT2H48M5.4775807S</AutoDeleteOnIdle>"
           "<EnablePartitioning>false</EnablePartitioning>"
           "<EntityAvailabilityStatus>Available</EntityAvailabilityStatus>"
           "<EnableExpress>false</EnableExpress></QueueDescription>";
  }
  static std::string subscriptionDescription(const Counts& c) {
    return "<SubscriptionDescription xmlns=\"http://schemas.microsoft.com/netservices/2010/10/"
           "servicebus/connect\" xmlns:i=\"http://www.w3.org/2001/XMLSchema-instance\">"
           "<LockDuration>PT1M</LockDuration><RequiresSession>false</RequiresSession>"
           "<DefaultMessageTimeToLive>P14D</DefaultMessageTimeToLive>"
           "<DeadLetteringOnMessageExpiration>false</DeadLetteringOnMessageExpiration>"
           "<DeadLetteringOnFilterEvaluationExceptions>true"
           "</DeadLetteringOnFilterEvaluationExceptions><MessageCount>" +
           std::to_string(total(c)) +
           "</MessageCount><MaxDeliveryCount>10</MaxDeliveryCount>"
           "<EnableBatchedOperations>true</EnableBatchedOperations><Status>Active</Status>"
           "<CreatedAt>2026-02-03T19:34:05.4983039Z</CreatedAt>"
           "<UpdatedAt>2026-04-12T01:28:26.7163324Z</UpdatedAt>"
           "<AccessedAt>2026-11-20T20:37:28.447Z</AccessedAt>" +
           countDetails(c) +
           "<AutoDeleteOnIdle>P10675199DT2H48M5.4775807S</AutoDeleteOnIdle>"
           "<EntityAvailabilityStatus>Available</EntityAvailabilityStatus>"
           "</SubscriptionDescription>";
  }
  static std::string topicDescription() {
    return "<TopicDescription xmlns=\"http://schemas.microsoft.com/netservices/2010/10/servicebus/"
           "connect\" xmlns:i=\"http://www.w3.org/2001/XMLSchema-instance\">"
           "<DefaultMessageTimeToLive>P14D</DefaultMessageTimeToLive>"
           "<MaxSizeInMegabytes>1024</MaxSizeInMegabytes><SizeInBytes>0</SizeInBytes>"
           "<Status>Active</Status><SubscriptionCount>1</SubscriptionCount>"
           "</TopicDescription>";
  }

  // One <entry> (standalone documents carry the Atom namespace on the entry itself).
  std::string entry(const httplib::Request& req, const std::string& path, const std::string& title,
                    const std::string& description, bool standalone) const {
    std::string open = standalone ? "<entry xmlns=\"http://www.w3.org/2005/Atom\">" : "<entry>";
    return open + "<id>" + selfUrl(req, path) + "</id><title type=\"text\">" + title +
           "</title><published>2026-02-03T19:34:05Z</published><updated>2026-04-12T01:28:26Z"
           "</updated><author><name>fakens</name></author><link rel=\"self\" href=\"" +
           selfUrl(req, path) + "\"/><content type=\"application/xml\">" + description +
           "</content></entry>";
  }
  std::string emptyFeed() const {
    return "<feed xmlns=\"http://www.w3.org/2005/Atom\"><title type=\"text\">Publicly Listed "
           "Services</title><subtitle type=\"text\">This is the list of publicly-listed services "
           "currently available.</subtitle><id>uuid:27fcd1e2-3a99-44b1-8f1e-3e92b52f0171;id=30"
           "</id><updated>" +
           now8601() + "</updated><generator>Service Bus 1.1</generator></feed>";
  }
  void xml(httplib::Response& res, const std::string& body) {
    res.status = 200;
    res.set_content("<?xml version=\"1.0\" encoding=\"utf-8\"?>" + body,
                    "application/atom+xml;type=entry;charset=utf-8");
  }

  template <typename Map, typename Describe>
  void listFeed(const httplib::Request& req, httplib::Response& res, const std::string& path,
                const std::string& title, const Map& items, Describe describe) {
    size_t skip = req.has_param("$skip") ? std::stoul(req.get_param_value("$skip")) : 0;
    size_t top = req.has_param("$top") ? std::stoul(req.get_param_value("$top")) : 100;
    top = std::min<size_t>(top, 100);
    std::string body = "<feed xmlns=\"http://www.w3.org/2005/Atom\"><title type=\"text\">" + title +
                       "</title><id>" + selfUrl(req, path) + "</id><updated>" + now8601() +
                       "</updated><link rel=\"self\" href=\"" + selfUrl(req, path) + "\"/>";
    size_t i = 0;
    for (const auto& [name, counts] : items) {
      if (i >= skip && i < skip + top) {
        body += entry(req, path + "/" + name, name, describe(counts), false);
      }
      ++i;
    }
    xml(res, body + "</feed>");
  }

  // application/x-www-form-urlencoded field of a body.
  static std::string formField(const std::string& body, const std::string& name) {
    size_t start = 0;
    while (start <= body.size()) {
      size_t amp = body.find('&', start);
      if (amp == std::string::npos) amp = body.size();
      std::string pair = body.substr(start, amp - start);
      if (pair.rfind(name + "=", 0) == 0) {
        std::string v = pair.substr(name.size() + 1);
        for (char& c : v) c = c == '+' ? ' ' : c;
        return percentDecode(v);
      }
      start = amp + 1;
    }
    return {};
  }

  void tokenEndpoint(const httplib::Request& req, httplib::Response& res) {
    std::lock_guard lock(mutex_);
    ++tokenRequests_;
    targets_.push_back(req.target);
    const std::string& b = req.body;
    auto fail = [&res](int status, const std::string& error, const std::string& description) {
      res.status = status;
      res.set_content("{\"error\":\"" + error + "\",\"error_description\":\"" + description +
                          "\\r\\nTrace ID: 0b7f2a4e-1c2d-4e5f-8a9b-0c1d2e3f4a5b\\r\\nCorrelation "
                          "ID: 5a4f3e2d-1c0b-9a8b-7f6e-5d4c3b2a1f0e\",\"error_codes\":[70021]}",
                      "application/json; charset=utf-8");
    };
    if (tenant_.empty() || req.matches[1] != tenant_) {
      return fail(400, "invalid_request",
                  "AADSTS90002: Tenant '" + std::string(req.matches[1]) + "' not found.");
    }
    if (req.get_header_value("Content-Type") != "application/x-www-form-urlencoded" ||
        formField(b, "grant_type") != "client_credentials" ||
        formField(b, "client_assertion_type") !=
            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" ||
        formField(b, "scope") != "https://servicebus.azure.net//.default") {
      return fail(400, "invalid_request", "AADSTS900144: The request body is not as expected.");
    }
    if (formField(b, "client_id") != clientId_ || formField(b, "client_assertion") != assertion_) {
      return fail(400, "invalid_request",
                  "AADSTS70021: No matching federated identity record found for presented "
                  "assertion.");
    }
    std::string token = "eyJ0eXAiOiJKV1QifQ.fake-access-token-" + std::to_string(tokenRequests_);
    issued_.insert(token);
    res.set_content(
        "{\"token_type\":\"Bearer\",\"expires_in\":3599,\"ext_expires_in\":3599,"
        "\"access_token\":\"" +
            token + "\"}",
        "application/json; charset=utf-8");
  }

  void handle(const httplib::Request& req, httplib::Response& res) {
    std::chrono::milliseconds delay;
    {
      std::lock_guard lock(mutex_);
      targets_.push_back(req.target);
      delay = delay_;
      if (!authorize(req, res)) return;
    }
    if (delay.count() > 0) std::this_thread::sleep_for(delay);
    if (req.get_param_value("api-version") != "2021-05") {
      res.status = 400;
      res.set_content(errorBody(400, "The api-version in the query string is not supported."),
                      "application/xml");
      return;
    }
    std::lock_guard lock(mutex_);
    const std::string& path = req.path;
    std::vector<std::string> parts;
    for (size_t s = 1; s <= path.size();) {
      size_t e = path.find('/', s);
      if (e == std::string::npos) e = path.size();
      parts.push_back(path.substr(s, e - s));
      s = e + 1;
    }
    if (path == "/$Resources/Queues") {
      return listFeed(req, res, "/$Resources/Queues", "Queues", queues_, queueDescription);
    }
    if (parts.size() == 2 && parts[1] == "Subscriptions") {
      auto t = topics_.find(parts[0]);
      if (t == topics_.end()) return xml(res, emptyFeed());
      return listFeed(req, res, "/" + parts[0] + "/Subscriptions", "Subscriptions", t->second,
                      subscriptionDescription);
    }
    if (parts.size() == 3 && parts[1] == "Subscriptions") {
      auto t = topics_.find(parts[0]);
      if (t == topics_.end() || !t->second.count(parts[2])) return xml(res, emptyFeed());
      return xml(res,
                 entry(req, path, parts[2], subscriptionDescription(t->second.at(parts[2])), true));
    }
    if (parts.size() == 1) {
      if (auto q = queues_.find(parts[0]); q != queues_.end()) {
        return xml(res, entry(req, path, parts[0], queueDescription(q->second), true));
      }
      if (topics_.count(parts[0])) {
        return xml(res, entry(req, path, parts[0], topicDescription(), true));
      }
    }
    xml(res, emptyFeed());
  }

  std::string keyName_;
  std::string key_;
  mutable std::mutex mutex_;
  std::map<std::string, Counts> queues_;
  std::map<std::string, std::map<std::string, Counts>> topics_;
  std::chrono::milliseconds delay_{0};
  std::vector<std::string> targets_;
  std::vector<std::string> authorizations_;
  int unauthorized_ = 0;
  bool echo_ = false;
  std::string tenant_;
  std::string clientId_;
  std::string assertion_;
  std::set<std::string> issued_;
  int tokenRequests_ = 0;
  TestServer server_;  // last: stopped (joined) before the state above is destroyed
};

}  // namespace updraft::testing
