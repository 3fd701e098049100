// Facts fixed at build time (version, git commit, compiler and flags), for --version and
// /provenance.
#pragma once

#include <string>

namespace effinfer {

struct BuildInfo {
  const char* version;
  const char* git_commit;
  const char* compiler;
  const char* cxx_flags;
  const char* build_type;
};

const BuildInfo& build_info();

}  // namespace effinfer
