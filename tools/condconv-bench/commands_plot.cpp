// `plot`: the SVG picture of a train or bench output.
#include "commands.hpp"
#include "core/error.hpp"
#include "io/atomic_output.hpp"
#include "plot.hpp"

namespace effinfer::condconv {

void register_plot(Tool& tool) {
  tool.add_command(
      "plot", "Draw a train output (accuracy vs MACs) or a bench output (latency vs experts)",
      "Examples:\n  condconv-bench plot -i train.h5 -o accuracy_vs_macs.svg\n"
      "  condconv-bench plot -i bench.h5 -o latency.svg",
      [](RunContext& ctx) {
        if (ctx.options.inputs.size() != 1) throw UsageError("plot: expected one -i results file");
        if (ctx.options.output.empty()) throw UsageError("plot: -o/--output (SVG) is required");
        io::check_output_path(ctx.options.output, ctx.options.force);
        const std::string svg = results_svg(io::H5File::open(ctx.options.inputs.front()));
        io::write_text_atomic(ctx.options.output, svg, ctx.options.force);
        ctx.output = ctx.options.output;
      });
}

}  // namespace effinfer::condconv
