// The test PKI in --cert-dir: a self-signed CA, a server certificate for 127.0.0.1/localhost and
// a client certificate (CN updraft-test-admin, O system:masters), all ECDSA P-256, generated with
// OpenSSL when missing; plus the kubeconfig written once the port is known.
#pragma once

#include <string>

namespace updraft::kubetest {

struct Pki {
  std::string dir;
  std::string caCertPem;
  std::string serverCertPem;
  std::string serverKeyPem;
};

// Loads ca.crt/ca.key/server.crt/server.key/client.crt/client.key from `dir` (created if
// needed), generating what is missing. Throws std::runtime_error.
Pki loadOrCreatePki(const std::string& dir);

// Writes <dir>/kubeconfig: cluster "updraft-test" (server + certificate-authority-data), user
// "updraft-test" with the bearer token (current context) and user "updraft-test-cert" with the
// client certificate (context "updraft-test-cert"). Returns the path.
std::string writeKubeconfig(const Pki& pki, const std::string& server, const std::string& token);

}  // namespace updraft::kubetest
