// updraft-kube-test-apiserver: a Kubernetes API server for tests, speaking the real REST protocol
// over HTTPS (see README.md beside this file).
//
//   updraft-kube-test-apiserver --port 0 --cert-dir DIR [--token T]... [--state-file F]
//       [--watch-window N] [--bookmark-interval S] [--simulate-controllers true|false]
//       [--ready-delay S] [--min-request-timeout S] [--threads N] [--bind ADDR]
//
// Prints "listening=https://127.0.0.1:<port>" as its first stdout line, then
// "kubeconfig=<path>". SIGTERM/SIGINT: saves --state-file, ends the watches, exits 0.
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include "api.h"
#include "certs.h"
#include "http_handlers.h"
#include "resources.h"
#include "store.h"
#include "watch.h"

using namespace updraft::kubetest;

namespace {

struct Options {
  std::string bind = "127.0.0.1";
  int port = 0;
  std::string certDir = "kube-test-apiserver";
  std::vector<std::string> tokens;
  std::string stateFile;
  size_t watchWindow = 10000;
  double bookmarkInterval = 5;
  bool simulateControllers = true;
  double readyDelay = 0;
  long minRequestTimeout = 1800;
  int threads = 64;
};

[[noreturn]] void usage(const std::string& error) {
  std::cerr << "updraft-kube-test-apiserver: " << error << "\n"
            << "usage: updraft-kube-test-apiserver [--port N] [--bind ADDR] [--cert-dir DIR]\n"
            << "  [--token T]... [--state-file F] [--watch-window N] [--bookmark-interval S]\n"
            << "  [--simulate-controllers true|false] [--ready-delay S]\n"
            << "  [--min-request-timeout S] [--threads N]\n";
  std::exit(2);
}

double number(const std::string& flag, const std::string& v) {
  try {
    size_t used = 0;
    double d = std::stod(v, &used);
    if (used != v.size() || d < 0) throw std::invalid_argument(v);
    return d;
  } catch (const std::exception&) {
    usage(flag + " needs a non-negative number, got \"" + v + "\"");
  }
}

Options parseArgs(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    std::string value;
    bool inlineValue = false;
    if (auto eq = a.find('='); a.rfind("--", 0) == 0 && eq != std::string::npos) {
      value = a.substr(eq + 1);
      a = a.substr(0, eq);
      inlineValue = true;
    }
    auto next = [&]() -> std::string {
      if (inlineValue) return value;
      if (i + 1 >= argc) usage(a + " needs a value");
      return argv[++i];
    };
    if (a == "--help" || a == "-h") {
      usage("help");
    } else if (a == "--port") {
      o.port = static_cast<int>(number(a, next()));
    } else if (a == "--bind") {
      o.bind = next();
    } else if (a == "--cert-dir") {
      o.certDir = next();
    } else if (a == "--token") {
      o.tokens.push_back(next());
    } else if (a == "--state-file") {
      o.stateFile = next();
    } else if (a == "--watch-window") {
      o.watchWindow = static_cast<size_t>(number(a, next()));
      if (o.watchWindow == 0) usage("--watch-window must be at least 1");
    } else if (a == "--bookmark-interval") {
      o.bookmarkInterval = number(a, next());
    } else if (a == "--simulate-controllers") {
      std::string v = inlineValue || (i + 1 < argc && argv[i + 1][0] != '-') ? next() : "true";
      o.simulateControllers = v == "true" || v == "1";
    } else if (a == "--no-simulate-controllers") {
      o.simulateControllers = false;
    } else if (a == "--ready-delay") {
      o.readyDelay = number(a, next());
    } else if (a == "--min-request-timeout") {
      o.minRequestTimeout = static_cast<long>(number(a, next()));
    } else if (a == "--threads") {
      o.threads = std::max(4, static_cast<int>(number(a, next())));
    } else {
      usage("unknown argument " + a);
    }
  }
  return o;
}

std::string randomToken() {
  std::string id = newUid();
  id.erase(std::remove(id.begin(), id.end(), '-'), id.end());
  return id;
}

// The TLS context: our server certificate; client certificates are requested, verified against
// the CA when sent, and optional.
bool setupTls(SSL_CTX& ctx, const Pki& pki) {
  SSL_CTX_set_min_proto_version(&ctx, TLS1_2_VERSION);
  SSL_CTX_set_options(&ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_SESSION_RESUMPTION_ON_RENEGOTIATION);
  BIO* certBio =
      BIO_new_mem_buf(pki.serverCertPem.data(), static_cast<int>(pki.serverCertPem.size()));
  X509* cert = PEM_read_bio_X509(certBio, nullptr, nullptr, nullptr);
  BIO_free(certBio);
  BIO* keyBio = BIO_new_mem_buf(pki.serverKeyPem.data(), static_cast<int>(pki.serverKeyPem.size()));
  EVP_PKEY* key = PEM_read_bio_PrivateKey(keyBio, nullptr, nullptr, nullptr);
  BIO_free(keyBio);
  bool ok = cert && key && SSL_CTX_use_certificate(&ctx, cert) == 1 &&
            SSL_CTX_use_PrivateKey(&ctx, key) == 1;
  X509_free(cert);
  EVP_PKEY_free(key);
  if (!ok) return false;
  BIO* caBio = BIO_new_mem_buf(pki.caCertPem.data(), static_cast<int>(pki.caCertPem.size()));
  X509* ca = PEM_read_bio_X509(caBio, nullptr, nullptr, nullptr);
  BIO_free(caBio);
  if (!ca) return false;
  X509_STORE_add_cert(SSL_CTX_get_cert_store(&ctx), ca);
  SSL_CTX_add_client_CA(&ctx, ca);
  X509_free(ca);
  SSL_CTX_set_verify(&ctx, SSL_VERIFY_PEER, nullptr);
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  Options opts = parseArgs(argc, argv);

  // Signals are taken by a thread with sigwait; every other thread blocks them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGUSR2);  // main's wake-up call for the signal thread
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  Pki pki;
  try {
    pki = loadOrCreatePki(opts.certDir);
  } catch (const std::exception& e) {
    std::cerr << "updraft-kube-test-apiserver: " << e.what() << "\n";
    return 1;
  }
  if (opts.tokens.empty()) opts.tokens.push_back(randomToken());

  WatchHub hub;
  Store store(opts.watchWindow, hub);
  if (!opts.stateFile.empty()) {
    try {
      if (store.load(opts.stateFile)) {
        std::cerr << "loaded state from " << opts.stateFile << " at resourceVersion "
                  << store.resourceVersion() << "\n";
      }
    } catch (const std::exception& e) {
      std::cerr << "updraft-kube-test-apiserver: " << e.what() << "\n";
      return 1;
    }
  }
  Registry registry;
  ApiOptions apiOptions;
  apiOptions.simulateControllers = opts.simulateControllers;
  apiOptions.readyDelay = std::chrono::milliseconds(static_cast<long>(opts.readyDelay * 1000));
  Api api(store, registry, hub, apiOptions);
  api.bootstrap();

  FrontendConfig config;
  config.tokens = opts.tokens;
  config.minRequestTimeout = std::chrono::seconds(opts.minRequestTimeout);
  config.bookmarkInterval =
      std::chrono::milliseconds(std::max(10L, static_cast<long>(opts.bookmarkInterval * 1000)));
  config.stateFile = opts.stateFile;
  HttpFrontend frontend(api, registry, store, hub, config);

  httplib::SSLServer server([&](SSL_CTX& ctx) { return setupTls(ctx, pki); });
  if (!server.is_valid()) {
    std::cerr << "updraft-kube-test-apiserver: cannot set up TLS with the certificates in "
              << opts.certDir << "\n";
    return 1;
  }
  int threads = opts.threads;
  server.new_task_queue = [threads] {
    return new httplib::ThreadPool(static_cast<size_t>(threads));
  };
  server.set_payload_max_length(3 * 1024 * 1024 + 64 * 1024);
  // Like kube-apiserver (Go's net/http): keep-alive connections are not capped at a few requests
  // and stay open while idle, so clients reuse them.
  server.set_keep_alive_max_count(1000000);
  server.set_keep_alive_timeout(120);
  server.set_read_timeout(30);
  server.set_write_timeout(30);
  frontend.install(server);

  int port = opts.port;
  if (port == 0) {
    port = server.bind_to_any_port(opts.bind);
    if (port < 0) port = 0;
  } else if (!server.bind_to_port(opts.bind, port)) {
    port = 0;
  }
  if (port <= 0) {
    std::cerr << "updraft-kube-test-apiserver: cannot listen on " << opts.bind << ":" << opts.port
              << "\n";
    return 1;
  }
  std::string hostPort =
      (opts.bind.find(':') != std::string::npos ? "[" + opts.bind + "]" : opts.bind) + ":" +
      std::to_string(port);
  frontend.setServerAddress(hostPort);
  std::string url = "https://" + hostPort;
  std::string kubeconfig;
  try {
    kubeconfig = writeKubeconfig(pki, url, opts.tokens.front());
  } catch (const std::exception& e) {
    std::cerr << "updraft-kube-test-apiserver: " << e.what() << "\n";
    return 1;
  }
  std::cout << "listening=" << url << "\n"
            << "kubeconfig=" << kubeconfig << "\n"
            << "token=" << opts.tokens.front() << std::endl;

  std::atomic<bool> stopping{false};
  std::atomic<bool> signaled{false};
  std::mutex stopMu;
  std::condition_variable stopCv;
  std::thread controllers([&] {
    std::unique_lock lock(stopMu);
    while (!stopping) {
      lock.unlock();
      api.controllerTick();
      lock.lock();
      stopCv.wait_for(lock, std::chrono::milliseconds(100), [&] { return stopping.load(); });
    }
  });
  std::thread signalThread([&] {
    int sig = 0;
    sigwait(&signals, &sig);
    if (sig == SIGUSR2) return;  // woken by main after the server stopped on its own
    signaled = true;
    std::cerr << "updraft-kube-test-apiserver: signal " << sig << ", shutting down\n";
    if (!opts.stateFile.empty()) {
      std::lock_guard lock(store.mutex());
      try {
        store.save(opts.stateFile);
      } catch (const std::exception& e) {
        std::cerr << "updraft-kube-test-apiserver: " << e.what() << "\n";
      }
    }
    hub.closeAll(false);
    server.stop();
  });

  bool ok = server.listen_after_bind();
  {
    std::lock_guard lock(stopMu);
    stopping = true;
  }
  stopCv.notify_all();
  controllers.join();
  pthread_kill(signalThread.native_handle(), SIGUSR2);
  signalThread.join();
  return ok || signaled ? 0 : 1;
}
