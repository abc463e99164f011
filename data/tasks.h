#pragma once
// Synthetic long-lag sequence tasks for comparing recurrent cells (RNN vs LSTM). Each one draws
// everything from an explicit Generator, so a seed reproduces a dataset exactly, and each reports
// the loss of the best input-ignoring predictor: a model that does not beat it learned nothing.
// Inputs are batch-first [N, T, F], the layout of nn::LSTM with batch_first = true.
#include <cstdint>
#include <vector>

#include "autograd/generator.h"
#include "autograd/tensor.h"

namespace tapegrad::data {

// A sequence-to-one regression dataset.
struct SequenceRegressionData {
  Tensor inputs;        // [N, T, F]
  Tensor targets;       // [N, 1]
  double baseline_mse;  // MSE of the best constant prediction (the targets' variance)
};

// The adding problem (Hochreiter & Schmidhuber 1997; the form of Le, Jaitly & Hinton 2015).
// Step t of sample n has F = 2 features: [..., 0] a value U[0, 1) and [..., 1] a marker that is 1
// at exactly two steps, one uniform in the first half [0, T/2) and one in the second half
// [T/2, T), and 0 elsewhere (T/2 rounds down). The target is the sum of the two marked values.
// Ignoring the input, the best prediction is the mean 1, with MSE = Var(U1 + U2) = 2/12 = 1/6
// (about 0.167): baseline_mse. Throws ValueError unless N >= 1 and T >= 2.
SequenceRegressionData adding_problem(std::int64_t N, std::int64_t T, Generator& generator);

// The delayed sine: x_t = sin(omega t + phi) + noise_std * e_t, t = 0..T-1, with per-sample
// omega ~ U[0.2, 0.6) rad/step (periods of about 10 to 31 steps), phi ~ U[0, 2 pi) and
// e_t ~ N(0, 1) i.i.d. Inputs [N, T, 1]; the target [N, 1] is x[T - 1 - lag], the input `lag`
// steps before the last one (lag 0 is the last input). The sine part can be inferred from recent
// steps, but the noise at step T-1-lag can only be remembered, so the task gets harder as lag
// grows. Ignoring the input, the best prediction is 0 with MSE = E[sin^2] + noise_std^2 =
// 0.5 + noise_std^2 (the phase is uniform): baseline_mse. A model that knows the clean sine but
// remembers no noise scores noise_std^2. The random stream does not depend on noise_std: one seed
// with two noise levels gives the same sines and the same standard-normal draws.
// Throws ValueError unless N >= 1, T >= 1, 0 <= lag <= T - 1 and noise_std is finite and >= 0.
SequenceRegressionData delayed_sine(std::int64_t N, std::int64_t T, std::int64_t lag,
                                    Generator& generator, float noise_std = 0.1f);

// A sequence-to-sequence classification dataset with one class index per step.
struct CopyMemoryData {
  Tensor inputs;                      // [N, T, num_classes], one-hot
  std::vector<std::int64_t> targets;  // N * T class indices, row-major: targets[n * T + t]
  std::int64_t num_classes;           // num_symbols + 2: blank 0, symbols 1..K, delimiter K+1
  std::int64_t sequence_length;       // the last sequence_length steps carry the symbols
  // Mean cross-entropy per step (natural log) of predicting blank with certainty on the first
  // T - S steps and a uniform guess over the K symbols on the last S steps: S * log(K) / T.
  double baseline_cross_entropy;
};

// The copying memory task of Arjovsky, Shah & Bengio 2016 ("Unitary evolution RNNs"), with S =
// sequence_length symbols from an alphabet of K = num_symbols. The input of one sample is
//   S symbols uniform in 1..K, then `delay` blanks (0), then the delimiter K+1, then S blanks,
// so T = 2 S + delay + 1; the paper's "T" is delay + 1 (its T - 1 blanks plus the delimiter) and
// its sequences have length T + 20 for S = 10. The target is blank for the first S + delay + 1
// steps (including the delimiter's step) and the S input symbols, in order, on the last S steps.
// The delimiter class is never a target but stays in num_classes so inputs and outputs share one
// vocabulary. Throws ValueError unless N >= 1, delay >= 0, num_symbols >= 1 and
// sequence_length >= 1.
CopyMemoryData copy_memory(std::int64_t N, std::int64_t delay, std::int64_t num_symbols,
                           std::int64_t sequence_length, Generator& generator);
// The paper's setting: 8 symbols, sequences of 10.
CopyMemoryData copy_memory(std::int64_t N, std::int64_t delay, Generator& generator);

}  // namespace tapegrad::data
