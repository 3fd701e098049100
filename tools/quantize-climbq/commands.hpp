// Subcommands of quantize-climbq (spec 3.3). Built up milestone by milestone (issue 4):
// make-data, train (FP32), ptq, qat, eval, compare.
#pragma once

#include <string>
#include <vector>

#include "core/tool.hpp"

namespace effinfer::climbq {

// Flags that mirror config keys (spec 3.3: "each flag is also a config key"); empty = not given.
struct CommandFlags {
  std::string source, rho, n_max, count_rule, class_order, val_per_class;
  std::string arch, loss, epochs, lr;             // train
  std::string model, split, reference;            // eval (model: also ptq)
  std::string method, bits, bits_w, bits_a;       // ptq, qat (also loss, epochs, lr)
  std::string methods, losses, bits_list, seeds;  // compare
  bool qat = false, int_path = false, strict = false;
  std::vector<std::string> merge;  // compare --merge
  std::string svg;                 // eval, compare: per-class accuracy picture
  bool verify = false;             // export
};

void run_make_data(RunContext& ctx, const CommandFlags& flags);
void run_train(RunContext& ctx, const CommandFlags& flags);
void run_eval(RunContext& ctx, const CommandFlags& flags);
void run_ptq(RunContext& ctx, const CommandFlags& flags);
void run_qat(RunContext& ctx, const CommandFlags& flags);
void run_compare(RunContext& ctx, const CommandFlags& flags);
void run_export(RunContext& ctx, const CommandFlags& flags);

}  // namespace effinfer::climbq
