// A minimal AMQP 0-9-1 consumer for the RabbitMQ test: it opens a connection and a channel, sets a
// prefetch count and starts consuming a queue with manual acknowledgements, then never reads or
// acknowledges anything. So exactly `prefetch` messages sit unacknowledged (counted in the
// management API's `messages` but not in `messages_ready`) until the consumer is destroyed (the
// connection closes and RabbitMQ requeues them).
//
// Only what that needs of the protocol: method frames, PLAIN authentication, no heartbeats.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cstdint>
#include <stdexcept>
#include <string>

namespace updraft::testing {

class AmqpConsumer {
 public:
  AmqpConsumer(int port, const std::string& vhost, const std::string& user,
               const std::string& password, const std::string& queue, uint16_t prefetch) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd_ < 0) throw std::runtime_error("amqp: socket failed");
    timeval tv{10, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      ::close(fd_);
      throw std::runtime_error("amqp: connect failed");
    }
    sendAll(std::string("AMQP\0\0\x09\x01", 8));
    expect(10, 10);  // connection.start
    std::string a;
    table(a);              // client-properties
    shortstr(a, "PLAIN");  // mechanism
    longstr(a, std::string("\0", 1) + user + std::string("\0", 1) + password);
    shortstr(a, "en_US");  // locale
    method(0, 10, 11, a);  // connection.start-ok
    std::string tune = expect(10, 30);
    a.clear();
    a += tune.substr(4, 2);  // channel-max as proposed
    a += tune.substr(6, 4);  // frame-max as proposed
    u16(a, 0);               // heartbeat: off
    method(0, 10, 31, a);    // connection.tune-ok
    a.clear();
    shortstr(a, vhost);
    shortstr(a, "");
    a += '\0';
    method(0, 10, 40, a);  // connection.open
    expect(10, 41);
    a.clear();
    shortstr(a, "");
    method(1, 20, 10, a);  // channel.open
    expect(20, 11);
    a.clear();
    u32(a, 0);
    u16(a, prefetch);
    a += '\0';
    method(1, 60, 10, a);  // basic.qos
    expect(60, 11);
    a.clear();
    u16(a, 0);
    shortstr(a, queue);
    shortstr(a, "");  // consumer tag: chosen by the server
    a += '\0';        // no-local, no-ack (false: manual acks), exclusive, no-wait
    table(a);
    method(1, 60, 20, a);  // basic.consume
    expect(60, 21);
  }
  ~AmqpConsumer() {
    if (fd_ >= 0) ::close(fd_);
  }
  AmqpConsumer(const AmqpConsumer&) = delete;
  AmqpConsumer& operator=(const AmqpConsumer&) = delete;

 private:
  static void u16(std::string& s, uint16_t v) {
    s += static_cast<char>(v >> 8);
    s += static_cast<char>(v & 0xff);
  }
  static void u32(std::string& s, uint32_t v) {
    u16(s, static_cast<uint16_t>(v >> 16));
    u16(s, static_cast<uint16_t>(v & 0xffff));
  }
  static void shortstr(std::string& s, const std::string& v) {
    s += static_cast<char>(v.size());
    s += v;
  }
  static void longstr(std::string& s, const std::string& v) {
    u32(s, static_cast<uint32_t>(v.size()));
    s += v;
  }
  static void table(std::string& s) { u32(s, 0); }

  void sendAll(const std::string& data) {
    size_t off = 0;
    while (off < data.size()) {
      ssize_t n = ::send(fd_, data.data() + off, data.size() - off, MSG_NOSIGNAL);
      if (n <= 0) throw std::runtime_error("amqp: send failed");
      off += static_cast<size_t>(n);
    }
  }
  std::string recvExactly(size_t n) {
    std::string out(n, '\0');
    size_t off = 0;
    while (off < n) {
      ssize_t r = ::recv(fd_, out.data() + off, n - off, 0);
      if (r <= 0) throw std::runtime_error("amqp: connection closed or timed out");
      off += static_cast<size_t>(r);
    }
    return out;
  }
  void method(uint16_t channel, uint16_t cls, uint16_t m, const std::string& args) {
    std::string payload;
    u16(payload, cls);
    u16(payload, m);
    payload += args;
    std::string frame;
    frame += '\x01';
    u16(frame, channel);
    u32(frame, static_cast<uint32_t>(payload.size()));
    frame += payload;
    frame += '\xCE';
    sendAll(frame);
  }
  // Reads frames until the method (cls, m); returns its payload. A connection.close or
  // channel.close from the server is an error carrying its reply text.
  std::string expect(uint16_t cls, uint16_t m) {
    for (;;) {
      const std::string header = recvExactly(7);
      const auto b = [&](size_t i) { return static_cast<uint8_t>(header[i]); };
      const uint32_t size =
          (uint32_t(b(3)) << 24) | (uint32_t(b(4)) << 16) | (uint32_t(b(5)) << 8) | uint32_t(b(6));
      std::string payload = recvExactly(size + 1);
      payload.pop_back();  // frame-end
      if (b(0) != 1 || payload.size() < 4) continue;
      const auto p = [&](size_t i) { return static_cast<uint8_t>(payload[i]); };
      const uint16_t gotClass = static_cast<uint16_t>((p(0) << 8) | p(1));
      const uint16_t gotMethod = static_cast<uint16_t>((p(2) << 8) | p(3));
      if (gotClass == cls && gotMethod == m) return payload;
      if ((gotClass == 10 && gotMethod == 50) || (gotClass == 20 && gotMethod == 40)) {
        const size_t len = payload.size() > 6 ? p(6) : 0;
        throw std::runtime_error("amqp: server closed: " + payload.substr(7, len));
      }
    }
  }

  int fd_ = -1;
};

}  // namespace updraft::testing
