// Leader election with a coordination.k8s.io/v1 Lease, as client-go's leaderelection package does
// it (hpa-and-kube-api.md §3.9), so one of several operator replicas runs the controllers.
//
//   LeaderElectionConfig config;                 // lease updraft-operator, 15 s / 10 s / 2 s
//   config.leaseNamespace = "updraft-system";
//   config.callbacks.onStartedLeading = [&] { controllers.start(); };
//   config.callbacks.onStoppedLeading = [&] { controllers.stop(); };   // must return once stopped
//   auto elector = LeaderElector::create(kubeConfig, config);
//   (*elector)->start();
//   ...
//   (*elector)->stop();   // stops the controllers (onStoppedLeading), then releases the Lease
//
// The algorithm (client-go tryAcquireOrRenew):
// - Candidates try every retryPeriod plus a random jitter of up to 1.2 x retryPeriod; the leader
//   renews every retryPeriod.
// - A try: the leader first PUTs its last-seen Lease with renewTime = now (fast path); otherwise
//   GET the Lease (404: POST a new one naming us). When the record differs from the one seen last,
//   remember the local (steady) time: a Lease held by someone else counts as expired only when it
//   has not changed for its leaseDurationSeconds of *our* time, so clocks need not agree
//   (renewTime is never compared). Then PUT it with us as holder, with the GET's resourceVersion
//   (a race loses with 409), acquireTime = now and leaseTransitions + 1 when taking over.
// - The leader loses leadership when no renewal succeeded for renewDeadline. Unlike client-go,
//   which measures renewDeadline from the start of the failing renew round (up to a retryPeriod
//   later), the deadline runs from the moment the last successful renewal was sent: isLeader()
//   turns false exactly then, and onStoppedLeading follows at the end of the request in flight
//   (requests time out after retryPeriod).
// - stop() with releaseOnStop: onStoppedLeading first (so the controllers are stopped before anyone
//   else may start), then the Lease is written with holderIdentity "" and leaseDurationSeconds 1,
//   so a standby takes over at its next try instead of waiting for leaseDuration.
// - leaseDurationSeconds in the Lease is leaseDuration truncated to whole seconds, as client-go.
//
// Requests go through the elector's own KubeClient (made from the KubeConfig): no client-side rate
// limit, no Retry-After sleeps, a timeout of retryPeriod (at least 100 ms), so a slow API server
// cannot keep a leader past its deadline. Callbacks run on the elector's thread, one at a time;
// they must not block for long (start and stop work elsewhere) and must not call stop().
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <string>
#include <thread>

#include "updraft/clock.h"
#include "updraft/operator/kube_client.h"
#include "updraft/status.h"

namespace updraft::kube {

struct LeaderCallbacks {
  // This elector became the leader (isLeader() is already true).
  std::function<void()> onStartedLeading;
  // It stopped being the leader: renewals failed for renewDeadline, someone else holds the Lease,
  // or stop(). Only called after onStartedLeading (client-go calls it at every end of Run).
  std::function<void()> onStoppedLeading;
  // The Lease's holder changed as this elector saw it (its own identity included; "" after a
  // release).
  std::function<void(const std::string& identity)> onNewLeader;
};

struct LeaderElectionConfig {
  std::string leaseName = "updraft-operator";  // KEDA's is operator.keda.sh (keda-behaviour §6.3)
  std::string leaseNamespace;  // "" = the KubeConfig's namespace (in-cluster: the pod's), else
                               // "default"
  std::string identity;        // "" = defaultLeaderIdentity()
  std::chrono::milliseconds leaseDuration{15000};
  std::chrono::milliseconds renewDeadline{10000};
  std::chrono::milliseconds retryPeriod{2000};
  bool releaseOnStop = true;
  // After losing leadership, become a candidate again (true) or end (false: the process is expected
  // to exit, as controller-runtime does).
  bool rejoinAfterLoss = false;
  LeaderCallbacks callbacks;
};

// client-go's rules: leaseDuration > renewDeadline > 1.2 x retryPeriod (JitterFactor),
// leaseDuration >= 1 s (the Lease holds whole seconds), retryPeriod >= 1 ms, a lease name.
Status validateLeaderElectionConfig(const LeaderElectionConfig& config);

// "<hostname>_<random uuid>", the convention of controller-runtime.
std::string defaultLeaderIdentity();

// A MicroTime: "2026-01-02T15:04:05.000000Z" (UTC, 6 fractional digits).
std::string formatMicroTime(TimePoint time);

// The leader election fields of a Lease's spec.
struct LeaseRecord {
  std::string holderIdentity;
  int32_t leaseDurationSeconds = 0;
  std::string acquireTime;  // MicroTime, as written
  std::string renewTime;
  int32_t leaseTransitions = 0;

  // Lenient: missing or mistyped fields read as empty / 0.
  static LeaseRecord fromLease(const nlohmann::json& lease);
  nlohmann::json toSpec() const;
  bool operator==(const LeaseRecord&) const = default;
};

struct LeaderElectionStats {
  uint64_t attempts = 0;      // tryAcquireOrRenew calls
  uint64_t acquisitions = 0;  // times this elector became the leader
  uint64_t renewals = 0;      // successful writes while leading
  uint64_t conflicts = 0;     // 409 answers (Conflict on PUT, AlreadyExists on POST)
  uint64_t failures = 0;      // other failed requests (transport errors, 4xx/5xx)
  uint64_t losses = 0;        // leadership lost (deadline passed or someone else holds it)
  uint64_t releases = 0;      // successful releases
};

class LeaderElector {
 public:
  // Validates the config and makes the elector's own client from `kube`.
  static Result<std::unique_ptr<LeaderElector>> create(const KubeConfig& kube,
                                                       LeaderElectionConfig config);
  ~LeaderElector();  // stop()
  LeaderElector(const LeaderElector&) = delete;
  LeaderElector& operator=(const LeaderElector&) = delete;

  // Starts the election thread (once).
  void start();
  // Ends the thread: when leading, onStoppedLeading, then the release (releaseOnStop). Joins.
  void stop();
  // Ends the thread without onStoppedLeading and without releasing: what a crash looks like to the
  // other candidates. Tests only.
  void abandonForTest();

  // True while this elector holds the Lease and its last renewal was sent less than renewDeadline
  // ago.
  bool isLeader() const;
  // The thread ended (stop(), or leadership lost without rejoinAfterLoss).
  bool done() const { return done_.load(); }
  // Waits until isLeader() or `timeout`.
  bool waitForLeadership(std::chrono::milliseconds timeout) const;

  const std::string& identity() const { return config_.identity; }
  const LeaderElectionConfig& config() const { return config_; }
  std::string leasePath() const;
  // The holder as last seen ("" when none or not seen yet).
  std::string leader() const;
  // The record as last seen or written.
  LeaseRecord observedRecord() const;
  LeaderElectionStats stats() const;

  // One try (client-go's tryAcquireOrRenew), for tests that drive the steps themselves; do not call
  // while the thread runs. True when this elector holds the Lease afterwards.
  bool tryAcquireOrRenew();
  // Releases the Lease if this elector holds it (holder "", leaseDurationSeconds 1). True when
  // released or not held.
  bool release();

 private:
  using Steady = std::chrono::steady_clock;
  LeaderElector(const KubeConfig& kube, LeaderElectionConfig config);

  void run();
  bool acquireLoop();  // false when stopping
  // Renews until stopping (true) or the deadline passes (false).
  bool renewLoop();
  void becomeFollower(bool lost);
  void reportTransition();
  bool sleepFor(std::chrono::milliseconds d);  // false when woken by stop
  std::chrono::milliseconds jittered(std::chrono::milliseconds d);
  bool isLeaseValidLocked(Steady::time_point now) const;
  bool holdsRecordLocked() const { return observed_.holderIdentity == config_.identity; }
  void setObservedLocked(const LeaseRecord& record, Steady::time_point now);
  bool put(const LeaseRecord& record, Steady::time_point sentAt);
  void countFailure(const Result<ApiResponse>& r, const char* what);

  LeaderElectionConfig config_;
  std::unique_ptr<KubeClient> client_;
  std::string collectionPath_;

  mutable std::mutex mutex_;
  mutable std::condition_variable cv_;
  nlohmann::json lease_;  // the Lease as last read or written (its resourceVersion is the guard)
  LeaseRecord observed_;
  std::string observedRaw_;  // the last record read, serialized (client-go's observedRawRecord)
  Steady::time_point observedTime_{};
  bool leading_ = false;
  Steady::time_point lastRenewSent_{};
  std::string reportedLeader_;
  LeaderElectionStats stats_;
  std::mt19937_64 rng_;

  std::atomic<bool> stopping_{false};
  std::atomic<bool> abandon_{false};
  std::atomic<bool> done_{false};
  std::thread thread_;
};

}  // namespace updraft::kube
