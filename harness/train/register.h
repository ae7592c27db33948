// Registration of the methods harness provides itself ("supervised", "random"). Torch-free so
// main.cpp stays light.
#pragma once
namespace swavbench {
void register_harness_methods();
}
