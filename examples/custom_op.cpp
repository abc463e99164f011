// custom_op: add an op with its own backward outside the library, check it with gradcheck, and use
// it inside a hand-written recurrent cell (a peephole LSTM) trained with a hand-written loop.
// The op and the cell live in examples/support/peephole.{h,cpp}; read them first.
#include <cmath>
#include <iomanip>
#include <iostream>

#include "autograd/grad_mode.h"
#include "autograd/gradcheck.h"
#include "nn/layers.h"
#include "ops/ops.h"
#include "optim/adam.h"
#include "support/cli.h"
#include "support/loss_guard.h"
#include "support/peephole.h"

using namespace tapegrad;
namespace cli = examples::cli;

int main(int argc, char** argv) {
  cli::Program program("custom_op", "a user-defined op (softsign) inside a peephole LSTM cell");
  CLI::App& app = program.app();
  std::int64_t hidden = 16, epochs = 150, T = 12;
  float lr = 0.02f;
  std::uint64_t seed = 0;
  app.add_option("--hidden", hidden, "hidden size of the peephole cell")
      ->check(cli::integer_in(1, 4096));
  program.add_epochs(epochs, "training epochs");
  program.add_lr(lr);
  program.add_seed(seed, "initialisation seed");
  app.add_option("--seq-length", T, "steps per training sequence")
      ->check(cli::integer_in(1, 100'000));
  program.add_threads();

  return program.run(argc, argv, [&] {
    Generator gen(seed);
    // 1. The op's gradient against finite differences, at ordinary and at large inputs.
    Tensor x = Tensor::uniform({4, 5}, -3.0f, 3.0f, gen, true);
    GradcheckResult op_check =
        gradcheck([](const std::vector<Tensor>& in) { return examples::softsign(in[0]); }, {x});
    std::cout << "gradcheck softsign: " << (op_check.ok ? "ok" : "FAILED\n" + op_check.report)
              << " (max abs error " << op_check.max_abs_error << ")\n";

    // 2. The cell, composed from generic ops and softsign, checked the same way.
    examples::PeepholeLSTMCell cell(1, hidden, gen);
    GradcheckOptions cell_options;
    cell_options.eps = 1e-2;
    cell_options.atol = 2e-3;
    cell_options.rtol = 2e-2;
    GradcheckResult cell_check = gradcheck(
        [&](const std::vector<Tensor>& in) {
          nn::LSTMState next = cell.forward(in[0], {in[1], in[2]});
          return add(sum(next.h), mul(sum(next.c), 0.5f));
        },
        {Tensor::uniform({3, 1}, -1, 1, gen, true), Tensor::uniform({3, hidden}, -1, 1, gen, true),
         Tensor::uniform({3, hidden}, -1, 1, gen, true)},
        cell_options);
    std::cout << "gradcheck peephole cell: " << (cell_check.ok ? "ok" : "FAILED\n" + cell_check.report)
              << "\n";
    if (!op_check.ok || !cell_check.ok) {
      std::cerr << "custom_op: gradcheck failed (report above)\n";
      return 1;
    }

    // 3. Train: read a noisy sine one step at a time and predict the next value.
    const std::int64_t B = 64;
    Tensor series = Tensor::empty({B, T + 1});
    for (std::int64_t b = 0; b < B; ++b) {
      const float phase = gen.uniform(0.0f, 6.2832f);
      for (std::int64_t t = 0; t <= T; ++t) {
        series.data()[b * (T + 1) + t] = std::sin(phase + 0.4f * static_cast<float>(t));
      }
    }
    nn::Linear head({.in_features = hidden, .out_features = 1}, gen);
    std::vector<Tensor> parameters = cell.parameters();
    for (const Tensor& p : head.parameters()) parameters.push_back(p);
    optim::Adam adam(parameters, {.lr = lr});
    auto sequence_loss = [&] {
      nn::LSTMState state{Tensor::zeros({B, hidden}), Tensor::zeros({B, hidden})};
      std::vector<Tensor> predictions;
      for (std::int64_t t = 0; t < T; ++t) {
        state = cell.forward(slice(series, 1, t, t + 1), state);
        predictions.push_back(head.forward(state.h));
      }
      return mse_loss(cat(predictions, 1), slice(series, 1, 1, T + 1));
    };
    float first_loss = 0.0f, loss_value = 0.0f;
    for (std::int64_t epoch = 1; epoch <= epochs; ++epoch) {
      adam.zero_grad();
      Tensor loss = sequence_loss();
      loss_value = loss.item();
      examples::require_finite_loss(loss_value, {.epoch = epoch});
      loss.backward();
      adam.step();
      if (epoch == 1) first_loss = loss_value;
      if (epoch == 1 || epoch % 25 == 0) {
        std::cout << "epoch " << std::setw(4) << epoch << "  loss " << std::scientific
                  << std::setprecision(3) << loss_value << std::defaultfloat << "\n";
      }
    }
    // The last loss in the loop was computed before the last step (with --epochs 1 it is the
    // first loss itself): the trained model's loss is computed once more after training.
    {
      NoGradGuard no_grad;
      loss_value = sequence_loss().item();
    }
    examples::require_finite_loss(loss_value, {.phase = "evaluation", .epoch = epochs});
    if (!(loss_value < first_loss)) {
      std::cerr << "custom_op: the loss did not fall in " << epochs << " epochs (from "
                << first_loss << " to " << loss_value << ")\n";
      return 1;
    }
    std::cout << "loss fell from " << first_loss << " to " << loss_value << "\n";
    return 0;
  });
}
