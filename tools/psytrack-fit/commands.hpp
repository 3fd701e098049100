// psytrack-fit's subcommands (spec 3.1): each reads its inputs, runs the method of this folder and
// writes one HDF5 (or SVG) output atomically; the JSON summary keys go into ctx.summary.
#pragma once

#include "core/tool.hpp"

namespace effinfer::psytrack {

struct CommandFlags {
  bool strict = false;      // exit 1 when a subject is not converged or failed
  bool keep_going = false;  // a subject failing numerically gets status "error", the run goes on
  std::string source;       // plot: the fit's input file (default: its source_file attribute)
  std::string subject;      // plot: one subject id
};

void run_fit(RunContext& ctx, const CommandFlags& flags);
void run_xval(RunContext& ctx, const CommandFlags& flags);
void run_evidence(RunContext& ctx, const CommandFlags& flags);
void run_simulate(RunContext& ctx);
void run_plot(RunContext& ctx, const CommandFlags& flags);
void run_merge(RunContext& ctx);

}  // namespace effinfer::psytrack
