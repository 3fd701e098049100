#include "core/progress.hpp"

#include <unistd.h>

#include <cstdio>

#include "core/system.hpp"

namespace effinfer {

namespace {
constexpr double kLinePeriodSeconds = 30.0;  // append-only lines (non-TTY)
constexpr double kBarPeriodSeconds = 0.2;    // redraws (TTY)
}  // namespace

Progress::Progress(const Logger& log, ProgressMode mode, std::string label, long total)
    : log_(log), label_(std::move(label)), total_(total) {
  tty_ = isatty(STDERR_FILENO);
  enabled_ = mode == ProgressMode::kAlways ||
             (mode == ProgressMode::kAuto && log.verbosity() != Verbosity::kQuiet);
  start_ = last_draw_ = wall_seconds();
}

Progress::~Progress() { finish(); }

void Progress::tick(long n) {
  done_ += n;
  if (!enabled_) return;
  const double now = wall_seconds();
  if (now - last_draw_ < (tty_ ? kBarPeriodSeconds : kLinePeriodSeconds)) return;
  std::lock_guard<std::mutex> lock(mutex_);
  if (now - last_draw_ < (tty_ ? kBarPeriodSeconds : kLinePeriodSeconds)) return;
  last_draw_ = now;
  draw(false);
}

void Progress::finish() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (finished_) return;
  finished_ = true;
  // Only close a bar that was drawn; non-TTY runs shorter than one period print nothing.
  if (enabled_ && tty_ && last_draw_ > start_) draw(true);
}

void Progress::draw(bool final) {
  const long done = done_.load();
  const double elapsed = wall_seconds() - start_;
  const double fraction = total_ > 0 ? static_cast<double>(done) / total_ : 0.0;
  if (tty_) {
    constexpr int kWidth = 30;
    const int filled = static_cast<int>(fraction * kWidth);
    std::fprintf(stderr, "\r%s: %s [%.*s%*s] %ld/%ld %.0fs%s", log_.tool().c_str(), label_.c_str(),
                 filled, "##############################", kWidth - filled, "", done, total_,
                 elapsed, final ? "\n" : "");
  } else {
    std::fprintf(stderr, "%s: progress: %s %ld/%ld (%.0f%%) after %.0f s\n", log_.tool().c_str(),
                 label_.c_str(), done, total_, 100.0 * fraction, elapsed);
  }
  std::fflush(stderr);
}

}  // namespace effinfer
