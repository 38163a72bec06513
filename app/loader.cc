#include "loader.h"

#include <fmt/format.h>
#include <sys/stat.h>

#include <fstream>
#include <iostream>
#include <sstream>

#include "updraft/parse.h"
#include "updraft/validate.h"

namespace updraft::app {

Result<std::string> readInput(const std::string& path) {
  std::string data;
  if (path == "-") {
    std::ostringstream ss;
    ss << std::cin.rdbuf();
    data = ss.str();
  } else {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) {
      return Status::notFound(fmt::format("{}: cannot read: {}", path, std::strerror(errno)));
    }
    if (S_ISDIR(st.st_mode)) return Status::invalidArgument(path + ": is a directory");
    UPDRAFT_RETURN_IF_ERROR(checkInputSize(path, static_cast<uint64_t>(st.st_size)));
    std::ifstream in(path, std::ios::binary);
    if (!in)
      return Status::notFound(fmt::format("{}: cannot open: {}", path, std::strerror(errno)));
    std::ostringstream ss;
    ss << in.rdbuf();
    data = ss.str();
  }
  UPDRAFT_RETURN_IF_ERROR(checkInputSize(path, data.size()));
  return data;
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
    for (const Document& doc : *docs) {
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
