// SIGINT/SIGTERM handling: temporary output files registered here are removed and the process
// exits with 128 + signal (DESIGN.md). The registry is the one piece of process-global state the
// project keeps, because a signal handler can reach nothing else.
#pragma once

#include <string>

namespace effinfer {

void install_interrupt_handlers(const std::string& tool_name);
void register_temp_file(const std::string& path);
void unregister_temp_file(const std::string& path);

}  // namespace effinfer
