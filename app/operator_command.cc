// `updraft operator`: KEDA's operator, metrics API server and admission webhooks in one process.
// Informers feed one cache; the controllers reconcile from it and poll through the scheduler; the
// external metrics API answers from the same handlers; the webhook validates against the cache.
#include <fmt/format.h>
#include <httplib.h>
#include <malloc.h>
#include <signal.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <atomic>
#include <iostream>
#include <memory>
#include <thread>

#include "commands.h"
#include "json_log.h"
#include "prometheus_metrics.h"
#include "updraft/lua/script_store.h"
#include "updraft/operator/admission.h"
#include "updraft/operator/certificates.h"
#include "updraft/operator/controllers.h"
#include "updraft/operator/informer.h"
#include "updraft/operator/kube_events.h"
#include "updraft/operator/label_selector.h"
#include "updraft/operator/leader_election.h"
#include "updraft/operator/metrics_api.h"
#include "updraft/operator/object_cache.h"
#include "updraft/operator/rest_mapper.h"

namespace updraft::app {
namespace {

constexpr const char* kVersion = "0.1.0";
constexpr const char* kNameLabel = "scaledobject.keda.sh/name";

using namespace updraft::kube;

// The webhook's view of the cluster: the informers' caches, and GETs for what is not cached.
class CachedClusterView final : public admission::ClusterView {
 public:
  CachedClusterView(const ObjectCache& cache, KubeClient& client, RestMapper& mapper)
      : cache_(cache), client_(client), mapper_(mapper) {}
  Result<std::vector<nlohmann::json>> scaledObjects(const std::string& ns) const override {
    return cache_.list("scaledobjects", ns);
  }
  Result<std::vector<nlohmann::json>> hpas(const std::string& ns) const override {
    return cache_.list("horizontalpodautoscalers", ns);
  }
  Result<std::optional<nlohmann::json>> workload(const std::string& apiVersion,
                                                 const std::string& kind, const std::string& ns,
                                                 const std::string& name) const override {
    auto m = mapper_.map(apiVersion, kind);
    if (!m.isOk()) {
      if (m.status().code() == StatusCode::kNotFound) return std::optional<nlohmann::json>();
      return m.status();
    }
    if (cache_.watches(m->resource)) return cache_.get(m->resource, ns, name);
    auto r = client_.get(resourcePath(m->apiVersion(), m->resource, ns, name));
    if (!r.isOk()) return r.status();
    if (r->code == 404) return std::optional<nlohmann::json>();
    if (!r->ok()) return r->status("reading " + kind + " " + ns + "/" + name);
    return std::optional<nlohmann::json>(r->body);
  }
  Result<std::vector<nlohmann::json>> limitRanges(const std::string& ns) const override {
    auto r = client_.get(resourcePath("v1", "limitranges", ns));
    if (!r.isOk()) return r.status();
    if (!r->ok()) return r->status("listing LimitRanges in " + ns);
    return r->body.value("items", std::vector<nlohmann::json>{});
  }

 private:
  const ObjectCache& cache_;
  KubeClient& client_;
  RestMapper& mapper_;
};

// external.metrics.k8s.io answers from the ScaledObject controller's handlers.
class ControllerMetrics final : public ExternalMetricsProvider {
 public:
  ControllerMetrics(ScaledObjectController* controller, const Clock& clock)
      : controller_(controller), clock_(clock) {}
  Result<std::vector<ExternalMetricValue>> getExternalMetric(const std::string& ns,
                                                             const std::string& metricName,
                                                             const LabelSelector& selector,
                                                             TimePoint deadline) override {
    auto name = selector.equalityValue(kNameLabel);
    if (!name) return Status::invalidArgument("scaledObject name is not specified");
    if (!controller_) return Status::unavailable("the controllers are off (--no-controllers)");
    auto v = controller_->metricValue(ns, *name, metricName, deadline);
    if (!v.isOk()) return v.status();
    ExternalMetricValue out;
    out.metricName = metricName;
    out.value = *v;
    out.timestamp = clock_.now();
    return std::vector<ExternalMetricValue>{out};
  }

 private:
  ScaledObjectController* controller_;
  const Clock& clock_;
};

// Serves nothing but the webhook's POST routes on its own port.
class NoMetrics final : public ExternalMetricsProvider {
 public:
  Result<std::vector<ExternalMetricValue>> getExternalMetric(const std::string&,
                                                             const std::string& name,
                                                             const LabelSelector&,
                                                             TimePoint) override {
    return Status::notFound("this port serves the admission webhooks, not metric " + name);
  }
};

void setUpLogging(const OperatorArgs& args) {
  auto logger = std::make_shared<spdlog::logger>("updraft",
                                                 std::make_shared<spdlog::sinks::stdout_sink_mt>());
  if (args.logFormat == "json") {
    logger->set_formatter(std::make_unique<JsonFormatter>());
  } else {
    logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
  }
  logger->set_level(spdlog::level::from_str(args.logLevel));
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(logger);
}

// A plain HTTP server on its own thread (health, Prometheus).
struct HttpServer {
  httplib::Server server;
  std::thread thread;
  Status start(const std::string& host, int port, const char* what) {
    if (!server.bind_to_port(host.c_str(), port)) {
      return Status::unavailable(fmt::format("{}: cannot bind {}:{}", what, host, port));
    }
    thread = std::thread([this] { server.listen_after_bind(); });
    return Status::ok();
  }
  ~HttpServer() {
    server.stop();
    if (thread.joinable()) thread.join();
  }
};

std::vector<std::string> certificateNames(const std::string& ns) {
  std::vector<std::string> names;
  for (const char* svc : {"updraft-metrics-apiserver", "updraft-admission-webhooks"}) {
    names.push_back(fmt::format("{}.{}.svc", svc, ns));
    names.push_back(fmt::format("{}.{}.svc.cluster.local", svc, ns));
  }
  names.push_back("localhost");
  return names;
}

}  // namespace

int runOperator(const OperatorArgs& args) {
  setUpLogging(args);
  auto fail = [](const std::string& message) {
    spdlog::error("{}", message);
    std::cerr << "updraft operator: " << message << "\n";
    return 1;
  };
  if (args.watchNamespace.find(',') != std::string::npos) {
    return fail("--namespace / WATCH_NAMESPACE \"" + args.watchNamespace +
                "\": one namespace or none (all) is supported, not a list");
  }
  auto config = KubeConfig::load(args.kubeconfig, args.context);
  if (!config.isOk()) return fail(config.status().message());
  KubeClientOptions clientOptions;
  clientOptions.qps = args.kubeApiQps;
  clientOptions.burst = args.kubeApiBurst;
  clientOptions.userAgent = std::string("updraft/") + kVersion;
  KubeClient client(*config, clientOptions);
  // Watches get their own client: a long watch must not wait behind the writes' token bucket.
  KubeClientOptions watchOptions = clientOptions;
  watchOptions.qps = 0;
  KubeClient watchClient(*config, watchOptions);

  sigset_t stopSignals;
  sigemptyset(&stopSignals);
  sigaddset(&stopSignals, SIGINT);
  sigaddset(&stopSignals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stopSignals, nullptr);

  const Clock& clock = SystemClock::instance();
  PrometheusMetrics metrics(kVersion);
  RestMapper mapper(client);
  KubeEventSink events(client);
  Scheduler scheduler(clock);
  InformerObjectCache cache;

  // Leader election: only the leader scales and writes.
  std::unique_ptr<LeaderElector> elector;
  std::atomic<bool> leading{!args.leaderElect};
  std::function<void()> onLeading;  // set once the controllers exist
  std::mutex onLeadingMutex;
  if (args.leaderElect && args.controllers) {
    LeaderElectionConfig lec;
    lec.leaseName = args.leaseName;
    lec.leaseNamespace = args.podNamespace;
    lec.identity = args.identity.empty() ? defaultLeaderIdentity() : args.identity;
    lec.leaseDuration = std::chrono::milliseconds(static_cast<int64_t>(args.leaseDuration * 1000));
    lec.renewDeadline = std::chrono::milliseconds(static_cast<int64_t>(args.renewDeadline * 1000));
    lec.retryPeriod = std::chrono::milliseconds(static_cast<int64_t>(args.retryPeriod * 1000));
    lec.rejoinAfterLoss = true;
    // The callbacks outlive `lec` (a block local): capture what they need from it by value.
    lec.callbacks.onStartedLeading = [&, identity = lec.identity] {
      leading = true;
      spdlog::info("leader election: {} is now the leader", identity);
      std::lock_guard lock(onLeadingMutex);
      if (onLeading) onLeading();
    };
    lec.callbacks.onStoppedLeading = [&] {
      leading = false;
      spdlog::warn("leader election: leadership lost; scaling and writes stop");
    };
    auto e = LeaderElector::create(*config, lec);
    if (!e.isOk()) return fail(e.status().message());
    elector = std::move(*e);
  }

  ControllerContext ctx;
  ctx.client = &client;
  ctx.cache = &cache;
  ctx.mapper = &mapper;
  ctx.scheduler = &scheduler;
  ctx.events = &events;
  ctx.metrics = &metrics;
  ctx.clock = &clock;
  ctx.isLeader = [&leading] { return leading.load(); };
  ctx.version = kVersion;
  ctx.clusterObjectNamespace =
      args.clusterObjectNamespace.empty() ? args.podNamespace : args.clusterObjectNamespace;
  std::unique_ptr<ScaledObjectController> so;
  std::unique_ptr<ScaledJobController> sj;
  if (args.controllers) {
    so = std::make_unique<ScaledObjectController>(ctx);
    sj = std::make_unique<ScaledJobController>(ctx);
  }

  // Informers. Handlers only enqueue (they run on the informers' threads).
  std::vector<std::unique_ptr<Informer>> informers;
  auto watch = [&](const std::string& apiVersion, const std::string& resource, bool namespaced,
                   InformerHandlers handlers, const std::string& labelSelector = {}) {
    InformerOptions o;
    o.apiVersion = apiVersion;
    o.resource = resource;
    o.namespace_ = namespaced ? args.watchNamespace : "";
    o.labelSelector = labelSelector;
    informers.push_back(std::make_unique<Informer>(watchClient, o, std::move(handlers)));
    cache.add(resource, informers.back().get());
  };
  auto soHandlers = [&]() -> InformerHandlers {
    if (!so) return {};
    return {[&](const nlohmann::json& o) { so->onObject(nullptr, o); },
            [&](const nlohmann::json& b, const nlohmann::json& a) { so->onObject(&b, a); },
            [&](const nlohmann::json& o) { so->onDeleted(o); }};
  };
  auto sjHandlers = [&]() -> InformerHandlers {
    if (!sj) return {};
    return {[&](const nlohmann::json& o) { sj->onObject(nullptr, o); },
            [&](const nlohmann::json& b, const nlohmann::json& a) { sj->onObject(&b, a); },
            [&](const nlohmann::json& o) { sj->onDeleted(o); }};
  };
  auto authChanged = [&](const nlohmann::json& auth) {
    if (so) so->onAuth(auth);
    if (sj) sj->onAuth(auth);
  };
  // A Secret or ConfigMap behind a TriggerAuthentication changed.
  auto refChanged = [&](const nlohmann::json& object) {
    if (so) so->onAuthSource(object);
    if (sj) sj->onAuthSource(object);
  };
  // A Secret or ConfigMap created later than the object that needs it (an object whose trigger
  // could not be built is not retried until something it uses changes). Adds of the initial lists
  // are skipped: every object is reconciled once the caches are synced.
  std::atomic<bool> controllersStarted{false};
  auto refAdded = [&](const nlohmann::json& object) {
    if (controllersStarted) refChanged(object);
  };
  auto& store = lua::ScriptStore::global();
  auto configMapData = [](const nlohmann::json& cm) {
    StringMap data;
    const nlohmann::json entries = cm.value("data", nlohmann::json::object());
    for (const auto& [k, v] : entries.items()) {
      if (v.is_string()) data[k] = v.get<std::string>();
    }
    return data;
  };
  auto cmName = [](const nlohmann::json& o) {
    return std::make_pair(o.value("/metadata/namespace"_json_pointer, std::string()),
                          o.value("/metadata/name"_json_pointer, std::string()));
  };

  watch("keda.sh/v1alpha1", "scaledobjects", true, soHandlers());
  watch("keda.sh/v1alpha1", "scaledjobs", true, sjHandlers());
  watch("keda.sh/v1alpha1", "triggerauthentications", true,
        {authChanged, [&](const nlohmann::json&, const nlohmann::json& a) { authChanged(a); },
         authChanged});
  watch("keda.sh/v1alpha1", "clustertriggerauthentications", false,
        {authChanged, [&](const nlohmann::json&, const nlohmann::json& a) { authChanged(a); },
         authChanged});
  watch("autoscaling/v2", "horizontalpodautoscalers", true,
        so ? InformerHandlers{nullptr,
                              [&](const nlohmann::json&, const nlohmann::json& a) { so->onHpa(a); },
                              [&](const nlohmann::json& o) { so->onHpa(o); }}
           : InformerHandlers{});
  if (args.controllers) {
    watch("v1", "secrets", true,
          {refAdded, [&](const nlohmann::json&, const nlohmann::json& a) { refChanged(a); },
           refChanged});
    // ConfigMaps: TriggerAuthentication refs, and Lua scripts (hot reload).
    watch("v1", "configmaps", true,
          {[&](const nlohmann::json& o) {
             auto [ns, name] = cmName(o);
             store.putConfigMap(ns, name, configMapData(o));
             refAdded(o);
           },
           [&](const nlohmann::json&, const nlohmann::json& a) {
             auto [ns, name] = cmName(a);
             store.putConfigMap(ns, name, configMapData(a));
             refChanged(a);
           },
           [&](const nlohmann::json& o) {
             auto [ns, name] = cmName(o);
             store.deleteConfigMap(ns, name);
             refChanged(o);
           }});
    watch("apps/v1", "deployments", true, {});
    watch("apps/v1", "statefulsets", true, {});
    // Only the Jobs and pods of ScaledJobs (KEDA's labels), not every pod of the cluster.
    watch("batch/v1", "jobs", true, {}, "scaledjob.keda.sh/name");
    watch("v1", "pods", true, {}, "scaledjob.keda.sh/name");
  }
  for (auto& i : informers) i->start();

  // Servers.
  std::unique_ptr<CertificateManager> certs;
  std::unique_ptr<MetricsApiServer> metricsApi, webhooks;
  ControllerMetrics provider(so.get(), clock);
  NoMetrics noMetrics;
  CachedClusterView clusterView(cache, client, mapper);
  if (args.metricsPort || args.webhookPort) {
    CertificateOptions co;
    co.dir = args.certDir;
    co.dnsNames = certificateNames(args.podNamespace);
    co.ipAddresses = {"127.0.0.1"};
    auto c = CertificateManager::create(co);
    if (!c.isOk()) return fail("certificates: " + c.status().message());
    certs = std::move(*c);
    auto patch = [&client, &args](const std::string& ca) {
      if (!args.patchCaBundles) return;
      Status s = patchCaBundles(client, ca, args.apiServiceName, args.webhookConfigName);
      if (!s.isOk()) spdlog::warn("caBundle patching: {}", s.message());
    };
    patch(certs->current().caPem);
    certs->onRotated(
        [&, patch](const std::string& ca, const std::string& cert, const std::string& key) {
          if (metricsApi) (void)metricsApi->setCertificate(cert, key);
          if (webhooks) (void)webhooks->setCertificate(cert, key);
          patch(ca);
        });
    certs->start();
  }
  if (args.metricsPort) {
    MetricsApiServerOptions mo;
    mo.bindAddress = args.bindAddress;
    mo.port = args.metricsPort;
    mo.certPem = certs->current().certPem;
    mo.keyPem = certs->current().keyPem;
    mo.clock = &clock;
    auto s = MetricsApiServer::start(mo, provider);
    if (!s.isOk()) return fail(s.status().message());
    metricsApi = std::move(*s);
    metricsApi->setReady(false);
    spdlog::info("external metrics API on https://{}:{}", args.bindAddress, metricsApi->port());
  }
  if (args.webhookPort) {
    MetricsApiServerOptions wo;
    wo.bindAddress = args.bindAddress;
    wo.port = args.webhookPort;
    wo.certPem = certs->current().certPem;
    wo.keyPem = certs->current().keyPem;
    wo.clock = &clock;
    wo.threads = 8;
    wo.maxBodyBytes = admission::kMaxReviewBytes;
    auto validate = [&clusterView](const std::string& body) -> std::pair<int, std::string> {
      auto answer = admission::respond(body, &clusterView);
      if (answer.isOk()) return {200, answer->dump()};
      return {400, admission::errorStatus(answer.status()).dump()};
    };
    for (const char* kind :
         {"scaledobject", "scaledjob", "triggerauthentication", "clustertriggerauthentication"}) {
      wo.postRoutes[std::string("/validate-keda-sh-v1alpha1-") + kind] = validate;
    }
    auto s = MetricsApiServer::start(wo, noMetrics);
    if (!s.isOk()) return fail(s.status().message());
    webhooks = std::move(*s);
    spdlog::info("admission webhooks on https://{}:{}", args.bindAddress, webhooks->port());
  }
  auto synced = [&] {
    for (const auto& i : informers) {
      if (!i->hasSynced()) return false;
    }
    return true;
  };
  HttpServer health, prometheus;
  if (args.healthPort) {
    health.server.Get("/healthz", [](const httplib::Request&, httplib::Response& res) {
      res.set_content("ok\n", "text/plain");
    });
    health.server.Get("/readyz", [&](const httplib::Request&, httplib::Response& res) {
      const bool ok = synced();
      res.status = ok ? 200 : 503;
      std::string role = !args.controllers ? "serving" : leading ? "leader" : "follower";
      res.set_content(ok ? "ok (" + role + ")\n" : "informers not synced\n", "text/plain");
    });
    Status s = health.start(args.bindAddress, args.healthPort, "--health-port");
    if (!s.isOk()) return fail(s.message());
  }
  if (args.prometheusPort) {
    prometheus.server.Get("/metrics", [&](const httplib::Request&, httplib::Response& res) {
      res.set_content(metrics.render(), "text/plain; version=0.0.4");
    });
    Status s = prometheus.start(args.bindAddress, args.prometheusPort, "--prometheus-port");
    if (!s.isOk()) return fail(s.message());
  }

  // Controllers start once the caches are filled (a reconcile must see the HPAs that exist).
  while (!synced()) {
    timespec wait{0, 50 * 1000 * 1000};
    int sig = sigtimedwait(&stopSignals, nullptr, &wait);
    if (sig == SIGINT || sig == SIGTERM) return 0;
  }
  spdlog::info("caches synced: {} ScaledObjects, {} ScaledJobs",
               cache.list("scaledobjects", "").size(), cache.list("scaledjobs", "").size());
  if (metricsApi) metricsApi->setReady(true);
  Status started = scheduler.start();
  if (!started.isOk()) return fail(started.message());
  if (so) {
    so->start();
    sj->start();
    controllersStarted = true;
    so->enqueueAll();
    sj->enqueueAll();
    std::lock_guard lock(onLeadingMutex);
    onLeading = [&] {
      so->enqueueAll();
      sj->enqueueAll();
    };
  }
  if (elector) elector->start();
  spdlog::info("updraft operator {} running{}", kVersion,
               args.leaderElect ? " (leader election on)" : "");

  const auto runStart = std::chrono::steady_clock::now();
  // After a burst of reconciles (a cold start: list, then every object at once), glibc keeps the
  // freed memory of its temporaries in its arenas: ~4 KiB per ScaledObject at 10,000. Hand it
  // back when the controllers go idle, at most once a minute (Go's scavenger does this for KEDA).
  bool reconciled = false;
  auto lastTrim = runStart - std::chrono::minutes(1);
  while (true) {
    timespec wait{0, 200 * 1000 * 1000};
    int sig = sigtimedwait(&stopSignals, nullptr, &wait);
    if (sig == SIGINT || sig == SIGTERM) {
      spdlog::info("received {}, stopping", sig == SIGINT ? "SIGINT" : "SIGTERM");
      break;
    }
    if (so) {
      const bool idle = so->idle() && sj->idle();
      reconciled |= !idle;
      if (idle && reconciled &&
          std::chrono::steady_clock::now() - lastTrim >= std::chrono::minutes(1)) {
#if defined(__GLIBC__)
        malloc_trim(0);
#endif
        lastTrim = std::chrono::steady_clock::now();
        reconciled = false;
      }
    }
    if (args.duration && std::chrono::steady_clock::now() - runStart >=
                             std::chrono::duration<double>(*args.duration)) {
      spdlog::info("--duration {} s reached, stopping", *args.duration);
      break;
    }
  }
  // Stop in reverse: no new polls, release the lease, then the watches and servers.
  if (so) {
    so->stop();
    sj->stop();
  }
  (void)scheduler.stop();
  if (elector) elector->stop();
  watchClient.stop();
  for (auto& i : informers) i->stop();
  if (metricsApi) metricsApi->stop();
  if (webhooks) webhooks->stop();
  if (certs) certs->stop();
  events.stop();
  return 0;
}

}  // namespace updraft::app
