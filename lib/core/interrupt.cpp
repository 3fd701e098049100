#include "core/interrupt.hpp"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstring>

namespace effinfer {
namespace {

constexpr int kMaxTemps = 64;
constexpr int kMaxPath = 4096;
char g_temps[kMaxTemps][kMaxPath];
std::atomic<bool> g_used[kMaxTemps];
char g_tool[128] = "effinfer";

void on_signal(int sig) {
  for (int i = 0; i < kMaxTemps; ++i)
    if (g_used[i].load()) unlink(g_temps[i]);
  // Async-signal-safe message and a JSON line, then the conventional exit code.
  char line[512];
  const int code = 128 + sig;
  int n = 0;
  auto append = [&](const char* s) {
    while (*s && n < static_cast<int>(sizeof line) - 1) line[n++] = *s++;
  };
  char digits[8];
  int d = 0;
  for (int v = code; v > 0; v /= 10) digits[d++] = static_cast<char>('0' + v % 10);
  char code_text[8];
  for (int i = 0; i < d; ++i) code_text[i] = digits[d - 1 - i];
  code_text[d] = '\0';
  append(g_tool);
  append(": error: interrupted by signal; temporary output removed\n");
  (void)!write(STDERR_FILENO, line, static_cast<size_t>(n));
  n = 0;
  append("{\"tool\":\"");
  append(g_tool);
  append("\",\"status\":\"error\",\"exit_code\":");
  append(code_text);
  append(",\"error\":{\"kind\":\"interrupted\",\"message\":\"interrupted by signal\"}}\n");
  (void)!write(STDOUT_FILENO, line, static_cast<size_t>(n));
  _exit(code);
}

}  // namespace

void install_interrupt_handlers(const std::string& tool_name) {
  std::strncpy(g_tool, tool_name.c_str(), sizeof g_tool - 1);
  struct sigaction action;
  std::memset(&action, 0, sizeof action);
  action.sa_handler = on_signal;
  sigemptyset(&action.sa_mask);
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
  sigaction(SIGHUP, &action, nullptr);
}

void register_temp_file(const std::string& path) {
  if (path.size() >= kMaxPath) return;
  for (int i = 0; i < kMaxTemps; ++i) {
    if (!g_used[i].load()) {
      std::strcpy(g_temps[i], path.c_str());
      g_used[i].store(true);
      return;
    }
  }
}

void unregister_temp_file(const std::string& path) {
  for (int i = 0; i < kMaxTemps; ++i)
    if (g_used[i].load() && path == g_temps[i]) g_used[i].store(false);
}

}  // namespace effinfer
