// Pointwise kernels: fused LSTM/GRU gates (fast vs reference, and fast pinned to one thread to
// show what the TBB row split buys) at per-step B x H sizes, and sigmoid/tanh/exp on 131072
// floats, and the Adam update. items/s counts B*H cell positions for the gates, floats for the
// elementwise ones and parameters for Adam.
// Run: ./build/bench/bench_gates --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>
#include <tbb/task_arena.h>

#include <cstdint>
#include <vector>

#include "autograd/generator.h"
#include "ops/kernels/adam.h"
#include "ops/kernels/elementwise.h"
#include "ops/kernels/gru_gates.h"
#include "ops/kernels/lstm_gates.h"
#include "ops/recurrent_cell.h"

namespace {

namespace k = tapegrad::kernels;

std::vector<float> random_floats(std::int64_t n, float low, float high, std::uint64_t seed) {
  tapegrad::Generator gen(seed);
  std::vector<float> values(static_cast<std::size_t>(n));
  for (float& v : values) v = gen.uniform(low, high);
  return values;
}

// Runs body either on the calling thread's default arena or pinned to a one-thread arena.
template <class Body>
void run_maybe_single(bool single_thread, Body&& body) {
  if (!single_thread) {
    body();
    return;
  }
  static thread_local tbb::task_arena one_thread(1);
  one_thread.execute(body);
}

// kDerived: the kernel derived from the cell's math (ops/cells.h via ops/kernels/cell_kernel.h),
// which the hand-written fast kernel is the baseline for (it writes its kept values in place
// into the pre-activations, as the layer driver runs it).
enum Variant : int { kFast = 0, kFastOneThread = 1, kReference = 2, kDerived = 3 };

void set_rate(benchmark::State& state, std::int64_t items_per_iteration) {
  state.SetItemsProcessed(state.iterations() * items_per_iteration);
}

void lstm_forward(benchmark::State& state) {
  const auto variant = static_cast<Variant>(state.range(0));
  const std::int64_t B = state.range(1), H = state.range(2);
  const auto pre = random_floats(4 * B * H, -4.0f, 4.0f, 1);
  const auto c_prev = random_floats(B * H, -2.0f, 2.0f, 2);
  std::vector<float> h(B * H), c(B * H), act(4 * B * H), tanh_c(B * H);
  const auto kernel = variant == kReference ? k::lstm_gates_forward_reference : k::lstm_gates_forward;
  if (variant == kDerived) {
    const tapegrad::CellKernel& cell = tapegrad::derived_cell("lstm");
    std::vector<float> pre_inout = pre, h_prev(B * H);
    for (auto _ : state) {
      cell.forward({pre_inout.data(), nullptr, h_prev.data(), c_prev.data(), nullptr, h.data(),
                    c.data(), tanh_c.data(), B, H});
      benchmark::DoNotOptimize(h.data());
      benchmark::ClobberMemory();
    }
    set_rate(state, B * H);
    return;
  }
  for (auto _ : state) {
    run_maybe_single(variant == kFastOneThread, [&] {
      kernel(h.data(), c.data(), act.data(), tanh_c.data(), pre.data(), c_prev.data(), B, H);
    });
    benchmark::DoNotOptimize(h.data());
    benchmark::ClobberMemory();
  }
  set_rate(state, B * H);
}

void lstm_backward(benchmark::State& state) {
  const auto variant = static_cast<Variant>(state.range(0));
  const std::int64_t B = state.range(1), H = state.range(2);
  const auto act = random_floats(4 * B * H, 0.0f, 1.0f, 1);
  const auto tanh_c = random_floats(B * H, -1.0f, 1.0f, 2);
  const auto c_prev = random_floats(B * H, -2.0f, 2.0f, 3);
  const auto grad_h = random_floats(B * H, -1.0f, 1.0f, 4);
  const auto grad_c = random_floats(B * H, -1.0f, 1.0f, 5);
  std::vector<float> grad_pre(4 * B * H), grad_c_prev(B * H);
  const auto kernel =
      variant == kReference ? k::lstm_gates_backward_reference : k::lstm_gates_backward;
  if (variant == kDerived) {
    const tapegrad::CellKernel& cell = tapegrad::derived_cell("lstm");
    std::vector<float> h_prev(B * H);
    for (auto _ : state) {
      cell.backward({grad_pre.data(), nullptr, nullptr, grad_c_prev.data(), nullptr,
                     grad_h.data(), grad_c.data(), act.data(), tanh_c.data(), h_prev.data(),
                     c_prev.data(), nullptr, B, H});
      benchmark::DoNotOptimize(grad_pre.data());
      benchmark::ClobberMemory();
    }
    set_rate(state, B * H);
    return;
  }
  for (auto _ : state) {
    run_maybe_single(variant == kFastOneThread, [&] {
      kernel(grad_pre.data(), grad_c_prev.data(), grad_h.data(), grad_c.data(), act.data(),
             tanh_c.data(), c_prev.data(), B, H);
    });
    benchmark::DoNotOptimize(grad_pre.data());
    benchmark::ClobberMemory();
  }
  set_rate(state, B * H);
}

void gru_forward(benchmark::State& state) {
  const auto variant = static_cast<Variant>(state.range(0));
  const std::int64_t B = state.range(1), H = state.range(2);
  const auto gates_x = random_floats(3 * B * H, -4.0f, 4.0f, 1);
  const auto gates_h = random_floats(3 * B * H, -4.0f, 4.0f, 2);
  const auto h_prev = random_floats(B * H, -1.0f, 1.0f, 3);
  std::vector<float> h(B * H), act(3 * B * H), hn(B * H);
  const auto kernel = variant == kReference ? k::gru_gates_forward_reference : k::gru_gates_forward;
  if (variant == kDerived) {
    const tapegrad::CellKernel& cell = tapegrad::derived_cell("gru");
    std::vector<float> pre_inout = gates_x;
    for (auto _ : state) {
      cell.forward({pre_inout.data(), gates_h.data(), h_prev.data(), nullptr, nullptr, h.data(),
                    nullptr, hn.data(), B, H});
      benchmark::DoNotOptimize(h.data());
      benchmark::ClobberMemory();
    }
    set_rate(state, B * H);
    return;
  }
  for (auto _ : state) {
    run_maybe_single(variant == kFastOneThread, [&] {
      kernel(h.data(), act.data(), hn.data(), gates_x.data(), gates_h.data(), h_prev.data(), B, H);
    });
    benchmark::DoNotOptimize(h.data());
    benchmark::ClobberMemory();
  }
  set_rate(state, B * H);
}

void gru_backward(benchmark::State& state) {
  const auto variant = static_cast<Variant>(state.range(0));
  const std::int64_t B = state.range(1), H = state.range(2);
  const auto act = random_floats(3 * B * H, 0.0f, 1.0f, 1);
  const auto hn = random_floats(B * H, -2.0f, 2.0f, 2);
  const auto h_prev = random_floats(B * H, -1.0f, 1.0f, 3);
  const auto grad_h = random_floats(B * H, -1.0f, 1.0f, 4);
  std::vector<float> grad_x(3 * B * H), grad_gh(3 * B * H), grad_h_prev(B * H);
  const auto kernel =
      variant == kReference ? k::gru_gates_backward_reference : k::gru_gates_backward;
  if (variant == kDerived) {
    const tapegrad::CellKernel& cell = tapegrad::derived_cell("gru");
    for (auto _ : state) {
      cell.backward({grad_x.data(), grad_gh.data(), grad_h_prev.data(), nullptr, nullptr,
                     grad_h.data(), nullptr, act.data(), hn.data(), h_prev.data(), nullptr,
                     nullptr, B, H});
      benchmark::DoNotOptimize(grad_x.data());
      benchmark::ClobberMemory();
    }
    set_rate(state, B * H);
    return;
  }
  for (auto _ : state) {
    run_maybe_single(variant == kFastOneThread, [&] {
      kernel(grad_x.data(), grad_gh.data(), grad_h_prev.data(), grad_h.data(), act.data(),
             hn.data(), h_prev.data(), B, H);
    });
    benchmark::DoNotOptimize(grad_x.data());
    benchmark::ClobberMemory();
  }
  set_rate(state, B * H);
}

template <void (*Kernel)(float*, const float*, std::int64_t)>
void pointwise(benchmark::State& state) {
  const std::int64_t n = state.range(0);
  const auto x = random_floats(n, -8.0f, 8.0f, 1);
  std::vector<float> out(n);
  for (auto _ : state) {
    Kernel(out.data(), x.data(), n);
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  set_rate(state, n);
}

// The Adam update over n parameters (one tensor; tiny's LSTM and head hold 41,301, mid's 394,241).
template <void (*Kernel)(const k::AdamUpdate&)>
void adam(benchmark::State& state) {
  const std::int64_t n = state.range(0);
  auto param = random_floats(n, -1.0f, 1.0f, 1);
  const auto grad = random_floats(n, -1.0f, 1.0f, 2);
  auto exp_avg = random_floats(n, -0.1f, 0.1f, 3);
  auto exp_avg_sq = random_floats(n, 0.0f, 0.01f, 4);
  const k::AdamUpdate update{.param = param.data(), .grad = grad.data(), .exp_avg = exp_avg.data(),
                             .exp_avg_sq = exp_avg_sq.data(), .max_exp_avg_sq = nullptr, .n = n,
                             .beta1 = 0.9f, .beta2 = 0.999f, .grad_weight = 0.1f,
                             .grad_sq_weight = 0.001f, .eps = 1e-8f, .weight_decay = 0.0f,
                             .decoupled_weight_decay = false, .decay_factor = 1.0f,
                             .maximize = false, .neg_step_size = -1e-3f,
                             .bias_correction2_sqrt = 0.3f};
  for (auto _ : state) {
    Kernel(update);
    benchmark::DoNotOptimize(param.data());
    benchmark::ClobberMemory();
  }
  set_rate(state, n);
}

// B x H: the per-step sizes of bench/configs.json (text/long 64x128 class, mid 64x256, sine
// 990x100, tiny 1x100, large 64x512).
void gate_sizes(benchmark::internal::Benchmark* b) {
  b->ArgNames({"variant", "B", "H"});
  for (const auto& [B, H] : std::vector<std::pair<int, int>>{
           {64, 128}, {64, 256}, {990, 100}, {1, 100}, {64, 512}}) {
    for (int variant : {kFast, kFastOneThread, kReference, kDerived}) b->Args({variant, B, H});
  }
  b->UseRealTime();  // the fast kernels may use a second thread
}

BENCHMARK(lstm_forward)->Apply(gate_sizes);
BENCHMARK(lstm_backward)->Apply(gate_sizes);
BENCHMARK(gru_forward)->Apply(gate_sizes);
BENCHMARK(gru_backward)->Apply(gate_sizes);
BENCHMARK_TEMPLATE(pointwise, k::sigmoid_forward)->Arg(131072);
BENCHMARK_TEMPLATE(pointwise, k::sigmoid_forward_reference)->Arg(131072);
BENCHMARK_TEMPLATE(pointwise, k::tanh_forward)->Arg(131072);
BENCHMARK_TEMPLATE(pointwise, k::tanh_forward_reference)->Arg(131072);
BENCHMARK_TEMPLATE(pointwise, k::exp_forward)->Arg(131072);
BENCHMARK_TEMPLATE(pointwise, k::exp_forward_reference)->Arg(131072);
BENCHMARK_TEMPLATE(adam, k::adam_update)->Arg(41301)->Arg(394241);
BENCHMARK_TEMPLATE(adam, k::adam_update_reference)->Arg(41301);

}  // namespace

BENCHMARK_MAIN();
