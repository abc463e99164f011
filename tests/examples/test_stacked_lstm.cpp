// The stacked-LSTM example (examples/support/stacked_lstm.h): what state.detach() does to
// truncated BPTT, chunked evaluation, the series, and a small training run that must beat the
// naive last-value forecast on the held-out tail.
#include <catch2/catch.hpp>

#include <cmath>
#include <filesystem>
#include <numbers>

#include "autograd/grad_mode.h"
#include "ops/losses.h"
#include "ops/ops.h"
#include "example_process.h"
#include "support/loss_guard.h"
#include "support/stacked_lstm.h"
#include "test_util.h"

using namespace tapegrad;

namespace {

std::vector<Tensor> grads_of(const nn::Module& model) {
  std::vector<Tensor> grads;
  for (const Tensor& p : model.parameters()) {
    REQUIRE(p.grad().defined());
    grads.push_back(p.grad().clone());
  }
  return grads;
}

}  // namespace

TEST_CASE("stacked_lstm: a detached state carries values but no gradient into the previous chunk") {
  Generator gen(5);
  // No dropout, so the runs below see identical computations.
  examples::NextValueModel model({.hidden_size = 4, .num_layers = 2, .dropout = 0.0f}, gen);
  Tensor chunk1 = Tensor::uniform({2, 5, 1}, -1.0f, 1.0f, gen, /*requires_grad=*/true);
  const Tensor chunk2 = Tensor::uniform({2, 4, 1}, -1.0f, 1.0f, gen);
  const Tensor target2 = Tensor::uniform({2, 4, 1}, -1.0f, 1.0f, gen);

  // Truncated BPTT: chunk 2 starts from chunk 1's state, detached.
  model.zero_grad();
  const examples::NextValueModel::Output out1 = model.forward(chunk1);
  const nn::LSTMState carried = out1.state.detach();
  REQUIRE(out1.state.h.requires_grad());
  REQUIRE_FALSE(carried.h.requires_grad());
  REQUIRE_FALSE(carried.c.requires_grad());
  REQUIRE(carried.h.grad_fn() == nullptr);
  REQUIRE_ALL_CLOSE(carried.h, out1.state.h, 0.0, 0.0);  // the same values
  REQUIRE_ALL_CLOSE(carried.c, out1.state.c, 0.0, 0.0);
  mse_loss(model.forward(chunk2, carried).prediction, target2).backward();
  const std::vector<Tensor> truncated = grads_of(model);
  REQUIRE_FALSE(chunk1.grad().defined());  // nothing reached chunk 1
  // Chunk 1's graph was not walked (nor freed) by chunk 2's backward: it can still run its own.
  REQUIRE_NOTHROW(sum(out1.prediction).backward());
  REQUIRE(chunk1.grad().defined());

  // A fresh run from a constant state holding the same numbers gives the same parameter grads:
  // the detached state acted as a plain input.
  model.zero_grad();
  const nn::LSTMState constant{Tensor::from_vector(out1.state.h.to_vector(), out1.state.h.shape()),
                               Tensor::from_vector(out1.state.c.to_vector(), out1.state.c.shape())};
  mse_loss(model.forward(chunk2, constant).prediction, target2).backward();
  const std::vector<Tensor> fresh = grads_of(model);
  for (std::size_t i = 0; i < fresh.size(); ++i) REQUIRE_ALL_CLOSE(truncated[i], fresh[i], 1e-6, 1e-7);

  // Without detach the gradient also flows back through chunk 1, into chunk 1's input and into
  // the parameters' chunk-1 uses: different grads. (This is what the comparison above rules out.)
  model.zero_grad();
  chunk1.zero_grad();
  const examples::NextValueModel::Output attached = model.forward(chunk1);
  mse_loss(model.forward(chunk2, attached.state).prediction, target2).backward();
  REQUIRE(chunk1.grad().defined());
  const std::vector<Tensor> full = grads_of(model);
  bool any_differs = false;
  for (std::size_t i = 0; i < full.size(); ++i) any_differs |= !testing::all_close(full[i], fresh[i], 1e-4, 1e-6);
  REQUIRE(any_differs);
}

TEST_CASE("stacked_lstm: chunked evaluation with the state carried equals one pass") {
  Generator gen(9);
  examples::NextValueModel model({.hidden_size = 6, .num_layers = 2, .dropout = 0.2f}, gen);
  const std::vector<float> series = examples::two_sines_series(37, 0.1f, gen);
  const std::vector<float> chunked = examples::predict_next_values(model, series, 5);
  const std::vector<float> whole = examples::predict_next_values(model, series, 1000);
  REQUIRE(chunked.size() == 36);
  REQUIRE(!model.is_training());  // eval mode: dropout off, so the two runs are comparable
  const Tensor a = Tensor::from_vector(chunked, {36});
  const Tensor b = Tensor::from_vector(whole, {36});
  REQUIRE_ALL_CLOSE(a, b, 1e-5, 1e-6);
  // Restarting every chunk from zeros instead would change the predictions after the first chunk.
  std::vector<float> restarted;
  for (std::size_t start = 0; start < 36; start += 5) {
    const std::size_t end = std::min<std::size_t>(start + 5, 36);
    std::vector<float> piece(series.begin() + static_cast<std::ptrdiff_t>(start),
                             series.begin() + static_cast<std::ptrdiff_t>(end + 1));
    const auto p = examples::predict_next_values(model, piece, 1000);
    restarted.insert(restarted.end(), p.begin(), p.end());
  }
  REQUIRE_FALSE(testing::all_close(Tensor::from_vector(restarted, {36}), b, 1e-4, 1e-6));
}

TEST_CASE("stacked_lstm: the series is two sines plus seeded noise") {
  Generator clean_gen(1);
  const auto clean = examples::two_sines_series(60, 0.0f, clean_gen);
  const double two_pi = 2.0 * std::numbers::pi;
  for (int t : {0, 7, 25, 59}) {
    const double expected = std::sin(two_pi * t / 50.0) + 0.5 * std::sin(two_pi * t / 23.0);
    REQUIRE(clean[static_cast<std::size_t>(t)] == Approx(expected).margin(1e-6));
  }
  Generator a(2), b(2);
  const auto noisy_a = examples::two_sines_series(500, 0.1f, a);
  const auto noisy_b = examples::two_sines_series(500, 0.1f, b);
  REQUIRE(noisy_a == noisy_b);
  double noise_power = 0.0;
  for (std::size_t t = 0; t < 500; ++t) {
    const double residual = noisy_a[t] - (std::sin(two_pi * static_cast<double>(t) / 50.0) +
                                          0.5 * std::sin(two_pi * static_cast<double>(t) / 23.0));
    noise_power += residual * residual / 500.0;
  }
  REQUIRE(noise_power == Approx(0.01).epsilon(0.2));  // noise_std^2, within sampling error
}

TEST_CASE("stacked_lstm: truncated BPTT training beats the last-value forecast on the tail") {
  // Small and fast; across seeds 0-2 the held-out MSE was 0.59-0.65 of the naive forecast's.
  examples::StackedLSTMConfig config;
  config.points = 2000;
  config.hidden_size = 16;
  config.num_layers = 2;
  config.dropout = 0.2f;
  config.chunk_length = 50;
  config.streams = 4;
  config.epochs = 15;
  config.seed = 0;
  const examples::StackedLSTMResult result = examples::train_stacked_lstm(config);

  REQUIRE(result.epoch_losses.size() == 15);
  CHECK(result.epoch_losses.back() < 0.2f * result.epoch_losses.front());
  REQUIRE(result.test_start == 1600);
  REQUIRE(result.tail_prediction.size() == 400);
  // The naive forecast's error is the one-step change: about 2 noise variances plus the clean
  // signal's change, ~0.036 here. A model that learned the signal gets near one noise variance.
  CHECK(result.naive_mse == Approx(0.036).epsilon(0.15));
  CHECK(std::isfinite(result.test_mse));
  CHECK(result.test_mse < 0.85f * result.naive_mse);
  CHECK(result.test_mse > 0.5f * 0.01f);  // not below what the noise allows: no peeking ahead
}

TEST_CASE("stacked_lstm: bad configurations are refused") {
  examples::StackedLSTMConfig config;
  config.chunk_length = 0;
  REQUIRE_THROWS_WITH(examples::train_stacked_lstm(config), Catch::Contains("chunk_length"));
  config.chunk_length = 50;
  config.points = 20;
  config.streams = 8;
  REQUIRE_THROWS_WITH(examples::train_stacked_lstm(config), Catch::Contains("streams"));
  config = {};
  config.noise_std = -1.0f;
  REQUIRE_THROWS_WITH(examples::train_stacked_lstm(config), Catch::Contains("noise_std"));
  config.noise_std = 0.1f;
  config.lr = INFINITY;
  REQUIRE_THROWS_WITH(examples::train_stacked_lstm(config), Catch::Contains("lr"));
}

TEST_CASE("stacked_lstm: a non-finite chunk loss stops training, naming epoch and chunk") {
  examples::StackedLSTMConfig config;
  config.points = 120;
  config.hidden_size = 4;
  config.chunk_length = 10;
  config.streams = 2;
  config.epochs = 3;
  config.lr = 1e30f;
  REQUIRE_THROWS_AS(examples::train_stacked_lstm(config), examples::NonFiniteLossError);
  REQUIRE_THROWS_WITH(examples::train_stacked_lstm(config),
                      Catch::Matches("non-finite training loss .* at epoch [0-9]+, step [0-9]+;.*"));
}

namespace {

examples::StackedLSTMConfig small_resumable_config(const std::string& checkpoint) {
  examples::StackedLSTMConfig config;
  config.points = 300;
  config.hidden_size = 4;
  config.num_layers = 2;
  config.dropout = 0.3f;  // masks drawn every chunk: a resume must restore their generator
  config.chunk_length = 10;
  config.streams = 2;  // (300 - 60 - 1) / 2 = 119 steps per stream: 12 chunks per epoch
  config.epochs = 3;
  config.seed = 4;
  config.resume.checkpoint = checkpoint;
  return config;
}

void require_same_run(const examples::StackedLSTMResult& a, const examples::StackedLSTMResult& b) {
  REQUIRE(a.epoch_losses == b.epoch_losses);
  REQUIRE(a.tail_prediction == b.tail_prediction);
  REQUIRE(a.test_mse == b.test_mse);
  REQUIRE(a.steps == b.steps);
}

}  // namespace

TEST_CASE("stacked_lstm: a run stopped at chosen steps and resumed ends bit-identical") {
  const examples::testing::ScratchDir scratch;
  const std::string checkpoint = (scratch.path() / "state.safetensors").string();
  examples::StackedLSTMConfig config = small_resumable_config("");
  const examples::StackedLSTMResult uninterrupted = examples::train_stacked_lstm(config);
  REQUIRE(uninterrupted.steps == 36);
  REQUIRE(!uninterrupted.stopped);

  // Stopped mid-epoch (step 7 of 12), then in the next epoch (step 17), then run to the end:
  // each stop carries (h, c), the epoch's running loss and the dropout generator across.
  config = small_resumable_config(checkpoint);
  config.resume.max_steps = 7;
  const examples::StackedLSTMResult first = examples::train_stacked_lstm(config);
  REQUIRE(first.stopped);
  REQUIRE(first.steps == 7);
  REQUIRE(std::filesystem::is_regular_file(checkpoint));
  config.resume.resume = true;
  config.resume.max_steps = 17;
  const examples::StackedLSTMResult second = examples::train_stacked_lstm(config);
  REQUIRE(second.resumed_at_step == 7);
  REQUIRE(second.stopped);
  config.resume.max_steps = 0;
  config.resume.every = 5;  // saving on a schedule changes nothing either
  const examples::StackedLSTMResult resumed = examples::train_stacked_lstm(config);
  REQUIRE(resumed.resumed_at_step == 17);
  REQUIRE(!resumed.stopped);
  require_same_run(resumed, uninterrupted);

  // Without the dropout generator's state the continuation differs: the test can tell.
  examples::StackedLSTMConfig no_dropout = small_resumable_config("");
  no_dropout.dropout = 0.0f;
  REQUIRE(examples::train_stacked_lstm(no_dropout).epoch_losses != uninterrupted.epoch_losses);
}

TEST_CASE("stacked_lstm: resuming from another model's checkpoint is refused") {
  const examples::testing::ScratchDir scratch;
  const std::string checkpoint = (scratch.path() / "state.safetensors").string();
  examples::StackedLSTMConfig config = small_resumable_config(checkpoint);
  config.resume.max_steps = 3;
  examples::train_stacked_lstm(config);
  config.hidden_size = 5;
  config.resume.max_steps = 0;
  config.resume.resume = true;
  REQUIRE_THROWS_AS(examples::train_stacked_lstm(config), ShapeError);
  REQUIRE_THROWS_WITH(examples::train_stacked_lstm(config),
                      Catch::Contains("module \"model\"") && Catch::Contains("shape mismatches"));
  config.hidden_size = 4;
  config.resume.checkpoint = (scratch.path() / "missing.safetensors").string();
  REQUIRE_THROWS_WITH(examples::train_stacked_lstm(config), Catch::Contains("missing.safetensors"));
  config.resume.checkpoint.clear();
  REQUIRE_THROWS_WITH(examples::train_stacked_lstm(config),
                      Catch::Contains("stacked_lstm: resume and a checkpoint schedule need a checkpoint path"));
}
