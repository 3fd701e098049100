// Figures of `mrf-cccp infer` (spec 3.2): the SVG of energy against wall time for every method
// (plus, for sets, the per-instance final-energy scatter cccp vs lbfgs), and the PNG images of
// the image applications.
#pragma once

#include <string>
#include <vector>

#include "model.hpp"
#include "results.hpp"

namespace effinfer::mrf {

// Panel 1: exact E against wall time of instance `instance` (clamped to the runs), one polyline
// per method, log10-log10 when every energy is positive. Panel 2 (sets with cccp and lbfgs):
// final E per instance, cccp against lbfgs, with the diagonal.
std::string energy_plot_svg(const std::vector<std::string>& methods,
                            const std::vector<InstanceRun>& runs, int instance);

// The PNG files --png-prefix P writes for an image model: P-input.png, P-truth.png,
// P-<method>.png and, for sfs, P-truth-depth.png and P-<method>-depth.png.
std::vector<std::string> png_paths(const std::string& prefix, const Model& model,
                                   const std::vector<std::string>& methods);
// Writes them (8-bit gray, clipped to [0,1]); returns the paths written.
std::vector<std::string> write_pngs(const std::string& prefix, const Model& model,
                                    const std::vector<std::string>& methods, const InstanceRun& run,
                                    bool force);

}  // namespace effinfer::mrf
