// Registers the "swav" method. Torch-free so main.cpp stays light.
#pragma once
namespace swavbench {
void register_swav_methods();
}
