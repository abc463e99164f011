// custom_cell: a recurrent cell that tapegrad does not have, in one file, at fused speed.
//
// The cell is a minimal gated unit (Zhou et al. 2016, "Minimal Gated Unit for Recurrent Neural
// Networks"): one gate f does the work of the GRU's r and z. As in PyTorch's GRU, the gate
// multiplies the recurrent product (W_hn h + b_hn) rather than h before it, so the whole
// recurrent product is one matrix product per step:
//   f = sigmoid(x W_if + b_if + h W_hf + b_hf)
//   n = tanh(x W_in + b_in + f * (h W_hn + b_hn))
//   h' = (1 - f) h + f n
// Its author writes only the math below. The library derives the fused forward and backward
// kernels from it, runs it through the same layer driver as LSTM/GRU (lengths, reverse, stacking,
// bidirectional, BPTT), and runs the same math composed from generic ops as its reference.
// The program registers the cell, gradchecks it, checks fused == composed, trains it on a sine,
// and times its training step fused vs composed vs the built-in LSTM.
#include <chrono>
#include <cmath>
#include <iomanip>
#include <iostream>

#include "autograd/gradcheck.h"
#include "nn/cell_registry.h"
#include "nn/layers.h"
#include "ops/ops.h"
#include "optim/adam.h"

using namespace tapegrad;

// ---- the cell: everything a cell author writes ----
struct MinimalGatedUnit {
  static constexpr cell::Spec spec{.name = "mgu", .gates = 2, .split_recurrent = true};
  template <class V>
  static constexpr cell::Out<V> step(const cell::In<V>& in) {
    const V f = sigmoid(in.gate[0] + in.gate_h[0]);
    const V n = tanh(in.gate[1] + f * in.gate_h[1]);
    return {.h = in.h_prev + f * (n - in.h_prev)};
  }
};

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

int main() {
  try {
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
    Forecaster model("mgu", 1, 16, train_gen);
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
    optim::Adam adam(model.parameters(), {.lr = 0.01f});
    float first_loss = 0.0f, loss_value = 0.0f;
    for (int epoch = 0; epoch < 150; ++epoch) {
      adam.zero_grad();
      Tensor loss = mse_loss(model.forward(inputs), targets);
      loss.backward();
      adam.step();
      loss_value = loss.item();
      if (epoch == 0) first_loss = loss_value;
    }
    std::cout << "training MSE: " << first_loss << " -> " << loss_value << " after 150 steps\n";

    // 4. Speed of one training step (1 thread of work per step, medians), as bench_lstm's configs.
    struct Config {
      const char* id;
      std::int64_t T, B, I, H;
      int repeats;
    };
    std::cout << "\ntraining step, ms (median)      mgu fused  mgu composed  lstm (built-in)\n";
    for (const Config& c : {Config{"text", 50, 32, 64, 128, 7}, Config{"online", 50, 1, 32, 128, 21},
                            Config{"long", 1000, 16, 32, 128, 3}}) {
      const double fused = step_ms("mgu", true, c.T, c.B, c.I, c.H, c.repeats);
      const double composed = step_ms("mgu", false, c.T, c.B, c.I, c.H, c.repeats);
      const double lstm = step_ms("lstm", true, c.T, c.B, c.I, c.H, c.repeats);
      std::cout << std::setw(8) << c.id << " T=" << c.T << " B=" << c.B << std::fixed
                << std::setprecision(2) << std::setw(14) << fused << std::setw(14) << composed
                << std::setw(14) << lstm << "   composed/fused " << composed / fused << "x\n";
    }
    const bool ok = check.ok && worst < 1e-4 && loss_value < 0.5f * first_loss;
    return ok ? 0 : 1;
  } catch (const std::exception& e) {
    std::cerr << "custom_cell: " << e.what() << "\n";
    return 1;
  }
}
