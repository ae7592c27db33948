// Precompiled header for every translation unit that includes torch. Listed in CMakeLists.txt;
// never include it by hand.
#pragma once
#include <torch/torch.h>

#include <algorithm>
#include <map>
#include <memory>
#include <string>
#include <vector>
