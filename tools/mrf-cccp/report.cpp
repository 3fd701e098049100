#include "report.hpp"

#include <algorithm>
#include <cmath>

#include "io/png.hpp"
#include "io/svg.hpp"
#include "sfs.hpp"

namespace effinfer::mrf {
namespace {

const std::vector<std::string> kColors = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e"};

// Smallest time shown on a log axis (the first trace entry is timed at ~0 s).
constexpr double kMinTime = 1e-6;

}  // namespace

std::string energy_plot_svg(const std::vector<std::string>& methods,
                            const std::vector<InstanceRun>& runs, int instance) {
  if (runs.empty()) return io::LinePlot(640, 400).render();
  const size_t b =
      static_cast<size_t>(std::clamp<int>(instance, 0, static_cast<int>(runs.size()) - 1));
  bool positive = true;
  for (const auto& r : runs[b].methods)
    for (double e : r.trace_energy) positive = positive && e > 0;
  io::LinePlot trace(640, 400);
  trace.set_title("energy against wall time" +
                  (runs.size() > 1 ? " (instance " + std::to_string(runs[b].id) + ")" : ""));
  trace.set_labels(positive ? "log10 wall time (s)" : "wall time (s)", positive ? "log10 E" : "E");
  for (size_t m = 0; m < methods.size(); ++m) {
    const MethodResult& r = runs[b].methods[m];
    io::PlotLine line;
    line.label = methods[m];
    line.color = kColors[m % kColors.size()];
    for (size_t i = 0; i < r.trace_energy.size(); ++i) {
      const double t = r.trace_time_s[i];
      line.x.push_back(positive ? std::log10(std::max(t, kMinTime)) : t);
      line.y.push_back(positive ? std::log10(r.trace_energy[i]) : r.trace_energy[i]);
    }
    trace.add_line(std::move(line));
  }
  const auto c = std::find(methods.begin(), methods.end(), "cccp");
  const auto l = std::find(methods.begin(), methods.end(), "lbfgs");
  if (runs.size() < 2 || c == methods.end() || l == methods.end()) return trace.render();

  const size_t ci = c - methods.begin(), li = l - methods.begin();
  bool all_positive = true;
  for (const auto& r : runs)
    all_positive = all_positive && r.methods[ci].energy_final > 0 && r.methods[li].energy_final > 0;
  auto axis = [&](double e) { return all_positive ? std::log10(e) : e; };
  io::LinePlot scatter(480, 400);
  scatter.set_title("final energy per instance");
  scatter.set_labels(all_positive ? "log10 E lbfgs" : "E lbfgs",
                     all_positive ? "log10 E cccp" : "E cccp");
  io::PlotLine points;
  points.label = "instances";
  points.color = kColors[0];
  points.markers = true;
  double lo = std::numeric_limits<double>::infinity(), hi = -lo;
  for (const auto& r : runs) {
    const double x = axis(r.methods[li].energy_final), y = axis(r.methods[ci].energy_final);
    points.x.push_back(x);
    points.y.push_back(y);
    lo = std::min({lo, x, y});
    hi = std::max({hi, x, y});
  }
  scatter.add_line(std::move(points));
  if (std::isfinite(lo)) scatter.add_segment(lo, lo, hi, hi);
  return io::side_by_side({trace.render(), scatter.render()}, 640, 400);
}

std::vector<std::string> png_paths(const std::string& prefix, const Model& model,
                                   const std::vector<std::string>& methods) {
  std::vector<std::string> paths = {prefix + "-input.png", prefix + "-truth.png"};
  for (const auto& m : methods) paths.push_back(prefix + "-" + m + ".png");
  if (model.app == "sfs") {
    paths.push_back(prefix + "-truth-depth.png");
    for (const auto& m : methods) paths.push_back(prefix + "-" + m + "-depth.png");
  }
  return paths;
}

std::vector<std::string> write_pngs(const std::string& prefix, const Model& model,
                                    const std::vector<std::string>& methods, const InstanceRun& run,
                                    bool force) {
  std::vector<std::string> written;
  auto put = [&](const std::string& path, const RowMatrixXd& image) {
    io::write_png_gray(path, image, force);
    written.push_back(path);
  };
  const auto H = static_cast<Eigen::Index>(model.meta.height),
             W = static_cast<Eigen::Index>(model.meta.width);
  auto as_image = [&](const Eigen::VectorXd& x) -> RowMatrixXd {
    return Eigen::Map<const RowMatrixXd>(x.data(), H, W);
  };
  if (model.app == "denoise") {
    put(prefix + "-input.png", model.meta.observed);
    put(prefix + "-truth.png", model.meta.clean);
    for (size_t m = 0; m < methods.size(); ++m)
      put(prefix + "-" + methods[m] + ".png", as_image(run.methods[m].x));
    return written;
  }
  // sfs: shading images, and depth scaled by the truth's range over valid pixels.
  const Eigen::Vector3d light =
      model.meta.light.size() == 3 ? Eigen::Vector3d(model.meta.light) : Eigen::Vector3d(0, 0, 1);
  put(prefix + "-input.png", model.meta.observed);
  const RowMatrixXd truth = as_image(model.truth);
  put(prefix + "-truth.png", render_shading(truth, light));
  for (size_t m = 0; m < methods.size(); ++m)
    put(prefix + "-" + methods[m] + ".png", render_shading(as_image(run.methods[m].x), light));
  double lo = std::numeric_limits<double>::infinity(), hi = -lo;
  for (Eigen::Index i = 0; i < truth.size(); ++i)
    if (model.meta.valid.size() == 0 || model.meta.valid.data()[i]) {
      lo = std::min(lo, truth.data()[i]);
      hi = std::max(hi, truth.data()[i]);
    }
  const double range = hi > lo ? hi - lo : 1.0;
  auto scaled = [&](const RowMatrixXd& z) -> RowMatrixXd { return (z.array() - lo) / range; };
  put(prefix + "-truth-depth.png", scaled(truth));
  for (size_t m = 0; m < methods.size(); ++m)
    put(prefix + "-" + methods[m] + "-depth.png",
        scaled(gauge_aligned_depth(model, run.methods[m].x)));
  return written;
}

}  // namespace effinfer::mrf
