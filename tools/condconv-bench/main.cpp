// condconv-bench: CondConv (Yang, Bender, Le, Ngiam, NeurIPS 2019) cost accounting, CPU kernels
// with their batch strategies against the mixture-of-experts form, and small trained CondConv
// nets. See man/man1/condconv-bench.1.
#include "commands.hpp"

const char* condconv_bench_default_config_yaml();

int main(int argc, char** argv) {
  effinfer::Tool tool("condconv-bench",
                      "CondConv: exact cost accounting, CPU kernels and batch strategies, small "
                      "trained CondConv networks",
                      condconv_bench_default_config_yaml());
  effinfer::condconv::register_count(tool);
  effinfer::condconv::register_layer(tool);
  effinfer::condconv::register_bench(tool);
  effinfer::condconv::register_train(tool);
  effinfer::condconv::register_plot(tool);
  return tool.run(argc, argv);
}
