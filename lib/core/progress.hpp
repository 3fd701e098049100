// Progress for long loops: a bar redrawn in place when stderr is a terminal, otherwise an
// append-only line every 30 s (readable in Slurm logs). Thread-safe tick().
#pragma once

#include <atomic>
#include <mutex>
#include <string>

#include "core/log.hpp"

namespace effinfer {

enum class ProgressMode { kAuto, kAlways, kNever };

class Progress {
 public:
  Progress(const Logger& log, ProgressMode mode, std::string label, long total);
  ~Progress();
  void tick(long n = 1);
  void finish();

 private:
  void draw(bool final);
  const Logger& log_;
  bool enabled_ = false, tty_ = false;
  std::string label_;
  long total_;
  std::atomic<long> done_{0};
  double start_, last_draw_;
  std::mutex mutex_;
  bool finished_ = false;
};

}  // namespace effinfer
