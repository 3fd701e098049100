// quantize-climbq: class-imbalanced quantization (ClimbQ; Chen, Yang & Chen, NeurIPS 2022).
// Subcommands: make-data, train, ptq, qat, eval, compare (integer export and bench follow).
#include "commands.hpp"
#include "commands_bench.hpp"

const char* quantize_climbq_default_config_yaml();

int main(int argc, char** argv) {
  using namespace effinfer;
  namespace cq = effinfer::climbq;
  Tool tool("quantize-climbq",
            "Class-imbalanced quantization (ClimbQ) with uniform and LSQ baselines on long-tailed "
            "data",
            quantize_climbq_default_config_yaml());
  cq::CommandFlags flags;
  cq::BenchFlags bench_flags;
  cq::InspectFlags inspect_flags;
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
  auto* train = tool.add_command(
      "train", "Train the FP32 network (mlp or cnn) and evaluate it on the test split",
      "Examples:\n  quantize-climbq train -i fmnist_lt.h5 -o fp32.h5\n"
      "  quantize-climbq train -i synth.h5 --epochs 5 --loss cb -o fp32.h5",
      [&](RunContext& ctx) { cq::run_train(ctx, flags); });
  train->add_option("--arch", flags.arch, "mlp | cnn (model.arch)");
  train->add_option("--loss", flags.loss, "ce | cb | homovar (train.loss)");
  train->add_option("--epochs", flags.epochs, "Training epochs (train.epochs)");
  train->add_option("--lr", flags.lr, "Initial learning rate (train.lr)");
  auto* ptq = tool.add_command(
      "ptq", "Post-training quantization of an FP32 model (ClimbQ with BN re-estimation, uniform)",
      "Examples:\n  quantize-climbq ptq -i fmnist_lt.h5 --model fp32.h5 --bits 2 -o "
      "climbq_w2a2.h5\n"
      "  quantize-climbq ptq -i fmnist_lt.h5 --model fp32.h5 --method uniform --bits 8 -o u8.h5",
      [&](RunContext& ctx) { cq::run_ptq(ctx, flags); });
  ptq->add_option("--model", flags.model, "The FP32 model (train output)");
  ptq->add_option("--method", flags.method, "climbq | climbq-noscale | uniform (ptq.method)");
  ptq->add_option("--bits", flags.bits, "Weight and activation bits (quant.bits_w, quant.bits_a)");
  ptq->add_option("--bits-w", flags.bits_w, "Weight bits (quant.bits_w)");
  ptq->add_option("--bits-a", flags.bits_a, "Activation bits (quant.bits_a)");
  auto* qat = tool.add_command(
      "qat",
      "Quantization-aware training from an FP32 model (climbq, climbq-noscale, uniform, lsq)",
      "Examples:\n  quantize-climbq qat -i fmnist_lt.h5 --model fp32.h5 --bits 2 -o "
      "climbq_qat_w2.h5\n"
      "  quantize-climbq qat -i fmnist_lt.h5 --model fp32.h5 --method lsq --loss ce --bits 4 -o "
      "lsq4.h5",
      [&](RunContext& ctx) { cq::run_qat(ctx, flags); });
  qat->add_option("--model", flags.model, "The FP32 model (train output)");
  qat->add_option("--method", flags.method, "climbq | climbq-noscale | uniform | lsq (qat.method)");
  qat->add_option("--loss", flags.loss, "homovar | cb | ce (qat.loss)");
  qat->add_option("--bits", flags.bits, "Weight and activation bits (quant.bits_w, quant.bits_a)");
  qat->add_option("--bits-w", flags.bits_w, "Weight bits (quant.bits_w)");
  qat->add_option("--bits-a", flags.bits_a, "Activation bits (quant.bits_a)");
  qat->add_option("--epochs", flags.epochs, "QAT epochs (qat.epochs)");
  qat->add_option("--lr", flags.lr, "Initial learning rate (qat.lr)");
  auto* compare = tool.add_command(
      "compare", "FP32 vs every quantizer x loss x bits (x seed) in one run; shards and --merge",
      "Examples:\n  quantize-climbq compare -i fmnist_lt.h5 --model fp32.h5 --bits 2,3,4,8 -o "
      "ptq.h5\n"
      "  quantize-climbq compare -i fmnist_lt.h5 --model fp32.h5 --qat --methods "
      "uniform,lsq,climbq --losses ce,homovar --bits 2,4 --seeds 0,1,2 --shard slurm -o "
      "part_${SLURM_ARRAY_TASK_ID}.h5\n"
      "  quantize-climbq compare --merge part_*.h5 -o table.h5 --svg per_class.svg",
      [&](RunContext& ctx) { cq::run_compare(ctx, flags); });
  compare->add_option("--model", flags.model, "The FP32 model (train output)");
  compare->add_option("--methods", flags.methods,
                      "Comma list of uniform, lsq, climbq, climbq-noscale (compare.methods)");
  compare->add_option("--losses", flags.losses, "Comma list of ce, cb, homovar (compare.losses)");
  compare->add_option("--bits", flags.bits_list, "Comma list of bit widths (compare.bits)");
  compare->add_option("--seeds", flags.seeds, "Comma list of seeds (compare.seeds)");
  compare->add_flag("--qat", flags.qat, "Add QAT runs per method x loss x bits x seed");
  compare->add_option("--merge", flags.merge, "Join shard outputs of one compare into one table")
      ->expected(1, -1);
  compare->add_option("--svg", flags.svg, "Write the per-class accuracy picture (SVG)");
  compare->add_flag("--int", flags.int_path,
                    "Export every quantized run and verify the integer path (compare.int)");
  compare->add_flag("--strict", flags.strict, "Exit 1 when an integer verification fails");
  auto* exp = tool.add_command(
      "export", "Export a quantized model to the integer (int8/int32) inference format",
      "Examples:\n  quantize-climbq export --model climbq_w4.h5 -i fmnist_lt.h5 --verify -o "
      "int4.h5\n"
      "  quantize-climbq eval -i fmnist_lt.h5 --model int4.h5 --reference fp32.h5",
      [&](RunContext& ctx) { cq::run_export(ctx, flags); });
  exp->add_option("--model", flags.model, "The quantized model (ptq or qat output)");
  exp->add_flag("--verify", flags.verify,
                "Exit 1 when the integer path disagrees with the fake-quantized model (needs -i)");
  auto* eval = tool.add_command(
      "eval", "Per-class, many/medium/few and worst-class accuracy of a model",
      "Examples:\n  quantize-climbq eval -i fmnist_lt.h5 --model q.h5 --reference fp32.h5\n"
      "  quantize-climbq eval -i fmnist_lt.h5 --model fp32.h5 --split val -o res.h5",
      [&](RunContext& ctx) { cq::run_eval(ctx, flags); });
  eval->add_option("--model", flags.model, "Model file (train, ptq, qat or export output)")
      ->required();
  eval->add_option("--split", flags.split, "test | val | train (default test)");
  eval->add_option("--reference", flags.reference, "FP32 model: report drops against it");
  eval->add_option("--svg", flags.svg, "Write the per-class accuracy picture (SVG)");
  auto* bench = tool.add_command(
      "bench",
      "Time the integer engine against float32 (BN folded, sgemm) and the fake-quant model (B1), "
      "or the quantizer kernels (B2)",
      "Examples:\n  OPENBLAS_CORETYPE=SkylakeX quantize-climbq bench --model climbq_w4.h5 -i "
      "fmnist_lt.h5 --batch 1,64,256 -o bench.h5\n"
      "  quantize-climbq bench --quantizers -t 1",
      [&](RunContext& ctx) { cq::run_bench(ctx, bench_flags); });
  bench->add_option("--model", bench_flags.model, "The quantized model (ptq or qat output)");
  bench->add_option("--batch", bench_flags.batch, "Batch size or comma list (bench.batch)");
  bench->add_option("--repeats", bench_flags.repeats, "Timed repeats (bench.repeats)");
  bench->add_option("--warmup", bench_flags.warmup, "Untimed warm-up runs (bench.warmup)");
  bench->add_flag("--quantizers", bench_flags.quantizers,
                  "B2: climbq erfc vs bucketize vs uniform on --elements floats");
  bench->add_option("--elements", bench_flags.elements, "Floats for --quantizers (10^7)");
  auto* inspect = tool.add_command(
      "inspect", "Per-layer report of a model: shapes, bits, codes used, MACs, BOPs and sizes",
      "Examples:\n  quantize-climbq inspect --model climbq_w4.h5\n"
      "  quantize-climbq inspect --model int4.h5 -o inspect.h5",
      [&](RunContext& ctx) { cq::run_inspect(ctx, inspect_flags); });
  inspect->add_option("--model", inspect_flags.model, "Model file (train, ptq, qat or export)")
      ->required();
  return tool.run(argc, argv);
}
