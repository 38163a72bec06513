#include "admission.h"

#include <httplib.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <algorithm>

#include "selectors.h"

namespace updraft::kubetest {

namespace {

bool listMatches(const json& list, const std::string& value) {
  if (!list.is_array()) return false;
  for (const auto& v : list) {
    if (v.is_string() && (v == "*" || v == value)) return true;
  }
  return false;
}

bool resourceMatches(const json& resources, const std::string& resource, const std::string& sub) {
  if (!resources.is_array()) return false;
  for (const auto& r : resources) {
    if (!r.is_string()) continue;
    std::string s = r.get<std::string>();
    auto slash = s.find('/');
    if (slash == std::string::npos) {
      if ((s == "*" || s == resource) && sub.empty()) return true;
    } else {
      std::string res = s.substr(0, slash), subres = s.substr(slash + 1);
      if ((res == "*" || res == resource) && (subres == "*" || subres == sub)) return true;
    }
  }
  return false;
}

bool ruleMatches(const json& rule, const AdmissionRequest& req) {
  if (!rule.is_object()) return false;
  if (!listMatches(rule.value("operations", json()), req.operation)) return false;
  if (!listMatches(rule.value("apiGroups", json()), req.rt->group)) return false;
  if (!listMatches(rule.value("apiVersions", json()), req.rt->version)) return false;
  if (!resourceMatches(rule.value("resources", json()), req.rt->resource, req.sub)) return false;
  std::string scope = rule.value("scope", "*");
  if (scope == "Cluster" && req.rt->namespaced) return false;
  if (scope == "Namespaced" && !req.rt->namespaced) return false;
  return true;
}

bool selectorMatches(const json* selector, const json& labels) {
  if (!selector || selector->is_null()) return true;
  return LabelSelector::fromObject(*selector).matches(labels);
}

const json& labelsOf(const json& object) {
  static const json none = json::object();
  const json* l = object.is_object() ? jsonAtPath(object, "metadata.labels") : nullptr;
  return l ? *l : none;
}

// Parses "https://host[:port]/path"; false for anything else.
bool parseUrl(const std::string& url, std::string& host, int& port, std::string& path) {
  const std::string prefix = "https://";
  if (url.rfind(prefix, 0) != 0) return false;
  std::string rest = url.substr(prefix.size());
  auto slash = rest.find('/');
  std::string hostPort = rest.substr(0, slash);
  path = slash == std::string::npos ? "/" : rest.substr(slash);
  port = 443;
  if (!hostPort.empty() && hostPort[0] == '[') {
    auto close = hostPort.find(']');
    if (close == std::string::npos) return false;
    host = hostPort.substr(1, close - 1);
    if (close + 1 < hostPort.size() && hostPort[close + 1] == ':') {
      port = std::atoi(hostPort.c_str() + close + 2);
    }
  } else {
    auto colon = hostPort.rfind(':');
    host = hostPort.substr(0, colon);
    if (colon != std::string::npos) port = std::atoi(hostPort.c_str() + colon + 1);
  }
  return !host.empty() && port > 0 && port < 65536;
}

X509_STORE* storeFromPem(const std::string& pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  if (!bio) return nullptr;
  X509_STORE* store = X509_STORE_new();
  int added = 0;
  while (X509* cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr)) {
    if (X509_STORE_add_cert(store, cert) == 1) ++added;
    X509_free(cert);
  }
  BIO_free(bio);
  if (added == 0) {
    X509_STORE_free(store);
    return nullptr;
  }
  return store;
}

// POSTs the review; returns the response's "response" object or throws std::runtime_error.
json callWebhook(const json& webhook, const json& review, int timeoutSeconds) {
  const json& client = webhook.value("clientConfig", json::object());
  std::string url = client.value("url", "");
  if (url.empty()) {
    throw std::runtime_error(
        "clientConfig.service is not supported by this test server; use clientConfig.url");
  }
  std::string host, path;
  int port;
  if (!parseUrl(url, host, port, path)) throw std::runtime_error("invalid clientConfig.url " + url);
  httplib::SSLClient cli(host, port);
  std::string caBundle = client.value("caBundle", "");
  if (!caBundle.empty()) {
    std::string pem;
    if (!base64Decode(caBundle, pem))
      throw std::runtime_error("clientConfig.caBundle is not base64");
    X509_STORE* store = storeFromPem(pem);
    if (!store) throw std::runtime_error("clientConfig.caBundle holds no PEM certificate");
    cli.set_ca_cert_store(store);  // the client's SSL context takes ownership
  }
  cli.enable_server_certificate_verification(true);
  cli.set_connection_timeout(timeoutSeconds, 0);
  cli.set_read_timeout(timeoutSeconds, 0);
  cli.set_write_timeout(timeoutSeconds, 0);
  auto res = cli.Post(path.c_str(), dumpJson(review), "application/json");
  if (!res) {
    std::string why = httplib::to_string(res.error());
    if (long v = cli.get_openssl_verify_result(); v != X509_V_OK) {
      why += ": x509: " + std::string(X509_verify_cert_error_string(v));
    }
    throw std::runtime_error("Post \"" + url + "\": " + why);
  }
  if (res->status != 200) {
    throw std::runtime_error("Post \"" + url + "\": the server responded with status " +
                             std::to_string(res->status));
  }
  json body = json::parse(res->body, nullptr, false);
  if (!body.is_object() || !body.contains("response") || !body["response"].is_object()) {
    throw std::runtime_error("received invalid webhook response: no response object");
  }
  if (body.value("apiVersion", "") != "admission.k8s.io/v1" ||
      body.value("kind", "") != "AdmissionReview") {
    throw std::runtime_error(
        "received invalid webhook response: expected "
        "admission.k8s.io/v1, Kind=AdmissionReview");
  }
  const json& response = body["response"];
  std::string uid = response.value("uid", "");
  std::string sent = review["request"]["uid"];
  if (uid != sent) {
    throw std::runtime_error("expected response.uid=\"" + sent + "\", got \"" + uid + "\"");
  }
  if (!response.contains("allowed") || !response["allowed"].is_boolean()) {
    throw std::runtime_error("received invalid webhook response: response.allowed is missing");
  }
  return response;
}

}  // namespace

std::vector<std::string> runValidatingWebhooks(const AdmissionRequest& req,
                                               const std::vector<json>& configs,
                                               const json& namespaceLabels) {
  std::vector<std::string> warnings;
  for (const auto& config : configs) {
    const json* hooks = jsonAtPath(config, "webhooks");
    if (!hooks || !hooks->is_array()) continue;
    for (const auto& hook : *hooks) {
      if (!hook.is_object()) continue;
      const json* rules = jsonAtPath(hook, "rules");
      if (!rules || !rules->is_array() ||
          std::none_of(rules->begin(), rules->end(),
                       [&](const json& r) { return ruleMatches(r, req); })) {
        continue;
      }
      std::string name = hook.value("name", "");
      std::string failurePolicy = hook.value("failurePolicy", "Fail");
      try {
        bool nsIsObject = req.rt->group.empty() && req.rt->resource == "namespaces";
        if (req.rt->namespaced || nsIsObject) {
          if (!selectorMatches(jsonAtPath(hook, "namespaceSelector"), namespaceLabels)) continue;
        }
        // A null object (the old one on CREATE, the new one on DELETE) never matches.
        const json* objectSelector = jsonAtPath(hook, "objectSelector");
        bool newMatches =
            req.object.is_object() && selectorMatches(objectSelector, labelsOf(req.object));
        bool oldMatches =
            req.oldObject.is_object() && selectorMatches(objectSelector, labelsOf(req.oldObject));
        if (!newMatches && !oldMatches) continue;
      } catch (const ApiError&) {
        continue;  // an unparsable selector never matches
      }
      const json* versions = jsonAtPath(hook, "admissionReviewVersions");
      const json* t = jsonAtPath(hook, "timeoutSeconds");
      int timeout = t && t->is_number_integer() ? t->get<int>() : 10;
      timeout = std::clamp(timeout, 1, 30);
      json resource = {
          {"group", req.rt->group}, {"version", req.rt->version}, {"resource", req.rt->resource}};
      json kind = {{"group", req.rt->group}, {"version", req.rt->version}, {"kind", req.rt->kind}};
      if (req.sub == "scale")
        kind = {{"group", "autoscaling"}, {"version", "v1"}, {"kind", "Scale"}};
      json groups = req.caller.groups;
      json request = {{"uid", newUid()},
                      {"kind", kind},
                      {"resource", resource},
                      {"subResource", req.sub},
                      {"requestKind", kind},
                      {"requestResource", resource},
                      {"requestSubResource", req.sub},
                      {"name", req.name},
                      {"operation", req.operation},
                      {"userInfo", {{"username", req.caller.user}, {"groups", groups}}},
                      {"object", req.object},
                      {"oldObject", req.oldObject},
                      {"dryRun", req.dryRun},
                      {"options",
                       {{"kind", req.operation == "CREATE"   ? "CreateOptions"
                                 : req.operation == "UPDATE" ? "UpdateOptions"
                                                             : "DeleteOptions"},
                        {"apiVersion", "meta.k8s.io/v1"}}}};
      if (!req.ns.empty()) request["namespace"] = req.ns;
      json review = {
          {"apiVersion", "admission.k8s.io/v1"}, {"kind", "AdmissionReview"}, {"request", request}};
      json response;
      try {
        if (!versions || !listMatches(*versions, "v1")) {
          throw std::runtime_error("webhook does not accept v1 AdmissionReview");
        }
        response = callWebhook(hook, review, timeout);
      } catch (const std::exception& e) {
        if (failurePolicy == "Ignore") continue;
        throw ApiError(500, "InternalError",
                       "Internal error occurred: failed calling webhook \"" + name +
                           "\": failed to call webhook: " + e.what());
      }
      if (const json* w = jsonAtPath(response, "warnings"); w && w->is_array()) {
        for (const auto& s : *w) {
          if (s.is_string()) warnings.push_back(s.get<std::string>());
        }
      }
      if (response["allowed"].get<bool>()) continue;
      json status = response.value("status", json::object());
      if (!status.is_object()) status = json::object();
      int code = status.contains("code") && status["code"].is_number_integer()
                     ? status["code"].get<int>()
                     : 0;
      if (code < 400) code = 400;
      std::string message = status.contains("message") && status["message"].is_string()
                                ? status["message"].get<std::string>()
                                : "";
      std::string reason = status.contains("reason") && status["reason"].is_string()
                               ? status["reason"].get<std::string>()
                               : "";
      std::string deniedBy = "admission webhook \"" + name + "\" denied the request";
      std::string text = !message.empty()  ? deniedBy + ": " + message
                         : !reason.empty() ? deniedBy + ": " + reason
                                           : deniedBy + " without explanation";
      ApiError denied(code, reason, text, status.value("details", json()));
      for (const auto& warning : warnings) {
        denied.headers.push_back({"Warning", "299 - \"" + warning + "\""});
      }
      throw denied;
    }
  }
  return warnings;
}

}  // namespace updraft::kubetest
