#include "kafka/kafka_client.h"

#include <openssl/evp.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdio>

#include "kafka/kafka_oauth.h"

namespace updraft::kafka {
namespace {

int toMs(Millis m) {
  if (m.count() <= 0) return 0;
  if (m.count() > 24 * 3600 * 1000) return 24 * 3600 * 1000;
  return static_cast<int>(m.count());
}

std::string errText(rd_kafka_resp_err_t err) { return rd_kafka_err2str(err); }

bool isTimeout(rd_kafka_resp_err_t err) {
  return err == RD_KAFKA_RESP_ERR__TIMED_OUT || err == RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT ||
         err == RD_KAFKA_RESP_ERR__TIMED_OUT_QUEUE;
}

Status failure(rd_kafka_resp_err_t err, const std::string& what, Millis timeout) {
  if (isTimeout(err)) {
    return Status::timeout(what + ": " + errText(err) + " (no answer within " +
                           std::to_string(timeout.count()) + " ms)");
  }
  return Status::unavailable(what + ": " + errText(err));
}

void logCallback(const rd_kafka_t* rk, int level, const char* facility, const char* message) {
  // librdkafka reports every reconnect attempt; what matters reaches the poll as an error.
  if (level <= 3) {
    spdlog::debug("librdkafka {} {}: {}", rd_kafka_name(rk), facility, message);
  } else {
    spdlog::trace("librdkafka {} {}: {}", rd_kafka_name(rk), facility, message);
  }
}

struct PartitionList {
  rd_kafka_topic_partition_list_t* list;
  explicit PartitionList(const TopicPartitionList& tps, int64_t offset = RD_KAFKA_OFFSET_INVALID) {
    int n = 0;
    for (const auto& [_, ps] : tps) n += static_cast<int>(ps.size());
    list = rd_kafka_topic_partition_list_new(n);
    for (const auto& [topic, ps] : tps) {
      for (int32_t p : ps)
        rd_kafka_topic_partition_list_add(list, topic.c_str(), p)->offset = offset;
    }
  }
  ~PartitionList() { rd_kafka_topic_partition_list_destroy(list); }
  PartitionList(const PartitionList&) = delete;
  PartitionList& operator=(const PartitionList&) = delete;
};

void appendField(std::string& out, std::string_view v) {
  out += std::to_string(v.size());
  out += ':';
  out += v;
  out += ';';
}

}  // namespace

Millis remainingUntil(TimePoint deadline, const Clock& clock) {
  return std::chrono::duration_cast<Millis>(deadline - clock.now());
}

// ---- ClientConfig ----

std::string ClientConfig::brokers() const {
  std::string out;
  for (const auto& b : bootstrapServers) out += (out.empty() ? "" : ",") + b;
  return out;
}

std::string ClientConfig::poolKey() const {
  std::string canonical;
  for (const auto& b : bootstrapServers) appendField(canonical, b);
  appendField(canonical, "|");
  for (std::string_view v :
       {std::string_view(securityProtocol), std::string_view(saslMechanism),
        std::string_view(username), std::string_view(password),
        std::string_view(unsafeSsl ? "1" : "0"), std::string_view(ca), std::string_view(cert),
        std::string_view(key), std::string_view(keyPassword), std::string_view(tokenEndpoint)}) {
    appendField(canonical, v);
  }
  appendField(canonical, "|");
  for (const auto& s : scopes) appendField(canonical, s);
  appendField(canonical, "|");
  for (const auto& [k, v] : extensions) {
    appendField(canonical, k);
    appendField(canonical, v);
  }
  appendField(canonical, version.toString());

  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(canonical.data(), canonical.size(), digest, &len, EVP_sha256(), nullptr);
  std::string hex;
  char buf[3];
  for (unsigned i = 0; i < len; ++i) {
    std::snprintf(buf, sizeof buf, "%02x", digest[i]);
    hex += buf;
  }
  return hex;
}

std::vector<std::string> ClientConfig::secrets() const {
  std::vector<std::string> out;
  for (const std::string* s : {&password, &key, &keyPassword, &cert, &ca}) {
    if (s->size() >= 3) out.push_back(*s);
  }
  return out;
}

Result<ClientConfig> clientConfigFor(const KafkaSettings& s) {
  ClientConfig c;
  for (const auto& b : s.bootstrapServers) {
    if (!b.empty()) c.bootstrapServers.push_back(b);
  }
  std::sort(c.bootstrapServers.begin(), c.bootstrapServers.end());
  c.bootstrapServers.erase(std::unique(c.bootstrapServers.begin(), c.bootstrapServers.end()),
                           c.bootstrapServers.end());
  if (c.bootstrapServers.empty()) {
    return Status::invalidArgument("kafka: bootstrapServers names no broker");
  }
  const std::string where = "kafka brokers " + c.brokers() + ": ";
  switch (s.sasl) {
    case SaslType::kNone:
      break;
    case SaslType::kPlaintext:
      c.saslMechanism = "PLAIN";
      break;
    case SaslType::kScramSha256:
      c.saslMechanism = "SCRAM-SHA-256";
      break;
    case SaslType::kScramSha512:
      c.saslMechanism = "SCRAM-SHA-512";
      break;
    case SaslType::kOAuthBearer:
      if (s.tokenProvider == TokenProvider::kAwsMskIam) {
        return Status::failedPrecondition(
            where +
            "sasl oauthbearer with saslTokenProvider aws_msk_iam is not supported: librdkafka "
            "2.0.2 has no AWS MSK IAM signer (use SASL/SCRAM or an OAuth bearer token endpoint)");
      }
      c.saslMechanism = "OAUTHBEARER";
      c.tokenEndpoint = s.oauthTokenEndpointUri;
      c.scopes = s.scopes;
      c.extensions = s.oauthExtensions;
      break;
    case SaslType::kGssapi:
      return Status::failedPrecondition(
          where +
          "sasl gssapi (Kerberos) is not supported: librdkafka authenticates with a keytab through "
          "an external kinit and a process-wide krb5.conf, which cannot honour per-trigger "
          "kerberosConfig, password or kerberosDisableFAST");
  }
  if (s.sasl != SaslType::kNone) {
    c.securityProtocol = s.enableTls ? "sasl_ssl" : "sasl_plaintext";
    c.username = s.username;
    c.password = s.password;
  } else {
    c.securityProtocol = s.enableTls ? "ssl" : "plaintext";
  }
  if (s.enableTls) {
    c.unsafeSsl = s.unsafeSsl;
    c.ca = s.ca;
    c.cert = s.cert;
    c.key = s.key;
    c.keyPassword = s.keyPassword;
  }
  c.version = s.version;
  return c;
}

// ---- KafkaClient ----

KafkaClient::KafkaClient(ClientConfig config) : config_(std::move(config)) {}

KafkaClient::~KafkaClient() {
  if (rk_) rd_kafka_destroy(rk_);
}

std::string KafkaClient::scrub(std::string message) const {
  for (const auto& secret : config_.secrets()) {
    for (size_t pos = message.find(secret); pos != std::string::npos;
         pos = message.find(secret, pos)) {
      message.replace(pos, secret.size(), "<redacted>");
    }
  }
  return message;
}

void KafkaClient::oauthRefreshCallback(rd_kafka_t* rk, const char* /*config*/, void* opaque) {
  auto* self = static_cast<KafkaClient*>(opaque);
  self->oauthRefreshes_.fetch_add(1);
  const ClientConfig& c = self->config_;
  auto token = fetchOAuthToken({c.username, c.password, c.tokenEndpoint, c.scopes}, Millis(10000));
  if (!token.isOk()) {
    rd_kafka_oauthbearer_set_token_failure(rk, self->scrub(token.status().message()).c_str());
    return;
  }
  std::vector<const char*> ext;
  for (const auto& [k, v] : c.extensions) {
    ext.push_back(k.c_str());
    ext.push_back(v.c_str());
  }
  const auto now =
      std::chrono::duration_cast<Millis>(std::chrono::system_clock::now().time_since_epoch());
  char errstr[512] = {0};
  rd_kafka_resp_err_t err = rd_kafka_oauthbearer_set_token(
      rk, token->accessToken.c_str(), (now + token->lifetime).count(),
      c.username.empty() ? "updraft" : c.username.c_str(), ext.empty() ? nullptr : ext.data(),
      ext.size(), errstr, sizeof errstr);
  if (err) {
    std::string msg = "oauth token rejected by librdkafka: " + std::string(errstr);
    rd_kafka_oauthbearer_set_token_failure(rk, self->scrub(msg).c_str());
  }
}

Result<std::unique_ptr<KafkaClient>> KafkaClient::create(ClientConfig config) {
  std::unique_ptr<KafkaClient> client(new KafkaClient(std::move(config)));
  const ClientConfig& c = client->config_;
  const std::string where = "kafka brokers " + c.brokers();
  char errstr[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  auto set = [&](const char* name, const std::string& value) -> Status {
    if (rd_kafka_conf_set(conf, name, value.c_str(), errstr, sizeof errstr) != RD_KAFKA_CONF_OK) {
      return Status::invalidArgument(where + ": client setting " + name +
                                     " rejected: " + client->scrub(errstr));
    }
    return Status::ok();
  };
  std::vector<std::pair<const char*, std::string>> settings = {
      {"bootstrap.servers", c.brokers()},
      {"client.id", "updraft"},
      // Log-end offsets are high watermarks, as sarama's OffsetRequest v1 (no isolation level).
      {"isolation.level", "read_uncommitted"},
      {"enable.auto.commit", "false"},
      {"allow.auto.create.topics", "false"},
      {"reconnect.backoff.ms", "100"},
      {"reconnect.backoff.max.ms", "2000"},
      {"socket.keepalive.enable", "true"},
      // socket.nagle.disable stays false (librdkafka's default). Kafka brokers set TCP_NODELAY
      // and answer a connection's requests in order, so Nagle here only coalesces pipelined
      // requests: kafka_bench measured the same latency either way against brokers with
      // TCP_NODELAY, and better with it against librdkafka's mock broker, which lacks it.
      {"log.connection.close", "false"},
      {"security.protocol", c.securityProtocol},
  };

  if (c.version < KafkaVersion{0, 10, 0, 0}) {
    settings.emplace_back("api.version.request", "false");
    settings.emplace_back("broker.version.fallback", c.version.toString());
  }
  if (!c.saslMechanism.empty()) {
    settings.emplace_back("sasl.mechanisms", c.saslMechanism);
    if (c.saslMechanism != "OAUTHBEARER") {
      settings.emplace_back("sasl.username", c.username);
      settings.emplace_back("sasl.password", c.password);
    }
  }
  if (c.securityProtocol == "ssl" || c.securityProtocol == "sasl_ssl") {
    if (!c.ca.empty()) settings.emplace_back("ssl.ca.pem", c.ca);
    if (!c.cert.empty()) settings.emplace_back("ssl.certificate.pem", c.cert);
    if (!c.key.empty()) settings.emplace_back("ssl.key.pem", c.key);
    if (!c.keyPassword.empty()) settings.emplace_back("ssl.key.password", c.keyPassword);
    if (c.unsafeSsl) {
      settings.emplace_back("enable.ssl.certificate.verification", "false");
      settings.emplace_back("ssl.endpoint.identification.algorithm", "none");
    } else {
      settings.emplace_back("ssl.endpoint.identification.algorithm", "https");
    }
  }
  for (const auto& [name, value] : settings) {
    if (Status st = set(name, value); !st.isOk()) {
      rd_kafka_conf_destroy(conf);
      return st;
    }
  }
  rd_kafka_conf_set_log_cb(conf, logCallback);
  rd_kafka_conf_set_opaque(conf, client.get());
  const bool oauth = c.saslMechanism == "OAUTHBEARER";
  if (oauth) {
    rd_kafka_conf_set_oauthbearer_token_refresh_cb(conf, &KafkaClient::oauthRefreshCallback);
    rd_kafka_conf_enable_sasl_queue(conf, 1);
  }
  client->rk_ = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr);
  if (!client->rk_) {
    // rd_kafka_new() frees conf only on success.
    rd_kafka_conf_destroy(conf);
    return Status::invalidArgument(where + ": cannot create the client: " + client->scrub(errstr));
  }
  if (oauth) {
    if (rd_kafka_error_t* e = rd_kafka_sasl_background_callbacks_enable(client->rk_)) {
      std::string msg = rd_kafka_error_string(e);
      rd_kafka_error_destroy(e);
      return Status::internal(where + ": cannot start the OAuth token refresh: " + msg);
    }
  }
  return client;
}

Result<std::vector<int32_t>> KafkaClient::topicPartitions(const std::string& topic,
                                                          Millis timeout) {
  const std::string what = "describing topic \"" + topic + "\"";
  if (timeout.count() <= 0) return Status::timeout(what + ": no time left before the deadline");
  rd_kafka_topic_t* rkt = rd_kafka_topic_new(rk_, topic.c_str(), nullptr);
  if (!rkt) return Status::invalidArgument(what + ": " + errText(rd_kafka_last_error()));
  const rd_kafka_metadata_t* md = nullptr;
  rd_kafka_resp_err_t err = rd_kafka_metadata(rk_, 0, rkt, &md, toMs(timeout));
  rd_kafka_topic_destroy(rkt);
  if (err) return failure(err, what, timeout);
  std::vector<int32_t> out;
  Status status;
  bool found = false;
  for (int i = 0; i < md->topic_cnt; ++i) {
    const rd_kafka_metadata_topic_t& t = md->topics[i];
    if (topic != t.topic) continue;
    found = true;
    if (t.err) {
      status = Status::unavailable(what + ": " + errText(t.err));
      break;
    }
    for (int p = 0; p < t.partition_cnt; ++p) out.push_back(t.partitions[p].id);
  }
  rd_kafka_metadata_destroy(md);
  if (!status.isOk()) return status;
  if (!found) return Status::unavailable(what + ": expected only 1 topic metadata, got 0");
  std::sort(out.begin(), out.end());
  return out;
}

Result<TopicPartitionList> KafkaClient::allTopics(Millis timeout) {
  const std::string what = "listing topics";
  if (timeout.count() <= 0) return Status::timeout(what + ": no time left before the deadline");
  const rd_kafka_metadata_t* md = nullptr;
  rd_kafka_resp_err_t err = rd_kafka_metadata(rk_, 1, nullptr, &md, toMs(timeout));
  if (err) return failure(err, what, timeout);
  TopicPartitionList out;
  for (int i = 0; i < md->topic_cnt; ++i) {
    const rd_kafka_metadata_topic_t& t = md->topics[i];
    if (t.err) continue;
    auto& ps = out[t.topic];
    for (int p = 0; p < t.partition_cnt; ++p) ps.push_back(t.partitions[p].id);
    std::sort(ps.begin(), ps.end());
  }
  rd_kafka_metadata_destroy(md);
  return out;
}

void KafkaClient::startCommitted(const std::string& group, const TopicPartitionList& partitions,
                                 Millis timeout, rd_kafka_queue_t* queue) {
  PartitionList list(partitions);
  rd_kafka_ListConsumerGroupOffsets_t* request =
      rd_kafka_ListConsumerGroupOffsets_new(group.c_str(), list.list);
  rd_kafka_AdminOptions_t* options =
      rd_kafka_AdminOptions_new(rk_, RD_KAFKA_ADMIN_OP_LISTCONSUMERGROUPOFFSETS);
  char errstr[256];
  rd_kafka_AdminOptions_set_request_timeout(options, std::max(1, toMs(timeout)), errstr,
                                            sizeof errstr);
  rd_kafka_ListConsumerGroupOffsets(rk_, &request, 1, options, queue);
  rd_kafka_ListConsumerGroupOffsets_destroy(request);
  rd_kafka_AdminOptions_destroy(options);
}

Result<CommittedOffsets> KafkaClient::awaitCommitted(rd_kafka_queue_t* queue, Millis timeout) {
  const std::string what = "listing committed offsets";
  rd_kafka_event_t* ev = rd_kafka_queue_poll(queue, std::max(1, toMs(timeout)));
  if (!ev) return failure(RD_KAFKA_RESP_ERR__TIMED_OUT, what, timeout);
  CommittedOffsets out;
  Status status;
  if (rd_kafka_resp_err_t err = rd_kafka_event_error(ev)) {
    const char* text = rd_kafka_event_error_string(ev);
    status = isTimeout(err) ? failure(err, what, timeout)
                            : Status::unavailable(what + ": " + (text ? text : errText(err)));
  } else {
    size_t n = 0;
    const rd_kafka_group_result_t** groups = rd_kafka_ListConsumerGroupOffsets_result_groups(
        rd_kafka_event_ListConsumerGroupOffsets_result(ev), &n);
    if (n != 1) {
      status =
          Status::unavailable(what + ": expected 1 group in the answer, got " + std::to_string(n));
    } else if (const rd_kafka_error_t* e = rd_kafka_group_result_error(groups[0])) {
      rd_kafka_resp_err_t code = rd_kafka_error_code(e);
      status = isTimeout(code) ? failure(code, what, timeout)
                               : Status::unavailable(what + ": " + rd_kafka_error_string(e));
    } else if (const rd_kafka_topic_partition_list_t* pl =
                   rd_kafka_group_result_partitions(groups[0])) {
      for (int i = 0; i < pl->cnt; ++i) {
        const rd_kafka_topic_partition_t& tp = pl->elems[i];
        CommittedBlock block;
        block.offset = tp.offset < 0 ? kInvalidOffset : tp.offset;
        if (tp.err) block.error = errText(tp.err);
        out[tp.topic][tp.partition] = std::move(block);
      }
    }
  }
  rd_kafka_event_destroy(ev);
  if (!status.isOk()) return status;
  return out;
}

Result<CommittedOffsets> KafkaClient::committedOffsets(const std::string& group,
                                                       const TopicPartitionList& partitions,
                                                       Millis timeout) {
  if (timeout.count() <= 0) {
    return Status::timeout("listing committed offsets: no time left before the deadline");
  }
  rd_kafka_queue_t* queue = rd_kafka_queue_new(rk_);
  startCommitted(group, partitions, timeout, queue);
  auto out = awaitCommitted(queue, timeout);
  rd_kafka_queue_destroy(queue);
  return out;
}

Result<EndOffsets> KafkaClient::endOffsets(const TopicPartitionList& partitions, Millis timeout) {
  const std::string what = "querying log-end offsets";
  if (timeout.count() <= 0) return Status::timeout(what + ": no time left before the deadline");
  EndOffsets out;
  if (partitions.empty()) return out;
  PartitionList list(partitions, RD_KAFKA_OFFSET_END);
  rd_kafka_resp_err_t err = rd_kafka_offsets_for_times(rk_, list.list, toMs(timeout));
  if (err) return failure(err, what, timeout);
  for (int i = 0; i < list.list->cnt; ++i) {
    const rd_kafka_topic_partition_t& tp = list.list->elems[i];
    if (tp.err) {
      return Status::unavailable(what + ": topic \"" + tp.topic + "\" partition " +
                                 std::to_string(tp.partition) + ": " + errText(tp.err));
    }
    out[tp.topic][tp.partition] = tp.offset;
  }
  return out;
}

Result<KafkaClient::Offsets> KafkaClient::offsets(const std::string& group,
                                                  const TopicPartitionList& partitions,
                                                  Millis timeout) {
  if (timeout.count() <= 0) {
    return Status::timeout("listing committed offsets: no time left before the deadline");
  }
  const auto start = std::chrono::steady_clock::now();
  rd_kafka_queue_t* queue = rd_kafka_queue_new(rk_);
  startCommitted(group, partitions, timeout, queue);
  auto end = endOffsets(partitions, timeout);
  const auto spent = std::chrono::duration_cast<Millis>(std::chrono::steady_clock::now() - start);
  auto committed = awaitCommitted(queue, timeout - spent);
  rd_kafka_queue_destroy(queue);
  // As KEDA: the consumer-offset error first.
  if (!committed.isOk()) return committed.status();
  if (!end.isOk()) return end.status();
  return Offsets{std::move(*committed), std::move(*end)};
}

// ---- ClientPool ----

ClientPool& ClientPool::global() {
  static ClientPool* pool = new ClientPool();  // never destroyed: clients may outlive main()
  return *pool;
}

Result<std::shared_ptr<KafkaClient>> ClientPool::acquire(const ClientConfig& config) {
  std::string key = config.poolKey();
  std::lock_guard lock(mutex_);
  if (sharing_) {
    auto it = clients_.find(key);
    if (it != clients_.end()) {
      if (auto client = it->second.lock()) return client;
    }
  } else {
    key += "#" + std::to_string(created_);
  }
  // rd_kafka_new() does no network I/O, so creating under the lock is cheap and guarantees one
  // client per key.
  auto created = KafkaClient::create(config);
  if (!created.isOk()) return created.status();
  KafkaClient* raw = created->release();
  std::shared_ptr<KafkaClient> client(raw, [this, key](KafkaClient* c) { this->release(key, c); });
  clients_[key] = client;
  ++created_;
  return client;
}

void ClientPool::release(const std::string& key, KafkaClient* client) {
  {
    std::lock_guard lock(mutex_);
    auto it = clients_.find(key);
    if (it != clients_.end() && it->second.expired()) clients_.erase(it);
  }
  delete client;  // rd_kafka_destroy() may wait for its threads: outside the lock
}

PoolStats ClientPool::stats() const {
  std::lock_guard lock(mutex_);
  PoolStats s;
  s.created = created_;
  for (const auto& [_, weak] : clients_) {
    const long refs = weak.use_count();
    if (refs > 0) {
      ++s.clients;
      s.references += static_cast<size_t>(refs);
    }
  }
  return s;
}

void ClientPool::setSharing(bool sharing) {
  std::lock_guard lock(mutex_);
  sharing_ = sharing;
}

}  // namespace updraft::kafka
