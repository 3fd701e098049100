#include "commands.hpp"

namespace effinfer::condconv {

void register_bench(Tool& tool) { (void)tool; }

}  // namespace effinfer::condconv
