// Reading, parsing and validating the files given to `simulate` and `run`.
#pragma once

#include <iosfwd>
#include <string>
#include <vector>

#include "updraft/model.h"
#include "updraft/status.h"

namespace updraft::app {

// Reads a whole file ("-" = stdin) with the parser's size limit. Errors name the file and why.
Result<std::string> readInput(const std::string& path);

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
