// Measurements of the RNN-vs-LSTM experiment (gradient norms per step, gate saturation) and the
// training run that produces them.
#include <cmath>
#include <iomanip>
#include <memory>
#include <ostream>

#include "autograd/grad_mode.h"
#include "autograd/grad_probe.h"
#include "example_util.h"
#include "loss_guard.h"
#include "ops/ops.h"
#include "optim/adam.h"
#include "optim/clip.h"
#include "rnn_vs_lstm.h"

namespace examples::lag {

using namespace tapegrad;

namespace {

double frobenius_norm(const Tensor& x) {
  double squares = 0.0;
  for (std::int64_t i = 0; i < x.numel(); ++i) squares += static_cast<double>(x.data()[i]) * x.data()[i];
  return std::sqrt(squares);
}

struct GateCounter {
  std::string gate;
  std::int64_t below = 0, above = 0, total = 0;
  double sum = 0.0;

  void add(const Tensor& activations, float low, float high) {
    const float* a = activations.data();
    for (std::int64_t i = 0; i < activations.numel(); ++i) {
      below += a[i] < low ? 1 : 0;
      above += a[i] > high ? 1 : 0;
      sum += a[i];
    }
    total += activations.numel();
  }
  GateSaturation result() const {
    const double n = static_cast<double>(total);
    return {gate, static_cast<double>(below) / n, static_cast<double>(above) / n, sum / n};
  }
};

}  // namespace

std::vector<float> hidden_grad_norms(const LagModel& model, const Batch& batch) {
  const std::int64_t T = batch.inputs.size(1);
  std::vector<GradProbe> probes;  // one per step, in step order
  probes.reserve(static_cast<std::size_t>(T));
  Tensor prediction = model.forward_stepwise(batch.inputs, [&](std::int64_t, const Tensor& h) {
    probes.emplace_back(h);
    return h;
  });
  task_loss(batch, prediction).backward();
  std::vector<float> norms;
  for (const GradProbe& probe : probes) {
    const Tensor grad = probe.grad();
    norms.push_back(grad.defined() ? static_cast<float>(frobenius_norm(grad)) : 0.0f);
  }
  return norms;
}

// Re-runs the layer's recurrence from its own weights under no-grad, computing the gate
// activations that the fused kernels keep internal (gate order i, f, g, o and r, z, n, as PyTorch).
std::vector<GateSaturation> gate_saturation(const LagModel& model, const Batch& batch, float low,
                                            float high) {
  // Gate statistics are defined for the LSTM's and the GRU's gates only.
  if (model.cell() != "lstm" && model.cell() != "gru") return {};
  NoGradGuard no_grad;
  const Tensor weight_ih = model.layer_parameter("weight_ih_l0");
  const Tensor weight_hh = model.layer_parameter("weight_hh_l0");
  const Tensor bias_ih = model.layer_parameter("bias_ih_l0");
  const Tensor bias_hh = model.layer_parameter("bias_hh_l0");
  const std::int64_t B = batch.size(), T = batch.inputs.size(1), H = model.hidden_size();
  Tensor h = Tensor::zeros({B, H}), c = Tensor::zeros({B, H});
  const bool lstm = model.cell() == "lstm";
  std::vector<GateCounter> counters;
  for (const char* gate : lstm ? std::vector<const char*>{"input", "forget", "output"}
                               : std::vector<const char*>{"reset", "update"}) {
    counters.push_back({gate});
  }
  for (std::int64_t t = 0; t < T; ++t) {
    Tensor x_t = select(batch.inputs, 1, t);
    Tensor from_input = linear(x_t, weight_ih, bias_ih);
    Tensor from_hidden = linear(h, weight_hh, bias_hh);
    if (lstm) {
      Tensor gates_pre = add(from_input, from_hidden);
      std::vector<Tensor> g = chunk(gates_pre, 4, 1);
      counters[0].add(sigmoid(g[0]), low, high);
      counters[1].add(sigmoid(g[1]), low, high);
      counters[2].add(sigmoid(g[3]), low, high);
      std::vector<Tensor> hc = lstm_cell(gates_pre, c);
      h = hc[0];
      c = hc[1];
    } else {
      std::vector<Tensor> gx = chunk(from_input, 3, 1), gh = chunk(from_hidden, 3, 1);
      Tensor reset = sigmoid(add(gx[0], gh[0]));
      Tensor update = sigmoid(add(gx[1], gh[1]));
      counters[0].add(reset, low, high);
      counters[1].add(update, low, high);
      Tensor candidate = tanh(add(gx[2], mul(reset, gh[2])));
      h = add(mul(sub(Tensor::ones_like(update), update), candidate), mul(update, h));
    }
  }
  std::vector<GateSaturation> results;
  for (const GateCounter& counter : counters) results.push_back(counter.result());
  return results;
}

double RunResult::grad_ratio() const {
  if (grad_norms_trained.empty() || grad_norms_trained.back() == 0.0f) return 0.0;
  return static_cast<double>(grad_norms_trained.front()) / grad_norms_trained.back();
}

RunResult run_experiment(const TaskSpec& spec, const std::string& cell, const RunOptions& options,
                         std::ostream* progress) {
  // Restored when run_experiment returns or throws.
  const MatmulPrecisionGuard precision_guard(options.matmul_precision);
  RunResult result;
  result.spec = spec;
  result.cell = cell;
  Generator init_generator(options.seed);
  LagModel model(cell, spec.input_size(), options.hidden_size, spec.output_size(),
                 spec.per_step_output(), init_generator);
  if (cell == "lstm" && std::isfinite(options.lstm_forget_bias)) {
    model.set_forget_gate_bias(options.lstm_forget_bias);
  }
  result.parameters = model.num_parameters();

  Generator eval_generator(options.eval_seed);
  const Batch held_out = make_batch(spec, options.eval_size, eval_generator);
  const Batch probe_batch = first_samples(held_out, options.probe_size);
  result.baseline = held_out.baseline;
  result.grad_norms_init = hidden_grad_norms(model, probe_batch);

  // Every cell sees the same training batches: the stream depends on the seed only.
  Generator data_generator(options.seed + 0x9E3779B97F4A7C15ull);
  const std::vector<Tensor> parameters = model.parameters();
  optim::Adam adam(parameters, {.lr = options.lr});
  const std::int64_t log_every = std::max<std::int64_t>(1, options.log_every);
  double window_sum = 0.0;
  std::int64_t window_count = 0;
  Stopwatch clock;
  for (std::int64_t step = 1; step <= options.steps; ++step) {
    const Batch batch = make_batch(spec, options.batch_size, data_generator);
    adam.zero_grad();
    Tensor loss = task_loss(batch, model.forward(batch.inputs));
    const float loss_value = loss.item();
    require_finite_loss(loss_value, {.step = step});
    loss.backward();
    optim::clip_grad_norm_(parameters, options.clip_norm);
    adam.step();
    window_sum += loss_value;
    ++window_count;
    if (step % log_every == 0 || step == options.steps) {
      const auto mean_loss = static_cast<float>(window_sum / static_cast<double>(window_count));
      result.curve_steps.push_back(step);
      result.curve_losses.push_back(mean_loss);
      window_sum = 0.0;
      window_count = 0;
      if (progress) {
        *progress << "  " << task_name(spec.task) << " lag " << spec.lag << " " << cell
                  << "  step " << std::setw(6) << step << "  loss " << std::setprecision(4)
                  << mean_loss << "  " << std::fixed << std::setprecision(1) << clock.seconds()
                  << " s" << std::defaultfloat << std::endl;
      }
    }
  }
  result.train_seconds = clock.seconds();
  result.eval = evaluate(model, held_out);
  require_finite_loss(result.eval.loss, {.phase = "held-out evaluation (after the last step)"});
  result.grad_norms_trained = hidden_grad_norms(model, probe_batch);
  result.gates = gate_saturation(model, probe_batch);
  return result;
}

}  // namespace examples::lag
