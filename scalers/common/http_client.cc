#include "common/http_client.h"

#include <curl/curl.h>
#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <sstream>

namespace updraft::http {
namespace {

void ensureCurlInitialized() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

struct UrlParts {
  std::string scheme;     // lower-case
  std::string userinfo;   // may be empty
  std::string hostPort;   // as written, lower-cased
  std::string path;       // up to '?' or '#'
  std::string queryFrag;  // from '?' or '#'
};

std::optional<UrlParts> splitUrl(std::string_view url) {
  size_t schemeEnd = url.find("://");
  if (schemeEnd == std::string_view::npos || schemeEnd == 0) return std::nullopt;
  UrlParts parts;
  parts.scheme = lower(url.substr(0, schemeEnd));
  size_t authorityStart = schemeEnd + 3;
  size_t authorityEnd = url.find_first_of("/?#", authorityStart);
  if (authorityEnd == std::string_view::npos) authorityEnd = url.size();
  std::string_view authority = url.substr(authorityStart, authorityEnd - authorityStart);
  if (size_t at = authority.rfind('@'); at != std::string_view::npos) {
    parts.userinfo = std::string(authority.substr(0, at));
    authority.remove_prefix(at + 1);
  }
  parts.hostPort = lower(authority);
  std::string_view rest = url.substr(authorityEnd);
  size_t q = rest.find_first_of("?#");
  parts.path = std::string(rest.substr(0, q));
  if (q != std::string_view::npos) parts.queryFrag = std::string(rest.substr(q));
  return parts;
}

// "http://host:port" with the default port made explicit, or "" when not http(s).
std::string originOf(std::string_view url) {
  auto parts = splitUrl(url);
  if (!parts || (parts->scheme != "http" && parts->scheme != "https") || parts->hostPort.empty()) {
    return {};
  }
  std::string hostPort = parts->hostPort;
  bool hasPort = false;
  if (size_t colon = hostPort.rfind(':'); colon != std::string::npos) {
    size_t bracket = hostPort.rfind(']');
    hasPort = bracket == std::string::npos || colon > bracket;
  }
  if (!hasPort) hostPort += parts->scheme == "https" ? ":443" : ":80";
  return parts->scheme + "://" + hostPort;
}

void replaceAll(std::string& s, std::string_view what, std::string_view with) {
  if (what.empty()) return;
  size_t pos = 0;
  while ((pos = s.find(what, pos)) != std::string::npos) {
    s.replace(pos, what.size(), with);
    pos += with.size();
  }
}

// Removes every secret the request carries from a message (defence in depth: libcurl's messages
// are not expected to contain any of them).
std::string scrub(std::string message, const Request& req) {
  static const char* const kBenignHeaders[] = {"host",           "accept",          "content-type",
                                               "content-length", "accept-encoding", "user-agent"};
  std::vector<std::string_view> secrets;
  if (req.basicAuth) secrets.push_back(req.basicAuth->password);
  secrets.push_back(req.bearerToken);
  for (const auto& [name, value] : req.headers) {
    std::string n = lower(name);
    bool benign = std::any_of(std::begin(kBenignHeaders), std::end(kBenignHeaders),
                              [&](const char* b) { return n == b; });
    if (!benign) secrets.push_back(value);
  }
  std::string userinfo, queryFrag;
  if (auto parts = splitUrl(req.url)) {
    userinfo = parts->userinfo;
    queryFrag = parts->queryFrag;
    secrets.push_back(userinfo);
    secrets.push_back(queryFrag);
  }
  // Longest first, so a secret containing another is removed whole.
  std::sort(secrets.begin(), secrets.end(),
            [](std::string_view a, std::string_view b) { return a.size() > b.size(); });
  for (auto secret : secrets) {
    if (secret.size() >= 4) replaceAll(message, secret, "***");
  }
  return message;
}

struct WriteContext {
  std::string* body = nullptr;
  size_t max = 0;
  bool tooLarge = false;
};

size_t onWrite(char* data, size_t size, size_t count, void* userdata) {
  auto* ctx = static_cast<WriteContext*>(userdata);
  size_t n = size * count;
  if (ctx->body->size() + n > ctx->max) {
    ctx->tooLarge = true;
    return 0;  // aborts the transfer with CURLE_WRITE_ERROR
  }
  ctx->body->append(data, n);
  return n;
}

size_t onHeader(char* data, size_t size, size_t count, void* userdata) {
  auto* headers = static_cast<std::vector<std::pair<std::string, std::string>>*>(userdata);
  size_t n = size * count;
  std::string_view line(data, n);
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.remove_suffix(1);
  if (line.substr(0, 5) == "HTTP/") {
    headers->clear();  // a new response (after a redirect or a 100 Continue)
    return n;
  }
  size_t colon = line.find(':');
  if (colon == std::string_view::npos) return n;
  std::string_view name = line.substr(0, colon);
  std::string_view value = line.substr(colon + 1);
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
  headers->emplace_back(std::string(name), std::string(value));
  return n;
}

struct SlistDeleter {
  void operator()(curl_slist* list) const { curl_slist_free_all(list); }
};
using Slist = std::unique_ptr<curl_slist, SlistDeleter>;

bool appendHeader(Slist& list, const std::string& line) {
  curl_slist* next = curl_slist_append(list.get(), line.c_str());
  if (!next) return false;
  (void)list.release();
  list.reset(next);
  return true;
}

void setBlob(CURL* c, CURLoption option, const std::string& pem) {
  curl_blob blob{};
  blob.data = const_cast<char*>(pem.data());
  blob.len = pem.size();
  blob.flags = CURL_BLOB_COPY;
  curl_easy_setopt(c, option, &blob);
}

bool readFile(const std::string& path, std::string& out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  std::ostringstream ss;
  ss << in.rdbuf();
  out = ss.str();
  return !in.bad();
}

// The trust store for https requests that name no CA of their own: libcurl's default CA bundle
// plus the PEM certificates of $UPDRAFT_EXTRA_CA_FILE. nullptr when the variable is unset or
// empty (libcurl's defaults apply unchanged). Cached until the file's path, size or mtime change.
Result<std::shared_ptr<const std::string>> extraCaBundle() {
  const char* env = std::getenv(kExtraCaFileEnv);
  if (!env || !*env) return std::shared_ptr<const std::string>();
  const std::string path = env;
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    return Status::invalidArgument(std::string(kExtraCaFileEnv) + " \"" + path +
                                   "\": " + std::strerror(errno));
  }
  struct Cache {
    std::string path;
    off_t size = -1;
    time_t mtime = 0;
    std::shared_ptr<const std::string> bundle;
  };
  static std::mutex mutex;
  static Cache cache;
  std::lock_guard lock(mutex);
  if (cache.bundle && cache.path == path && cache.size == st.st_size &&
      cache.mtime == st.st_mtime) {
    return cache.bundle;
  }
  std::string extra;
  if (!readFile(path, extra)) {
    return Status::invalidArgument(std::string(kExtraCaFileEnv) + " \"" + path +
                                   "\": cannot be read");
  }
  if (extra.find("-----BEGIN CERTIFICATE-----") == std::string::npos) {
    return Status::invalidArgument(std::string(kExtraCaFileEnv) + " \"" + path +
                                   "\": holds no PEM certificate");
  }
  std::string bundle;
  const curl_version_info_data* info = curl_version_info(CURLVERSION_NOW);
  if (info && info->cainfo) (void)readFile(info->cainfo, bundle);  // may be absent: CApath stays
  if (!bundle.empty() && bundle.back() != '\n') bundle += '\n';
  bundle += extra;
  cache = Cache{path, st.st_size, st.st_mtime, std::make_shared<const std::string>(bundle)};
  return cache.bundle;
}

}  // namespace

struct HttpClient::Handle {
  CURL* curl = nullptr;
  std::string origin;
  Handle() : curl(curl_easy_init()) {}
  ~Handle() {
    if (curl) curl_easy_cleanup(curl);
  }
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
};

const std::string* Response::header(std::string_view name) const {
  std::string wanted = lower(name);
  for (const auto& [n, v] : headers) {
    if (lower(n) == wanted) return &v;
  }
  return nullptr;
}

HttpClient::HttpClient() : HttpClient(Options{}) {}

HttpClient::HttpClient(Options options) : options_(std::move(options)) { ensureCurlInitialized(); }

HttpClient::~HttpClient() = default;

HttpClient& HttpClient::shared() {
  static HttpClient* client = new HttpClient();  // never destroyed: safe at exit
  return *client;
}

Millis HttpClient::timeoutUntil(TimePoint deadline, TimePoint now, Millis cap) {
  auto remaining = std::chrono::duration_cast<Millis>(deadline - now);
  if (remaining < Millis(0)) remaining = Millis(0);
  return std::min(cap, remaining);
}

std::string HttpClient::redactUrl(std::string_view url) {
  auto parts = splitUrl(url);
  if (!parts) {
    // Not a URL: keep what cannot be a query string or credentials.
    std::string_view head = url.substr(0, url.find_first_of("?#"));
    if (size_t at = head.rfind('@'); at != std::string_view::npos) head.remove_prefix(at + 1);
    return std::string(head);
  }
  return parts->scheme + "://" + parts->hostPort + parts->path;
}

std::unique_ptr<HttpClient::Handle> HttpClient::acquire(const std::string& origin) {
  {
    std::lock_guard lock(mutex_);
    if (!idle_.empty()) {
      auto it = std::find_if(idle_.rbegin(), idle_.rend(),
                             [&](const auto& h) { return h->origin == origin; });
      auto pick = it != idle_.rend() ? std::prev(it.base()) : std::prev(idle_.end());
      std::unique_ptr<Handle> handle = std::move(*pick);
      idle_.erase(pick);
      return handle;
    }
  }
  auto handle = std::make_unique<Handle>();
  if (!handle->curl) return nullptr;
  return handle;
}

void HttpClient::release(std::unique_ptr<Handle> handle, std::string origin) {
  handle->origin = std::move(origin);
  std::unique_ptr<Handle> evicted;  // destroyed outside the lock
  std::lock_guard lock(mutex_);
  idle_.push_back(std::move(handle));
  if (idle_.size() > options_.maxIdleHandles) {
    evicted = std::move(idle_.front());
    idle_.erase(idle_.begin());
  }
}

void HttpClient::closeIdle() {
  std::vector<std::unique_ptr<Handle>> drop;
  std::lock_guard lock(mutex_);
  drop.swap(idle_);
}

size_t HttpClient::idleHandlesForTest() const {
  std::lock_guard lock(mutex_);
  return idle_.size();
}

Result<Response> HttpClient::get(std::string url, Millis timeout) {
  Request req;
  req.url = std::move(url);
  req.timeout = timeout;
  return send(req);
}

Result<Response> HttpClient::send(const Request& req) {
  const std::string method = req.method.empty() ? std::string("GET") : upper(req.method);
  const std::string where = method + " " + redactUrl(req.url);
  const std::string origin = originOf(req.url);
  if (origin.empty()) {
    return Status::invalidArgument(where + ": not an http:// or https:// URL with a host");
  }
  if (req.timeout <= Millis(0)) {
    return Status::timeout(where + ": no time left before the deadline");
  }
  std::shared_ptr<const std::string> extraCa;
  if (req.tls.caPem.empty() && req.tls.caFile.empty() && origin.rfind("https:", 0) == 0) {
    auto bundle = extraCaBundle();
    if (!bundle.isOk()) return Status::invalidArgument(where + ": " + bundle.status().message());
    extraCa = std::move(bundle.value());
  }
  std::unique_ptr<Handle> handle = acquire(origin);
  if (!handle) return Status::internal(where + ": could not create a libcurl handle");
  CURL* c = handle->curl;
  curl_easy_reset(c);  // keeps the handle's connection, DNS and TLS session caches

  Response response;
  WriteContext write{&response.body, req.maxResponseBytes, false};
  char errbuf[CURL_ERROR_SIZE] = {0};
  Slist headers;

  curl_easy_setopt(c, CURLOPT_URL, req.url.c_str());
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(req.timeout.count()));
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(req.timeout.count()));
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, onWrite);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &write);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, onHeader);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &response.headers);
  curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, static_cast<curl_off_t>(req.maxResponseBytes));
  curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "");  // whatever libcurl can decode
  curl_easy_setopt(c, CURLOPT_USERAGENT, options_.userAgent.c_str());
  if (req.followRedirects) {
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, 10L);
  }

  if (method == "GET") {
    curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
  } else if (method == "HEAD") {
    curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
  } else if (method == "POST") {
    curl_easy_setopt(c, CURLOPT_POST, 1L);
  } else {
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method.c_str());
  }
  if (!req.body.empty() || method == "POST") {
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(req.body.size()));
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, req.body.data());
  }

  bool headersOk = appendHeader(headers, "Expect:");  // no 100-continue round trip
  for (const auto& [name, value] : req.headers) {
    headersOk =
        headersOk && appendHeader(headers, value.empty() ? name + ";" : name + ": " + value);
  }
  if (!headersOk) return Status::internal(where + ": out of memory building headers");
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());

  if (req.basicAuth) {
    curl_easy_setopt(c, CURLOPT_HTTPAUTH, static_cast<long>(CURLAUTH_BASIC));
    curl_easy_setopt(c, CURLOPT_USERNAME, req.basicAuth->username.c_str());
    curl_easy_setopt(c, CURLOPT_PASSWORD, req.basicAuth->password.c_str());
  } else if (!req.bearerToken.empty()) {
    curl_easy_setopt(c, CURLOPT_HTTPAUTH, static_cast<long>(CURLAUTH_BEARER));
    curl_easy_setopt(c, CURLOPT_XOAUTH2_BEARER, req.bearerToken.c_str());
  }

  const TlsOptions& tls = req.tls;
  if (!tls.caPem.empty()) {
    setBlob(c, CURLOPT_CAINFO_BLOB, tls.caPem);
  } else if (!tls.caFile.empty()) {
    curl_easy_setopt(c, CURLOPT_CAINFO, tls.caFile.c_str());
  } else if (extraCa) {
    setBlob(c, CURLOPT_CAINFO_BLOB, *extraCa);
  }
  if (!tls.clientCertPem.empty()) {
    curl_easy_setopt(c, CURLOPT_SSLCERTTYPE, "PEM");
    setBlob(c, CURLOPT_SSLCERT_BLOB, tls.clientCertPem);
  }
  if (!tls.clientKeyPem.empty()) {
    curl_easy_setopt(c, CURLOPT_SSLKEYTYPE, "PEM");
    setBlob(c, CURLOPT_SSLKEY_BLOB, tls.clientKeyPem);
  }
  if (tls.insecureSkipVerify) {
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
  }

  CURLcode rc = curl_easy_perform(c);
  long osErrno = 0;
  curl_easy_getinfo(c, CURLINFO_OS_ERRNO, &osErrno);
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &response.status);
  // Drop pointers to this call's stack before the handle goes back to the pool.
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, nullptr);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, nullptr);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, nullptr);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, nullptr);
  std::string detail = errbuf[0] ? std::string(errbuf) : std::string(curl_easy_strerror(rc));
  while (!detail.empty() && (detail.back() == '\n' || detail.back() == '\r')) detail.pop_back();
  release(std::move(handle), origin);

  if (rc == CURLE_OK) return response;

  auto fail = [&](Status (*make)(std::string), std::string why) {
    return make(scrub(where + ": " + why, req));
  };
  switch (rc) {
    case CURLE_OPERATION_TIMEDOUT:
      return fail(&Status::timeout,
                  "timed out after " + std::to_string(req.timeout.count()) + " ms");
    case CURLE_COULDNT_CONNECT:
      if (osErrno == ECONNREFUSED) return fail(&Status::unavailable, "connection refused");
      return fail(&Status::unavailable, "could not connect (" + detail + ")");
    case CURLE_COULDNT_RESOLVE_HOST:
      return fail(&Status::unavailable, "could not resolve host (" + detail + ")");
    case CURLE_WRITE_ERROR:
    case CURLE_FILESIZE_EXCEEDED:
      if (write.tooLarge || rc == CURLE_FILESIZE_EXCEEDED) {
        return fail(&Status::unavailable, "response body is larger than " +
                                              std::to_string(req.maxResponseBytes) + " bytes");
      }
      return fail(&Status::unavailable, detail);
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL:
      return fail(&Status::invalidArgument, "invalid URL (" + detail + ")");
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
      return fail(&Status::unavailable, "TLS error (" + detail + ")");
    case CURLE_TOO_MANY_REDIRECTS:
      return fail(&Status::unavailable, "too many redirects");
    default:
      return fail(&Status::unavailable, detail);
  }
}

}  // namespace updraft::http
