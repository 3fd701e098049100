// psytrack-fit: trial-by-trial psychophysical weights (PsyTrack, Roy et al. 2018/2021).
#include "commands.hpp"

const char* psytrack_fit_default_config_yaml();

int main(int argc, char** argv) {
  using namespace effinfer;
  namespace pt = effinfer::psytrack;
  Tool tool("psytrack-fit",
            "Fit time-varying psychophysical weights (PsyTrack) with evidence-optimised "
            "hyperparameters",
            psytrack_fit_default_config_yaml());
  pt::CommandFlags flags;
  auto strict = [&](CLI::App* cmd) {
    cmd->add_flag("--strict", flags.strict, "Exit 1 if a subject is not converged or failed");
    return cmd;
  };
  strict(tool.add_command(
      "fit", "MAP weights, evidence, hyperparameter optimisation, credible intervals",
      "Examples:\n  psytrack-fit fit -i rat.h5 -c configs/psytrack-fit/rat_tutorial.yaml -o fit.h5\n"
      "  psytrack-fit fit -i a.h5 -i b.h5 --shard 0/2 -o part0.h5\n"
      "  psytrack-fit fit -i sim.h5 --set optimizer.mode=exact -o fit.h5",
      [&](RunContext& ctx) { pt::run_fit(ctx, flags); }))
      ->add_flag("--keep-going", flags.keep_going,
                 "A subject failing numerically gets status error; the others go on");
  strict(tool.add_command(
      "xval", "F-fold cross-validated log-likelihood",
      "Examples:\n  psytrack-fit xval -i rat.h5 -c configs/psytrack-fit/rat_tutorial_xval.yaml -o xval.h5\n"
      "  psytrack-fit xval -i sim.h5 --set xval.fold_dataset=/xval/fold -o xval.h5",
      [&](RunContext& ctx) { pt::run_xval(ctx, flags); }));
  strict(tool.add_command(
      "evidence", "Exact log-evidence on a log2 grid of one shared hyperparameter",
      "Examples:\n  psytrack-fit evidence -i sim.h5 -o grid.h5\n"
      "  psytrack-fit evidence -i sim.h5 --set 'evidence.log2_grid=[-8,-6,-4]' -o grid.h5",
      [&](RunContext& ctx) { pt::run_evidence(ctx, flags); }));
  tool.add_command("simulate", "Simulate a learner (psytrack generateSim) into an input file",
                   "Examples:\n  psytrack-fit simulate --seed 1 -o sim.h5\n"
                   "  psytrack-fit simulate --set simulate.N=100000 --set simulate.K=3 -o big.h5",
                   [&](RunContext& ctx) { pt::run_simulate(ctx); });
  auto* plot = tool.add_command(
      "plot", "SVG of the weight trajectories with credible bands",
      "Examples:\n  psytrack-fit plot -i fit.h5 -o fit.svg\n"
      "  psytrack-fit plot -i fits.h5 -o plots/   (one SVG per subject)",
      [&](RunContext& ctx) { pt::run_plot(ctx, flags); });
  plot->add_option("--source", flags.source, "The fit's input file (default: source_file attribute)");
  plot->add_option("--subject", flags.subject, "Plot only this subject id");
  tool.add_command("merge", "Merge shard outputs into one file",
                   "Examples:\n  psytrack-fit merge -i part0.h5 -i part1.h5 -o all.h5",
                   [&](RunContext& ctx) { pt::run_merge(ctx); });
  return tool.run(argc, argv);
}
