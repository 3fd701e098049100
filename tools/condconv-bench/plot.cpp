// Spec condconv-bench 3 (train and bench outputs) drawn with lib/io's SVG plot.
#include "plot.hpp"

#include <algorithm>
#include <map>
#include <set>
#include <vector>

#include "core/error.hpp"
#include "io/svg.hpp"

namespace effinfer::condconv {
namespace {

const char* kColors[] = {"#000000", "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e",
                         "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#17becf"};

// A numeric column of n values (any integer or float type).
std::vector<double> column(const io::H5File& f, const std::string& path, size_t n) {
  if (!f.is_dataset(path)) throw DataError(f.path() + ":" + path + ": missing");
  std::vector<double> v(n);
  const io::DatasetInfo info = f.info(path);
  if (info.shape.size() != 1 || info.shape[0] != n)
    throw DataError(f.path() + ":" + path + ": expected " + std::to_string(n) + " values, found " +
                    info.describe());
  f.read_raw(path, H5T_NATIVE_DOUBLE, v.data(), n);
  return v;
}

std::string train_svg(const io::H5File& f) {
  const std::string g = "/results/summary/";
  if (!f.is_dataset(g + "variant")) throw DataError(f.path() + ":" + g + "variant: missing");
  const std::vector<std::string> variant = f.read_strings(g + "variant");
  const size_t n = variant.size();
  const auto experts = column(f, g + "experts", n);
  const auto macs = column(f, g + "macs", n);
  const auto mean = column(f, g + "test_acc_mean", n);
  const auto sd = column(f, g + "test_acc_std", n);
  std::vector<std::string> order;
  for (const auto& v : variant)
    if (std::find(order.begin(), order.end(), v) == order.end()) order.push_back(v);
  io::LinePlot plot(760, 440);
  plot.set_legend_width(170);
  plot.set_title("Test accuracy against MACs per image (mean over seeds, band = +/- 1 sd)");
  plot.set_labels("MACs per image (millions)", "test accuracy (%)");
  for (size_t k = 0; k < order.size(); ++k) {
    std::vector<size_t> rows;
    for (size_t i = 0; i < n; ++i)
      if (variant[i] == order[k]) rows.push_back(i);
    std::sort(rows.begin(), rows.end(), [&](size_t a, size_t b) { return macs[a] < macs[b]; });
    io::PlotLine line;
    io::PlotBand band;
    line.label = order[k];
    line.color = band.color = kColors[k % std::size(kColors)];
    line.markers = rows.size() == 1;
    for (size_t i : rows) {
      const double x = macs[i] / 1e6;
      line.x.push_back(x);
      line.y.push_back(100 * mean[i]);
      band.x.push_back(x);
      band.lower.push_back(100 * (mean[i] - sd[i]));
      band.upper.push_back(100 * (mean[i] + sd[i]));
    }
    if (rows.size() > 1) plot.add_band(std::move(band));
    plot.add_line(std::move(line));
    (void)experts;
  }
  return plot.render();
}

std::string bench_svg(const io::H5File& f) {
  const std::string g = "/results/cases/";
  if (!f.is_dataset(g + "strategy")) throw DataError(f.path() + ":" + g + "strategy: missing");
  const std::vector<std::string> strategy = f.read_strings(g + "strategy");
  const size_t n = strategy.size();
  const auto experts = column(f, g + "experts", n);
  const auto batch = column(f, g + "batch", n);
  const auto threads = column(f, g + "threads", n);
  const auto ratio = column(f, g + "ratio_vs_static", n);
  const double t1 = *std::min_element(threads.begin(), threads.end());
  std::set<double> batches(batch.begin(), batch.end());
  std::vector<std::string> panels;
  const int width = 520, height = 400;
  for (double b : batches) {
    // strategy -> experts -> ratios over the layers
    std::map<std::string, std::map<double, std::vector<double>>> cells;
    for (size_t i = 0; i < n; ++i)
      if (batch[i] == b && threads[i] == t1 && std::isfinite(ratio[i]) && ratio[i] > 0 &&
          strategy[i] != "static")
        cells[strategy[i]][experts[i]].push_back(ratio[i]);
    io::LinePlot plot(width, height);
    plot.set_legend_width(150);
    plot.set_title("B = " + std::to_string(static_cast<int>(b)) + ", " +
                   std::to_string(static_cast<int>(t1)) +
                   " thread: latency / static (median over layers)");
    plot.set_labels("experts n", "time relative to the static layer");
    plot.add_hline(1.0);
    size_t k = 1;
    for (const auto& [name, by_n] : cells) {
      io::PlotLine line;
      line.label = name;
      line.color = kColors[k++ % std::size(kColors)];
      line.markers = by_n.size() == 1;
      for (auto [e, v] : by_n) {
        std::nth_element(v.begin(), v.begin() + v.size() / 2, v.end());
        line.x.push_back(e);
        line.y.push_back(v[v.size() / 2]);
      }
      plot.add_line(std::move(line));
    }
    panels.push_back(plot.render());
  }
  if (panels.empty()) throw DataError(f.path() + ":" + g + ": no cases");
  return panels.size() == 1 ? panels.front() : io::side_by_side(panels, width, height);
}

}  // namespace

std::string results_svg(const io::H5File& file) {
  if (file.exists("/results/summary")) return train_svg(file);
  if (file.exists("/results/cases")) return bench_svg(file);
  throw DataError(file.path() +
                  ":/results: expected a train (/results/summary) or bench "
                  "(/results/cases) output");
}

}  // namespace effinfer::condconv
