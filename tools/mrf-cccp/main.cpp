// mrf-cccp: MAP inference in continuous MRFs with polynomial potentials by convex-concave
// decomposition and CCCP (Wang, Schwing & Urtasun, NIPS 2014).
#include "commands.hpp"

const char* mrf_cccp_default_config_yaml();

int main(int argc, char** argv) {
  using namespace effinfer;
  namespace mrf = effinfer::mrf;
  Tool tool("mrf-cccp",
            "Continuous MRF inference with polynomial potentials: SOS-convexity splits + CCCP, "
            "with L-BFGS, GD and ADMM baselines on the same energy",
            mrf_cccp_default_config_yaml());
  mrf::CommandFlags flags;

  auto* gen =
      tool.add_command("gen", "Generate a recon3d set, or an sfs / denoise model with its images",
                       "Examples:\n  mrf-cccp gen recon3d --seed 1 -o set.h5\n"
                       "  mrf-cccp gen sfs --set sfs.source=peaks -o peaks.h5\n"
                       "  mrf-cccp gen denoise --set 'denoise.crop=[192,192,128,128]' -o cam.h5",
                       [&](RunContext& ctx) { mrf::run_gen(ctx, flags); });
  gen->add_option("app", flags.app, "recon3d | sfs | denoise")
      ->required()
      ->check(CLI::IsMember({"recon3d", "sfs", "denoise"}));

  auto* import = tool.add_command(
      "import", "Convert the authors' recon3d text layout into a recon3d set",
      "Example:\n  mrf-cccp import --template-pts mesh_3x3.pts --template-tri mesh_3x3.tri \\\n"
      "    --camera cam.intr --camera-ext cam.ext --models synthetic3x3/model*.txt -o set.h5",
      [&](RunContext& ctx) { mrf::run_import(ctx, flags); });
  import->add_option("--template-pts", flags.template_pts, "Template vertices (V x 3, mm)")
      ->required();
  import->add_option("--template-tri", flags.template_tri, "Template triangles (0-based ids)")
      ->required();
  import->add_option("--camera", flags.camera, "Camera intrinsics K (cam.intr, 9 numbers)")
      ->required();
  import->add_option("--camera-ext", flags.camera_ext, "Camera extrinsics [R|t] (cam.ext)");
  import->add_option("--models", flags.models, "Instance files model{i}.txt (6V numbers each)")
      ->required();
  import->add_option("--source", flags.source, "Root attribute `source` of the set");

  auto* decompose =
      tool.add_command("decompose", "Split every factor family into convex + concave parts",
                       "Examples:\n  mrf-cccp decompose -i model.h5 -o split.h5 --verify\n"
                       "  mrf-cccp decompose -i model.yaml -o split.h5 --dump-sdpa sdp/",
                       [&](RunContext& ctx) { mrf::run_decompose(ctx, flags); });
  decompose->add_option("--dump-sdpa", flags.dump_sdpa,
                        "Write each SDP as SDPA sparse text <family>_<row>.dat-s into DIR");
  decompose->add_flag("--verify", flags.verify,
                      "Sampled Hessian certificates at 10^4 points (exit 1 on failure)");
  decompose->add_flag("--strict", flags.strict, "Exit 1 when any SDP fell back to the bound split");

  auto* infer = tool.add_command(
      "infer", "Minimise the energy with CCCP and the baselines; results, plot, images",
      "Examples:\n  mrf-cccp infer -i set.h5 -o res.h5 --methods cccp,lbfgs,gd,admm --plot e.svg\n"
      "  mrf-cccp infer -i cam.h5 -o res.h5 --png-prefix out/cam\n"
      "  mrf-cccp infer -i set.h5 --shard 0/4 -o part0.h5",
      [&](RunContext& ctx) { mrf::run_infer(ctx, flags); });
  infer->add_option("--decomposition", flags.decomposition, "A decompose output for this model");
  infer->add_option("--methods", flags.methods, "Methods to run (overrides config `methods`)")
      ->delimiter(',');
  infer->add_option("--plot", flags.plot, "SVG of energy against wall time for every method");
  infer->add_option("--png-prefix", flags.png_prefix,
                    "Image apps: write P-input.png, P-truth.png, P-<method>.png (sfs: also depth)");
  infer->add_flag("--strict", flags.strict,
                  "Exit 1 on any bound fallback, nonmonotone or max-iteration stop");

  tool.add_command("merge", "Concatenate shard results in instance order",
                   "Example:\n  mrf-cccp merge -i part0.h5 -i part1.h5 -o all.h5",
                   [&](RunContext& ctx) { mrf::run_merge(ctx, flags); });
  return tool.run(argc, argv);
}
