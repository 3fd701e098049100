#include "commands.hpp"

namespace effinfer::condconv {

void register_count(Tool& tool) { (void)tool; }

}  // namespace effinfer::condconv
