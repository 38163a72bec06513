// Leader election against the Kubernetes API test server (tools/kube-test-apiserver), with short
// timings: leaseDuration 1.5 s (the Lease records 1 s), renewDeadline 1 s, retryPeriod 0.2 s; the
// failover tests use a 3 s lease so a release and an expiry are clearly apart.
#include "updraft/operator/leader_election.h"

#include <atomic>
#include <barrier>
#include <catch2/catch.hpp>
#include <chrono>
#include <functional>
#include <mutex>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "kube_test_server/kube_support.h"

using namespace updraft;
using namespace updraft::kube;
using namespace std::chrono_literals;
using nlohmann::json;
using Steady = std::chrono::steady_clock;

namespace {

const char* const kAdminToken = "admin-token";

// The test API server as a child process, accepting three bearer tokens: the test's own, and one
// for each of two electors (so one elector can be cut off with PUT /_test/tokens).
class TestApiServer {
 public:
  TestApiServer()
      : process_(dir_.path(), {"--token", kAdminToken, "--token", "token-a", "--token", "token-b",
                               "--simulate-controllers", "false"}) {
    auto config = KubeConfig::fromKubeconfig(process_.kubeconfig());
    REQUIRE(config.isOk());
    config_ = *config;
    config_.token = kAdminToken;
    admin_ = std::make_unique<KubeClient>(config_);
  }
  ~TestApiServer() { admin_.reset(); }
  // The kubeconfig's connection with `token`.
  KubeConfig configWithToken(const std::string& token) const {
    KubeConfig c = config_;
    c.token = token;
    return c;
  }
  KubeClient& admin() { return *admin_; }
  void control(const std::string& method, const std::string& pathAndQuery,
               const json& body = nullptr) {
    auto r = admin_->request(method, pathAndQuery, body.is_null() ? "" : body.dump(),
                             body.is_null() ? "" : "application/json");
    REQUIRE(r.isOk());
    REQUIRE(r->ok());
  }
  // Only these tokens are accepted from now on (the admin token is always kept).
  void acceptTokens(std::vector<std::string> tokens) {
    tokens.push_back(kAdminToken);
    control("PUT", "/_test/tokens", {{"tokens", tokens}});
  }
  std::optional<json> lease(const std::string& name = "updraft-operator") {
    auto r = admin_->get("/apis/coordination.k8s.io/v1/namespaces/default/leases/" + name);
    REQUIRE(r.isOk());
    if (r->code == 404) return std::nullopt;
    REQUIRE(r->code == 200);
    return r->body;
  }
  void putLease(const json& lease) {
    auto r = admin_->update("/apis/coordination.k8s.io/v1/namespaces/default/leases/" +
                                lease["metadata"]["name"].get<std::string>(),
                            lease);
    REQUIRE(r.isOk());
    INFO(r->raw);
    REQUIRE(r->code == 200);
  }
  // Writes the Lease as someone else would: read, change, write, again on a conflict.
  json rewriteLease(const std::function<void(json&)>& edit) {
    for (int attempt = 0; attempt < 20; ++attempt) {
      json l = lease().value();
      edit(l);
      auto r = admin_->update("/apis/coordination.k8s.io/v1/namespaces/default/leases/" +
                                  l["metadata"]["name"].get<std::string>(),
                              l);
      REQUIRE(r.isOk());
      if (r->code == 200) return r->body;
      REQUIRE(r->code == 409);
    }
    FAIL("the Lease kept changing");
    return nullptr;
  }
  void deleteLease(const std::string& name = "updraft-operator") {
    auto r = admin_->remove("/apis/coordination.k8s.io/v1/namespaces/default/leases/" + name);
    REQUIRE(r.isOk());
  }

 private:
  kubetest_test::TempDir dir_;
  kubetest_test::ServerProcess process_;
  KubeConfig config_;
  std::unique_ptr<KubeClient> admin_;
};

// Callback counters of one elector.
struct Events {
  std::atomic<int> started{0};
  std::atomic<int> stopped{0};
  std::mutex mu;
  std::vector<std::string> leaders;  // onNewLeader, in order
  std::vector<std::string> seenLeaders() {
    std::lock_guard lock(mu);
    return leaders;
  }
};

LeaderElectionConfig fastConfig(const std::string& identity, Events* events,
                                std::chrono::milliseconds leaseDuration = 1500ms) {
  LeaderElectionConfig c;
  c.identity = identity;
  c.leaseNamespace = "default";
  c.leaseDuration = leaseDuration;
  c.renewDeadline = 1000ms;
  c.retryPeriod = 200ms;
  if (events) {
    c.callbacks.onStartedLeading = [events] { ++events->started; };
    c.callbacks.onStoppedLeading = [events] { ++events->stopped; };
    c.callbacks.onNewLeader = [events](const std::string& who) {
      std::lock_guard lock(events->mu);
      events->leaders.push_back(who);
    };
  }
  return c;
}

std::unique_ptr<LeaderElector> makeElector(TestApiServer& server, LeaderElectionConfig config,
                                           const std::string& token) {
  auto e = LeaderElector::create(server.configWithToken(token), std::move(config));
  INFO(e.status().toString());
  REQUIRE(e.isOk());
  return std::move(*e);
}

template <class F>
bool eventually(F check, std::chrono::milliseconds timeout) {
  auto deadline = Steady::now() + timeout;
  while (true) {
    if (check()) return true;
    if (Steady::now() >= deadline) return false;
    std::this_thread::sleep_for(5ms);
  }
}

// Samples isLeader() of every elector every 2 ms for `duration`; fails on two leaders at once.
// Returns how many samples had exactly one leader.
int sampleAtMostOneLeader(const std::vector<LeaderElector*>& electors,
                          std::chrono::milliseconds duration) {
  int withLeader = 0;
  auto end = Steady::now() + duration;
  while (Steady::now() < end) {
    int leaders = 0;
    for (LeaderElector* e : electors) leaders += e->isLeader() ? 1 : 0;
    REQUIRE(leaders <= 1);
    withLeader += leaders;
    std::this_thread::sleep_for(2ms);
  }
  return withLeader;
}

const std::regex kMicroTime(R"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z)");

}  // namespace

TEST_CASE("leader election: configuration rules, identity and MicroTime") {
  LeaderElectionConfig c;
  c.identity = "me";
  CHECK(validateLeaderElectionConfig(c).isOk());  // 15 s / 10 s / 2 s
  c.renewDeadline = 15s;
  CHECK(validateLeaderElectionConfig(c).message() ==
        "leader election: leaseDuration must be greater than renewDeadline (15s <= 15s)");
  c.renewDeadline = 2400ms;  // == 1.2 x 2 s
  CHECK(validateLeaderElectionConfig(c).message() ==
        "leader election: renewDeadline must be greater than retryPeriod*JitterFactor (2.4s <= "
        "1.2 x 2s)");
  c.renewDeadline = 2401ms;
  CHECK(validateLeaderElectionConfig(c).isOk());
  c.leaseDuration = 900ms;
  c.renewDeadline = 500ms;
  c.retryPeriod = 100ms;
  CHECK(validateLeaderElectionConfig(c).message().find("at least 1s") != std::string::npos);
  c = LeaderElectionConfig{};
  c.identity = "me";
  c.retryPeriod = 0ms;
  CHECK_FALSE(validateLeaderElectionConfig(c).isOk());
  c = LeaderElectionConfig{};
  CHECK(validateLeaderElectionConfig(c).message() == "leader election: the identity is empty");

  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  const std::string id = defaultLeaderIdentity();
  CHECK(std::regex_match(
      id, std::regex(std::regex_replace(std::string(host), std::regex(R"([.^$|()\[\]{}*+?\\])"),
                                        R"(\$&)") +
                     "_[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")));
  CHECK(defaultLeaderIdentity() != id);

  using namespace std::chrono;
  TimePoint t = system_clock::from_time_t(1767366245);  // 2026-01-02T15:04:05Z
  CHECK(formatMicroTime(t) == "2026-01-02T15:04:05.000000Z");
  CHECK(formatMicroTime(t + microseconds(123456)) == "2026-01-02T15:04:05.123456Z");

  // create() fills the identity and the namespace, and refuses a bad config.
  KubeConfig kube;
  kube.server = "https://127.0.0.1:1";
  kube.namespace_ = "updraft-system";
  auto e = LeaderElector::create(kube, {});
  REQUIRE(e.isOk());
  CHECK((*e)->config().leaseNamespace == "updraft-system");
  CHECK((*e)->config().leaseName == "updraft-operator");
  CHECK((*e)->leasePath() ==
        "/apis/coordination.k8s.io/v1/namespaces/updraft-system/leases/updraft-operator");
  CHECK((*e)->identity().find('_') != std::string::npos);
  LeaderElectionConfig bad;
  bad.renewDeadline = 20s;
  CHECK_FALSE(LeaderElector::create(kube, bad).isOk());
}

TEST_CASE("leader election: one elector acquires, renews and releases on stop") {
  TestApiServer server;
  Events events;
  auto a = makeElector(server, fastConfig("a", &events), "token-a");
  CHECK_FALSE(a->isLeader());
  a->start();
  REQUIRE(a->waitForLeadership(5s));
  CHECK(eventually([&] { return events.started.load() == 1; }, 1s));
  CHECK(a->leader() == "a");

  auto lease = server.lease();
  REQUIRE(lease);
  const json& spec = (*lease)["spec"];
  CHECK(spec["holderIdentity"] == "a");
  CHECK(spec["leaseDurationSeconds"] == 1);  // 1.5 s truncated, as client-go
  CHECK(spec["leaseTransitions"] == 0);
  CHECK(std::regex_match(spec["acquireTime"].get<std::string>(), kMicroTime));
  CHECK(std::regex_match(spec["renewTime"].get<std::string>(), kMicroTime));
  const std::string acquired = spec["acquireTime"];
  const std::string firstRenew = spec["renewTime"];

  // It renews every retryPeriod, keeping acquireTime and the transition count.
  std::this_thread::sleep_for(700ms);
  lease = server.lease();
  CHECK((*lease)["spec"]["renewTime"] != firstRenew);
  CHECK((*lease)["spec"]["acquireTime"] == acquired);
  CHECK((*lease)["spec"]["leaseTransitions"] == 0);
  CHECK(a->stats().renewals >= 2);
  CHECK(a->isLeader());

  a->stop();
  CHECK_FALSE(a->isLeader());
  CHECK(a->done());
  CHECK(events.stopped == 1);
  CHECK(a->stats().releases == 1);
  lease = server.lease();
  CHECK((*lease)["spec"]["holderIdentity"] == "");
  CHECK((*lease)["spec"]["leaseDurationSeconds"] == 1);
  CHECK((*lease)["spec"]["leaseTransitions"] == 0);
  const std::vector<std::string> seen = events.seenLeaders();
  REQUIRE_FALSE(seen.empty());
  CHECK(seen.front() == "a");
}

TEST_CASE("leader election: two electors, exactly one leads at any time; release hands over") {
  TestApiServer server;
  Events ea;
  Events eb;
  auto a = makeElector(server, fastConfig("a", &ea, 3000ms), "token-a");
  auto b = makeElector(server, fastConfig("b", &eb, 3000ms), "token-b");
  a->start();
  b->start();
  REQUIRE(eventually([&] { return a->isLeader() || b->isLeader(); }, 5s));
  // Sample for 3 s: never two leaders, and one all along.
  const int samples = sampleAtMostOneLeader({a.get(), b.get()}, 3000ms);
  CHECK(samples > 500);
  LeaderElector* leader = a->isLeader() ? a.get() : b.get();
  LeaderElector* standby = leader == a.get() ? b.get() : a.get();
  Events& leaderEvents = leader == a.get() ? ea : eb;
  Events& standbyEvents = leader == a.get() ? eb : ea;
  CHECK(leaderEvents.started == 1);
  CHECK(standbyEvents.started == 0);
  CHECK(standby->leader() == leader->identity());
  CHECK(standbyEvents.seenLeaders() == std::vector<std::string>{leader->identity()});
  CHECK(standby->stats().acquisitions == 0);

  // Graceful release: the standby leads within about one of its retry periods (0.2-0.44 s),
  // far sooner than the 3 s lease.
  auto released = Steady::now();
  leader->stop();
  CHECK(leaderEvents.stopped == 1);
  REQUIRE(standby->waitForLeadership(3s));
  auto handover = Steady::now() - released;
  CHECK(handover < 1500ms);
  auto lease = server.lease();
  CHECK((*lease)["spec"]["holderIdentity"] == standby->identity());
  CHECK((*lease)["spec"]["leaseTransitions"] == 1);
  CHECK(eventually([&] { return standbyEvents.started.load() == 1; }, 1s));
  std::vector<std::string> seen = standbyEvents.seenLeaders();
  CHECK(seen == std::vector<std::string>{leader->identity(), standby->identity()});
  standby->stop();
}

TEST_CASE("leader election: a crashed leader is replaced after the lease duration") {
  TestApiServer server;
  Events ea;
  Events eb;
  auto a = makeElector(server, fastConfig("a", &ea, 3000ms), "token-a");
  auto b = makeElector(server, fastConfig("b", &eb, 3000ms), "token-b");
  a->start();
  REQUIRE(a->waitForLeadership(5s));
  b->start();
  sampleAtMostOneLeader({a.get(), b.get()}, 600ms);
  CHECK(a->isLeader());

  // Stop renewing without releasing (a crash): b waits until the record has not changed for
  // leaseDurationSeconds (3) of its own time.
  auto crashed = Steady::now();
  a->abandonForTest();
  CHECK(ea.stopped == 0);
  auto lease = server.lease();
  CHECK((*lease)["spec"]["holderIdentity"] == "a");
  // a's own view expires after renewDeadline; b's after the lease duration: never both.
  sampleAtMostOneLeader({a.get(), b.get()}, 2500ms);
  CHECK_FALSE(b->isLeader());
  REQUIRE(b->waitForLeadership(3s));
  auto failover = Steady::now() - crashed;
  CHECK(failover >= 2700ms);  // a's last renewal was at most one retryPeriod before the crash
  CHECK(failover < 5000ms);
  lease = server.lease();
  CHECK((*lease)["spec"]["holderIdentity"] == "b");
  CHECK((*lease)["spec"]["leaseTransitions"] == 1);
  b->stop();
}

TEST_CASE("leader election: a leader that cannot renew steps down, nobody else taking over") {
  TestApiServer server;
  Events events;
  auto a = makeElector(server, fastConfig("a", &events), "token-a");
  a->start();
  REQUIRE(a->waitForLeadership(5s));

  // Every request on leases fails from now on.
  server.control("POST", "/_test/fail?status=500&count=100000&path=leases");
  auto cut = Steady::now();
  REQUIRE(eventually([&] { return !a->isLeader(); }, 3s));
  auto notLeader = Steady::now() - cut;
  CHECK(notLeader <= 1100ms);  // renewDeadline after the last successful renewal was sent
  REQUIRE(eventually([&] { return events.stopped.load() == 1; }, 3s));
  auto steppedDown = Steady::now() - cut;
  CHECK(steppedDown >= 700ms);
  CHECK(steppedDown <= 1600ms);  // + at most one request timeout
  CHECK(a->stats().losses == 1);
  CHECK(a->stats().failures >= 3);
  REQUIRE(eventually([&] { return a->done(); }, 3s));  // rejoinAfterLoss is false
  server.control("DELETE", "/_test/fail");
  // Nobody took the Lease; it still names a (the release after the loss failed: the API was down).
  auto lease = server.lease();
  CHECK((*lease)["spec"]["holderIdentity"] == "a");
  CHECK(events.started == 1);
}

TEST_CASE("leader election: cut off, it steps down; the other leads after the lease; rejoin") {
  TestApiServer server;
  Events ea;
  Events eb;
  LeaderElectionConfig ca = fastConfig("a", &ea, 3000ms);
  ca.rejoinAfterLoss = true;
  auto a = makeElector(server, ca, "token-a");
  auto b = makeElector(server, fastConfig("b", &eb, 3000ms), "token-b");
  a->start();
  REQUIRE(a->waitForLeadership(5s));
  b->start();
  std::this_thread::sleep_for(500ms);

  server.acceptTokens({"token-b"});  // a's requests get 401 from now on
  auto cut = Steady::now();
  sampleAtMostOneLeader({a.get(), b.get()}, 1500ms);
  CHECK_FALSE(a->isLeader());
  CHECK(ea.stopped == 1);
  REQUIRE(b->waitForLeadership(4s));
  CHECK(Steady::now() - cut >= 2700ms);
  sampleAtMostOneLeader({a.get(), b.get()}, 500ms);

  // a comes back as a standby (rejoinAfterLoss) and does not take the Lease from b.
  server.acceptTokens({"token-a", "token-b"});
  sampleAtMostOneLeader({a.get(), b.get()}, 1000ms);
  CHECK(b->isLeader());
  CHECK_FALSE(a->done());
  CHECK(a->leader() == "b");
  b->stop();
  REQUIRE(a->waitForLeadership(3s));
  // isLeader() turns true just before onStartedLeading runs.
  CHECK(eventually([&] { return ea.started.load() == 2; }, 1s));
  CHECK(server.lease().value()["spec"]["leaseTransitions"] == 2);
  a->stop();
}

TEST_CASE("leader election: 409 on races, one winner per race") {
  TestApiServer server;
  constexpr int kElectors = 5;
  std::vector<std::unique_ptr<LeaderElector>> electors;
  for (int i = 0; i < kElectors; ++i) {
    electors.push_back(
        makeElector(server, fastConfig("e" + std::to_string(i), nullptr), kAdminToken));
  }
  // Rounds of everyone trying at once: first on a missing Lease (POST races -> AlreadyExists),
  // then on a released one (PUT races with the same resourceVersion -> Conflict).
  uint64_t conflicts = 0;
  for (int round = 0; round < 12; ++round) {
    const bool create = round % 2 == 0;
    if (create) {
      server.deleteLease();
    } else {
      // A released Lease (holder ""): free for everyone.
      auto lease = server.lease();
      REQUIRE(lease);
      (*lease)["spec"]["holderIdentity"] = "";
      (*lease)["spec"]["leaseDurationSeconds"] = 1;
      server.putLease(*lease);
    }
    std::barrier sync(kElectors);
    std::atomic<int> winners{0};
    std::vector<std::thread> threads;
    for (auto& e : electors) {
      threads.emplace_back([&, elector = e.get()] {
        sync.arrive_and_wait();
        if (elector->tryAcquireOrRenew()) ++winners;
      });
    }
    for (auto& t : threads) t.join();
    CHECK(winners == 1);
    // Forget the round: everyone must look at the Lease afresh next time.
    for (auto& e : electors) {
      if (e->leader() == e->identity()) CHECK(e->release());
    }
  }
  for (auto& e : electors) conflicts += e->stats().conflicts;
  CHECK(conflicts > 0);

  // The leader's fast path hits 409 when someone else wrote the Lease meanwhile, and recovers
  // through a GET.
  LeaderElector& e0 = *electors[0];
  server.deleteLease();
  REQUIRE(e0.tryAcquireOrRenew());
  auto lease = server.lease();
  (*lease)["metadata"]["annotations"] = {{"touched", "yes"}};
  server.putLease(*lease);  // a new resourceVersion, same holder
  const uint64_t before = e0.stats().conflicts;
  REQUIRE(e0.tryAcquireOrRenew());
  CHECK(e0.stats().conflicts == before + 1);
  CHECK(server.lease().value()["spec"]["holderIdentity"] == "e0");
}

TEST_CASE("leader election: leaseTransitions and acquireTime across takeovers") {
  TestApiServer server;
  auto a = makeElector(server, fastConfig("a", nullptr), kAdminToken);
  auto b = makeElector(server, fastConfig("b", nullptr), kAdminToken);
  REQUIRE(a->tryAcquireOrRenew());
  json l = server.lease().value();
  CHECK(l["spec"]["leaseTransitions"] == 0);
  CHECK_FALSE(b->tryAcquireOrRenew());  // held and valid
  CHECK(b->leader() == "a");
  std::this_thread::sleep_for(20ms);
  REQUIRE(a->tryAcquireOrRenew());  // a renewal: same acquireTime, same count
  json renewed = server.lease().value();
  CHECK(renewed["spec"]["acquireTime"] == l["spec"]["acquireTime"]);
  CHECK(renewed["spec"]["renewTime"] != l["spec"]["renewTime"]);
  CHECK(renewed["spec"]["leaseTransitions"] == 0);

  REQUIRE(a->release());
  REQUIRE(b->tryAcquireOrRenew());
  json taken = server.lease().value();
  CHECK(taken["spec"]["holderIdentity"] == "b");
  CHECK(taken["spec"]["leaseTransitions"] == 1);
  CHECK(taken["spec"]["acquireTime"] != l["spec"]["acquireTime"]);
  CHECK(taken["spec"]["leaseDurationSeconds"] == 1);
  REQUIRE(b->release());
  REQUIRE(a->tryAcquireOrRenew());
  CHECK(server.lease().value()["spec"]["leaseTransitions"] == 2);
  CHECK(a->stats().releases == 1);
  CHECK(b->stats().releases == 1);
}

TEST_CASE("leader election: a Lease written by someone else is respected") {
  TestApiServer server;
  // An intruder holds the Lease for 2 s and keeps changing it, with renewTimes from 2000: expiry is
  // judged by when the record was last seen to change, never by renewTime.
  json lease = {{"apiVersion", "coordination.k8s.io/v1"},
                {"kind", "Lease"},
                {"metadata", {{"name", "updraft-operator"}, {"namespace", "default"}}},
                {"spec",
                 {{"holderIdentity", "intruder"},
                  {"leaseDurationSeconds", 2},
                  {"acquireTime", "2000-01-01T00:00:00.000000Z"},
                  {"renewTime", "2000-01-01T00:00:00.000000Z"},
                  {"leaseTransitions", 7}}}};
  auto created =
      server.admin().create("/apis/coordination.k8s.io/v1/namespaces/default/leases", lease);
  REQUIRE(created.isOk());
  REQUIRE(created->code == 201);

  Events events;
  auto a = makeElector(server, fastConfig("a", &events), "token-a");
  a->start();
  json current = created->body;
  auto lastWrite = Steady::now();
  for (int i = 1; i <= 8; ++i) {  // 3.2 s of renewals by the intruder, every 0.4 s
    std::this_thread::sleep_for(400ms);
    CHECK_FALSE(a->isLeader());
    current["spec"]["renewTime"] = "2000-01-01T00:00:0" + std::to_string(i) + ".000000Z";
    auto r = server.admin().update(
        "/apis/coordination.k8s.io/v1/namespaces/default/leases/updraft-operator", current);
    REQUIRE(r.isOk());
    REQUIRE(r->code == 200);
    current = r->body;
    lastWrite = Steady::now();
  }
  CHECK_FALSE(a->isLeader());
  CHECK(events.started == 0);
  CHECK(a->leader() == "intruder");
  // The intruder stops: a takes over once the record has been still for 2 s.
  REQUIRE(a->waitForLeadership(4s));
  CHECK(Steady::now() - lastWrite >= 1900ms);
  json taken = server.lease().value();
  CHECK(taken["spec"]["holderIdentity"] == "a");
  CHECK(taken["spec"]["leaseTransitions"] == 8);
  CHECK(events.seenLeaders() == std::vector<std::string>{"intruder", "a"});

  // Someone takes the Lease from the leader: it stops counting itself leader at once (the record
  // names another holder) and steps down after renewDeadline, without taking it back.
  server.rewriteLease([](json& l) {
    l["spec"]["holderIdentity"] = "thief";
    l["spec"]["leaseDurationSeconds"] = 30;
  });
  REQUIRE(eventually([&] { return !a->isLeader(); }, 2s));
  REQUIRE(eventually([&] { return events.stopped.load() == 1; }, 3s));
  std::this_thread::sleep_for(300ms);
  CHECK(server.lease().value()["spec"]["holderIdentity"] == "thief");
  CHECK(a->stats().losses == 1);
  a->stop();
  CHECK(server.lease().value()["spec"]["holderIdentity"] == "thief");  // not ours to release
}
