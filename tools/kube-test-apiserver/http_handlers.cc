#include "http_handlers.h"

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <random>

namespace updraft::kubetest {

namespace {

constexpr size_t kMaxLoggedRequests = 20000;
constexpr int kMaxJsonDepth = 100;

void sendJson(httplib::Response& res, int code, const json& body) {
  res.status = code;
  res.set_content(dumpJson(body), "application/json");
}

void sendError(httplib::Response& res, const ApiError& e) {
  for (const auto& [k, v] : e.headers) res.set_header(k, v);
  sendJson(res, e.code, statusObject(e));
}

ApiError notFoundPath() {
  return ApiError(
      404, "NotFound", "the server could not find the requested resource",
      {{"causes", {{{"reason", "UnexpectedServerResponse"}, {"message", "404 page not found"}}}}});
}

std::string param(const httplib::Request& req, const char* name) {
  return req.has_param(name) ? req.get_param_value(name) : "";
}

bool truthy(const std::string& v) { return v == "true" || v == "1" || v == "True"; }

std::string stripJsonPrefix(std::string what) {
  if (auto pos = what.find("] "); pos != std::string::npos) what = what.substr(pos + 2);
  return what;
}

struct TooDeep {};

json parseJson(const std::string& body, const char* what) {
  if (body.empty()) throw badRequest(std::string(what) + " is empty");
  try {
    return json::parse(body, [](int depth, json::parse_event_t, json&) {
      if (depth > kMaxJsonDepth) throw TooDeep{};
      return true;
    });
  } catch (const TooDeep&) {
    throw badRequest(std::string(what) + " nests deeper than " + std::to_string(kMaxJsonDepth) +
                     " levels");
  } catch (const json::exception& e) {
    throw badRequest(std::string(what) +
                     " could not be decoded as JSON: " + stripJsonPrefix(e.what()));
  }
}

json parseObjectBody(const httplib::Request& req) {
  std::string type = req.get_header_value("Content-Type");
  std::string base = type.substr(0, type.find(';'));
  if (!base.empty() && base != "application/json" && base != "*/*") {
    throw unsupportedMediaType(
        "the body of the request was in an unknown format - accepted "
        "media types include: application/json");
  }
  return parseJson(req.body, "the body of the request");
}

bool dryRunParam(const httplib::Request& req) {
  if (!req.has_param("dryRun")) return false;
  std::string v = req.get_param_value("dryRun");
  if (v != "All") {
    throw badRequest("dryRun: Unsupported value: \"" + v + "\": supported values: \"All\"");
  }
  return true;
}

ListOptions listOptions(const httplib::Request& req) {
  ListOptions o;
  o.labelSelector = param(req, "labelSelector");
  o.fieldSelector = param(req, "fieldSelector");
  o.resourceVersion = param(req, "resourceVersion");
  o.resourceVersionMatch = param(req, "resourceVersionMatch");
  o.continueToken = param(req, "continue");
  o.sendInitialEvents = truthy(param(req, "sendInitialEvents"));
  o.allowWatchBookmarks = truthy(param(req, "allowWatchBookmarks"));
  if (std::string limit = param(req, "limit"); !limit.empty() && !parseUint(limit, o.limit)) {
    throw badRequest("limit: Invalid value: \"" + limit + "\": must be a non-negative integer");
  }
  return o;
}

DeleteOptions deleteOptions(const httplib::Request& req) {
  DeleteOptions o;
  o.dryRun = dryRunParam(req);
  o.propagationPolicy = param(req, "propagationPolicy");
  if (truthy(param(req, "orphanDependents"))) o.propagationPolicy = "Orphan";
  if (!req.body.empty()) {
    json body = parseJson(req.body, "the DeleteOptions body");
    if (!body.is_object()) throw badRequest("DeleteOptions must be a JSON object");
    if (auto p = body.find("propagationPolicy"); p != body.end() && p->is_string()) {
      o.propagationPolicy = p->get<std::string>();
    }
    if (auto od = body.find("orphanDependents"); od != body.end() && od->is_boolean()) {
      if (od->get<bool>()) o.propagationPolicy = "Orphan";
    }
    if (auto pre = body.find("preconditions"); pre != body.end() && pre->is_object()) {
      if (auto uid = pre->find("uid"); uid != pre->end() && uid->is_string()) {
        o.preconditionUid = uid->get<std::string>();
      }
      if (auto rv = pre->find("resourceVersion"); rv != pre->end() && rv->is_string()) {
        o.preconditionResourceVersion = rv->get<std::string>();
      }
    }
    if (auto dr = body.find("dryRun"); dr != body.end() && dr->is_array() && !dr->empty()) {
      o.dryRun = true;
    }
  }
  return o;
}

void sendWrite(httplib::Response& res, const WriteResult& r) {
  for (const auto& w : r.warnings) res.set_header("Warning", "299 - \"" + w + "\"");
  sendJson(res, r.code, r.body);
}

}  // namespace

HttpFrontend::HttpFrontend(Api& api, Registry& registry, Store& store, WatchHub& hub,
                           FrontendConfig config)
    : api_(api),
      registry_(registry),
      store_(store),
      hub_(hub),
      config_(std::move(config)),
      tokens_(config_.tokens) {}

void HttpFrontend::setServerAddress(std::string address) { serverAddress_ = std::move(address); }

void HttpFrontend::install(httplib::Server& server) {
  auto h = [this](const httplib::Request& req, httplib::Response& res) { handle(req, res); };
  // Bodies are read here rather than by the library, which (for a POST without Content-Length
  // or chunked encoding) would wait for the client to close the connection.
  auto withBody = [this](const httplib::Request& req, httplib::Response& res,
                         const httplib::ContentReader& reader) {
    if (req.has_header("Content-Length") ||
        req.get_header_value("Transfer-Encoding") == "chunked") {
      std::string body;
      bool ok = reader([&](const char* data, size_t n) {
        body.append(data, n);
        return true;
      });
      if (!ok) {
        sendError(res, ApiError(413, "RequestEntityTooLarge", "the request body is too large"));
        return;
      }
      const_cast<httplib::Request&>(req).body = std::move(body);
    }
    handle(req, res);
  };
  server.Get(".*", h);
  server.Post(".*", withBody);
  server.Put(".*", withBody);
  server.Patch(".*", withBody);
  server.Delete(".*", withBody);
  server.Options(".*", h);
  server.set_exception_handler(
      [](const httplib::Request&, httplib::Response& res, std::exception_ptr) {
        sendError(res, ApiError(500, "InternalError", "Internal error occurred"));
      });
}

std::optional<Caller> HttpFrontend::authenticate(const httplib::Request& req) {
  std::string auth = req.get_header_value("Authorization");
  if (auth.rfind("Bearer ", 0) == 0) {
    std::string token = auth.substr(7);
    std::lock_guard lock(mu_);
    for (const auto& t : tokens_) {
      if (!t.empty() && t == token) {
        return Caller{"updraft-test", {"system:masters", "system:authenticated"}};
      }
    }
    return std::nullopt;  // a wrong token is not rescued by a certificate
  }
  if (req.ssl) {
    X509* peer = SSL_get0_peer_certificate(req.ssl);
    if (peer && SSL_get_verify_result(req.ssl) == X509_V_OK) {
      Caller caller;
      X509_NAME* subject = X509_get_subject_name(peer);
      char buf[256];
      if (X509_NAME_get_text_by_NID(subject, NID_commonName, buf, sizeof buf) > 0)
        caller.user = buf;
      if (X509_NAME_get_text_by_NID(subject, NID_organizationName, buf, sizeof buf) > 0) {
        caller.groups.push_back(buf);
      }
      caller.groups.push_back("system:authenticated");
      return caller;
    }
  }
  return std::nullopt;
}

uint64_t HttpFrontend::logRequest(const httplib::Request& req) {
  auto now = std::chrono::system_clock::now().time_since_epoch();
  double t = std::chrono::duration<double>(now).count();
  std::string query;
  if (auto q = req.target.find('?'); q != std::string::npos) query = req.target.substr(q + 1);
  std::lock_guard lock(mu_);
  uint64_t seq = nextSeq_++;
  requests_.push_back({{"seq", seq},
                       {"time", t},
                       {"method", req.method},
                       {"path", req.path},
                       {"query", query},
                       {"contentType", req.get_header_value("Content-Type")},
                       {"userAgent", req.get_header_value("User-Agent")},
                       {"code", 0}});
  while (requests_.size() > kMaxLoggedRequests) requests_.pop_front();
  return seq;
}

void HttpFrontend::logResult(uint64_t seq, int code) {
  std::lock_guard lock(mu_);
  for (auto it = requests_.rbegin(); it != requests_.rend(); ++it) {
    if ((*it)["seq"] == seq) {
      (*it)["code"] = code;
      return;
    }
  }
}

bool HttpFrontend::injectFailure(const httplib::Request& req, httplib::Response& res) {
  ApiError error(0, "", "");
  {
    std::lock_guard lock(mu_);
    Failure& f = failure_;
    if (f.remaining <= 0) return false;
    if (!f.path.empty() && req.path.find(f.path) == std::string::npos) return false;
    if (!f.method.empty() && f.method != req.method) return false;
    --f.remaining;
    std::string message = f.message;
    if (message.empty()) {
      message = f.status == 429 ? "Too many requests, please try again later."
                                : "injected failure (" + std::to_string(f.status) + ")";
    }
    error = ApiError(f.status, "", message);
    if (f.retryAfter >= 0) {
      error.headers.push_back({"Retry-After", std::to_string(f.retryAfter)});
      error.details = {{"retryAfterSeconds", f.retryAfter}};
    }
  }
  sendError(res, error);
  return true;
}

void HttpFrontend::handle(const httplib::Request& req, httplib::Response& res) {
  if (req.path.rfind("/_test/", 0) == 0) {
    try {
      handleTestControl(req, res);
    } catch (const ApiError& e) {
      sendError(res, e);
    }
    return;
  }
  uint64_t seq = logRequest(req);
  try {
    if (!injectFailure(req, res)) {
      if (req.path == "/healthz" || req.path == "/livez" || req.path == "/readyz") {
        res.set_content("ok", "text/plain");
      } else if (req.path == "/version") {
        sendJson(res, 200,
                 {{"major", "1"},
                  {"minor", "30"},
                  {"gitVersion", "v1.30.0-updraft-test"},
                  {"gitCommit", "0000000000000000000000000000000000000000"},
                  {"gitTreeState", "clean"},
                  {"buildDate", "2026-01-01T00:00:00Z"},
                  {"goVersion", "go1.22.0"},
                  {"compiler", "gc"},
                  {"platform", "linux/amd64"}});
      } else if (auto caller = authenticate(req)) {
        handleApi(req, res, *caller);
      } else {
        sendError(res, ApiError(401, "Unauthorized", "Unauthorized"));
      }
    }
  } catch (const ApiError& e) {
    sendError(res, e);
  } catch (const json::exception& e) {
    sendError(res, badRequest(stripJsonPrefix(e.what())));
  } catch (const std::exception& e) {
    sendError(res,
              ApiError(500, "InternalError", std::string("Internal error occurred: ") + e.what()));
  }
  logResult(seq, res.status);
}

void HttpFrontend::handleApi(const httplib::Request& req, httplib::Response& res,
                             const Caller& caller) {
  std::vector<std::string> segs;
  for (size_t start = 1; start <= req.path.size();) {
    size_t slash = req.path.find('/', start);
    if (slash == std::string::npos) slash = req.path.size();
    if (slash > start) segs.push_back(req.path.substr(start, slash - start));
    start = slash + 1;
  }
  bool get = req.method == "GET" || req.method == "HEAD";
  if (segs.empty()) {
    if (!get)
      throw methodNotAllowed("the server does not allow this method on the requested resource");
    sendJson(
        res, 200,
        {{"paths", {"/api", "/api/v1", "/apis", "/healthz", "/livez", "/readyz", "/version"}}});
    return;
  }
  std::string group, version;
  std::vector<std::string> rest;
  if (segs[0] == "api") {
    if (segs.size() == 1) {
      if (!get)
        throw methodNotAllowed("the server does not allow this method on the requested resource");
      std::lock_guard lock(store_.mutex());
      sendJson(res, 200, registry_.coreVersions(serverAddress_));
      return;
    }
    version = segs[1];
    rest.assign(segs.begin() + 2, segs.end());
  } else if (segs[0] == "apis") {
    std::lock_guard lock(store_.mutex());
    if (segs.size() == 1) {
      if (!get)
        throw methodNotAllowed("the server does not allow this method on the requested resource");
      sendJson(res, 200, registry_.groupList());
      return;
    }
    group = segs[1];
    if (segs.size() == 2) {
      auto g = registry_.group(group);
      if (!g) throw notFoundPath();
      if (!get)
        throw methodNotAllowed("the server does not allow this method on the requested resource");
      (*g)["kind"] = "APIGroup";
      (*g)["apiVersion"] = "v1";
      sendJson(res, 200, *g);
      return;
    }
    version = segs[2];
    rest.assign(segs.begin() + 3, segs.end());
  } else {
    throw notFoundPath();
  }
  if (rest.empty()) {
    std::lock_guard lock(store_.mutex());
    if (!registry_.groupVersionServed(group, version)) throw notFoundPath();
    if (!get)
      throw methodNotAllowed("the server does not allow this method on the requested resource");
    sendJson(res, 200, registry_.resourceList(group, version));
    return;
  }
  handleResource(req, res, caller, group, version, std::move(rest));
}

void HttpFrontend::handleResource(const httplib::Request& req, httplib::Response& res,
                                  const Caller& caller, const std::string& group,
                                  const std::string& version, std::vector<std::string> rest) {
  bool legacyWatch = rest[0] == "watch";
  if (legacyWatch) rest.erase(rest.begin());
  if (rest.empty()) throw notFoundPath();
  std::string ns;
  if (rest.size() >= 3 && rest[0] == "namespaces" &&
      !(rest.size() == 3 && (rest[2] == "status" || rest[2] == "finalize"))) {
    ns = rest[1];
    rest.erase(rest.begin(), rest.begin() + 2);
  }
  if (rest.size() > 3) throw notFoundPath();
  std::string resource = rest[0];
  std::string name = rest.size() > 1 ? rest[1] : "";
  std::string sub = rest.size() > 2 ? rest[2] : "";
  ResourceType rt;
  {
    std::lock_guard lock(store_.mutex());
    const ResourceType* found = registry_.find(group, version, resource);
    if (!found) throw notFoundPath();
    rt = *found;
  }
  if (!ns.empty() && !rt.namespaced) throw notFoundPath();
  if (ns.empty() && rt.namespaced && !name.empty()) throw notFoundPath();
  if (!sub.empty() &&
      !((sub == "status" && rt.statusSubresource) || (sub == "scale" && rt.scale))) {
    throw notFoundPath();
  }
  const std::string& m = req.method;
  bool watch = legacyWatch || truthy(param(req, "watch"));
  if (m == "GET" || m == "HEAD") {
    if (watch) {
      if (!sub.empty()) throw methodNotAllowed("watch is not supported on subresources");
      ListOptions options = listOptions(req);
      if (!name.empty()) {
        options.fieldSelector +=
            (options.fieldSelector.empty() ? "" : ",") + std::string("metadata.name=") + name;
      }
      std::string timeout = param(req, "timeoutSeconds");
      uint64_t seconds = 0;
      if (!timeout.empty() && !parseUint(timeout, seconds)) {
        throw badRequest("timeoutSeconds: Invalid value: \"" + timeout + "\"");
      }
      auto watcher = api_.watch(rt, ns, options);
      WatchStreamOptions stream;
      if (timeout.empty()) {
        // As the API server: a random duration in [minRequestTimeout, 2*minRequestTimeout).
        static thread_local std::mt19937 rng{std::random_device{}()};
        uint64_t min = static_cast<uint64_t>(config_.minRequestTimeout.count());
        seconds = min + (min > 0 ? rng() % min : 0);
      }
      stream.deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
      stream.bookmarks = truthy(param(req, "allowWatchBookmarks"));
      stream.bookmarkInterval = config_.bookmarkInterval;
      stream.socketFd = req.ssl ? SSL_get_fd(req.ssl) : -1;
      // Compression would buffer the stream; events must reach the client as they happen.
      const_cast<httplib::Request&>(req).headers.erase("Accept-Encoding");
      streamWatch(res, watcher, hub_, stream);
      return;
    }
    if (name.empty()) {
      sendJson(res, 200, api_.list(rt, ns, listOptions(req)));
    } else {
      sendJson(res, 200, api_.get(rt, ns, name, sub));
    }
    return;
  }
  bool dryRun = dryRunParam(req);
  if (m == "POST") {
    if (!name.empty() || (rt.namespaced && ns.empty())) {
      throw methodNotAllowed(
          "POST is not supported on this path; create objects with a POST to "
          "the (namespaced) collection");
    }
    sendWrite(res, api_.create(rt, ns, parseObjectBody(req), caller, dryRun));
  } else if (m == "PUT") {
    if (name.empty()) throw methodNotAllowed("PUT needs an object name");
    sendWrite(res, api_.update(rt, ns, name, sub, parseObjectBody(req), caller, dryRun));
  } else if (m == "PATCH") {
    if (name.empty()) throw methodNotAllowed("PATCH needs an object name");
    PatchType type = patchTypeFromContentType(req.get_header_value("Content-Type"));
    json body;
    try {
      body = parseJson(req.body, "the patch");
    } catch (const ApiError&) {
      if (type == PatchType::Apply) {
        throw unsupportedMediaType("apply patches must be written as JSON for this test server");
      }
      throw;
    }
    sendWrite(
        res, api_.patch(rt, ns, name, sub, type, body, param(req, "fieldManager"), caller, dryRun));
  } else if (m == "DELETE") {
    if (!sub.empty()) throw methodNotAllowed("DELETE is not supported on subresources");
    if (name.empty()) {
      sendWrite(res, api_.removeCollection(rt, ns, listOptions(req), deleteOptions(req), caller));
    } else {
      sendWrite(res, api_.remove(rt, ns, name, deleteOptions(req), caller));
    }
  } else {
    throw methodNotAllowed("the server does not allow this method on the requested resource");
  }
}

void HttpFrontend::handleTestControl(const httplib::Request& req, httplib::Response& res) {
  const std::string& p = req.path;
  const std::string& m = req.method;
  if (p == "/_test/compact" && m == "POST") {
    std::lock_guard lock(store_.mutex());
    store_.compact();
    sendJson(res, 200, {{"compactedResourceVersion", std::to_string(store_.oldestResumableRV())}});
  } else if (p == "/_test/close-watches" && m == "POST") {
    size_t n = hub_.size();
    hub_.closeAll(!truthy(param(req, "graceful")));
    sendJson(res, 200, {{"closed", n}});
  } else if (p == "/_test/watches" && m == "GET") {
    sendJson(res, 200, {{"open", hub_.size()}});
  } else if (p == "/_test/fail" && m == "POST") {
    Failure f;
    uint64_t status = 0, count = 1, retryAfter = 0;
    if (!parseUint(param(req, "status"), status) || status < 400 || status > 599) {
      throw badRequest("status must be an HTTP error code (400-599)");
    }
    if (req.has_param("count") && !parseUint(param(req, "count"), count)) {
      throw badRequest("count must be a non-negative integer");
    }
    f.status = static_cast<int>(status);
    f.remaining = static_cast<int>(count);
    if (req.has_param("retryAfter")) {
      if (!parseUint(param(req, "retryAfter"), retryAfter)) {
        throw badRequest("retryAfter must be a non-negative integer");
      }
      f.retryAfter = static_cast<int>(retryAfter);
    } else if (status == 429) {
      f.retryAfter = 1;
    }
    f.path = param(req, "path");
    f.method = param(req, "method");
    f.message = param(req, "message");
    std::lock_guard lock(mu_);
    failure_ = f;
    sendJson(res, 200, {{"status", f.status}, {"count", f.remaining}});
  } else if (p == "/_test/fail" && m == "DELETE") {
    std::lock_guard lock(mu_);
    failure_ = Failure{};
    sendJson(res, 200, json::object());
  } else if (p == "/_test/requests" && m == "GET") {
    std::lock_guard lock(mu_);
    json list = json::array();
    for (const auto& r : requests_) list.push_back(r);
    sendJson(res, 200, {{"requests", list}});
  } else if (p == "/_test/requests" && m == "DELETE") {
    std::lock_guard lock(mu_);
    requests_.clear();
    sendJson(res, 200, json::object());
  } else if (p == "/_test/tokens" && (m == "PUT" || m == "POST")) {
    json body = parseJson(req.body, "the body of the request");
    if (!body.is_object() || !body.contains("tokens") || !body["tokens"].is_array()) {
      throw badRequest("expected {\"tokens\": [\"...\"]}");
    }
    std::vector<std::string> tokens;
    for (const auto& t : body["tokens"]) {
      if (!t.is_string()) throw badRequest("tokens must be strings");
      tokens.push_back(t.get<std::string>());
    }
    std::lock_guard lock(mu_);
    tokens_ = tokens;
    sendJson(res, 200, {{"tokens", tokens.size()}});
  } else if (p == "/_test/save" && m == "POST") {
    if (config_.stateFile.empty()) throw badRequest("the server runs without --state-file");
    std::lock_guard lock(store_.mutex());
    store_.save(config_.stateFile);
    sendJson(res, 200, {{"resourceVersion", std::to_string(store_.resourceVersion())}});
  } else {
    throw notFoundPath();
  }
}

}  // namespace updraft::kubetest
