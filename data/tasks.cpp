// Synthetic long-lag tasks: the adding problem, the copying memory task and the delayed sine.
// Plain loops over data(): every tensor here is written once, element by element.
#include "data/tasks.h"

#include <cmath>
#include <numbers>
#include <string>
#include <utility>

#include "autograd/errors.h"

namespace tapegrad::data {
namespace {

// A uniform index in [0, n). The modulo bias is at most n / 2^64, far below anything a test of
// these datasets could see.
std::int64_t uniform_index(Generator& generator, std::int64_t n) {
  return static_cast<std::int64_t>(generator.next_u64() % static_cast<std::uint64_t>(n));
}

void require(bool condition, const char* function, const std::string& message) {
  if (!condition) throw ValueError(std::string(function) + ": " + message);
}

std::string str(std::int64_t value) { return std::to_string(value); }

}  // namespace

SequenceRegressionData adding_problem(std::int64_t N, std::int64_t T, Generator& generator) {
  require(N >= 1, "adding_problem", "expected N >= 1 samples, got N = " + str(N));
  require(T >= 2, "adding_problem",
          "expected T >= 2 steps (one marker in each half), got T = " + str(T));

  checked_numel("adding_problem", {N, T, 2});
  Tensor inputs = Tensor::zeros({N, T, 2});
  Tensor targets = Tensor::empty({N, 1});
  const std::int64_t half = T / 2;
  for (std::int64_t n = 0; n < N; ++n) {
    float* sample = inputs.data() + n * T * 2;
    for (std::int64_t t = 0; t < T; ++t) sample[t * 2] = generator.uniform();
    const std::int64_t first = uniform_index(generator, half);
    const std::int64_t second = half + uniform_index(generator, T - half);
    sample[first * 2 + 1] = 1.0f;
    sample[second * 2 + 1] = 1.0f;
    targets.data()[n] = sample[first * 2] + sample[second * 2];
  }
  return {inputs, targets, 1.0 / 6.0};
}

SequenceRegressionData delayed_sine(std::int64_t N, std::int64_t T, std::int64_t lag,
                                    Generator& generator, float noise_std) {
  require(N >= 1, "delayed_sine", "expected N >= 1 samples, got N = " + str(N));
  require(T >= 1, "delayed_sine", "expected T >= 1 steps, got T = " + str(T));
  require(lag >= 0 && lag <= T - 1, "delayed_sine",
          "expected lag in [0, T - 1] = [0, " + str(T - 1) + "], got lag = " + str(lag) +
              " (T = " + str(T) + ")");
  require(std::isfinite(noise_std) && noise_std >= 0.0f, "delayed_sine",
          "expected a finite noise_std >= 0, got noise_std = " + std::to_string(noise_std));

  checked_numel("delayed_sine", {N, T, 1});
  Tensor inputs = Tensor::empty({N, T, 1});
  Tensor targets = Tensor::empty({N, 1});
  for (std::int64_t n = 0; n < N; ++n) {
    // The phase in double so that sin(omega t + phi) stays accurate for long sequences.
    const double omega = generator.uniform(0.2f, 0.6f);
    const double phi = 2.0 * std::numbers::pi * generator.uniform();
    float* x = inputs.data() + n * T;
    for (std::int64_t t = 0; t < T; ++t) {
      const double clean = std::sin(omega * static_cast<double>(t) + phi);
      x[t] = static_cast<float>(clean) + noise_std * generator.normal();
    }
    targets.data()[n] = x[T - 1 - lag];
  }
  return {inputs, targets, 0.5 + static_cast<double>(noise_std) * noise_std};
}

CopyMemoryData copy_memory(std::int64_t N, std::int64_t delay, std::int64_t num_symbols,
                           std::int64_t sequence_length, Generator& generator) {
  require(N >= 1, "copy_memory", "expected N >= 1 samples, got N = " + str(N));
  require(delay >= 0, "copy_memory", "expected delay >= 0 blank steps, got delay = " + str(delay));
  require(num_symbols >= 1, "copy_memory",
          "expected num_symbols >= 1, got num_symbols = " + str(num_symbols));
  require(sequence_length >= 1, "copy_memory",
          "expected sequence_length >= 1, got sequence_length = " + str(sequence_length));

  // Bounded first, so T and num_classes below cannot overflow; [N, T, num_classes] is checked
  // as a whole before N * T sizes anything.
  if (delay > max_numel || num_symbols > max_numel || sequence_length > max_numel) {
    throw ShapeError("copy_memory: delay = " + str(delay) + ", num_symbols = " + str(num_symbols) +
                     ", sequence_length = " + str(sequence_length) +
                     " give a tensor too large to allocate (a tensor holds at most " +
                     str(max_numel) + " elements)");
  }
  const std::int64_t S = sequence_length;
  const std::int64_t T = 2 * S + delay + 1;
  const std::int64_t num_classes = num_symbols + 2;
  const std::int64_t delimiter = num_symbols + 1;
  const std::int64_t delimiter_step = S + delay;
  checked_numel("copy_memory", {N, T, num_classes});

  // Blank (class 0) everywhere first; the symbols and the delimiter then overwrite their steps.
  std::vector<std::int64_t> input_classes(static_cast<std::size_t>(N * T), 0);
  std::vector<std::int64_t> targets(static_cast<std::size_t>(N * T), 0);
  for (std::int64_t n = 0; n < N; ++n) {
    std::int64_t* in = input_classes.data() + n * T;
    std::int64_t* out = targets.data() + n * T;
    for (std::int64_t s = 0; s < S; ++s) {
      in[s] = 1 + uniform_index(generator, num_symbols);
      out[T - S + s] = in[s];
    }
    in[delimiter_step] = delimiter;
  }

  Tensor inputs = Tensor::zeros({N, T, num_classes});
  for (std::int64_t i = 0; i < N * T; ++i) {
    inputs.data()[i * num_classes + input_classes[static_cast<std::size_t>(i)]] = 1.0f;
  }
  const double baseline = static_cast<double>(S) * std::log(static_cast<double>(num_symbols)) /
                          static_cast<double>(T);
  return {inputs, std::move(targets), num_classes, S, baseline};
}

CopyMemoryData copy_memory(std::int64_t N, std::int64_t delay, Generator& generator) {
  return copy_memory(N, delay, /*num_symbols=*/8, /*sequence_length=*/10, generator);
}

}  // namespace tapegrad::data
