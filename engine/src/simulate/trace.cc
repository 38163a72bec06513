#include "updraft/trace.h"

#include <fmt/format.h>

#include <charconv>
#include <cmath>

namespace updraft {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
    s.remove_suffix(1);
  return s;
}

std::vector<std::string_view> splitCsvLine(std::string_view line) {
  std::vector<std::string_view> out;
  size_t start = 0;
  for (size_t i = 0; i <= line.size(); ++i) {
    if (i == line.size() || line[i] == ',') {
      out.push_back(trim(line.substr(start, i - start)));
      start = i + 1;
    }
  }
  return out;
}

std::optional<double> parseNumber(std::string_view s) {
  double v = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || ptr != s.data() + s.size() || !std::isfinite(v)) return std::nullopt;
  return v;
}

std::string shorten(std::string_view s) {
  if (s.size() <= 40) return std::string(s);
  return std::string(s.substr(0, 40)) + "...";
}

}  // namespace

Result<Trace> Trace::parse(std::string_view csv) {
  Trace trace;
  size_t pos = 0;
  int lineNo = 0;
  bool haveHeader = false;
  double lastTime = -1;
  while (pos <= csv.size()) {
    size_t end = csv.find('\n', pos);
    if (end == std::string_view::npos) end = csv.size();
    std::string_view line = trim(csv.substr(pos, end - pos));
    pos = end + 1;
    ++lineNo;
    if (line.empty() || line.front() == '#') {
      if (end == csv.size()) break;
      continue;
    }
    auto fields = splitCsvLine(line);
    if (!haveHeader) {
      if (fields.empty() || fields[0] != "time") {
        return Status::invalidArgument(
            fmt::format("line {}: the header must begin with \"time\", got \"{}\"", lineNo,
                        shorten(fields.empty() ? line : fields[0])));
      }
      for (size_t i = 1; i < fields.size(); ++i) {
        if (fields[i].empty()) {
          return Status::invalidArgument(
              fmt::format("line {}: column {} has an empty name", lineNo, i + 1));
        }
        for (const auto& k : trace.keys_) {
          if (k == fields[i]) {
            return Status::invalidArgument(
                fmt::format("line {}: column \"{}\" appears twice", lineNo, fields[i]));
          }
        }
        trace.keys_.emplace_back(fields[i]);
      }
      haveHeader = true;
      if (end == csv.size()) break;
      continue;
    }
    if (fields.size() > trace.keys_.size() + 1) {
      return Status::invalidArgument(fmt::format("line {}: {} cells but the header has {} columns",
                                                 lineNo, fields.size(), trace.keys_.size() + 1));
    }
    auto t = parseNumber(fields[0]);
    if (!t || *t < 0) {
      return Status::invalidArgument(fmt::format(
          "line {}: time \"{}\" is not a number of seconds >= 0", lineNo, shorten(fields[0])));
    }
    if (*t < lastTime) {
      return Status::invalidArgument(fmt::format(
          "line {}: time {} goes backwards (the previous row is at {})", lineNo, *t, lastTime));
    }
    lastTime = *t;
    trace.times_.push_back(*t);
    for (size_t c = 0; c < trace.keys_.size(); ++c) {
      TraceCell cell;
      std::string_view f = c + 1 < fields.size() ? fields[c + 1] : std::string_view();
      if (f.empty()) {
        cell.kind = TraceCell::Kind::kKeep;
      } else if (f == "error") {
        cell.kind = TraceCell::Kind::kError;
      } else if (auto v = parseNumber(f)) {
        cell.kind = TraceCell::Kind::kValue;
        cell.value = *v;
      } else {
        return Status::invalidArgument(
            fmt::format("line {}: column \"{}\": \"{}\" is not a number (or \"error\")", lineNo,
                        trace.keys_[c], shorten(f)));
      }
      trace.cells_.push_back(cell);
    }
    if (end == csv.size()) break;
  }
  if (!haveHeader) return Status::invalidArgument("the trace is empty: no header line");
  return trace;
}

Trace::Cursor::Cursor(const Trace& trace) : trace_(&trace), current_(trace.keys_.size()) {}

void Trace::Cursor::advanceTo(double t) {
  const size_t width = trace_->keys_.size();
  while (next_ < trace_->times_.size() && trace_->times_[next_] <= t) {
    for (size_t c = 0; c < width; ++c) {
      const TraceCell& cell = trace_->cells_[next_ * width + c];
      if (cell.kind != TraceCell::Kind::kKeep) current_[c] = cell;
    }
    ++next_;
  }
}

}  // namespace updraft
