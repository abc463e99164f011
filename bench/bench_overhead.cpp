// Framework overhead of a tiny op: add on [1, 100] with and without recording, against the bare
// arithmetic, plus the cost of a NoGradGuard and of one node's trip through backward.
//   op_overhead/add_1x100/plain_loop   the 100 additions alone
//   op_overhead/add_1x100/no_grad      tapegrad::add under NoGradGuard (allocation + checks)
//   op_overhead/add_1x100/inputs_without_grad  grad mode on, inputs need no grad: nothing recorded
//   op_overhead/add_1x100/record       inputs require grad: one node recorded
//   op_overhead/no_grad_guard          entering and leaving a NoGradGuard
//   op_overhead/backward_per_node      a chain of 100 adds, backward, divided per node
#include <benchmark/benchmark.h>

#include "autograd/grad_mode.h"
#include "ops/ops.h"

using namespace tapegrad;

namespace {

void plain_loop(benchmark::State& state) {
  std::vector<float> a(100, 1.0f), b(100, 2.0f), out(100);
  for (auto _ : state) {
    for (int i = 0; i < 100; ++i) out[i] = a[i] + b[i];
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
}

void add_no_grad(benchmark::State& state) {
  Tensor a = Tensor::ones({1, 100}, true), b = Tensor::ones({1, 100}, true);
  NoGradGuard no_grad;
  for (auto _ : state) benchmark::DoNotOptimize(add(a, b).data());
}

void add_inputs_without_grad(benchmark::State& state) {
  Tensor a = Tensor::ones({1, 100}), b = Tensor::ones({1, 100});
  for (auto _ : state) benchmark::DoNotOptimize(add(a, b).data());
}

void add_record(benchmark::State& state) {
  Tensor a = Tensor::ones({1, 100}, true), b = Tensor::ones({1, 100}, true);
  for (auto _ : state) benchmark::DoNotOptimize(add(a, b).data());
}

void no_grad_guard(benchmark::State& state) {
  for (auto _ : state) {
    NoGradGuard no_grad;
    benchmark::DoNotOptimize(is_grad_enabled());
  }
}

void backward_per_node(benchmark::State& state) {
  Tensor x = Tensor::ones({1, 100}, true), step = Tensor::ones({1, 100});
  Tensor seed = Tensor::ones({1, 100});
  for (auto _ : state) {
    Tensor y = x;
    for (int i = 0; i < 100; ++i) y = add(y, step);
    y.backward(seed);
  }
  state.SetItemsProcessed(state.iterations() * 100);  // items/s = nodes (forward + backward) per s
}

}  // namespace

BENCHMARK(plain_loop)->Name("op_overhead/add_1x100/plain_loop");
BENCHMARK(add_no_grad)->Name("op_overhead/add_1x100/no_grad");
BENCHMARK(add_inputs_without_grad)->Name("op_overhead/add_1x100/inputs_without_grad");
BENCHMARK(add_record)->Name("op_overhead/add_1x100/record");
BENCHMARK(no_grad_guard)->Name("op_overhead/no_grad_guard");
BENCHMARK(backward_per_node)->Name("op_overhead/backward_per_node");

BENCHMARK_MAIN();
