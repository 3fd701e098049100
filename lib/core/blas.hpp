// OpenBLAS facts and the kernel fix of DESIGN.md "Performance": Debian's OpenBLAS 0.3.21 does not
// recognise recent Xeons and falls back to its SSE3 "Prescott" kernels (about 6x slower). The
// kernel is picked when the library loads, so the fix re-executes the process once with
// OPENBLAS_CORETYPE set. A value the user or the machine set is never touched;
// EFFINFER_BLAS_FIX=0 turns the fix off.
#pragma once

#include <string>

namespace effinfer {

std::string blas_core_name();  // openblas_get_corename(), e.g. "SkylakeX"
std::string blas_config();     // openblas_get_config()
void set_blas_threads(int n);
int blas_threads();

// What the fix decided, for --version, -v and /provenance.
struct BlasFixState {
  bool reexecuted = false;  // this process is the re-executed one
  std::string note;         // human-readable reason
};
const BlasFixState& blas_fix_state();

// Call first thing in main. May not return (execv) when the fix applies.
void apply_blas_kernel_fix(int argc, char** argv);

}  // namespace effinfer
