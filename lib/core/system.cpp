#include "core/system.hpp"

#include <sched.h>
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <ctime>

#include "core/error.hpp"

namespace effinfer {
namespace {

// Positive integer from an environment variable, 0 if unset or malformed.
int env_positive_int(const char* name) {
  const char* value = std::getenv(name);
  if (!value || !*value) return 0;
  char* end = nullptr;
  long v = std::strtol(value, &end, 10);
  if (*end != '\0' && *end != ',') return 0;  // OMP_NUM_THREADS may be a list "4,2"
  return v > 0 && v < 100000 ? static_cast<int>(v) : 0;
}

bool parse_int(const std::string& s, long& out) {
  if (s.empty()) return false;
  char* end = nullptr;
  out = std::strtol(s.c_str(), &end, 10);
  return *end == '\0';
}

}  // namespace

std::pair<int, std::string> resolve_threads(int flag) {
  if (flag > 0) return {flag, "--threads"};
  if (int n = env_positive_int("OMP_NUM_THREADS")) return {n, "OMP_NUM_THREADS"};
  if (int n = env_positive_int("SLURM_CPUS_PER_TASK")) return {n, "SLURM_CPUS_PER_TASK"};
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0) return {CPU_COUNT(&set), "affinity mask"};
  return {1, "default"};
}

double wall_seconds() {
  using clock = std::chrono::steady_clock;
  return std::chrono::duration<double>(clock::now().time_since_epoch()).count();
}

double cpu_seconds() {
  struct rusage usage;
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_utime.tv_sec + usage.ru_stime.tv_sec +
         1e-6 * (usage.ru_utime.tv_usec + usage.ru_stime.tv_usec);
}

double peak_rss_mib() {
  struct rusage usage;
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_maxrss / 1024.0;  // Linux reports KiB
}

std::string hostname() {
  char buf[256] = {0};
  gethostname(buf, sizeof buf - 1);
  return buf;
}

std::string utc_now_iso8601() {
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

Shard parse_shard(const std::string& text) {
  Shard shard;
  if (text == "slurm") {
    const char* id = std::getenv("SLURM_ARRAY_TASK_ID");
    const char* count = std::getenv("SLURM_ARRAY_TASK_COUNT");
    const char* min = std::getenv("SLURM_ARRAY_TASK_MIN");
    const char* max = std::getenv("SLURM_ARRAY_TASK_MAX");
    long i = 0, n = 0, lo = 0, hi = 0;
    if (!id || !parse_int(id, i))
      throw UsageError("--shard slurm: SLURM_ARRAY_TASK_ID is not set (not in a Slurm job array)");
    if (min && parse_int(min, lo)) i -= lo;
    if (count && parse_int(count, n)) {
    } else if (min && max && parse_int(min, lo) && parse_int(max, hi)) {
      n = hi - lo + 1;
    } else {
      throw UsageError(
          "--shard slurm: neither SLURM_ARRAY_TASK_COUNT nor SLURM_ARRAY_TASK_MIN/MAX is set");
    }
    if (i < 0 || i >= n || n > 1000000)
      throw UsageError("--shard slurm: task index " + std::to_string(i) + " outside 0.." +
                       std::to_string(n - 1));
    shard.index = static_cast<int>(i);
    shard.count = static_cast<int>(n);
    return shard;
  }
  const auto slash = text.find('/');
  long i = 0, n = 0;
  if (slash == std::string::npos || !parse_int(text.substr(0, slash), i) ||
      !parse_int(text.substr(slash + 1), n))
    throw UsageError("--shard: expected I/N (e.g. 0/4) or 'slurm', found '" + text + "'");
  if (n < 1 || i < 0 || i >= n || n > 1000000)
    throw UsageError("--shard " + text + ": expected 0 <= I < N and 1 <= N <= 1000000");
  shard.index = static_cast<int>(i);
  shard.count = static_cast<int>(n);
  return shard;
}

}  // namespace effinfer
