// Logging to stderr as "<tool>: <level>: <message>" (DESIGN.md). Quiet shows errors only,
// verbose adds debug lines.
#pragma once

#include <string>

namespace effinfer {

enum class Verbosity { kQuiet = 0, kNormal = 1, kVerbose = 2 };

class Logger {
 public:
  explicit Logger(std::string tool = "effinfer", Verbosity verbosity = Verbosity::kNormal)
      : tool_(std::move(tool)), verbosity_(verbosity) {}
  void set_verbosity(Verbosity v) { verbosity_ = v; }
  Verbosity verbosity() const { return verbosity_; }
  const std::string& tool() const { return tool_; }

  void error(const std::string& message) const;
  void warn(const std::string& message) const;
  void info(const std::string& message) const;
  void debug(const std::string& message) const;

 private:
  void write(const char* level, const std::string& message) const;
  std::string tool_;
  Verbosity verbosity_;
};

}  // namespace effinfer
