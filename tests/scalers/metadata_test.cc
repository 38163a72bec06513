#include "updraft/metadata.h"

#include <catch2/catch.hpp>

using namespace updraft;

namespace {

ScalerConfig config(StringMap tm, StringMap auth = {}, StringMap env = {}) {
  ScalerConfig c;
  c.triggerMetadata = std::move(tm);
  c.authParams = std::move(auth);
  c.resolvedEnv = std::move(env);
  return c;
}

const Opt kAny{.order = {From::kTriggerMetadata, From::kResolvedEnv, From::kAuthParams}};

}  // namespace

TEST_CASE("values are trimmed and empty counts as absent") {
  auto c = config({{"a", "  10 \n"}, {"blank", " \t\n"}, {"s", " hello world "}});
  MetadataReader r(c);
  CHECK(r.int64("a") == 10);
  CHECK(r.string("s") == "hello world");
  CHECK_FALSE(r.string("blank", {.optional = true}).has_value());
  CHECK_FALSE(r.string("blank").has_value());
  CHECK(r.finish().message() == "missing required parameter \"blank\" in [triggerMetadata]");
}

TEST_CASE("lookup order, FromEnv indirection and aliases") {
  SECTION("resolvedEnv via <name>FromEnv") {
    auto c = config({{"hostFromEnv", "REDIS_HOST"}}, {}, {{"REDIS_HOST", " redis:6379\n"}});
    MetadataReader r(c);
    CHECK(r.string("host", kAny) == "redis:6379");
    CHECK(r.finish().isOk());
  }
  SECTION("the first source in order wins") {
    auto c = config({{"password", "from-tm"}, {"passwordFromEnv", "PW"}}, {{"password", "from-ap"}},
                    {{"PW", "from-env"}});
    MetadataReader r(c);
    CHECK(r.string("password", kAny) == "from-tm");
    CHECK(r.string("password", {.order = {From::kAuthParams, From::kTriggerMetadata}}) ==
          "from-ap");
    CHECK(r.string("password", {.order = {From::kResolvedEnv, From::kAuthParams}}) == "from-env");
  }
  SECTION("a source absent from the order is not consulted") {
    auto c = config({}, {{"topic", "t"}});
    MetadataReader r(c);
    CHECK_FALSE(r.string("topic").has_value());
    CHECK(r.finish().message() == "missing required parameter \"topic\" in [triggerMetadata]");
  }
  SECTION("an empty value falls through to the next source") {
    auto c = config({{"user", "  "}}, {{"user", "admin"}});
    MetadataReader r(c);
    CHECK(r.string("user", {.order = {From::kTriggerMetadata, From::kAuthParams}}) == "admin");
  }
  SECTION("aliases are tried in order and messages use the first name") {
    auto c = config({{"authMode", "basic"}});
    MetadataReader r(c);
    CHECK(r.string("authModes;authMode") == "basic");
    CHECK_FALSE(r.string("queueName;queue").has_value());
    CHECK(r.finish().message() == "missing required parameter \"queueName\" in [triggerMetadata]");
  }
  SECTION("the missing message lists the whole order and explains a dangling FromEnv") {
    auto c = config({{"hostFromEnv", "REDIS_HOST"}});
    MetadataReader r(c);
    CHECK_FALSE(r.string("host", kAny).has_value());
    CHECK(r.finish().message() ==
          "missing required parameter \"host\" in [triggerMetadata resolvedEnv authParams] "
          "(hostFromEnv names \"REDIS_HOST\", which is unset or empty in the target's "
          "environment)");
  }
}

TEST_CASE("integers follow JSON number syntax") {
  struct Row {
    const char* in;
    std::optional<int64_t> want;
  };
  const Row rows[] = {
      {"10", 10},
      {"-7", -7},
      {"0", 0},
      {"-0", 0},
      {"9223372036854775807", INT64_MAX},
      {"10.5", std::nullopt},
      {"1e3", std::nullopt},
      {"+5", std::nullopt},
      {"010", std::nullopt},
      {"0x10", std::nullopt},
      {"abc", std::nullopt},
      {"5 5", std::nullopt},
      {"9223372036854775808", std::nullopt},
      {"\"10\"", std::nullopt},
  };
  for (const auto& row : rows) {
    INFO(row.in);
    auto c = config({{"n", row.in}});
    MetadataReader r(c);
    CHECK(r.int64("n") == row.want);
    CHECK(r.finish().isOk() == row.want.has_value());
  }
  auto c = config({{"lagThreshold", "abc"}, {"big", "9223372036854775808"}});
  MetadataReader r(c);
  r.int64("lagThreshold");
  r.int64("big");
  CHECK(r.finish().message() ==
        "parameter \"lagThreshold\": \"abc\" is not a valid integer; parameter \"big\": "
        "\"9223372036854775808\" is out of range for a 64-bit integer");
}

TEST_CASE("floats follow JSON number syntax") {
  struct Row {
    const char* in;
    std::optional<double> want;
  };
  const Row rows[] = {
      {"1.5", 1.5},
      {"1e3", 1000},
      {"-2E-2", -0.02},
      {"0", 0},
      {"10", 10},
      {".5", std::nullopt},
      {"5.", std::nullopt},
      {"+1", std::nullopt},
      {"NaN", std::nullopt},
      {"Inf", std::nullopt},
      {"1e999", std::nullopt},
      {"1,5", std::nullopt},
  };
  for (const auto& row : rows) {
    INFO(row.in);
    auto c = config({{"x", row.in}});
    MetadataReader r(c);
    CHECK(r.float64("x") == row.want);
  }
}

TEST_CASE("booleans take Go's ParseBool spellings") {
  for (const char* t : {"1", "t", "T", "true", "TRUE", "True"}) {
    auto c = config({{"b", t}});
    MetadataReader r(c);
    CHECK(r.boolean("b") == true);
  }
  for (const char* f : {"0", "f", "F", "false", "FALSE", "False"}) {
    auto c = config({{"b", f}});
    MetadataReader r(c);
    CHECK(r.boolean("b") == false);
  }
  for (const char* bad : {"yes", "no", "on", "tRUE", "2", "truee"}) {
    INFO(bad);
    auto c = config({{"b", bad}});
    MetadataReader r(c);
    CHECK_FALSE(r.boolean("b").has_value());
    CHECK(r.finish().message() == std::string("parameter \"b\": \"") + bad +
                                      "\" is not a valid boolean (use true or false)");
  }
}

TEST_CASE("durations are Go durations or integer milliseconds, never negative") {
  struct Row {
    const char* in;
    std::optional<int64_t> ms;
  };
  const Row rows[] = {
      {"30s", 30000},
      {"1m30s", 90000},
      {"1.5h", 5400000},
      {"300ms", 300},
      {"1h2m3s4ms", 3723004},
      {"2500", 2500},
      {"0", 0},
      {"0s", 0},
      {".5s", 500},
      {"1500us", 1},
      {"+2s", 2000},
      {"-5s", std::nullopt},
      {"-5", std::nullopt},
      {"5x", std::nullopt},
      {"s", std::nullopt},
      {"1.5", std::nullopt},
      {"3 s", std::nullopt},
  };
  for (const auto& row : rows) {
    INFO(row.in);
    auto c = config({{"timeout", row.in}});
    MetadataReader r(c);
    auto d = r.duration("timeout");
    REQUIRE(d.has_value() == row.ms.has_value());
    if (d) CHECK(d->count() == *row.ms);
  }
  auto c = config({{"timeout", "-5s"}});
  MetadataReader r(c);
  r.duration("timeout");
  CHECK(r.finish().message() == "parameter \"timeout\": \"-5s\" must not be negative");
}

TEST_CASE("Go duration parser matches time.ParseDuration") {
  using std::chrono::nanoseconds;
  CHECK(*metadata::parseGoDuration("-1.5h") == -nanoseconds(5400000000000));
  CHECK(*metadata::parseGoDuration("1\xC2\xB5s") == nanoseconds(1000));
  CHECK(*metadata::parseGoDuration("2562047h47m16.854775807s") == nanoseconds(INT64_MAX));
  CHECK_FALSE(metadata::parseGoDuration("2562047h47m16.854775808s").isOk());
  CHECK_FALSE(metadata::parseGoDuration("").isOk());
  CHECK_FALSE(metadata::parseGoDuration("1d").isOk());
  CHECK_FALSE(metadata::parseGoDuration(".s").isOk());
}

TEST_CASE("maps are k=v lists and a value containing '=' is rejected") {
  {
    auto c = config({{"headers", " a=1 , b = two "}});
    MetadataReader r(c);
    CHECK(r.stringMap("headers") == StringMap{{"a", "1"}, {"b", "two"}});
  }
  {
    auto c = config({{"headers", "a=1,token=abc=="}});
    MetadataReader r(c);
    CHECK_FALSE(r.stringMap("headers").has_value());
    CHECK(r.finish().message() ==
          "parameter \"headers\": \"a=1,token=abc==\" is not a valid map: element 2 "
          "(\"token=abc==\") must be key=value, and values must not contain '='");
  }
  for (const char* bad : {"a", "a=1,", "=", "a=1,b"}) {
    INFO(bad);
    auto c = config({{"m", bad}});
    MetadataReader r(c);
    if (std::string(bad) == "=") {
      CHECK(r.stringMap("m") == StringMap{{"", ""}});  // KEDA accepts an empty key and value
    } else {
      CHECK_FALSE(r.stringMap("m").has_value());
    }
  }
}

TEST_CASE("lists split on commas, trim elements, and check enum and exclusive sets") {
  auto c = config({{"l", " a , b ,c"},
                   {"modes", "basic, tls"},
                   {"bad", "basic,oauth"},
                   {"both", "basic,bearer"},
                   {"partitions", "0, 3-5 ,9"}});
  MetadataReader r(c);
  CHECK(r.list("l") == std::vector<std::string>{"a", "b", "c"});
  const Opt modes{.allowed = {"apiKey", "basic", "bearer", "tls"},
                  .exclusiveSet = {"bearer", "basic"}};
  CHECK(r.list("modes", modes) == std::vector<std::string>{"basic", "tls"});
  CHECK_FALSE(r.list("bad", modes).has_value());
  CHECK_FALSE(r.list("both", modes).has_value());
  CHECK(r.int64List("partitions", {.rangeSeparator = "-"}) == std::vector<int64_t>{0, 3, 4, 5, 9});
  CHECK(r.finish().message() ==
        "parameter \"bad\": element \"oauth\" must be one of apiKey, basic, bearer, tls; "
        "parameter \"both\": \"basic,bearer\" may contain only one of bearer, basic");
}

TEST_CASE("enums and defaults") {
  auto c = config({{"format", "xml"}, {"bad", "csv"}});
  MetadataReader r(c);
  CHECK(r.enumValue("format", {"json", "xml"}) == "xml");
  CHECK(r.enumValue("method", {"header", "query"}, {.defaultValue = "header"}) == "header");
  CHECK(r.int64("lagThreshold", {.defaultValue = "10"}) == 10);
  CHECK_FALSE(r.enumValue("bad", {"json", "xml"}).has_value());
  CHECK_FALSE(r.float64("optional", {.optional = true}).has_value());
  CHECK(r.finish().message() == "parameter \"bad\": \"csv\" must be one of json, xml");
}

TEST_CASE("deprecated parameters are errors when present, announcements are warnings") {
  auto c = config({{"type", "Utilization"}, {"old", "x"}});
  MetadataReader r(c);
  r.deprecated("type", "use the trigger's metricType instead");
  r.deprecated("absent", "never reported");
  r.deprecatedAnnounce("old", "\"old\" will be removed; use \"new\"");
  CHECK(r.finish().message() ==
        "parameter \"type\" is deprecated: use the trigger's metricType instead");
  CHECK(r.warnings() == std::vector<std::string>{"\"old\" will be removed; use \"new\""});
}

TEST_CASE("every error is collected and joined, each naming its parameter") {
  auto c = config({{"lagThreshold", "abc"}, {"allowIdleConsumers", "yes"}});
  MetadataReader r(c);
  r.string("bootstrapServers");
  r.string("consumerGroup", {.order = {From::kTriggerMetadata, From::kResolvedEnv}});
  r.int64("lagThreshold", {.defaultValue = "10"});
  r.boolean("allowIdleConsumers", {.defaultValue = "false"});
  r.addError("lagThreshold", "must be greater than 0");
  r.addError("limitToPartitionsWithLag requires topic");
  Status s = r.finish();
  CHECK(s.code() == StatusCode::kInvalidArgument);
  CHECK(s.message() ==
        "missing required parameter \"bootstrapServers\" in [triggerMetadata]; "
        "missing required parameter \"consumerGroup\" in [triggerMetadata resolvedEnv]; "
        "parameter \"lagThreshold\": \"abc\" is not a valid integer; "
        "parameter \"allowIdleConsumers\": \"yes\" is not a valid boolean (use true or false); "
        "parameter \"lagThreshold\": must be greater than 0; "
        "limitToPartitionsWithLag requires topic");
  CHECK(r.errors().size() == 6);
}

TEST_CASE("secretsUnresolved: parameters that may come from secrets are not reported missing") {
  auto c = config({{"passwordFromEnv", "PG_PASSWORD"}});
  c.secretsUnresolved = true;
  MetadataReader r(c);
  CHECK_FALSE(r.string("password", {.order = {From::kAuthParams, From::kResolvedEnv}}).has_value());
  CHECK_FALSE(r.string("username", {.order = {From::kAuthParams}}).has_value());
  CHECK_FALSE(r.string("host", {.order = {From::kTriggerMetadata}}).has_value());
  CHECK(r.unresolved("password"));
  CHECK(r.unresolved("username"));
  CHECK_FALSE(r.unresolved("host"));
  CHECK(r.finish().message() == "missing required parameter \"host\" in [triggerMetadata]");

  // The same config, resolved: the FromEnv reference dangles and both are reported.
  c.secretsUnresolved = false;
  MetadataReader strict(c);
  strict.string("password", {.order = {From::kAuthParams, From::kResolvedEnv}});
  strict.string("username", {.order = {From::kAuthParams}});
  CHECK(strict.errors().size() == 2);
}

TEST_CASE("values from authParams and resolvedEnv, and sensitive ones, are never echoed") {
  const std::string secret = "s3cr3t-Passw0rd";
  auto c = config({{"portFromEnv", "PORT"}, {"apiToken", secret}, {"modes", secret}},
                  {{"password", secret}, {"timeout", secret}, {"tls", secret}}, {{"PORT", secret}});
  MetadataReader r(c);
  r.int64("password", {.order = {From::kAuthParams}});
  r.int64("port", {.order = {From::kResolvedEnv}});
  r.duration("timeout", {.order = {From::kAuthParams}});
  r.enumValue("tls", {"enable", "disable"}, {.order = {From::kAuthParams}});
  r.stringMap("password", {.order = {From::kAuthParams}});
  r.list("password", {.order = {From::kAuthParams}, .allowed = {"a"}});
  r.boolean("apiToken", {.sensitive = true});
  r.int64List("modes", {.sensitive = true});
  Status s = r.finish();
  REQUIRE_FALSE(s.isOk());
  CHECK(s.message().find(secret) == std::string::npos);
  CHECK(s.message().find("s3cr3t") == std::string::npos);
  CHECK(s.message().find("parameter \"password\" (from authParams): the value is not a valid "
                         "integer") != std::string::npos);
  CHECK(s.message().find("parameter \"port\" (from resolvedEnv): the value is not a valid "
                         "integer") != std::string::npos);
  CHECK(r.errors().size() == 8);
}

TEST_CASE("has() and unexpectedKeys()") {
  auto c = config({{"topic", "t"}, {"hostFromEnv", "H"}, {"typo", "1"}}, {{"sasl", "plain"}});
  MetadataReader r(c);
  CHECK(r.has("topic"));
  CHECK(r.has("sasl", {.order = {From::kTriggerMetadata, From::kAuthParams}}));
  CHECK_FALSE(r.has("sasl"));
  r.string("topic");
  r.string("host", {.order = {From::kTriggerMetadata, From::kResolvedEnv}, .optional = true});
  CHECK(r.unexpectedKeys() == std::vector<std::string>{"typo"});
}
