#include "io/svg.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

namespace effinfer::io {
namespace {

constexpr double kMarginLeft = 60, kMarginTop = 30, kMarginBottom = 45;

std::string fmt(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f", v);
  return buf;
}

std::string escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '<')
      out += "&lt;";
    else if (c == '>')
      out += "&gt;";
    else if (c == '&')
      out += "&amp;";
    else if (c == '"')
      out += "&quot;";
    else
      out += c;
  }
  return out;
}

// Min/max decimation into `buckets` columns: keeps the extremes of each column in x order.
void decimate_line(const std::vector<double>& x, const std::vector<double>& y, size_t buckets,
                   std::vector<double>& ox, std::vector<double>& oy) {
  const size_t n = std::min(x.size(), y.size());
  if (n <= 2 * buckets) {
    ox.assign(x.begin(), x.begin() + n);
    oy.assign(y.begin(), y.begin() + n);
    return;
  }
  for (size_t b = 0; b < buckets; ++b) {
    const size_t lo = b * n / buckets, hi = (b + 1) * n / buckets;
    if (lo >= hi) continue;
    size_t start = lo;  // NaN compares false: start from the column's first finite value
    while (start < hi && !std::isfinite(y[start])) ++start;
    if (start == hi) continue;
    size_t imin = start, imax = start;
    for (size_t i = start; i < hi; ++i) {
      if (y[i] < y[imin]) imin = i;
      if (y[i] > y[imax]) imax = i;
    }
    const size_t first = std::min(imin, imax), second = std::max(imin, imax);
    ox.push_back(x[first]);
    oy.push_back(y[first]);
    if (second != first) {
      ox.push_back(x[second]);
      oy.push_back(y[second]);
    }
  }
}

// Band decimation: per column the minimum lower and maximum upper bound.
void decimate_band(const PlotBand& band, size_t buckets, std::vector<double>& ox,
                   std::vector<double>& olo, std::vector<double>& ohi) {
  const size_t n = std::min({band.x.size(), band.lower.size(), band.upper.size()});
  if (n <= buckets) {
    ox.assign(band.x.begin(), band.x.begin() + n);
    olo.assign(band.lower.begin(), band.lower.begin() + n);
    ohi.assign(band.upper.begin(), band.upper.begin() + n);
    return;
  }
  for (size_t b = 0; b < buckets; ++b) {
    const size_t lo = b * n / buckets, hi = (b + 1) * n / buckets;
    if (lo >= hi) continue;
    double mn = band.lower[lo], mx = band.upper[lo];
    for (size_t i = lo; i < hi; ++i) {
      mn = std::min(mn, band.lower[i]);
      mx = std::max(mx, band.upper[i]);
    }
    ox.push_back(0.5 * (band.x[lo] + band.x[hi - 1]));
    olo.push_back(mn);
    ohi.push_back(mx);
  }
}

}  // namespace

std::vector<double> nice_ticks(double lo, double hi, int target) {
  if (!(hi > lo)) return {lo};
  const double raw = (hi - lo) / std::max(target, 1);
  const double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
  double step = magnitude;
  for (double m : {1.0, 2.0, 2.5, 5.0, 10.0}) {
    step = m * magnitude;
    if (step >= raw) break;
  }
  std::vector<double> ticks;
  // Count-based loop: for a range of a few ulps `t += step` may not advance t at all.
  const double first = std::ceil(lo / step) * step;
  for (int i = 0; i < 4 * target + 4; ++i) {
    const double t = first + i * step;
    if (t > hi + 1e-9 * step) break;
    if (!ticks.empty() && t == ticks.back()) break;
    ticks.push_back(std::fabs(t) < 1e-12 * step ? 0.0 : t);
  }
  if (ticks.empty()) ticks.push_back(lo);
  return ticks;
}

std::string LinePlot::render() const {
  // Data range over every finite coordinate.
  double xmin = std::numeric_limits<double>::infinity(), xmax = -xmin, ymin = xmin, ymax = -xmin;
  auto grow = [](double v, double& lo, double& hi) {
    if (std::isfinite(v)) lo = std::min(lo, v), hi = std::max(hi, v);
  };
  for (const auto& l : lines_) {
    for (double v : l.x) grow(v, xmin, xmax);
    for (double v : l.y) grow(v, ymin, ymax);
  }
  for (const auto& b : bands_) {
    for (double v : b.x) grow(v, xmin, xmax);
    for (double v : b.lower) grow(v, ymin, ymax);
    for (double v : b.upper) grow(v, ymin, ymax);
  }
  for (const auto& h : hlines_) grow(h.y, ymin, ymax);
  for (const auto& g : segments_) {
    grow(g[0], xmin, xmax), grow(g[2], xmin, xmax);
    grow(g[1], ymin, ymax), grow(g[3], ymin, ymax);
  }
  if (!std::isfinite(xmin)) xmin = 0, xmax = 1;
  if (!std::isfinite(ymin)) ymin = 0, ymax = 1;
  if (xmax <= xmin) xmax = xmin + 1;
  if (ymax <= ymin) ymax = ymin + 1;
  const double pad = 0.05 * (ymax - ymin);
  ymin -= pad;
  ymax += pad;

  const double pw = width_ - kMarginLeft - legend_width_, ph = height_ - kMarginTop - kMarginBottom;
  auto sx = [&](double x) { return kMarginLeft + (x - xmin) / (xmax - xmin) * pw; };
  auto sy = [&](double y) { return kMarginTop + (ymax - y) / (ymax - ymin) * ph; };
  const size_t buckets =
      static_cast<size_t>(std::max(1, std::min(max_points_, static_cast<int>(pw))));

  std::string s;
  s += "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  s += "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"" +
       std::to_string(width_) + "\" height=\"" + std::to_string(height_) + "\" viewBox=\"0 0 " +
       std::to_string(width_) + " " + std::to_string(height_) +
       "\" font-family=\"sans-serif\" font-size=\"11\">\n";
  s += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  if (!title_.empty())
    s += "<text x=\"" + fmt(kMarginLeft + pw / 2) +
         "\" y=\"18\" text-anchor=\"middle\" font-size=\"13\">" + escape(title_) + "</text>\n";
  // Axes, ticks and labels.
  s += "<g stroke=\"black\" stroke-width=\"1\" fill=\"none\">\n";
  s += "<rect x=\"" + fmt(kMarginLeft) + "\" y=\"" + fmt(kMarginTop) + "\" width=\"" + fmt(pw) +
       "\" height=\"" + fmt(ph) + "\"/>\n</g>\n<g font-size=\"10\">\n";
  for (double t : nice_ticks(xmin, xmax)) {
    s += "<line x1=\"" + fmt(sx(t)) + "\" y1=\"" + fmt(kMarginTop + ph) + "\" x2=\"" + fmt(sx(t)) +
         "\" y2=\"" + fmt(kMarginTop + ph + 4) + "\" stroke=\"black\"/>";
    char label[32];
    std::snprintf(label, sizeof label, "%g", t);
    s += "<text x=\"" + fmt(sx(t)) + "\" y=\"" + fmt(kMarginTop + ph + 15) +
         "\" text-anchor=\"middle\">" + label + "</text>\n";
  }
  for (double t : nice_ticks(ymin, ymax)) {
    s += "<line x1=\"" + fmt(kMarginLeft - 4) + "\" y1=\"" + fmt(sy(t)) + "\" x2=\"" +
         fmt(kMarginLeft) + "\" y2=\"" + fmt(sy(t)) + "\" stroke=\"black\"/>";
    char label[32];
    std::snprintf(label, sizeof label, "%g", t);
    s += "<text x=\"" + fmt(kMarginLeft - 6) + "\" y=\"" + fmt(sy(t) + 3) +
         "\" text-anchor=\"end\">" + label + "</text>\n";
  }
  s += "</g>\n";
  s += "<text x=\"" + fmt(kMarginLeft + pw / 2) + "\" y=\"" + fmt(height_ - 8.0) +
       "\" text-anchor=\"middle\">" + escape(xlabel_) + "</text>\n";
  s += "<text transform=\"translate(14," + fmt(kMarginTop + ph / 2) +
       ") rotate(-90)\" text-anchor=\"middle\">" + escape(ylabel_) + "</text>\n";
  // Session boundaries and reference lines.
  for (double v : vlines_)
    s += "<line x1=\"" + fmt(sx(v)) + "\" y1=\"" + fmt(kMarginTop) + "\" x2=\"" + fmt(sx(v)) +
         "\" y2=\"" + fmt(kMarginTop + ph) + "\" stroke=\"#bbbbbb\" stroke-width=\"0.5\"/>\n";
  for (const auto& h : hlines_)
    s += "<line x1=\"" + fmt(kMarginLeft) + "\" y1=\"" + fmt(sy(h.y)) + "\" x2=\"" +
         fmt(kMarginLeft + pw) + "\" y2=\"" + fmt(sy(h.y)) +
         "\" stroke=\"black\" stroke-width=\"0.8\" stroke-dasharray=\"" + h.dash + "\"/>\n";
  for (const auto& g : segments_)
    s += "<line class=\"reference\" x1=\"" + fmt(sx(g[0])) + "\" y1=\"" + fmt(sy(g[1])) +
         "\" x2=\"" + fmt(sx(g[2])) + "\" y2=\"" + fmt(sy(g[3])) +
         "\" stroke=\"#888888\" stroke-width=\"0.8\" stroke-dasharray=\"4,3\"/>\n";
  // Bands under lines.
  for (const auto& b : bands_) {
    std::vector<double> x, lo, hi;
    decimate_band(b, buckets, x, lo, hi);
    std::string points;
    for (size_t i = 0; i < x.size(); ++i) points += fmt(sx(x[i])) + "," + fmt(sy(hi[i])) + " ";
    for (size_t i = x.size(); i-- > 0;) points += fmt(sx(x[i])) + "," + fmt(sy(lo[i])) + " ";
    s += "<polygon class=\"band\" points=\"" + points + "\" fill=\"" + b.color +
         "\" fill-opacity=\"" + fmt(b.opacity) + "\" stroke=\"none\"/>\n";
  }
  for (const auto& l : lines_) {
    if (l.markers) {
      for (size_t i = 0; i < std::min(l.x.size(), l.y.size()); ++i)
        if (std::isfinite(l.x[i]) && std::isfinite(l.y[i]))
          s += "<circle class=\"marker\" cx=\"" + fmt(sx(l.x[i])) + "\" cy=\"" + fmt(sy(l.y[i])) +
               "\" r=\"2.5\" fill=\"" + l.color + "\" fill-opacity=\"0.7\"/>\n";
      continue;
    }
    std::vector<double> x, y;
    decimate_line(l.x, l.y, buckets, x, y);
    std::string points;
    for (size_t i = 0; i < x.size(); ++i)
      if (std::isfinite(y[i])) points += fmt(sx(x[i])) + "," + fmt(sy(y[i])) + " ";
    s += "<polyline class=\"line\" points=\"" + points + "\" fill=\"none\" stroke=\"" + l.color +
         "\" stroke-width=\"" + fmt(l.width) + "\"" +
         (l.dash.empty() ? "" : " stroke-dasharray=\"" + l.dash + "\"") + "/>\n";
  }
  // Legend.
  int row = 0;
  for (const auto& l : lines_) {
    if (!l.in_legend) continue;
    const double y = kMarginTop + 10 + 16 * row++;
    const double x = kMarginLeft + pw + 10;
    s += "<line class=\"legend\" x1=\"" + fmt(x) + "\" y1=\"" + fmt(y) + "\" x2=\"" + fmt(x + 20) + "\" y2=\"" +
         fmt(y) + "\" stroke=\"" + l.color + "\" stroke-width=\"2\"" +
         (l.dash.empty() ? "" : " stroke-dasharray=\"" + l.dash + "\"") + "/><text x=\"" +
         fmt(x + 25) + "\" y=\"" + fmt(y + 4) + "\">" + escape(l.label) + "</text>\n";
  }
  s += "</svg>\n";
  return s;
}

std::string side_by_side(const std::vector<std::string>& svgs, int panel_width, int height) {
  const int width = panel_width * static_cast<int>(svgs.size());
  std::string s = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  s += "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"" +
       std::to_string(width) + "\" height=\"" + std::to_string(height) + "\" viewBox=\"0 0 " +
       std::to_string(width) + " " + std::to_string(height) + "\">\n";
  for (size_t i = 0; i < svgs.size(); ++i) {
    std::string panel = svgs[i];
    if (panel.rfind("<?xml", 0) == 0) panel.erase(0, panel.find('\n') + 1);
    // The nested <svg> element is placed by its x attribute.
    panel.insert(4, " x=\"" + std::to_string(panel_width * static_cast<int>(i)) + "\"");
    s += panel;
  }
  s += "</svg>\n";
  return s;
}

}  // namespace effinfer::io
