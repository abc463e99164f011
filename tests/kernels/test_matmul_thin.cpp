// The thin-product paths of gemm (N <= 4 columns, K == 1) against gemm_reference: every transpose
// combination, padded strides, accumulate, and the same bits on one thread and on two.
#include <tbb/task_arena.h>

#include <cmath>
#include <vector>

#include "autograd/generator.h"
#include "ops/kernels/matmul.h"
#include "test_util.h"
#include "thread_test_util.h"

namespace {

using tapegrad::Generator;
using Index = std::int64_t;

struct Product {
  bool ta, tb;
  Index M, N, K, pad;
  std::vector<float> a, b, c;
  Index lda, ldb, ldc;

  Product(bool ta_, bool tb_, Index M_, Index N_, Index K_, Index pad_, Generator& gen)
      : ta(ta_), tb(tb_), M(M_), N(N_), K(K_), pad(pad_) {
    lda = (ta ? M : K) + pad;
    ldb = (tb ? K : N) + pad;
    ldc = N + pad;
    a = random((ta ? K : M) * lda, gen);
    b = random((tb ? N : K) * ldb, gen);
    c = random(M * ldc, gen);
  }
  static std::vector<float> random(Index n, Generator& gen) {
    std::vector<float> v(static_cast<std::size_t>(std::max<Index>(n, 1)));
    for (float& x : v) x = gen.uniform(-1.0f, 1.0f);
    return v;
  }
  std::vector<float> run(bool reference, bool accumulate) const {
    std::vector<float> out = c;
    (reference ? tapegrad::kernels::gemm_reference : tapegrad::kernels::gemm)(
        ta, tb, M, N, K, a.data(), lda, b.data(), ldb, out.data(), ldc, accumulate);
    return out;
  }
};

}  // namespace

TEST_CASE("thin products (few columns or K = 1) match the reference", "[kernels][matmul]") {
  Generator gen(17);
  for (bool ta : {false, true}) {
    for (bool tb : {false, true}) {
      for (Index N : {1, 2, 3, 4, 5}) {
        for (Index K : {1, 7, 100, 9900}) {
          for (Index M : {1, 13, 400}) {
            for (bool accumulate : {false, true}) {
              INFO("ta " << ta << " tb " << tb << " M " << M << " N " << N << " K " << K
                         << " accumulate " << accumulate);
              const Product p(ta, tb, M, N, K, /*pad=*/3, gen);
              const std::vector<float> fast = p.run(false, accumulate);
              const std::vector<float> slow = p.run(true, accumulate);
              for (std::size_t i = 0; i < fast.size(); ++i) {
                // float32 sums of K products of values in [-1, 1] vs double sums
                REQUIRE(std::abs(fast[i] - slow[i]) <= 1e-6 * double(K) + 1e-5);
              }
            }
          }
        }
      }
    }
  }
}

TEST_CASE("thin products give the same bits on one thread and on two",
          "[kernels][matmul][two_threads]") {
  Generator gen(18);
  for (bool ta : {false, true}) {
    for (auto [M, N, K] : {std::tuple<Index, Index, Index>{9900, 400, 1}, {400, 1, 9900},
                           {9900, 1, 400}, {3000, 3, 512}}) {
      const Product p(ta, false, M, N, K, 0, gen);
      std::vector<float> one, two;
      tbb::task_arena(1).execute([&] { one = p.run(false, true); });
      if (!tapegrad::testing::run_on_two_threads([&] { two = p.run(false, true); })) return;
      REQUIRE(one == two);
    }
  }
}

TEST_CASE("a one-row A.B gives the bits of the same row in a batched product, on 1 and 2 threads",
          "[kernels][matmul][two_threads]") {
  // The batch-1 path (one row of A against a row-major B) reproduces the packed kernels' chain per
  // KC block of k: K = 1100 crosses two block edges. A last chunk narrower than a vector (read
  // overlapping the chunk before): N = 4097 with AVX-512 (256-column chunks), N = 4033 with AVX2
  // and SSE2 (96 and 48). 100 and 23 end in a partial vector that overlaps the one before it.
  // A B narrower than a vector (copied into padded rows): N = 7 and 5 with AVX2 and AVX-512; SSE2
  // never gets there (this path needs N > 4, a vector is 4 wide).
  Generator gen(19);
  for (const Index N :
       {Index{4097}, Index{4033}, Index{4100}, Index{100}, Index{23}, Index{7}, Index{5}})
  for (const bool accumulate : {false, true}) {
    const Index K = 1100, rows = 9;
    const Product batched(false, false, rows, N, K, /*pad=*/0, gen);
    const std::vector<float> all_rows = batched.run(false, accumulate);
    for (const Index row : {Index{0}, Index{5}}) {
      std::vector<float> one_row(batched.c.begin() + row * N, batched.c.begin() + (row + 1) * N);
      const auto run = [&] {
        std::vector<float> out = one_row;
        tapegrad::kernels::gemm(false, false, 1, N, K, batched.a.data() + row * K, K,
                                batched.b.data(), N, out.data(), N, accumulate);
        return out;
      };
      std::vector<float> one_thread, two_threads;
      tbb::task_arena(1).execute([&] { one_thread = run(); });
      INFO("N " << N << " row " << row << " accumulate " << accumulate);
      for (Index n = 0; n < N; ++n) {  // names the first column that differs
        if (one_thread[static_cast<std::size_t>(n)] != all_rows[static_cast<std::size_t>(row * N + n)]) {
          FAIL("column " << n << ": " << one_thread[static_cast<std::size_t>(n)] << " vs "
                         << all_rows[static_cast<std::size_t>(row * N + n)] << " in the batch");
        }
      }
      if (!tapegrad::testing::run_on_two_threads([&] { two_threads = run(); })) continue;
      REQUIRE(two_threads == one_thread);
    }
  }
}
