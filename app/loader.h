// Reading, parsing and validating the files given to `simulate` and `run`.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <string>
#include <vector>

#include "updraft/model.h"
#include "updraft/parse.h"
#include "updraft/status.h"

namespace updraft::app {

// What a file holds, which sets its size limit: manifests follow the parser's 4 MiB limit,
// traces may be large (a month at 1 s is ~30 MiB).
enum class InputKind { kManifest, kTrace };
inline constexpr uint64_t kMaxTraceBytes = uint64_t{1} << 30;  // 1 GiB

// Reads a whole file ("-" = stdin), stopping as soon as the limit is passed (so an endless stream
// cannot hang us). Errors name the file and why.
Result<std::string> readInput(const std::string& path, InputKind kind = InputKind::kManifest);

// Makes relative script paths in `doc` absolute against the directory of `manifestPath` (the lua
// trigger's scriptFile, the policy-file annotation), so a manifest and its scripts move together.
// Stdin ("-") resolves against the working directory.
void resolveScriptPaths(Document& doc, const std::string& manifestPath);

struct LoadedObjects {
  std::vector<ScaledObject> scaledObjects;
  std::vector<ScaledJob> scaledJobs;
  std::vector<TriggerAuthentication> auths;
  std::vector<ProcessPool> pools;
};

// Parses and validates every document of every file. Prints each problem to `err`
// ("file:line: Kind ns/name: error: path: message"); warnings are printed too. Fails when any
// document is invalid, so nothing starts with a bad file.
Result<LoadedObjects> loadObjects(const std::vector<std::string>& paths, std::ostream& err);

}  // namespace updraft::app
