// Each error class of lib/core/error.hpp maps to its sysexits code and stable kind
// (DESIGN.md "Exit codes"). Expected codes come from the system's <sysexits.h>.
#include <doctest/doctest.h>
#include <sysexits.h>

#include <stdexcept>
#include <string>

#include "core/error.hpp"

namespace effinfer {
namespace {

template <class E>
void check_error(int code, const char* kind) {
  CAPTURE(kind);
  const E error("what happened");
  CHECK(error.exit_code() == code);
  CHECK(static_cast<int>(error.code()) == code);
  CHECK(error.kind() == kind);
  CHECK(std::string(error.what()) == "what happened");
  // Catchable as the common base and as std::runtime_error (what the Tool runner relies on).
  try {
    throw E("via base");
  } catch (const Error& e) {
    CHECK(e.exit_code() == code);
    CHECK(std::string(e.what()) == "via base");
  }
  try {
    throw E("via std");
  } catch (const std::runtime_error& e) {
    CHECK(std::string(e.what()) == "via std");
  }
}

TEST_CASE("error classes map to their sysexits codes and kinds") {
  check_error<CheckFailed>(1, "check_failed");
  check_error<UsageError>(EX_USAGE, "usage");
  check_error<DataError>(EX_DATAERR, "data");
  check_error<InputError>(EX_NOINPUT, "input");
  check_error<NumericalError>(EX_SOFTWARE, "numerical");
  check_error<InternalError>(EX_SOFTWARE, "internal");
  check_error<OutputError>(EX_CANTCREAT, "output");
  check_error<WriteError>(EX_IOERR, "io");
  check_error<ConfigError>(EX_CONFIG, "config");
}

TEST_CASE("ExitCode values equal the sysexits constants") {
  CHECK(static_cast<int>(ExitCode::kOk) == EX_OK);
  CHECK(static_cast<int>(ExitCode::kCheckFailed) == 1);
  CHECK(static_cast<int>(ExitCode::kUsage) == EX_USAGE);
  CHECK(static_cast<int>(ExitCode::kDataError) == EX_DATAERR);
  CHECK(static_cast<int>(ExitCode::kNoInput) == EX_NOINPUT);
  CHECK(static_cast<int>(ExitCode::kSoftware) == EX_SOFTWARE);
  CHECK(static_cast<int>(ExitCode::kCannotCreate) == EX_CANTCREAT);
  CHECK(static_cast<int>(ExitCode::kIoError) == EX_IOERR);
  CHECK(static_cast<int>(ExitCode::kConfig) == EX_CONFIG);
}

}  // namespace
}  // namespace effinfer
