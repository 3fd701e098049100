// Error types of effinfer and their process exit codes (sysexits, DESIGN.md "Exit codes").
// Library code throws these; the Tool runner turns them into the exit code, one stderr line and
// the JSON summary's error object {kind, message}.
#pragma once

#include <stdexcept>
#include <string>

namespace effinfer {

enum class ExitCode : int {
  kOk = 0,
  kCheckFailed = 1,   // a requested check failed (--strict, --verify, --expect-*)
  kUsage = 64,        // bad command line
  kDataError = 65,    // bad input data
  kNoInput = 66,      // input missing or unreadable
  kSoftware = 70,     // internal or numerical failure
  kCannotCreate = 73, // output exists without --force, no directory
  kIoError = 74,      // I/O error while writing
  kConfig = 78,       // bad configuration
};

class Error : public std::runtime_error {
 public:
  Error(ExitCode code, std::string kind, const std::string& message)
      : std::runtime_error(message), code_(code), kind_(std::move(kind)) {}
  ExitCode code() const { return code_; }
  int exit_code() const { return static_cast<int>(code_); }
  const std::string& kind() const { return kind_; }

 private:
  ExitCode code_;
  std::string kind_;
};

// One class per exit code; `kind` is the stable name reported in the JSON line.
struct CheckFailed : Error {
  explicit CheckFailed(const std::string& m) : Error(ExitCode::kCheckFailed, "check_failed", m) {}
};
struct UsageError : Error {
  explicit UsageError(const std::string& m) : Error(ExitCode::kUsage, "usage", m) {}
};
struct DataError : Error {
  explicit DataError(const std::string& m) : Error(ExitCode::kDataError, "data", m) {}
};
struct InputError : Error {
  explicit InputError(const std::string& m) : Error(ExitCode::kNoInput, "input", m) {}
};
struct NumericalError : Error {
  explicit NumericalError(const std::string& m) : Error(ExitCode::kSoftware, "numerical", m) {}
};
struct InternalError : Error {
  explicit InternalError(const std::string& m) : Error(ExitCode::kSoftware, "internal", m) {}
};
struct OutputError : Error {
  explicit OutputError(const std::string& m) : Error(ExitCode::kCannotCreate, "output", m) {}
};
struct WriteError : Error {
  explicit WriteError(const std::string& m) : Error(ExitCode::kIoError, "io", m) {}
};
struct ConfigError : Error {
  explicit ConfigError(const std::string& m) : Error(ExitCode::kConfig, "config", m) {}
};

}  // namespace effinfer
