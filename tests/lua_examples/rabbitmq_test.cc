// examples/lua/rabbitmq.lua against a real RabbitMQ (Debian's rabbitmq-server 3.10 with the
// management plugin). The broker runs as root without systemd: its own start script
// (/usr/lib/rabbitmq/bin/rabbitmq-server, not the /usr/sbin wrapper, which switches user and logs
// to /var/log), every file in a temporary directory, a private epmd, free ports on 127.0.0.1 only.
#include <catch2/catch.hpp>
#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include "amqp_consumer.h"
#include "lua_example_util.h"
#include "scalers/test_server.h"
#include "server_process.h"

using namespace updraft;
using updraft::testing::AmqpConsumer;
using updraft::testing::ChildProcess;
using updraft::testing::closedPort;
using updraft::testing::contains;
using updraft::testing::eventually;
using updraft::testing::fileTail;
using updraft::testing::liveExample;
using updraft::testing::TempDir;

namespace {

using Steady = std::chrono::steady_clock;

// A RabbitMQ node with the management plugin; the default user guest/guest (loopback only).
class RabbitMq {
 public:
  explicit RabbitMq(std::string binary)
      : binary_(std::move(binary)),
        dir_("updraft-rabbitmq-test"),
        amqpPort_(closedPort()),
        managementPort_(closedPort()),
        distPort_(closedPort()),
        epmdPort_(closedPort()) {
    dir_.write("rabbitmq.conf", "listeners.tcp.default = 127.0.0.1:" + std::to_string(amqpPort_) +
                                    "\n"
                                    "management.tcp.ip = 127.0.0.1\n"
                                    "management.tcp.port = " +
                                    std::to_string(managementPort_) +
                                    "\n"
                                    "collect_statistics_interval = 500\n");
    dir_.write("enabled_plugins", "[rabbitmq_management].\n");
  }
  ~RabbitMq() { stop(); }

  void start() {
    // Our own epmd, so the node does not leave a daemon behind.
    epmd_.start({epmdBinary(), "-port", std::to_string(epmdPort_), "-address", "127.0.0.1"}, {},
                dir_.file("epmd.log"));
    const std::string d = dir_.path();
    server_.start({binary_},
                  {
                      {"HOME", d},
                      {"RABBITMQ_CONF_ENV_FILE", d + "/no-rabbitmq-env.conf"},
                      {"RABBITMQ_NODENAME", "updraft-test@localhost"},
                      {"RABBITMQ_CONFIG_FILE", d + "/rabbitmq.conf"},
                      {"RABBITMQ_ENABLED_PLUGINS_FILE", d + "/enabled_plugins"},
                      {"RABBITMQ_MNESIA_BASE", d + "/mnesia"},
                      {"RABBITMQ_LOG_BASE", d + "/log"},
                      {"RABBITMQ_LOGS", "-"},
                      {"RABBITMQ_DIST_PORT", std::to_string(distPort_)},
                      {"ERL_EPMD_ADDRESS", "127.0.0.1"},
                      {"ERL_EPMD_PORT", std::to_string(epmdPort_)},
                      // The start script then execs the Erlang VM itself (no shell in between), so
                      // the VM is our child and dies with the test (PR_SET_PDEATHSIG).
                      {"RABBITMQ_ALLOW_INPUT", "1"},
                      {"RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS",
                       "-noinput -kernel inet_dist_use_interface {127,0,0,1}"},
                  },
                  dir_.file("rabbitmq.log"));
  }

  // A throwaway node in a temporary directory: nothing to shut down gracefully (which takes ~8 s).
  void stop() {
    server_.stop(std::chrono::milliseconds(0));
    epmd_.stop(std::chrono::milliseconds(0));
  }

  // Polls the management API until it answers.
  bool waitReady(std::chrono::seconds timeout) {
    const auto until = Steady::now() + timeout;
    while (Steady::now() < until) {
      if (!server_.running()) return false;
      auto res = client().Get("/api/overview");
      if (res && res->status == 200) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return false;
  }

  // A management API request as guest; returns the status (0 when no answer).
  int api(const std::string& method, const std::string& path, const std::string& body = "") {
    auto c = client();
    httplib::Result res = method == "PUT"    ? c.Put(path, body, "application/json")
                          : method == "POST" ? c.Post(path, body, "application/json")
                                             : c.Get(path);
    if (!res) return 0;
    if (res->status >= 300) lastError_ = res->body;
    return res->status;
  }

  std::string managementUrl() const {
    return "http://127.0.0.1:" + std::to_string(managementPort_);
  }
  int amqpPort() const { return amqpPort_; }
  std::string log() const { return fileTail(dir_.file("rabbitmq.log")); }
  const std::string& lastError() const { return lastError_; }

 private:
  static std::string epmdBinary() {
    return updraft::testing::findServerBinary("UPDRAFT_EPMD_BIN",
                                              {"/usr/bin/epmd", "/usr/lib/erlang/bin/epmd"});
  }
  httplib::Client client() const {
    httplib::Client c("127.0.0.1", managementPort_);
    c.set_basic_auth("guest", "guest");
    c.set_connection_timeout(1, 0);
    c.set_read_timeout(5, 0);
    return c;
  }

  std::string binary_;
  TempDir dir_;
  int amqpPort_, managementPort_, distPort_, epmdPort_;
  ChildProcess epmd_;
  ChildProcess server_;
  std::string lastError_;
};

std::string publish(const std::string& routingKey, int i) {
  return R"({"properties":{},"routing_key":")" + routingKey + R"(","payload":"order )" +
         std::to_string(i) + R"(","payload_encoding":"string"})";
}

}  // namespace

TEST_CASE("rabbitmq.lua: queue depth from a real RabbitMQ's management API") {
  const std::string binary = updraft::testing::findServerBinary(
      "UPDRAFT_RABBITMQ_SERVER_BIN", {"/usr/lib/rabbitmq/bin/rabbitmq-server"});
  UPDRAFT_REQUIRE_SERVER_OR_SKIP(binary, "rabbitmq-server (Debian package rabbitmq-server)");

  RabbitMq rabbit(binary);
  rabbit.start();
  if (!rabbit.waitReady(std::chrono::seconds(45))) {
    FAIL("rabbitmq did not become ready\n" << rabbit.log());
  }

  // A vhost whose name needs URL-encoding, a queue in it, five messages.
  const std::string vhost = "team/a";
  const std::string vh = "team%2Fa";
  auto ok = [&](int status) {
    INFO("status " << status << ": " << rabbit.lastError());
    REQUIRE(status / 100 == 2);
  };
  ok(rabbit.api("PUT", "/api/vhosts/" + vh));
  ok(rabbit.api("PUT", "/api/permissions/" + vh + "/guest",
                R"({"configure":".*","write":".*","read":".*"})"));
  ok(rabbit.api("PUT", "/api/queues/" + vh + "/orders.v1", R"({"durable":false})"));
  for (int i = 0; i < 5; ++i) {
    ok(rabbit.api("POST", "/api/exchanges/" + vh + "/amq.default/publish",
                  publish("orders.v1", i)));
  }

  const StringMap auth = {{"username", "guest"}, {"password", "guest"}};
  StringMap metadata = {{"host", rabbit.managementUrl()},
                        {"vhost", vhost},
                        {"queueName", "orders.v1"},
                        {"targetValue", "2"}};
  auto length = liveExample("rabbitmq.lua", metadata, auth, "orders");
  std::string last;
  auto is = [](double want) { return [want](double v) { return v == want; }; };
  // The management plugin publishes queue statistics every collect_statistics_interval.
  if (!eventually(length, is(5), std::chrono::seconds(20), last)) {
    FAIL("queue length never reached 5; last poll: " << last);
  }
  auto r = length.poll();
  REQUIRE(r.isOk());
  CHECK(r->isActive);
  CHECK(r->metrics.at(0).metricName == "s0-lua-orders");

  // A consumer holding 2 unacknowledged messages: QueueLength counts them, MessagesReady not.
  {
    AmqpConsumer consumer(rabbit.amqpPort(), vhost, "guest", "guest", "orders.v1", 2);
    metadata["mode"] = "MessagesReady";
    auto ready = liveExample("rabbitmq.lua", metadata, auth);
    if (!eventually(ready, is(3), std::chrono::seconds(20), last)) {
      FAIL("messages_ready never reached 3; last poll: " << last);
    }
    CHECK(length.value() == 5);
  }

  // More messages flow through to the same scaler.
  for (int i = 5; i < 12; ++i) {
    ok(rabbit.api("POST", "/api/exchanges/" + vh + "/amq.default/publish",
                  publish("orders.v1", i)));
  }
  if (!eventually(length, is(12), std::chrono::seconds(20), last)) {
    FAIL("queue length never reached 12; last poll: " << last);
  }

  // Errors: a missing queue, bad credentials, a bad mode, the server gone.
  metadata["mode"] = "QueueLength";
  metadata["queueName"] = "nope";
  CHECK(contains(liveExample("rabbitmq.lua", metadata, auth).error(),
                 "rabbitmq: no queue 'nope' in vhost 'team/a'"));
  metadata["queueName"] = "orders.v1";
  std::string bad =
      liveExample("rabbitmq.lua", metadata, {{"username", "guest"}, {"password", "wrong-SECRET"}})
          .error();
  CHECK(contains(bad, "rabbitmq: the management API refused the credentials (HTTP 401)"));
  CHECK_FALSE(contains(bad, "SECRET"));
  metadata["mode"] = "MessageRate";
  CHECK(contains(liveExample("rabbitmq.lua", metadata, auth).error(),
                 "rabbitmq: mode must be QueueLength or MessagesReady, not 'MessageRate'"));

  rabbit.stop();
  CHECK(contains(length.error(), "GET " + rabbit.managementUrl() +
                                     "/api/queues/team%2Fa/orders.v1: connection refused"));
}
