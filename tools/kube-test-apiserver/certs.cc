#include "certs.h"

#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <stdexcept>

#include "common.h"

namespace updraft::kubetest {

namespace {

struct KeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct CertFree {
  void operator()(X509* c) const { X509_free(c); }
};
using KeyPtr = std::unique_ptr<EVP_PKEY, KeyFree>;
using CertPtr = std::unique_ptr<X509, CertFree>;

[[noreturn]] void fail(const std::string& what) {
  throw std::runtime_error("certificates: " + what);
}

std::string readFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return "";
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void writeFile(const std::string& path, const std::string& content, bool secret) {
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << content;
    if (!out.flush()) fail("cannot write " + path);
  }
  if (secret) ::chmod(path.c_str(), 0600);
}

KeyPtr newKey() {
  EVP_PKEY* k = EVP_EC_gen("P-256");
  if (!k) fail("EC key generation failed");
  return KeyPtr(k);
}

std::string keyPem(EVP_PKEY* key) {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(bio, key, nullptr, nullptr, 0, nullptr, nullptr);
  char* data;
  long n = BIO_get_mem_data(bio, &data);
  std::string s(data, static_cast<size_t>(n));
  BIO_free(bio);
  return s;
}

std::string certPem(X509* cert) {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_X509(bio, cert);
  char* data;
  long n = BIO_get_mem_data(bio, &data);
  std::string s(data, static_cast<size_t>(n));
  BIO_free(bio);
  return s;
}

KeyPtr parseKey(const std::string& pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  EVP_PKEY* k = PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  return KeyPtr(k);
}

CertPtr parseCert(const std::string& pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  X509* c = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  return CertPtr(c);
}

void addExtension(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
  if (!ext) fail("cannot build certificate extension " + std::string(value));
  X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
}

// A certificate for `key`, signed by issuerKey (self-signed when issuer is null).
CertPtr makeCert(EVP_PKEY* key, const std::string& cn, const std::string& org, X509* issuer,
                 EVP_PKEY* issuerKey, bool ca, const char* extendedUsage, const char* san) {
  CertPtr cert(X509_new());
  X509* c = cert.get();
  X509_set_version(c, 2);
  unsigned char serial[16];
  RAND_bytes(serial, sizeof serial);
  serial[0] &= 0x7f;
  BIGNUM* bn = BN_bin2bn(serial, sizeof serial, nullptr);
  BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(c));
  BN_free(bn);
  X509_gmtime_adj(X509_getm_notBefore(c), -3600);
  X509_gmtime_adj(X509_getm_notAfter(c), 10L * 365 * 24 * 3600);
  X509_set_pubkey(c, key);
  X509_NAME* name = X509_get_subject_name(c);
  if (!org.empty()) {
    X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
                               reinterpret_cast<const unsigned char*>(org.c_str()), -1, -1, 0);
  }
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  X509* issuerCert = issuer ? issuer : c;
  X509_set_issuer_name(c, X509_get_subject_name(issuerCert));
  if (ca) {
    addExtension(c, issuerCert, NID_basic_constraints, "critical,CA:TRUE");
    addExtension(c, issuerCert, NID_key_usage, "critical,keyCertSign,cRLSign,digitalSignature");
    addExtension(c, issuerCert, NID_subject_key_identifier, "hash");
  } else {
    addExtension(c, issuerCert, NID_basic_constraints, "critical,CA:FALSE");
    addExtension(c, issuerCert, NID_key_usage, "critical,digitalSignature,keyEncipherment");
    addExtension(c, issuerCert, NID_ext_key_usage, extendedUsage);
    addExtension(c, issuerCert, NID_authority_key_identifier, "keyid:always");
    if (san) addExtension(c, issuerCert, NID_subject_alt_name, san);
  }
  if (X509_sign(c, issuerKey ? issuerKey : key, EVP_sha256()) == 0) fail("signing failed");
  return cert;
}

}  // namespace

Pki loadOrCreatePki(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) fail("cannot create " + dir + ": " + ec.message());
  auto path = [&](const char* f) { return dir + "/" + f; };
  KeyPtr caKey = parseKey(readFile(path("ca.key")));
  CertPtr caCert = parseCert(readFile(path("ca.crt")));
  bool newCa = !caKey || !caCert;
  if (newCa) {
    caKey = newKey();
    caCert =
        makeCert(caKey.get(), "updraft-kube-test-ca", "", nullptr, nullptr, true, nullptr, nullptr);
    writeFile(path("ca.key"), keyPem(caKey.get()), true);
    writeFile(path("ca.crt"), certPem(caCert.get()), false);
  }
  Pki pki;
  pki.dir = dir;
  pki.caCertPem = certPem(caCert.get());
  pki.serverKeyPem = readFile(path("server.key"));
  pki.serverCertPem = readFile(path("server.crt"));
  if (newCa || !parseKey(pki.serverKeyPem) || !parseCert(pki.serverCertPem)) {
    KeyPtr key = newKey();
    CertPtr cert =
        makeCert(key.get(), "kube-apiserver", "", caCert.get(), caKey.get(), false, "serverAuth",
                 "DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,"
                 "DNS:kubernetes.default.svc,IP:127.0.0.1,IP:::1");
    pki.serverKeyPem = keyPem(key.get());
    pki.serverCertPem = certPem(cert.get());
    writeFile(path("server.key"), pki.serverKeyPem, true);
    writeFile(path("server.crt"), pki.serverCertPem, false);
  }
  if (newCa || !parseKey(readFile(path("client.key"))) ||
      !parseCert(readFile(path("client.crt")))) {
    KeyPtr key = newKey();
    CertPtr cert = makeCert(key.get(), "updraft-test-admin", "system:masters", caCert.get(),
                            caKey.get(), false, "clientAuth", nullptr);
    writeFile(path("client.key"), keyPem(key.get()), true);
    writeFile(path("client.crt"), certPem(cert.get()), false);
  }
  return pki;
}

std::string writeKubeconfig(const Pki& pki, const std::string& server, const std::string& token) {
  std::string ca = base64Encode(pki.caCertPem);
  std::string clientCert = base64Encode(readFile(pki.dir + "/client.crt"));
  std::string clientKey = base64Encode(readFile(pki.dir + "/client.key"));
  std::string text =
      "apiVersion: v1\n"
      "kind: Config\n"
      "clusters:\n"
      "- name: updraft-test\n"
      "  cluster:\n"
      "    server: " +
      server +
      "\n"
      "    certificate-authority-data: " +
      ca +
      "\n"
      "users:\n"
      "- name: updraft-test\n"
      "  user:\n"
      "    token: " +
      token +
      "\n"
      "- name: updraft-test-cert\n"
      "  user:\n"
      "    client-certificate-data: " +
      clientCert +
      "\n"
      "    client-key-data: " +
      clientKey +
      "\n"
      "contexts:\n"
      "- name: updraft-test\n"
      "  context:\n"
      "    cluster: updraft-test\n"
      "    user: updraft-test\n"
      "    namespace: default\n"
      "- name: updraft-test-cert\n"
      "  context:\n"
      "    cluster: updraft-test\n"
      "    user: updraft-test-cert\n"
      "    namespace: default\n"
      "current-context: updraft-test\n";
  std::string path = pki.dir + "/kubeconfig";
  writeFile(path, text, true);
  return path;
}

}  // namespace updraft::kubetest
