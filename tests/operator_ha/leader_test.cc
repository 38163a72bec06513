// Leader election between `updraft operator` processes (--leader-elect, a 3 s lease, 2 s renew
// deadline, 0.5 s retry period): followers neither scale nor write, the Lease and /readyz say who
// leads, a SIGTERM'd leader releases the Lease for a fast handover, and a SIGKILL'd one is replaced
// once its Lease expires; each new leader scales the target on a metric change, and a leader that
// followed until then counts the cooldown from the previous leader's last activity.
#include <signal.h>

#include <catch2/catch.hpp>
#include <ctime>
#include <set>

#include "operator_ha/operator_ha_support.h"

using namespace updraft::operator_ha_test;
using updraft::kubetest_test::deployment;
using Steady = std::chrono::steady_clock;

namespace {

std::string microTimeNow() {
  const auto now = std::chrono::system_clock::now();
  const auto us =
      std::chrono::duration_cast<std::chrono::microseconds>(now.time_since_epoch()).count();
  const std::time_t secs = static_cast<std::time_t>(us / 1000000);
  std::tm g{};
  gmtime_r(&secs, &g);
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &g);
  char out[80];
  std::snprintf(out, sizeof out, "%s.%06dZ", buf, static_cast<int>(us % 1000000));
  return out;
}

// Holds the Lease as "ghost" (renewing it every 300 ms) until stopped.
class GhostLeader {
 public:
  explicit GhostLeader(const Client& api) : api_(api) {
    const std::string now = microTimeNow();
    create(api_, std::string("/apis/coordination.k8s.io/v1/namespaces/") + kPodNs + "/leases",
           {{"apiVersion", "coordination.k8s.io/v1"},
            {"kind", "Lease"},
            {"metadata", {{"name", kLeaseName}}},
            {"spec",
             {{"holderIdentity", "ghost"},
              {"leaseDurationSeconds", 3},
              {"acquireTime", now},
              {"renewTime", now},
              {"leaseTransitions", 0}}}});
    thread_ = std::thread([this] {
      while (!stop_) {
        std::this_thread::sleep_for(300ms);
        api_.patch(leasePath(), {{"spec", {{"renewTime", microTimeNow()}}}});
      }
    });
  }
  ~GhostLeader() { stop(); }
  void stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }

 private:
  const Client& api_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

std::vector<std::string> electionArgs(const std::string& identity) {
  return {
      "--leader-elect", "--identity", identity, "--lease-duration", "3", "--renew-deadline", "2",
      "--retry-period", "0.5"};
}

// Write requests (anything but GET) made by the operators, from the test server's request log.
std::vector<json> operatorWrites(const Client& api) {
  std::vector<json> out;
  auto r = api.get("/_test/requests");
  REQUIRE(r.code == 200);
  for (const auto& q : r.json().value("requests", std::vector<json>{})) {
    if (q.value("method", "") != "GET" && q.value("userAgent", "").rfind("updraft", 0) == 0) {
      out.push_back(q);
    }
  }
  return out;
}

int leaseTransitions(const Client& api) {
  auto l = get(api, leasePath());
  return l ? l->value("/spec/leaseTransitions"_json_pointer, 0) : -1;
}

}  // namespace

TEST_CASE("leader election: followers stay idle, graceful and SIGKILL failover",
          "[operator_ha][leader]") {
  ApiServer server;
  MetricSource metric;
  create(server.api(), deploymentsPath(), deployment("web", 0, "web"));
  // cooldownPeriod 6: long enough to tell a scale-in after the cooldown from an early one.
  json so = scaledObject("web", metricsApiTrigger(metric.url("web")));
  so["spec"]["cooldownPeriod"] = 6;
  create(server.api(), scaledObjectsPath(), so);

  std::map<std::string, std::unique_ptr<OperatorProcess>> ops;
  auto start = [&](const std::string& id) {
    ops[id] = std::make_unique<OperatorProcess>(server, id, electionArgs(id));
    REQUIRE(ops[id]->waitReady());
  };
  auto role = [&](const std::string& id) { return ops.at(id)->health("/readyz"); };

  // 1. Someone else holds the Lease: both operators follow; none scales or writes anything.
  GhostLeader ghost(server.api());
  start("op-a");
  start("op-b");
  REQUIRE(server.api().del("/_test/requests").code == 200);
  metric.set("web", 10);
  std::this_thread::sleep_for(3000ms);
  CHECK(metric.requests("web") == 0);  // followers do not poll either
  CHECK(replicas(server.api(), "web") == 0);
  CHECK(!get(server.api(), hpasPath() + "/keda-hpa-web"));
  CHECK(operatorWrites(server.api()).empty());
  for (const char* id : {"op-a", "op-b"}) {
    auto [code, body] = role(id);
    CHECK(code == 200);
    CHECK(body == "ok (follower)\n");
  }
  REQUIRE(leaseHolder(server.api()) == "ghost");

  // 2. The ghost stops renewing: one of them takes the Lease once it expires and scales 0 -> 1.
  ghost.stop();
  HA_WAIT_FOR("op-a or op-b holding the Lease", 10000, ops.count(leaseHolder(server.api())) == 1);
  const std::string first = leaseHolder(server.api());
  const std::string second = first == "op-a" ? "op-b" : "op-a";
  HA_WAIT_FOR("web scaled 0 -> 1 by the leader", 10000, replicas(server.api(), "web") == 1);
  HA_WAIT_FOR("HPA keda-hpa-web", 5000, get(server.api(), hpasPath() + "/keda-hpa-web"));
  HA_WAIT_FOR("/readyz of the leader", 3000, role(first).second == "ok (leader)\n");
  CHECK(role(second) == std::make_pair(200, std::string("ok (follower)\n")));
  CHECK(leaseHolder(server.api()) == first);  // the follower did not take it
  const int transitions = leaseTransitions(server.api());

  // 3. Graceful: SIGTERM the leader; it releases the Lease, so the follower takes over at its next
  //    retry (0.5 s) instead of after the 3 s lease.
  auto sent = Steady::now();
  ops.at(first)->signal(SIGTERM);
  HA_WAIT_FOR(second << " taking the released Lease", 5000, leaseHolder(server.api()) == second);
  const auto handover = Steady::now() - sent;
  CHECK(handover < 2500ms);
  REQUIRE(ops.at(first)->wait(10000ms) == 0);
  CHECK(ops.at(first)->log().find("received SIGTERM") != std::string::npos);
  CHECK(leaseTransitions(server.api()) == transitions + 1);
  HA_WAIT_FOR("/readyz of the new leader", 3000, role(second).second == "ok (leader)\n");
  // The old leader was active until its SIGTERM (the lastActiveTime it wrote says when): the new
  // leader, which has followed since before any activity, scales in after the cooldown counted
  // from then, not at its first poll.
  metric.set("web", 0);
  const auto inactive = Steady::now();
  HA_WAIT_FOR("web scaled 1 -> 0 by " << second, 15000, replicas(server.api(), "web") == 0);
  CHECK(Steady::now() - inactive >= 2500ms);

  // 4. SIGKILL the leader: nothing is released; a new follower waits for the Lease to expire,
  //    takes over and scales 0 -> 1 on a metric change.
  const std::string last = "op-c";
  start(last);
  CHECK(role(last).second == "ok (follower)\n");
  sent = Steady::now();
  ops.at(second)->signal(SIGKILL);
  REQUIRE(ops.at(second)->wait(5000ms) == 128 + SIGKILL);
  HA_WAIT_FOR(last << " taking the expired Lease", 10000, leaseHolder(server.api()) == last);
  const auto takeover = Steady::now() - sent;
  CHECK(takeover >= 2000ms);  // not before the lease expired
  CHECK(takeover < 8000ms);
  metric.set("web", 10);
  HA_WAIT_FOR("web scaled 0 -> 1 by " << last, 10000, replicas(server.api(), "web") == 1);
  CHECK(role(last).second == "ok (leader)\n");
  CHECK(leaseTransitions(server.api()) == transitions + 2);
  REQUIRE(ops.at(last)->running());
}
