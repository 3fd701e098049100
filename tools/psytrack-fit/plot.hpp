// SVG of a fitted subject's weight trajectories with credible bands (spec 3.6), in psytrack's
// colours (psytrack/plot/analysisFunctions.py).
#pragma once

#include <string>

#include "io/config.hpp"
#include "io/hdf5.hpp"

namespace effinfer::psytrack {

struct PlotStyle {
  int width = 900, height = 300, max_points = 2000;
  double band_z = 1.96;
};

PlotStyle read_plot_style(const io::Config& config);
// psytrack's colour for a weight label ("s1", "bias", "x[2]", ...).
std::string weight_colour(const std::string& label, int index);
// Renders /results/<id> of a fit output. /truth/W is drawn when the source file (source_override,
// else the group's source_file attribute, if readable) has it.
std::string render_subject_plot(const io::H5File& fit, const std::string& id,
                                const std::string& source_override, const PlotStyle& style);

}  // namespace effinfer::psytrack
