// YAML/JSON text -> JSON: the core schema, multi-document streams, and hostile inputs.
#include <catch2/catch.hpp>
#include <chrono>
#include <cmath>
#include <random>
#include <string>

#include "model/model_test_util.h"
#include "updraft/parse.h"

using nlohmann::json;
using namespace updraft;

namespace {
json one(const std::string& text) {
  auto j = yamlToJson(text, "t.yaml");
  INFO(j.status().toString());
  REQUIRE(j.isOk());
  return *j;
}
}  // namespace

TEST_CASE("plain scalars follow the YAML 1.2 core schema", "[yaml]") {
  json j =
      one("n1: null\nn2: ~\nn3:\nn4: Null\n"
          "b1: true\nb2: False\nb3: TRUE\n"
          "yes: yes\noff: off\n"  // YAML 1.1 booleans are strings in 1.2
          "i1: 42\ni2: -7\ni3: +3\ni4: 0o17\ni5: 0x1f\ni6: 010\n"
          "f1: 1.5\nf2: 1e3\nf3: -.5\nf4: .inf\nf5: -.Inf\nf6: .nan\n"
          "s1: hello world\ns2: 1.2.3\ns3: 0x\ns4: 12abc\ns5: 2024-05-01T12:00:00Z\n"
          "big: 18446744073709551615\nhuge: 123456789012345678901234567890\n");
  CHECK(j["n1"].is_null());
  CHECK(j["n2"].is_null());
  CHECK(j["n3"].is_null());
  CHECK(j["n4"].is_null());
  CHECK(j["b1"] == true);
  CHECK(j["b2"] == false);
  CHECK(j["b3"] == true);
  CHECK(j["yes"] == "yes");
  CHECK(j["off"] == "off");
  CHECK(j["i1"] == 42);
  CHECK(j["i1"].is_number_integer());
  CHECK(j["i2"] == -7);
  CHECK(j["i3"] == 3);
  CHECK(j["i4"] == 15);
  CHECK(j["i5"] == 31);
  CHECK(j["i6"] == 10);
  CHECK(j["f1"].is_number_float());
  CHECK(j["f1"] == 1.5);
  CHECK(j["f2"] == 1000.0);
  CHECK(j["f3"] == -0.5);
  CHECK(std::isinf(j["f4"].get<double>()));
  CHECK(j["f5"].get<double>() < 0);
  CHECK(std::isnan(j["f6"].get<double>()));
  CHECK(j["s1"] == "hello world");
  CHECK(j["s2"] == "1.2.3");
  CHECK(j["s3"] == "0x");
  CHECK(j["s4"] == "12abc");
  CHECK(j["s5"] == "2024-05-01T12:00:00Z");
  CHECK(j["big"].is_number_unsigned());
  CHECK(j["huge"].is_number_float());
}

TEST_CASE("quoted and explicitly tagged scalars stay strings", "[yaml]") {
  json j = one("a: \"30\"\nb: 'true'\nc: !!str 12\nd: \"\"\ne: '~'\nf: |\n  5\n");
  CHECK(j["a"] == "30");
  CHECK(j["b"] == "true");
  CHECK(j["c"] == "12");
  CHECK(j["d"] == "");
  CHECK(j["e"] == "~");
  CHECK(j["f"] == "5\n");
}

TEST_CASE("JSON input takes the same path", "[yaml]") {
  json j = one(R"({"a": 1, "b": "1", "c": [true, null, 1.5, "x"], "d": {"e": "\u00e9\n"}})");
  CHECK(j["a"] == 1);
  CHECK(j["b"] == "1");
  CHECK(j["c"] == json::array({true, nullptr, 1.5, "x"}));
  CHECK(j["d"]["e"] == "\xc3\xa9\n");
}

TEST_CASE("multi-document streams keep index and start line; empty documents are skipped",
          "[yaml]") {
  auto docs = yamlToJsonDocuments("# head\na: 1\n---\n---\n# note\nb: 2\n---\n...\n", "m.yaml");
  REQUIRE(docs.isOk());
  REQUIRE(docs->size() == 2);
  CHECK((*docs)[0].value == json{{"a", 1}});
  CHECK((*docs)[0].index == 0);
  CHECK((*docs)[0].line == 2);
  CHECK((*docs)[1].value == json{{"b", 2}});
  CHECK((*docs)[1].index == 2);
  CHECK((*docs)[1].line == 6);
}

TEST_CASE("anchors, aliases and merge keys", "[yaml]") {
  json j =
      one("base: &base {a: 1, b: 2}\n"
          "copy: *base\n"
          "merged:\n  <<: *base\n  b: 3\n"
          "multi:\n  <<: [{x: 1}, {x: 2, y: 2}]\n");
  CHECK(j["copy"] == json{{"a", 1}, {"b", 2}});
  CHECK(j["merged"] == json{{"a", 1}, {"b", 3}});
  CHECK(j["multi"] == json{{"x", 1}, {"y", 2}});
}

TEST_CASE("duplicate keys are reported with the first line; the last value wins", "[yaml]") {
  std::vector<std::vector<Problem>> dups;
  auto docs = yamlToJsonDocuments("spec:\n  min: 1\n  max: 2\n  min: 3\n", "d.yaml", &dups);
  REQUIRE(docs.isOk());
  CHECK((*docs)[0].value["spec"]["min"] == 3);
  REQUIRE(dups.size() == 1);
  REQUIRE(dups[0].size() == 1);
  CHECK(dups[0][0].path == "spec.min");
  CHECK(dups[0][0].message.find("duplicate key \"min\" (first defined at line 2") == 0);
}

TEST_CASE("whole-input failures are clear statuses", "[yaml]") {
  SECTION("empty and comment-only input") {
    for (std::string text : {"", "   \n\n", "# only a comment\n", "---\n---\n"}) {
      auto r = parseDocuments(text, "empty.yaml");
      REQUIRE_FALSE(r.isOk());
      CHECK(r.status().code() == StatusCode::kInvalidArgument);
      CHECK(r.status().message() ==
            "empty.yaml: no documents (the input is empty or only comments)");
    }
  }
  SECTION("syntax error with line and column") {
    auto r = parseDocuments("a: 1\nb: [1, 2\nc: 3\n", "bad.yaml");
    REQUIRE_FALSE(r.isOk());
    CHECK(r.status().message().rfind("bad.yaml:", 0) == 0);
    CHECK(r.status().message().find("YAML syntax error") != std::string::npos);
    auto r2 = parseDocuments("a: 1\n  b: 2\n", "indent.yaml");
    REQUIRE_FALSE(r2.isOk());
    CHECK(r2.status().message().rfind("indent.yaml:2:", 0) == 0);
  }
  SECTION("binary data names the offending byte") {
    std::string text = "a: 1\n";
    text += '\0';
    auto r = parseDocuments(text, "bin.dat");
    REQUIRE_FALSE(r.isOk());
    CHECK(r.status().message() ==
          "bin.dat is not text (binary data at byte 5): expected UTF-8 YAML or JSON");
    auto r2 = parseDocuments("a: \xff\xfe", "latin.yaml");
    REQUIRE_FALSE(r2.isOk());
    CHECK(r2.status().message().find("is not text (binary data at byte 3)") != std::string::npos);
    // Overlong encodings and surrogates are not UTF-8 either.
    CHECK_FALSE(parseDocuments("a: \xc0\xaf", "x").isOk());
    CHECK_FALSE(parseDocuments("a: \xed\xa0\x80", "x").isOk());
  }
  SECTION("valid UTF-8 and a byte order mark are fine") {
    auto r = parseDocuments(
        "\xef\xbb\xbf"
        "apiVersion: v1\nkind: Foo\nx: \"日本\"\n",
        "u.yaml");
    REQUIRE(r.isOk());
    CHECK((*r)[0].raw["x"] == "日本");
  }
  SECTION("a non-scalar mapping key") {
    auto r = parseDocuments("? [a, b]\n: 1\n", "k.yaml");
    REQUIRE_FALSE(r.isOk());
    CHECK(r.status().message().find("mapping key must be a scalar") != std::string::npos);
  }
}

TEST_CASE("input over 4 MiB is refused before parsing, with size, limit and why",
          "[yaml][limits]") {
  std::string big(50u * 1024 * 1024, 'a');  // 50 MB
  auto start = std::chrono::steady_clock::now();
  auto r = parseDocuments(big, "huge.yaml");
  auto elapsed = std::chrono::steady_clock::now() - start;
  REQUIRE_FALSE(r.isOk());
  CHECK(r.status().message().rfind("huge.yaml is 52428800 bytes, over the limit of 4194304 bytes",
                                   0) == 0);
  CHECK(r.status().message().find("etcd") != std::string::npos);
  CHECK(elapsed < std::chrono::seconds(1));
  CHECK(checkInputSize("x", kMaxInputBytes).isOk());
  CHECK_FALSE(checkInputSize("x", kMaxInputBytes + 1).isOk());
}

TEST_CASE("a large but legal input parses", "[yaml][limits]") {
  std::string text = "apiVersion: v1\nkind: Big\nitems:\n";
  while (text.size() < kMaxInputBytes - 64) text += "- {a: 1, b: \"two\"}\n";
  auto r = yamlToJson(text, "big.yaml");
  REQUIRE(r.isOk());
  CHECK((*r)["items"].size() > 100000);
}

TEST_CASE("deep nesting is refused with a line, never a crash", "[yaml][limits]") {
  SECTION("a million open brackets") {
    std::string text = "a: 1\nb: " + std::string(1000000, '[');
    auto r = parseDocuments(text, "deep.yaml");
    REQUIRE_FALSE(r.isOk());
    CHECK(r.status().message() ==
          "deep.yaml:2: [ ] / { } nesting deeper than 128 levels; refusing to parse");
  }
  SECTION("balanced braces just over the limit") {
    std::string text = std::string(129, '{') + std::string(129, '}');
    CHECK_FALSE(parseDocuments(text, "x").isOk());
    std::string ok = "a: " + std::string(100, '[') + std::string(100, ']');
    CHECK(yamlToJson(ok).isOk());
  }
  SECTION("block nesting (compact sequences and indentation)") {
    std::string seq;
    for (int i = 0; i < 5000; ++i) seq += "- ";
    seq += "x\n";
    auto r = parseDocuments(seq, "seq.yaml");
    REQUIRE_FALSE(r.isOk());
    CHECK(r.status().message().find("nesting deeper than 128 levels") != std::string::npos);
    std::string maps;
    for (int i = 0; i < 300; ++i) maps += std::string(i, ' ') + "k:\n";
    CHECK_FALSE(parseDocuments(maps, "maps.yaml").isOk());
  }
  SECTION("brackets inside strings, comments and block scalars do not count") {
    std::string brackets(300, '[');
    std::string text = "q: \"" + brackets + "\"\nr: '" + brackets + "'\n# " + brackets +
                       "\ns: |\n  " + brackets + "\nt: sum(rate(x" + brackets + "))\n";
    auto r = yamlToJson(text, "strings.yaml");
    INFO(r.status().toString());
    REQUIRE(r.isOk());
    CHECK((*r)["q"] == brackets);
    CHECK((*r)["s"] == brackets + "\n");
  }
}

TEST_CASE("alias expansion is bounded (billion laughs)", "[yaml][limits]") {
  std::string text = "a: &a [x, x, x, x, x, x, x, x, x, x]\n";
  std::string prev = "a";
  for (char c = 'b'; c <= 'j'; ++c) {
    std::string name(1, c);
    text += name + ": &" + name + " [";
    for (int i = 0; i < 10; ++i) text += (i ? ", *" : "*") + prev;
    text += "]\n";
    prev = name;
  }
  auto start = std::chrono::steady_clock::now();
  auto r = parseDocuments(text, "lol.yaml");
  REQUIRE_FALSE(r.isOk());
  CHECK(r.status().message().find("aliases expand to more than 100000 nodes") != std::string::npos);
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(5));
}

TEST_CASE("random bytes and random YAML-ish text never crash", "[yaml][fuzz]") {
  std::mt19937 rng(12345);
  const std::string alphabet = "[]{}:-,?&*!|>'\"#%@` \n\t\r abc123.~";
  for (int round = 0; round < 2000; ++round) {
    std::string text;
    std::size_t len = rng() % 200;
    for (std::size_t i = 0; i < len; ++i) {
      text += round % 2 ? static_cast<char>(rng() % 256) : alphabet[rng() % alphabet.size()];
    }
    auto r = parseDocuments(text, "fuzz");
    if (r.isOk()) {
      for (const auto& d : *r) CHECK((d.ok() || !d.errors.empty()));
    } else {
      CHECK_FALSE(r.status().message().empty());
    }
  }
}

TEST_CASE("yamlToJson wants exactly one document", "[yaml]") {
  auto r = yamlToJson("a: 1\n---\nb: 2\n", "two.yaml");
  REQUIRE_FALSE(r.isOk());
  CHECK(r.status().message() == "two.yaml: expected one document, found 2");
}

TEST_CASE("nested anchors over a large tree are bounded", "[yaml][limits]") {
  // 100 nested anchored lists around 20000 scalars: copying each anchored level would be 2M nodes.
  std::string text;
  for (int i = 0; i < 100; ++i) text += "&a" + std::to_string(i) + " [";
  for (int i = 0; i < 20000; ++i) text += "1,";
  text += "1" + std::string(100, ']') + "\n";
  auto r = yamlToJson(text, "anchors.yaml");
  REQUIRE_FALSE(r.isOk());
  CHECK(r.status().message() ==
        "anchors.yaml: anchors (&name) cover more than 1000000 nodes in total; refusing to parse");
  CHECK(yamlToJson("a: &x {b: 1}\nc: *x\n").isOk());
}
