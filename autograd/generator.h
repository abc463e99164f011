#pragma once
// An explicit, seeded random generator. tapegrad has no hidden global RNG: every factory or op that
// draws random numbers (uniform, normal, dropout, init) takes a Generator, so a run is reproducible
// from its seeds alone.
//
// Two streams:
//   Generator(seed)           tapegrad's own: a 64-bit Mersenne Twister, 24 bits per float.
//   Generator::torch(seed)    PyTorch's CPU stream after torch.manual_seed(seed): the 32-bit
//                             Mersenne Twister (std::mt19937 seeds it the same way), and uniform()
//                             maps each 32-bit draw as 1.13's uniform_ does (its low 24 bits, in
//                             double, from float bounds). A model whose layers draw their initial
//                             weights in the order PyTorch's constructors do (nn::Linear, RNN,
//                             LSTM, GRU: U(-1/sqrt(fan), 1/sqrt(fan)) with PyTorch's bounds)
//                             then starts from PyTorch's exact weights, as in a tutorial that
//                             calls torch.manual_seed. normal() (Embedding's init), next_u64()
//                             (shuffling) and dropout masks draw from the same engine but do not
//                             follow PyTorch's algorithms.
#include <cstdint>
#include <random>

namespace tapegrad {

class Generator {
 public:
  explicit Generator(std::uint64_t seed = 0) : engine_(seed) {}
  static Generator torch(std::uint64_t seed) {
    Generator generator(0);
    generator.torch_stream_ = true;
    generator.seed(seed);
    return generator;
  }
  void seed(std::uint64_t seed) {
    if (torch_stream_) {
      // torch.manual_seed keeps the low 32 bits for the CPU engine (mt19937's seed is 32-bit).
      torch_engine_.seed(static_cast<std::uint32_t>(seed));
    } else {
      engine_.seed(seed);
    }
  }
  bool is_torch_stream() const { return torch_stream_; }

  // Uniform in [low, high). Own stream: from 24 random bits so the float result is exact and
  // identical on every platform (std::uniform_real_distribution is implementation-defined).
  // PyTorch's stream: x = (draw & (2^24 - 1)) / 2^24 in double, then x * (high - low) + low with
  // the difference taken in float and the rest in double, rounded to float once.
  float uniform(float low = 0.0f, float high = 1.0f) {
    if (torch_stream_) {
      const double unit = static_cast<double>(torch_engine_() & 0xFFFFFFu) * (1.0 / 16777216.0);
      return static_cast<float>(unit * static_cast<double>(high - low) + static_cast<double>(low));
    }
    const float unit = static_cast<float>(engine_() >> 40) * (1.0f / 16777216.0f);
    return low + (high - low) * unit;
  }
  // Standard normal by Box-Muller in double (portable, unlike std::normal_distribution).
  float normal(float mean = 0.0f, float stddev = 1.0f);
  // A seed for a child generator (a dropout module's masks). On tapegrad's stream it is the next
  // draw. On PyTorch's it is derived from the state without advancing it: PyTorch's constructors
  // draw nothing for dropout, so a draw here would shift every later layer's initial weights.
  std::uint64_t child_seed() {
    if (torch_stream_) {
      std::mt19937 peek = torch_engine_;
      const std::uint64_t high = peek();
      return (high << 32 | peek()) ^ (0x9E3779B97F4A7C15ull * ++children_);
    }
    return engine_();
  }
  std::uint64_t next_u64() {
    if (torch_stream_) {
      const std::uint64_t high = torch_engine_();
      return high << 32 | torch_engine_();
    }
    return engine_();
  }

 private:
  std::mt19937_64 engine_;
  std::mt19937 torch_engine_;
  bool torch_stream_ = false;
  std::uint64_t children_ = 0;  // child seeds handed out on PyTorch's stream, to tell them apart
};

}  // namespace tapegrad
