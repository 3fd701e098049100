// quantize-climbq: class-imbalanced quantization (ClimbQ; Chen, Yang & Chen, NeurIPS 2022).
// Being built up milestone by milestone (issue 4); this release has make-data.
#include "commands.hpp"

const char* quantize_climbq_default_config_yaml();

int main(int argc, char** argv) {
  using namespace effinfer;
  namespace cq = effinfer::climbq;
  Tool tool("quantize-climbq",
            "Class-imbalanced quantization (ClimbQ) with uniform and LSQ baselines on long-tailed "
            "data",
            quantize_climbq_default_config_yaml());
  cq::CommandFlags flags;
  auto* make_data = tool.add_command(
      "make-data", "Build a long-tailed dataset (Fashion-MNIST-LT, digits, synth) as HDF5",
      "Examples:\n  quantize-climbq make-data --rho 100 -o fmnist_lt.h5\n"
      "  quantize-climbq make-data --source digits --count-rule iterative -o digits_lt.h5\n"
      "  quantize-climbq make-data --source synth --seed 3 -o synth.h5",
      [&](RunContext& ctx) { cq::run_make_data(ctx, flags); });
  make_data->add_option("--source", flags.source, "fashion-mnist | digits | synth (data.source)");
  make_data->add_option("--rho", flags.rho, "Imbalance ratio n_max / n_min (data.rho)");
  make_data->add_option("--n-max", flags.n_max, "Train images of the head class (data.n_max)");
  make_data->add_option("--count-rule", flags.count_rule, "closed | iterative (data.count_rule)");
  make_data->add_option("--class-order", flags.class_order,
                        "natural | reverse | shuffle (data.class_order)");
  make_data->add_option("--val-per-class", flags.val_per_class,
                        "Validation images per class (data.val_per_class)");
  return tool.run(argc, argv);
}
