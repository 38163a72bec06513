// `updraft validate FILE... | -`: parses and validates every document of every file (and Lua
// scripts, *.lua, on their own).
//
//   so.yaml:1: ScaledObject default/orders: valid
//   so.yaml:24: ScaledObject default/payments: invalid
//     error: spec.triggers[0].metadata.lagThreshold: must be a string (quote it: "5")
//     warning: spec.pollingIntrval: unknown field (did you mean "pollingInterval"?)
//
// Results go to `out`; files that cannot be read are reported on `err`. The exit code is 0 only
// when every document of every file is valid (warnings do not count).
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <exception>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include "commands.h"
#include "loader.h"
#include "updraft/lua/lua_policy.h"
#include "updraft/lua/script_store.h"
#include "updraft/parse.h"
#include "updraft/validate.h"

namespace updraft::app {
namespace {

struct Input {
  std::string text;
  bool overLimit = false;       // more than kMaxInputBytes; text holds only the start
  std::uint64_t knownSize = 0;  // the file's size when known (regular files)
};

constexpr std::size_t kChunk = 64 * 1024;

// Reads up to kMaxInputBytes + 1 bytes.
Result<Input> readStream(std::istream& in) {
  Input input;
  std::vector<char> buf(kChunk);
  while (in && input.text.size() <= kMaxInputBytes) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    input.text.append(buf.data(), static_cast<std::size_t>(in.gcount()));
  }
  if (in.bad()) return Status::unavailable("cannot read standard input");
  input.overLimit = input.text.size() > kMaxInputBytes;
  return input;
}

Result<Input> readFile(const std::string& path) {
  std::error_code ec;
  auto status = std::filesystem::status(path, ec);
  if (ec) {
    return Status::notFound("cannot read " + path + ": " + ec.message());
  }
  if (std::filesystem::is_directory(status)) {
    return Status::invalidArgument("cannot read " + path + ": it is a directory");
  }
  Input input;
  if (std::filesystem::is_regular_file(status)) {
    input.knownSize = std::filesystem::file_size(path, ec);
    if (!ec && input.knownSize > kMaxInputBytes) {
      input.overLimit = true;  // no need to read it
      return input;
    }
  }
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) return Status::notFound("cannot read " + path + ": " + std::strerror(errno));
  std::vector<char> buf(kChunk);
  while (input.text.size() <= kMaxInputBytes) {
    std::size_t n = std::fread(buf.data(), 1, buf.size(), f);
    input.text.append(buf.data(), n);
    if (n < buf.size()) break;
  }
  bool failed = std::ferror(f) != 0;
  int error = errno;
  std::fclose(f);
  if (failed) return Status::unavailable("cannot read " + path + ": " + std::strerror(error));
  if (input.text.size() > kMaxInputBytes) input.overLimit = true;
  return input;
}

void printProblems(std::ostream& out, const char* label, const std::vector<Problem>& problems) {
  for (const Problem& p : problems) out << "  " << label << ": " << toString(p) << "\n";
}

// A Lua script on its own (`*.lua`): compiled, its top level run and its check() called in the
// sandbox, as the engine does before using a version.
bool validateLuaScript(const std::string& name, const std::string& text, std::ostream& out) {
  const std::string chunk = std::filesystem::path(name).filename().string();
  auto script = lua::ScriptCache::global().compile(text, chunk, {});
  if (!script.isOk()) {
    out << name << ": Lua script: invalid\n  error: " << script.status().message() << "\n";
    return false;
  }
  std::string functions;
  for (const auto& f : (*script)->functions) functions += (functions.empty() ? "" : ", ") + f;
  out << name << ": Lua script: valid (defines " << (functions.empty() ? "no function" : functions)
      << ")\n";
  if (!(*script)->functions.count("getMetric") && !(*script)->functions.count("policy")) {
    out << "  warning: defines neither getMetric(ctx) (a scaler) nor policy(ctx) (a scaling "
           "policy)\n";
  }
  return true;
}

// Validates one input; returns true when all of its documents are valid.
bool validateInput(const std::string& path, std::ostream& out, std::ostream& err) {
  const bool isStdin = path == "-";
  const std::string name = isStdin ? "<stdin>" : path;
  Result<Input> input = isStdin ? readStream(std::cin) : readFile(path);
  if (!input.isOk()) {
    err << "updraft validate: " << input.status().message() << "\n";
    return false;
  }
  if (input->overLimit) {
    bool exact = input->knownSize > kMaxInputBytes;
    out << checkInputSize(name, exact ? input->knownSize : input->text.size(), !exact).message()
        << "\n";
    return false;
  }
  if (name.size() > 4 && name.compare(name.size() - 4, 4, ".lua") == 0) {
    return validateLuaScript(name, input->text, out);
  }
  auto docs = parseDocuments(input->text, name);
  if (!docs.isOk()) {
    out << docs.status().message() << "\n";
    return false;
  }
  bool allValid = true;
  for (Document& doc : *docs) {
    resolveScriptPaths(doc, name);
    ValidationReport report = validateDocument(doc);
    if (const auto* so = std::get_if<ScaledObject>(&doc.object)) {
      // The scaling policy script, checked as `run` would load it (syntax, policy() defined).
      std::string at;
      auto policy = lua::luaPolicyFor(*so, &at);
      if (!policy.isOk()) report.errors.push_back(Problem{at, policy.status().message()});
    }
    out << name << ":" << doc.line << ": " << (doc.kind.empty() ? "object" : doc.kind) << " "
        << doc.displayName() << ": " << (report.ok() ? "valid" : "invalid") << "\n";
    printProblems(out, "error", report.errors);
    printProblems(out, "warning", report.warnings);
    if (!report.ok()) allValid = false;
  }
  return allValid;
}

}  // namespace

int runValidate(const std::vector<std::string>& paths, std::ostream& out, std::ostream& err) {
  if (paths.empty()) {
    err << "updraft validate: no input: give one or more files, or - for standard input\n";
    return 1;
  }
  bool allValid = true;
  for (const std::string& path : paths) {
    try {
      if (!validateInput(path, out, err)) allValid = false;
    } catch (const std::exception& e) {
      err << "updraft validate: " << path << ": unexpected error: " << e.what() << "\n";
      allValid = false;
    } catch (...) {
      err << "updraft validate: " << path << ": unexpected error\n";
      allValid = false;
    }
  }
  out.flush();
  return allValid ? 0 : 1;
}

}  // namespace updraft::app
