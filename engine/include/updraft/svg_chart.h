// A small SVG chart writer for `updraft simulate --plot`: stacked panels sharing the time axis.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace updraft {

struct ChartLine {
  std::string label;
  std::vector<double> times;   // seconds
  std::vector<double> values;  // same length as times
  bool step = false;           // draw as a step function (replicas)
  bool dashed = false;         // targets
};

struct ChartPanel {
  std::string title;
  std::vector<ChartLine> lines;
};

// Renders panels top to bottom. Long series are reduced to min/max per pixel column, so peaks
// survive and a 7-day trace at 1 s stays a few hundred KiB.
std::string renderSvgChart(const std::string& title, const std::vector<ChartPanel>& panels);

}  // namespace updraft
