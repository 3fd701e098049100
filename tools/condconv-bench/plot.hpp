// Pictures of condconv-bench results (`plot`): test accuracy against MACs for a `train` output
// (one line per variant, experts along it, the seed spread as a band) and CondConv's latency
// relative to the static layer against the number of experts for a `bench` output (one panel per
// batch size, one line per strategy, the median over the layers of the suite).
#pragma once

#include <string>

#include "io/hdf5.hpp"

namespace effinfer::condconv {

// DataError (65) naming file:path when the file has neither /results/summary (train) nor
// /results/cases (bench), or their columns are missing or of different lengths.
std::string results_svg(const io::H5File& file);

}  // namespace effinfer::condconv
