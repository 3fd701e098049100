#include "io/provenance.hpp"

#include <cstdlib>

#include "core/blas.hpp"
#include "core/build_info.hpp"

namespace effinfer::io {

void write_provenance(H5File& file, const RunContext& ctx, const std::string& schema) {
  file.set_attribute("/", "effinfer_schema", schema);
  file.create_group("/provenance");
  const std::string p = "/provenance";
  const auto& b = build_info();
  file.set_attribute(p, "tool", ctx.tool);
  file.set_attribute(p, "cmd", ctx.cmd);
  file.set_attribute(p, "version", b.version);
  file.set_attribute(p, "git_commit", b.git_commit);
  file.set_attribute(p, "compiler", b.compiler);
  file.set_attribute(p, "cxx_flags", b.cxx_flags);
  file.set_attribute(p, "blas_core", blas_core_name());
  file.set_attribute(p, "blas_config", blas_config());
  file.set_attribute(p, "blas_fix", blas_fix_state().note);
  file.set_attribute(p, "argv", ctx.argv);
  file.set_attribute(p, "config_yaml", ctx.config.dump());
  file.set_attribute(p, "config_sha256", ctx.config.sha256());
  file.set_attribute(p, "seed", static_cast<int64_t>(ctx.seed));
  file.set_attribute(p, "threads", ctx.threads);
  file.set_attribute(p, "shard", ctx.shard.str());
  file.set_attribute(p, "started_utc", ctx.started_utc);
  file.set_attribute(p, "wall_s", ctx.elapsed());
  file.set_attribute(p, "hostname", hostname());
  for (const char* var : {"SLURM_JOB_ID", "SLURM_ARRAY_JOB_ID", "SLURM_ARRAY_TASK_ID"})
    if (const char* v = std::getenv(var)) file.set_attribute(p, var, std::string(v));
}

}  // namespace effinfer::io
