// The one list of what this build contains: every library's methods (MethodSpec + factory) and
// evaluation protocols. main() calls it before anything reads a config; so do the unit tests
// (tests/unit/registered_builtins.cpp), so they see the registry the binary sees.
#pragma once

namespace swavbench {

void register_builtins();

}  // namespace swavbench
