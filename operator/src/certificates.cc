// OpenSSL 3 EVP/X509 APIs only; the library is compiled with OPENSSL_NO_DEPRECATED, so a
// deprecated call does not build.
#include "updraft/operator/certificates.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "file_text.h"

namespace updraft::kube {
namespace {

using nlohmann::json;

struct KeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct CertFree {
  void operator()(X509* c) const { X509_free(c); }
};
struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
using KeyPtr = std::unique_ptr<EVP_PKEY, KeyFree>;
using CertPtr = std::unique_ptr<X509, CertFree>;
using BioPtr = std::unique_ptr<BIO, BioFree>;

constexpr const char* kCaCert = "ca.crt";
constexpr const char* kCaKey = "ca.key";
constexpr const char* kTlsCert = "tls.crt";
constexpr const char* kTlsKey = "tls.key";

std::string joinPath(const std::string& dir, const char* file) { return dir + "/" + file; }

bool readFile(const std::string& path, std::string* out) {
  auto text = readFileText(path);
  if (!text) return false;
  *out = std::move(*text);
  return true;
}

bool exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

// Writes through a temporary file and a rename, so a reader never sees half a file; `mode` is
// applied at creation (keys are never readable by others, not even briefly).
Status writeFileAtomic(const std::string& path, const std::string& content, mode_t mode) {
  std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return Status::internal("cannot write " + tmp + ": " + std::strerror(errno));
  ::fchmod(fd, mode);
  size_t done = 0;
  while (done < content.size()) {
    ssize_t n = ::write(fd, content.data() + done, content.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      std::string err = std::strerror(errno);
      ::close(fd);
      return Status::internal("cannot write " + tmp + ": " + err);
    }
    done += static_cast<size_t>(n);
  }
  if (::close(fd) != 0) return Status::internal("cannot write " + tmp + ": close failed");
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    return Status::internal("cannot rename " + tmp + ": " + std::strerror(errno));
  }
  return Status::ok();
}

time_t toTimeT(TimePoint t) {
  return static_cast<time_t>(
      std::chrono::floor<std::chrono::seconds>(t.time_since_epoch()).count());
}
TimePoint fromTimeT(time_t t) { return TimePoint(std::chrono::seconds(t)); }

std::string iso(TimePoint t) {
  time_t tt = toTimeT(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[64];
  size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return std::string(buf, n);
}

TimePoint asn1ToTime(const ASN1_TIME* t) {
  std::tm tm{};
  if (!t || ASN1_TIME_to_tm(t, &tm) != 1) return TimePoint{};
  return fromTimeT(timegm(&tm));
}

// ---- PEM ----

std::string certToPem(X509* cert) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_X509(bio.get(), cert);
  char* data = nullptr;
  long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(n));
}

std::string keyToPem(EVP_PKEY* key) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr);
  char* data = nullptr;
  long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(n));
}

std::vector<CertPtr> parseCerts(const std::string& pem) {
  std::vector<CertPtr> out;
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  while (X509* c = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) out.emplace_back(c);
  return out;
}

KeyPtr parseKey(const std::string& pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  return KeyPtr(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
}

// ---- building certificates ----

KeyPtr newKey() { return KeyPtr(EVP_EC_gen("P-256")); }

bool addExtension(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
  if (!ext) return false;
  bool ok = X509_add_ext(cert, ext, -1) == 1;
  X509_EXTENSION_free(ext);
  return ok;
}

bool addSubjectAltNames(X509* cert, const std::vector<std::string>& dns,
                        const std::vector<std::string>& ips) {
  GENERAL_NAMES* names = sk_GENERAL_NAME_new_null();
  for (const auto& d : dns) {
    GENERAL_NAME* gn = GENERAL_NAME_new();
    ASN1_IA5STRING* s = ASN1_IA5STRING_new();
    ASN1_STRING_set(s, d.data(), static_cast<int>(d.size()));
    GENERAL_NAME_set0_value(gn, GEN_DNS, s);
    sk_GENERAL_NAME_push(names, gn);
  }
  for (const auto& ip : ips) {
    ASN1_OCTET_STRING* os = a2i_IPADDRESS(ip.c_str());
    if (!os) {
      GENERAL_NAMES_free(names);
      return false;
    }
    GENERAL_NAME* gn = GENERAL_NAME_new();
    GENERAL_NAME_set0_value(gn, GEN_IPADD, os);
    sk_GENERAL_NAME_push(names, gn);
  }
  bool ok = X509_add1_ext_i2d(cert, NID_subject_alt_name, names, 0, X509V3_ADD_DEFAULT) == 1;
  GENERAL_NAMES_free(names);
  return ok;
}

struct Issued {
  KeyPtr key;
  CertPtr cert;
};

// A certificate for a new P-256 key; self-signed when `issuer` is null.
Result<Issued> issue(const CertificateOptions& o, TimePoint now, bool ca, X509* issuer,
                     EVP_PKEY* issuerKey) {
  Issued out;
  out.key = newKey();
  if (!out.key) return Status::internal("certificates: EC P-256 key generation failed");
  out.cert.reset(X509_new());
  X509* c = out.cert.get();
  X509_set_version(c, X509_VERSION_3);
  unsigned char serial[16];
  if (RAND_bytes(serial, sizeof serial) != 1) {
    return Status::internal("certificates: no random bytes for a serial number");
  }
  serial[0] &= 0x7f;  // positive
  serial[0] |= 0x01;  // and 16 bytes long
  BIGNUM* bn = BN_bin2bn(serial, sizeof serial, nullptr);
  BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(c));
  BN_free(bn);
  auto validity = ca ? o.caValidity : o.servingValidity;
  time_t notBefore = toTimeT(now - o.backdate);
  time_t notAfter = toTimeT(now + validity);
  ASN1_TIME_set(X509_getm_notBefore(c), notBefore);
  ASN1_TIME_set(X509_getm_notAfter(c), notAfter);
  X509_set_pubkey(c, out.key.get());
  X509_NAME* name = X509_get_subject_name(c);
  auto addName = [&](const char* field, const std::string& value) {
    if (value.empty()) return;
    X509_NAME_add_entry_by_txt(name, field, MBSTRING_UTF8,
                               reinterpret_cast<const unsigned char*>(value.c_str()), -1, -1, 0);
  };
  addName("O", o.organization);
  std::string cn = ca                       ? o.caCommonName
                   : !o.dnsNames.empty()    ? o.dnsNames.front()
                   : !o.ipAddresses.empty() ? o.ipAddresses.front()
                                            : "updraft";
  addName("CN", cn);
  X509* issuerCert = issuer ? issuer : c;
  X509_set_issuer_name(c, X509_get_subject_name(issuerCert));
  bool ok = true;
  if (ca) {
    ok = ok && addExtension(c, issuerCert, NID_basic_constraints, "critical,CA:TRUE");
    ok = ok && addExtension(c, issuerCert, NID_key_usage,
                            "critical,digitalSignature,keyCertSign,cRLSign");
    ok = ok && addExtension(c, issuerCert, NID_subject_key_identifier, "hash");
  } else {
    ok = ok && addExtension(c, issuerCert, NID_basic_constraints, "critical,CA:FALSE");
    ok = ok && addExtension(c, issuerCert, NID_key_usage, "critical,digitalSignature");
    ok = ok && addExtension(c, issuerCert, NID_ext_key_usage, "serverAuth");
    ok = ok && addExtension(c, issuerCert, NID_subject_key_identifier, "hash");
    ok = ok && addExtension(c, issuerCert, NID_authority_key_identifier, "keyid:always");
    ok = ok && addSubjectAltNames(c, o.dnsNames, o.ipAddresses);
  }
  if (!ok) return Status::internal("certificates: cannot build the certificate extensions");
  if (X509_sign(c, issuerKey ? issuerKey : out.key.get(), EVP_sha256()) == 0) {
    return Status::internal("certificates: signing failed");
  }
  return out;
}

TimePoint rotationPoint(X509* cert, double fraction) {
  TimePoint nb = asn1ToTime(X509_get0_notBefore(cert));
  TimePoint na = asn1ToTime(X509_get0_notAfter(cert));
  auto life = std::chrono::duration<double>(na - nb) * std::clamp(fraction, 0.0, 1.0);
  return nb + std::chrono::duration_cast<Duration>(life);
}

bool coversNames(X509* cert, const CertificateOptions& o) {
  for (const auto& d : o.dnsNames) {
    if (X509_check_host(cert, d.c_str(), d.size(), X509_CHECK_FLAG_NO_WILDCARDS, nullptr) != 1) {
      return false;
    }
  }
  for (const auto& ip : o.ipAddresses) {
    if (X509_check_ip_asc(cert, ip.c_str(), 0) != 1) return false;
  }
  return true;
}

bool signedBy(X509* cert, X509* ca) {
  EVP_PKEY* pub = X509_get0_pubkey(ca);
  return pub && X509_verify(cert, pub) == 1;
}

std::string hexUpper(const unsigned char* p, size_t n) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (size_t i = 0; i < n; ++i) {
    out.push_back(kHex[p[i] >> 4]);
    out.push_back(kHex[p[i] & 0xf]);
  }
  return out;
}

std::string nameEntry(X509_NAME* name, int nid) {
  int i = X509_NAME_get_index_by_NID(name, nid, -1);
  if (i < 0) return {};
  ASN1_STRING* s = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i));
  unsigned char* utf8 = nullptr;
  int n = ASN1_STRING_to_UTF8(&utf8, s);
  if (n < 0) return {};
  std::string out(reinterpret_cast<char*>(utf8), static_cast<size_t>(n));
  OPENSSL_free(utf8);
  return out;
}

std::string base64(const std::string& data) {
  std::string out(4 * ((data.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(data.data()),
                          static_cast<int>(data.size()));
  out.resize(static_cast<size_t>(std::max(0, n)));
  return out;
}

}  // namespace

// ---- CertificateManager ----

struct CertificateManager::State {
  // Generated mode.
  KeyPtr caKey;
  CertPtr caCert;
  std::vector<CertPtr> previousCas;  // still valid, still in the bundle
  KeyPtr key;
  CertPtr cert;
  // Mounted mode: the file contents last installed.
  std::string mountedCert, mountedKey, mountedCa;
};

CertificateManager::CertificateManager(CertificateOptions options)
    : options_(std::move(options)), state_(std::make_unique<State>()) {}

CertificateManager::~CertificateManager() { stop(); }

TimePoint CertificateManager::now() const {
  return options_.clock ? options_.clock->now() : std::chrono::system_clock::now();
}

Result<std::unique_ptr<CertificateManager>> CertificateManager::create(CertificateOptions options) {
  std::unique_ptr<CertificateManager> m(new CertificateManager(std::move(options)));
  UPDRAFT_RETURN_IF_ERROR(m->initialize());
  return m;
}

Status CertificateManager::initialize() {
  const auto& dir = options_.dir;
  if (!dir.empty() && exists(joinPath(dir, kTlsCert)) && exists(joinPath(dir, kTlsKey)) &&
      !exists(joinPath(dir, kCaKey))) {
    mounted_ = true;
    std::lock_guard check(checkMutex_);
    Status s = checkLocked(false, false);
    if (!s.isOk()) return s;
    return Status::ok();
  }
  if (options_.dnsNames.empty() && options_.ipAddresses.empty()) {
    return Status::invalidArgument(
        "certificates: a generated serving certificate needs at least one DNS name or IP address");
  }
  for (const auto& ip : options_.ipAddresses) {
    ASN1_OCTET_STRING* os = a2i_IPADDRESS(ip.c_str());
    if (!os) return Status::invalidArgument("certificates: \"" + ip + "\" is not an IP address");
    ASN1_OCTET_STRING_free(os);
  }
  if (!dir.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) return Status::internal("certificates: cannot create " + dir + ": " + ec.message());
    // Reuse what a previous run wrote.
    std::string caPem, caKeyPem, certPem, keyPem;
    if (readFile(joinPath(dir, kCaCert), &caPem) && readFile(joinPath(dir, kCaKey), &caKeyPem)) {
      KeyPtr caKey = parseKey(caKeyPem);
      for (auto& c : parseCerts(caPem)) {
        if (caKey && !state_->caCert && X509_check_private_key(c.get(), caKey.get()) == 1) {
          state_->caCert = std::move(c);
        } else if (asn1ToTime(X509_get0_notAfter(c.get())) > now()) {
          state_->previousCas.push_back(std::move(c));
        }
      }
      if (state_->caCert) {
        state_->caKey = std::move(caKey);
      } else {
        state_->previousCas.clear();
      }
    }
    if (state_->caCert && readFile(joinPath(dir, kTlsCert), &certPem) &&
        readFile(joinPath(dir, kTlsKey), &keyPem)) {
      auto certs = parseCerts(certPem);
      KeyPtr key = parseKey(keyPem);
      if (!certs.empty() && key && X509_check_private_key(certs.front().get(), key.get()) == 1 &&
          signedBy(certs.front().get(), state_->caCert.get()) &&
          coversNames(certs.front().get(), options_)) {
        state_->cert = std::move(certs.front());
        state_->key = std::move(key);
      }
    }
  }
  std::lock_guard check(checkMutex_);
  return checkLocked(false, false);
}

void CertificateManager::publish(const CertificateBundle& bundle) {
  std::vector<RotatedCallback> callbacks;
  {
    std::lock_guard lock(callbacksMutex_);
    callbacks = callbacks_;
  }
  for (auto& cb : callbacks) cb(bundle.caPem, bundle.certPem, bundle.keyPem);
}

Status CertificateManager::checkLocked(bool forceServing, bool forceCa) {
  State& s = *state_;
  CertificateBundle next;
  {
    std::lock_guard lock(mutex_);
    next = bundle_;
  }
  const bool first = next.generation == 0;
  if (mounted_) {
    std::string certPem, keyPem, caPem;
    if (!readFile(joinPath(options_.dir, kTlsCert), &certPem) ||
        !readFile(joinPath(options_.dir, kTlsKey), &keyPem)) {
      return Status::unavailable("certificates: cannot read " + options_.dir +
                                 "/tls.crt or tls.key");
    }
    readFile(joinPath(options_.dir, kCaCert), &caPem);  // optional
    if (!first && certPem == s.mountedCert && keyPem == s.mountedKey && caPem == s.mountedCa) {
      return Status::ok();
    }
    auto certs = parseCerts(certPem);
    KeyPtr key = parseKey(keyPem);
    if (certs.empty() || !key) {
      return Status::invalidArgument("certificates: " + options_.dir +
                                     "/tls.crt or tls.key holds no PEM certificate or key");
    }
    if (X509_check_private_key(certs.front().get(), key.get()) != 1) {
      return Status::invalidArgument("certificates: " + options_.dir +
                                     "/tls.key does not match tls.crt");
    }
    s.mountedCert = certPem;
    s.mountedKey = keyPem;
    s.mountedCa = caPem;
    next.caPem = caPem;
    next.certPem = certPem;
    next.keyPem = keyPem;
    next.notBefore = asn1ToTime(X509_get0_notBefore(certs.front().get()));
    next.notAfter = asn1ToTime(X509_get0_notAfter(certs.front().get()));
    next.rotateAfter = TimePoint{};
    next.mounted = true;
  } else {
    TimePoint t = now();
    bool newCa = forceCa || !s.caCert || t >= rotationPoint(s.caCert.get(), options_.rotateAt);
    bool newServing = newCa || forceServing || !s.cert ||
                      t >= rotationPoint(s.cert.get(), options_.rotateAt) ||
                      t < asn1ToTime(X509_get0_notBefore(s.cert.get()));
    size_t before = s.previousCas.size();
    std::erase_if(s.previousCas,
                  [&](const CertPtr& c) { return asn1ToTime(X509_get0_notAfter(c.get())) <= t; });
    bool pruned = before != s.previousCas.size();
    if (!first && !newCa && !newServing && !pruned) return Status::ok();
    if (newCa) {
      auto ca = issue(options_, t, true, nullptr, nullptr);
      if (!ca.isOk()) return ca.status();
      if (s.caCert && asn1ToTime(X509_get0_notAfter(s.caCert.get())) > t) {
        s.previousCas.insert(s.previousCas.begin(), std::move(s.caCert));
      }
      s.caCert = std::move(ca->cert);
      s.caKey = std::move(ca->key);
    }
    if (newServing) {
      auto leaf = issue(options_, t, false, s.caCert.get(), s.caKey.get());
      if (!leaf.isOk()) return leaf.status();
      s.cert = std::move(leaf->cert);
      s.key = std::move(leaf->key);
    }
    std::string caPem = certToPem(s.caCert.get());
    for (const auto& c : s.previousCas) caPem += certToPem(c.get());
    next.caPem = caPem;
    next.certPem = certToPem(s.cert.get());
    next.keyPem = keyToPem(s.key.get());
    next.notBefore = asn1ToTime(X509_get0_notBefore(s.cert.get()));
    next.notAfter = asn1ToTime(X509_get0_notAfter(s.cert.get()));
    next.rotateAfter = rotationPoint(s.cert.get(), options_.rotateAt);
    next.mounted = false;
    if (!options_.dir.empty()) {
      const auto& d = options_.dir;
      // The CA first: a crash in between leaves a CA that still verifies the old leaf.
      UPDRAFT_RETURN_IF_ERROR(writeFileAtomic(joinPath(d, kCaKey), keyToPem(s.caKey.get()), 0600));
      UPDRAFT_RETURN_IF_ERROR(writeFileAtomic(joinPath(d, kCaCert), caPem, 0644));
      UPDRAFT_RETURN_IF_ERROR(writeFileAtomic(joinPath(d, kTlsKey), next.keyPem, 0600));
      UPDRAFT_RETURN_IF_ERROR(writeFileAtomic(joinPath(d, kTlsCert), next.certPem, 0644));
    }
  }
  next.generation += 1;
  {
    std::lock_guard lock(mutex_);
    bundle_ = next;
  }
  if (mounted_) {
    spdlog::info("certificates: {} the mounted certificate in {} (valid until {})",
                 first ? "using" : "re-read", options_.dir, iso(next.notAfter));
  } else {
    spdlog::info("certificates: serving certificate {} (valid until {}, replaced after {})",
                 first ? "ready" : "rotated", iso(next.notAfter), iso(next.rotateAfter));
  }
  if (!first) publish(next);
  return Status::ok();
}

CertificateBundle CertificateManager::current() const {
  std::lock_guard lock(mutex_);
  return bundle_;
}

void CertificateManager::onRotated(RotatedCallback callback) {
  std::lock_guard lock(callbacksMutex_);
  callbacks_.push_back(std::move(callback));
}

Status CertificateManager::check() {
  std::lock_guard check(checkMutex_);
  return checkLocked(false, false);
}

Status CertificateManager::rotateNow(bool withCa) {
  if (mounted_) {
    return Status::failedPrecondition("certificates: mounted certificates are not rotated here");
  }
  std::lock_guard check(checkMutex_);
  return checkLocked(true, withCa);
}

void CertificateManager::start() {
  std::lock_guard lock(threadMutex_);
  if (thread_.joinable()) return;
  stopping_ = false;
  thread_ = std::thread([this] {
    std::unique_lock lock(threadMutex_);
    while (!stopping_) {
      wake_.wait_for(lock, options_.checkInterval, [&] { return stopping_; });
      if (stopping_) break;
      lock.unlock();
      Status s = check();  // an error keeps the current bundle; the next check tries again
      if (!s.isOk()) spdlog::warn("certificates: {}", s.message());
      lock.lock();
    }
  });
}

void CertificateManager::stop() {
  std::thread t;
  {
    std::lock_guard lock(threadMutex_);
    stopping_ = true;
    t = std::move(thread_);
  }
  wake_.notify_all();
  if (t.joinable()) t.join();
}

// ---- inspection ----

Result<CertificateInfo> inspectCertificate(const std::string& pem) {
  auto certs = parseCerts(pem);
  if (certs.empty()) return Status::invalidArgument("no PEM certificate found");
  X509* c = certs.front().get();
  CertificateInfo info;
  info.subjectCommonName = nameEntry(X509_get_subject_name(c), NID_commonName);
  info.subjectOrganization = nameEntry(X509_get_subject_name(c), NID_organizationName);
  info.issuerCommonName = nameEntry(X509_get_issuer_name(c), NID_commonName);
  info.notBefore = asn1ToTime(X509_get0_notBefore(c));
  info.notAfter = asn1ToTime(X509_get0_notAfter(c));
  info.isCa = X509_check_ca(c) != 0;
  auto* names =
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(c, NID_subject_alt_name, nullptr, nullptr));
  if (names) {
    for (int i = 0; i < sk_GENERAL_NAME_num(names); ++i) {
      const GENERAL_NAME* gn = sk_GENERAL_NAME_value(names, i);
      if (gn->type == GEN_DNS) {
        const ASN1_STRING* s = gn->d.dNSName;
        info.dnsNames.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                                   static_cast<size_t>(ASN1_STRING_length(s)));
      } else if (gn->type == GEN_IPADD) {
        const ASN1_OCTET_STRING* s = gn->d.iPAddress;
        char buf[INET6_ADDRSTRLEN] = {};
        int len = ASN1_STRING_length(s);
        if (len == 4 || len == 16) {
          inet_ntop(len == 4 ? AF_INET : AF_INET6, ASN1_STRING_get0_data(s), buf, sizeof buf);
          info.ipAddresses.emplace_back(buf);
        }
      }
    }
    GENERAL_NAMES_free(names);
  }
  uint32_t ku = X509_get_key_usage(c);
  if (ku != UINT32_MAX) {
    if (ku & KU_DIGITAL_SIGNATURE) info.keyUsage.push_back("digitalSignature");
    if (ku & KU_KEY_ENCIPHERMENT) info.keyUsage.push_back("keyEncipherment");
    if (ku & KU_KEY_CERT_SIGN) info.keyUsage.push_back("keyCertSign");
    if (ku & KU_CRL_SIGN) info.keyUsage.push_back("cRLSign");
  }
  uint32_t xku = X509_get_extended_key_usage(c);
  if (xku != UINT32_MAX) {
    if (xku & XKU_SSL_SERVER) info.extendedKeyUsage.push_back("serverAuth");
    if (xku & XKU_SSL_CLIENT) info.extendedKeyUsage.push_back("clientAuth");
  }
  EVP_PKEY* pub = X509_get0_pubkey(c);
  if (pub) {
    if (EVP_PKEY_get_base_id(pub) == EVP_PKEY_EC) {
      char group[64] = {};
      size_t len = 0;
      EVP_PKEY_get_utf8_string_param(pub, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group, &len);
      info.keyType = std::string("EC ") + group;
    } else if (EVP_PKEY_get_base_id(pub) == EVP_PKEY_RSA) {
      info.keyType = "RSA " + std::to_string(EVP_PKEY_get_bits(pub));
    } else {
      info.keyType = OBJ_nid2sn(EVP_PKEY_get_base_id(pub));
    }
  }
  BIGNUM* serial = ASN1_INTEGER_to_BN(X509_get0_serialNumber(c), nullptr);
  if (serial) {
    char* hex = BN_bn2hex(serial);
    info.serialHex = hex;
    OPENSSL_free(hex);
    BN_free(serial);
  }
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int mdLen = 0;
  if (X509_digest(c, EVP_sha256(), md, &mdLen) == 1) info.sha256Fingerprint = hexUpper(md, mdLen);
  return info;
}

bool verifySignedBy(const std::string& certPem, const std::string& caPem) {
  auto certs = parseCerts(certPem);
  if (certs.empty()) return false;
  for (auto& ca : parseCerts(caPem)) {
    if (signedBy(certs.front().get(), ca.get())) return true;
  }
  return false;
}

// ---- caBundle patching ----

Status patchCaBundles(KubeClient& client, const std::string& caPem,
                      const std::string& apiServiceName, const std::string& webhookConfigName) {
  const std::string bundle = base64(caPem);
  if (!apiServiceName.empty()) {
    const std::string what = "APIService " + apiServiceName;
    const std::string path = "/apis/apiregistration.k8s.io/v1/apiservices/" + apiServiceName;
    auto got = client.get(path);
    if (!got.isOk()) return got.status().withContext("get " + what);
    if (!got->ok()) return got->status("get " + what);
    const json& spec = got->body.contains("spec") ? got->body["spec"] : json::object();
    bool current = spec.value("caBundle", std::string()) == bundle &&
                   !spec.value("insecureSkipTLSVerify", false);
    if (!current) {
      json patch = {{"spec", {{"caBundle", bundle}, {"insecureSkipTLSVerify", nullptr}}}};
      auto r = client.patch(path, patch, PatchType::kMerge);
      if (!r.isOk()) return r.status().withContext("patch " + what);
      if (!r->ok()) return r->status("patch " + what);
    }
  }
  if (!webhookConfigName.empty()) {
    const std::string what = "ValidatingWebhookConfiguration " + webhookConfigName;
    const std::string path =
        "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations/" +
        webhookConfigName;
    constexpr int kAttempts = 5;
    for (int attempt = 1;; ++attempt) {
      auto got = client.get(path);
      if (!got.isOk()) return got.status().withContext("get " + what);
      if (!got->ok()) return got->status("get " + what);
      const json& webhooks = got->body.contains("webhooks") ? got->body["webhooks"] : json::array();
      json ops = json::array();
      ops.push_back({{"op", "test"},
                     {"path", "/metadata/resourceVersion"},
                     {"value", got->body["metadata"].value("resourceVersion", std::string())}});
      for (size_t i = 0; i < webhooks.size(); ++i) {
        const json& cc =
            webhooks[i].contains("clientConfig") ? webhooks[i]["clientConfig"] : json::object();
        if (cc.value("caBundle", std::string()) == bundle) continue;
        if (!webhooks[i].contains("clientConfig")) {
          ops.push_back({{"op", "add"},
                         {"path", "/webhooks/" + std::to_string(i) + "/clientConfig"},
                         {"value", {{"caBundle", bundle}}}});
        } else {
          ops.push_back({{"op", "add"},
                         {"path", "/webhooks/" + std::to_string(i) + "/clientConfig/caBundle"},
                         {"value", bundle}});
        }
      }
      if (ops.size() == 1) break;  // every webhook already has it
      auto r = client.patch(path, ops, PatchType::kJson);
      if (!r.isOk()) return r.status().withContext("patch " + what);
      if (r->ok()) break;
      // 409, or 422 from the failed `test`: the object changed since the GET; read it again.
      if ((r->code == 409 || r->code == 422) && attempt < kAttempts) continue;
      return r->status("patch " + what);
    }
  }
  return Status::ok();
}

}  // namespace updraft::kube
