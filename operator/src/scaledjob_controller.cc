// The ScaledJob controller (keda-behaviour.md §4): finalizer, pause, rollout cleanup, and a scale
// loop over the engine's ScaledJobHandler with Jobs created through KubeJobRunner.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "controller_support.h"
#include "updraft/operator/controllers.h"
#include "updraft/operator/kube_job_runner.h"
#include "updraft/operator/status_json.h"
#include "updraft/scaled_job_handler.h"
#include "updraft/validate.h"
#include "work_queue.h"

namespace updraft::kube {

namespace {
constexpr const char* kResource = "scaledjobs";
}  // namespace

struct ScaledJobController::Entry {
  std::mutex mutex;
  std::string key;
  std::string eventKey;
  std::string fingerprint;
  int64_t rolledOutGeneration = -1;
  std::unique_ptr<KubeJobRunner> runner;
  std::unique_ptr<ScaledJobHandler> handler;
  TaskId task = 0;
  std::string triggersTypes, authenticationsTypes;
  nlohmann::json written;
  bool haveWritten = false;
};

ScaledJobController::ScaledJobController(ControllerContext context)
    : ctx_(std::move(context)),
      queue_(std::make_unique<WorkQueue>([this](const std::string& k) { return process(k); })) {}

ScaledJobController::~ScaledJobController() { stop(); }

void ScaledJobController::start() { queue_->start(1); }  // KEDA: one ScaledJob reconcile at once

void ScaledJobController::stop() {
  queue_->stop();
  std::map<std::string, std::shared_ptr<Entry>> entries;
  {
    std::lock_guard lock(mutex_);
    entries.swap(entries_);
  }
  for (auto& [k, e] : entries) {
    if (e->task) (void)ctx_.scheduler->remove(e->task);
  }
}

void ScaledJobController::enqueue(const std::string& key) { queue_->add(key); }

void ScaledJobController::enqueueAll() {
  for (const auto& o : ctx_.cache->list(kResource, "")) enqueue(objectKey(o));
}

void ScaledJobController::onObject(const nlohmann::json* before, const nlohmann::json& after) {
  if (!before || reconcileRelevantChange(*before, after)) enqueue(objectKey(after));
}

void ScaledJobController::onDeleted(const nlohmann::json& last) { enqueue(objectKey(last)); }

void ScaledJobController::onAuth(const nlohmann::json& auth) {
  for (const auto& o : ctx_.cache->list(kResource, "")) {
    if (usesAuth(o, auth)) enqueue(objectKey(o));
  }
}

void ScaledJobController::onAuthSource(const nlohmann::json& secretOrConfigMap) {
  for (const auto& key : authSourceUsers(ctx_, kResource, secretOrConfigMap)) enqueue(key);
}

bool ScaledJobController::idle() const { return queue_->idle(); }

ControllerStats ScaledJobController::stats() const {
  ControllerStats s;
  s.reconciles = reconciles_;
  s.failures = failures_;
  s.polls = polls_;
  s.statusWrites = statusWrites_;
  std::lock_guard lock(mutex_);
  for (const auto& [k, e] : entries_) s.objects += e->task != 0;
  return s;
}

void ScaledJobController::drop(const std::string& key) {
  std::shared_ptr<Entry> e;
  {
    std::lock_guard lock(mutex_);
    auto it = entries_.find(key);
    if (it == entries_.end()) return;
    e = it->second;
    entries_.erase(it);
  }
  if (e->task) (void)ctx_.scheduler->remove(e->task);
  if (ctx_.events) ctx_.events->forget(e->eventKey);
}

bool ScaledJobController::process(const std::string& key) {
  reconciles_++;
  Status s = reconcile(key);
  if (s.isOk()) return true;
  failures_++;
  spdlog::warn("ScaledJob {}: reconcile failed: {}", key, s.message());
  return false;
}

namespace {

// Writes .status of a ScaledJob when it changed.
bool writeJobStatus(const ControllerContext& ctx, ScaledJobController::Entry& e,
                    const nlohmann::json& raw, const ScalableStatus& st) {
  nlohmann::json next = scaledJobStatusJson(st, e.triggersTypes, e.authenticationsTypes);
  if (!e.haveWritten) {
    e.written = raw.value("status", nlohmann::json::object());
    e.haveWritten = true;
  }
  nlohmann::json diff = mergePatchDiff(e.written, next);
  if (diff.empty()) return false;
  const std::string path =
      resourcePath("keda.sh/v1alpha1", kResource, stringAt(raw, "/metadata/namespace"),
                   stringAt(raw, "/metadata/name")) +
      "/status";
  auto r = ctx.client->patch(path, {{"status", diff}}, PatchType::kMerge);
  if (r.isOk() && r->ok()) {
    e.written = std::move(next);
    return true;
  }
  spdlog::warn("ScaledJob {}: status not written: {}", e.key,
               r.isOk() ? r->status("patching the status").message() : r.status().message());
  return false;
}

}  // namespace

Status ScaledJobController::reconcile(const std::string& key) {
  const auto slash = key.find('/');
  const std::string ns = key.substr(0, slash), name = key.substr(slash + 1);
  auto raw = ctx_.cache->get(kResource, ns, name);
  if (!raw) {
    drop(key);
    return Status::ok();
  }
  std::shared_ptr<Entry> e;
  {
    std::lock_guard lock(mutex_);
    auto& slot = entries_[key];
    if (!slot) {
      slot = std::make_shared<Entry>();
      slot->key = key;
      slot->eventKey = "ScaledJob/" + key;
    }
    e = slot;
  }
  std::lock_guard lock(e->mutex);
  const bool isLeader = leader();
  const std::string path = resourcePath("keda.sh/v1alpha1", kResource, ns, name);
  auto event = [&](Event::Type type, const char* reason, const std::string& message) {
    if (ctx_.events && isLeader) ctx_.events->emit(e->eventKey, Event{type, reason, message});
  };
  auto stopLoop = [&] {
    if (e->task) (void)ctx_.scheduler->remove(e->task);
    e->task = 0;
    e->handler.reset();
    e->fingerprint.clear();
  };
  if (raw->contains("/metadata/deletionTimestamp"_json_pointer)) {
    stopLoop();
    if (auto kept = isLeader ? finalizersWith(*raw, false) : std::nullopt) {
      auto r = patchMetadata(ctx_, path, *raw, {{"finalizers", std::move(*kept)}});
      if (!r.isOk()) return r.status();
      if (!r->ok() && r->code != 404) return r->status("removing the finalizer of " + key);
    }
    drop(key);
    return Status::ok();
  }
  if (auto added = isLeader ? finalizersWith(*raw, true) : std::nullopt) {
    auto r = patchMetadata(ctx_, path, *raw, {{"finalizers", std::move(*added)}});
    if (!r.isOk()) return r.status();
    if (!r->ok()) return r->status("adding the finalizer to ScaledJob " + key);
  }

  Document doc = parseObject(*raw);
  const ScaledJob* sj = doc.scaledJob();
  ScalableStatus st = scalableStatusFromJson(raw->value("status", nlohmann::json::object()));
  auto checkFailed = [&](const std::string& message) {
    stopLoop();
    st.ready = {ConditionStatus::kFalse, "ScaledJobCheckFailed", message};
    event(Event::Type::kWarning, "ScaledJobCheckFailed", message);
    if (isLeader) writeJobStatus(ctx_, *e, *raw, st);
    return Status::ok();
  };
  if (!sj) return checkFailed("ScaledJob cannot be read");
  ValidationReport report = validateDocument(doc);
  if (!report.ok()) {
    return checkFailed("ScaledJob doesn't have correct specification: " +
                       toString(report.errors.front()));
  }
  e->triggersTypes = triggersTypesOf(sj->spec.triggers);
  e->authenticationsTypes = authenticationsTypesOf(sj->spec.triggers);

  const PauseState pause = readPauseState(sj->metadata);
  if (pause.paused) {
    stopLoop();
    if (st.paused.status != ConditionStatus::kTrue) {
      event(Event::Type::kNormal, "ScaledJobPaused", "ScaledJob is paused");
    }
    st.paused = {ConditionStatus::kTrue, "ScaledJobPaused", "ScaledJob is paused"};
    st.ready = {ConditionStatus::kTrue, "ScaledJobReady",
                "ScaledJob is paused, skipping reconcile loop"};
    if (isLeader) writeJobStatus(ctx_, *e, *raw, st);
    return Status::ok();
  }
  if (st.paused.status == ConditionStatus::kTrue) {
    st.paused = {ConditionStatus::kFalse, "ScaledJobUnpaused", "ScaledJob is unpaused"};
    event(Event::Type::kNormal, "ScaledJobUnpaused", "ScaledJob is unpaused");
  }

  std::string authFingerprint;
  auto triggers = buildObjectTriggers(
      ctx_, sj->metadata, sj->spec.triggers, "ScaledJob",
      sj->spec.jobTargetRef.value("/template/spec"_json_pointer, nlohmann::json()),
      sj->spec.envSourceContainerName, false, &authFingerprint);
  if (!triggers.isOk()) {
    return checkFailed("Failed to ensure ScaledJob is correctly created: " +
                       triggers.status().message());
  }
  if (!e->runner) {
    KubeJobRunnerOptions ro;
    ro.version = ctx_.version;
    // The runner only acts (and so emits) in the leader's polls and cleanups; a runner made while
    // following must still report once this process leads.
    ro.events = ctx_.events;
    e->runner = std::make_unique<KubeJobRunner>(*ctx_.client, *ctx_.cache, *raw, ro);
  } else {
    e->runner->update(*raw);
  }
  // KEDA's rollout cleanup runs on every generation change.
  if (isLeader && sj->metadata.generation != e->rolledOutGeneration) {
    auto cleaned = e->runner->rolloutCleanup();
    if (!cleaned.isOk()) return cleaned.status();
    e->rolledOutGeneration = sj->metadata.generation;
  }

  const std::string fingerprint = handlerFingerprint(*raw) + authFingerprint;
  if (!e->handler || fingerprint != e->fingerprint) {
    stopLoop();
    auto handler =
        ScaledJobHandler::create(*sj, std::move(*triggers), *e->runner,
                                 scalerBuilderFor(ctx_, nullptr), {ctx_.events, ctx_.metrics});
    if (!handler.isOk()) return checkFailed(handler.status().message());
    e->handler = std::move(*handler);
    e->fingerprint = fingerprint;
    if (ctx_.events) ctx_.events->setUid(e->eventKey, sj->metadata.uid);
    TaskSpec spec;
    spec.interval = Seconds(std::max(1, sj->effectivePollingInterval()));
    spec.timeout = ctx_.pollTimeout;
    std::weak_ptr<Entry> weak = e;
    spec.run = [weak, this](const PollContext& pc) {
      auto entry = weak.lock();
      if (!entry || !leader()) return;
      std::lock_guard l(entry->mutex);
      if (!entry->handler) return;
      entry->handler->poll(pc.scheduled, pc.deadline);
      polls_++;
      Status cleaned = entry->runner->cleanupHistory();
      if (!cleaned.isOk()) {
        spdlog::warn("ScaledJob {}: history cleanup: {}", entry->key, cleaned.message());
      }
      const auto& meta = entry->handler->object().metadata;
      auto current = ctx_.cache->get(kResource, meta.namespace_, meta.name);
      if (current && writeJobStatus(ctx_, *entry, *current, entry->handler->status())) {
        statusWrites_++;
      }
    };
    auto id = ctx_.scheduler->add(std::move(spec));
    if (!id.isOk()) return id.status();
    e->task = *id;
  }
  ScalableStatus ready = e->handler->status();
  ready.ready = {ConditionStatus::kTrue, "ScaledJobReady",
                 "ScaledJob is defined correctly and is ready to scaling"};
  ready.paused = st.paused;
  if (isLeader && writeJobStatus(ctx_, *e, *raw, ready)) statusWrites_++;
  return Status::ok();
}

}  // namespace updraft::kube
