// SplitMix64 (Steele, Lea, Flood 2014): the one random stream for everything that must come
// out the same on every compiler and standard library (subsets, epoch orders, generated
// datasets), unlike std::shuffle and the <random> distributions.
#pragma once

#include <cstdint>

namespace swavbench {

class SplitMix64 {
 public:
  explicit SplitMix64(uint64_t state) : state_(state) {}
  uint64_t next() {
    uint64_t z = (state_ += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }
  // Uniform in [0, bound) by rejection, so no value is favoured by modulo bias.
  uint64_t below(uint64_t bound) {
    const uint64_t threshold = (0 - bound) % bound;
    for (;;) {
      const uint64_t r = next();
      if (r >= threshold) return r % bound;
    }
  }
  int below_int(int bound) { return static_cast<int>(below(static_cast<uint64_t>(bound))); }

 private:
  uint64_t state_;
};

// The seed of item `index` of stream `stream` (generated datasets: one stream per split). One
// mixing step per component, so neighbouring seeds, streams and items do not share draws.
inline uint64_t stream_seed(uint64_t seed, uint64_t stream, uint64_t index) {
  SplitMix64 a(seed ^ (stream * 0xD1B54A32D192ED03ULL));
  SplitMix64 b(a.next() ^ (index * 0x9E3779B97F4A7C15ULL));
  return b.next();
}

}  // namespace swavbench
