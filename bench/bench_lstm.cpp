// lstm_fwd/<cell>/<id> and lstm_step/<cell>/<id> for every cell below (the built-in ones, the
// variants, the custom cell of examples/custom_cell.cpp) and every config in bench/configs.json (a copy of
// shared/bench/configs.json; ids are stable and join with torch_lstm_bench.py's output).
//   fwd:  forward of the recurrent model (batch_first, zero h0) + Linear(H->1) on the last step,
//         under no-grad
//   step: zero_grad, forward, MSE, backward, Adam step
// Each runs with 1 and 2 TBB threads (a task_arena of that size), timed in real time.
#include <benchmark/benchmark.h>
#include <tbb/task_arena.h>

#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>

#include "autograd/grad_mode.h"
#include "nn/layers.h"
#include "nn/cell_registry.h"
#include "nn/rnn.h"
#include "ops/losses.h"
#include "ops/ops.h"
#include "optim/adam.h"
#include "support/minimal_gated_unit.h"

using namespace tapegrad;

namespace {

struct Config {
  std::string id;
  std::int64_t T, B, I, H, L;
};

// `cell` is "rnn" (the tanh RNN) or any registered cell; a "_composed" suffix runs the same
// cell composed from generic ops (set_fused(false)), the form a cell has without a fused kernel.
struct Model : nn::Module {
  nn::RecurrentBase* rnn = nullptr;
  nn::Linear* head = nullptr;

  Model(const std::string& cell_name, const Config& c, Generator& gen) {
    const std::string suffix = "_composed";
    const bool composed = cell_name.size() > suffix.size() &&
                          cell_name.compare(cell_name.size() - suffix.size(), suffix.size(), suffix) == 0;
    std::string cell = composed ? cell_name.substr(0, cell_name.size() - suffix.size()) : cell_name;
    if (cell == "rnn") cell = "rnn_tanh";
    rnn = &register_module("rnn", nn::make_recurrent(cell, {.input_size = c.I, .hidden_size = c.H,
                                                            .num_layers = c.L, .batch_first = true},
                                                     gen));
    rnn->set_fused(!composed);
    head = &register_module("head", nn::Linear({.in_features = c.H, .out_features = 1}, gen));
  }

  Tensor forward(const Tensor& x) const {
    return head->forward(select(rnn->forward(x).output, 1, -1));  // the last time step
  }
};

std::vector<Config> load_configs() {
  std::ifstream file(TAPEGRAD_BENCH_CONFIGS);
  const nlohmann::json doc = nlohmann::json::parse(file);
  std::vector<Config> configs;
  for (const auto& c : doc.at("configs")) {
    configs.push_back({c.at("id"), c.at("T"), c.at("B"), c.at("I"), c.at("H"), c.at("L")});
  }
  return configs;
}

void run_forward(benchmark::State& state, const std::string& cell, const Config& c, int threads) {
  tbb::task_arena arena(threads);
  Generator gen(0);
  Model model(cell, c, gen);
  Tensor x = Tensor::normal({c.B, c.T, c.I}, 0, 1, gen);
  arena.execute([&] {
    NoGradGuard no_grad;
    for (auto _ : state) benchmark::DoNotOptimize(model.forward(x).data());
  });
}

void run_step(benchmark::State& state, const std::string& cell, const Config& c, int threads) {
  tbb::task_arena arena(threads);
  Generator gen(0);
  Model model(cell, c, gen);
  Tensor x = Tensor::normal({c.B, c.T, c.I}, 0, 1, gen);
  Tensor y = Tensor::normal({c.B, 1}, 0, 1, gen);
  optim::Adam adam(model.parameters(), {.lr = 1e-3f});
  arena.execute([&] {
    for (auto _ : state) {
      adam.zero_grad();
      Tensor loss = mse_loss(model.forward(x), y);
      loss.backward();
      adam.step();
    }
  });
}

}  // namespace

int main(int argc, char** argv) {
  // The user cell of examples/custom_cell.cpp, registered as its author would.
  nn::register_cell<MinimalGatedUnit>();
  for (const Config& c : load_configs()) {
    // lstm/gru/rnn ids are stable (torch_lstm_bench.py joins on them); the variants, the user
    // cell (mgu) and their composed forms compare a cell's fused step with what it costs without
    // a fused kernel.
    for (const std::string cell : {"lstm", "gru", "rnn", "lstm_composed", "peephole_lstm",
                                   "peephole_lstm_composed", "cifg_lstm", "cifg_lstm_composed",
                                   "ln_lstm", "ln_lstm_composed", "mgu", "mgu_composed"}) {
      for (int threads : {1, 2}) {
        const std::string suffix = "/" + cell + "/" + c.id + "/threads:" + std::to_string(threads);
        benchmark::RegisterBenchmark(("lstm_fwd" + suffix).c_str(), run_forward, cell, c, threads)
            ->UseRealTime()
            ->Unit(benchmark::kMillisecond);
        benchmark::RegisterBenchmark(("lstm_step" + suffix).c_str(), run_step, cell, c, threads)
            ->UseRealTime()
            ->Unit(benchmark::kMillisecond);
      }
    }
  }
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
