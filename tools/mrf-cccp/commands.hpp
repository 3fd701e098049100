// The subcommands of mrf-cccp (spec 3.2): gen, import, decompose, infer, merge. Each reads its
// inputs, runs the library and writes its outputs atomically, filling ctx.summary for the JSON
// line (spec 3.5).
#pragma once

#include <string>
#include <vector>

#include "core/tool.hpp"

namespace effinfer::mrf {

struct CommandFlags {
  bool strict = false;
  std::string app;  // gen: recon3d | sfs | denoise
  // import
  std::string template_pts, template_tri, camera, camera_ext, source;
  std::vector<std::string> models;
  // decompose
  std::string dump_sdpa;
  bool verify = false;
  // infer
  std::string decomposition, plot, png_prefix;
  std::vector<std::string> methods;  // overrides config `methods` when given
};

void run_gen(RunContext& ctx, const CommandFlags& flags);
void run_import(RunContext& ctx, const CommandFlags& flags);
void run_decompose(RunContext& ctx, const CommandFlags& flags);
void run_infer(RunContext& ctx, const CommandFlags& flags);
void run_merge(RunContext& ctx, const CommandFlags& flags);

}  // namespace effinfer::mrf
