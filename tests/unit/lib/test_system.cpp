// Thread-count resolution and shard parsing (lib/core/system.hpp). Environment variables are set
// and unset with setenv/unsetenv; every test restores the variables it touched.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/error.hpp"
#include "core/system.hpp"

namespace effinfer {
namespace {

// Saves the given variables, unsets them, and restores the saved values on destruction.
class EnvGuard {
 public:
  explicit EnvGuard(std::vector<std::string> names) {
    for (auto& name : names) {
      const char* value = std::getenv(name.c_str());
      saved_.emplace_back(name, value ? std::optional<std::string>(value) : std::nullopt);
      unsetenv(name.c_str());
    }
  }
  ~EnvGuard() {
    for (const auto& [name, value] : saved_) {
      if (value) {
        setenv(name.c_str(), value->c_str(), 1);
      } else {
        unsetenv(name.c_str());
      }
    }
  }
  void set(const char* name, const char* value) { setenv(name, value, 1); }

 private:
  std::vector<std::pair<std::string, std::optional<std::string>>> saved_;
};

const std::vector<std::string> kThreadVars = {"OMP_NUM_THREADS", "SLURM_CPUS_PER_TASK",
                                              "OMP_THREAD_LIMIT"};
const std::vector<std::string> kSlurmVars = {"SLURM_ARRAY_TASK_ID", "SLURM_ARRAY_TASK_COUNT",
                                             "SLURM_ARRAY_TASK_MIN", "SLURM_ARRAY_TASK_MAX"};

// CPUs available to this process as counted by coreutils nproc (affinity mask; it also honours
// OMP_NUM_THREADS, which the caller has unset). 0 when nproc cannot be run.
int nproc_count() {
  FILE* pipe = popen("nproc 2>/dev/null", "r");
  if (!pipe) return 0;
  int n = 0;
  if (std::fscanf(pipe, "%d", &n) != 1) n = 0;
  pclose(pipe);
  return n;
}

void check_usage_error(const std::string& text) {
  CAPTURE(text);
  try {
    parse_shard(text);
    FAIL_CHECK("no UsageError for '" << text << "'");
  } catch (const UsageError& e) {
    CHECK(e.exit_code() == 64);
  }
}

TEST_CASE("resolve_threads: flag, OMP_NUM_THREADS, SLURM_CPUS_PER_TASK, affinity mask") {
  EnvGuard env(kThreadVars);
  SUBCASE("nothing set: the affinity mask") {
    const auto [n, source] = resolve_threads(0);
    CHECK(source == "affinity mask");
    CHECK(n >= 1);
    const int expected = nproc_count();
    if (expected > 0) {
      CHECK(n == expected);
    } else {
      MESSAGE("nproc unavailable; only checked n >= 1");
    }
  }
  SUBCASE("a positive flag wins over everything") {
    env.set("OMP_NUM_THREADS", "3");
    env.set("SLURM_CPUS_PER_TASK", "5");
    CHECK(resolve_threads(7) == std::make_pair(7, std::string("--threads")));
  }
  SUBCASE("OMP_NUM_THREADS before SLURM_CPUS_PER_TASK") {
    env.set("OMP_NUM_THREADS", "3");
    env.set("SLURM_CPUS_PER_TASK", "5");
    CHECK(resolve_threads(0) == std::make_pair(3, std::string("OMP_NUM_THREADS")));
  }
  SUBCASE("OMP_NUM_THREADS as a nested list uses its first level") {
    env.set("OMP_NUM_THREADS", "4,2");
    CHECK(resolve_threads(0) == std::make_pair(4, std::string("OMP_NUM_THREADS")));
  }
  SUBCASE("SLURM_CPUS_PER_TASK alone") {
    env.set("SLURM_CPUS_PER_TASK", "6");
    CHECK(resolve_threads(0) == std::make_pair(6, std::string("SLURM_CPUS_PER_TASK")));
  }
  SUBCASE("malformed or non-positive OMP_NUM_THREADS falls through to Slurm") {
    env.set("SLURM_CPUS_PER_TASK", "2");
    for (const char* bad : {"", "0", "-3", "abc", "3abc", "2.5"}) {
      CAPTURE(bad);
      env.set("OMP_NUM_THREADS", bad);
      CHECK(resolve_threads(0) == std::make_pair(2, std::string("SLURM_CPUS_PER_TASK")));
    }
  }
  SUBCASE("malformed SLURM_CPUS_PER_TASK falls through to the affinity mask") {
    env.set("SLURM_CPUS_PER_TASK", "x");
    CHECK(resolve_threads(0).second == "affinity mask");
    env.set("SLURM_CPUS_PER_TASK", "0");
    CHECK(resolve_threads(0).second == "affinity mask");
  }
  SUBCASE("a zero or negative flag means auto") {
    env.set("OMP_NUM_THREADS", "3");
    CHECK(resolve_threads(0).first == 3);
    CHECK(resolve_threads(-1).first == 3);
  }
}

TEST_CASE("parse_shard: I/N") {
  EnvGuard env(kSlurmVars);
  Shard s = parse_shard("0/1");
  CHECK(s.index == 0);
  CHECK(s.count == 1);
  CHECK_FALSE(s.active());
  s = parse_shard("2/5");
  CHECK(s.index == 2);
  CHECK(s.count == 5);
  CHECK(s.active());
  CHECK(s.str() == "2/5");
  s = parse_shard("99/100");
  CHECK(s.index == 99);
  CHECK(s.count == 100);
  CHECK(Shard{}.str() == "0/1");
  CHECK_FALSE(Shard{}.active());
}

TEST_CASE("parse_shard: malformed text is a UsageError") {
  EnvGuard env(kSlurmVars);
  for (const char* bad : {"", "3", "/", "1/", "/4", "a/b", "1/b", "4/4", "5/4", "-1/4", "0/0",
                          "0/-2", "1/2/3", "1.5/4", "1 /4", "1/4x", "SLURM"})
    check_usage_error(bad);
}

TEST_CASE("parse_shard: a count beyond int range is a UsageError") {
  // Regression: N used to be narrowed from long to int unchecked, so "0/4294967297" became shard
  // 0/1 (silently no sharding).
  EnvGuard env(kSlurmVars);
  check_usage_error("0/4294967297");
  check_usage_error("0/99999999999");
  check_usage_error("4294967296/4294967297");
  env.set("SLURM_ARRAY_TASK_ID", "0");
  env.set("SLURM_ARRAY_TASK_COUNT", "4294967297");
  check_usage_error("slurm");
}

TEST_CASE("parse_shard: slurm") {
  EnvGuard env(kSlurmVars);
  SUBCASE("index relative to SLURM_ARRAY_TASK_MIN, count from SLURM_ARRAY_TASK_COUNT") {
    env.set("SLURM_ARRAY_TASK_ID", "5");
    env.set("SLURM_ARRAY_TASK_MIN", "3");
    env.set("SLURM_ARRAY_TASK_MAX", "10");
    env.set("SLURM_ARRAY_TASK_COUNT", "8");
    const Shard s = parse_shard("slurm");
    CHECK(s.index == 2);
    CHECK(s.count == 8);
  }
  SUBCASE("count from MAX - MIN + 1 when COUNT is absent") {
    env.set("SLURM_ARRAY_TASK_ID", "1");
    env.set("SLURM_ARRAY_TASK_MIN", "1");
    env.set("SLURM_ARRAY_TASK_MAX", "4");
    const Shard s = parse_shard("slurm");
    CHECK(s.index == 0);
    CHECK(s.count == 4);
  }
  SUBCASE("COUNT without MIN: the id is the index") {
    env.set("SLURM_ARRAY_TASK_ID", "3");
    env.set("SLURM_ARRAY_TASK_COUNT", "4");
    const Shard s = parse_shard("slurm");
    CHECK(s.index == 3);
    CHECK(s.count == 4);
  }
  SUBCASE("not in a job array") { check_usage_error("slurm"); }
  SUBCASE("malformed task id") {
    env.set("SLURM_ARRAY_TASK_COUNT", "4");
    for (const char* bad : {"", "x", "1x", "1.0"}) {
      env.set("SLURM_ARRAY_TASK_ID", bad);
      check_usage_error("slurm");
    }
  }
  SUBCASE("no count and no min/max") {
    env.set("SLURM_ARRAY_TASK_ID", "0");
    check_usage_error("slurm");
    env.set("SLURM_ARRAY_TASK_COUNT", "many");
    check_usage_error("slurm");
    env.set("SLURM_ARRAY_TASK_MIN", "0");  // MAX still missing
    check_usage_error("slurm");
  }
  SUBCASE("index outside the array") {
    env.set("SLURM_ARRAY_TASK_ID", "4");
    env.set("SLURM_ARRAY_TASK_COUNT", "4");
    check_usage_error("slurm");
    env.set("SLURM_ARRAY_TASK_ID", "0");
    env.set("SLURM_ARRAY_TASK_MIN", "1");
    check_usage_error("slurm");
    env.set("SLURM_ARRAY_TASK_COUNT", "0");
    env.set("SLURM_ARRAY_TASK_ID", "1");
    check_usage_error("slurm");
  }
}

TEST_CASE("Shard::range covers every unit exactly once, in order, balanced") {
  for (int64_t units : {0, 1, 2, 7, 10, 999, 1000, 12345}) {
    for (int count : {1, 2, 3, 4, 7, 16, 64}) {
      CAPTURE(units);
      CAPTURE(count);
      std::vector<int> seen(static_cast<size_t>(units), 0);
      int64_t expected_begin = 0, smallest = units, largest = 0;
      for (int index = 0; index < count; ++index) {
        const auto [begin, end] = Shard{index, count}.range(units);
        REQUIRE(begin == expected_begin);  // contiguous and in shard order
        REQUIRE(end >= begin);
        for (int64_t u = begin; u < end; ++u) ++seen[static_cast<size_t>(u)];
        smallest = std::min(smallest, end - begin);
        largest = std::max(largest, end - begin);
        expected_begin = end;
      }
      CHECK(expected_begin == units);
      bool once = true;
      for (int c : seen) once = once && c == 1;
      CHECK(once);
      CHECK(largest - smallest <= 1);
    }
  }
  // Large unit counts do not overflow the product units * index.
  const int64_t big = int64_t{1} << 40;
  CHECK(Shard{3, 4}.range(big) == std::make_pair(3 * (big / 4), big));
}

TEST_CASE("process facts are sane") {
  const double w0 = wall_seconds(), c0 = cpu_seconds();
  volatile double sink = 0;
  for (int i = 0; i < 200000; ++i) sink = sink + std::sqrt(static_cast<double>(i));
  CHECK(wall_seconds() >= w0);
  CHECK(cpu_seconds() >= c0);
  CHECK(peak_rss_mib() > 1.0);
  CHECK_FALSE(hostname().empty());
  const std::string now = utc_now_iso8601();
  CAPTURE(now);
  CHECK(now.size() == 20);
  CHECK(now[4] == '-');
  CHECK(now[10] == 'T');
  CHECK(now.back() == 'Z');
}

}  // namespace
}  // namespace effinfer
