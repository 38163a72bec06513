// azure-servicebus building blocks: SAS signing, Go regexes, the Atom documents.
#include <catch2/catch.hpp>
#include <string>

#include "azure_servicebus/servicebus_atom.h"
#include "common/azure_auth.h"
#include "common/go_regex.h"

using namespace updraft;

TEST_CASE("azure: queryEscape is Go's url.QueryEscape") {
  CHECK(azure::queryEscape("aZ09-_.~") == "aZ09-_.~");
  CHECK(azure::queryEscape("a b+c/d?e=f&g%$") == "a+b%2Bc%2Fd%3Fe%3Df%26g%25%24");
  CHECK(azure::queryEscape("\xc3\xa9") == "%C3%A9");
}

TEST_CASE("azure: SAS token, known answer (computed independently with Python's hmac)") {
  // now = 1700000000 -> se = now + 2 h.
  const TimePoint now{std::chrono::seconds(1700000000)};
  CHECK(azure::sasExpiry(now) == 1700007200);
  const std::string url =
      "https://MyNS.servicebus.windows.net/$Resources/Queues?%24skip=100&%24top=100&"
      "api-version=2021-05";
  CHECK(azure::sharedAccessSignature(url, "RootManageSharedAccessKey",
                                     "k3y+V4lue/Secret==", azure::sasExpiry(now)) ==
        "SharedAccessSignature "
        "sr=https%3a%2f%2fmyns.servicebus.windows.net%2f%24resources%2fqueues%3f%2524skip%3d100%"
        "26%2524top%3d100%26api-version%3d2021-05"
        "&sig=LP2uSGn2mYSWenwgi3H17%2FGgKimWWpgNg2n4BLLjVsk%3D&se=1700007200"
        "&skn=RootManageSharedAccessKey");
  // RFC 4231 test case 2 (HMAC-SHA256 of "what do ya want for nothing?" with key "Jefe").
  CHECK(azure::hmacSha256Base64("Jefe", "what do ya want for nothing?") ==
        "W9zBRr9gdU5qBCQmCJV1x1oAPwidJzmDnexYuWTsOEM=");
}

TEST_CASE("azure: connection strings") {
  auto c = azure::parseConnectionString(
      "Endpoint=sb://myns.servicebus.windows.net/;SharedAccessKeyName=Root;SharedAccessKey=a=b=;"
      "EntityPath=orders");
  REQUIRE(c.isOk());
  CHECK(c->endpoint == "myns.servicebus.windows.net");
  CHECK(c->keyName == "Root");
  CHECK(c->key == "a=b=");  // split on the first '=' only
  CHECK(c->entityPath == "orders");
  c = azure::parseConnectionString(
      "Endpoint=sb://localhost:5671;SharedAccessKeyName=R;"
      "SharedAccessKey=k;");
  REQUIRE(c.isOk());
  CHECK(c->endpoint == "localhost:5671");
  c = azure::parseConnectionString(
      "Endpoint=sb://ns.servicebus.windows.net;SharedAccessSignature=SharedAccessSignature "
      "sr=a&sig=b&se=1&skn=c");
  REQUIRE(c.isOk());
  CHECK(c->sharedAccessSignature == "SharedAccessSignature sr=a&sig=b&se=1&skn=c");
  CHECK(c->keyName.empty());
  CHECK_FALSE(azure::parseConnectionString("Endpoint=sb://h:port/;SharedAccessKeyName=R;"
                                           "SharedAccessKey=k")
                  .isOk());
}

TEST_CASE("azure: cloud names (go-autorest EnvironmentFromName, case-insensitive)") {
  CHECK(azure::cloudFromName("AZURECLOUD")->serviceBusEndpointSuffix == "servicebus.windows.net");
  CHECK(azure::cloudFromName("azurepubliccloud")->name == "AzurePublicCloud");
  CHECK(azure::cloudFromName("AzureChinaCloud")->serviceBusEndpointSuffix ==
        "servicebus.chinacloudapi.cn");
  CHECK_FALSE(azure::cloudFromName("AzureStackCloud"));
  CHECK_FALSE(azure::cloudFromName(""));
}

namespace {
bool matches(const char* pattern, const char* name) {
  auto re = GoRegex::compile(pattern);
  INFO(pattern << ": " << re.status().message());
  REQUIRE(re.isOk());
  return re->fullMatch(name);
}
StatusCode compileCode(const char* pattern) {
  auto re = GoRegex::compile(pattern);
  return re.isOk() ? StatusCode::kOk : re.status().code();
}
}  // namespace

TEST_CASE("Go regex: full-name match (KEDA's leftmost-longest FindString == name)") {
  CHECK(matches("orders-.*", "orders-eu"));
  CHECK_FALSE(matches("orders-.*", "my-orders-eu"));  // must match from the start
  CHECK_FALSE(matches("orders", "orders-eu"));        // and to the end
  CHECK(matches("a|ab", "ab"));  // leftmost-first would stop at "a"; longest is "ab"
  CHECK(matches("(a|ab)(c|bcd)", "abcd"));
  CHECK(matches("^orders$", "orders"));
  CHECK(matches("q[0-9]{2,3}", "q123"));
  CHECK_FALSE(matches("q[0-9]{2,3}", "q1234"));
  CHECK(matches("q{x}", "q{x}"));    // '{' that is not a repeat is a literal in Go
  CHECK(matches("a{,2}", "a{,2}"));  // so is "{,n}"
  CHECK(matches("(?i)ORDERS-.*", "orders-eu"));
  CHECK(matches("(?P<region>eu|us)-orders", "us-orders"));
  CHECK(matches("(?<region>eu|us)-orders", "eu-orders"));
  CHECK(matches("(?s:or)ders", "orders"));
  CHECK(matches("\\Aorders\\z", "orders"));
  CHECK(matches("\\Qa.b*c\\E", "a.b*c"));
  CHECK_FALSE(matches("\\Qa.b*c\\E", "aXbbc"));
  CHECK(matches("a\\.b", "a.b"));
  CHECK_FALSE(matches("a\\.b", "axb"));
  CHECK(matches("[[:digit:]]+", "123"));
  CHECK(matches("[]a]+", "]a]"));
  CHECK(matches("[\\-\\]]+", "-]"));
  CHECK(matches("x\\x41\\x{42}\\101", "xABA"));
  CHECK(matches("a/b/c", "a/b/c"));
  CHECK(matches("\\w+\\d*", "queue7"));
  CHECK(matches("a*?b", "aab"));

  // Invalid in Go.
  for (const char* bad :
       {"orders-(", "a)", "[a-", "a**", "a*+", "*a", "a|*", "(?=a)", "(?!a)", "(?<=a)b", "(\\w)\\1",
        "\\8", "a{1001}", "a{3,2}", "\\q", "x\\", "(?#c)a", "(?x)a"}) {
    INFO(bad);
    CHECK(compileCode(bad) == StatusCode::kInvalidArgument);
  }
  // Valid in Go, not supported here (a clear error, never a silent difference).
  for (const char* unsupported : {"\\pL+", "\\p{Greek}", "[[:^alpha:]]", "a(?i)b", "\\x{263a}"}) {
    INFO(unsupported);
    CHECK(compileCode(unsupported) == StatusCode::kFailedPrecondition);
  }
}

namespace {
const char* kQueueEntry = R"(<?xml version="1.0" encoding="utf-8"?>
<entry xmlns="http://www.w3.org/2005/Atom">
  <id>https://someservicebus.servicebus.windows.net/orders?api-version=2021-05</id>
  <title type="text">orders</title>
  <published>2022-02-03T19:34:05Z</published>
  <updated>2022-04-12T01:28:26Z</updated>
  <author><name>someservicebus</name></author>
  <link rel="self" href="https://someservicebus.servicebus.windows.net/orders?api-version=2021-05"/>
  <content type="application/xml">
    <QueueDescription xmlns="http://schemas.microsoft.com/netservices/2010/10/servicebus/connect" xmlns:i="http://www.w3.org/2001/XMLSchema-instance">
      <LockDuration>PT30S</LockDuration>
      <MessageCount>12</MessageCount>
      <AuthorizationRules>
        <AuthorizationRule i:type="SharedAccessAuthorizationRule">
          <ClaimType>SharedAccessKey</ClaimType>
        </AuthorizationRule>
      </AuthorizationRules>
      <Status>Active</Status>
      <CountDetails xmlns:d2p1="http://schemas.microsoft.com/netservices/2011/06/servicebus">
        <d2p1:ActiveMessageCount>3</d2p1:ActiveMessageCount>
        <d2p1:DeadLetterMessageCount>4</d2p1:DeadLetterMessageCount>
        <d2p1:ScheduledMessageCount>5</d2p1:ScheduledMessageCount>
        <d2p1:TransferMessageCount>0</d2p1:TransferMessageCount>
        <d2p1:TransferDeadLetterMessageCount>0</d2p1:TransferDeadLetterMessageCount>
      </CountDetails>
      <EntityAvailabilityStatus>Available</EntityAvailabilityStatus>
    </QueueDescription>
  </content>
</entry>)";
}  // namespace

TEST_CASE("Atom: entries, feeds and errors") {
  using servicebus::EntityKind;
  auto n = servicebus::parseEntry(kQueueEntry, EntityKind::kQueue);
  REQUIRE(n.isOk());
  REQUIRE(n->has_value());
  CHECK(**n == 3);  // only ActiveMessageCount, not MessageCount (12) or dead letters

  // Any prefixes, as long as the namespaces are right.
  const char* prefixed =
      R"(<a:entry xmlns:a="http://www.w3.org/2005/Atom"><a:content><sb:SubscriptionDescription
      xmlns:sb="http://schemas.microsoft.com/netservices/2010/10/servicebus/connect"><sb:CountDetails>
      <ActiveMessageCount xmlns="http://schemas.microsoft.com/netservices/2011/06/servicebus">
      42</ActiveMessageCount></sb:CountDetails></sb:SubscriptionDescription></a:content></a:entry>)";
  n = servicebus::parseEntry(prefixed, EntityKind::kSubscription);
  REQUIRE(n.isOk());
  CHECK(n->value() == 42);
  // A count element in the wrong namespace is not the count (missing -> 0, as in the Go SDK).
  const char* wrongNs =
      R"(<entry xmlns="http://www.w3.org/2005/Atom"><content><QueueDescription
      xmlns="http://schemas.microsoft.com/netservices/2010/10/servicebus/connect"><CountDetails>
      <ActiveMessageCount>9</ActiveMessageCount></CountDetails></QueueDescription></content></entry>)";
  n = servicebus::parseEntry(wrongNs, EntityKind::kQueue);
  REQUIRE(n.isOk());
  CHECK(n->value() == 0);

  // The service's answer for an entity that does not exist.
  const char* empty =
      R"(<feed xmlns="http://www.w3.org/2005/Atom"><title type="text">Publicly Listed Services</title><subtitle type="text">This is the list of publicly-listed services currently available.</subtitle><id>uuid:27fcd1e2-3a99-44b1-8f1e-3e92b52f0171;id=30</id><updated>2019-12-27T13:11:47Z</updated><generator>Service Bus 1.1</generator></feed>)";
  n = servicebus::parseEntry(empty, EntityKind::kQueue);
  REQUIRE(n.isOk());
  CHECK_FALSE(n->has_value());

  auto err = servicebus::parseEntry(kQueueEntry, EntityKind::kSubscription);
  REQUIRE_FALSE(err.isOk());
  CHECK(err.status().message() ==
        "the entity is not a subscription (the entry holds a QueueDescription)");
  err = servicebus::parseEntry("<html>oops", EntityKind::kQueue);
  REQUIRE_FALSE(err.isOk());
  CHECK(err.status().message().rfind("the response is not XML", 0) == 0);
  err = servicebus::parseEntry(
      R"(<entry xmlns="http://www.w3.org/2005/Atom"><content><QueueDescription xmlns="http://schemas.microsoft.com/netservices/2010/10/servicebus/connect"><CountDetails xmlns:d="http://schemas.microsoft.com/netservices/2011/06/servicebus"><d:ActiveMessageCount>-1</d:ActiveMessageCount></CountDetails></QueueDescription></content></entry>)",
      EntityKind::kQueue);
  REQUIRE_FALSE(err.isOk());
  CHECK(err.status().message() == "ActiveMessageCount \"-1\" is not a non-negative integer");

  auto feed = servicebus::parseFeed(
      std::string(
          R"(<feed xmlns="http://www.w3.org/2005/Atom"><title type="text">Queues</title>)") +
          R"(<entry><title type="text">a</title><content type="application/xml"><QueueDescription xmlns="http://schemas.microsoft.com/netservices/2010/10/servicebus/connect"><CountDetails xmlns:d2p1="http://schemas.microsoft.com/netservices/2011/06/servicebus"><d2p1:ActiveMessageCount>7</d2p1:ActiveMessageCount></CountDetails></QueueDescription></content></entry>)"
          R"(<entry><title type="text">b</title><content type="application/xml"><QueueDescription xmlns="http://schemas.microsoft.com/netservices/2010/10/servicebus/connect"><CountDetails xmlns:d2p1="http://schemas.microsoft.com/netservices/2011/06/servicebus"><d2p1:ActiveMessageCount>8</d2p1:ActiveMessageCount></CountDetails></QueueDescription></content></entry></feed>)",
      EntityKind::kQueue);
  REQUIRE(feed.isOk());
  REQUIRE(feed->size() == 2);
  CHECK((*feed)[0].name == "a");
  CHECK((*feed)[0].activeMessageCount == 7);
  CHECK((*feed)[1].name == "b");
  CHECK((*feed)[1].activeMessageCount == 8);
  feed = servicebus::parseFeed(empty, EntityKind::kQueue);
  REQUIRE(feed.isOk());
  CHECK(feed->empty());

  CHECK(servicebus::errorDetail(
            "<Error><Code>401</Code><Detail>InvalidSignature: The token has an invalid "
            "signature. TrackingId:abc_G1, SystemTracker:NoSystemTracker, "
            "Timestamp:2026-11-22T10:00:00</Detail></Error>") ==
        "InvalidSignature: The token has an invalid signature.");
  CHECK(servicebus::errorDetail("not xml").empty());
}
