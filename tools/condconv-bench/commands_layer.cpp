#include "commands.hpp"

namespace effinfer::condconv {

void register_layer(Tool& tool) { (void)tool; }

}  // namespace effinfer::condconv
