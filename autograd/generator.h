#pragma once
// An explicit, seeded random generator. tapegrad has no hidden global RNG: every factory or op that
// draws random numbers (uniform, normal, dropout, init) takes a Generator, so a run is reproducible
// from its seeds alone.
//
// Two streams:
//   Generator(seed)           tapegrad's own: a 64-bit Mersenne Twister, 24 bits per float.
//   Generator::torch(seed)    PyTorch's CPU stream after torch.manual_seed(seed): the 32-bit
//                             Mersenne Twister (std::mt19937 seeds it the same way, from the low
//                             32 bits of the seed), and uniform() maps each 32-bit draw as 1.13's
//                             uniform_ does (see uniform()). A model whose layers draw their
//                             initial weights in the order PyTorch's constructors do (nn::Linear,
//                             RNN, LSTM, GRU and their cells, all uniform with PyTorch's bounds)
//                             then starts from PyTorch's exact weights, as in a tutorial that
//                             calls torch.manual_seed. Only uniform draws follow PyTorch: normal()
//                             (Embedding, normal_, xavier_normal_, kaiming_normal_, orthogonal_),
//                             next_u64() (shuffling) and dropout masks use the same engine with
//                             other algorithms and other draw counts, so every uniform draw after
//                             one of them differs from PyTorch's.
#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <variant>

namespace tapegrad {

class Generator {
 public:
  explicit Generator(std::uint64_t seed = 0) : engine_(std::mt19937_64(seed)) {}
  static Generator torch(std::uint64_t seed) {
    Generator generator(0);
    generator.engine_ = TorchEngine();
    generator.seed(seed);
    return generator;
  }
  void seed(std::uint64_t seed) {
    children_ = 0;
    if (auto* torch_engine = std::get_if<TorchEngine>(&engine_)) {
      // torch.manual_seed keeps the low 32 bits for the CPU engine (mt19937's seed is 32-bit).
      torch_engine->seed(static_cast<std::uint32_t>(seed));
    } else {
      std::get<std::mt19937_64>(engine_).seed(seed);
    }
  }
  bool is_torch_stream() const { return std::holds_alternative<TorchEngine>(engine_); }

  // The generator's whole state as text: its stream, the child-seed count and the engine's state
  // in the standard library's text form (the same on every machine built with the same one).
  // load_state() of it makes a generator continue exactly where this one stands, as
  // torch.Generator's get_state/set_state do, so a resumed training run draws the same dropout
  // masks and shuffles as an uninterrupted one.
  std::string state() const;
  // Throws ValueError naming what is wrong (unknown stream, truncated or malformed engine state)
  // and leaves the generator unchanged. A state of the other stream is accepted: the generator
  // takes that stream, as it would by copy-assignment.
  void load_state(const std::string& state);

  // Uniform in [low, high). Own stream: from 24 random bits so the float result is exact and
  // identical on every platform (std::uniform_real_distribution is implementation-defined).
  // PyTorch's stream: x = (draw & (2^24 - 1)) / 2^24, then fma(x, high - low, low) in float, as
  // PyTorch's vectorised CPU builds (AVX2, AVX-512) compute uniform_; its plain build rounds the
  // product first and differs by an ulp in about a third of the draws.
  float uniform(float low = 0.0f, float high = 1.0f) {
    if (auto* torch_engine = std::get_if<TorchEngine>(&engine_)) {
      const float unit = static_cast<float>((*torch_engine)() & 0xFFFFFFu) * (1.0f / 16777216.0f);
      return std::fma(unit, high - low, low);
    }
    const float unit =
        static_cast<float>(std::get<std::mt19937_64>(engine_)() >> 40) * (1.0f / 16777216.0f);
    return low + (high - low) * unit;
  }
  // Standard normal by Box-Muller in double (portable, unlike std::normal_distribution).
  float normal(float mean = 0.0f, float stddev = 1.0f);
  // A seed for a child generator (a dropout module's masks). On tapegrad's stream it is the next
  // draw. On PyTorch's it is derived from the state without advancing it: PyTorch's constructors
  // draw nothing for dropout, so a draw here would shift every later layer's initial weights.
  std::uint64_t child_seed() {
    if (const auto* torch_engine = std::get_if<TorchEngine>(&engine_)) {
      TorchEngine peek = *torch_engine;
      const std::uint64_t high = peek();
      return (high << 32 | peek()) ^ (0x9E3779B97F4A7C15ull * ++children_);
    }
    return next_u64();
  }
  std::uint64_t next_u64() {
    if (auto* torch_engine = std::get_if<TorchEngine>(&engine_)) {
      const std::uint64_t high = (*torch_engine)();
      return high << 32 | (*torch_engine)();
    }
    return std::get<std::mt19937_64>(engine_)();
  }

 private:
  // std::mt19937's algorithm and seeding with 32-bit words (libstdc++'s std::mt19937 stores
  // uint_fast32_t, 8 bytes each): the same stream in half the memory.
  using TorchEngine =
      std::mersenne_twister_engine<std::uint32_t, 32, 624, 397, 31, 0x9908b0dfu, 11, 0xffffffffu,
                                   7, 0x9d2c5680u, 15, 0xefc60000u, 18, 1812433253u>;
  std::variant<std::mt19937_64, TorchEngine> engine_;
  std::uint64_t children_ = 0;  // child seeds handed out on PyTorch's stream, to tell them apart
};

}  // namespace tapegrad
