// The Tool runner every executable's main() hands itself to: the common flags of DESIGN.md,
// config loading (defaults + -c + --set), thread and shard resolution, the OpenBLAS kernel fix,
// error-to-exit-code mapping, and the one JSON summary line printed last on stdout.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/json.hpp"
#include "core/log.hpp"
#include "core/progress.hpp"
#include "core/system.hpp"
#include "io/config.hpp"

namespace effinfer {

struct CommonOptions {
  std::string config_file;
  std::vector<std::string> set;
  std::vector<std::string> inputs;
  std::string output;
  bool force = false;
  int64_t seed = -1;  // -1 = not given on the command line
  int threads = 0;    // 0 = auto
  std::string shard;
  bool quiet = false, verbose = false;
  std::string progress = "auto";
  bool print_config = false;
};

// Everything a command handler needs, passed explicitly (no global state).
struct RunContext {
  std::string tool, cmd;
  CommonOptions options;
  io::Config config;
  Logger log;
  ProgressMode progress = ProgressMode::kAuto;
  int threads = 1;
  std::string threads_source;
  Shard shard;
  uint64_t seed = 0;  // config `seed` (after --seed) when the tool has one
  std::vector<std::string> argv;
  std::string started_utc;
  double started_wall = 0;

  // Filled by the handler.
  Json summary = Json::object();  // tool keys of the JSON line
  std::string status = "ok";      // ok | not_converged
  std::string output;             // path reported in the JSON line
  std::string check_failure;      // non-empty -> exit 1 (e.g. --strict), status kept

  double elapsed() const { return wall_seconds() - started_wall; }
};

using Handler = std::function<void(RunContext&)>;

class Tool {
 public:
  // default_config_yaml: the tool's configs/<tool>/default.yaml, embedded at build time.
  Tool(std::string name, std::string description, std::string default_config_yaml);
  ~Tool();

  // Adds a subcommand with the common flags; returns it for tool-specific flags.
  // footer: 2-3 examples shown by --help.
  CLI::App* add_command(const std::string& name, const std::string& description,
                        const std::string& footer, Handler handler);
  CLI::App& app() { return *app_; }

  int run(int argc, char** argv);

 private:
  struct Command {
    CLI::App* app;
    Handler handler;
    std::unique_ptr<CommonOptions> options;
  };
  int finish(RunContext& ctx, int exit_code, const std::string& kind, const std::string& message);

  std::string name_, default_config_;
  std::unique_ptr<CLI::App> app_;
  std::vector<Command> commands_;
};

// "tool version (commit, compiler, flags) BLAS: core, config" for --version.
std::string version_text(const std::string& tool);

}  // namespace effinfer
