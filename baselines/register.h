// Registers the baseline methods ("simclr", "moco"). Torch-free so main.cpp stays light.
#pragma once
namespace swavbench {
void register_baseline_methods();
}
