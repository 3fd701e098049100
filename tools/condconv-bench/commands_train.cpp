#include "commands.hpp"

namespace effinfer::condconv {

void register_train(Tool& tool) { (void)tool; }

}  // namespace effinfer::condconv
