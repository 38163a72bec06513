#include "loader.h"

#include <fmt/format.h>
#include <sys/stat.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iostream>

#include "updraft/parse.h"
#include "updraft/validate.h"

namespace updraft::app {

Result<std::string> readInput(const std::string& path, InputKind kind) {
  const uint64_t limit = kind == InputKind::kTrace ? kMaxTraceBytes : kMaxInputBytes;
  auto tooBig = [&](uint64_t size, bool atLeast) -> Status {
    if (kind == InputKind::kManifest) return checkInputSize(path, size, atLeast);
    return Status::invalidArgument(fmt::format("{} is {}{} bytes, over the trace limit of {} bytes",
                                               path, atLeast ? "more than " : "", size, limit));
  };
  std::FILE* f = stdin;
  if (path != "-") {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) {
      return Status::notFound(fmt::format("{}: cannot read: {}", path, std::strerror(errno)));
    }
    if (S_ISDIR(st.st_mode)) return Status::invalidArgument(path + ": is a directory");
    if (S_ISREG(st.st_mode) && static_cast<uint64_t>(st.st_size) > limit) {
      return tooBig(static_cast<uint64_t>(st.st_size), false);
    }
    f = std::fopen(path.c_str(), "rb");
    if (!f) return Status::notFound(fmt::format("{}: cannot open: {}", path, std::strerror(errno)));
  }
  std::string data;
  char buf[1 << 16];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) {
    data.append(buf, n);
    if (data.size() > limit) break;
  }
  const bool readError = std::ferror(f);
  if (f != stdin) std::fclose(f);
  if (data.size() > limit) return tooBig(limit, true);
  if (readError) return Status::unavailable(fmt::format("{}: read error", path));
  return data;
}

void resolveScriptPaths(Document& doc, const std::string& manifestPath) {
  const std::filesystem::path base = manifestPath == "-"
                                         ? std::filesystem::current_path()
                                         : std::filesystem::absolute(manifestPath).parent_path();
  auto resolve = [&](std::string& path) {
    if (!path.empty() && std::filesystem::path(path).is_relative()) {
      path = (base / path).lexically_normal().string();
    }
  };
  auto resolveTriggers = [&](std::vector<ScaleTriggers>& triggers) {
    for (auto& t : triggers) {
      if (t.type != "lua") continue;
      if (auto it = t.metadata.find("scriptFile"); it != t.metadata.end()) resolve(it->second);
    }
  };
  if (auto* so = std::get_if<ScaledObject>(&doc.object)) {
    resolveTriggers(so->spec.triggers);
    auto& ann = so->metadata.annotations;
    if (auto it = ann.find(annotations::kPolicyFile); it != ann.end()) resolve(it->second);
  } else if (auto* sj = std::get_if<ScaledJob>(&doc.object)) {
    resolveTriggers(sj->spec.triggers);
  }
}

Result<LoadedObjects> loadObjects(const std::vector<std::string>& paths, std::ostream& err) {
  LoadedObjects out;
  int invalid = 0;
  for (const auto& path : paths) {
    auto text = readInput(path);
    if (!text.isOk()) {
      err << "error: " << text.status().message() << "\n";
      ++invalid;
      continue;
    }
    auto docs = parseDocuments(*text, path);
    if (!docs.isOk()) {
      err << "error: " << docs.status().message() << "\n";
      ++invalid;
      continue;
    }
    for (Document& doc : *docs) {
      resolveScriptPaths(doc, path);
      ValidationReport report = validateDocument(doc);
      const std::string where = fmt::format("{}:{}: {}", path, doc.line, doc.displayName());
      for (const auto& p : report.warnings) err << where << ": warning: " << toString(p) << "\n";
      for (const auto& p : report.errors) err << where << ": error: " << toString(p) << "\n";
      if (!report.ok()) {
        ++invalid;
        continue;
      }
      if (auto* so = doc.scaledObject()) out.scaledObjects.push_back(*so);
      if (auto* sj = doc.scaledJob()) out.scaledJobs.push_back(*sj);
      if (auto* ta = doc.triggerAuthentication()) out.auths.push_back(*ta);
      if (auto* pp = doc.processPool()) out.pools.push_back(*pp);
    }
  }
  if (invalid > 0) {
    return Status::invalidArgument(
        fmt::format("{} invalid document{} or file{}; nothing was started", invalid,
                    invalid == 1 ? "" : "s", invalid == 1 ? "" : "s"));
  }
  return out;
}

}  // namespace updraft::app
