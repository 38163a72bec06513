// The wire helpers of the prometheus trigger: URL building, Go's ParseFloat, the response reader
// and the oauth2 query-string parser.
#include <catch2/catch.hpp>
#include <chrono>
#include <cmath>
#include <limits>

#include "prometheus/oauth_client_credentials.h"
#include "prometheus/prometheus_query.h"

using namespace updraft;
using namespace updraft::prometheus;

namespace {

double floatOk(const char* s) {
  auto r = parseGoFloat(s);
  INFO(s << ": " << r.status().message());
  REQUIRE(r.isOk());
  return *r;
}

std::string floatError(const char* s) {
  auto r = parseGoFloat(s);
  INFO(s);
  REQUIRE_FALSE(r.isOk());
  return r.status().message();
}

}  // namespace

TEST_CASE("prometheus: url.QueryEscape and RFC 3339 time as Go writes them") {
  CHECK(queryEscape("up") == "up");
  CHECK(queryEscape("sum(rate(x{a=\"b c\"}[5m])) / 2") ==
        "sum%28rate%28x%7Ba%3D%22b+c%22%7D%5B5m%5D%29%29+%2F+2");
  CHECK(queryEscape("-_.~+&=%/é") == "-_.~%2B%26%3D%25%2F%C3%A9");

  using namespace std::chrono;
  const TimePoint t =
      sys_days{year{2026} / 3 / 4} + hours{5} + minutes{6} + seconds{7} + milliseconds{890};
  CHECK(rfc3339Utc(t) == "2026-03-04T05:06:07Z");  // whole seconds, UTC, 'Z'
  CHECK(rfc3339Utc(TimePoint{}) == "1970-01-01T00:00:00Z");
  CHECK(rfc3339Utc(sys_days{year{2024} / 2 / 29} + hours{23} + minutes{59} + seconds{59}) ==
        "2024-02-29T23:59:59Z");
}

TEST_CASE("prometheus: the query URL is KEDA's") {
  auto url = buildQueryUrl("http://prom:9090", "up{job=\"a b\"}", "", {});
  CHECK(url.prefix == "http://prom:9090/api/v1/query?query=up%7Bjob%3D%22a+b%22%7D&time=");
  CHECK(url.suffix.empty());
  CHECK(url.at(TimePoint{}) ==
        "http://prom:9090/api/v1/query?query=up%7Bjob%3D%22a+b%22%7D&time=1970-01-01T00:00:00Z");

  // namespace is appended as written (KEDA does not escape it); queryParameters are escaped.
  url = buildQueryUrl("https://thanos/", "q", "team-a", {{"dedup", "true"}, {"a b", "c&d"}});
  CHECK(url.prefix == "https://thanos//api/v1/query?query=q&time=");
  CHECK(url.suffix == "&namespace=team-a&a+b=c%26d&dedup=true");
  // Only bytes no URL can carry are encoded in the namespace.
  CHECK(buildQueryUrl("http://p", "q", "a b\n", {}).suffix == "&namespace=a%20b%0A");
}

TEST_CASE("prometheus: sample values are parsed with Go's strconv.ParseFloat") {
  CHECK(floatOk("42") == 42);
  CHECK(floatOk("-3.25") == -3.25);
  CHECK(floatOk("+7") == 7);
  CHECK(floatOk("1e3") == 1000);
  CHECK(floatOk("1E-2") == Approx(0.01));
  CHECK(floatOk(".5") == 0.5);
  CHECK(floatOk("5.") == 5);
  CHECK(floatOk("0x1p4") == 16);
  CHECK(floatOk("0x1.8p1") == 3);
  CHECK(floatOk("1_000.5") == 1000.5);
  CHECK(floatOk("0x_1p0") == 1);
  CHECK(floatOk("1e-400") == 0);  // underflow is not an error in Go
  CHECK(std::isinf(floatOk("+Inf")));
  CHECK(floatOk("-Inf") < 0);
  CHECK(std::isinf(floatOk("infinity")));
  CHECK(std::isinf(floatOk("-INFINITY")));
  CHECK(std::isnan(floatOk("NaN")));
  CHECK(std::isnan(floatOk("nan")));

  CHECK(floatError("abc") == "strconv.ParseFloat: parsing \"abc\": invalid syntax");
  CHECK(floatError("1e400") == "strconv.ParseFloat: parsing \"1e400\": value out of range");
  for (const char* bad : {"",   " 1", "1 ",   "1,5",  "+NaN", "-nan", "infin", "0x10", "1e", "1e+",
                          "_1", "1_", "1__0", "1_.5", "0x",   "..5",  "1.2.3", "--1",  "1f", "∞"}) {
    INFO(bad);
    CHECK_THAT(floatError(bad), Catch::EndsWith("invalid syntax"));
  }
  CHECK(nonFiniteText(std::numeric_limits<double>::quiet_NaN()) == "NaN");
  CHECK(nonFiniteText(std::numeric_limits<double>::infinity()) == "+Inf");
  CHECK(nonFiniteText(-std::numeric_limits<double>::infinity()) == "-Inf");
}

TEST_CASE("prometheus: response bodies read as KEDA reads them") {
  struct Row {
    const char* body;
    std::optional<double> withIgnore;     // ignoreNullValues=true: value, or nullopt = error
    std::optional<double> withoutIgnore;  // ignoreNullValues=false
    const char* error;                    // a part of the error message (either mode)
  };
  const char* kOne = R"({"status":"success","data":{"resultType":"vector","result":[
      {"metric":{"job":"api"},"value":[1700000000.123,"42.5"]}]}})";
  const Row rows[] = {
      {kOne, 42.5, 42.5, ""},
      {R"({"data":{"result":[{"value":[1,"+Inf"]}]}})", 0.0, std::nullopt,
       "prometheus query returns +Inf"},
      {R"({"data":{"result":[{"value":[1,"-Inf"]}]}})", 0.0, std::nullopt,
       "prometheus query returns -Inf"},
      {R"({"data":{"result":[{"value":[1,"NaN"]}]}})", 0.0, std::nullopt,
       "prometheus query returns NaN"},
      {R"({"status":"success","data":{"resultType":"vector","result":[]}})", 0.0, std::nullopt,
       "prometheus metrics 'prometheus' target may be lost, the result is empty"},
      {"{}", 0.0, std::nullopt, "the result is empty"},
      {"null", 0.0, std::nullopt, "the result is empty"},
      {R"({"data":null})", 0.0, std::nullopt, "the result is empty"},
      {R"({"data":{"result":null}})", 0.0, std::nullopt, "the result is empty"},
      {R"({"status":"error","errorType":"timeout","error":"query timed out"})", 0.0, std::nullopt,
       "the result is empty"},  // KEDA does not read "status"
      {R"({"data":{"result":[{"value":[1,"1"]},{"value":[1,"2"]}]}})", std::nullopt, std::nullopt,
       "returned multiple elements (2 series"},
      {R"({"data":{"result":[{"metric":{},"value":[]}]}})", 0.0, std::nullopt,
       "prometheus metrics 'prometheus' target may be lost, the value list is empty"},
      {R"({"data":{"result":[{"metric":{}}]}})", 0.0, std::nullopt, "the value list is empty"},
      {R"({"data":{"result":[null]}})", 0.0, std::nullopt, "the value list is empty"},
      {R"({"data":{"resultType":"matrix","result":[{"metric":{},"values":[[1,"5"]]}]}})", 0.0,
       std::nullopt, "the value list is empty"},
      {R"({"data":{"result":[{"value":[1700000000]}]}})", std::nullopt, std::nullopt,
       "didn't return enough values"},
      {R"({"data":{"result":[{"value":[1,"abc"]}]}})", std::nullopt, std::nullopt,
       "strconv.ParseFloat: parsing \"abc\": invalid syntax"},
      {R"({"data":{"result":[{"value":[1,5]}]}})", std::nullopt, std::nullopt,
       "\"data.result[0].value[1]\" is a number, expected a string"},
      {R"({"data":{"result":[{"value":[1,null]}]}})", -1.0, -1.0, ""},  // KEDA's -1 quirk
      {R"({"data":{"result":[{"value":[1,"3","extra"]}]}})", 3.0, 3.0, ""},
      {R"({"data":{"result":[{"value":[1,"1e3"]}]}})", 1000.0, 1000.0, ""},
      {R"({"data":{"result":[{"value":[1,"1e400"]}]}})", std::nullopt, std::nullopt,
       "value out of range"},
      {R"({"DATA":{"Result":[{"VALUE":[1,"7"]}]}})", 7.0, 7.0, ""},  // Go matches keys by case
      {R"({"data":{"result":[{"value":[1,"1"]}],"result":[{"value":[1,"8"]}]}})", 8.0, 8.0, ""},
      {R"({"data":{"resultType":"scalar","result":[1700000000.1,"5"]}})", std::nullopt,
       std::nullopt,
       "\"data.result[0]\" is a number, expected an object (resultType \"scalar\"; only instant "
       "vectors"},
      {R"({"data":{"resultType":"string","result":[1700000000.1,"x"]}})", std::nullopt,
       std::nullopt, "resultType \"string\""},
      {R"({"data":{"resultType":"scalar","result":[]}})", 0.0, std::nullopt, "the result is empty"},
      {R"({"data":{"result":{"value":[1,"1"]}}})", std::nullopt, std::nullopt,
       "\"data.result\" is an object, expected an array"},
      {R"({"data":{"result":[{"metric":"x","value":[1,"1"]}]}})", std::nullopt, std::nullopt,
       "\"data.result[0].metric\" is a string, expected an object"},
      {R"({"data":{"result":[{"value":{"t":1}}]}})", std::nullopt, std::nullopt,
       "\"data.result[0].value\" is an object, expected an array"},
      {R"({"data":{"result":[{"value":[1,"1"]},5]}})", std::nullopt, std::nullopt,
       "\"data.result[1]\" is a number"},
      {R"({"status":5})", std::nullopt, std::nullopt, "\"status\" is a number, expected a string"},
      {R"({"data":[]})", std::nullopt, std::nullopt, "\"data\" is an array, expected an object"},
      {R"([1])", std::nullopt, std::nullopt, "the body is an array, expected an object"},
      {"not json", std::nullopt, std::nullopt, "the response is not valid JSON"},
      {R"({"data":{"result":[]}} trailing)", std::nullopt, std::nullopt, "not valid JSON"},
      {"", std::nullopt, std::nullopt, "the response body is empty"},
  };
  for (const Row& row : rows) {
    for (bool ignore : {true, false}) {
      INFO(row.body << "\nignoreNullValues=" << ignore);
      auto r = readQueryResponse(row.body, ignore);
      const std::optional<double> want = ignore ? row.withIgnore : row.withoutIgnore;
      if (want) {
        INFO(r.status().message());
        REQUIRE(r.isOk());
        CHECK(*r == *want);
      } else {
        REQUIRE_FALSE(r.isOk());
        CHECK(r.status().code() == StatusCode::kUnavailable);
        CHECK_THAT(r.status().message(), Catch::Contains(row.error));
      }
    }
  }
}

TEST_CASE("prometheus: oauth2 endpointParams are a Go url.Values query string") {
  auto ok = oauth::parseQueryString("audience=https%3A%2F%2Fapi&x=a+b&&flag&x=2");
  REQUIRE(ok.isOk());
  using P = std::pair<std::string, std::string>;
  CHECK(*ok == std::vector<P>{{"audience", "https://api"}, {"x", "a b"}, {"flag", ""}, {"x", "2"}});
  CHECK(oauth::parseQueryString("").value().empty());
  CHECK(oauth::parseQueryString("a=1;b=2").status().message() ==
        "invalid semicolon separator in query");
  CHECK(oauth::parseQueryString("a=%zz").status().message() == "invalid URL escape");
  CHECK(oauth::parseQueryString("a=%4").status().message() == "invalid URL escape");
}
