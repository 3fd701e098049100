#include "core/tool.hpp"

#include <omp.h>

#include <cstdio>
#include <iostream>

#include "core/blas.hpp"
#include "core/build_info.hpp"
#include "core/error.hpp"
#include "core/interrupt.hpp"

namespace effinfer {

std::string version_text(const std::string& tool) {
  const auto& b = build_info();
  std::string text = tool + " (effinfer) " + b.version + "\n";
  text += std::string("commit ") + b.git_commit + ", " + b.build_type + " build, " + b.compiler +
          ", flags:" + b.cxx_flags + "\n";
  text += "BLAS: OpenBLAS core " + blas_core_name() + " (" + blas_fix_state().note + "); " +
          blas_config() + "\n";
  return text;
}

Tool::Tool(std::string name, std::string description, std::string default_config_yaml)
    : name_(std::move(name)),
      default_config_(std::move(default_config_yaml)),
      app_(std::make_unique<CLI::App>(std::move(description), name_)) {
  app_->require_subcommand(1);
  app_->set_version_flag("--version", [this] { return version_text(name_); },
                         "Print version, build and BLAS information and exit");
  app_->failure_message(CLI::FailureMessage::help);
}

Tool::~Tool() = default;

CLI::App* Tool::add_command(const std::string& name, const std::string& description,
                            const std::string& footer, Handler handler) {
  CLI::App* cmd = app_->add_subcommand(name, description);
  auto options = std::make_unique<CommonOptions>();
  CommonOptions& o = *options;
  cmd->footer(footer);
  cmd->add_option("-c,--config", o.config_file, "YAML config over the defaults ('-' = stdin)");
  cmd->add_option("--set", o.set, "Override one config key: key.path=value (repeatable)")
      ->take_all()
      ->allow_extra_args(false);
  cmd->add_option("-i,--input", o.inputs, "Input file (repeatable)");
  cmd->add_option("-o,--output", o.output, "Output file");
  cmd->add_flag("--force", o.force, "Overwrite an existing output");
  cmd->add_option("--seed", o.seed, "Random seed (sets config key `seed`)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("-t,--threads", o.threads,
                  "Threads (0 = OMP_NUM_THREADS, SLURM_CPUS_PER_TASK, then the affinity mask)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--shard", o.shard, "Run contiguous block I of N of the work units: I/N or slurm");
  cmd->add_flag("-q,--quiet", o.quiet, "Only errors on stderr");
  cmd->add_flag("-v,--verbose", o.verbose, "Debug messages on stderr");
  cmd->add_option("--progress", o.progress, "Progress display: auto, always or never")
      ->check(CLI::IsMember({"auto", "always", "never"}));
  cmd->add_flag("--print-config", o.print_config, "Print the resolved configuration and exit");
  commands_.push_back({cmd, std::move(handler), std::move(options)});
  return cmd;
}

int Tool::finish(RunContext& ctx, int exit_code, const std::string& kind,
                 const std::string& message) {
  Json out = Json::object();
  out.set("tool", name_);
  out.set("cmd", ctx.cmd.empty() ? Json(nullptr) : Json(ctx.cmd));
  out.set("status", exit_code == 0 || !ctx.check_failure.empty() ? ctx.status : "error");
  out.set("exit_code", exit_code);
  out.set("output", ctx.output.empty() ? Json(nullptr) : Json(ctx.output));
  out.set("seed", static_cast<long long>(ctx.seed));
  out.set("threads", ctx.threads);
  out.set("wall_s", ctx.started_wall > 0 ? ctx.elapsed() : 0.0);
  out.update(ctx.summary);  // the tool's keys follow the common ones
  if (!kind.empty()) {
    Json error = Json::object();
    error.set("kind", kind);
    error.set("message", message);
    out.set("error", error);
  }
  std::fflush(stderr);
  std::printf("%s\n", out.dump().c_str());
  std::fflush(stdout);
  return exit_code;
}

int Tool::run(int argc, char** argv) {
  apply_blas_kernel_fix(argc, argv);
  install_interrupt_handlers(name_);
  RunContext ctx;
  ctx.tool = name_;
  ctx.log = Logger(name_);
  ctx.started_wall = wall_seconds();
  ctx.started_utc = utc_now_iso8601();
  for (int i = 0; i < argc; ++i) ctx.argv.emplace_back(argv[i]);

  // 1. Command line. CLI11's own exit codes never reach the user: help/version exit 0, every
  // other parse problem is a usage error (64) with the JSON line.
  try {
    app_->parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    const CLI::App* target = app_.get();
    for (const auto& c : commands_)
      if (c.app->parsed()) target = c.app;
    std::cout << target->help();
    return 0;
  } catch (const CLI::CallForAllHelp&) {
    std::cout << app_->help("", CLI::AppFormatMode::All);
    return 0;
  } catch (const CLI::CallForVersion&) {
    std::cout << version_text(name_);
    return 0;
  } catch (const CLI::ParseError& e) {
    // A subcommand's --help arrives here as CallForHelp thrown from the subcommand.
    for (const auto& c : commands_) {
      if (c.app->parsed()) ctx.cmd = c.app->get_name();
    }
    ctx.log.error(std::string(e.what()) + " (see " + name_ + " --help)");
    return finish(ctx, static_cast<int>(ExitCode::kUsage), "usage", e.what());
  }

  Command* command = nullptr;
  for (auto& c : commands_)
    if (c.app->parsed()) command = &c;
  if (!command) {
    ctx.log.error("no command given (see " + name_ + " --help)");
    return finish(ctx, static_cast<int>(ExitCode::kUsage), "usage", "no command given");
  }
  ctx.cmd = command->app->get_name();
  ctx.options = *command->options;
  auto& o = ctx.options;
  ctx.log.set_verbosity(o.quiet ? Verbosity::kQuiet
                                : (o.verbose ? Verbosity::kVerbose : Verbosity::kNormal));
  ctx.progress = o.progress == "always" ? ProgressMode::kAlways
                 : o.progress == "never" ? ProgressMode::kNever
                                         : ProgressMode::kAuto;

  try {
    // 2. Configuration: defaults, then -c, then --set, then --seed.
    ctx.config = io::Config::from_defaults(default_config_);
    if (!o.config_file.empty()) ctx.config.merge_file(o.config_file);
    for (const auto& s : o.set) ctx.config.set(s);
    if (o.seed >= 0 && ctx.config.has("seed")) ctx.config.set("seed=" + std::to_string(o.seed));
    if (ctx.config.has("seed")) {
      const int64_t seed = ctx.config.get_int("seed");
      if (seed < 0) ctx.config.fail("seed", "expected a non-negative integer");
      ctx.seed = static_cast<uint64_t>(seed);
    } else if (o.seed >= 0) {
      ctx.seed = static_cast<uint64_t>(o.seed);
    }
    if (o.print_config) {
      std::cout << ctx.config.dump();
      return 0;
    }

    // 3. Threads, shard, BLAS threads (the tool's own OpenMP loops get `threads`; BLAS calls
    // inside parallel regions must run single-threaded, so BLAS gets 1 unless a tool raises it).
    auto [threads, source] = resolve_threads(o.threads);
    ctx.threads = threads;
    ctx.threads_source = source;
    omp_set_num_threads(threads);
    set_blas_threads(1);
    if (!o.shard.empty()) ctx.shard = parse_shard(o.shard);
    ctx.log.debug("threads " + std::to_string(threads) + " (" + source + "); BLAS core " +
                  blas_core_name() + " (" + blas_fix_state().note + ")");

    // 4. The command.
    command->handler(ctx);
  } catch (const Error& e) {
    ctx.log.error(e.what());
    return finish(ctx, e.exit_code(), e.kind(), e.what());
  } catch (const CLI::Error& e) {
    ctx.log.error(e.what());
    return finish(ctx, static_cast<int>(ExitCode::kUsage), "usage", e.what());
  } catch (const std::bad_alloc&) {
    ctx.log.error("out of memory");
    return finish(ctx, static_cast<int>(ExitCode::kSoftware), "internal", "out of memory");
  } catch (const std::exception& e) {
    ctx.log.error(std::string("internal error: ") + e.what());
    return finish(ctx, static_cast<int>(ExitCode::kSoftware), "internal", e.what());
  }
  if (!ctx.check_failure.empty()) {
    ctx.log.error(ctx.check_failure);
    return finish(ctx, static_cast<int>(ExitCode::kCheckFailed), "check_failed", ctx.check_failure);
  }
  return finish(ctx, 0, "", "");
}

}  // namespace effinfer
