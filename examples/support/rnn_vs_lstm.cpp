// Tasks, model and loss of the RNN-vs-LSTM experiment; the measurements and the training run are
// in rnn_vs_lstm_measure.cpp.
#include "rnn_vs_lstm.h"

#include <algorithm>

#include <cmath>
#include <limits>
#include <stdexcept>

#include "autograd/grad_mode.h"
#include "data/tasks.h"
#include "ops/losses.h"
#include "ops/ops.h"

namespace examples::lag {

using namespace tapegrad;

Task parse_task(const std::string& name) {
  if (name == "adding") return Task::Adding;
  if (name == "copy") return Task::Copy;
  if (name == "sine") return Task::Sine;
  throw std::invalid_argument("unknown task \"" + name + "\" (expected adding, copy or sine)");
}

std::string task_name(Task task) {
  switch (task) {
    case Task::Adding: return "adding";
    case Task::Copy: return "copy";
    case Task::Sine: return "sine";
  }
  return "?";
}

std::int64_t TaskSpec::sequence_length() const {
  switch (task) {
    case Task::Adding: return lag;
    case Task::Copy: return 2 * copy_length + lag + 1;
    case Task::Sine: return lag + sine_context;
  }
  return 0;
}

std::int64_t TaskSpec::input_size() const {
  return task == Task::Adding ? 2 : task == Task::Copy ? copy_symbols + 2 : 1;
}

std::int64_t TaskSpec::output_size() const { return task == Task::Copy ? copy_symbols + 2 : 1; }

Batch make_batch(const TaskSpec& spec, std::int64_t N, Generator& generator) {
  switch (spec.task) {
    case Task::Adding: {
      data::SequenceRegressionData d = data::adding_problem(N, spec.lag, generator);
      return {d.inputs, d.targets, {}, 0, d.baseline_mse};
    }
    case Task::Sine: {
      data::SequenceRegressionData d = data::delayed_sine(N, spec.sequence_length(), spec.lag,
                                                          generator, spec.sine_noise);
      return {d.inputs, d.targets, {}, 0, d.baseline_mse};
    }
    case Task::Copy: {
      data::CopyMemoryData d =
          data::copy_memory(N, spec.lag, spec.copy_symbols, spec.copy_length, generator);
      return {d.inputs, Tensor(), d.targets, d.sequence_length, d.baseline_cross_entropy};
    }
  }
  throw std::invalid_argument("make_batch: unknown task");
}

Batch first_samples(const Batch& batch, std::int64_t n) {
  if (n >= batch.size()) return batch;
  Batch out = batch;
  out.inputs = slice(batch.inputs, 0, 0, n);
  if (batch.targets.defined()) out.targets = slice(batch.targets, 0, 0, n);
  if (!batch.classes.empty()) {
    out.classes.resize(static_cast<std::size_t>(n * batch.inputs.size(1)));
  }
  return out;
}

LagModel::LagModel(std::string cell, std::int64_t input_size, std::int64_t hidden_size,
                   std::int64_t output_size, bool per_step, Generator& generator)
    : cell_(std::move(cell)), input_size_(input_size), hidden_size_(hidden_size),
      per_step_(per_step) {
  // "rnn" is the tanh RNN; any other name is a registered cell (nn::registered_cells()).
  const std::string registered = cell_ == "rnn" ? "rnn_tanh" : cell_;
  const std::vector<std::string> known = nn::registered_cells();
  if (std::find(known.begin(), known.end(), registered) == known.end()) {
    std::string names = "rnn";
    for (const std::string& name : known) names += ", " + name;
    throw std::invalid_argument("unknown cell \"" + cell_ + "\" (expected one of " + names + ")");
  }
  layer_ = &register_module(
      "rnn", nn::make_recurrent(registered, {.input_size = input_size, .hidden_size = hidden_size,
                                             .batch_first = true},
                                generator));
  head_ = &register_module(
      "head", nn::Linear({.in_features = hidden_size, .out_features = output_size}, generator));
}

Tensor LagModel::forward(const Tensor& inputs) const {
  Tensor output = layer_->forward(inputs).output;
  return head_->forward(per_step_ ? output : select(output, 1, -1));
}

void LagModel::set_forget_gate_bias(float value) {
  if (nn::find_cell(layer_->cell()).forget_gate < 0) {
    throw std::invalid_argument("set_forget_gate_bias: the " + cell_ + " cell has no forget gate");
  }
  NoGradGuard no_grad;
  layer_->set_forget_gate_bias(value);
}

Tensor LagModel::layer_parameter(const std::string& name) const {
  for (const auto& [parameter_name, value] : layer_->named_parameters()) {
    if (parameter_name == name) return value;
  }
  throw std::invalid_argument("LagModel: the layer has no parameter " + name);
}

Tensor LagModel::forward_stepwise(const Tensor& inputs, const StepHook& observe) const {
  const std::int64_t T = inputs.size(1);
  // A copy of the layer (any registered cell) holding copies of its weights, so the model's own
  // gradients are untouched; it runs one step at a time, carrying its state.
  Generator unused(0);  // the copy's own initialisation is overwritten below
  nn::RecurrentBase copy = nn::make_recurrent(
      layer_->cell(), {.input_size = input_size_, .hidden_size = hidden_size_, .batch_first = true},
      unused);
  {
    NoGradGuard no_grad;  // copy_ into a leaf that requires grad is refused while recording
    const auto from = layer_->named_parameters();
    const auto to = copy.named_parameters();
    for (std::size_t k = 0; k < to.size(); ++k) Tensor(to[k].second).copy_(from[k].second);
  }
  nn::RecurrentState state;
  Tensor h;
  std::vector<Tensor> hidden_states;
  for (std::int64_t t = 0; t < T; ++t) {
    nn::RecurrentOutput out = copy.forward(slice(inputs, 1, t, t + 1), state);
    h = select(out.h_n, 0, 0);  // [B, H]
    if (observe) h = observe(t, h);
    state = {unsqueeze(h, 0), out.c_n};
    if (per_step_) hidden_states.push_back(h);
  }
  return head_->forward(per_step_ ? stack(hidden_states, 1) : h);
}

Tensor task_loss(const Batch& batch, const Tensor& prediction) {
  if (batch.targets.defined()) return mse_loss(prediction, batch.targets);
  const std::int64_t classes = prediction.size(-1);
  return cross_entropy(reshape(prediction, {-1, classes}), batch.classes);
}

double copy_accuracy(const Batch& batch, const Tensor& logits) {
  const std::int64_t N = batch.size(), T = batch.inputs.size(1), S = batch.copy_length;
  const std::vector<std::int64_t> predicted = argmax(logits, -1);  // N * T, row-major
  std::int64_t right = 0;
  for (std::int64_t n = 0; n < N; ++n) {
    for (std::int64_t t = T - S; t < T; ++t) {
      const auto i = static_cast<std::size_t>(n * T + t);
      right += predicted[i] == batch.classes[i] ? 1 : 0;
    }
  }
  return static_cast<double>(right) / static_cast<double>(N * S);
}

Evaluation evaluate(const LagModel& model, const Batch& batch) {
  NoGradGuard no_grad;
  Tensor prediction = model.forward(batch.inputs);
  Evaluation result;
  result.loss = task_loss(batch, prediction).item();
  result.accuracy = batch.targets.defined() ? std::numeric_limits<double>::quiet_NaN()
                                            : copy_accuracy(batch, prediction);
  return result;
}

}  // namespace examples::lag
