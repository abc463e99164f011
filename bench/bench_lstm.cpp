// lstm_fwd/<cell>/<id> and lstm_step/<cell>/<id> for every cell below (the built-in ones, the
// variants, the custom cell of examples/custom_cell.cpp) and every config in bench/configs.json (a copy of
// shared/bench/configs.json; ids are stable and join with torch_lstm_bench.py's output).
//   fwd:  forward of the recurrent model (batch_first, zero h0) + Linear(H->1) on the last step,
//         under no-grad
//   step: zero_grad, forward, MSE, backward, Adam step
// Each runs with 1 and 2 TBB threads (a task_arena of that size), timed in real time.
//
// Warm only: cold iterations (first touch of the step's memory, lazy thread start, a fresh
// optimizer's state) are never timed. Google Benchmark runs each benchmark for
// --benchmark_min_warmup_time seconds first (main makes kDefaultWarmupSeconds the default), and
// every call of a benchmark function (Google Benchmark calls it afresh for each trial, with a new
// model) runs one untimed step before its timed loop.
// Counters of the timed loop:
//   page_faults_per_step  minor + major page faults of the whole process (all threads), per
//                         iteration
//   peak_live_MB          the most bytes of live buffers at once (max_memory_allocated)
//   held_MB               the most bytes the allocator held at once, live and cached
//                         (max_memory_reserved)
//   held_over_peak        held_MB / peak_live_MB
//   cache_misses_per_step requests of a cached size that needed new memory, per iteration
// The first call of each benchmark empties the allocator's cache (autograd/memory.h), so these
// are its own, not what earlier benchmarks left cached; its later calls (warm-up, trials,
// repetitions) keep the cache, as a training loop would.
#include <benchmark/benchmark.h>
#include <sys/resource.h>
#include <tbb/task_arena.h>

#include <cstring>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string_view>

#include "autograd/grad_mode.h"
#include "autograd/memory.h"
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

// Removes `suffix` from the end of name and says whether it was there.
bool strip_suffix(std::string& name, std::string_view suffix) {
  if (name.size() <= suffix.size() ||
      name.compare(name.size() - suffix.size(), suffix.size(), suffix) != 0) {
    return false;
  }
  name.resize(name.size() - suffix.size());
  return true;
}

// `cell` is "rnn" (the tanh RNN) or any registered cell; a "_composed" suffix runs the same
// cell composed from generic ops (set_fused(false)), the form a cell has without a fused kernel;
// a "_bf16" suffix runs it under the matmul precision bfloat16 (autograd/grad_mode.h).
struct Model : nn::Module {
  nn::RecurrentBase* rnn = nullptr;
  nn::Linear* head = nullptr;
  MatmulPrecision precision = MatmulPrecision::float32;

  Model(const std::string& cell_name, const Config& c, Generator& gen) {
    std::string cell = cell_name;
    if (strip_suffix(cell, "_bf16")) precision = MatmulPrecision::bfloat16;
    const bool composed = strip_suffix(cell, "_composed");
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

constexpr double kDefaultWarmupSeconds = 0.5;

double page_faults_so_far() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_minflt + usage.ru_majflt);
}

// Brackets a timed loop; report() sets the counters.
class StepCounters {
 public:
  StepCounters()
      : faults_at_start_(page_faults_so_far()), misses_at_start_(memory_stats().cache_misses) {
    reset_peak_memory_stats();
  }
  void report(benchmark::State& state) const {
    state.counters["page_faults_per_step"] = benchmark::Counter(
        page_faults_so_far() - faults_at_start_, benchmark::Counter::kAvgIterations);
    state.counters["cache_misses_per_step"] = benchmark::Counter(
        static_cast<double>(memory_stats().cache_misses - misses_at_start_),
        benchmark::Counter::kAvgIterations);
    const auto peak_live = static_cast<double>(max_memory_allocated());
    const auto held = static_cast<double>(max_memory_reserved());
    state.counters["peak_live_MB"] = peak_live / 1e6;
    state.counters["held_MB"] = held / 1e6;
    state.counters["held_over_peak"] = held / peak_live;
  }

 private:
  double faults_at_start_;
  std::int64_t misses_at_start_;
};

// Empties the memory cache when a new benchmark starts (see the top of the file).
void enter_benchmark(const std::string& name) {
  static std::string current;
  if (name != current) {
    current = name;
    empty_cache();
  }
}

void run_forward(benchmark::State& state, const std::string& name, const std::string& cell,
                 const Config& c, int threads) {
  enter_benchmark(name);
  tbb::task_arena arena(threads);
  Generator gen(0);
  Model model(cell, c, gen);
  Tensor x = Tensor::normal({c.B, c.T, c.I}, 0, 1, gen);
  arena.execute([&] {
    const MatmulPrecisionGuard precision(model.precision);
    NoGradGuard no_grad;
    benchmark::DoNotOptimize(model.forward(x).data());  // untimed warm-up
    const StepCounters counters;
    for (auto _ : state) benchmark::DoNotOptimize(model.forward(x).data());
    counters.report(state);
  });
}

void run_step(benchmark::State& state, const std::string& name, const std::string& cell,
              const Config& c, int threads) {
  enter_benchmark(name);
  tbb::task_arena arena(threads);
  Generator gen(0);
  Model model(cell, c, gen);
  Tensor x = Tensor::normal({c.B, c.T, c.I}, 0, 1, gen);
  Tensor y = Tensor::normal({c.B, 1}, 0, 1, gen);
  optim::Adam adam(model.parameters(), {.lr = 1e-3f});
  auto step = [&] {
    adam.zero_grad();
    Tensor loss = mse_loss(model.forward(x), y);
    loss.backward();
    adam.step();
  };
  arena.execute([&] {
    const MatmulPrecisionGuard precision(model.precision);
    step();  // untimed warm-up: creates the grads and Adam's state
    const StepCounters counters;
    for (auto _ : state) step();
    counters.report(state);
  });
}

// argv with --benchmark_min_warmup_time=kDefaultWarmupSeconds added unless the caller set it.
std::vector<char*> with_default_warmup(int argc, char** argv, std::string& storage) {
  std::vector<char*> args(argv, argv + argc);
  constexpr std::string_view flag = "--benchmark_min_warmup_time";
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], flag.data(), flag.size()) == 0) return args;
  }
  storage = std::string(flag) + "=" + std::to_string(kDefaultWarmupSeconds);
  args.insert(args.begin() + 1, storage.data());
  return args;
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
                                   "ln_lstm", "ln_lstm_composed", "mgu", "mgu_composed",
                                   "lstm_bf16", "gru_bf16", "rnn_bf16"}) {
      for (int threads : {1, 2}) {
        const std::string suffix = "/" + cell + "/" + c.id + "/threads:" + std::to_string(threads);
        const std::string fwd_name = "lstm_fwd" + suffix, step_name = "lstm_step" + suffix;
        benchmark::RegisterBenchmark(fwd_name.c_str(), run_forward, fwd_name, cell, c, threads)
            ->UseRealTime()
            ->Unit(benchmark::kMillisecond);
        benchmark::RegisterBenchmark(step_name.c_str(), run_step, step_name, cell, c, threads)
            ->UseRealTime()
            ->Unit(benchmark::kMillisecond);
      }
    }
  }
  std::string warmup_flag;
  std::vector<char*> args = with_default_warmup(argc, argv, warmup_flag);
  int arg_count = static_cast<int>(args.size());
  args.push_back(nullptr);  // argv[argc] is null
  benchmark::Initialize(&arg_count, args.data());
  if (benchmark::ReportUnrecognizedArguments(arg_count, args.data())) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
