// Every code block of docs/lua.md is checked with `updraft validate`: ```lua blocks as scripts
// (compiled, top level and check() run in the sandbox), ```yaml blocks as KEDA objects, with the
// example scripts of examples/lua/ beside them so `scriptFile:` references resolve.
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "e2e/cli_support.h"

using namespace updraft::e2e;

namespace {

struct Block {
  std::string language;
  std::string text;
  int line = 0;
};

std::vector<Block> codeBlocks(const std::string& markdown) {
  std::vector<Block> blocks;
  std::istringstream in(markdown);
  std::string line;
  int number = 0;
  Block* open = nullptr;
  while (std::getline(in, line)) {
    ++number;
    if (line.rfind("```", 0) == 0) {
      if (open) {
        open = nullptr;
      } else {
        blocks.push_back({line.substr(3), "", number + 1});
        open = &blocks.back();
      }
    } else if (open) {
      open->text += line + "\n";
    }
  }
  return blocks;
}

}  // namespace

TEST_CASE("docs/lua.md: every lua and yaml block validates") {
  const std::string root = UPDRAFT_SOURCE_DIR;
  std::ifstream doc(root + "/docs/lua.md");
  REQUIRE(doc);
  std::stringstream text;
  text << doc.rdbuf();
  auto blocks = codeBlocks(text.str());

  TempDir dir;
  for (const auto& entry : std::filesystem::directory_iterator(root + "/examples/lua")) {
    if (entry.path().extension() == ".lua") {
      std::filesystem::copy_file(entry.path(), dir.path() + "/" + entry.path().filename().string());
    }
  }
  std::vector<std::string> argv = {updraftBinary(), "validate"};
  int lua = 0, yaml = 0;
  for (const auto& b : blocks) {
    if (b.language != "lua" && b.language != "yaml") continue;
    const std::string name =
        "lua.md-line" + std::to_string(b.line) + (b.language == "lua" ? ".lua" : ".yaml");
    argv.push_back(dir.write(name, b.text));
    (b.language == "lua" ? lua : yaml)++;
  }
  CHECK(lua >= 5);
  CHECK(yaml >= 3);
  auto r = runCommand(argv);
  INFO(r.out << r.err);
  CHECK(r.exitCode == 0);
  CHECK(r.out.find("invalid") == std::string::npos);
}
