#include "stacked_lstm.h"

#include <algorithm>
#include <cmath>
#include <iomanip>
#include <numbers>
#include <ostream>
#include <stdexcept>
#include <string>

#include "autograd/grad_mode.h"
#include "ops/losses.h"
#include "ops/ops.h"
#include "optim/adam.h"
#include "optim/clip.h"
#include "optim/training_checkpoint.h"
#include "loss_guard.h"

namespace examples {

using namespace tapegrad;

std::vector<float> two_sines_series(std::int64_t points, float noise_std, Generator& generator) {
  if (points < 2) throw std::invalid_argument("two_sines_series: need >= 2 points");
  std::vector<float> series(static_cast<std::size_t>(points));
  const double two_pi = 2.0 * std::numbers::pi;
  for (std::int64_t t = 0; t < points; ++t) {
    const double time = static_cast<double>(t);
    const double clean = std::sin(two_pi * time / 50.0) + 0.5 * std::sin(two_pi * time / 23.0);
    series[static_cast<std::size_t>(t)] =
        static_cast<float>(clean) + noise_std * generator.normal();
  }
  return series;
}

NextValueModel::NextValueModel(const NextValueModelOptions& options, Generator& generator) {
  lstm_ = &register_module("lstm", nn::LSTM({.input_size = 1, .hidden_size = options.hidden_size,
                                             .num_layers = options.num_layers,
                                             .batch_first = true, .dropout = options.dropout},
                                            generator));
  head_ = &register_module(
      "head", nn::Linear({.in_features = options.hidden_size, .out_features = 1}, generator));
}

NextValueModel::Output NextValueModel::forward(const Tensor& x, const nn::LSTMState& state) const {
  nn::LSTMOutput out = lstm_->forward(x, state);
  return {head_->forward(out.output), out.state};  // Linear acts on the last dim: every step
}

std::vector<float> predict_next_values(NextValueModel& model, const std::vector<float>& series,
                                       std::int64_t chunk_length) {
  const auto inputs = static_cast<std::int64_t>(series.size()) - 1;
  model.eval();  // dropout off
  NoGradGuard no_grad;  // no graph: nothing to detach, memory stays at one chunk
  nn::LSTMState state;
  std::vector<float> predictions;
  predictions.reserve(static_cast<std::size_t>(inputs));
  for (std::int64_t start = 0; start < inputs; start += chunk_length) {
    const std::int64_t length = std::min(chunk_length, inputs - start);
    const std::vector<float> chunk(series.begin() + start, series.begin() + start + length);
    NextValueModel::Output out = model.forward(Tensor::from_vector(chunk, {1, length, 1}), state);
    state = out.state;
    const std::vector<float> values = out.prediction.to_vector();
    predictions.insert(predictions.end(), values.begin(), values.end());
  }
  return predictions;
}

namespace {

void check_config(const StackedLSTMConfig& c) {
  auto positive = [](const char* name, std::int64_t value) {
    if (value < 1) {
      throw std::invalid_argument(std::string(name) + " must be >= 1, got " + std::to_string(value));
    }
  };
  positive("hidden_size", c.hidden_size);
  positive("num_layers", c.num_layers);
  positive("chunk_length", c.chunk_length);
  positive("streams", c.streams);
  positive("epochs", c.epochs);
  if (!(c.test_fraction > 0.0f && c.test_fraction < 1.0f)) {
    throw std::invalid_argument("test_fraction must be in (0, 1), got " +
                                std::to_string(c.test_fraction));
  }
  if (!(c.dropout >= 0.0f && c.dropout < 1.0f)) {
    throw std::invalid_argument("dropout must be in [0, 1), got " + std::to_string(c.dropout));
  }
  if (!(std::isfinite(c.lr) && c.lr > 0.0f)) {
    throw std::invalid_argument("lr must be finite and > 0, got " + std::to_string(c.lr));
  }
  if (!(std::isfinite(c.noise_std) && c.noise_std >= 0.0f)) {
    throw std::invalid_argument("noise_std must be finite and >= 0, got " +
                                std::to_string(c.noise_std));
  }
  check_resume_options(c.resume, "stacked_lstm");
  if (!(c.max_grad_norm > 0.0f)) {
    throw std::invalid_argument("max_grad_norm must be > 0, got " + std::to_string(c.max_grad_norm));
  }
}

}  // namespace

std::int64_t stacked_lstm_test_length(const StackedLSTMConfig& config) {
  const std::int64_t n = config.points;
  const auto test_length = static_cast<std::int64_t>(
      std::lround(static_cast<double>(n) * static_cast<double>(config.test_fraction)));
  const std::int64_t stream_length = (n - test_length - 1) / std::max<std::int64_t>(config.streams, 1);
  if (stream_length < 2 || test_length < 1) {
    throw std::invalid_argument(
        std::to_string(n) + " points with test_fraction " + std::to_string(config.test_fraction) +
        " leave too little training series for " + std::to_string(config.streams) +
        " streams of at least 2 steps, or no held-out point");
  }
  return test_length;
}

StackedLSTMResult train_stacked_lstm(const StackedLSTMConfig& config) {
  check_config(config);
  Generator gen(config.seed);
  StackedLSTMResult result;
  result.series = two_sines_series(config.points, config.noise_std, gen);
  const std::vector<float>& series = result.series;
  const std::int64_t n = config.points;
  result.test_start = n - stacked_lstm_test_length(config);
  // Training pairs (series[t], series[t + 1]) with t + 1 < test_start, cut into `streams`
  // contiguous streams of equal length: inputs and targets [streams, stream_length, 1].
  const std::int64_t stream_length = (result.test_start - 1) / config.streams;
  std::vector<float> inputs, targets;
  for (std::int64_t s = 0; s < config.streams; ++s) {
    const auto first = series.begin() + s * stream_length;
    inputs.insert(inputs.end(), first, first + stream_length);
    targets.insert(targets.end(), first + 1, first + stream_length + 1);
  }
  const Shape stream_shape{config.streams, stream_length, 1};
  const Tensor stream_inputs = Tensor::from_vector(inputs, stream_shape);
  const Tensor stream_targets = Tensor::from_vector(targets, stream_shape);

  NextValueModel model({.hidden_size = config.hidden_size, .num_layers = config.num_layers,
                        .dropout = config.dropout},
                       gen);
  result.num_parameters = model.num_parameters();
  const std::vector<Tensor> parameters = model.parameters();
  optim::Adam adam(parameters, {.lr = config.lr});

  // The loop's position and carried values, all in the training checkpoint: a run stopped after
  // any chunk continues from exactly here.
  std::int64_t epoch = 1, next_start = 0, step = 0;
  double loss_sum = 0.0;
  nn::LSTMState state;     // every epoch starts each stream from zeros
  Tensor finished_losses;  // result.epoch_losses so far, [epochs done]
  optim::TrainingCheckpoint checkpoint;
  checkpoint.add_module("model", model)
      .add_optimizer("adam", adam)
      .add_integer("epoch", epoch)
      .add_integer("next_start", next_start)
      .add_integer("step", step)
      .add_real("loss_sum", loss_sum)
      .add_tensor("h", state.h)
      .add_tensor("c", state.c)
      .add_tensor("epoch_losses", finished_losses);
  if (config.resume.resume) {
    checkpoint.load(config.resume.checkpoint);
    result.epoch_losses = from_entry(finished_losses);
    if (epoch < 1 || next_start < 0 || next_start > stream_length || step < 0 ||
        static_cast<std::int64_t>(result.epoch_losses.size()) != epoch - 1) {
      throw std::invalid_argument("checkpoint " + config.resume.checkpoint +
                                  " holds a loop position this run cannot continue from");
    }
    result.resumed_at_step = step;
    if (config.log) {
      *config.log << "resumed from " << config.resume.checkpoint << " at epoch " << epoch
                  << ", step " << step << std::endl;
    }
  }

  for (; epoch <= config.epochs; ++epoch, next_start = 0, loss_sum = 0.0, state = {}) {
    model.train();
    for (std::int64_t start = next_start; start < stream_length; start += config.chunk_length) {
      const std::int64_t end = std::min(start + config.chunk_length, stream_length);
      // Truncated BPTT: keep the state's values but cut its history. Without detach() this
      // chunk's backward would run back through every earlier chunk of the epoch, so memory and
      // time per step would grow with the position in the series (and the earlier chunks'
      // graphs, already freed by their own backward, could not be walked again). Detached, the
      // gradient spans at most chunk_length steps, while the state still carries what the
      // earlier chunks saw into the forward pass.
      if (state.h.defined()) state = state.detach();
      NextValueModel::Output out = model.forward(slice(stream_inputs, 1, start, end), state);
      state = out.state;
      Tensor loss = mse_loss(out.prediction, slice(stream_targets, 1, start, end));
      const float loss_value = loss.item();
      require_finite_loss(loss_value,
                          {.epoch = epoch, .step = start / config.chunk_length + 1});
      adam.zero_grad();
      loss.backward();
      optim::clip_grad_norm_(parameters, config.max_grad_norm);
      adam.step();
      loss_sum += static_cast<double>(loss_value) * static_cast<double>(end - start);
      next_start = end;
      ++step;
      const AfterStep action = after_step(config.resume, step);
      if (action.save) {
        // The next chunk detaches the state first; detached now, the saved values are the same.
        state = state.detach();
        finished_losses = to_entry(result.epoch_losses);
        checkpoint.save(config.resume.checkpoint);
      }
      if (action.stop) {
        result.steps = step;
        result.stopped = true;
        return result;
      }
    }
    result.epoch_losses.push_back(static_cast<float>(loss_sum / static_cast<double>(stream_length)));
    if (config.log) {
      *config.log << "epoch " << std::setw(3) << epoch << "/" << config.epochs << "  train MSE "
                  << std::scientific << std::setprecision(3) << result.epoch_losses.back()
                  << std::defaultfloat << std::endl;
    }
  }
  result.steps = step;

  // The whole series, so the state has seen everything before the tail when the tail starts.
  const std::vector<float> predictions = predict_next_values(model, series, config.chunk_length);
  double model_sq = 0.0, naive_sq = 0.0;
  for (std::int64_t t = result.test_start; t < n; ++t) {
    const double truth = series[static_cast<std::size_t>(t)];
    const double predicted = predictions[static_cast<std::size_t>(t - 1)];
    const double previous = series[static_cast<std::size_t>(t - 1)];
    model_sq += (predicted - truth) * (predicted - truth);
    naive_sq += (previous - truth) * (previous - truth);
    result.tail_prediction.push_back(static_cast<float>(predicted));
  }
  const auto tail = static_cast<double>(n - result.test_start);
  result.test_mse = static_cast<float>(model_sq / tail);
  result.naive_mse = static_cast<float>(naive_sq / tail);
  require_finite_loss(result.test_mse, {.phase = "held-out evaluation (after the last epoch)"});
  return result;
}

}  // namespace examples
