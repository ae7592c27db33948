// Linked into every unit test executable: registers the methods and protocols before main, as
// app/main.cpp does for the binary, so config resolution and the tables see the same registry.
#include "app/registry.h"

namespace {
const bool kBuiltinsRegistered = (swavbench::register_builtins(), true);
}  // namespace
