#pragma once
// Next-value prediction on one long noisy series with a 2-layer LSTM, trained by truncated
// backpropagation through time (TBPTT): what examples/stacked_lstm.cpp runs and
// tests/examples/test_stacked_lstm.cpp checks.
#include <cstdint>
#include <iosfwd>
#include <vector>

#include "autograd/generator.h"
#include "autograd/tensor.h"
#include "nn/layers.h"
#include "nn/module.h"
#include "nn/rnn.h"
#include "resume.h"

namespace examples {

// x_t = sin(2 pi t / 50) + 0.5 sin(2 pi t / 23) + noise_std * e_t, t = 0..points-1, e_t ~ N(0, 1).
// The two periods do not divide each other, so the pattern only repeats every 1150 steps.
std::vector<float> two_sines_series(std::int64_t points, float noise_std,
                                    tapegrad::Generator& generator);

struct NextValueModelOptions {
  std::int64_t hidden_size = 32;
  std::int64_t num_layers = 2;
  float dropout = 0.2f;  // between the LSTM layers, in training mode only
};

// LSTM(1 -> H, num_layers, batch_first) + Linear(H -> 1) applied at every step: the prediction at
// step t is the model's guess of the input at step t + 1.
class NextValueModel : public tapegrad::nn::Module {
 public:
  NextValueModel(const NextValueModelOptions& options, tapegrad::Generator& generator);
  struct Output {
    tapegrad::Tensor prediction;      // [B, T, 1]
    tapegrad::nn::LSTMState state;    // after the last step, to carry into the next chunk
  };
  // x [B, T, 1]; state empty (zeros) or h, c [num_layers, B, H].
  Output forward(const tapegrad::Tensor& x, const tapegrad::nn::LSTMState& state = {}) const;

 private:
  tapegrad::nn::LSTM* lstm_ = nullptr;
  tapegrad::nn::Linear* head_ = nullptr;
};

// Runs the whole series through the model in eval mode under no-grad, chunk by chunk with the
// state carried (the same as one pass over the whole series, without holding it all at once).
// Returns N - 1 predictions: element t is the prediction of series[t + 1] from series[0..t].
// Leaves the model in eval mode.
std::vector<float> predict_next_values(NextValueModel& model, const std::vector<float>& series,
                                       std::int64_t chunk_length);

struct StackedLSTMConfig {
  std::int64_t points = 4000;
  float noise_std = 0.1f;
  float test_fraction = 0.2f;  // the held-out tail
  std::int64_t hidden_size = 32;
  std::int64_t num_layers = 2;
  float dropout = 0.2f;
  std::int64_t chunk_length = 50;  // TBPTT: steps per backward pass
  // The training part is cut into this many contiguous streams, trained side by side as one
  // batch (PyTorch's word_language_model "batchify"): each stream carries its own state.
  std::int64_t streams = 4;
  std::int64_t epochs = 20;
  float lr = 0.01f;
  float max_grad_norm = 1.0f;  // clip_grad_norm_ before every step
  std::uint64_t seed = 0;      // series noise, initialisation and dropout
  std::ostream* log = nullptr;  // per-epoch lines go here when set
  // Resumable training (support/resume.h): the whole training state (parameters, Adam, the
  // dropout generator, epoch, chunk, the carried (h, c), the epoch's running loss) is saved and
  // restored, so a resumed run ends bit-identical to one that never stopped.
  ResumeOptions resume;
};

struct StackedLSTMResult {
  std::vector<float> epoch_losses;  // mean training MSE per epoch
  float test_mse = 0.0f;            // on the held-out tail, in eval mode
  float naive_mse = 0.0f;           // predicting each value by the one before it, same steps
  std::int64_t test_start = 0;      // index of the first held-out value
  std::vector<float> series;        // the whole series
  std::vector<float> tail_prediction;  // predictions of series[test_start..], in order
  std::int64_t num_parameters = 0;
  std::int64_t steps = 0;             // training steps (chunks) taken, counting resumed ones
  std::int64_t resumed_at_step = -1;  // the step the checkpoint held, or -1 without resume
  bool stopped = false;  // max_steps ended the run: no evaluation (test_mse etc. are unset)
};

// Throws std::invalid_argument for a bad config (e.g. a training part too short for the streams)
// and NonFiniteLossError (support/loss_guard.h) at the first NaN or infinite loss, naming the
// epoch and the chunk (step).
// The points held out at the series' end. Throws std::invalid_argument when points,
// test_fraction and streams leave no held-out point or streams shorter than 2 steps, so the
// program can refuse those flags before training.
std::int64_t stacked_lstm_test_length(const StackedLSTMConfig& config);

StackedLSTMResult train_stacked_lstm(const StackedLSTMConfig& config);

}  // namespace examples
