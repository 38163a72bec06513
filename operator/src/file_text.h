// Small file helpers shared by operator/ sources (credentials, CA files, certificates). Private.
#pragma once

#include <fstream>
#include <optional>
#include <sstream>
#include <string>

namespace updraft::kube {

// The whole file, or nullopt when it cannot be opened.
inline std::optional<std::string> readFileText(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// `s` without trailing newlines and spaces (token and namespace files end with one).
inline std::string trimTrailing(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  return s;
}

}  // namespace updraft::kube
