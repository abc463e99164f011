// A user's op written two ways (examples/support/peephole.cpp): softsign's forward and backward
// as xtensor expressions over views of the tensors (autograd/xtensor_view.h) vs the raw loops over
// data() it had before. xtensor_op/<form>/<n>: forward + backward of softsign on n floats, with
// the tape node and the output and gradient allocations that a real op pays.
#include <benchmark/benchmark.h>

#include <string>

#include "autograd/generator.h"
#include "ops/ops.h"
#include "support/peephole.h"

using namespace tapegrad;

namespace {

template <Tensor (*Op)(const Tensor&)>
void run(benchmark::State& state) {
  Generator gen(0);
  const std::int64_t n = state.range(0);
  Tensor x = Tensor::uniform({n}, -4, 4, gen, true);
  Tensor upstream = Tensor::uniform({n}, -1, 1, gen);
  for (auto _ : state) {
    x.zero_grad();
    Tensor y = Op(x);
    y.backward(upstream);
    benchmark::DoNotOptimize(x.grad().data());
  }
  state.SetItemsProcessed(state.iterations() * n);
}

}  // namespace

BENCHMARK(run<examples::softsign>)->Name("xtensor_op/xtensor")->RangeMultiplier(16)->Range(256, 1 << 20);
BENCHMARK(run<examples::softsign_raw_loop>)->Name("xtensor_op/raw_loop")->RangeMultiplier(16)->Range(256, 1 << 20);
BENCHMARK_MAIN();
