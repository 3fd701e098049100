// A small SVG 1.1 line-plot writer: polylines, shaded bands, reference lines, axes with ticks and
// a legend. Long series are decimated per pixel column (min/max), so a million points stay small.
#pragma once

#include <array>
#include <string>
#include <vector>

namespace effinfer::io {

struct PlotLine {
  std::string label, color;
  std::vector<double> x, y;
  double width = 1.5;
  std::string dash;  // SVG stroke-dasharray, empty = solid
  bool in_legend = true;
  bool markers = false;  // draw each point as a circle (a scatter) instead of a polyline
};

struct PlotBand {
  std::string color;
  std::vector<double> x, lower, upper;
  double opacity = 0.2;
};

class LinePlot {
 public:
  LinePlot(int width, int height) : width_(width), height_(height) {}
  void set_title(std::string t) { title_ = std::move(t); }
  void set_labels(std::string x, std::string y) { xlabel_ = std::move(x), ylabel_ = std::move(y); }
  void set_max_points(int n) { max_points_ = n; }
  // Room right of the plot for the legend (default 120 px; long labels need more).
  void set_legend_width(int px) { legend_width_ = px; }
  void add_line(PlotLine line) { lines_.push_back(std::move(line)); }
  void add_band(PlotBand band) { bands_.push_back(std::move(band)); }
  void add_hline(double y, std::string dash = "4,3") { hlines_.push_back({y, std::move(dash)}); }
  void add_vline(double x) { vlines_.push_back(x); }
  // A dashed reference segment in data coordinates (e.g. the diagonal y = x of a scatter).
  void add_segment(double x1, double y1, double x2, double y2) {
    segments_.push_back({x1, y1, x2, y2});
  }
  std::string render() const;

 private:
  struct HLine {
    double y;
    std::string dash;
  };
  int width_, height_, max_points_ = 2000, legend_width_ = 120;
  std::string title_, xlabel_, ylabel_;
  std::vector<PlotLine> lines_;
  std::vector<PlotBand> bands_;
  std::vector<HLine> hlines_;
  std::vector<double> vlines_;
  std::vector<std::array<double, 4>> segments_;
};

// Places rendered plots side by side in one SVG document (each keeps its own coordinates).
std::string side_by_side(const std::vector<std::string>& svgs, int panel_width, int height);

// "Nice" tick positions covering [lo, hi] (about `target` of them).
std::vector<double> nice_ticks(double lo, double hi, int target = 6);

}  // namespace effinfer::io
