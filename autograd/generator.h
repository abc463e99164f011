#pragma once
// An explicit, seeded random generator. tapegrad has no hidden global RNG: every factory or op that
// draws random numbers (uniform, normal, dropout, init) takes a Generator, so a run is reproducible
// from its seeds alone.
#include <cstdint>
#include <random>

namespace tapegrad {

class Generator {
 public:
  explicit Generator(std::uint64_t seed = 0) : engine_(seed) {}
  void seed(std::uint64_t seed) { engine_.seed(seed); }

  // Uniform in [low, high), computed from 24 random bits so the float result is exact and
  // identical on every platform (std::uniform_real_distribution is implementation-defined).
  float uniform(float low = 0.0f, float high = 1.0f) {
    const float unit = static_cast<float>(engine_() >> 40) * (1.0f / 16777216.0f);
    return low + (high - low) * unit;
  }
  // Standard normal by Box-Muller in double (portable, unlike std::normal_distribution).
  float normal(float mean = 0.0f, float stddev = 1.0f);
  std::uint64_t next_u64() { return engine_(); }

 private:
  std::mt19937_64 engine_;
};

}  // namespace tapegrad
