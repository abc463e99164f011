// custom_cell: a recurrent cell that tapegrad does not have, in one file, at fused speed.
//
// The cell is a minimal gated unit (Zhou et al. 2016, "Minimal Gated Unit for Recurrent Neural
// Networks"), written in support/minimal_gated_unit.h: its 9 lines of math are all its author
// writes (bench_lstm registers the same file). The library derives the fused forward and backward
// kernels from it, runs it through the same layer driver as LSTM/GRU (lengths, reverse, stacking,
// bidirectional, BPTT), and runs the same math composed from generic ops as its reference.
// The program registers the cell, gradchecks it, checks fused == composed, trains it on a sine,
// and times its training step fused vs composed vs the built-in LSTM (--timing none skips that).
// Exit 0 only if the gradcheck passes, fused and composed agree and training halves the loss.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <iomanip>
#include <iostream>

#include "autograd/gradcheck.h"
#include "nn/cell_registry.h"
#include "nn/layers.h"
#include "ops/ops.h"
#include "optim/adam.h"
#include "support/cli.h"
#include "support/minimal_gated_unit.h"
#include "support/loss_guard.h"

using namespace tapegrad;
namespace cli = examples::cli;

namespace {

// A recurrent layer of any registered cell and a Linear head on the last step.
struct Forecaster : nn::Module {
  nn::RecurrentBase* rnn;
  nn::Linear* head;
  Forecaster(const std::string& cell, std::int64_t input, std::int64_t hidden, Generator& gen)
      : rnn(&register_module("rnn", nn::make_recurrent(cell, {.input_size = input,
                                                              .hidden_size = hidden,
                                                              .batch_first = true},
                                                       gen))),
        head(&register_module("head", nn::Linear({.in_features = hidden, .out_features = 1}, gen))) {}
  Tensor forward(const Tensor& x) const { return head->forward(select(rnn->forward(x).output, 1, -1)); }
};

// Milliseconds per training step (forward, MSE, backward, Adam), median of `repeats`.
double step_ms(const std::string& cell, bool fused, std::int64_t T, std::int64_t B, std::int64_t I,
               std::int64_t H, int repeats) {
  Generator gen(0);
  Forecaster model(cell, I, H, gen);
  model.rnn->set_fused(fused);
  Tensor x = Tensor::normal({B, T, I}, 0, 1, gen);
  Tensor y = Tensor::normal({B, 1}, 0, 1, gen);
  optim::Adam adam(model.parameters(), {.lr = 1e-3f});
  std::vector<double> times;
  for (int r = 0; r < repeats + 1; ++r) {  // the first run warms up
    const auto start = std::chrono::steady_clock::now();
    adam.zero_grad();
    mse_loss(model.forward(x), y).backward();
    adam.step();
    const std::chrono::duration<double, std::milli> took = std::chrono::steady_clock::now() - start;
    if (r > 0) times.push_back(took.count());
  }
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  cli::Program program("custom_cell", "a recurrent cell of one's own (a minimal gated unit) at fused speed");
  CLI::App& app = program.app();
  std::int64_t epochs = 150, hidden = 16, repeats = 0;
  float lr = 0.01f;
  std::vector<std::string> timing{"text", "online", "long"};
  program.add_epochs(epochs, "full-batch training steps on the sine task");
  program.add_lr(lr);
  app.add_option("--hidden", hidden, "hidden size of the trained cell")->check(cli::integer_in(1, 4096));
  cli::add_list(app, "--timing", timing, cli::one_of({"text", "online", "long", "none"}),
                "bench_lstm configs to time the step on (fused, composed, built-in LSTM), or none");
  app.add_option("--repeats", repeats, "timed steps per config (0: the config's default)")
      ->check(cli::integer_in(0, 10'000));
  program.add_threads();
  program.add_combination_check("--timing", [&] {
    if (timing.size() > 1 && std::find(timing.begin(), timing.end(), "none") != timing.end()) {
      throw std::invalid_argument("'none' cannot be combined with a config");
    }
  });

  return program.run(argc, argv, [&] {
    nn::register_cell<MinimalGatedUnit>();

    // 1. Gradcheck at flashlight's sizes (hidden 2, batch 2, seq 3, 2 layers), bidirectional,
    //    with variable lengths: the input and the initial state, by finite differences.
    Generator gen(1);
    nn::RecurrentBase mgu = nn::make_recurrent(
        "mgu", {.input_size = 2, .hidden_size = 2, .num_layers = 2, .bidirectional = true}, gen);
    const std::vector<std::int64_t> lengths{3, 2};
    GradcheckOptions tolerances;
    tolerances.eps = 1e-2;
    tolerances.atol = 3e-3;
    tolerances.rtol = 3e-2;
    const GradcheckResult check = gradcheck(
        [&](const std::vector<Tensor>& in) {
          nn::RecurrentOutput out = mgu.forward(in[0], {in[1], Tensor()}, lengths);
          return cat({reshape(out.output, {-1}), reshape(out.h_n, {-1})}, 0);
        },
        {Tensor::uniform({3, 2, 2}, -1, 1, gen, true), Tensor::uniform({4, 2, 2}, -1, 1, gen, true)},
        tolerances);
    std::cout << "gradcheck (input, h0): " << (check.ok ? "ok" : "FAILED\n" + check.report) << "\n";

    // 2. Fused vs composed: outputs and every parameter gradient.
    Tensor x = Tensor::uniform({3, 2, 2}, -1, 1, gen);
    double worst = 0.0;
    std::vector<std::vector<float>> runs;
    for (const bool fused : {true, false}) {
      mgu.set_fused(fused);
      for (Tensor& p : mgu.parameters()) p.zero_grad();
      Tensor out = mgu.forward(x, {}, lengths).output;
      sum(mul(out, out)).backward();
      std::vector<float> values = out.to_vector();
      for (Tensor& p : mgu.parameters()) {
        const std::vector<float> g = p.grad().to_vector();
        values.insert(values.end(), g.begin(), g.end());
      }
      runs.push_back(values);
    }
    for (std::size_t i = 0; i < runs[0].size(); ++i) {
      worst = std::max(worst, static_cast<double>(std::fabs(runs[0][i] - runs[1][i])));
    }
    std::cout << "fused vs composed, outputs and parameter gradients: max |diff| " << worst << "\n";

    // 3. Train it: predict the next value of a sine from the previous 20.
    Generator train_gen(2);
    Forecaster model("mgu", 1, hidden, train_gen);
    const std::int64_t T = 20, N = 64;
    std::vector<float> xs, ys;
    for (std::int64_t n = 0; n < N; ++n) {
      for (std::int64_t t = 0; t <= T; ++t) {
        const float v = std::sin(0.3f * static_cast<float>(n + t));
        (t < T ? xs : ys).push_back(v);
      }
    }
    Tensor inputs = Tensor::from_vector(xs, {N, T, 1});
    Tensor targets = Tensor::from_vector(ys, {N, 1});
    optim::Adam adam(model.parameters(), {.lr = lr});
    float first_loss = 0.0f, loss_value = 0.0f;
    for (std::int64_t epoch = 0; epoch < epochs; ++epoch) {
      adam.zero_grad();
      Tensor loss = mse_loss(model.forward(inputs), targets);
      loss_value = loss.item();
      examples::require_finite_loss(loss_value, {.epoch = epoch + 1});
      loss.backward();
      adam.step();
      if (epoch == 0) first_loss = loss_value;
    }
    std::cout << "training MSE: " << first_loss << " -> " << loss_value << " after " << epochs << " steps\n";

    // 4. Speed of one training step (1 thread of work per step, medians), as bench_lstm's configs.
    struct Config {
      const char* id;
      std::int64_t T, B, I, H;
      int repeats;
    };
    const std::vector<Config> configs{Config{"text", 50, 32, 64, 128, 7},
                                      Config{"online", 50, 1, 32, 128, 21},
                                      Config{"long", 1000, 16, 32, 128, 3}};
    if (timing != std::vector<std::string>{"none"}) {
      std::cout << "\ntraining step, ms (median)      mgu fused  mgu composed  lstm (built-in)\n";
    }
    for (Config c : configs) {
      if (std::find(timing.begin(), timing.end(), c.id) == timing.end()) continue;
      if (repeats > 0) c.repeats = static_cast<int>(repeats);
      const double fused = step_ms("mgu", true, c.T, c.B, c.I, c.H, c.repeats);
      const double composed = step_ms("mgu", false, c.T, c.B, c.I, c.H, c.repeats);
      const double lstm = step_ms("lstm", true, c.T, c.B, c.I, c.H, c.repeats);
      std::cout << std::setw(8) << c.id << " T=" << c.T << " B=" << c.B << std::fixed
                << std::setprecision(2) << std::setw(14) << fused << std::setw(14) << composed
                << std::setw(14) << lstm << "   composed/fused " << composed / fused << "x\n";
    }
    const bool ok = check.ok && worst < 1e-4 && loss_value < 0.5f * first_loss;
    if (!ok) std::cerr << "custom_cell: FAILED (gradcheck, fused vs composed, or training)\n";
    return ok ? 0 : 1;
  });
}
