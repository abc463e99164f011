#pragma once
// The experiment behind examples/rnn_vs_lstm.cpp, shared with tests/examples/test_rnn_vs_lstm.cpp:
// a recurrent layer (RNN tanh, LSTM or GRU) plus a Linear head, trained on a task whose lag is a
// parameter, then measured: held-out loss against the task's baseline, the gradient reaching each
// hidden state (||dL/dh_t||, through tapegrad::GradProbe), and how saturated the gates are.
#include <cmath>
#include <cstdint>
#include <functional>
#include <iosfwd>
#include <string>
#include <vector>

#include "autograd/generator.h"
#include "autograd/grad_mode.h"
#include "autograd/tensor.h"
#include "nn/layers.h"
#include "nn/module.h"
#include "nn/rnn.h"

namespace examples::lag {

enum class Task { Adding, Copy, Sine };
Task parse_task(const std::string& name);  // "adding", "copy", "sine"; std::invalid_argument else
std::string task_name(Task task);

// One task at one lag. What the lag means:
//   adding: the sequence length T (the first marker can be anywhere in the first half);
//   copy:   the blank steps between the last symbol and the delimiter (T = 2 S + lag + 1);
//   sine:   how many steps before the last input the target value was seen (T = lag + context).
struct TaskSpec {
  Task task = Task::Adding;
  std::int64_t lag = 10;
  std::int64_t copy_symbols = 8;  // K, the alphabet of the copy task
  std::int64_t copy_length = 10;  // S, the symbols to remember
  std::int64_t sine_context = 20;  // steps of the delayed sine after the target's step, plus one
  float sine_noise = 0.1f;
  std::int64_t sequence_length() const;
  std::int64_t input_size() const;
  std::int64_t output_size() const;
  bool per_step_output() const { return task == Task::Copy; }  // else: last step only
};

struct Batch {
  tapegrad::Tensor inputs;              // [N, T, F]
  tapegrad::Tensor targets;             // [N, 1] for adding and sine; undefined for copy
  std::vector<std::int64_t> classes;    // copy: N * T class indices, row-major
  std::int64_t copy_length = 0;         // copy: accuracy is measured on the last S steps
  double baseline = 0.0;                // the loss of the best input-ignoring predictor
  std::int64_t size() const { return inputs.size(0); }
};
Batch make_batch(const TaskSpec& spec, std::int64_t N, tapegrad::Generator& generator);
Batch first_samples(const Batch& batch, std::int64_t n);

// A one-layer recurrent model: cell "rnn" (tanh), "lstm" or "gru", batch-first, then a Linear head
// on the last step (sequence-to-one) or on every step (per_step, the copy task).
class LagModel : public tapegrad::nn::Module {
 public:
  LagModel(std::string cell, std::int64_t input_size, std::int64_t hidden_size,
           std::int64_t output_size, bool per_step, tapegrad::Generator& generator);
  // inputs [B, T, I] -> [B, output] (last step) or [B, T, output] (per_step).
  tapegrad::Tensor forward(const tapegrad::Tensor& inputs) const;

  // The same function, computed one step at a time by an nn::RNNCell / LSTMCell / GRUCell holding
  // copies of the layer's weights (so the model's own gradients are untouched). After each step,
  // `observe(t, h_t)` returns the tensor used as h_t from then on, by the next step and by the
  // head: h_t itself after putting a tapegrad::GradProbe on it to read dL/dh_t,
  // h_t.detach().requires_grad_() to cut the graph there, h_t plus a perturbation for finite
  // differences. For the LSTM the cell state c_t passes as is.
  using StepHook = std::function<tapegrad::Tensor(std::int64_t t, const tapegrad::Tensor& h)>;
  tapegrad::Tensor forward_stepwise(const tapegrad::Tensor& inputs, const StepHook& observe) const;

  // LSTM only: the forget-gate bias (Gers et al. 2000; Jozefowicz et al. 2015 recommend 1), so the
  // cell starts by keeping its memory. PyTorch's default initialisation leaves it random.
  void set_forget_gate_bias(float value);

  const std::string& cell() const { return cell_; }
  std::int64_t hidden_size() const { return hidden_size_; }
  // The layer's parameter called name ("weight_ih_l0", "bias_hh_l0", ...).
  tapegrad::Tensor layer_parameter(const std::string& name) const;

 private:
  std::string cell_;
  std::int64_t input_size_, hidden_size_;
  bool per_step_;
  tapegrad::nn::RecurrentBase* layer_ = nullptr;
  tapegrad::nn::Linear* head_ = nullptr;
};

// The training loss: MSE for adding and sine, mean cross entropy over every step for copy.
tapegrad::Tensor task_loss(const Batch& batch, const tapegrad::Tensor& prediction);

struct Evaluation {
  double loss = 0.0;      // MSE or cross entropy
  double accuracy = 0.0;  // copy: fraction of the copied symbols predicted right; else NaN
};
Evaluation evaluate(const LagModel& model, const Batch& batch);  // under no-grad
// Copy task: the fraction of the last S steps (the copied symbols) where the arg-max of the
// logits [N, T, C] is the target class.
double copy_accuracy(const Batch& batch, const tapegrad::Tensor& logits);

// ||dL/dh_t|| for t = 0..T-1: the Frobenius norm over the batch of the gradient of the
// batch-mean loss with respect to the hidden state after step t, read with a tapegrad::GradProbe
// on each h_t of a step-by-step run (forward_stepwise). The model's parameter gradients are not touched.
std::vector<float> hidden_grad_norms(const LagModel& model, const Batch& batch);

// The fraction of gate activations (sigmoid outputs, every unit, step and sample) below `low` or
// above `high`: LSTM input, forget and output gates; GRU reset and update gates; none for RNN.
struct GateSaturation {
  std::string gate;
  double below = 0.0, above = 0.0, mean = 0.0;
  double saturated() const { return below + above; }
};
std::vector<GateSaturation> gate_saturation(const LagModel& model, const Batch& batch,
                                            float low = 0.05f, float high = 0.95f);

struct RunOptions {  // the defaults of examples/rnn_vs_lstm
  std::int64_t hidden_size = 32;
  std::int64_t steps = 3000;
  std::int64_t batch_size = 32;
  float lr = 0.01f;
  float clip_norm = 1.0f;
  std::uint64_t seed = 0;       // initialisation and training batches
  std::uint64_t eval_seed = 1234567;  // the held-out set, the same for every seed and cell
  std::int64_t eval_size = 512;
  std::int64_t probe_size = 64;  // held-out samples used for the gradient norms and gates
  std::int64_t log_every = 25;  // one loss-curve point per this many steps
  float lstm_forget_bias = NAN;  // NaN: PyTorch's initialisation; else set_forget_gate_bias
  // bfloat16: every forward and backward of the run (training, evaluation, gradient norms, gate
  // statistics) multiplies bf16-rounded operands with float32 sums (autograd/grad_mode.h).
  tapegrad::MatmulPrecision matmul_precision = tapegrad::MatmulPrecision::float32;
};

struct RunResult {
  TaskSpec spec;
  std::string cell;
  std::int64_t parameters = 0;
  double train_seconds = 0.0;
  Evaluation eval;
  double baseline = 0.0;
  std::vector<std::int64_t> curve_steps;  // the last step of each window
  std::vector<float> curve_losses;        // mean training loss over the window
  std::vector<float> grad_norms_init, grad_norms_trained;
  std::vector<GateSaturation> gates;      // after training
  double ratio() const { return eval.loss / baseline; }
  // ||dL/dh_0|| / ||dL/dh_{T-1}|| after training: how much gradient reaches the first step.
  double grad_ratio() const;
};

// Trains a fresh model with Adam and clip_grad_norm_ and measures it. `progress` (optional) gets
// one line per loss-curve point. Throws NonFiniteLossError (support/loss_guard.h) at the first
// NaN or infinite loss, naming the step.
RunResult run_experiment(const TaskSpec& spec, const std::string& cell, const RunOptions& options,
                         std::ostream* progress = nullptr);

}  // namespace examples::lag
