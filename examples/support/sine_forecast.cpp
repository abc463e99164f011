#include "sine_forecast.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <stdexcept>

#include "autograd/grad_mode.h"
#include "data/sequences.h"
#include "nn/rnn.h"
#include "nn/serialize.h"
#include "ops/ops.h"
#include "optim/adam.h"
#include "optim/training_checkpoint.h"
#include "loss_guard.h"

namespace examples {

using namespace tapegrad;

Forecaster::Forecaster(const std::string& cell, std::int64_t hidden, std::int64_t layers,
                       Generator& gen, float dropout) {
  // "rnn" is the tanh RNN; any other name is a registered cell (nn::registered_cells()).
  const std::string registered = cell == "rnn" ? "rnn_tanh" : cell;
  const std::vector<std::string> known = nn::registered_cells();
  if (std::find(known.begin(), known.end(), registered) == known.end()) {
    std::string others;
    for (const std::string& name : known) others += ", " + name;
    throw std::invalid_argument("cell must be lstm, gru or rnn (or a registered cell: rnn" +
                                others + "), got \"" + cell + "\"");
  }
  rnn_ = &register_module(
      "rnn", nn::make_recurrent(registered,
                                {.input_size = 1, .hidden_size = hidden, .num_layers = layers,
                                 .batch_first = true, .dropout = dropout},
                                gen));
  head_ = &register_module("head", nn::Linear({.in_features = hidden, .out_features = 1}, gen));
}

Tensor Forecaster::forward(const Tensor& x) const {
  Tensor output = rnn_->forward(x).output;
  return head_->forward(select(output, 1, -1));
}

namespace {

void check_config(const SineConfig& c) {
  auto at_least = [](const char* name, std::int64_t value, std::int64_t min) {
    if (value < min) {
      throw std::invalid_argument("train_sine: " + std::string(name) + " must be >= " +
                                  std::to_string(min) + ", got " + std::to_string(value));
    }
  };
  at_least("points", c.points, 2);
  at_least("seq_length", c.seq_length, 1);
  at_least("hidden", c.hidden, 1);
  at_least("layers", c.layers, 1);
  at_least("epochs", c.epochs, 1);  // the result reports the last epoch's loss
  if (c.seq_length >= c.points) {
    throw std::invalid_argument("train_sine: seq_length must be < points (" +
                                std::to_string(c.points) + "), got " + std::to_string(c.seq_length));
  }
  if (!(std::isfinite(c.lr) && c.lr > 0.0f)) {
    throw std::invalid_argument("train_sine: lr must be finite and > 0, got " + std::to_string(c.lr));
  }
  check_resume_options(c.resume, "train_sine");
}

}  // namespace

SineResult train_sine(const SineConfig& config,
                      const std::function<void(std::int64_t, float, double)>& on_epoch,
                      const std::string& save_path) {
  check_config(config);
  // Training and the evaluation after it; restored when train_sine returns or throws.
  const MatmulPrecisionGuard precision_guard(config.matmul_precision);
  std::vector<float> series(static_cast<std::size_t>(config.points));
  for (std::int64_t i = 0; i < config.points; ++i) {
    // torch.sin(torch.linspace(0, 100, points)), as the tutorial
    series[static_cast<std::size_t>(i)] =
        std::sin(100.0f * static_cast<float>(i) / static_cast<float>(config.points - 1));
  }
  auto [inputs, targets] = data::create_sequences(series, config.seq_length);  // [N, L, 1], [N, 1]

  // With torch_rng the model (recurrent layer, then head, as in the PyTorch tutorial) starts from
  // the weights torch.manual_seed(seed) gives PyTorch's.
  Generator gen = config.torch_rng ? Generator::torch(config.seed) : Generator(config.seed);
  Forecaster model(config.cell, config.hidden, config.layers, gen);
  if (!config.init_path.empty()) nn::load(model, config.init_path);
  optim::Adam adam(model.parameters(), {.lr = config.lr});

  SineResult result;
  result.num_parameters = model.num_parameters();
  const auto start = std::chrono::steady_clock::now();
  auto seconds = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  };
  std::int64_t epochs_done = 0;
  Tensor losses_entry;  // result.losses, for the checkpoint
  // The products' precision changes every step's numbers, so a run resumes only at its own.
  std::int64_t bfloat16_products = config.matmul_precision == MatmulPrecision::bfloat16;
  optim::TrainingCheckpoint checkpoint;
  checkpoint.add_module("model", model)
      .add_optimizer("adam", adam)
      .add_integer("epochs_done", epochs_done)
      .add_tensor("losses", losses_entry)
      .add_integer("bfloat16_products", bfloat16_products);
  if (config.resume.resume) {
    checkpoint.load(config.resume.checkpoint);
    if (bfloat16_products != 0 && bfloat16_products != 1) {
      throw std::invalid_argument("train_sine: checkpoint " + config.resume.checkpoint +
                                  " holds bfloat16_products = " +
                                  std::to_string(bfloat16_products) + ", expected 0 or 1");
    }
    const auto named = [](std::int64_t bf16) { return bf16 != 0 ? "bfloat16" : "float32"; };
    const std::int64_t asked = config.matmul_precision == MatmulPrecision::bfloat16;
    if (bfloat16_products != asked) {
      throw std::invalid_argument("train_sine: checkpoint " + config.resume.checkpoint +
                                  " was trained with matmul precision " +
                                  named(bfloat16_products) + ", this run asks for " +
                                  named(asked) + "; resume it with --matmul-precision " +
                                  named(bfloat16_products));
    }
    result.losses = from_entry(losses_entry);
    if (epochs_done < 0 || static_cast<std::int64_t>(result.losses.size()) != epochs_done) {
      throw std::invalid_argument("train_sine: checkpoint " + config.resume.checkpoint +
                                  " holds " + std::to_string(result.losses.size()) +
                                  " losses for " + std::to_string(epochs_done) + " epochs");
    }
    result.resumed_at_epoch = epochs_done;
  }
  model.train();
  for (std::int64_t epoch = epochs_done + 1; epoch <= config.epochs; ++epoch) {
    adam.zero_grad();
    Tensor loss = mse_loss(model.forward(inputs), targets);
    const float loss_value = loss.item();
    require_finite_loss(loss_value, {.epoch = epoch});  // before the step can spread it
    loss.backward();
    adam.step();
    result.losses.push_back(loss_value);
    epochs_done = epoch;
    if (on_epoch) on_epoch(epoch, result.losses.back(), seconds());
    const AfterStep action = after_step(config.resume, epoch);
    if (action.save) {
      losses_entry = to_entry(result.losses);
      checkpoint.save(config.resume.checkpoint);
    }
    if (action.stop) {
      result.stopped = true;
      result.train_seconds = seconds();
      return result;
    }
  }
  result.train_seconds = seconds();

  model.eval();
  NoGradGuard no_grad;
  Tensor predictions = model.forward(inputs);
  result.eval_mse = mse_loss(predictions, targets).item();
  require_finite_loss(result.eval_mse, {.phase = "evaluation (after the last epoch)"});
  result.truth = targets.to_vector();
  result.predictions = predictions.to_vector();
  if (!save_path.empty()) nn::save(model, save_path);
  return result;
}

}  // namespace examples
