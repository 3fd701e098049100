// Process-level facts: thread count resolution, timing, memory, host, Slurm shards.
#pragma once

#include <cstdint>
#include <string>
#include <utility>

namespace effinfer {

// Threads: the flag if > 0, else OMP_NUM_THREADS, else SLURM_CPUS_PER_TASK, else the number of
// CPUs in the affinity mask. Returns the value and where it came from.
std::pair<int, std::string> resolve_threads(int flag);

// Wall clock in seconds since an arbitrary origin (steady clock).
double wall_seconds();
// CPU time of the process (user + system), seconds.
double cpu_seconds();
// Peak resident set size of the process in MiB.
double peak_rss_mib();
std::string hostname();
std::string utc_now_iso8601();

// A contiguous block of work units for shard I of N: [floor(I*U/N), floor((I+1)*U/N)).
struct Shard {
  int index = 0;
  int count = 1;
  bool active() const { return count > 1; }
  std::pair<int64_t, int64_t> range(int64_t units) const {
    return {units * index / count, units * (index + 1) / count};
  }
  std::string str() const { return std::to_string(index) + "/" + std::to_string(count); }
};
// Parses "I/N" or "slurm" (SLURM_ARRAY_TASK_ID relative to SLURM_ARRAY_TASK_MIN, count from
// SLURM_ARRAY_TASK_COUNT or MAX - MIN + 1). UsageError (64) when malformed.
Shard parse_shard(const std::string& text);

}  // namespace effinfer
