// Subcommands of quantize-climbq (spec 3.3). Built up milestone by milestone (issue 4):
// make-data, train (FP32), ptq, eval.
#pragma once

#include <string>

#include "core/tool.hpp"

namespace effinfer::climbq {

// Flags that mirror config keys (spec 3.3: "each flag is also a config key"); empty = not given.
struct CommandFlags {
  std::string source, rho, n_max, count_rule, class_order, val_per_class;
  std::string arch, loss, epochs, lr;        // train
  std::string model, split, reference;       // eval (model: also ptq)
  std::string method, bits, bits_w, bits_a;  // ptq
};

void run_make_data(RunContext& ctx, const CommandFlags& flags);
void run_train(RunContext& ctx, const CommandFlags& flags);
void run_eval(RunContext& ctx, const CommandFlags& flags);
void run_ptq(RunContext& ctx, const CommandFlags& flags);

}  // namespace effinfer::climbq
