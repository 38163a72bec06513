// `updraft run`: the engine outside Kubernetes. ScaledObjects scale ProcessPools; ScaledJobs run
// one local process per job. Everything is checked before anything starts.
#include <fmt/chrono.h>
#include <fmt/format.h>
#include <httplib.h>
#include <signal.h>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "commands.h"
#include "json_log.h"
#include "loader.h"
#include "prometheus_metrics.h"
#include "updraft/lua/lua_policy.h"
#include "updraft/lua/script_store.h"
#include "updraft/process_job_runner.h"
#include "updraft/process_pool.h"
#include "updraft/scaled_job_handler.h"
#include "updraft/scaled_object_handler.h"
#include "updraft/scheduler.h"
#include "updraft/simulator.h"

extern char** environ;

namespace updraft::app {
namespace {

constexpr const char* kVersion = "0.1.0";

// One line per message, text or JSON, on stdout. Thread-safe. It also becomes spdlog's default
// logger, so the engine's own messages (process pools, job runners) share its format.
class Log {
 public:
  explicit Log(bool json) : json_(json) {
    // Formatters belong to sinks, so each logger has its own stdout sink; spdlog's console
    // mutex keeps their lines whole.
    raw_ = std::make_shared<spdlog::logger>("updraft-raw",
                                            std::make_shared<spdlog::sinks::stdout_sink_mt>());
    raw_->set_pattern("%v");
    raw_->flush_on(spdlog::level::info);
    auto engine = std::make_shared<spdlog::logger>(
        "updraft", std::make_shared<spdlog::sinks::stdout_sink_mt>());
    if (json) {
      engine->set_formatter(std::make_unique<JsonFormatter>());
    } else {
      engine->set_pattern("%H:%M:%S %v");
    }
    engine->flush_on(spdlog::level::info);
    previous_ = spdlog::default_logger();
    spdlog::set_default_logger(engine);
  }
  ~Log() { spdlog::set_default_logger(previous_); }
  void write(const char* level, const std::string& msg, nlohmann::json fields = {}) {
    if (json_) {
      nlohmann::json line = {{"time", JsonFormatter::isoTime(std::chrono::system_clock::now())},
                             {"level", level},
                             {"msg", msg}};
      if (fields.is_object()) line.update(fields);
      raw_->info(line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
    } else {
      raw_->info("{} {}{}", fmt::format("{:%H:%M:%S}", fmt::localtime(std::time(nullptr))),
                 std::string(level) == "info" ? "" : std::string(level) + ": ", msg);
    }
  }
  bool json() const { return json_; }

 private:
  bool json_;
  std::shared_ptr<spdlog::logger> raw_;
  std::shared_ptr<spdlog::logger> previous_;
};

class LogEvents final : public EventSink {
 public:
  explicit LogEvents(Log& log) : log_(log) {}
  void emit(const std::string& object, const Event& e) override {
    const bool warning = e.type == Event::Type::kWarning;
    log_.write(warning ? "warning" : "info",
               log_.json() ? e.message : fmt::format("{} {}: {}", object, e.reason, e.message),
               {{"event", e.reason}, {"object", object}, {"type", warning ? "Warning" : "Normal"}});
  }

 private:
  Log& log_;
};

StringMap processEnvironment() {
  StringMap env;
  for (char** e = environ; e && *e; ++e) {
    std::string kv(*e);
    auto eq = kv.find('=');
    if (eq != std::string::npos) env[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  return env;
}

std::string formatValue(const std::optional<double>& v) {
  return v ? fmt::format("{:g}", *v) : std::string("-");
}

// One ScaledObject or ScaledJob with the lock that serialises its polls and status reads.
struct Runner {
  std::mutex mutex;
  std::unique_ptr<ScaledObjectHandler> so;
  std::unique_ptr<ScaledJobHandler> sj;
  ProcessPoolTarget* pool = nullptr;
  ProcessJobRunner* jobs = nullptr;
  std::string lastDecision;
  std::string lastHpa;
  std::string lastPrinted;
  std::atomic<int> timeouts{0};
  // What --plot draws: the readings and the replicas after every poll.
  SimulationSummary history;

  std::string key() const { return so ? so->key() : sj->key(); }

  // Appends the state after a poll at `t` seconds since start. Called with `mutex` held.
  void record(double t) {
    const std::vector<TriggerReading>& readings = so ? so->readings() : sj->readings();
    if (history.triggers.size() != readings.size()) {
      history.triggers.clear();
      for (const auto& r : readings) {
        SimulationSeries s;
        s.key = r.key;
        s.metricName = r.metricName;
        s.target = r.target;
        history.triggers.push_back(std::move(s));
      }
    }
    for (size_t i = 0; i < readings.size(); ++i) {
      history.triggers[i].times.push_back(t);
      history.triggers[i].values.push_back(readings[i].value.value_or(NAN));
    }
    int32_t replicas = 0;
    if (so) {
      auto cur = pool->currentReplicas();
      replicas = cur.isOk() ? *cur : 0;
    } else if (auto counts = jobs->counts(); counts.isOk()) {
      replicas = counts->running;
    }
    if (history.replicas.empty() || history.replicas.back() != replicas) {
      history.replicaTimes.push_back(t);
      history.replicas.push_back(replicas);
    }
  }
};

// FILE for one object; FILE-<name>.svg (before the extension) for each of several.
std::string plotPathFor(const std::string& file, const std::string& name, bool several) {
  if (!several) return file;
  auto dot = file.rfind('.');
  if (dot == std::string::npos || file.find('/', dot) != std::string::npos)
    return file + "-" + name;
  return file.substr(0, dot) + "-" + name + file.substr(dot);
}

std::pair<std::string, nlohmann::json> statusLine(Runner& r) {
  std::lock_guard lock(r.mutex);
  nlohmann::json j;
  std::string text;
  const std::vector<TriggerReading>& readings = r.so ? r.so->readings() : r.sj->readings();
  const ScalableStatus& st = r.so ? r.so->status() : r.sj->status();
  if (r.so) {
    auto cur = r.pool->currentReplicas();
    auto ready = r.pool->readyReplicas();
    text = fmt::format("{} -> {}: replicas {} ({} up)", r.key(), r.pool->describe(),
                       cur.isOk() ? *cur : -1, ready.isOk() ? *ready : -1);
    j["replicas"] = cur.isOk() ? *cur : -1;
    j["ready"] = ready.isOk() ? *ready : -1;
  } else {
    auto counts = r.jobs->counts();
    text = fmt::format("{}: {} jobs running", r.key(), counts.isOk() ? counts->running : -1);
    j["running"] = counts.isOk() ? counts->running : -1;
  }
  nlohmann::json metrics = nlohmann::json::array();
  for (const auto& m : readings) {
    std::string state = !m.error.empty() ? "error: " + m.error
                        : m.fallback     ? "fallback"
                        : m.active       ? "active"
                                         : "inactive";
    text += fmt::format(" | {} {}/{} {}", m.key, formatValue(m.value),
                        fmt::format("{:g}", m.target), state);
    metrics.push_back({{"trigger", m.key},
                       {"metric", m.metricName},
                       {"value", m.value ? nlohmann::json(*m.value) : nlohmann::json()},
                       {"target", m.target},
                       {"active", m.active},
                       {"error", m.error}});
  }
  const bool active = st.active.status == ConditionStatus::kTrue;
  text += fmt::format(" | {} | {}", active ? "active" : "inactive", r.lastDecision);
  if (!r.lastHpa.empty()) text += " | HPA: " + r.lastHpa;
  if (r.so && !r.so->policyError().empty()) {
    text += " | policy error: " + r.so->policyError();
    j["policyError"] = r.so->policyError();
  }
  if (int t = r.timeouts.load()) text += fmt::format(" | {} poll timeouts", t);
  j["metrics"] = metrics;
  j["active"] = active;
  j["decision"] = r.lastDecision;
  j["hpa"] = r.lastHpa;
  j["object"] = r.key();
  return {text, j};
}

}  // namespace

int runRun(const RunArgs& args) {
  Log log(args.logFormat == "json");
  auto loaded = loadObjects(args.files, std::cerr);
  if (!loaded.isOk()) {
    std::cerr << "updraft run: " << loaded.status().message() << "\n";
    return 1;
  }
  if (loaded->scaledObjects.empty() && loaded->scaledJobs.empty()) {
    std::cerr << "updraft run: the files hold no ScaledObject or ScaledJob; nothing to run\n";
    return 1;
  }

  // Check every reference before starting anything.
  std::vector<std::string> problems;
  std::map<std::string, const ProcessPool*> poolsByName;
  for (const auto& p : loaded->pools) poolsByName[p.metadata.name] = &p;
  std::map<std::string, std::string> poolOwner;
  for (const auto& so : loaded->scaledObjects) {
    const auto& ref = so.spec.scaleTargetRef;
    if (!poolsByName.count(ref.name)) {
      problems.push_back(fmt::format(
          "ScaledObject {}/{}: spec.scaleTargetRef.name \"{}\" names no ProcessPool in the given "
          "files (updraft run scales ProcessPools)",
          so.metadata.namespace_, so.metadata.name, ref.name));
    } else if (auto [it, inserted] = poolOwner.emplace(ref.name, so.metadata.name); !inserted) {
      problems.push_back(fmt::format(
          "ScaledObject {}/{}: ProcessPool \"{}\" is already managed by the ScaledObject '{}'",
          so.metadata.namespace_, so.metadata.name, ref.name, it->second));
    }
  }
  auto checkScriptSources = [&](const char* kind, const ObjectMeta& meta,
                                const std::vector<ScaleTriggers>& triggers) {
    for (size_t i = 0; i < triggers.size(); ++i) {
      if (triggers[i].type == "lua" && triggers[i].metadata.count("scriptConfigMap")) {
        problems.push_back(fmt::format(
            "{} {}/{}: spec.triggers[{}].metadata.scriptConfigMap: ConfigMaps need a cluster "
            "(updraft operator); use scriptFile with updraft run",
            kind, meta.namespace_, meta.name, i));
      }
    }
  };
  // Scaling policies (ProcessPools are targets the engine scales itself), by namespace/name.
  std::map<std::string, std::shared_ptr<ScalingPolicy>> policies;
  for (const auto& so : loaded->scaledObjects) {
    checkScriptSources("ScaledObject", so.metadata, so.spec.triggers);
    if (so.metadata.annotations.count(annotations::kPolicyConfigMap)) {
      problems.push_back(fmt::format(
          "ScaledObject {}/{}: metadata.annotations[\"{}\"]: ConfigMaps need a cluster (updraft "
          "operator); use {} with updraft run",
          so.metadata.namespace_, so.metadata.name, annotations::kPolicyConfigMap,
          annotations::kPolicyFile));
    } else {
      std::string path;
      auto policy = lua::luaPolicyFor(so, &path);
      if (policy.isOk()) {
        policies[so.metadata.namespace_ + "/" + so.metadata.name] = *policy;
      } else {
        problems.push_back(fmt::format("ScaledObject {}/{}: {}: {}", so.metadata.namespace_,
                                       so.metadata.name, path, policy.status().message()));
      }
    }
  }
  for (const auto& sj : loaded->scaledJobs) {
    checkScriptSources("ScaledJob", sj.metadata, sj.spec.triggers);
  }
  if (!problems.empty()) {
    for (const auto& p : problems) std::cerr << "error: " << p << "\n";
    std::cerr << "updraft run: nothing was started\n";
    return 1;
  }

  // Block the stop signals in every thread; the main thread waits for them.
  sigset_t stopSignals;
  sigemptyset(&stopSignals);
  sigaddset(&stopSignals, SIGINT);
  sigaddset(&stopSignals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stopSignals, nullptr);

  LogEvents events(log);
  PrometheusMetrics metrics(kVersion);
  // Script reloads (files edited while running) show in /metrics; the store logs them itself.
  const int reloadListener = lua::ScriptStore::global().addListener(
      [&metrics](const lua::ReloadEvent& e) { metrics.scriptReload(e.script, e.ok); });
  struct ListenerGuard {
    int id;
    ~ListenerGuard() { lua::ScriptStore::global().removeListener(id); }
  } reloadGuard{reloadListener};
  LocalAuthResolver auth(loaded->auths, args.secretsDir);
  const StringMap baseEnv = processEnvironment();
  const Clock& clock = SystemClock::instance();
  const auto now = clock.now();
  OutputSink output = [&log](std::string_view line) { log.write("info", std::string(line)); };

  std::map<std::string, std::unique_ptr<ProcessPoolTarget>> pools;
  std::vector<std::unique_ptr<ProcessJobRunner>> jobRunners;
  std::vector<std::shared_ptr<Runner>> runners;
  std::vector<ScalerContext> contexts;
  contexts.reserve(loaded->scaledObjects.size() + loaded->scaledJobs.size());
  auto fail = [&](const std::string& msg) {
    std::cerr << "error: " << msg << "\nupdraft run: stopping\n";
    return 1;
  };

  for (ScaledObject so : loaded->scaledObjects) {
    const ProcessPool& poolDef = *poolsByName[so.spec.scaleTargetRef.name];
    // In `run` the target is the named ProcessPool, whatever kind the YAML says (events and
    // status then name it truthfully).
    so.spec.scaleTargetRef.apiVersion = kUpdraftApiVersion;
    so.spec.scaleTargetRef.kind = "ProcessPool";
    ProcessPoolOptions popts;
    popts.output = output;
    auto pool = ProcessPoolTarget::create(poolDef, popts);
    if (!pool.isOk()) return fail(pool.status().message());
    StringMap env = baseEnv;
    for (const auto& [k, v] : poolDef.spec.env) env[k] = v;
    TriggerBuildOptions topts;
    topts.auth = &auth;
    topts.resolvedEnv = env;
    topts.asMetricSource = so.isUsingModifiers();
    auto triggers = buildTriggers(so.metadata, so.spec.triggers, topts);
    if (!triggers.isOk()) {
      return fail(fmt::format("ScaledObject {}/{}: {}", so.metadata.namespace_, so.metadata.name,
                              triggers.status().message()));
    }
    contexts.push_back(ScalerContext{&clock, pool->get()});
    const ScalerContext* ctx = &contexts.back();
    ScalerBuilder builder = [ctx](const BuiltTrigger& t) {
      return t.definition->createScaler(*ctx);
    };
    ScaledObjectHandlerOptions hopts;
    hopts.events = &events;
    hopts.metrics = &metrics;
    hopts.createdAt = now;
    hopts.policy = policies[so.metadata.namespace_ + "/" + so.metadata.name];
    auto runner = std::make_shared<Runner>();
    auto handler = ScaledObjectHandler::create(so, std::move(*triggers), **pool, builder, hopts);
    if (!handler.isOk()) return fail(handler.status().message());
    runner->so = std::move(*handler);
    runner->pool = pool->get();
    pools[poolDef.metadata.name] = std::move(*pool);
    runners.push_back(std::move(runner));
  }
  for (const auto& sj : loaded->scaledJobs) {
    ProcessJobRunnerOptions jopts;
    jopts.output = output;
    jopts.successfulJobsHistoryLimit = sj.spec.successfulJobsHistoryLimit.value_or(100);
    jopts.failedJobsHistoryLimit = sj.spec.failedJobsHistoryLimit.value_or(100);
    auto jobs = ProcessJobRunner::create(sj, jopts);
    if (!jobs.isOk()) {
      return fail(fmt::format("ScaledJob {}/{}: {}", sj.metadata.namespace_, sj.metadata.name,
                              jobs.status().message()));
    }
    TriggerBuildOptions topts;
    topts.objectKind = "ScaledJob";
    topts.auth = &auth;
    topts.resolvedEnv = baseEnv;
    auto triggers = buildTriggers(sj.metadata, sj.spec.triggers, topts);
    if (!triggers.isOk()) {
      return fail(fmt::format("ScaledJob {}/{}: {}", sj.metadata.namespace_, sj.metadata.name,
                              triggers.status().message()));
    }
    contexts.push_back(ScalerContext{&clock, nullptr});
    const ScalerContext* ctx = &contexts.back();
    ScalerBuilder builder = [ctx](const BuiltTrigger& t) {
      return t.definition->createScaler(*ctx);
    };
    auto runner = std::make_shared<Runner>();
    auto handler =
        ScaledJobHandler::create(sj, std::move(*triggers), **jobs, builder, {&events, &metrics});
    if (!handler.isOk()) return fail(handler.status().message());
    runner->sj = std::move(*handler);
    runner->jobs = jobs->get();
    jobRunners.push_back(std::move(*jobs));
    runners.push_back(std::move(runner));
  }

  // Start replicas the pools ask for at start.
  for (const auto& p : loaded->pools) {
    if (pools.count(p.metadata.name) && p.spec.initialReplicas > 0) {
      (void)pools[p.metadata.name]->setReplicas(p.spec.initialReplicas);
    }
  }

  Scheduler scheduler(clock);
  const Duration pollTimeout = Seconds(6);  // KEDA: max(5 s, 2 x the 3 s HTTP timeout)
  for (const std::shared_ptr<Runner>& r : runners) {
    const int interval = r->so ? r->so->object().effectivePollingInterval()
                               : r->sj->object().effectivePollingInterval();
    TaskSpec poll;
    poll.interval = Seconds(interval);
    poll.timeout = pollTimeout;
    poll.run = [r, start = clock.now()](const PollContext& c) {
      std::lock_guard lock(r->mutex);
      if (r->so) {
        r->lastDecision = r->so->poll(c.scheduled, c.deadline).outcome.decision;
      } else {
        r->lastDecision = r->sj->poll(c.scheduled, c.deadline).decision;
      }
      r->record(std::chrono::duration<double>(c.scheduled - start).count());
    };
    poll.onTimeout = [r, &log, interval] {
      // Runs on the scheduler's watchdog while the poll may still own the handler: log only.
      r->timeouts++;
      log.write("warning", fmt::format("{}: a poll did not finish within 6 s", r->key()),
                {{"object", r->key()}, {"pollingInterval", interval}});
    };
    auto id = scheduler.add(std::move(poll));
    if (!id.isOk()) return fail(id.status().message());
    if (r->so) {
      TaskSpec hpa;
      hpa.interval =
          std::chrono::duration_cast<Duration>(std::chrono::duration<double>(args.hpaSync));
      hpa.timeout = pollTimeout;
      hpa.run = [r](const PollContext& c) {
        std::lock_guard lock(r->mutex);
        HpaReport rep = r->so->hpaSync(c.scheduled, c.deadline);
        if (rep.evaluated || rep.rescaled || !rep.policyError.empty()) {
          r->lastHpa = rep.rescaled ? fmt::format("{} -> {} ({})", rep.from, rep.to, rep.reason)
                                    : rep.reason;
        }
      };
      auto hid = scheduler.add(std::move(hpa));
      if (!hid.isOk()) return fail(hid.status().message());
    }
  }

  std::unique_ptr<httplib::Server> http;
  std::thread httpThread;
  if (!args.listen.empty()) {
    auto colon = args.listen.rfind(':');
    int port = colon == std::string::npos ? -1 : std::atoi(args.listen.c_str() + colon + 1);
    std::string host = colon == std::string::npos ? "" : args.listen.substr(0, colon);
    if (port <= 0 || port > 65535 || host.empty()) {
      return fail("--listen \"" + args.listen + "\": expected host:port, e.g. 127.0.0.1:9022");
    }
    http = std::make_unique<httplib::Server>();
    http->Get("/metrics", [&metrics](const httplib::Request&, httplib::Response& res) {
      res.set_content(metrics.render(), "text/plain; version=0.0.4");
    });
    http->Get("/healthz", [](const httplib::Request&, httplib::Response& res) {
      res.set_content("ok\n", "text/plain");
    });
    if (!http->bind_to_port(host.c_str(), port)) {
      return fail(fmt::format("--listen {}: cannot bind: {}", args.listen, std::strerror(errno)));
    }
    httpThread = std::thread([&http] { http->listen_after_bind(); });
    log.write("info", "serving /metrics and /healthz on http://" + args.listen);
  }

  log.write("info", fmt::format("updraft run: {} ScaledObject(s), {} ScaledJob(s); Ctrl-C stops",
                                loaded->scaledObjects.size(), loaded->scaledJobs.size()));
  Status started = scheduler.start();
  if (!started.isOk()) return fail(started.message());

  const auto runStart = std::chrono::steady_clock::now();
  auto nextStatus = runStart;
  while (true) {
    timespec wait{0, 200 * 1000 * 1000};
    int sig = sigtimedwait(&stopSignals, nullptr, &wait);
    if (sig == SIGINT || sig == SIGTERM) {
      log.write("info", fmt::format("received {}, stopping", sig == SIGINT ? "SIGINT" : "SIGTERM"));
      break;
    }
    auto t = std::chrono::steady_clock::now();
    if (args.duration && t - runStart >= std::chrono::duration<double>(*args.duration)) {
      log.write("info", fmt::format("--duration {} s reached, stopping", *args.duration));
      break;
    }
    if (t >= nextStatus) {
      nextStatus = t + Seconds(args.statusEverySeconds);
      for (auto& r : runners) {
        auto [text, j] = statusLine(*r);
        if (text == r->lastPrinted) continue;
        r->lastPrinted = text;
        log.write("info", log.json() ? "status" : text, log.json() ? j : nlohmann::json{});
      }
    }
  }
  if (Status stopped = scheduler.stop(); !stopped.isOk()) {
    // A poll is hung inside a scaler and still holds its handler: stop every child process,
    // then leave without running destructors the hung thread could still reach.
    log.write("warning", "a poll did not stop in time (" + stopped.message() +
                             "); stopping processes and exiting");
    for (auto& [_, p] : pools) p->shutdown();
    for (auto& j : jobRunners) j->shutdown();
    std::fflush(nullptr);
    _exit(0);
  }
  if (http) {
    http->stop();
    httpThread.join();
  }
  for (auto& r : runners) {
    auto [text, j] = statusLine(*r);
    log.write("info", log.json() ? "final status" : "final: " + text,
              log.json() ? j : nlohmann::json{});
  }
  if (!args.plotFile.empty()) {
    for (auto& r : runners) {
      std::lock_guard lock(r->mutex);
      const ObjectMeta& meta = r->so ? r->so->object().metadata : r->sj->object().metadata;
      const std::string path = plotPathFor(args.plotFile, meta.name, runners.size() > 1);
      std::string svg = renderSimulationChart(r->key() + ": updraft run", r->history, !r->so);
      std::ofstream f(path, std::ios::binary);
      if (f && (f << svg)) {
        log.write("info", "chart of " + r->key() + " written to " + path);
      } else {
        log.write("error", "cannot write the chart " + path);
      }
    }
  }
  runners.clear();
  for (auto& [_, p] : pools) p->shutdown();
  jobRunners.clear();
  log.write("info", "stopped; no process left running");
  return 0;
}

}  // namespace updraft::app
