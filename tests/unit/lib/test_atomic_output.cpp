// Atomic output (lib/io/atomic_output.hpp): checks up front, writes to a temporary file in the
// destination folder, renames into place on commit, and leaves nothing behind otherwise.
#include <doctest/doctest.h>

#include "test_support.hpp"
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "core/error.hpp"
#include "core/interrupt.hpp"
#include "io/atomic_output.hpp"

namespace effinfer::io {
namespace {

namespace fs = std::filesystem;

using effinfer::test::TempDir;

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

using effinfer::test::error_message;
TEST_CASE("check_output_path") {
  TempDir dir;
  const std::string existing = dir.file("exists.txt");
  std::ofstream(existing) << "old";
  check_output_path(dir.file("new.txt"), false);
  check_output_path(existing, true);
  std::string m = error_message<OutputError>([&] { check_output_path(existing, false); });
  CHECK(m.find(existing) != std::string::npos);
  CHECK(m.find("--force") != std::string::npos);
  m = error_message<OutputError>([&] { check_output_path(dir.file("no/such/dir/x.h5"), true); });
  CHECK(m.find("no/such/dir") != std::string::npos);
  error_message<OutputError>([&] { check_output_path(dir.path().string(), true); });
  // A missing -o is a usage problem (64), not an output one.
  error_message<UsageError>([&] { check_output_path("", true); });
  CHECK(OutputError("x").exit_code() == 73);
}

TEST_CASE("AtomicOutput: commit moves the temporary file into place") {
  TempDir dir;
  const std::string path = dir.file("result.h5");
  {
    AtomicOutput out(path, false);
    CHECK(out.path() == path);
    CHECK(out.temp_path() != path);
    // Same folder, so the final rename cannot cross file systems.
    CHECK(fs::path(out.temp_path()).parent_path() == dir.path());
    CHECK(dir.entries() == 0);  // nothing created up front
    std::ofstream(out.temp_path()) << "payload";
    CHECK_FALSE(fs::exists(path));  // not visible before commit
    out.commit();
    CHECK_FALSE(fs::exists(out.temp_path()));
  }
  CHECK(read_file(path) == "payload");
  CHECK(dir.entries() == 1);
}

TEST_CASE("AtomicOutput: without commit nothing is left behind") {
  TempDir dir;
  const std::string path = dir.file("result.h5");
  std::string temp;
  {
    AtomicOutput out(path, false);
    temp = out.temp_path();
    std::ofstream(temp) << "half-written";
    REQUIRE(fs::exists(temp));
  }
  CHECK_FALSE(fs::exists(temp));
  CHECK_FALSE(fs::exists(path));
  CHECK(dir.entries() == 0);
}

TEST_CASE("AtomicOutput: an exception before commit keeps the old output") {
  TempDir dir;
  const std::string path = dir.file("result.txt");
  std::ofstream(path) << "old result";
  try {
    AtomicOutput out(path, true);
    std::ofstream(out.temp_path()) << "new but broken";
    throw NumericalError("fit diverged");
  } catch (const NumericalError&) {
  }
  CHECK(read_file(path) == "old result");
  CHECK(dir.entries() == 1);
}

TEST_CASE("AtomicOutput: existing output needs force; missing folder fails up front") {
  TempDir dir;
  const std::string path = dir.file("result.txt");
  std::ofstream(path) << "old";
  error_message<OutputError>([&] { AtomicOutput out(path, false); });
  {
    AtomicOutput out(path, true);
    std::ofstream(out.temp_path()) << "new";
    out.commit();
  }
  CHECK(read_file(path) == "new");
  error_message<OutputError>([&] { AtomicOutput out(dir.file("missing/result.txt"), true); });
}

TEST_CASE("AtomicOutput: commit without a temporary file is a WriteError") {
  TempDir dir;
  AtomicOutput out(dir.file("result.txt"), false);
  const std::string m = error_message<WriteError>([&] { out.commit(); });
  CHECK(m.find("result.txt") != std::string::npos);
  CHECK(WriteError("x").exit_code() == 74);
}

TEST_CASE("AtomicOutput: SIGTERM removes the temporary file and exits with 128 + 15") {
  TempDir dir;
  const std::string path = dir.file("result.h5");
  const pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    // Child: silence the handler's stderr line and JSON line, then die mid-write.
    const int null = open("/dev/null", O_WRONLY);
    dup2(null, STDOUT_FILENO);
    dup2(null, STDERR_FILENO);
    install_interrupt_handlers("unit_lib");
    AtomicOutput out(path, false);
    std::ofstream(out.temp_path()) << "half-written";
    raise(SIGTERM);
    _exit(0);  // not reached when the handler works
  }
  int status = 0;
  REQUIRE(waitpid(child, &status, 0) == child);
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 128 + SIGTERM);
  CHECK(dir.entries() == 0);
}

TEST_CASE("write_text_atomic") {
  TempDir dir;
  const std::string path = dir.file("plot.svg");
  const std::string text = std::string("<svg>\n") + std::string(100000, 'x') + "\n</svg>\n";
  write_text_atomic(path, text, false);
  CHECK(read_file(path) == text);
  error_message<OutputError>([&] { write_text_atomic(path, "other", false); });
  CHECK(read_file(path) == text);
  write_text_atomic(path, "other", true);
  CHECK(read_file(path) == "other");
  CHECK(dir.entries() == 1);
  error_message<OutputError>([&] { write_text_atomic(dir.file("none/x.svg"), "x", false); });
}

}  // namespace
}  // namespace effinfer::io
