// TLS certificates for the operator's servers (the external metrics API and the admission
// webhooks), as KEDA's --enable-cert-rotation does it: a self-signed CA and a serving certificate
// generated, written and rotated by the operator itself, unless certificates are mounted.
//
//   CertificateOptions o;
//   o.dir = "/certs";
//   o.dnsNames = {"updraft-metrics-apiserver.updraft.svc",
//                 "updraft-metrics-apiserver.updraft.svc.cluster.local",
//                 "updraft-admission-webhooks.updraft.svc"};
//   auto certs = CertificateManager::create(o);            // loads or generates at once
//   (*certs)->onRotated([&](const std::string& ca, const std::string& cert, const std::string& key)
//   {
//     patchCaBundles(client, ca, "v1beta1.external.metrics.k8s.io", "updraft-admission");
//     server->setCertificate(cert, key);
//   });
//   (*certs)->start();                                     // checks every checkInterval
//
// Modes, decided at create() from what `dir` holds:
// - Mounted: `tls.crt` and `tls.key` exist and `ca.key` does not (a Secret mounted by the user or
//   cert-manager: tls.crt, tls.key, optionally ca.crt). Used as is; never written. Re-read at every
//   check; a changed pair that parses and matches is installed (onRotated fires), a half-written
//   or mismatched one is ignored until the next check (check() returns the error).
// - Generated: otherwise (an empty or missing dir, or one this manager wrote: it keeps `ca.key`).
//   A CA (ECDSA P-256, CN caCommonName, O organization, caValidity, CA:TRUE, keyCertSign+cRLSign)
//   and a serving certificate signed by it (ECDSA P-256, CN the first DNS name, SANs dnsNames +
//   ipAddresses, digitalSignature, serverAuth, servingValidity) are reused when valid, signed by
//   the CA, covering every requested name and not past their rotation point; otherwise made anew.
//   Files (when `dir` is set): ca.crt, ca.key, tls.crt, tls.key, keys mode 0600, each written to a
//   temporary file and renamed. An empty `dir` keeps everything in memory.
// - Rotation (generated): a check at or after notBefore + rotateAt * (notAfter - notBefore) (80 %
//   by default) issues a new serving certificate with the same CA; the same rule on the CA issues a
//   new CA and a new serving certificate. The previous CA stays in caPem (ca.crt holds the new CA
//   first, then the previous ones until they expire), so clients that trust the bundle keep
//   trusting connections made before the switch. Validity starts `backdate` before now (clock
//   skew, as KEDA's cert-controller does).
// onRotated callbacks run on the thread that ran the check (the manager's own after start()),
// with the new bundle; certificates in use are replaced only by the callbacks.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "updraft/clock.h"
#include "updraft/operator/kube_client.h"
#include "updraft/status.h"

namespace updraft::kube {

struct CertificateOptions {
  std::string dir;  // empty: in memory only (generated mode)
  std::vector<std::string> dnsNames;
  std::vector<std::string> ipAddresses;  // "127.0.0.1", "::1", ...
  std::string caCommonName = "updraft-ca";
  std::string organization = "updraft";
  std::chrono::seconds caValidity{10LL * 365 * 24 * 3600};
  std::chrono::seconds servingValidity{365LL * 24 * 3600};
  double rotateAt = 0.8;  // fraction of a certificate's lifetime after which it is replaced
  std::chrono::seconds backdate{3600};
  std::chrono::milliseconds checkInterval{10000};  // start(): how often check() runs
  const Clock* clock = nullptr;                    // the system clock when null
};

struct CertificateBundle {
  std::string caPem;    // the CA (generated: current first, then previous unexpired ones)
  std::string certPem;  // the serving certificate (mounted: as the file holds it, chain included)
  std::string keyPem;
  TimePoint notBefore{};  // of the serving certificate
  TimePoint notAfter{};
  TimePoint rotateAfter{};  // generated: when a check replaces it
  bool mounted = false;
  uint64_t generation = 0;  // 1 at create(), +1 per change
};

class CertificateManager {
 public:
  using RotatedCallback = std::function<void(const std::string& caPem, const std::string& certPem,
                                             const std::string& keyPem)>;

  // Loads or generates (see above). Errors: InvalidArgument (no names for a generated
  // certificate, a mounted pair that does not parse or match), Internal (OpenSSL, file writes).
  static Result<std::unique_ptr<CertificateManager>> create(CertificateOptions options);
  ~CertificateManager();  // stop()
  CertificateManager(const CertificateManager&) = delete;
  CertificateManager& operator=(const CertificateManager&) = delete;

  CertificateBundle current() const;
  bool mounted() const { return mounted_; }

  // Adds a listener for later changes (not called for the current bundle).
  void onRotated(RotatedCallback callback);

  // Starts a thread running check() every checkInterval. stop() ends it. Idempotent.
  void start();
  void stop();

  // One check now: mounted, re-read the files; generated, rotate what is due (and drop expired
  // previous CAs). Callbacks run before it returns when something changed.
  Status check();
  // Generated mode: a new serving certificate now, with the current CA (FailedPrecondition when
  // mounted). `withCa` issues a new CA as well.
  Status rotateNow(bool withCa = false);

 private:
  struct State;
  explicit CertificateManager(CertificateOptions options);
  TimePoint now() const;
  Status initialize();
  Status checkLocked(bool forceServing, bool forceCa);
  void publish(const CertificateBundle& bundle);

  CertificateOptions options_;
  bool mounted_ = false;
  std::unique_ptr<State> state_;
  mutable std::mutex mutex_;  // state_ and bundle_
  std::mutex checkMutex_;     // one check at a time
  CertificateBundle bundle_;
  std::mutex callbacksMutex_;
  std::vector<RotatedCallback> callbacks_;
  std::mutex threadMutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;
};

// What a certificate says, for logs and tests.
struct CertificateInfo {
  std::string subjectCommonName;
  std::string subjectOrganization;
  std::string issuerCommonName;
  std::vector<std::string> dnsNames;
  std::vector<std::string> ipAddresses;
  TimePoint notBefore{};
  TimePoint notAfter{};
  bool isCa = false;
  std::vector<std::string> keyUsage;          // "digitalSignature", "keyCertSign", "cRLSign", ...
  std::vector<std::string> extendedKeyUsage;  // "serverAuth", "clientAuth"
  std::string keyType;                        // "EC prime256v1", "RSA 2048", ...
  std::string serialHex;
  std::string sha256Fingerprint;  // hex, uppercase
};

// The first certificate of a PEM text.
Result<CertificateInfo> inspectCertificate(const std::string& pem);
// Whether `certPem` (its first certificate) is signed by one of the certificates in `caPem`.
bool verifySignedBy(const std::string& certPem, const std::string& caPem);

// Puts `caPem` (base64, as the API's []byte fields) into the APIService's spec.caBundle (merge
// patch; it also removes insecureSkipTLSVerify, which the API server refuses next to a caBundle)
// and into webhooks[*].clientConfig.caBundle of the ValidatingWebhookConfiguration (one JSON patch
// with an `add` per webhook, guarded by a `test` of metadata.resourceVersion, retried on conflict:
// a merge patch would replace the whole webhooks array). Objects already carrying the bundle are
// not written. An empty name skips that object. Errors name the object (NotFound when missing).
Status patchCaBundles(KubeClient& client, const std::string& caPem,
                      const std::string& apiServiceName, const std::string& webhookConfigName);

}  // namespace updraft::kube
