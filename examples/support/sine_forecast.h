#pragma once
// The tutorial forecaster: a recurrent layer (LSTM by default) + Linear head on the last step,
// trained full-batch with MSE and Adam on sliding windows of a sine wave. Shared by
// examples/sine_forecast.cpp and its test.
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "autograd/generator.h"
#include "autograd/grad_mode.h"
#include "nn/layers.h"
#include "nn/module.h"
#include "nn/rnn.h"
#include "resume.h"

namespace examples {

struct SineConfig {
  std::int64_t points = 1000;      // samples of sin(t), t evenly spaced over [0, 100]
  std::int64_t seq_length = 10;
  std::int64_t hidden = 100;
  std::int64_t layers = 1;
  std::string cell = "lstm";       // lstm, gru or rnn
  std::int64_t epochs = 100;
  float lr = 0.01f;
  std::uint64_t seed = 0;
  bool torch_rng = true;           // initial weights from Generator::torch(seed), as PyTorch's
  std::string init_path = "";      // optional safetensors with starting parameters
  // bfloat16: training and evaluation multiply bf16-rounded operands with float32 sums
  // (autograd/grad_mode.h); the weights and Adam stay float32.
  tapegrad::MatmulPrecision matmul_precision = tapegrad::MatmulPrecision::float32;
  // Resumable training (support/resume.h): one step per epoch (full batch); the model, Adam and
  // the epoch's losses so far are saved and restored, so a resumed run ends bit-identical.
  ResumeOptions resume;
};

// The recurrent layer of the chosen cell ("rnn" or any registered name) and a Linear head on its
// last time step. dropout acts between stacked layers in training mode (PyTorch's LSTM dropout).
// Shared with examples/forecast (support/forecast.h).
class Forecaster : public tapegrad::nn::Module {
 public:
  Forecaster(const std::string& cell, std::int64_t hidden, std::int64_t layers,
             tapegrad::Generator& generator, float dropout = 0.0f);
  tapegrad::Tensor forward(const tapegrad::Tensor& x) const;  // [B, T, 1] -> [B, 1]

 private:
  tapegrad::nn::RecurrentBase* rnn_ = nullptr;
  tapegrad::nn::Linear* head_ = nullptr;
};

struct SineResult {
  std::vector<float> losses;       // training loss of every epoch
  float eval_mse = 0.0f;           // eval mode, no-grad, on all windows
  std::vector<float> truth, predictions;
  double train_seconds = 0.0;
  std::int64_t num_parameters = 0;
  std::int64_t resumed_at_epoch = 0;  // epochs the checkpoint held (0: a fresh run)
  bool stopped = false;  // max_steps ended the run: no evaluation, nothing saved to save_path
};

// on_epoch(epoch, loss, seconds) is called after every epoch (progress output). Throws
// std::invalid_argument for a bad config (epochs < 1 among them) and NonFiniteLossError
// (support/loss_guard.h) at the first NaN or infinite loss.
SineResult train_sine(const SineConfig& config,
                      const std::function<void(std::int64_t, float, double)>& on_epoch = {},
                      const std::string& save_path = "");

}  // namespace examples
