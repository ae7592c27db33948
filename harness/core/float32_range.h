// Whether an option's value fits float32, the arithmetic every floating-point option reaches
// (learning rates, scales and temperatures become float32 tensors or scalars). Torch-free; used
// by the config keys (core/config) and the protocols' options (train/protocol_options).
#pragma once

#include <string>

namespace swavbench {

// Finite, and 0 or a magnitude in [FLT_MIN, FLT_MAX]: a larger one overflows to infinity mid-run
// ("value cannot be converted to type float without overflow"), a smaller one is flushed to 0
// or loses its precision. Such a value is bad input, refused when the options resolve.
bool representable_as_float32(double value);

// "0 or a magnitude in [1.1754944e-38, 3.4028235e+38]", for the messages of that check.
std::string float32_range_text();

}  // namespace swavbench
