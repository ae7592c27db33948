// Registers every evaluation protocol of evals/. Torch-free so main.cpp stays light.
#pragma once
namespace swavbench {
void register_evals();
}
