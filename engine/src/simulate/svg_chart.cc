#include "updraft/svg_chart.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace updraft {
namespace {

constexpr double kWidth = 1000;
constexpr double kPanelHeight = 220;
constexpr double kLeft = 70, kRight = 20, kTop = 40, kGap = 40;
constexpr const char* kColors[] = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd",
                                   "#ff7f0e", "#8c564b", "#e377c2", "#17becf"};

std::string escapeXml(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

double niceStep(double range) {
  if (range <= 0) return 1;
  double raw = range / 5;
  double mag = std::pow(10, std::floor(std::log10(raw)));
  for (double m : {1.0, 2.0, 5.0, 10.0}) {
    if (m * mag >= raw) return m * mag;
  }
  return 10 * mag;
}

// A tick step from human durations (s, min, h, days) giving at most ~8 ticks.
double niceTimeStep(double span) {
  static const double kSteps[] = {1,     2,     5,      10,     15,      30,     60,    120,
                                  300,   600,   900,    1800,   3600,    7200,   10800, 21600,
                                  43200, 86400, 172800, 604800, 1209600, 2592000};
  for (double step : kSteps) {
    if (span / step <= 8) return step;
  }
  return niceStep(span);
}

// The unit follows the tick step, so one axis never mixes "100s" and "2m".
std::string formatTime(double seconds, double step) {
  if (step >= 86400) return fmt::format("{:g}d", seconds / 86400);
  if (step >= 3600) return fmt::format("{:g}h", seconds / 3600);
  if (step >= 60) return fmt::format("{:g}m", seconds / 60);
  return fmt::format("{:g}s", seconds);
}

// Keeps, per pixel column, the first, min, max and last points (in time order).
std::vector<std::pair<double, double>> reduce(const ChartLine& line, double t0, double t1,
                                              double pixels) {
  std::vector<std::pair<double, double>> out;
  // Failed fetches are NaN: leave them out (the line bridges the gap) so the path stays valid.
  ChartLine finite;
  for (size_t i = 0; i < std::min(line.times.size(), line.values.size()); ++i) {
    if (std::isfinite(line.values[i])) {
      finite.times.push_back(line.times[i]);
      finite.values.push_back(line.values[i]);
    }
  }
  const size_t n = finite.times.size();
  if (n <= pixels * 4) {
    for (size_t i = 0; i < n; ++i) out.emplace_back(finite.times[i], finite.values[i]);
    return out;
  }
  const double span = std::max(t1 - t0, 1e-9);
  size_t i = 0;
  while (i < n) {
    long col = static_cast<long>((finite.times[i] - t0) / span * pixels);
    size_t first = i, lo = i, hi = i;
    while (i < n && static_cast<long>((finite.times[i] - t0) / span * pixels) == col) {
      if (finite.values[i] < finite.values[lo]) lo = i;
      if (finite.values[i] > finite.values[hi]) hi = i;
      ++i;
    }
    size_t last = i - 1;
    size_t picks[] = {first, std::min(lo, hi), std::max(lo, hi), last};
    size_t prev = static_cast<size_t>(-1);
    for (size_t p : picks) {
      if (p != prev) out.emplace_back(finite.times[p], finite.values[p]);
      prev = p;
    }
  }
  return out;
}

}  // namespace

std::string renderSvgChart(const std::string& title, const std::vector<ChartPanel>& panels) {
  double t0 = 0, t1 = 1;
  bool any = false;
  for (const auto& p : panels) {
    for (const auto& l : p.lines) {
      if (l.times.empty()) continue;
      t0 = any ? std::min(t0, l.times.front()) : l.times.front();
      t1 = any ? std::max(t1, l.times.back()) : l.times.back();
      any = true;
    }
  }
  if (t1 <= t0) t1 = t0 + 1;
  const double plotW = kWidth - kLeft - kRight;
  const double height = kTop + panels.size() * (kPanelHeight + kGap) + 10;
  std::string svg = fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{}\" "
      "viewBox=\"0 0 {} {}\" font-family=\"sans-serif\" font-size=\"11\">\n"
      "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
      "<text x=\"{}\" y=\"22\" font-size=\"15\" font-weight=\"bold\">{}</text>\n",
      kWidth, height, kWidth, height, kLeft, escapeXml(title));
  for (size_t pi = 0; pi < panels.size(); ++pi) {
    const ChartPanel& panel = panels[pi];
    const double top = kTop + pi * (kPanelHeight + kGap) + 20;
    const double plotH = kPanelHeight - 20;
    double vmax = 0, vmin = 0;
    for (const auto& l : panel.lines) {
      for (double v : l.values) {
        if (std::isfinite(v)) {
          vmax = std::max(vmax, v);
          vmin = std::min(vmin, v);
        }
      }
    }
    if (vmax <= vmin) vmax = vmin + 1;
    double step = niceStep(vmax - vmin);
    vmax = std::ceil(vmax / step) * step;
    auto x = [&](double t) { return kLeft + (t - t0) / (t1 - t0) * plotW; };
    auto y = [&](double v) { return top + plotH - (v - vmin) / (vmax - vmin) * plotH; };
    svg += fmt::format("<text x=\"{}\" y=\"{}\" font-weight=\"bold\">{}</text>\n", kLeft, top - 6,
                       escapeXml(panel.title));
    svg += fmt::format(
        "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"none\" stroke=\"#999\"/>\n",
        kLeft, top, plotW, plotH);
    for (double v = vmin; v <= vmax + step / 2; v += step) {
      svg += fmt::format(
          "<line x1=\"{:.1f}\" y1=\"{:.1f}\" x2=\"{:.1f}\" y2=\"{:.1f}\" stroke=\"#eee\"/>"
          "<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"end\">{:g}</text>\n",
          kLeft, y(v), kLeft + plotW, y(v), kLeft - 4, y(v) + 4, v);
    }
    double tstep = niceTimeStep(t1 - t0);
    for (double t = std::ceil(t0 / tstep) * tstep; t <= t1; t += tstep) {
      svg += fmt::format(
          "<line x1=\"{:.1f}\" y1=\"{:.1f}\" x2=\"{:.1f}\" y2=\"{:.1f}\" stroke=\"#eee\"/>"
          "<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"middle\">{}</text>\n",
          x(t), top, x(t), top + plotH, x(t), top + plotH + 14, formatTime(t, tstep));
    }
    double legendX = kLeft + std::max(200.0, 7.0 * static_cast<double>(panel.title.size()) + 24);
    for (size_t li = 0; li < panel.lines.size(); ++li) {
      const ChartLine& line = panel.lines[li];
      const char* color = kColors[li % std::size(kColors)];
      auto pts = reduce(line, t0, t1, plotW);
      std::string d;
      double prevY = 0;
      for (size_t i = 0; i < pts.size(); ++i) {
        double px = x(pts[i].first), py = y(pts[i].second);
        if (i == 0) {
          d += fmt::format("M{:.1f},{:.1f}", px, py);
        } else if (line.step) {
          d += fmt::format("H{:.1f}V{:.1f}", px, py);
        } else {
          d += fmt::format("L{:.1f},{:.1f}", px, py);
        }
        prevY = py;
      }
      if (line.step && !pts.empty()) d += fmt::format("H{:.1f}V{:.1f}", x(t1), prevY);
      svg += fmt::format("<path d=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"1.5\"{}/>\n", d,
                         color, line.dashed ? " stroke-dasharray=\"6,4\"" : "");
      svg += fmt::format(
          "<line x1=\"{:.1f}\" y1=\"{:.1f}\" x2=\"{:.1f}\" y2=\"{:.1f}\" stroke=\"{}\" "
          "stroke-width=\"2\"{}/><text x=\"{:.1f}\" y=\"{:.1f}\">{}</text>\n",
          legendX, top - 10, legendX + 18, top - 10, color,
          line.dashed ? " stroke-dasharray=\"4,3\"" : "", legendX + 22, top - 6,
          escapeXml(line.label));
      legendX += 30 + 7 * line.label.size();
    }
  }
  svg += "</svg>\n";
  return svg;
}

}  // namespace updraft
