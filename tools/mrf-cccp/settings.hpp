// The resolved configuration of one mrf-cccp run (spec 3.4): every key of
// configs/mrf-cccp/default.yaml read into the option structs of the library, with the ranges of
// spec 6 enforced (ConfigError, exit 78, naming the key and its origin).
#pragma once

#include <string>
#include <vector>

#include "admm.hpp"
#include "cccp.hpp"
#include "decompose.hpp"
#include "denoise.hpp"
#include "io/config.hpp"
#include "optimize.hpp"
#include "recon3d_gen.hpp"
#include "sfs.hpp"

namespace effinfer::mrf {

inline const std::vector<std::string> kMethodNames = {"cccp", "lbfgs", "gd", "admm"};

struct Settings {
  std::vector<std::string> methods;  // subset of kMethodNames, in the order given
  DecomposeOptions decompose;
  CccpOptions cccp;
  bool init_from_model = true;  // cccp.init.source: model (= /x0 when present) | value
  double init_value = 0;
  LbfgsOptions lbfgs;
  GdOptions gd;
  AdmmOptions admm;
  Recon3dGenOptions recon3d;
  SfsOptions sfs;
  DenoiseOptions denoise;
  int plot_instance = 0;
};

Settings read_settings(const io::Config& config);

}  // namespace effinfer::mrf
