// SVG line plots (lib/io/svg.hpp): well-formed XML (checked by xmllint when installed), one
// element per line/band, and per-pixel-column decimation that bounds the size while keeping each
// series' extremes. Pixel positions of data values are read back from reference lines drawn at the
// same values (add_hline / add_vline), so the tests do not depend on the plot's margins.
#include <doctest/doctest.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <new>
#include <regex>
#include <string>
#include <vector>

#include "io/svg.hpp"

namespace effinfer::io {
namespace {

namespace fs = std::filesystem;

struct Point {
  double x, y;
};

size_t count(const std::string& text, const std::string& part) {
  size_t n = 0;
  for (size_t pos = text.find(part); pos != std::string::npos; pos = text.find(part, pos + 1)) ++n;
  return n;
}

// The points of every element `<tag class="cls" points="...">`, in document order.
std::vector<std::vector<Point>> shapes(const std::string& svg, const std::string& tag,
                                       const std::string& cls) {
  std::vector<std::vector<Point>> out;
  const std::regex element("<" + tag + " class=\"" + cls + "\" points=\"([^\"]*)\"");
  for (std::sregex_iterator it(svg.begin(), svg.end(), element), end; it != end; ++it) {
    std::vector<Point> points;
    std::istringstream in((*it)[1].str());
    std::string pair;
    while (in >> pair) {
      const auto comma = pair.find(',');
      points.push_back({std::stod(pair.substr(0, comma)), std::stod(pair.substr(comma + 1))});
    }
    out.push_back(std::move(points));
  }
  return out;
}

// Pixel y of horizontal reference lines (dashed, full width), in the order they were added.
std::vector<double> hline_pixels(const std::string& svg) {
  std::vector<double> out;
  const std::regex line("<line x1=\"[^\"]*\" y1=\"([^\"]*)\"[^>]*stroke-dasharray");
  for (std::sregex_iterator it(svg.begin(), svg.end(), line), end; it != end; ++it)
    out.push_back(std::stod((*it)[1].str()));
  return out;
}

// Pixel x of vertical reference lines (grey session boundaries).
std::vector<double> vline_pixels(const std::string& svg) {
  std::vector<double> out;
  const std::regex line("<line x1=\"([^\"]*)\"[^>]*stroke=\"#bbbbbb\"");
  for (std::sregex_iterator it(svg.begin(), svg.end(), line), end; it != end; ++it)
    out.push_back(std::stod((*it)[1].str()));
  return out;
}

// Runs xmllint --noout on the document: true when well-formed; skips when xmllint is absent.
void check_well_formed(const std::string& svg) {
  if (access("/usr/bin/xmllint", X_OK) != 0) {
    MESSAGE("SKIPPED: /usr/bin/xmllint not installed; XML well-formedness not checked");
    return;
  }
  static std::atomic<int> counter{0};
  const fs::path path =
      fs::temp_directory_path() /
      ("effinfer_unit_svg_" + std::to_string(getpid()) + "_" + std::to_string(counter++) + ".svg");
  std::ofstream(path, std::ios::binary) << svg;
  const std::string command = "/usr/bin/xmllint --noout " + path.string();
  const int status = std::system(command.c_str());
  fs::remove(path);
  CHECK(status == 0);
}

PlotLine make_line(std::string label, std::string color, size_t n) {
  PlotLine line;
  line.label = std::move(label);
  line.color = std::move(color);
  for (size_t i = 0; i < n; ++i) {
    line.x.push_back(static_cast<double>(i));
    line.y.push_back(std::sin(0.01 * static_cast<double>(i)));
  }
  return line;
}

TEST_CASE("svg: a full plot is well-formed XML with one element per line and band") {
  LinePlot plot(800, 400);
  plot.set_title("weights <trial & \"session\">");
  plot.set_labels("trial", "weight > 0?");
  PlotLine a = make_line("bias", "#1f77b4", 500);
  a.y[10] = std::nan("");  // non-finite values are skipped, not printed
  a.y[11] = std::numeric_limits<double>::infinity();
  PlotLine b = make_line("stim & <prev>", "#ff7f0e", 300);
  b.dash = "5,2";
  PlotLine c = make_line("hidden", "green", 50);
  c.in_legend = false;
  plot.add_line(a);
  plot.add_line(b);
  plot.add_line(c);
  for (int k = 0; k < 2; ++k) {
    PlotBand band;
    band.color = "#cccccc";
    for (int i = 0; i < 400; ++i) {
      band.x.push_back(i);
      band.lower.push_back(-1.0 - k);
      band.upper.push_back(1.0 + k);
    }
    plot.add_band(band);
  }
  plot.add_hline(0.0);
  plot.add_vline(100);
  plot.add_vline(200);
  const std::string svg = plot.render();
  check_well_formed(svg);
  CHECK(count(svg, "<polyline class=\"line\"") == 3);
  CHECK(count(svg, "<polygon class=\"band\"") == 2);
  CHECK(vline_pixels(svg).size() == 2);
  CHECK(hline_pixels(svg).size() == 1);
  // Legend: labels of the two legend lines, escaped; the hidden one absent.
  CHECK(count(svg, ">bias</text>") == 1);
  CHECK(count(svg, ">stim &amp; &lt;prev&gt;</text>") == 1);
  CHECK(count(svg, ">hidden<") == 0);
  CHECK(count(svg, "weights &lt;trial &amp; &quot;session&quot;&gt;") == 1);
  CHECK(count(svg, "stroke-dasharray=\"5,2\"") == 2);  // the line and its legend sample
  CHECK(svg.find("nan") == std::string::npos);
  CHECK(svg.find("inf") == std::string::npos);
  const auto lines = shapes(svg, "polyline", "line");
  REQUIRE(lines.size() == 3);
  CHECK(lines[0].size() == 498);  // 500 points, two non-finite skipped
  CHECK(lines[1].size() == 300);
  CHECK(lines[2].size() == 50);
}

TEST_CASE("svg: empty and degenerate plots are well-formed") {
  check_well_formed(LinePlot(300, 200).render());
  LinePlot flat(300, 200);
  PlotLine line;
  line.color = "black";
  line.x = {0, 1, 2};
  line.y = {3, 3, 3};  // zero y range
  flat.add_line(line);
  PlotLine single;
  single.color = "red";
  single.x = {5};
  single.y = {std::nan("")};
  flat.add_line(single);
  const std::string svg = flat.render();
  check_well_formed(svg);
  CHECK(count(svg, "<polyline class=\"line\"") == 2);
}

TEST_CASE("svg: coordinates follow the data (x to the right, y upwards)") {
  LinePlot plot(600, 300);
  PlotLine line;
  line.color = "black";
  line.x = {0, 1, 2, 3};
  line.y = {0, 2, 1, 3};
  plot.add_line(line);
  plot.add_hline(0);
  plot.add_hline(3);
  plot.add_vline(0);
  plot.add_vline(3);
  const std::string svg = plot.render();
  const auto points = shapes(svg, "polyline", "line").at(0);
  REQUIRE(points.size() == 4);
  const auto h = hline_pixels(svg), v = vline_pixels(svg);
  CHECK(points[0].x == doctest::Approx(v[0]).epsilon(1e-3));
  CHECK(points[3].x == doctest::Approx(v[1]).epsilon(1e-3));
  CHECK(points[0].y == doctest::Approx(h[0]).epsilon(1e-3));
  CHECK(points[3].y == doctest::Approx(h[1]).epsilon(1e-3));
  CHECK(points[1].y < points[2].y);  // y = 2 is drawn above y = 1
  CHECK(points[0].x < points[1].x);
  // Interior x at equal spacing.
  CHECK(points[1].x - points[0].x == doctest::Approx(points[2].x - points[1].x).epsilon(1e-3));
}

TEST_CASE("svg: a million points are decimated and keep their extremes") {
  constexpr int kN = 1000000;
  constexpr int kMax = 777777, kMin = 222223;  // spike positions
  LinePlot plot(1000, 400);
  PlotLine line;
  line.color = "blue";
  line.x.resize(kN);
  line.y.resize(kN);
  for (int i = 0; i < kN; ++i) {
    line.x[i] = i;
    line.y[i] = std::sin(1e-4 * i) + 0.01 * std::sin(0.37 * i);
  }
  line.y[kMax] = 3.0;
  line.y[kMin] = -2.5;
  plot.add_line(line);
  PlotBand band;
  band.color = "grey";
  band.x = line.x;
  band.lower.resize(kN);
  band.upper.resize(kN);
  for (int i = 0; i < kN; ++i) band.lower[i] = line.y[i] - 0.5, band.upper[i] = line.y[i] + 0.5;
  band.lower[123457] = -4.0;
  band.upper[876543] = 4.5;
  plot.add_band(band);
  for (double y : {3.0, -2.5, -4.0, 4.5}) plot.add_hline(y);
  plot.add_vline(kMax);
  plot.add_vline(kMin);
  const std::string svg = plot.render();
  CAPTURE(svg.size());
  CHECK(svg.size() < 200000);  // bounded by the pixel width, not by N
  const auto h = hline_pixels(svg), v = vline_pixels(svg);
  REQUIRE(h.size() == 4);
  REQUIRE(v.size() == 2);

  const auto points = shapes(svg, "polyline", "line").at(0);
  CHECK(points.size() <= 2 * 1000);
  CHECK(points.size() >= 100);
  double top = 1e9, bottom = -1e9, x_top = 0, x_bottom = 0;
  for (const auto& p : points) {
    if (p.y < top) top = p.y, x_top = p.x;
    if (p.y > bottom) bottom = p.y, x_bottom = p.x;
  }
  CHECK(top == doctest::Approx(h[0]).epsilon(1e-4));     // the maximum, 3.0
  CHECK(bottom == doctest::Approx(h[1]).epsilon(1e-4));  // the minimum, -2.5
  CHECK(x_top == doctest::Approx(v[0]).epsilon(1e-4));   // at its own x
  CHECK(x_bottom == doctest::Approx(v[1]).epsilon(1e-4));
  for (size_t i = 1; i < points.size(); ++i) REQUIRE(points[i].x >= points[i - 1].x);

  const auto polygon = shapes(svg, "polygon", "band").at(0);
  CHECK(polygon.size() <= 2 * 2 * 1000);
  double band_top = 1e9, band_bottom = -1e9;
  for (const auto& p : polygon)
    band_top = std::min(band_top, p.y), band_bottom = std::max(band_bottom, p.y);
  CHECK(band_top == doctest::Approx(h[3]).epsilon(1e-4));     // max upper, 4.5
  CHECK(band_bottom == doctest::Approx(h[2]).epsilon(1e-4));  // min lower, -4.0
  check_well_formed(svg);
}

TEST_CASE("svg: set_max_points bounds the points per line") {
  LinePlot plot(1000, 400);
  plot.set_max_points(50);
  plot.add_line(make_line("a", "red", 10000));
  const auto points = shapes(plot.render(), "polyline", "line").at(0);
  CHECK(points.size() <= 100);
  CHECK(points.size() >= 50);
}

TEST_CASE("svg: a NaN at the start of a decimation column does not hide its extremes") {
  // Regression: min/max used to start at the column's first value; a NaN there compares false
  // with everything, so the column's real extremes were dropped.
  constexpr int kN = 100000;
  LinePlot plot(640, 400);
  PlotLine line = make_line("a", "red", kN);
  // A gap of NaNs around one finite spike: whatever the column width (50 to 1000 samples here),
  // the column holding the spike starts inside the gap, i.e. with a NaN.
  for (int i = 49000; i < 51000; ++i) line.y[i] = std::nan("");
  line.y[50010] = 5.0;
  plot.add_line(line);
  plot.add_hline(5.0);
  const std::string svg = plot.render();
  const double spike = hline_pixels(svg).at(0);
  double top = 1e9;
  const auto points = shapes(svg, "polyline", "line").at(0);
  for (const auto& p : points) top = std::min(top, p.y);
  CHECK(top == doctest::Approx(spike).epsilon(1e-4));
}

TEST_CASE("svg: nice_ticks") {
  const auto t = nice_ticks(0, 1, 5);
  REQUIRE(t.size() == 6);
  for (size_t i = 0; i < t.size(); ++i) CHECK(t[i] == doctest::Approx(0.2 * i));
  CHECK(nice_ticks(2, 2) == std::vector<double>{2});
  CHECK(nice_ticks(3, 1) == std::vector<double>{3});
  CHECK(nice_ticks(-3.7, 12.2, 6) == std::vector<double>{0, 5, 10});
  // General properties: inside the range, equally spaced by 1, 2, 2.5 or 5 times a power of ten,
  // and about `target` of them.
  struct Range {
    double lo, hi;
  };
  for (const Range r : {Range{0, 1}, Range{-1e-3, 2e-3}, Range{17, 9000}, Range{-250, -3},
                        Range{0.5, 0.5000001}, Range{-1e6, 1e6}, Range{1999, 2000}}) {
    CAPTURE(r.lo);
    CAPTURE(r.hi);
    const auto ticks = nice_ticks(r.lo, r.hi, 6);
    REQUIRE(ticks.size() >= 2);
    CHECK(ticks.size() <= 16);
    const double step = ticks[1] - ticks[0];
    const double mantissa = step / std::pow(10.0, std::floor(std::log10(step)));
    const bool nice = std::fabs(mantissa - 1) < 1e-6 || std::fabs(mantissa - 2) < 1e-6 ||
                      std::fabs(mantissa - 2.5) < 1e-6 || std::fabs(mantissa - 5) < 1e-6;
    CHECK(nice);
    for (size_t i = 0; i < ticks.size(); ++i) {
      CHECK(ticks[i] >= r.lo - 1e-9 * step);
      CHECK(ticks[i] <= r.hi + 1e-9 * step);
      if (i) CHECK(ticks[i] - ticks[i - 1] == doctest::Approx(step).epsilon(1e-6));
    }
  }
}

// Runs f in a child process with 512 MiB of address space and a 5 s alarm; true when it returned.
template <class F>
bool finishes_in_child(F&& f) {
  const pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    const rlimit limit{512ul << 20, 512ul << 20};
    setrlimit(RLIMIT_AS, &limit);
    alarm(5);
    try {
      f();
    } catch (const std::bad_alloc&) {
      _exit(2);
    }
    _exit(0);
  }
  int status = 0;
  REQUIRE(waitpid(child, &status, 0) == child);
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

TEST_CASE("svg: a y range of a few ulps terminates") {
  // Regression: with a step below half an ulp of the ticks, `t += step` did not advance and
  // nice_ticks appended until memory ran out, so a series constant up to rounding hung render().
  // Run in a child with limited memory and an alarm so a regression fails instead of hanging.
  CHECK(finishes_in_child([] {
    const auto ticks = nice_ticks(1.0, std::nextafter(1.0, 2.0));
    if (ticks.size() > 100) _exit(3);
  }));
  CHECK(finishes_in_child([] {
    LinePlot plot(400, 300);
    PlotLine line;
    line.color = "black";
    line.x = {0, 1};
    line.y = {1.0, std::nextafter(1.0, 2.0)};
    plot.add_line(line);
    (void)plot.render();
  }));
}

}  // namespace
}  // namespace effinfer::io
