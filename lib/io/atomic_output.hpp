// Atomic output: write to a temporary file in the destination's folder, then rename it into place,
// so a failed or interrupted run never leaves a half-written result (DESIGN.md).
#pragma once

#include <string>

namespace effinfer::io {

class AtomicOutput {
 public:
  // Checks up front: OutputError (73) when `path` exists and force is false, or its folder does
  // not exist. Does not create anything yet.
  AtomicOutput(std::string path, bool force);
  ~AtomicOutput();  // removes the temporary file unless committed
  AtomicOutput(const AtomicOutput&) = delete;
  AtomicOutput& operator=(const AtomicOutput&) = delete;

  const std::string& path() const { return path_; }
  // The temporary path to write to (registered for removal on SIGINT/SIGTERM).
  const std::string& temp_path() const { return temp_; }
  // Renames the temporary file onto path (WriteError 74 on failure).
  void commit();

 private:
  std::string path_, temp_;
  bool committed_ = false;
};

// OutputError (73) when path exists without force or its folder is missing.
void check_output_path(const std::string& path, bool force);

// Writes text atomically (used for SVG and other small files).
void write_text_atomic(const std::string& path, const std::string& text, bool force);

}  // namespace effinfer::io
