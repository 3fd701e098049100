#include "plot.hpp"

#include <filesystem>
#include <map>

#include "core/error.hpp"
#include "io/svg.hpp"

namespace effinfer::psytrack {

PlotStyle read_plot_style(const io::Config& c) {
  PlotStyle s;
  s.width = static_cast<int>(c.get_int("plot.width"));
  s.height = static_cast<int>(c.get_int("plot.height"));
  s.max_points = static_cast<int>(c.get_int("plot.max_points"));
  s.band_z = c.get_double("plot.band_z");
  if (s.width < 200 || s.height < 100) c.fail("plot.width", "expected width >= 200 and height >= 100");
  if (s.max_points < 10) c.fail("plot.max_points", "expected >= 10");
  if (!(s.band_z >= 0)) c.fail("plot.band_z", "expected >= 0");
  return s;
}

std::string weight_colour(const std::string& label, int index) {
  static const std::map<std::string, std::string> kNamed = {
      {"bias", "#FAA61A"}, {"s1", "#A9373B"}, {"s_a", "#A9373B"}, {"sR", "#A9373B"},
      {"cR", "#A9373B"},   {"s2", "#2369BD"}, {"s_b", "#2369BD"}, {"sL", "#2369BD"},
      {"cL", "#2369BD"},   {"c", "#59C3C3"},  {"h", "#9593D9"},   {"s_avg", "#99CC66"}};
  static const char* kCycle[] = {"#1b9e77", "#d95f02", "#7570b3", "#e7298a",
                                 "#66a61e", "#e6ab02", "#a6761d", "#666666"};
  const std::string base = label.substr(0, label.find('['));
  if (auto it = kNamed.find(base); it != kNamed.end()) return it->second;
  return kCycle[index % 8];
}

std::string render_subject_plot(const io::H5File& fit, const std::string& id,
                                const std::string& source_override, const PlotStyle& style) {
  const std::string g = "/results/" + id;
  if (!fit.is_dataset(g + "/wMode"))
    throw DataError(fit.path() + ":" + g + "/wMode: dataset not found (plot needs a fit output)");
  const io::RowMatrixXd w = fit.read_matrix(g + "/wMode");
  io::RowMatrixXd sd;
  if (fit.is_dataset(g + "/W_std")) sd = fit.read_matrix(g + "/W_std");
  const int k = static_cast<int>(w.rows()), n = static_cast<int>(w.cols());
  std::vector<std::string> names = fit.read_attribute_strings(g, "weight_names");
  if (static_cast<int>(names.size()) != k) names.resize(k, "w");

  io::LinePlot plot(style.width, style.height);
  plot.set_title(id);
  plot.set_labels("Trial #", "Weights");
  plot.set_max_points(style.max_points);
  std::vector<double> x(n);
  for (int t = 0; t < n; ++t) x[t] = t;
  for (int j = 0; j < k; ++j) {
    const std::string colour = weight_colour(names[j], j);
    if (sd.size() > 0) {
      io::PlotBand band;
      band.color = colour;
      band.x = x;
      band.lower.resize(n);
      band.upper.resize(n);
      for (int t = 0; t < n; ++t) {
        band.lower[t] = w(j, t) - style.band_z * sd(j, t);
        band.upper[t] = w(j, t) + style.band_z * sd(j, t);
      }
      plot.add_band(std::move(band));
    }
  }
  for (int j = 0; j < k; ++j) {
    io::PlotLine line;
    line.label = names[j];
    line.color = weight_colour(names[j], j);
    line.x = x;
    line.y.assign(w.row(j).data(), w.row(j).data() + n);
    plot.add_line(std::move(line));
  }
  plot.add_hline(0.0);
  if (fit.is_dataset(g + "/dayLength")) {
    const auto days = fit.read_int_vector(g + "/dayLength");
    int64_t start = 0;
    for (size_t i = 0; i + 1 < days.size(); ++i) plot.add_vline(static_cast<double>(start += days[i]));
  }
  // Truth lines from the source file, when there is one.
  std::string source = source_override;
  if (source.empty() && fit.has_attribute(g, "source_file")) source = fit.read_attribute_string(g, "source_file");
  if (!source.empty() && !std::filesystem::exists(source) && source_override.empty()) {
    // source_file is stored as given on the command line: try it beside the fit file too.
    const auto beside = std::filesystem::path(fit.path()).parent_path() / source;
    if (std::filesystem::exists(beside)) source = beside.string();
  }
  if (!source.empty() && std::filesystem::exists(source)) {
    const io::H5File src = io::H5File::open(source);
    std::string group = fit.has_attribute(g, "source_group") ? fit.read_attribute_string(g, "source_group") : "/";
    if (group == "/") group.clear();
    const std::string truth = group + "/truth/W";
    if (src.is_dataset(truth)) {
      const io::RowMatrixXd tw = src.read_matrix(truth);
      const int64_t start = fit.has_attribute(g, "trim_start") ? fit.read_attribute_int(g, "trim_start") : 0;
      if (tw.rows() == k && tw.cols() >= start + n) {
        for (int j = 0; j < k; ++j) {
          io::PlotLine line;
          line.label = "truth";
          line.color = "#000000";
          line.width = 0.7;
          line.in_legend = j == 0;
          line.x = x;
          line.y.assign(tw.row(j).data() + start, tw.row(j).data() + start + n);
          plot.add_line(std::move(line));
        }
      }
    }
  } else if (!source_override.empty()) {
    throw InputError(source_override + ": --source file does not exist");
  }
  return plot.render();
}

}  // namespace effinfer::psytrack
