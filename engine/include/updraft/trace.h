// Traffic traces for `updraft simulate`: CSV with a `time` column (seconds from 0, increasing) and
// one column per trigger, keyed by the trigger's name or `trigger<i>`. A cell is the value the
// trigger reports from that time on, `error` for a failed fetch, or empty to keep the previous one.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "updraft/status.h"

namespace updraft {

struct TraceCell {
  enum class Kind { kKeep, kValue, kError };
  Kind kind = Kind::kKeep;
  double value = 0;
};

class Trace {
 public:
  // Parses CSV text. Errors name the line: "line 7: column \"lag\": \"abc\" is not a number".
  static Result<Trace> parse(std::string_view csv);

  const std::vector<std::string>& keys() const { return keys_; }
  double lastTime() const { return times_.empty() ? 0 : times_.back(); }
  size_t rows() const { return times_.size(); }

  // A cursor that walks the trace forward in time; cheap to advance (amortised O(1)).
  class Cursor {
   public:
    explicit Cursor(const Trace& trace);
    // Applies every row with time <= t. Times passed must not decrease.
    void advanceTo(double t);
    // Current state of column `column`: nullopt before its first value; Kind::kError for error.
    const TraceCell& cell(size_t column) const { return current_[column]; }

   private:
    const Trace* trace_;
    size_t next_ = 0;
    std::vector<TraceCell> current_;
  };

 private:
  std::vector<std::string> keys_;
  std::vector<double> times_;
  std::vector<TraceCell> cells_;  // rows() x keys().size(), row-major
};

}  // namespace updraft
