// CertificateManager (generated, reused, rotated, mounted) and caBundle patching against the
// Kubernetes API test server.
#include "updraft/operator/certificates.h"

#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "metrics_api/support.h"

using namespace updraft;
using namespace updraft::kube;
using namespace updraft::testing;
using nlohmann::json;

namespace {

std::string readAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

void writeAll(const std::string& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << content;
}

mode_t modeOf(const std::string& path) {
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  return st.st_mode & 0777;
}

size_t countCerts(const std::string& pem) {
  size_t n = 0;
  for (size_t at = pem.find("BEGIN CERTIFICATE"); at != std::string::npos;
       at = pem.find("BEGIN CERTIFICATE", at + 1)) {
    ++n;
  }
  return n;
}

std::string base64(const std::string& s) {
  static const char* kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < s.size(); i += 3) {
    uint32_t v = (uint8_t(s[i]) << 16) | (uint8_t(s[i + 1]) << 8) | uint8_t(s[i + 2]);
    for (int k = 3; k >= 0; --k) out.push_back(kAlphabet[(v >> (6 * k)) & 63]);
  }
  if (i + 1 == s.size()) {
    uint32_t v = uint8_t(s[i]) << 16;
    out.push_back(kAlphabet[(v >> 18) & 63]);
    out.push_back(kAlphabet[(v >> 12) & 63]);
    out += "==";
  } else if (i + 2 == s.size()) {
    uint32_t v = (uint8_t(s[i]) << 16) | (uint8_t(s[i + 1]) << 8);
    out.push_back(kAlphabet[(v >> 18) & 63]);
    out.push_back(kAlphabet[(v >> 12) & 63]);
    out.push_back(kAlphabet[(v >> 6) & 63]);
    out += "=";
  }
  return out;
}

double hoursBetween(TimePoint a, TimePoint b) {
  return std::chrono::duration<double, std::ratio<3600>>(b - a).count();
}

CertificateOptions kedaLikeOptions(const std::string& dir) {
  CertificateOptions o;
  o.dir = dir;
  o.dnsNames = {"updraft-metrics-apiserver.updraft.svc",
                "updraft-metrics-apiserver.updraft.svc.cluster.local",
                "updraft-admission-webhooks.updraft.svc"};
  o.ipAddresses = {"127.0.0.1", "::1"};
  return o;
}

}  // namespace

TEST_CASE("certificates: a generated CA and serving certificate, their fields and files") {
  TempDir dir;
  const std::string certDir = dir.path() + "/certs";  // created by the manager
  auto m = CertificateManager::create(kedaLikeOptions(certDir));
  INFO(m.status().toString());
  REQUIRE(m.isOk());
  CHECK_FALSE((*m)->mounted());
  CertificateBundle b = (*m)->current();
  CHECK(b.generation == 1);
  CHECK_FALSE(b.mounted);

  auto ca = inspectCertificate(b.caPem);
  REQUIRE(ca.isOk());
  CHECK(ca->isCa);
  CHECK(ca->subjectCommonName == "updraft-ca");
  CHECK(ca->subjectOrganization == "updraft");
  CHECK(ca->issuerCommonName == "updraft-ca");
  CHECK(ca->keyType == "EC prime256v1");
  CHECK(ca->keyUsage == std::vector<std::string>{"digitalSignature", "keyCertSign", "cRLSign"});
  CHECK(ca->dnsNames.empty());
  CHECK(hoursBetween(ca->notBefore, ca->notAfter) == Approx(10 * 365 * 24 + 1).margin(0.01));
  CHECK(ca->serialHex.size() == 32);  // 128-bit serial

  auto leaf = inspectCertificate(b.certPem);
  REQUIRE(leaf.isOk());
  CHECK_FALSE(leaf->isCa);
  CHECK(leaf->subjectCommonName == "updraft-metrics-apiserver.updraft.svc");
  CHECK(leaf->issuerCommonName == "updraft-ca");
  CHECK(leaf->dnsNames == kedaLikeOptions("").dnsNames);
  CHECK(leaf->ipAddresses == std::vector<std::string>{"127.0.0.1", "::1"});
  CHECK(leaf->keyUsage == std::vector<std::string>{"digitalSignature"});
  CHECK(leaf->extendedKeyUsage == std::vector<std::string>{"serverAuth"});
  CHECK(leaf->keyType == "EC prime256v1");
  CHECK(hoursBetween(leaf->notBefore, leaf->notAfter) == Approx(365 * 24 + 1).margin(0.01));
  CHECK(hoursBetween(leaf->notBefore, std::chrono::system_clock::now()) == Approx(1).margin(0.05));
  CHECK(b.notBefore == leaf->notBefore);
  CHECK(b.notAfter == leaf->notAfter);
  CHECK(hoursBetween(b.notBefore, b.rotateAfter) ==
        Approx(0.8 * hoursBetween(b.notBefore, b.notAfter)).margin(0.01));
  CHECK(verifySignedBy(b.certPem, b.caPem));
  CHECK_FALSE(verifySignedBy(b.caPem, localCertificates()->current().caPem));

  // Files: the keys 0600.
  CHECK(readAll(certDir + "/ca.crt") == b.caPem);
  CHECK(readAll(certDir + "/tls.crt") == b.certPem);
  CHECK(readAll(certDir + "/tls.key") == b.keyPem);
  CHECK(readAll(certDir + "/ca.key").find("PRIVATE KEY") != std::string::npos);
  CHECK(modeOf(certDir + "/tls.key") == 0600);
  CHECK(modeOf(certDir + "/ca.key") == 0600);
  CHECK(modeOf(certDir + "/tls.crt") == 0644);

  // A restart reuses what is there...
  auto again = CertificateManager::create(kedaLikeOptions(certDir));
  REQUIRE(again.isOk());
  CHECK((*again)->current().certPem == b.certPem);
  CHECK((*again)->current().caPem == b.caPem);
  CHECK_FALSE((*again)->mounted());
  // ...and a new name gets a new serving certificate from the same CA.
  auto options = kedaLikeOptions(certDir);
  options.dnsNames.push_back("updraft-metrics-apiserver.updraft");
  auto renamed = CertificateManager::create(options);
  REQUIRE(renamed.isOk());
  CHECK((*renamed)->current().caPem == b.caPem);
  CHECK((*renamed)->current().certPem != b.certPem);
  auto renamedLeaf = inspectCertificate((*renamed)->current().certPem);
  REQUIRE(renamedLeaf.isOk());
  CHECK(renamedLeaf->dnsNames.size() == 4);
  CHECK(verifySignedBy((*renamed)->current().certPem, b.caPem));
}

TEST_CASE("certificates: bad options are refused") {
  CertificateOptions none;
  auto r = CertificateManager::create(none);
  REQUIRE_FALSE(r.isOk());
  CHECK(r.status().code() == StatusCode::kInvalidArgument);
  CertificateOptions badIp;
  badIp.dnsNames = {"x"};
  badIp.ipAddresses = {"300.1.1.1"};
  r = CertificateManager::create(badIp);
  REQUIRE_FALSE(r.isOk());
  CHECK(r.status().message() == "certificates: \"300.1.1.1\" is not an IP address");
}

TEST_CASE("certificates: rotation at 80 % of the lifetime, CA rotation keeps the old CA trusted") {
  ManualClock clock(TimePoint(std::chrono::seconds(1800000000)));
  CertificateOptions o;
  o.dnsNames = {"svc"};
  o.servingValidity = std::chrono::hours(100);
  o.caValidity = std::chrono::hours(1000);
  o.backdate = std::chrono::seconds(0);
  o.clock = &clock;
  auto made = CertificateManager::create(o);
  REQUIRE(made.isOk());
  auto& m = **made;
  std::vector<std::string> rotatedCerts;
  std::vector<std::string> rotatedCas;
  m.onRotated([&](const std::string& ca, const std::string& cert, const std::string& key) {
    CHECK(!key.empty());
    rotatedCas.push_back(ca);
    rotatedCerts.push_back(cert);
  });
  const CertificateBundle first = m.current();
  CHECK(first.rotateAfter == first.notBefore + std::chrono::hours(80));

  clock.advance(std::chrono::hours(79));
  REQUIRE(m.check().isOk());
  CHECK(rotatedCerts.empty());
  CHECK(m.current().generation == 1);

  clock.advance(std::chrono::hours(2));  // 81 h: past 80 %
  REQUIRE(m.check().isOk());
  REQUIRE(rotatedCerts.size() == 1);
  CertificateBundle second = m.current();
  CHECK(second.generation == 2);
  CHECK(second.certPem == rotatedCerts[0]);
  CHECK(second.certPem != first.certPem);
  CHECK(second.caPem == first.caPem);  // same CA
  CHECK(second.notBefore == clock.now());
  CHECK(verifySignedBy(second.certPem, first.caPem));
  REQUIRE(m.check().isOk());  // nothing more due
  CHECK(rotatedCerts.size() == 1);

  // The CA at 80 % of its 1000 h: a new CA and serving certificate; the old CA stays in the bundle.
  clock.set(first.notBefore + std::chrono::hours(801));
  REQUIRE(m.check().isOk());
  REQUIRE(rotatedCas.size() == 2);
  CertificateBundle third = m.current();
  CHECK(countCerts(third.caPem) == 2);
  CHECK(third.caPem.find(first.caPem) != std::string::npos);  // old CA second
  CHECK(third.caPem.rfind(first.caPem) != 0);
  CHECK(verifySignedBy(third.certPem, third.caPem));
  CHECK_FALSE(verifySignedBy(third.certPem, first.caPem));
  CHECK(verifySignedBy(first.certPem, third.caPem));  // connections made before still verify

  // Once the old CA has expired it leaves the bundle.
  clock.set(first.notBefore + std::chrono::hours(1001));
  REQUIRE(m.check().isOk());
  CHECK(countCerts(m.current().caPem) == 1);
  CHECK(m.current().caPem.find(first.caPem) == std::string::npos);

  // rotateNow: at once, CA kept unless asked.
  std::string caBefore = m.current().caPem;
  REQUIRE(m.rotateNow().isOk());
  CHECK(m.current().caPem == caBefore);
  REQUIRE(m.rotateNow(true).isOk());
  CHECK(m.current().caPem != caBefore);
}

TEST_CASE("certificates: the background check rotates on its own") {
  CertificateOptions o;
  o.dnsNames = {"svc"};
  o.servingValidity = std::chrono::seconds(3);
  o.backdate = std::chrono::seconds(0);
  o.rotateAt = 0.5;
  o.checkInterval = std::chrono::milliseconds(100);
  auto m = CertificateManager::create(o);
  REQUIRE(m.isOk());
  std::atomic<int> rotations{0};
  (*m)->onRotated([&](const std::string&, const std::string&, const std::string&) { ++rotations; });
  (*m)->start();
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(6);
  while (rotations == 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  (*m)->stop();
  CHECK(rotations >= 1);
  CHECK((*m)->current().generation >= 2);
}

TEST_CASE("certificates: mounted certificates are used as is and re-read when they change") {
  TempDir dir;
  auto source = localCertificates();
  auto bundle = source->current();
  writeAll(dir.path() + "/tls.crt", bundle.certPem);
  writeAll(dir.path() + "/tls.key", bundle.keyPem);
  writeAll(dir.path() + "/ca.crt", bundle.caPem);

  CertificateOptions o;
  o.dir = dir.path();  // no names needed: nothing is generated
  auto made = CertificateManager::create(o);
  INFO(made.status().toString());
  REQUIRE(made.isOk());
  auto& m = **made;
  CHECK(m.mounted());
  CHECK(m.current().mounted);
  CHECK(m.current().certPem == bundle.certPem);
  CHECK(m.current().keyPem == bundle.keyPem);
  CHECK(m.current().caPem == bundle.caPem);
  CHECK(m.current().notAfter == bundle.notAfter);
  CHECK_FALSE(std::filesystem::exists(dir.path() + "/ca.key"));  // nothing written
  CHECK(m.rotateNow().code() == StatusCode::kFailedPrecondition);

  int rotations = 0;
  std::string seenCert;
  m.onRotated([&](const std::string&, const std::string& cert, const std::string&) {
    ++rotations;
    seenCert = cert;
  });
  REQUIRE(m.check().isOk());
  CHECK(rotations == 0);  // unchanged files

  // A half-done update (new certificate, old key) is not taken...
  REQUIRE(source->rotateNow().isOk());
  auto next = source->current();
  writeAll(dir.path() + "/tls.crt", next.certPem);
  Status half = m.check();
  CHECK(half.code() == StatusCode::kInvalidArgument);
  CHECK(rotations == 0);
  CHECK(m.current().certPem == bundle.certPem);
  // ...the complete one is.
  writeAll(dir.path() + "/tls.key", next.keyPem);
  REQUIRE(m.check().isOk());
  CHECK(rotations == 1);
  CHECK(seenCert == next.certPem);
  CHECK(m.current().certPem == next.certPem);
  CHECK(m.current().generation == 2);

  // A mounted pair that does not match fails at start.
  TempDir bad;
  writeAll(bad.path() + "/tls.crt", bundle.certPem);
  writeAll(bad.path() + "/tls.key", next.keyPem);
  o.dir = bad.path();
  auto refused = CertificateManager::create(o);
  REQUIRE_FALSE(refused.isOk());
  CHECK(refused.status().code() == StatusCode::kInvalidArgument);
}

TEST_CASE("certificates: caBundle patching of the APIService and a two-webhook configuration") {
  TestApiServer api;
  auto config = KubeConfig::fromKubeconfig(api.kubeconfig());
  REQUIRE(config.isOk());
  KubeClient client(*config);

  const std::string apiServices = "/apis/apiregistration.k8s.io/v1/apiservices";
  const std::string webhookConfigs =
      "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations";
  json apiService = {
      {"apiVersion", "apiregistration.k8s.io/v1"},
      {"kind", "APIService"},
      {"metadata", {{"name", "v1beta1.external.metrics.k8s.io"}}},
      {"spec",
       {{"group", "external.metrics.k8s.io"},
        {"version", "v1beta1"},
        {"insecureSkipTLSVerify", true},
        {"groupPriorityMinimum", 100},
        {"versionPriority", 100},
        {"service",
         {{"name", "updraft-metrics-apiserver"}, {"namespace", "updraft"}, {"port", 443}}}}}};
  auto webhook = [](const std::string& name, const std::string& resource) {
    return json{{"name", name},
                {"admissionReviewVersions", {"v1"}},
                {"sideEffects", "None"},
                {"failurePolicy", "Ignore"},
                {"clientConfig",
                 {{"service",
                   {{"name", "updraft-admission-webhooks"},
                    {"namespace", "updraft"},
                    {"path", "/validate-keda-sh-v1alpha1-" + resource}}}}},
                {"rules",
                 {{{"apiGroups", {"keda.sh"}},
                   {"apiVersions", {"v1alpha1"}},
                   {"operations", {"CREATE", "UPDATE"}},
                   {"resources", {resource + "s"}}}}}};
  };
  json webhookConfig = {
      {"apiVersion", "admissionregistration.k8s.io/v1"},
      {"kind", "ValidatingWebhookConfiguration"},
      {"metadata", {{"name", "updraft-admission"}}},
      {"webhooks",
       {webhook("vscaledobject.kb.io", "scaledobject"), webhook("vscaledjob.kb.io", "scaledjob")}}};
  auto created = client.create(apiServices, apiService);
  REQUIRE(created.isOk());
  INFO(created->raw);
  REQUIRE(created->code == 201);
  created = client.create(webhookConfigs, webhookConfig);
  REQUIRE(created.isOk());
  INFO(created->raw);
  REQUIRE(created->code == 201);

  auto certs = localCertificates();
  const std::string ca = certs->current().caPem;
  REQUIRE(client.remove("/_test/requests").isOk());
  Status s = patchCaBundles(client, ca, "v1beta1.external.metrics.k8s.io", "updraft-admission");
  INFO(s.toString());
  REQUIRE(s.isOk());

  auto gotService = client.get(apiServices + "/v1beta1.external.metrics.k8s.io");
  REQUIRE(gotService.isOk());
  const json& spec = gotService->body["spec"];
  CHECK(spec["caBundle"] == base64(ca));
  CHECK_FALSE(spec.contains("insecureSkipTLSVerify"));
  CHECK(spec["service"]["name"] == "updraft-metrics-apiserver");
  CHECK(spec["groupPriorityMinimum"] == 100);

  auto gotHooks = client.get(webhookConfigs + "/updraft-admission");
  REQUIRE(gotHooks.isOk());
  const json& hooks = gotHooks->body["webhooks"];
  REQUIRE(hooks.size() == 2);
  for (size_t i = 0; i < 2; ++i) {
    CHECK(hooks[i]["clientConfig"]["caBundle"] == base64(ca));
    CHECK(hooks[i]["clientConfig"]["service"]["name"] == "updraft-admission-webhooks");
    CHECK(hooks[i]["rules"] == webhookConfig["webhooks"][i]["rules"]);
  }
  CHECK(hooks[0]["name"] == "vscaledobject.kb.io");
  CHECK(hooks[1]["name"] == "vscaledjob.kb.io");

  auto requests = [&] {
    auto r = client.get("/_test/requests");
    REQUIRE(r.isOk());
    json out = json::array();
    for (const auto& req : r->body["requests"]) {
      if (req["method"] == "PATCH") out.push_back(req);
    }
    return out;
  };
  json patches = requests();
  REQUIRE(patches.size() == 2);
  CHECK(patches[0]["contentType"] == "application/merge-patch+json");
  CHECK(patches[1]["contentType"] == "application/json-patch+json");

  // Already current: nothing is written.
  REQUIRE(client.remove("/_test/requests").isOk());
  REQUIRE(
      patchCaBundles(client, ca, "v1beta1.external.metrics.k8s.io", "updraft-admission").isOk());
  CHECK(requests().empty());

  // One webhook changed by someone else: only it is patched (a new CA after rotation).
  json one = json::array(
      {{{"op", "add"}, {"path", "/webhooks/1/clientConfig/caBundle"}, {"value", base64("other")}}});
  REQUIRE(client.patch(webhookConfigs + "/updraft-admission", one, PatchType::kJson).isOk());
  REQUIRE(patchCaBundles(client, ca, "", "updraft-admission").isOk());
  gotHooks = client.get(webhookConfigs + "/updraft-admission");
  REQUIRE(gotHooks.isOk());
  CHECK(gotHooks->body["webhooks"][1]["clientConfig"]["caBundle"] == base64(ca));

  // Missing objects are named.
  Status missing = patchCaBundles(client, ca, "v1beta1.custom.metrics.k8s.io", "");
  CHECK(missing.code() == StatusCode::kNotFound);
  CHECK(missing.message().find("get APIService v1beta1.custom.metrics.k8s.io") == 0);
  missing = patchCaBundles(client, ca, "", "nope");
  CHECK(missing.code() == StatusCode::kNotFound);
}
