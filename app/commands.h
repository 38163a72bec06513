// Entry points of the `updraft` subcommands. Each returns the process exit code.
#pragma once

#include <iosfwd>
#include <string>
#include <vector>

namespace updraft::app {

// `updraft validate FILE... | -`: 0 when every document is valid, 1 otherwise ("-" = stdin).
int runValidate(const std::vector<std::string>& paths, std::ostream& out, std::ostream& err);

}  // namespace updraft::app
