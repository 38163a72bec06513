#include "updraft/operator/kube_scale_target.h"

#include <fmt/format.h>

#include <algorithm>
#include <limits>

namespace updraft::kube {
namespace {

// A written value wins over the cache this long at most (the cache normally catches up in ms).
constexpr auto kWrittenHold = std::chrono::seconds(10);

int32_t intAt(const nlohmann::json& object, const nlohmann::json::json_pointer& ptr,
              int32_t fallback) {
  if (!object.contains(ptr)) return fallback;
  const auto& v = object.at(ptr);
  if (!v.is_number_integer()) return fallback;
  return static_cast<int32_t>(
      std::clamp<int64_t>(v.get<int64_t>(), 0, std::numeric_limits<int32_t>::max()));
}

}  // namespace

KubeScaleTarget::KubeScaleTarget(KubeClient& client, const ObjectCache& cache,
                                 ResourceMapping mapping, std::string ns, std::string name)
    : client_(client),
      cache_(cache),
      mapping_(std::move(mapping)),
      ns_(std::move(ns)),
      name_(std::move(name)) {}

std::string KubeScaleTarget::describe() const {
  return fmt::format("{} {}/{}", mapping_.kind, ns_, name_);
}

std::string KubeScaleTarget::scalePath() const {
  return resourcePath(mapping_.apiVersion(), mapping_.resource, ns_, name_) + "/scale";
}

Result<int32_t> KubeScaleTarget::readScale() {
  auto r = client_.get(scalePath());
  if (!r.isOk()) return r.status();
  if (!r->ok()) return r->status(fmt::format("reading the scale of {}", describe()));
  // Deployments default spec.replicas to 1; a /scale without it means 0 (KEDA: nil => 1 for the
  // typed kinds, which the API server always fills).
  return intAt(r->body, "/spec/replicas"_json_pointer, 0);
}

Result<KubeScaleTarget::Observed> KubeScaleTarget::observe() {
  Observed o;
  if (cache_.watches(mapping_.resource)) {
    auto obj = cache_.get(mapping_.resource, ns_, name_);
    if (!obj) {
      return Status::notFound(fmt::format("{} not found", describe()));
    }
    o.spec = intAt(*obj, "/spec/replicas"_json_pointer, 1);
    o.ready = intAt(*obj, "/status/readyReplicas"_json_pointer, 0);
  } else {
    auto r = client_.get(scalePath());
    if (!r.isOk()) return r.status();
    if (!r->ok()) return r->status(fmt::format("reading the scale of {}", describe()));
    o.spec = intAt(r->body, "/spec/replicas"_json_pointer, 0);
    o.ready = intAt(r->body, "/status/replicas"_json_pointer, 0);
  }
  std::lock_guard lock(mutex_);
  if (written_) {
    if (o.spec == *written_ || std::chrono::steady_clock::now() - writtenAt_ > kWrittenHold) {
      written_.reset();
    } else {
      o.spec = *written_;
    }
  }
  return o;
}

Result<int32_t> KubeScaleTarget::currentReplicas() {
  auto o = observe();
  if (!o.isOk()) return o.status();
  return o->spec;
}

Result<int32_t> KubeScaleTarget::readyReplicas() {
  auto o = observe();
  if (!o.isOk()) return o.status();
  return o->ready;
}

Status KubeScaleTarget::setReplicas(int32_t replicas) {
  auto r = client_.patch(scalePath(), {{"spec", {{"replicas", replicas}}}}, PatchType::kMerge);
  if (!r.isOk()) return r.status();
  if (!r->ok()) return r->status(fmt::format("scaling {} to {}", describe(), replicas));
  std::lock_guard lock(mutex_);
  written_ = replicas;
  writtenAt_ = std::chrono::steady_clock::now();
  return Status::ok();
}

}  // namespace updraft::kube
