#include "io/atomic_output.hpp"

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "core/error.hpp"
#include "core/interrupt.hpp"

namespace effinfer::io {

namespace fs = std::filesystem;

void check_output_path(const std::string& path, bool force) {
  if (path.empty()) throw UsageError("no output path given (use -o FILE)");
  std::error_code ec;
  const fs::path p(path);
  if (fs::exists(p, ec)) {
    if (fs::is_directory(p, ec))
      throw OutputError(path + ": output path is a directory, expected a file");
    if (!force) throw OutputError(path + ": output exists (use --force to overwrite)");
  }
  const fs::path dir = p.has_parent_path() ? p.parent_path() : fs::path(".");
  if (!fs::is_directory(dir, ec))
    throw OutputError(path + ": output folder '" + dir.string() + "' does not exist");
}

AtomicOutput::AtomicOutput(std::string path, bool force) : path_(std::move(path)) {
  check_output_path(path_, force);
  const fs::path p(path_);
  const fs::path dir = p.has_parent_path() ? p.parent_path() : fs::path(".");
  temp_ = (dir / ("." + p.filename().string() + ".tmp." + std::to_string(getpid()))).string();
  register_temp_file(temp_);
}

AtomicOutput::~AtomicOutput() {
  if (!committed_) std::remove(temp_.c_str());
  unregister_temp_file(temp_);
}

void AtomicOutput::commit() {
  if (std::rename(temp_.c_str(), path_.c_str()) != 0)
    throw WriteError(path_ + ": cannot move the finished output into place from " + temp_);
  committed_ = true;
}

void write_text_atomic(const std::string& path, const std::string& text, bool force) {
  AtomicOutput out(path, force);
  {
    std::ofstream file(out.temp_path(), std::ios::binary);
    if (!file) throw OutputError(out.temp_path() + ": cannot create file");
    file << text;
    file.flush();
    if (!file) throw WriteError(out.temp_path() + ": write failed (disk full?)");
  }
  out.commit();
}

}  // namespace effinfer::io
