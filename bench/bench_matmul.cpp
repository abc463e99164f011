// sgemm throughput: tapegrad's gemm against OpenBLAS (when found), in GFLOP/s, on 1 and 2 threads.
// Names are <impl>/<M>x<K>x<N>/threads:<n> (sgemm = our C = A.B; sgemm_nt = A.B^T, sgemm_tn =
// A^T.B; openblas_* the same products through cblas_sgemm). fma_peak measures the core's FP32 FMA
// peak in the same run, so results can be read as a fraction of it. bgemm* are the same products
// under the matmul precision bfloat16 (kernels::gemm_bf16, B packed once beforehand, as the
// recurrent layers do for W_hh), read against bf16_peak, vdpbf16ps's rate (two multiply-adds per
// lane and instruction; 4 FLOP each).
// Run: ./build/bench/bench_matmul --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>
#include <tbb/info.h>
#include <tbb/task_arena.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "autograd/generator.h"
#include "ops/kernels/matmul.h"

#ifdef TAPEGRAD_HAVE_OPENBLAS
#include <cblas.h>
#endif
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#endif

namespace {

using Index = std::int64_t;

struct Shape {
  Index M, K, N;
  bool transpose_a = false, transpose_b = false;
};

std::string shape_name(const Shape& s) {
  return std::to_string(s.M) + "x" + std::to_string(s.K) + "x" + std::to_string(s.N);
}

// Operands stored as gemm expects them: A [M,K] or [K,M], B [K,N] or [N,K], C [M,N].
struct Operands {
  std::vector<float> a, b, c;
  explicit Operands(const Shape& s) : a(s.M * s.K), b(s.K * s.N), c(s.M * s.N) {
    tapegrad::Generator gen(42);
    for (float& x : a) x = gen.uniform(-1.0f, 1.0f);
    for (float& x : b) x = gen.uniform(-1.0f, 1.0f);
  }
};

void set_flops(benchmark::State& state, const Shape& s) {
  // kIsIterationInvariantRate: value x iterations / wall time, i.e. GFLOP/s with UseRealTime().
  state.counters["GFLOPs"] = benchmark::Counter(2.0 * s.M * s.N * s.K * 1e-9,
                                                benchmark::Counter::kIsIterationInvariantRate);
}

void bench_bf16(benchmark::State& state, Shape s) {
  Operands op(s);
  const Index lda = s.transpose_a ? s.M : s.K, ldb = s.transpose_b ? s.K : s.N;
  tbb::task_arena arena(static_cast<int>(state.range(0)));
  const tapegrad::kernels::Bf16Panels panels =
      tapegrad::kernels::pack_bf16(s.transpose_b, s.K, s.N, op.b.data(), ldb);
  for (auto _ : state) {
    arena.execute([&] {
      tapegrad::kernels::gemm_bf16(s.transpose_a, s.M, op.a.data(), lda, panels, op.c.data(), s.N,
                                   false);
    });
    benchmark::DoNotOptimize(op.c.data());
    benchmark::ClobberMemory();
  }
  set_flops(state, s);
  state.counters["vdpbf16ps"] = tapegrad::kernels::bf16_instructions() ? 1 : 0;
}

// Rounding and laying out a weight for gemm_bf16 (once per layer call in the recurrent layers).
void bench_pack_bf16(benchmark::State& state, Shape s) {
  Operands op(s);
  const Index ldb = s.transpose_b ? s.K : s.N;
  tbb::task_arena arena(1);  // one core, as the products' tables (it splits above 2^18 floats)
  for (auto _ : state) {
    arena.execute([&] {
      const tapegrad::kernels::Bf16Panels panels =
          tapegrad::kernels::pack_bf16(s.transpose_b, s.K, s.N, op.b.data(), ldb);
      benchmark::DoNotOptimize(panels.sliver(0));
    });
  }
}

void bench_tapegrad(benchmark::State& state, Shape s) {
  Operands op(s);
  const Index lda = s.transpose_a ? s.M : s.K, ldb = s.transpose_b ? s.K : s.N;
  tbb::task_arena arena(static_cast<int>(state.range(0)));
  for (auto _ : state) {
    arena.execute([&] {
      tapegrad::kernels::gemm(s.transpose_a, s.transpose_b, s.M, s.N, s.K, op.a.data(), lda,
                              op.b.data(), ldb, op.c.data(), s.N, false);
    });
    benchmark::DoNotOptimize(op.c.data());
    benchmark::ClobberMemory();
  }
  set_flops(state, s);
}

#ifdef TAPEGRAD_HAVE_OPENBLAS
void bench_openblas(benchmark::State& state, Shape s) {
  Operands op(s);
  const int lda = static_cast<int>(s.transpose_a ? s.M : s.K);
  const int ldb = static_cast<int>(s.transpose_b ? s.K : s.N);
  openblas_set_num_threads(static_cast<int>(state.range(0)));
  for (auto _ : state) {
    cblas_sgemm(CblasRowMajor, s.transpose_a ? CblasTrans : CblasNoTrans,
                s.transpose_b ? CblasTrans : CblasNoTrans, static_cast<int>(s.M),
                static_cast<int>(s.N), static_cast<int>(s.K), 1.0f, op.a.data(), lda, op.b.data(),
                ldb, 0.0f, op.c.data(), static_cast<int>(s.N));
    benchmark::DoNotOptimize(op.c.data());
    benchmark::ClobberMemory();
  }
  set_flops(state, s);
}
#endif

#if defined(__x86_64__) && defined(__GNUC__)
// 12 independent chains of 512-bit FMAs (more than latency x throughput on current cores). This
// TU is built without -march=native, hence the target attribute.
__attribute__((target("avx512f"))) void fma_peak_avx512(benchmark::State& state) {
  constexpr int kChains = 12, kSteps = 1 << 16;
  for (auto _ : state) {
    __m512 acc[kChains];
    for (int i = 0; i < kChains; ++i) acc[i] = _mm512_set1_ps(0.01f * i);
    const __m512 x = _mm512_set1_ps(0.999f), y = _mm512_set1_ps(1e-6f);
    for (int step = 0; step < kSteps; ++step)
#pragma GCC unroll 12
      for (int i = 0; i < kChains; ++i) acc[i] = _mm512_fmadd_ps(acc[i], x, y);
    for (int i = 0; i < kChains; ++i) benchmark::DoNotOptimize(acc[i]);
  }
  state.counters["GFLOPs"] = benchmark::Counter(2.0 * 16 * kChains * kSteps * 1e-9,
                                                benchmark::Counter::kIsIterationInvariantRate);
}
// The same with vdpbf16ps: 2 multiply-adds per lane and instruction.
__attribute__((target("avx512f,avx512bf16"))) void bf16_peak_avx512(benchmark::State& state) {
  constexpr int kChains = 12, kSteps = 1 << 16;
  for (auto _ : state) {
    __m512 acc[kChains];
    for (int i = 0; i < kChains; ++i) acc[i] = _mm512_set1_ps(0.01f * i);
    const __m512bh x = (__m512bh)_mm512_set1_epi32(0x3f7f3f7f);  // 0.996 in both halves
    const __m512bh y = (__m512bh)_mm512_set1_epi32(0x35863586);  // 1e-6
    for (int step = 0; step < kSteps; ++step)
#pragma GCC unroll 12
      for (int i = 0; i < kChains; ++i) acc[i] = _mm512_dpbf16_ps(acc[i], x, y);
    for (int i = 0; i < kChains; ++i) benchmark::DoNotOptimize(acc[i]);
  }
  state.counters["GFLOPs"] = benchmark::Counter(4.0 * 16 * kChains * kSteps * 1e-9,
                                                benchmark::Counter::kIsIterationInvariantRate);
}
void bf16_peak(benchmark::State& state) {
  if (!__builtin_cpu_supports("avx512bf16")) {
    state.SkipWithError("no AVX512_BF16 on this CPU");
    for (auto _ : state) {
    }
    return;
  }
  bf16_peak_avx512(state);
}

void fma_peak(benchmark::State& state) {
  if (!__builtin_cpu_supports("avx512f")) {
    state.SkipWithError("no AVX-512 on this CPU");
    for (auto _ : state) {
    }
    return;
  }
  fma_peak_avx512(state);
}
#endif

void register_all() {
  const std::vector<Shape> shapes = {{64, 128, 1024}, {64, 256, 1024},  {64, 512, 2048},
                                     {6400, 512, 2048}, {1, 512, 2048}, {1024, 1024, 1024}};
  // One LSTM layer (B = 64, H = 512): the forward h.W_hh^T is A.B^T; the weight gradient
  // dgates^T.h is A^T.B with M = 4H, K = B, N = H; plus A^T.B on the forward's shape.
  std::vector<Shape> all = shapes;
  all.push_back({64, 512, 2048, false, true});
  all.push_back({64, 512, 2048, true, false});
  all.push_back({2048, 64, 512, true, false});
  // A batch-1 LSTM step (online, H = 128): backward dgates.W_hh (1 x 512 x 128) and forward
  // h.W_hh^T (1 x 128 x 512), at every time step.
  all.push_back({1, 512, 128, false, false});
  all.push_back({1, 128, 512, false, true});
  // The same at H = 100 (tiny), where neither K nor N is a whole number of 16-float batches.
  all.push_back({1, 400, 100, false, false});
  all.push_back({1, 100, 400, false, true});
  // The sine tutorial's layer (B = 990, H = 100, T = 10): h.W_hh^T, dgates.W_hh, and the weight
  // gradient over all steps, where N = H = 100 is not a whole number of 32-float tiles (with
  // AVX-512 gemm computes that one as 100 x 400: transposes_output).
  all.push_back({990, 100, 400, false, true});
  all.push_back({990, 400, 100, false, false});
  all.push_back({400, 9900, 100, true, false});
  // `mid`'s weight gradients d W_ih and d W_hh over its 3200 rows: tall and narrow, computed
  // transposed with AVX-512 on 1 and 2 threads (transposes_output).
  all.push_back({1024, 3200, 128, true, false});
  all.push_back({1024, 3200, 256, true, false});
  for (const Shape& s : all) {
    const std::string form = s.transpose_b ? "sgemm_nt/" : s.transpose_a ? "sgemm_tn/" : "sgemm/";
    benchmark::RegisterBenchmark((form + shape_name(s)).c_str(), bench_tapegrad, s)
        ->ArgName("threads")->Arg(1)->Arg(2)->UseRealTime()->Unit(benchmark::kMicrosecond);
#ifdef TAPEGRAD_HAVE_OPENBLAS
    benchmark::RegisterBenchmark(("openblas_" + form + shape_name(s)).c_str(), bench_openblas, s)
        ->ArgName("threads")->Arg(1)->Arg(2)->UseRealTime()->Unit(benchmark::kMicrosecond);
#endif
  }
  // The products of a large LSTM layer (T = 100, B = 64, H = I = 512) at bfloat16: the input
  // projection, the step's h.W_hh^T, the backward's dgates.W_hh, the weight gradient.
  // Each also in float32 (sgemm*), where the list above does not have it.
  for (const Shape& s : std::vector<Shape>{{6400, 512, 2048, false, true},
                                           {64, 512, 2048, false, true},
                                           {64, 2048, 512, false, false},
                                           {2048, 6400, 512, true, false}}) {
    const std::string form = s.transpose_b ? "gemm_nt/" : s.transpose_a ? "gemm_tn/" : "gemm/";
    benchmark::RegisterBenchmark(("b" + form + shape_name(s)).c_str(), bench_bf16, s)
        ->ArgName("threads")->Arg(1)->Arg(2)->UseRealTime()->Unit(benchmark::kMicrosecond);
    const bool listed = std::any_of(all.begin(), all.end(), [&](const Shape& t) {
      return t.M == s.M && t.K == s.K && t.N == s.N && t.transpose_a == s.transpose_a &&
             t.transpose_b == s.transpose_b;
    });
    if (!listed) {
      benchmark::RegisterBenchmark(("s" + form + shape_name(s)).c_str(), bench_tapegrad, s)
          ->ArgName("threads")->Arg(1)->Arg(2)->UseRealTime()->Unit(benchmark::kMicrosecond);
    }
  }
  for (const Shape& s : std::vector<Shape>{{0, 512, 2048, false, true}, {0, 2048, 512}}) {
    const std::string form = s.transpose_b ? "pack_bf16_nt/" : "pack_bf16/";
    benchmark::RegisterBenchmark((form + std::to_string(s.K) + "x" + std::to_string(s.N)).c_str(),
                                 bench_pack_bf16, s)
        ->UseRealTime()->Unit(benchmark::kMicrosecond);
  }
#if defined(__x86_64__) && defined(__GNUC__)
  benchmark::RegisterBenchmark("fma_peak", fma_peak)->UseRealTime();
  benchmark::RegisterBenchmark("bf16_peak", bf16_peak)->UseRealTime();
#endif
}

}  // namespace

int main(int argc, char** argv) {
  register_all();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
#ifdef TAPEGRAD_HAVE_OPENBLAS
  benchmark::AddCustomContext("openblas_corename", openblas_get_corename());
#endif
  benchmark::AddCustomContext("tbb_default_concurrency",
                              std::to_string(tbb::info::default_concurrency()));
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
