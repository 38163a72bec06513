#include "updraft/operator/leader_election.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <ctime>
#include <limits>

namespace updraft::kube {
namespace {

constexpr double kJitterFactor = 1.2;  // client-go's JitterFactor
constexpr auto kMinRequestTimeout = std::chrono::milliseconds(100);

std::string describeDuration(std::chrono::milliseconds d) {
  if (d.count() % 1000 == 0) return fmt::format("{}s", d.count() / 1000);
  if (d.count() >= 1000) return fmt::format("{}s", static_cast<double>(d.count()) / 1000.0);
  return fmt::format("{}ms", d.count());
}

std::string stringField(const nlohmann::json& object, const char* key) {
  if (!object.is_object()) return {};
  auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
}

int32_t int32Field(const nlohmann::json& object, const char* key) {
  if (!object.is_object()) return 0;
  auto it = object.find(key);
  if (it == object.end() || !it->is_number_integer()) return 0;
  int64_t v = it->get<int64_t>();
  return static_cast<int32_t>(std::clamp<int64_t>(v, std::numeric_limits<int32_t>::min(),
                                                  std::numeric_limits<int32_t>::max()));
}

}  // namespace

Status validateLeaderElectionConfig(const LeaderElectionConfig& c) {
  if (c.leaseName.empty())
    return Status::invalidArgument("leader election: the lease name is empty");
  if (c.identity.empty()) return Status::invalidArgument("leader election: the identity is empty");
  if (c.leaseDuration < std::chrono::seconds(1)) {
    return Status::invalidArgument(
        "leader election: leaseDuration must be at least 1s (a Lease records whole seconds), got " +
        describeDuration(c.leaseDuration));
  }
  if (c.renewDeadline.count() <= 0) {
    return Status::invalidArgument("leader election: renewDeadline must be greater than zero");
  }
  if (c.retryPeriod.count() <= 0) {
    return Status::invalidArgument("leader election: retryPeriod must be greater than zero");
  }
  if (c.leaseDuration <= c.renewDeadline) {
    return Status::invalidArgument(
        "leader election: leaseDuration must be greater than renewDeadline (" +
        describeDuration(c.leaseDuration) + " <= " + describeDuration(c.renewDeadline) + ")");
  }
  if (static_cast<double>(c.renewDeadline.count()) <=
      kJitterFactor * static_cast<double>(c.retryPeriod.count())) {
    return Status::invalidArgument(
        "leader election: renewDeadline must be greater than retryPeriod*JitterFactor (" +
        describeDuration(c.renewDeadline) + " <= 1.2 x " + describeDuration(c.retryPeriod) + ")");
  }
  return Status::ok();
}

std::string defaultLeaderIdentity() {
  char host[256] = {};
  std::string hostname;
  if (::gethostname(host, sizeof host - 1) == 0) hostname = host;
  if (hostname.empty()) hostname = "updraft";
  std::random_device rd;
  std::mt19937_64 rng((static_cast<uint64_t>(rd()) << 32) ^ rd());
  uint64_t hi = rng();
  uint64_t lo = rng();
  hi = (hi & 0xffffffffffff0fffULL) | 0x0000000000004000ULL;  // version 4
  lo = (lo & 0x3fffffffffffffffULL) | 0x8000000000000000ULL;  // variant 10
  return fmt::format("{}_{:08x}-{:04x}-{:04x}-{:04x}-{:012x}", hostname, hi >> 32,
                     (hi >> 16) & 0xffff, hi & 0xffff, lo >> 48, lo & 0xffffffffffffULL);
}

std::string formatMicroTime(TimePoint time) {
  int64_t us =
      std::chrono::duration_cast<std::chrono::microseconds>(time.time_since_epoch()).count();
  int64_t secs = us / 1000000;
  int64_t frac = us % 1000000;
  if (frac < 0) {
    frac += 1000000;
    --secs;
  }
  std::time_t t = static_cast<std::time_t>(secs);
  std::tm g{};
  ::gmtime_r(&t, &g);
  return fmt::format("{:04d}-{:02d}-{:02d}T{:02d}:{:02d}:{:02d}.{:06d}Z", g.tm_year + 1900,
                     g.tm_mon + 1, g.tm_mday, g.tm_hour, g.tm_min, g.tm_sec, frac);
}

LeaseRecord LeaseRecord::fromLease(const nlohmann::json& lease) {
  LeaseRecord r;
  if (!lease.is_object()) return r;
  auto it = lease.find("spec");
  if (it == lease.end() || !it->is_object()) return r;
  const nlohmann::json& spec = *it;
  r.holderIdentity = stringField(spec, "holderIdentity");
  r.leaseDurationSeconds = int32Field(spec, "leaseDurationSeconds");
  r.acquireTime = stringField(spec, "acquireTime");
  r.renewTime = stringField(spec, "renewTime");
  r.leaseTransitions = int32Field(spec, "leaseTransitions");
  return r;
}

nlohmann::json LeaseRecord::toSpec() const {
  nlohmann::json spec = {{"holderIdentity", holderIdentity},
                         {"leaseDurationSeconds", leaseDurationSeconds},
                         {"leaseTransitions", leaseTransitions}};
  // A MicroTime cannot be "": leave unknown times out.
  if (!acquireTime.empty()) spec["acquireTime"] = acquireTime;
  if (!renewTime.empty()) spec["renewTime"] = renewTime;
  return spec;
}

Result<std::unique_ptr<LeaderElector>> LeaderElector::create(const KubeConfig& kube,
                                                             LeaderElectionConfig config) {
  if (config.identity.empty()) config.identity = defaultLeaderIdentity();
  if (config.leaseNamespace.empty()) {
    config.leaseNamespace = kube.namespace_.empty() ? "default" : kube.namespace_;
  }
  if (Status s = validateLeaderElectionConfig(config); !s.isOk()) return s;
  return std::unique_ptr<LeaderElector>(new LeaderElector(kube, std::move(config)));
}

LeaderElector::LeaderElector(const KubeConfig& kube, LeaderElectionConfig config)
    : config_(std::move(config)) {
  KubeClientOptions options;
  options.qps = 0;         // one request per retryPeriod: no client-side limit
  options.maxRetries = 0;  // never sleep on Retry-After: the renew deadline is ours to keep
  options.timeout = std::max(config_.retryPeriod, std::chrono::milliseconds(kMinRequestTimeout));
  options.userAgent = "updraft-leader-election";
  client_ = std::make_unique<KubeClient>(kube, options);
  collectionPath_ = resourcePath("coordination.k8s.io/v1", "leases", config_.leaseNamespace);
  std::random_device rd;
  rng_.seed((static_cast<uint64_t>(rd()) << 32) ^ rd());
}

LeaderElector::~LeaderElector() { stop(); }

std::string LeaderElector::leasePath() const { return collectionPath_ + "/" + config_.leaseName; }

void LeaderElector::start() {
  std::lock_guard lock(mutex_);
  if (thread_.joinable() || stopping_) return;
  thread_ = std::thread([this] { run(); });
}

void LeaderElector::stop() {
  stopping_ = true;
  {
    std::lock_guard lock(mutex_);  // so a sleeper cannot miss the notification
  }
  cv_.notify_all();
  if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) thread_.join();
}

void LeaderElector::abandonForTest() {
  abandon_ = true;
  stop();
}

bool LeaderElector::isLeader() const {
  std::lock_guard lock(mutex_);
  return leading_ && holdsRecordLocked() && Steady::now() < lastRenewSent_ + config_.renewDeadline;
}

bool LeaderElector::waitForLeadership(std::chrono::milliseconds timeout) const {
  auto deadline = Steady::now() + timeout;
  while (true) {
    if (isLeader()) return true;
    if (Steady::now() >= deadline) return false;
    std::unique_lock lock(mutex_);
    cv_.wait_for(lock, std::chrono::milliseconds(10));
  }
}

std::string LeaderElector::leader() const {
  std::lock_guard lock(mutex_);
  return observed_.holderIdentity;
}

LeaseRecord LeaderElector::observedRecord() const {
  std::lock_guard lock(mutex_);
  return observed_;
}

LeaderElectionStats LeaderElector::stats() const {
  std::lock_guard lock(mutex_);
  return stats_;
}

bool LeaderElector::isLeaseValidLocked(Steady::time_point now) const {
  return observedTime_ + std::chrono::seconds(observed_.leaseDurationSeconds) > now;
}

void LeaderElector::setObservedLocked(const LeaseRecord& record, Steady::time_point now) {
  observed_ = record;
  observedTime_ = now;
}

void LeaderElector::countFailure(const Result<ApiResponse>& r, const char* what) {
  std::string detail;
  {
    std::lock_guard lock(mutex_);
    if (r.isOk() && r->code == 409) {
      ++stats_.conflicts;
    } else {
      ++stats_.failures;
    }
  }
  detail = r.isOk() ? r->status(std::string(what) + " lease " + leasePath()).message()
                    : r.status().message();
  spdlog::debug("leader election {}: {}", config_.identity, detail);
}

bool LeaderElector::put(const LeaseRecord& record, Steady::time_point sentAt) {
  nlohmann::json lease;
  {
    std::lock_guard lock(mutex_);
    lease = lease_;
  }
  if (!lease.is_object()) return false;
  lease["spec"] = record.toSpec();
  auto r = client_->update(leasePath(), lease);
  if (!r.isOk() || !r->ok()) {
    countFailure(r, "update");
    return false;
  }
  std::lock_guard lock(mutex_);
  if (r->body.is_object()) lease_ = r->body;
  setObservedLocked(record, Steady::now());
  lastRenewSent_ = sentAt;
  return true;
}

bool LeaderElector::tryAcquireOrRenew() {
  const Steady::time_point sent = Steady::now();
  const std::string now = formatMicroTime(std::chrono::system_clock::now());
  LeaseRecord desired;
  desired.holderIdentity = config_.identity;
  desired.leaseDurationSeconds = static_cast<int32_t>(
      std::chrono::duration_cast<std::chrono::seconds>(config_.leaseDuration).count());
  desired.acquireTime = now;
  desired.renewTime = now;

  // 1. The leader's fast path: update the Lease as last seen.
  bool fastPath = false;
  {
    std::lock_guard lock(mutex_);
    ++stats_.attempts;
    fastPath = holdsRecordLocked() && isLeaseValidLocked(sent) && lease_.is_object();
    if (fastPath) {
      desired.acquireTime = observed_.acquireTime;
      desired.leaseTransitions = observed_.leaseTransitions;
    }
  }
  if (fastPath && put(desired, sent)) return true;

  // 2. Read the Lease; create it when absent.
  auto got = client_->get(leasePath());
  if (!got.isOk() || (got->code != 200 && got->code != 404) ||
      (got->code == 200 && !got->body.is_object())) {
    countFailure(got, "get");
    return false;
  }
  if (got->code == 404) {
    desired.acquireTime = now;
    desired.leaseTransitions = 0;
    nlohmann::json lease = {
        {"apiVersion", "coordination.k8s.io/v1"},
        {"kind", "Lease"},
        {"metadata", {{"name", config_.leaseName}, {"namespace", config_.leaseNamespace}}},
        {"spec", desired.toSpec()}};
    auto created = client_->create(collectionPath_, lease);
    if (!created.isOk() || !created->ok()) {
      countFailure(created, "create");
      return false;
    }
    std::lock_guard lock(mutex_);
    lease_ = created->body.is_object() ? created->body : lease;
    setObservedLocked(desired, Steady::now());
    lastRenewSent_ = sent;
    return true;
  }

  // 3. Remember when the record last changed; respect a valid Lease held by someone else.
  const LeaseRecord current = LeaseRecord::fromLease(got->body);
  const std::string raw = current.toSpec().dump();
  {
    std::lock_guard lock(mutex_);
    lease_ = got->body;
    if (raw != observedRaw_) {
      observed_ = current;
      observedRaw_ = raw;
      observedTime_ = Steady::now();
    }
    if (!current.holderIdentity.empty() && isLeaseValidLocked(Steady::now()) &&
        !holdsRecordLocked()) {
      return false;
    }
    // 4. Take it over (a new transition) or renew it (keep acquireTime and the count).
    if (holdsRecordLocked()) {
      desired.acquireTime = current.acquireTime.empty() ? now : current.acquireTime;
      desired.leaseTransitions = current.leaseTransitions;
    } else {
      desired.acquireTime = now;
      desired.leaseTransitions = current.leaseTransitions + 1;
    }
  }
  return put(desired, sent);
}

bool LeaderElector::release() {
  LeaseRecord record;
  nlohmann::json lease;
  {
    std::lock_guard lock(mutex_);
    if (!holdsRecordLocked() || !lease_.is_object()) return true;
    record.leaseTransitions = observed_.leaseTransitions;
    lease = lease_;
  }
  const std::string now = formatMicroTime(std::chrono::system_clock::now());
  record.holderIdentity = "";
  record.leaseDurationSeconds = 1;
  record.acquireTime = now;
  record.renewTime = now;
  lease["spec"] = record.toSpec();
  auto r = client_->update(leasePath(), lease);
  if (!r.isOk() || !r->ok()) {
    countFailure(r, "release");
    spdlog::warn("leader election {}: could not release lease {}/{}", config_.identity,
                 config_.leaseNamespace, config_.leaseName);
    return false;
  }
  std::lock_guard lock(mutex_);
  if (r->body.is_object()) lease_ = r->body;
  setObservedLocked(record, Steady::now());
  leading_ = false;
  ++stats_.releases;
  return true;
}

bool LeaderElector::sleepFor(std::chrono::milliseconds d) {
  std::unique_lock lock(mutex_);
  cv_.wait_for(lock, d, [this] { return stopping_.load(); });
  return !stopping_;
}

std::chrono::milliseconds LeaderElector::jittered(std::chrono::milliseconds d) {
  std::uniform_real_distribution<double> dist(0.0, kJitterFactor);
  double factor;
  {
    std::lock_guard lock(mutex_);
    factor = dist(rng_);
  }
  return d +
         std::chrono::milliseconds(static_cast<int64_t>(factor * static_cast<double>(d.count())));
}

void LeaderElector::reportTransition() {
  std::string holder;
  {
    std::lock_guard lock(mutex_);
    if (observed_.holderIdentity == reportedLeader_) return;
    reportedLeader_ = observed_.holderIdentity;
    holder = reportedLeader_;
  }
  if (!holder.empty()) {
    spdlog::info("leader election {}: new leader of {}/{}: {}", config_.identity,
                 config_.leaseNamespace, config_.leaseName, holder);
  }
  if (config_.callbacks.onNewLeader) config_.callbacks.onNewLeader(holder);
}

bool LeaderElector::acquireLoop() {
  while (!stopping_) {
    bool acquired = tryAcquireOrRenew();
    reportTransition();
    if (acquired) return true;
    if (!sleepFor(jittered(config_.retryPeriod))) return false;
  }
  return false;
}

bool LeaderElector::renewLoop() {
  while (true) {
    if (!sleepFor(config_.retryPeriod)) return true;
    while (true) {
      Steady::time_point deadline;
      {
        std::lock_guard lock(mutex_);
        deadline = lastRenewSent_ + config_.renewDeadline;
      }
      if (Steady::now() >= deadline) return false;
      bool renewed = tryAcquireOrRenew();
      reportTransition();
      if (renewed) {
        std::lock_guard lock(mutex_);
        ++stats_.renewals;
        break;
      }
      if (stopping_) return true;
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Steady::now());
      if (left.count() <= 0) return false;
      if (!sleepFor(std::min(config_.retryPeriod, left))) return true;
    }
  }
}

void LeaderElector::run() {
  const auto& cb = config_.callbacks;
  while (!stopping_) {
    if (!acquireLoop()) break;
    {
      std::lock_guard lock(mutex_);
      leading_ = true;
      ++stats_.acquisitions;
    }
    cv_.notify_all();
    spdlog::info("leader election {}: acquired lease {}/{}", config_.identity,
                 config_.leaseNamespace, config_.leaseName);
    if (cb.onStartedLeading) cb.onStartedLeading();
    if (renewLoop()) break;  // stopping: handled below
    {
      std::lock_guard lock(mutex_);
      leading_ = false;
      ++stats_.losses;
    }
    spdlog::warn("leader election {}: lost lease {}/{}: no renewal for {}", config_.identity,
                 config_.leaseNamespace, config_.leaseName,
                 describeDuration(config_.renewDeadline));
    if (cb.onStoppedLeading) cb.onStoppedLeading();
    if (!config_.rejoinAfterLoss) break;
  }
  if (!abandon_) {
    bool wasLeading;
    {
      std::lock_guard lock(mutex_);
      wasLeading = leading_;
      leading_ = false;
    }
    if (wasLeading && cb.onStoppedLeading) cb.onStoppedLeading();
    if (config_.releaseOnStop && release()) {
      spdlog::debug("leader election {}: lease {}/{} released (if held)", config_.identity,
                    config_.leaseNamespace, config_.leaseName);
    }
  }
  done_ = true;
  cv_.notify_all();
}

}  // namespace updraft::kube
