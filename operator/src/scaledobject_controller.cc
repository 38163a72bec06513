// The ScaledObject controller: reconcile (keda-behaviour.md §3.1, §3.6, §3.10) and the scale loop
// (§3.2) over the engine's ScaledObjectHandler.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "controller_support.h"
#include "updraft/executor.h"
#include "updraft/fallback.h"
#include "updraft/lua/lua_policy.h"
#include "updraft/operator/controllers.h"
#include "updraft/operator/hpa_builder.h"
#include "updraft/operator/kube_scale_target.h"
#include "updraft/operator/status_json.h"
#include "updraft/scaled_object_handler.h"
#include "updraft/validate.h"
#include "work_queue.h"

namespace updraft::kube {

namespace {
constexpr const char* kResource = "scaledobjects";
constexpr const char* kNameLabel = "scaledobject.keda.sh/name";
}  // namespace

struct ScaledObjectController::Entry {
  std::timed_mutex mutex;   // serialises reconcile, polls and metric reads of this object
  std::string key;          // "<ns>/<name>"
  std::string eventKey;     // "ScaledObject/<ns>/<name>"
  std::string fingerprint;  // what the handler was built from
  std::unique_ptr<KubeScaleTarget> target;
  std::unique_ptr<ScaledObjectHandler> handler;
  TaskId task = 0;
  StatusExtras extras;
  nlohmann::json written;  // the status as last written or read (MessagePack, see writeStatus)
  bool haveWritten = false;
  int32_t lastPaused = -1;  // for events on pause transitions: -1 unknown, 0 no, 1 yes
  // The handler missed polls (built or kept while following): its state (lastActiveTime, the
  // replicas it last saw) is older than the status the leader wrote meanwhile. Its polls are
  // skipped, and the reconcile run on leading rebuilds it from the current status.
  bool stale = false;
};

ScaledObjectController::ScaledObjectController(ControllerContext context)
    : ctx_(std::move(context)),
      queue_(std::make_unique<WorkQueue>([this](const std::string& k) { return process(k); })) {}

ScaledObjectController::~ScaledObjectController() { stop(); }

void ScaledObjectController::start() { queue_->start(std::max<size_t>(1, ctx_.workers)); }

void ScaledObjectController::stop() {
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

void ScaledObjectController::enqueue(const std::string& key) { queue_->add(key); }

void ScaledObjectController::enqueueAll() {
  for (const auto& o : ctx_.cache->list(kResource, "")) enqueue(objectKey(o));
}

void ScaledObjectController::onObject(const nlohmann::json* before, const nlohmann::json& after) {
  if (!before || reconcileRelevantChange(*before, after)) enqueue(objectKey(after));
}

void ScaledObjectController::onDeleted(const nlohmann::json& last) { enqueue(objectKey(last)); }

void ScaledObjectController::onHpa(const nlohmann::json& hpa) {
  for (const auto& ref :
       hpa.value("/metadata/ownerReferences"_json_pointer, nlohmann::json::array())) {
    if (ref.value("kind", "") == "ScaledObject" &&
        ref.value("apiVersion", "").starts_with("keda.sh/")) {
      enqueue(stringAt(hpa, "/metadata/namespace") + "/" + ref.value("name", ""));
    }
  }
}

void ScaledObjectController::onAuth(const nlohmann::json& auth) {
  for (const auto& o : ctx_.cache->list(kResource, "")) {
    if (usesAuth(o, auth)) enqueue(objectKey(o));
  }
}

void ScaledObjectController::onAuthSource(const nlohmann::json& secretOrConfigMap) {
  for (const auto& key : authSourceUsers(ctx_, kResource, secretOrConfigMap)) enqueue(key);
}

bool ScaledObjectController::idle() const { return queue_->idle(); }

ControllerStats ScaledObjectController::stats() const {
  ControllerStats s;
  s.reconciles = reconciles_;
  s.failures = failures_;
  s.polls = polls_;
  s.statusWrites = statusWrites_;
  std::lock_guard lock(mutex_);
  for (const auto& [k, e] : entries_) s.objects += e->task != 0;
  return s;
}

std::shared_ptr<ScaledObjectController::Entry> ScaledObjectController::find(
    const std::string& key) const {
  std::lock_guard lock(mutex_);
  auto it = entries_.find(key);
  return it == entries_.end() ? nullptr : it->second;
}

void ScaledObjectController::drop(const std::string& key) {
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

bool ScaledObjectController::process(const std::string& key) {
  reconciles_++;
  Status s = reconcile(key);
  if (s.isOk()) return true;
  failures_++;
  spdlog::warn("ScaledObject {}: reconcile failed: {}", key, s.message());
  return false;
}

Result<double> ScaledObjectController::metricValue(const std::string& ns, const std::string& name,
                                                   const std::string& metricName,
                                                   TimePoint deadline) {
  auto e = find(ns + "/" + name);
  if (!e) {
    return Status::notFound(
        fmt::format("ScaledObject {}/{} is not known (not created, paused "
                    "or not reconciled yet)",
                    ns, name));
  }
  // Wait for a poll of this object at most until the request's deadline; other objects are
  // not affected.
  std::unique_lock lock(e->mutex, std::defer_lock);
  const auto wait = deadline - ctx_.clock->now();
  if (!lock.try_lock_for(std::max<Duration>(wait, Duration::zero()))) {
    return Status::unavailable(
        fmt::format("ScaledObject {}/{} is busy (a poll is still running)", ns, name));
  }
  if (!e->handler) {
    return Status::notFound(fmt::format("ScaledObject {}/{} has no active scalers", ns, name));
  }
  return e->handler->externalMetricValue(metricName, deadline);
}

// One reconcile, with the object's entry locked.
struct SoReconciler {
  ScaledObjectController& c;
  const ControllerContext& ctx;
  ScaledObjectController::Entry& e;
  nlohmann::json raw;  // the object; after ensureFinalizerAndLabel, as that patch returned it
  std::string ns, name;
  bool leader;

  std::string path() const { return resourcePath("keda.sh/v1alpha1", kResource, ns, name); }

  void event(Event::Type type, const std::string& reason, const std::string& message) {
    if (ctx.events && leader) ctx.events->emit(e.eventKey, Event{type, reason, message});
  }

  // Writes `st` as .status when it differs from what was written last (merge patch).
  void writeStatus(const ScalableStatus& st) {
    if (!leader) return;
    nlohmann::json next = scaledObjectStatusJson(st, e.extras);
    // e.written keeps the status as MessagePack bytes (a json binary value): an eighth of the
    // memory of the json tree, and an unchanged status (most polls) is one byte comparison.
    std::vector<std::uint8_t> bytes = nlohmann::json::to_msgpack(next);
    auto keep = [&] {
      bytes.shrink_to_fit();
      e.written = nlohmann::json::binary(std::move(bytes));
    };
    if (!e.haveWritten) {
      e.written = nlohmann::json::binary(
          nlohmann::json::to_msgpack(raw.value("status", nlohmann::json::object())));
      e.haveWritten = true;
    }
    const auto& written = static_cast<const std::vector<std::uint8_t>&>(e.written.get_binary());
    if (written == bytes) return;
    nlohmann::json diff = mergePatchDiff(nlohmann::json::from_msgpack(written), next);
    if (diff.empty()) return keep();
    auto r = ctx.client->patch(path() + "/status", {{"status", diff}}, PatchType::kMerge);
    if (r.isOk() && r->ok()) {
      keep();
      c.statusWrites_++;
    } else {
      spdlog::warn("ScaledObject {}: status not written: {}", e.key,
                   r.isOk() ? r->status("patching the status").message() : r.status().message());
    }
  }

  // KEDA: Ready False ScaledObjectCheckFailed, Active Unknown, a Warning event. A spec error waits
  // for the object to change; `retry` (the target is missing: it may be created later) comes back
  // with the work queue's backoff.
  Status checkFailed(ScalableStatus st, const std::string& message, bool retry = false) {
    st.ready = {ConditionStatus::kFalse, "ScaledObjectCheckFailed", message};
    st.active = {ConditionStatus::kUnknown, "UnknownState", "ScaledObject check failed"};
    stopLoop();
    event(Event::Type::kWarning, "ScaledObjectCheckFailed", message);
    writeStatus(st);
    return retry ? Status::unavailable(message) : Status::ok();
  }

  Status ensureFinalizerAndLabel() {
    auto finalizers = finalizersWith(raw, true);
    const bool hasLabel = raw.value("/metadata/labels"_json_pointer, nlohmann::json::object())
                              .value(kNameLabel, "") == name;
    if (!finalizers && hasLabel) return Status::ok();
    nlohmann::json meta = nlohmann::json::object();
    if (finalizers) meta["finalizers"] = std::move(*finalizers);
    if (!hasLabel) meta["labels"] = {{kNameLabel, name}};
    auto r = patchMetadata(ctx, path(), raw, std::move(meta));
    if (!r.isOk()) return r.status();
    if (!r->ok()) return r->status("adding the finalizer and label to ScaledObject " + e.key);
    // Go on with the object as written (KEDA's Update refreshes it in place): the HPA gets the
    // name label and the handler's fingerprint the new labels now, not on the next reconcile.
    if (r->body.is_object() && r->body.contains("metadata")) raw = std::move(r->body);
    return Status::ok();
  }

  // KEDA's finalizer: stop the loop, restoreToOriginalReplicaCount, drop the finalizer.
  Status finalize(const ScaledObject* so) {
    stopLoop();
    if (!leader) return Status::ok();
    auto kept = finalizersWith(raw, false);
    if (!kept) return Status::ok();
    ScalableStatus st = scalableStatusFromJson(raw.value("status", nlohmann::json::object()));
    if (so && so->spec.advanced && so->spec.advanced->restoreToOriginalReplicaCount &&
        st.originalReplicaCount) {
      auto target = makeTarget(*so);
      if (target.isOk()) {
        Status s = (*target)->setReplicas(*st.originalReplicaCount);
        if (!s.isOk()) {
          spdlog::warn("ScaledObject {}: restoring {} replicas: {}", e.key,
                       *st.originalReplicaCount, s.message());
        }
      }
    }
    event(Event::Type::kWarning, "ScaledObjectDeleted", "ScaledObject was deleted");
    auto r = patchMetadata(ctx, path(), raw, {{"finalizers", std::move(*kept)}});
    if (!r.isOk()) return r.status();
    if (!r->ok() && r->code != 404) return r->status("removing the finalizer of " + e.key);
    return Status::ok();
  }

  Result<std::unique_ptr<KubeScaleTarget>> makeTarget(const ScaledObject& so) {
    const auto& ref = so.spec.scaleTargetRef;
    auto mapping = ctx.mapper->map(ref.effectiveApiVersion(), ref.effectiveKind());
    if (!mapping.isOk()) {
      if (mapping.status().code() == StatusCode::kNotFound) {
        return Status::notFound("Target resource doesn't exist: " + mapping.status().message());
      }
      return mapping.status();
    }
    if (!mapping->hasScale) {
      return Status::invalidArgument(fmt::format(
          "Target resource doesn't expose /scale subresource: {} {}", ref.gvkString(), ref.name));
    }
    return std::make_unique<KubeScaleTarget>(*ctx.client, *ctx.cache, *mapping, ns, ref.name);
  }

  Status deleteHpa(const std::string& hpaName) {
    if (!leader || hpaName.empty()) return Status::ok();
    auto r =
        ctx.client->remove(resourcePath("autoscaling/v2", "horizontalpodautoscalers", ns, hpaName));
    if (!r.isOk()) return r.status();
    if (!r->ok() && r->code != 404) return r->status("deleting HPA " + hpaName);
    return Status::ok();
  }

  Status ensureHpa(const nlohmann::json& desired, const std::string& previousName) {
    const std::string hpaName = desired["metadata"]["name"];
    if (!previousName.empty() && previousName != hpaName) {
      Status s = deleteHpa(previousName);
      if (!s.isOk()) return s;
    }
    const std::string collection = resourcePath("autoscaling/v2", "horizontalpodautoscalers", ns);
    std::optional<nlohmann::json> existing;
    if (ctx.cache->watches("horizontalpodautoscalers")) {
      existing = ctx.cache->get("horizontalpodautoscalers", ns, hpaName);
    }
    if (!existing) {
      auto r = ctx.client->create(collection, desired);
      if (!r.isOk()) return r.status();
      if (r->ok()) {
        spdlog::info("ScaledObject {}: created HPA {}", e.key, hpaName);
        return Status::ok();
      }
      if (r->reason() != "AlreadyExists") return r->status("creating HPA " + hpaName);
      auto g = ctx.client->get(collection + "/" + hpaName);  // the cache is behind
      if (!g.isOk()) return g.status();
      if (!g->ok()) return g->status("reading HPA " + hpaName);
      existing = g->body;
    }
    if (!hpaNeedsUpdate(*existing, desired)) return Status::ok();
    auto r = ctx.client->update(collection + "/" + hpaName, hpaForUpdate(*existing, desired));
    if (!r.isOk()) return r.status();
    if (!r->ok()) return r->status("updating HPA " + hpaName);
    spdlog::info("ScaledObject {}: updated HPA {}", e.key, hpaName);
    return Status::ok();
  }

  void stopLoop() {
    if (e.task) {
      (void)ctx.scheduler->remove(e.task);
      e.task = 0;
    }
    e.handler.reset();
    e.fingerprint.clear();
  }

  Status run() {
    if (raw.contains("/metadata/deletionTimestamp"_json_pointer)) {
      Document doc = parseObject(raw);
      return finalize(doc.scaledObject());
    }
    if (leader) {
      Status s = ensureFinalizerAndLabel();
      if (!s.isOk()) return s;
    }
    Document doc = parseObject(raw);
    const ScaledObject* so = doc.scaledObject();
    ScalableStatus st = scalableStatusFromJson(raw.value("status", nlohmann::json::object()));
    if (!so) return checkFailed(st, "ScaledObject cannot be read");
    ValidationReport report = validateDocument(doc);
    if (!report.ok()) {
      return checkFailed(st, "ScaledObject doesn't have correct specification: " +
                                 toString(report.errors.front()));
    }
    e.extras.triggersTypes = triggersTypesOf(so->spec.triggers);
    e.extras.authenticationsTypes = authenticationsTypesOf(so->spec.triggers);

    // §3.6 pause.
    const PauseState pause = readPauseState(so->metadata);
    if (pause.paused) {
      stopLoop();
      std::string hpaName = stringAt(raw, "/status/hpaName");
      if (hpaName.empty()) hpaName = hpaNameFor(*so);
      Status s = deleteHpa(hpaName);
      if (!s.isOk()) return s;
      e.extras.hpaName.clear();
      st.paused = {ConditionStatus::kTrue, "ScaledObjectPaused", "ScaledObject is paused"};
      st.ready = {ConditionStatus::kTrue, "ScaledObjectReady", "ScaledObject is paused"};
      st.pausedReplicaCount = pause.pausedReplicas;
      if (pause.pausedReplicasInvalid) {
        st.ready = {ConditionStatus::kFalse, "ScaledObjectCheckFailed",
                    "failed to scale target to paused replica count: invalid value of "
                    "autoscaling.keda.sh/paused-replicas"};
      } else if (pause.pausedReplicas && leader) {
        auto target = makeTarget(*so);
        Status scaled =
            target.isOk() ? (*target)->setReplicas(*pause.pausedReplicas) : target.status();
        if (!scaled.isOk()) {
          st.ready = {ConditionStatus::kFalse, "ScaledObjectCheckFailed",
                      "failed to scale target to paused replica count: " + scaled.message()};
        }
      }
      if (e.lastPaused != 1 && st.paused.status == ConditionStatus::kTrue) {
        event(Event::Type::kNormal, "ScaledObjectPaused", "ScaledObject is paused");
      }
      e.lastPaused = 1;
      writeStatus(st);
      return Status::ok();
    }
    if (pause.pausedScaleIn || pause.pausedScaleOut) {
      if (st.paused.status != ConditionStatus::kTrue) {
        event(Event::Type::kNormal, "ScaledObjectPaused", "ScaledObject is paused");
      }
      st.paused = {ConditionStatus::kTrue, "ScaledObjectPaused", "ScaledObject is paused"};
      e.lastPaused = 1;
    } else if (st.paused.status == ConditionStatus::kTrue) {
      st.paused = {ConditionStatus::kFalse, "ScaledObjectUnpaused",
                   "pause annotation removed for ScaledObject"};
      st.pausedReplicaCount.reset();
      event(Event::Type::kNormal, "ScaledObjectUnpaused",
            "pause annotation removed for ScaledObject");
      e.lastPaused = 0;
    }

    // §3.1 step 4: the target and its /scale.
    auto target = makeTarget(*so);
    if (!target.isOk()) {
      if (target.status().code() == StatusCode::kNotFound ||
          target.status().code() == StatusCode::kInvalidArgument) {
        return checkFailed(st, target.status().message(), /*retry=*/true);
      }
      return target.status();
    }
    // As KEDA: Deployments and StatefulSets from the informer cache; GET /scale for other kinds,
    // and when the cache does not have the object (yet).
    Result<int32_t> replicas = Status::notFound("not cached");
    if ((*target)->mapping().group == "apps" && ctx.cache->watches((*target)->mapping().resource)) {
      replicas = (*target)->currentReplicas();
    }
    if (!replicas.isOk()) replicas = (*target)->readScale();
    if (!replicas.isOk()) {
      if (replicas.status().code() == StatusCode::kNotFound) {
        return checkFailed(st, "Target resource doesn't exist: " + replicas.status().message(),
                           /*retry=*/true);
      }
      return replicas.status();
    }
    const ResourceMapping& m = (*target)->mapping();
    e.extras.gvkr = ScaleTargetGvkr{m.group, m.version, m.kind, m.resource};
    e.extras.scaleTargetKind = e.extras.gvkr->kindString();
    if (!st.originalReplicaCount) st.originalReplicaCount = *replicas;

    // Triggers, with authentication and the target's container env.
    std::string authFingerprint;
    auto triggers = buildObjectTriggers(ctx, so->metadata, so->spec.triggers, "ScaledObject",
                                        workloadPodSpec(ctx, m, ns, so->spec.scaleTargetRef.name),
                                        so->spec.scaleTargetRef.envSourceContainerName,
                                        so->isUsingModifiers(), &authFingerprint);
    if (!triggers.isOk()) {
      return checkFailed(st, "failed to ensure HPA is correctly created for ScaledObject: " +
                                 triggers.status().message());
    }
    HpaBuildInput in;
    in.object = so;
    in.objectJson = &raw;
    in.triggers = &*triggers;
    in.target = *e.extras.gvkr;
    in.version = ctx.version;
    auto hpa = buildHpa(in);
    if (!hpa.isOk()) {
      return checkFailed(st, "failed to ensure HPA is correctly created for ScaledObject: " +
                                 hpa.status().message());
    }
    if (leader) {
      Status s = ensureHpa(*hpa, stringAt(raw, "/status/hpaName"));
      if (!s.isOk()) return s;
    }
    e.extras.hpaName = (*hpa)["metadata"]["name"];

    // The handler: rebuilt when what it was built from changed.
    const std::string fingerprint = handlerFingerprint(raw) + authFingerprint;
    if (!e.handler || fingerprint != e.fingerprint || (leader && e.stale)) {
      // Another leader may have written the status since this process last did.
      if (leader && e.stale) e.haveWritten = false;
      stopLoop();
      e.target = std::move(*target);
      ScaledObjectHandlerOptions hopts;
      hopts.events = ctx.events;
      hopts.metrics = ctx.metrics;
      hopts.createdAt = so->metadata.creationTimestamp.value_or(ctx.clock->now());
      hopts.initialStatus = st;
      auto policy = lua::luaPolicyFor(*so);
      if (!policy.isOk()) {
        return checkFailed(st, "scaling policy: " + policy.status().message());
      }
      hopts.policy = *policy;
      ScalerBuilder builder = scalerBuilderFor(ctx, nullptr);  // cpu/memory: the HPA reads them
      auto handler =
          ScaledObjectHandler::create(*so, std::move(*triggers), *e.target, builder, hopts);
      if (!handler.isOk()) return checkFailed(st, handler.status().message());
      e.handler = std::move(*handler);
      e.fingerprint = fingerprint;
      e.stale = !leader;
      if (ctx.events) ctx.events->setUid(e.eventKey, so->metadata.uid);
      e.task = schedulePolls(so->effectivePollingInterval());
      if (!e.task) return Status::internal("cannot schedule the polls of " + e.key);
    }
    ScalableStatus ready = e.handler->status();
    ready.ready = {ConditionStatus::kTrue, "ScaledObjectReady",
                   "ScaledObject is defined correctly and is ready for scaling"};
    ready.paused = st.paused;
    ready.pausedReplicaCount = st.pausedReplicaCount;
    ready.originalReplicaCount = st.originalReplicaCount;
    if (!hasValidFallback(*so)) {
      ready.fallback = {ConditionStatus::kFalse, "NoFallbackFound",
                        "No fallbacks are active on this scaled object"};
    }
    writeStatus(ready);
    return Status::ok();
  }

  TaskId schedulePolls(int intervalSeconds) {
    TaskSpec spec;
    spec.interval = Seconds(std::max(1, intervalSeconds));
    spec.timeout = ctx.pollTimeout;
    std::weak_ptr<ScaledObjectController::Entry> weak = c.find(e.key);
    ScaledObjectController* controller = &c;
    spec.run = [weak, controller](const PollContext& pc) {
      auto entry = weak.lock();
      if (!entry) return;
      std::lock_guard lock(entry->mutex);
      if (!controller->leader()) {
        entry->stale = true;  // checked under the lock: the reconcile on leading sees it
        return;
      }
      if (!entry->handler || entry->stale) return;
      entry->handler->poll(pc.scheduled, pc.deadline);
      controller->polls_++;
      auto raw =
          controller->ctx_.cache->get(kResource, entry->handler->object().metadata.namespace_,
                                      entry->handler->object().metadata.name);
      if (!raw) return;
      SoReconciler r{*controller,
                     controller->ctx_,
                     *entry,
                     std::move(*raw),
                     entry->handler->object().metadata.namespace_,
                     entry->handler->object().metadata.name,
                     true};
      r.writeStatus(entry->handler->status());
    };
    auto id = ctx.scheduler->add(std::move(spec));
    return id.isOk() ? *id : 0;
  }
};

Status ScaledObjectController::reconcile(const std::string& key) {
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
      slot->eventKey = "ScaledObject/" + key;
    }
    e = slot;
  }
  std::lock_guard lock(e->mutex);
  const bool deleting = raw->contains("/metadata/deletionTimestamp"_json_pointer);
  SoReconciler r{*this, ctx_, *e, std::move(*raw), ns, name, leader()};
  Status s = r.run();
  if (s.isOk() && deleting) drop(key);
  return s;
}

}  // namespace updraft::kube
