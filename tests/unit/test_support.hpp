// Helpers shared by the unit tests: where the reference data beside the project lives, and a
// skip-with-message when it is absent (tests must pass without ../shared).
#pragma once

#include <doctest/doctest.h>

#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
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

// Runs f and returns the message of the exception of type E it throws; a check fails when it
// throws nothing or another type.
template <class E, class F>
std::string error_message(F&& f) {
  try {
    f();
  } catch (const E& e) {
    return e.what();
  } catch (const std::exception& e) {
    FAIL_CHECK("wrong exception type: " << std::string(e.what()));
    return {};
  }
  FAIL_CHECK("nothing thrown");
  return {};
}

inline bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// A fresh folder under the system temporary directory, removed with everything in it.
class TempDir {
 public:
  explicit TempDir(const std::string& prefix = "effinfer_unit") {
    static std::atomic<int> counter{0};
    path_ = std::filesystem::temp_directory_path() /
            (prefix + "_" + std::to_string(getpid()) + "_" + std::to_string(counter++));
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string file(const std::string& name) const { return (path_ / name).string(); }
  // Writes a file in the folder and returns its path.
  std::string write(const std::string& name, const std::string& text) const {
    std::ofstream(path_ / name, std::ios::binary) << text;
    return file(name);
  }
  const std::filesystem::path& path() const { return path_; }
  // Number of entries in the folder (temporary files included).
  size_t entries() const {
    size_t n = 0;
    for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator(path_)) ++n;
    return n;
  }

 private:
  std::filesystem::path path_;
};

}  // namespace effinfer::test
