// Helpers shared by the unit tests: where the reference data beside the project lives, and a
// skip-with-message when it is absent (tests must pass without ../shared).
#pragma once

#include <doctest/doctest.h>

#include <filesystem>
#include <string>

namespace effinfer::test {

inline std::filesystem::path shared_dir() {
  if (const char* env = std::getenv("EFFINFER_SHARED_DIR")) return env;
  return EFFINFER_SHARED_DIR;
}

// Path of a file under ../shared, or empty (after printing why) when it is absent.
inline std::filesystem::path shared_file_or_skip(const std::string& relative) {
  const auto path = shared_dir() / relative;
  if (!std::filesystem::exists(path)) {
    MESSAGE("SKIPPED: reference file absent: " << path.string());
    return {};
  }
  return path;
}

}  // namespace effinfer::test
