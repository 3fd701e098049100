#include "core/log.hpp"

#include <cstdio>
#include <mutex>

namespace effinfer {
namespace {
std::mutex& stderr_mutex() {
  static std::mutex m;
  return m;
}
}  // namespace

void Logger::write(const char* level, const std::string& message) const {
  std::lock_guard<std::mutex> lock(stderr_mutex());
  std::fprintf(stderr, "%s: %s: %s\n", tool_.c_str(), level, message.c_str());
  std::fflush(stderr);
}

void Logger::error(const std::string& message) const { write("error", message); }
void Logger::warn(const std::string& message) const {
  if (verbosity_ >= Verbosity::kNormal) write("warning", message);
}
void Logger::info(const std::string& message) const {
  if (verbosity_ >= Verbosity::kNormal) write("info", message);
}
void Logger::debug(const std::string& message) const {
  if (verbosity_ >= Verbosity::kVerbose) write("debug", message);
}

}  // namespace effinfer
