// Helpers shared by the model library's sources. Not part of the public API.
#pragma once

#include <cstddef>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace updraft::model_internal {

// "a.b" + "c" -> "a.b.c"; keys that are not simple identifiers are bracketed:
// "metadata.annotations" + "autoscaling.keda.sh/paused" -> metadata.annotations["autoscaling..."].
std::string childPath(const std::string& parent, std::string_view key);
// "spec.triggers" + 1 -> "spec.triggers[1]"
std::string indexPath(const std::string& parent, std::size_t index);

// A JSON value for messages: `string "30"`, `number 1.5`, `boolean true`, `an object`, `a list`,
// `null`. Long strings are shortened.
std::string describeJson(const nlohmann::json& value);
// The text a scalar would have as a YAML string: 5 -> "5", true -> "true".
std::string scalarText(const nlohmann::json& value);
// `"text"` with quotes and backslashes escaped, shortened when long.
std::string quote(std::string_view text, std::size_t maxLength = 80);

// Go strconv.ParseBool.
std::optional<bool> parseGoBool(std::string_view s);
// Go strconv.ParseFloat (decimal forms, "inf", "nan"); nullopt when it would fail.
std::optional<double> parseGoFloat(std::string_view s);
// Go strconv.ParseInt(s, 10, 64).
std::optional<long long> parseGoInt(std::string_view s);

// Levenshtein distance, capped: returns cap + 1 when larger.
std::size_t editDistance(std::string_view a, std::string_view b, std::size_t cap);
// The closest candidate within a small edit distance, else "".
std::string closestMatch(std::string_view word, const std::vector<std::string>& candidates);

}  // namespace updraft::model_internal
