#include "core/blas.hpp"

#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <vector>

extern "C" {
char* openblas_get_corename(void);
char* openblas_get_config(void);
void openblas_set_num_threads(int);
int openblas_get_num_threads(void);
}

namespace effinfer {
namespace {

constexpr const char* kGuard = "EFFINFER_BLAS_FIX_APPLIED";

BlasFixState& state() {
  static BlasFixState s;
  return s;
}

}  // namespace

std::string blas_core_name() {
  const char* name = openblas_get_corename();
  return name ? name : "unknown";
}

std::string blas_config() {
  const char* config = openblas_get_config();
  return config ? config : "unknown";
}

void set_blas_threads(int n) { openblas_set_num_threads(n); }
int blas_threads() { return openblas_get_num_threads(); }

const BlasFixState& blas_fix_state() { return state(); }

void apply_blas_kernel_fix(int argc, char** argv) {
  (void)argc;
  auto& s = state();
  if (const char* guard = std::getenv(kGuard)) {
    s.reexecuted = true;
    s.note = std::string("re-executed with OPENBLAS_CORETYPE=") + guard +
             " (OpenBLAS had picked Prescott)";
    return;
  }
  if (const char* fix = std::getenv("EFFINFER_BLAS_FIX"); fix && std::strcmp(fix, "0") == 0) {
    s.note = "kernel fix disabled (EFFINFER_BLAS_FIX=0)";
    return;
  }
  if (std::getenv("OPENBLAS_CORETYPE")) {
    s.note = "OPENBLAS_CORETYPE set by the environment";
    return;
  }
  if (blas_core_name() != "Prescott") {
    s.note = "OpenBLAS picked " + blas_core_name() + " itself";
    return;
  }
  __builtin_cpu_init();
  const char* core = nullptr;
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl")) {
    core = "SkylakeX";
  } else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
    core = "Haswell";
  }
  if (!core) {
    s.note = "OpenBLAS picked Prescott and the CPU lacks AVX2/FMA: kept";
    return;
  }
  setenv("OPENBLAS_CORETYPE", core, 0);
  setenv(kGuard, core, 1);
  execv("/proc/self/exe", argv);
  // execv failed (no /proc?): carry on with the slow kernels rather than fail.
  unsetenv("OPENBLAS_CORETYPE");
  unsetenv(kGuard);
  s.note = "re-execution failed; running with Prescott kernels";
}

}  // namespace effinfer
