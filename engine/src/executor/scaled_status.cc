#include "updraft/scaled_status.h"

#include <algorithm>
#include <cctype>

namespace updraft {

const char* conditionStatusName(ConditionStatus s) {
  switch (s) {
    case ConditionStatus::kTrue:
      return "True";
    case ConditionStatus::kFalse:
      return "False";
    case ConditionStatus::kUnknown:
      return "Unknown";
  }
  return "Unknown";
}

bool parseKedaBoolAnnotation(const std::string& value) {
  // Go's strconv.ParseBool spellings; anything else counts as true (KEDA's getBoolAnnotation).
  static const char* const kFalse[] = {"0", "f", "F", "false", "FALSE", "False"};
  for (const char* f : kFalse) {
    if (value == f) return false;
  }
  return true;
}

}  // namespace updraft
