// Seeded random numbers. Every consumer asks for its own stream (seed, stream id), so results do
// not depend on how work is spread over threads or shards. xoshiro256** (Blackman & Vigna 2018)
// seeded through SplitMix64; normals by the Box-Muller transform. Never time-seeded.
#pragma once

#include <cmath>
#include <cstdint>
#include <string_view>

namespace effinfer {

// Id of a named stream (DESIGN: "seeds named RNG streams"): 64-bit FNV-1a of the name plus an
// index (e.g. a class or an epoch), so every consumer derives its stream from a readable name.
constexpr uint64_t named_stream(std::string_view name, uint64_t index = 0) {
  uint64_t h = 0xCBF29CE484222325ULL;
  for (char c : name) h = (h ^ static_cast<unsigned char>(c)) * 0x100000001B3ULL;
  return h + index;
}

class Rng {
 public:
  explicit Rng(uint64_t seed, uint64_t stream = 0) {
    uint64_t s = seed ^ (0x9E3779B97F4A7C15ULL * (stream + 1));
    for (auto& word : state_) word = splitmix64(s);
  }
  uint64_t next_u64() {
    const uint64_t result = rotl(state_[1] * 5, 7) * 9;
    const uint64_t t = state_[1] << 17;
    state_[2] ^= state_[0];
    state_[3] ^= state_[1];
    state_[1] ^= state_[2];
    state_[0] ^= state_[3];
    state_[2] ^= t;
    state_[3] = rotl(state_[3], 45);
    return result;
  }
  // Uniform on [0, 1) with 53 random bits.
  double uniform() { return static_cast<double>(next_u64() >> 11) * 0x1.0p-53; }
  // Uniform integer on [0, n) without modulo bias (Lemire's multiply-shift with rejection).
  uint64_t uniform_int(uint64_t n) {
    for (;;) {
      const unsigned __int128 m = static_cast<unsigned __int128>(next_u64()) * n;
      const uint64_t low = static_cast<uint64_t>(m);
      if (low >= (0 - n) % n) return static_cast<uint64_t>(m >> 64);
    }
  }
  // Standard normal (Box-Muller; the second value is kept for the next call).
  double normal() {
    if (has_spare_) {
      has_spare_ = false;
      return spare_;
    }
    double u1;
    do u1 = uniform();
    while (u1 <= 0.0);
    const double u2 = uniform();
    const double r = std::sqrt(-2.0 * std::log(u1));
    spare_ = r * std::sin(2.0 * M_PI * u2);
    has_spare_ = true;
    return r * std::cos(2.0 * M_PI * u2);
  }

 private:
  static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  static uint64_t splitmix64(uint64_t& x) {
    uint64_t z = (x += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }
  uint64_t state_[4];
  double spare_ = 0;
  bool has_spare_ = false;
};

}  // namespace effinfer
