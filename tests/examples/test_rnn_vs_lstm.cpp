// examples/rnn_vs_lstm (GradProbe itself is tested in tests/autograd/test_hooks.cpp): the
// step-by-step run computes what the layer computes; dL/dh_t from the probe matches an analytic
// value, a cut-graph leaf and finite differences; gate statistics read the right gate; and, the
// experiment itself, an LSTM learns the adding problem at a lag where a plain RNN cannot, while
// the gradient reaching early hidden states vanishes for the RNN and not for the LSTM.
#include <algorithm>
#include <cmath>
#include <iomanip>
#include <memory>
#include <optional>
#include <sstream>

#include "autograd/grad_mode.h"
#include "autograd/grad_probe.h"
#include "ops/ops.h"
#include "support/loss_guard.h"
#include "support/rnn_vs_lstm.h"
#include "test_util.h"

using namespace tapegrad;
namespace lag = examples::lag;

namespace {

lag::TaskSpec small_spec(lag::Task task) {
  return {.task = task, .lag = 5, .copy_symbols = 3, .copy_length = 2, .sine_context = 4};
}

}  // namespace

// ---------------------------------------------------------------- model and measurements

TEST_CASE("rnn_vs_lstm: the step-by-step cell run reproduces the layer's predictions",
          "[examples][rnn_vs_lstm]") {
  for (lag::Task task : {lag::Task::Adding, lag::Task::Copy, lag::Task::Sine}) {
    for (const char* cell : {"rnn", "lstm", "gru"}) {
      INFO(lag::task_name(task) << " " << cell);
      const lag::TaskSpec spec = small_spec(task);
      Generator gen(11);
      lag::LagModel model(cell, spec.input_size(), 6, spec.output_size(), spec.per_step_output(), gen);
      const lag::Batch batch = lag::make_batch(spec, 4, gen);
      REQUIRE(batch.inputs.shape() == Shape{4, spec.sequence_length(), spec.input_size()});
      NoGradGuard no_grad;
      Tensor layer = model.forward(batch.inputs);
      Tensor stepwise = model.forward_stepwise(batch.inputs, {});
      REQUIRE(layer.shape() == (spec.per_step_output()
                                    ? Shape{4, spec.sequence_length(), spec.output_size()}
                                    : Shape{4, 1}));
      REQUIRE_ALL_CLOSE(stepwise, layer, 1e-4, 1e-5);
    }
  }
}

TEST_CASE("rnn_vs_lstm: dL/dh_T-1 from the probe equals the analytic 2/B (prediction - y) W",
          "[examples][rnn_vs_lstm]") {
  // For the sequence-to-one MSE, L = mean_b (W h_b + b - y_b)^2, so dL/dh_b = 2/B (pred_b - y_b) W.
  const lag::TaskSpec spec = small_spec(lag::Task::Adding);
  for (const char* cell : {"rnn", "lstm", "gru"}) {
    INFO(cell);
    Generator gen(5);
    lag::LagModel model(cell, 2, 6, 1, false, gen);
    const lag::Batch batch = lag::make_batch(spec, 3, gen);
    const std::vector<float> norms = lag::hidden_grad_norms(model, batch);
    REQUIRE(norms.size() == static_cast<std::size_t>(spec.sequence_length()));
    Tensor prediction = model.forward(batch.inputs);
    const auto named = model.named_parameters();
    const Tensor head_weight =
        std::find_if(named.begin(), named.end(), [](auto& p) { return p.first == "head.weight"; })->second;
    double squares = 0.0;
    for (std::int64_t b = 0; b < 3; ++b) {
      const double residual = prediction.data()[b] - batch.targets.data()[b];
      for (std::int64_t j = 0; j < 6; ++j) {
        const double g = 2.0 / 3.0 * residual * head_weight.data()[j];
        squares += g * g;
      }
    }
    REQUIRE(norms.back() == Approx(std::sqrt(squares)).epsilon(1e-4));
    for (float norm : norms) REQUIRE(norm > 0.0f);
  }
}

TEST_CASE("rnn_vs_lstm: the probed dL/dh_t equals a cut-graph leaf's grad and finite differences",
          "[examples][rnn_vs_lstm]") {
  for (lag::Task task : {lag::Task::Adding, lag::Task::Copy}) {
    for (const char* cell : {"rnn", "lstm", "gru"}) {
      INFO(lag::task_name(task) << " " << cell);
      const lag::TaskSpec spec = small_spec(task);
      Generator gen(21);
      lag::LagModel model(cell, spec.input_size(), 5, spec.output_size(), spec.per_step_output(), gen);
      const lag::Batch batch = lag::make_batch(spec, 3, gen);
      const std::int64_t probed_step = 2;

      std::optional<GradProbe> probe;
      lag::task_loss(batch, model.forward_stepwise(batch.inputs, [&](std::int64_t t, const Tensor& h) {
        if (t == probed_step) probe.emplace(h);
        return h;
      })).backward();
      REQUIRE(probe);
      const Tensor probed = probe->grad();

      // Independent method 1: make h_t a leaf, so its .grad is dL/dh_t.
      Tensor leaf;
      lag::task_loss(batch, model.forward_stepwise(batch.inputs, [&](std::int64_t t, const Tensor& h) {
        if (t != probed_step) return h;
        leaf = h.detach().requires_grad_();
        return leaf;
      })).backward();
      REQUIRE_ALL_CLOSE(probed, leaf.grad(), 1e-5, 1e-7);

      // Independent method 2: central differences of the loss in each element of h_t.
      const float eps = 1e-2f;
      auto loss_with_offset = [&](std::int64_t element, float offset) {
        NoGradGuard no_grad;
        Tensor prediction = model.forward_stepwise(batch.inputs, [&](std::int64_t t, const Tensor& h) {
          if (t != probed_step) return h;
          Tensor shifted = h.clone();
          shifted.data()[element] += offset;
          return shifted;
        });
        return static_cast<double>(lag::task_loss(batch, prediction).item());
      };
      for (std::int64_t element = 0; element < probed.numel(); ++element) {
        const double numeric = (loss_with_offset(element, eps) - loss_with_offset(element, -eps)) / (2.0 * eps);
        INFO("element " << element);
        REQUIRE(probed.data()[element] == Approx(numeric).margin(2e-4).epsilon(2e-2));
      }
    }
  }
}

TEST_CASE("rnn_vs_lstm: gate_saturation reads the input, forget and output gates in PyTorch order",
          "[examples][rnn_vs_lstm]") {
  const lag::TaskSpec spec = small_spec(lag::Task::Sine);
  Generator gen(8);
  lag::LagModel lstm("lstm", 1, 4, 1, false, gen);
  lag::LagModel rnn("rnn", 1, 4, 1, false, gen);
  const lag::Batch batch = lag::make_batch(spec, 8, gen);
  REQUIRE(lag::gate_saturation(rnn, batch).empty());
  {
    // Gate order i, f, g, o: push i far below 0, f far above, leave o alone.
    NoGradGuard no_grad;
    Tensor bias = lstm.layer_parameter("bias_ih_l0");
    for (std::int64_t j = 0; j < 4; ++j) {
      bias.data()[j] = -30.0f;
      bias.data()[4 + j] = 30.0f;
    }
  }
  const auto gates = lag::gate_saturation(lstm, batch);
  REQUIRE(gates.size() == 3);
  REQUIRE(gates[0].gate == "input");
  REQUIRE(gates[0].below == 1.0);
  REQUIRE(gates[1].gate == "forget");
  REQUIRE(gates[1].above == 1.0);
  REQUIRE(gates[2].gate == "output");
  REQUIRE(gates[2].saturated() < 0.5);
  REQUIRE(gates[2].mean > 0.05);
  REQUIRE(gates[2].mean < 0.95);
}

TEST_CASE("rnn_vs_lstm: copy-task accuracy counts only the copied symbols", "[examples][rnn_vs_lstm]") {
  const lag::TaskSpec spec = small_spec(lag::Task::Copy);  // S = 2, K = 3, T = 2 S + 5 + 1 = 10
  Generator gen(2);
  const lag::Batch batch = lag::make_batch(spec, 4, gen);
  const std::int64_t N = 4, T = spec.sequence_length(), C = spec.output_size();
  REQUIRE(batch.baseline == Approx(2.0 * std::log(3.0) / static_cast<double>(T)));
  // Logits that pick the target on the copied steps and a wrong class everywhere else.
  Tensor logits = Tensor::zeros({N, T, C});
  for (std::int64_t i = 0; i < N * T; ++i) {
    const std::int64_t target = batch.classes[static_cast<std::size_t>(i)];
    const bool copied = i % T >= T - 2;
    logits.data()[i * C + (copied ? target : (target + 1) % C)] = 5.0f;
  }
  REQUIRE(lag::copy_accuracy(batch, logits) == 1.0);
  // One copied symbol wrong out of N * S = 8.
  const std::int64_t last = T - 1, wrong = (batch.classes[static_cast<std::size_t>(last)] + 1) % C;
  logits.data()[last * C + wrong] = 10.0f;
  REQUIRE(lag::copy_accuracy(batch, logits) == Approx(7.0 / 8.0));

  lag::LagModel model("gru", spec.input_size(), 4, C, true, gen);
  const lag::Evaluation eval = lag::evaluate(model, batch);
  REQUIRE(eval.accuracy >= 0.0);
  REQUIRE(eval.accuracy <= 1.0);
  REQUIRE(std::isfinite(eval.loss));
}

// ---------------------------------------------------------------- the experiment

TEST_CASE("rnn_vs_lstm: at T = 50 the LSTM learns the adding problem, the RNN does not, and its "
          "gradient vanishes towards early steps",
          "[examples][rnn_vs_lstm][training]") {
  // Same seed, budget (1500 steps of 32), Adam lr 0.01 and clipping at 1 for both. Seeds 0-7
  // with the current GEMM: LSTM ratios 0.003-0.010 (it leaves the 1/6 plateau after 800-1100
  // steps), RNN ratios 0.87-0.95. After training ||dL/dh_0|| / ||dL/dh_49|| was 0.017-0.097 for
  // the LSTM and 0 (underflow) to 2.5e-5 for the RNN in seven seeds; in seed 1 the trained RNN
  // sat where its gradient does not vanish (0.086) and still learned nothing. Which seeds do that
  // moves with rounding (an earlier GEMM had seed 1 at 6e-4), so learning is required of every
  // seed and the vanishing gradient of at least three of five: a 20x gap to the LSTM and a 10x
  // decay from t = 40 to t = 10 (seeds 0-4 give four now). Five seeds: ~1.2 s each.
  const lag::TaskSpec spec{.task = lag::Task::Adding, .lag = 50};
  int seeds_with_vanishing_rnn_gradient = 0;
  std::ostringstream gradient_ratios;  // per seed, for the message of the final check
  gradient_ratios << std::scientific << std::setprecision(2);
  for (std::uint64_t seed : {0u, 1u, 2u, 3u, 4u}) {
    lag::RunOptions options;
    options.hidden_size = 16;
    options.steps = 1500;
    options.batch_size = 32;
    options.lr = 0.01f;
    options.seed = seed;
    options.eval_size = 256;
    options.probe_size = 32;
    options.log_every = 100;
    const lag::RunResult rnn = lag::run_experiment(spec, "rnn", options);
    const lag::RunResult lstm = lag::run_experiment(spec, "lstm", options);
    INFO("seed " << seed << ": RNN MSE " << rnn.eval.loss << " (ratio " << rnn.ratio()
                 << "), LSTM MSE " << lstm.eval.loss << " (ratio " << lstm.ratio()
                 << "); gradient ratios first/last: RNN " << rnn.grad_ratio() << ", LSTM "
                 << lstm.grad_ratio());
    REQUIRE(rnn.baseline == Approx(1.0 / 6.0));
    REQUIRE(lstm.ratio() < 0.1);  // well below the baseline
    REQUIRE(rnn.ratio() > 0.75);  // near it
    REQUIRE(lstm.curve_steps.size() == 15);
    REQUIRE(lstm.curve_losses.back() < 0.1f * lstm.curve_losses.front());

    REQUIRE(rnn.grad_norms_trained.size() == 50);
    REQUIRE(lstm.grad_norms_trained.size() == 50);
    REQUIRE(lstm.grad_ratio() > 1e-3);  // the LSTM's whole sequence gets gradient, every seed
    // The RNN's decay is a trend, not noise: the first part of the sequence gets far less than
    // the last.
    gradient_ratios << " seed " << seed << ": RNN " << rnn.grad_ratio() << " LSTM "
                    << lstm.grad_ratio() << ";";
    if (rnn.grad_ratio() < 0.05 * lstm.grad_ratio() &&
        rnn.grad_norms_trained[10] < 0.1f * rnn.grad_norms_trained[40])
      ++seeds_with_vanishing_rnn_gradient;
  }
  INFO("first/last gradient ratios:" << gradient_ratios.str());
  REQUIRE(seeds_with_vanishing_rnn_gradient >= 3);
}

TEST_CASE("rnn_vs_lstm: at T = 100 an LSTM trained with bfloat16 products learns the adding "
          "problem as well as with float32",
          "[examples][rnn_vs_lstm][training][bf16]") {
  // Issue 10: the same final loss class as fp32 on the adding problem at T = 100. The cheapest
  // budget measured to learn it reliably: hidden 16, batches of 32, 2000 steps, Adam lr 0.02,
  // clipping at 1. At the example's lr 0.01 the LSTM leaves the 1/6 plateau only after 1400-2300
  // steps (seeds 0-7), so it needs 3000 (~2.6 s a run); at lr 0.02 it leaves after 1000-1600
  // steps (seeds 0-11, both precisions at the same step but for seed 6: 1100 vs 1300), so 2000
  // steps keep 400 in hand at ~2 s a run. Held-out ratios (MSE / baseline) after 2000 steps,
  // seeds 0-11, measured at 2750cdc (since then the two-feature input product and the head stay
  // float32; the step products, 32 x 16 x 64, still run in bf16): fp32 0.0021-0.0185, bf16 0.0015-0.0350; bf16 / fp32 0.53-4.0 (seed 0: 0.0052 vs
  // 0.0049, 0.94). The end point is noisy at this budget (fp32 alone spreads 9x over seeds; at
  // lr 0.03 one seed gave bf16 / fp32 = 7.4), so: both below 0.05, 20x under the baseline where
  // an unlearned run sits near 1, and bf16 within 10x of fp32 either way.
  const lag::TaskSpec spec{.task = lag::Task::Adding, .lag = 100};
  lag::RunOptions options;
  options.hidden_size = 16;
  options.steps = 2000;
  options.batch_size = 32;
  options.lr = 0.02f;
  options.seed = 0;
  options.eval_size = 256;
  options.probe_size = 32;
  options.log_every = 100;
  REQUIRE(options.matmul_precision == MatmulPrecision::float32);
  const lag::RunResult fp32 = lag::run_experiment(spec, "lstm", options);
  options.matmul_precision = MatmulPrecision::bfloat16;
  const lag::RunResult bf16 = lag::run_experiment(spec, "lstm", options);
  REQUIRE(matmul_precision() == MatmulPrecision::float32);  // the guard was restored
  INFO("held-out MSE fp32 " << fp32.eval.loss << " (ratio " << fp32.ratio() << "), bf16 "
                            << bf16.eval.loss << " (ratio " << bf16.ratio() << ")");
  REQUIRE(bf16.spec.sequence_length() == 100);
  REQUIRE(bf16.baseline == Approx(1.0 / 6.0));
  REQUIRE(bf16.curve_losses != fp32.curve_losses);  // the products were rounded: bf16 did run
  for (const lag::RunResult* run : {&fp32, &bf16}) {
    REQUIRE(run->ratio() < 0.05);
    REQUIRE(run->curve_losses.back() < 0.1f * run->curve_losses.front());
  }
  REQUIRE(bf16.eval.loss < 10.0 * fp32.eval.loss);
  REQUIRE(bf16.eval.loss > fp32.eval.loss / 10.0);
}

TEST_CASE("rnn_vs_lstm: a non-finite loss stops the run, naming the step", "[examples][rnn_vs_lstm]") {
  lag::RunOptions options;
  options.hidden_size = 4;
  options.steps = 5;
  options.batch_size = 4;
  options.eval_size = 8;
  options.probe_size = 4;
  options.lr = 1e30f;
  const lag::TaskSpec spec = small_spec(lag::Task::Adding);
  REQUIRE_THROWS_AS(lag::run_experiment(spec, "lstm", options), examples::NonFiniteLossError);
  REQUIRE_THROWS_WITH(lag::run_experiment(spec, "lstm", options),
                      Catch::Matches("non-finite training loss .* at step [0-9]+;.*"));
}

TEST_CASE("rnn_vs_lstm: any registered cell runs, and its step-by-step run matches the layer",
          "[examples][rnn_vs_lstm]") {
  const lag::TaskSpec spec = small_spec(lag::Task::Adding);
  for (const char* cell : {"peephole_lstm", "cifg_lstm", "ln_lstm", "rnn_relu"}) {
    INFO(cell);
    Generator gen(12);
    lag::LagModel model(cell, spec.input_size(), 6, spec.output_size(), spec.per_step_output(), gen);
    const lag::Batch batch = lag::make_batch(spec, 4, gen);
    NoGradGuard no_grad;
    REQUIRE_ALL_CLOSE(model.forward_stepwise(batch.inputs, {}), model.forward(batch.inputs), 1e-4, 1e-5);
  }
  Generator gen(13);
  REQUIRE_THROWS_WITH(lag::LagModel("lstmx", 2, 6, 1, false, gen),
                      Catch::Contains("\"lstmx\"") && Catch::Contains("peephole_lstm"));
}
