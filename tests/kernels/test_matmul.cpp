// gemm against its naive twin gemm_reference (double accumulation) on awkward sizes: tails of the
// 8x32 register tile, the KC = 512 / MC = 128 / NC = 1024 cache blocks, the in-place-B and
// dot-product paths for few rows, every transpose combination, padded strides and accumulate.
// A . B^T takes three paths by M (matmul_detail::choose_kernel): dot products (M <= 4, A not
// transposed), transposed B slivers (other M < 8, and above 1024: M = 1030), and the turned tile
// with B in place (8-1024 rows; with AVX-512 its 16-row last panel at M = 9, 12, 16, 33, 65, its
// 256-row A block crossed at M = 260 and 300, with K > 512 at 300 and 1024).
#include <tbb/task_arena.h>

#include <cfloat>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "autograd/generator.h"
#include "ops/kernels/matmul.h"
#include "ops/kernels/matmul_internal.h"
#include "test_util.h"
#include "thread_test_util.h"

namespace {

using tapegrad::Generator;
using tapegrad::kernels::gemm;
using tapegrad::kernels::gemm_reference;
using Index = std::int64_t;

// Padding cells hold NaN in A and B (a kernel that reads them poisons its result) and a sentinel
// in C (a kernel that writes them is caught).
constexpr float kCPadding = -12345.0f;

struct Shape {
  Index M, N, K;
};

// Operands of one product, stored as gemm sees them: A is [M, K] or, transposed, [K, M]; B is
// [K, N] or [N, K]; every row stride exceeds its row by `pad`.
struct Operands {
  bool transpose_a, transpose_b;
  Shape s;
  Index lda, ldb, ldc;
  std::vector<float> a, b, c;

  Operands(bool ta, bool tb, Shape shape, Index pad, Generator& gen, bool integers = false)
      : transpose_a(ta), transpose_b(tb), s(shape) {
    const Index a_rows = ta ? s.K : s.M, a_cols = ta ? s.M : s.K;
    const Index b_rows = tb ? s.N : s.K, b_cols = tb ? s.K : s.N;
    lda = a_cols + pad;
    ldb = b_cols + pad;
    ldc = s.N + pad;
    a = make(a_rows, a_cols, lda, NAN, gen, integers);
    b = make(b_rows, b_cols, ldb, NAN, gen, integers);
    c = make(s.M, s.N, ldc, kCPadding, gen, integers);
  }
  static std::vector<float> make(Index rows, Index cols, Index ld, float padding, Generator& gen,
                                 bool integers) {
    std::vector<float> v(static_cast<std::size_t>(std::max<Index>(rows * ld, 1)), padding);
    for (Index r = 0; r < rows; ++r)
      for (Index j = 0; j < cols; ++j)
        v[r * ld + j] = integers ? std::floor(gen.uniform(-4.0f, 5.0f)) : gen.uniform(-1.0f, 1.0f);
    return v;
  }
  float a_at(Index m, Index k) const { return transpose_a ? a[k * lda + m] : a[m * lda + k]; }
  float b_at(Index k, Index n) const { return transpose_b ? b[n * ldb + k] : b[k * ldb + n]; }

  std::vector<float> run(bool accumulate) const {
    std::vector<float> out = c;
    gemm(transpose_a, transpose_b, s.M, s.N, s.K, a.data(), lda, b.data(), ldb, out.data(), ldc,
         accumulate);
    return out;
  }
  std::vector<float> run_reference(bool accumulate) const {
    std::vector<float> out = c;
    gemm_reference(transpose_a, transpose_b, s.M, s.N, s.K, a.data(), lda, b.data(), ldb,
                   out.data(), ldc, accumulate);
    return out;
  }
};

std::string describe(const Operands& op, bool accumulate) {
  return std::string(op.transpose_a ? "T" : "N") + (op.transpose_b ? "T" : "N") + " M=" +
         std::to_string(op.s.M) + " N=" + std::to_string(op.s.N) + " K=" +
         std::to_string(op.s.K) + " lda=" + std::to_string(op.lda) + " ldb=" +
         std::to_string(op.ldb) + " ldc=" + std::to_string(op.ldc) +
         (accumulate ? " accumulate" : "");
}

// "" when every element is within tolerance of the reference and C's padding is untouched;
// otherwise where and by how much it is not. The float32 error of a K-term sum is bounded
// relative to sum_k |a_mk b_kn| (plus |C| when accumulating), not to the result, which may cancel.
std::string compare(const Operands& op, bool accumulate, const std::vector<float>& got,
                    const std::vector<float>& want, double rel_tol) {
  for (Index m = 0; m < op.s.M; ++m) {
    for (Index n = 0; n < op.s.N; ++n) {
      double scale = accumulate ? std::fabs(op.c[m * op.ldc + n]) : 0.0;
      for (Index k = 0; k < op.s.K; ++k) scale += std::fabs(double(op.a_at(m, k)) * op.b_at(k, n));
      const double x = got[m * op.ldc + n], y = want[m * op.ldc + n];
      if (!(std::fabs(x - y) <= rel_tol * scale))  // also catches NaN
        return "C[" + std::to_string(m) + "," + std::to_string(n) + "] = " + std::to_string(x) +
               ", reference " + std::to_string(y) + ", scale " + std::to_string(scale);
    }
    for (Index n = op.s.N; n < op.ldc; ++n)
      if (got[m * op.ldc + n] != kCPadding) return "wrote C's padding in row " + std::to_string(m);
  }
  return "";
}

double float_tolerance(Index K) { return 4.0 * FLT_EPSILON * std::sqrt(double(K) + 1.0); }

void check_against_reference(bool ta, bool tb, Shape shape, Index pad, bool accumulate,
                             std::uint64_t seed) {
  Generator gen(seed);
  const Operands op(ta, tb, shape, pad, gen);
  INFO(describe(op, accumulate));
  REQUIRE(compare(op, accumulate, op.run(accumulate), op.run_reference(accumulate),
                  float_tolerance(shape.K)) == "");
}

// gemm on the first `narrow` columns of wide's op(B) and C, with C's rows `pad` floats longer
// (holding kCPadding): each element is the same chain as in wide's product, so those columns
// must have its bits, and the padding must stay as it was.
void require_leading_columns(const Operands& wide, Index narrow, Index pad, bool accumulate) {
  const Index M = wide.s.M, K = wide.s.K, ldc = narrow + pad;
  std::vector<float> b_narrow(static_cast<std::size_t>(narrow * K));
  for (Index k = 0; k < K; ++k)
    for (Index n = 0; n < narrow; ++n)
      b_narrow[static_cast<std::size_t>(wide.transpose_b ? n * K + k : k * narrow + n)] =
          wide.b_at(k, n);
  std::vector<float> c_narrow(static_cast<std::size_t>(M * ldc), kCPadding);
  for (Index m = 0; m < M; ++m)
    for (Index n = 0; n < narrow; ++n)
      c_narrow[static_cast<std::size_t>(m * ldc + n)] =
          wide.c[static_cast<std::size_t>(m * wide.ldc + n)];
  gemm(wide.transpose_a, wide.transpose_b, M, narrow, K, wide.a.data(), wide.lda,
       b_narrow.data(), wide.transpose_b ? K : narrow, c_narrow.data(), ldc, accumulate);
  const std::vector<float> c_full = wide.run(accumulate);
  INFO(describe(wide, accumulate) << ", its first " << narrow << " columns");
  for (Index m = 0; m < M; ++m) {
    REQUIRE(std::memcmp(c_narrow.data() + m * ldc, c_full.data() + m * wide.ldc,
                        sizeof(float) * static_cast<std::size_t>(narrow)) == 0);
    for (Index n = narrow; n < ldc; ++n)
      REQUIRE(c_narrow[static_cast<std::size_t>(m * ldc + n)] == kCPadding);
  }
}

}  // namespace

TEST_CASE("gemm matches gemm_reference on awkward sizes and all transposes", "[kernels][matmul]") {
  const bool ta = GENERATE(false, true);
  const bool tb = GENERATE(false, true);
  const bool accumulate = GENERATE(false, true);
  const std::vector<Shape> shapes = {
      {1, 1, 1},    {7, 5, 3},      {17, 65, 33},  {65, 257, 129}, {1, 513, 2047},
      {1, 2047, 513}, {2, 300, 70},  {3, 70, 1100}, {4, 33, 17},   {5, 100, 17},
      {8, 32, 512}, {9, 31, 513},   {7, 33, 511},  {32, 97, 512}, {33, 97, 512},
      {64, 40, 256}, {65, 40, 257}, {16, 600, 40}, {24, 130, 1100}, {12, 50, 30},
      {260, 45, 70}, {1030, 20, 30}, {300, 40, 530}, {1024, 20, 600},
      // Batch-1 LSTM steps at H = 100 (forward and backward products), and dot tiles (M <= 4)
      // whose K is one vector, less than one, or one and a part.
      {1, 400, 100}, {1, 100, 400}, {1, 20, 16}, {1, 33, 15}, {2, 40, 9}, {4, 15, 33},
      {3, 9, 17}, {2, 40, 3}};
  std::uint64_t seed = 1;
  for (const Shape& shape : shapes) check_against_reference(ta, tb, shape, 0, accumulate, seed++);
  // A^T.B computed as its transpose on one thread, on every level (transposes_output)
  tbb::task_arena(1).execute(
      [&] { check_against_reference(ta, tb, {512, 17, 2100}, 0, accumulate, seed); });
}

TEST_CASE("gemm crosses the MC and NC cache blocks", "[kernels][matmul]") {
  // 130 rows > MC = 128 and 1030 columns > NC = 1024: B slivers are packed during the first row
  // block and reused by the second, and the last column block is 6 wide. K = 130 makes a row-major
  // B packed too (rows x depth above the in-place limit), by the fused first panel.
  const bool ta = GENERATE(false, true);
  const bool tb = GENERATE(false, true);
  check_against_reference(ta, tb, {130, 1030, 130}, 0, ta != tb, 7);
}

TEST_CASE("gemm honours padded strides and never touches padding", "[kernels][matmul]") {
  const bool ta = GENERATE(false, true);
  const bool tb = GENERATE(false, true);
  const bool accumulate = GENERATE(false, true);
  const Index pad = GENERATE(1, 5, 16);
  // 510 and 250 columns end 2 short of a whole wide tile (256 or 128 columns) for 1 or 2 rows.
  for (const Shape shape : {Shape{1, 40, 20}, Shape{1, 510, 30}, Shape{2, 250, 30},
                            Shape{3, 17, 33}, Shape{19, 45, 70}, Shape{40, 33, 600}})
    check_against_reference(ta, tb, shape, pad, accumulate, 100 + pad);
}

TEST_CASE("gemm sums small integers exactly, in any order", "[kernels][matmul]") {
  // Integers in [-4, 4] keep every partial sum exact in float32, so any summation order must
  // reproduce the reference bit for bit; a dropped or doubled term cannot hide in a tolerance.
  const bool ta = GENERATE(false, true);
  const bool tb = GENERATE(false, true);
  const bool accumulate = GENERATE(false, true);
  for (const Shape shape : {Shape{1, 300, 1100}, Shape{3, 45, 700}, Shape{13, 70, 1030},
                            Shape{40, 100, 513}}) {
    Generator gen(shape.M * 1000 + shape.K);
    const Operands op(ta, tb, shape, 3, gen, /*integers=*/true);
    INFO(describe(op, accumulate));
    REQUIRE(op.run(accumulate) == op.run_reference(accumulate));
  }
}

TEST_CASE("gemm with an empty dimension", "[kernels][matmul]") {
  Generator gen(3);
  SECTION("K = 0 gives zeros, or leaves C as it was when accumulating") {
    const Operands op(false, false, {3, 5, 0}, 2, gen);
    std::vector<float> expected = op.c;
    REQUIRE(op.run(true) == expected);
    for (Index m = 0; m < 3; ++m)
      for (Index n = 0; n < 5; ++n) expected[m * op.ldc + n] = 0.0f;
    REQUIRE(op.run(false) == expected);
  }
  SECTION("M = 0 or N = 0 writes nothing") {
    const float a = 1.0f, b = 2.0f;
    float c[4] = {5.0f, 6.0f, 7.0f, 8.0f};
    gemm(false, false, 0, 2, 1, &a, 1, &b, 2, c, 2, false);
    gemm(true, true, 2, 0, 1, &a, 2, &b, 1, c, 2, false);
    REQUIRE(c[0] == 5.0f);
    REQUIRE(c[3] == 8.0f);
  }
}

TEST_CASE("named wrappers match explicitly transposed inputs", "[kernels][matmul]") {
  using tapegrad::kernels::matmul_forward;
  using tapegrad::kernels::matmul_nt;
  using tapegrad::kernels::matmul_tn;
  using tapegrad::MatmulPrecision;
  const bool accumulate = GENERATE(false, true);
  // M = 3 takes the dot-product path for matmul_nt, 70 the packed one; integers make every path
  // exact, so the comparison can be bitwise.
  const Index M = GENERATE(3, 70);
  const Index K = 130, N = 45;
  Generator gen(11);
  auto random = [&](Index n) {
    std::vector<float> v(static_cast<std::size_t>(n));
    for (float& x : v) x = std::floor(gen.uniform(-4.0f, 5.0f));
    return v;
  };
  auto transposed = [](const std::vector<float>& x, Index rows, Index cols) {
    std::vector<float> t(x.size());
    for (Index r = 0; r < rows; ++r)
      for (Index j = 0; j < cols; ++j) t[j * rows + r] = x[r * cols + j];
    return t;
  };
  const std::vector<float> a = random(M * K), b = random(K * N), c0 = random(M * N);
  std::vector<float> expected = c0;
  gemm_reference(false, false, M, N, K, a.data(), K, b.data(), N, expected.data(), N, accumulate);

  std::vector<float> out = c0;
  matmul_forward(out.data(), a.data(), b.data(), M, K, N, accumulate, MatmulPrecision::float32);
  REQUIRE(out == expected);

  out = c0;
  const std::vector<float> b_t = transposed(b, K, N);  // [N, K], a Linear weight
  matmul_nt(out.data(), a.data(), b_t.data(), M, K, N, accumulate, MatmulPrecision::float32);
  REQUIRE(out == expected);

  out = c0;
  const std::vector<float> a_t = transposed(a, M, K);  // [K, M]
  matmul_tn(out.data(), a_t.data(), b.data(), M, K, N, accumulate, MatmulPrecision::float32);
  REQUIRE(out == expected);
}

TEST_CASE("gemm is bit-identical on 1 and 2 threads", "[kernels][matmul][two_threads]") {
  struct Case {
    bool ta, tb;
    Shape s;
    bool transposed = false;  // computed as C^T on 1 and on 2 threads
  };
  // Each is far above the serial cut-off (~4 MFLOP), so with 2 threads gemm splits it into
  // several blocks (checked on the plan): packed (rows and columns), in-place B, dot products,
  // and an A^T.B computed as its transpose.
  const Case c = GENERATE(Case{false, false, {200, 300, 257}}, Case{false, true, {64, 520, 300}},
                          Case{true, false, {150, 200, 300}}, Case{true, true, {96, 130, 520}},
                          Case{false, false, {8, 2000, 700}}, Case{false, true, {3, 2000, 1100}},
                          Case{true, false, {512, 17, 4200}, true});
  Generator gen(5);
  const Operands op(c.ta, c.tb, c.s, 1, gen);
  INFO(describe(op, true));
  namespace detail = tapegrad::kernels::matmul_detail;
  const Index row_unit = detail::tile_rows(detail::choose_kernel(c.ta, c.tb, c.s.M));
  // the plan gemm makes on 2 threads, for C or, computed transposed, for C^T
  bool transposed = false, transposed_alone = false;
  const auto decide = [&] {
    return detail::transposes_output(c.ta, c.tb, c.s.M, c.s.N, c.s.K, true);  // op.run(true)
  };
  tbb::task_arena(2).execute([&] { transposed = decide(); });
  tbb::task_arena(1).execute([&] { transposed_alone = decide(); });
  REQUIRE(transposed == c.transposed);
  REQUIRE(transposed_alone == c.transposed);
  const auto grid = transposed ? detail::plan_grid(c.s.N, c.s.M, c.s.K, 2, row_unit)
                               : detail::plan_grid(c.s.M, c.s.N, c.s.K, 2, row_unit);
  REQUIRE(grid.row_blocks * grid.col_blocks >= 4);  // really split on 2 threads
  REQUIRE(detail::plan_grid(c.s.M, c.s.N, c.s.K, 1, row_unit).col_blocks == 1);
  std::vector<float> single, multi;
  tbb::task_arena(1).execute([&] { single = op.run(true); });
  REQUIRE(compare(op, true, single, op.run_reference(true), float_tolerance(c.s.K)) == "");
  for (int run = 0; run < 3; ++run) {  // a race would show as differing bits in some run
    if (!tapegrad::testing::run_on_two_threads([&] { multi = op.run(true); })) return;
    REQUIRE(std::memcmp(single.data(), multi.data(), sizeof(float) * single.size()) == 0);
  }
}

TEST_CASE("the turned and the packed A.B^T kernels give the same bits", "[kernels][matmul]") {
  // Both compute each element as the same float32 chain per KC block, so the rows that a turned
  // product (8-1024 rows) shares with a packed one (fewer or more rows) must match bit for bit.
  // K = 600 crosses the KC = 512 block; accumulate adds C after each block's chain.
  namespace detail = tapegrad::kernels::matmul_detail;
  using detail::Kernel;
  const bool ta = GENERATE(false, true);
  struct Pair {
    Index turned_rows, packed_rows;
  };
  const Pair pair = GENERATE(Pair{1000, 1030}, Pair{8, 7});
  REQUIRE(detail::choose_kernel(ta, true, pair.turned_rows) == Kernel::turned);
  REQUIRE(detail::choose_kernel(ta, true, pair.packed_rows) == Kernel::packed);
  const Index M = std::max(pair.turned_rows, pair.packed_rows), N = 45, K = 600;
  Generator gen(17);
  const Operands op(ta, true, {M, N, K}, 2, gen);
  auto run_rows = [&](Index rows) {  // the first `rows` rows of the product, accumulating
    std::vector<float> out = op.c;
    gemm(ta, true, rows, N, K, op.a.data(), op.lda, op.b.data(), op.ldb, out.data(), op.ldc,
         true);
    return out;
  };
  const std::vector<float> turned = run_rows(pair.turned_rows);
  const std::vector<float> packed = run_rows(pair.packed_rows);
  const Index shared_rows = std::min(pair.turned_rows, pair.packed_rows);
  INFO("A " << (ta ? "transposed" : "row-major") << ", rows " << pair.turned_rows << " vs "
            << pair.packed_rows);
  REQUIRE(std::memcmp(turned.data(), packed.data(),
                      sizeof(float) * static_cast<std::size_t>(shared_rows * op.ldc)) == 0);
}

TEST_CASE("gemm keeps an infinite element of B infinite in the dot tiles", "[kernels][matmul]") {
  // The dot tiles' last k batch ends at K and overlaps the batch before it; lanes already counted
  // must add nothing, not 0 * inf = NaN. One +inf anywhere in B's row, A all ones: C is +inf.
  // Rows 3 and 11 of B: with AVX-512 a one-row tile takes 16 rows of B in two passes of 8.
  for (const Index M : {Index{1}, Index{2}, Index{4}})
    for (const Index K : {Index{3}, Index{9}, Index{17}, Index{33}, Index{100}})
      for (const Index row : {Index{3}, Index{11}})
        for (Index position = 0; position < K; ++position) {
          const Index N = 20;
          std::vector<float> a(static_cast<std::size_t>(M * K), 1.0f);
          std::vector<float> b(static_cast<std::size_t>(N * K), 0.5f);
          std::vector<float> c(static_cast<std::size_t>(M * N), 0.0f);
          b[static_cast<std::size_t>(row * K + position)] = INFINITY;  // column `row` of C
          gemm(false, true, M, N, K, a.data(), K, b.data(), K, c.data(), N, false);
          INFO("M " << M << " K " << K << " inf in row " << row << " at k = " << position);
          for (Index m = 0; m < M; ++m) {
            REQUIRE(std::isinf(c[static_cast<std::size_t>(m * N + row)]));
            REQUIRE(c[static_cast<std::size_t>(m * N + row)] > 0.0f);
            REQUIRE(c[static_cast<std::size_t>(m * N + row + 1)] == 0.5f * static_cast<float>(K));
          }
        }
}

TEST_CASE("a narrow last column tile gives the bits of a full-width one", "[kernels][matmul]") {
  // N = 100 ends in 4 columns at every level, run one vector wide; N = 112 and 113 end in 16 and
  // 17 (one whole AVX-512 vector, and one column past it). With more columns in B the same
  // columns run in full tiles. Per element the chain is the same, so the shared columns must agree
  // bit for bit: row-major and transposed A, A . B^T at M = 1030 (there the packed kernel), M = 5
  // (wide tiles, then the narrow rest), and K = 600 (a second KC block adds to C).
  struct Case {
    bool ta, tb;
    Index M;
  };
  const Case c = GENERATE(Case{false, false, 70}, Case{true, false, 70}, Case{false, true, 1030},
                          Case{false, false, 5});
  const bool accumulate = GENERATE(false, true);
  const Index narrow = GENERATE(100, 112, 113);
  const Index K = GENERATE(300, 600);
  Generator gen(23);
  const Operands wide(c.ta, c.tb, {c.M, 160, K}, 0, gen);
  require_leading_columns(wide, narrow, 0, accumulate);
}

TEST_CASE("an A^T.B computed transposed, as C^T = B^T.A, gives the bits of the product itself",
          "[kernels][matmul]") {
  // Weight gradients (dgates^T . h, K = the sequence's rows) are computed as their transposes on
  // one thread (matmul_detail::transposes_output): 512 x 17 on every level (badly tiled), and
  // with AVX-512 400 x 100 (H = 100), 512 x 128 and 600 x 150 (tall and narrow; the last one's
  // transposed problem has two row blocks, 150 > MC, the second reusing packed slivers); the
  // narrower levels say no to those. The same rows of A against 160 columns of B are not
  // transposed, and every element is the same chain in both, so the shared columns must agree
  // bit for bit on every level, accumulating into C (transposed in, then back) or not, with C's
  // padding untouched. K = 2100 is five KC blocks; the decision counts threads, so this runs on
  // one.
  namespace detail = tapegrad::kernels::matmul_detail;
  const bool accumulate = GENERATE(false, true);
  const Index K = 2100, full = 160;
  // The tall-and-narrow rule is AVX-512's, the level whose register tile has MR rows.
  const bool tall_rule = detail::tile_rows(detail::Kernel::packed) == detail::MR;
  struct Narrow {
    Index M, N;
  };
  tbb::task_arena(1).execute([&] {
    // Too wide to be "narrow" (257 > kTransposeMaxNarrowColumns), and tiled alike both ways.
    REQUIRE_FALSE(detail::transposes_output(true, false, 1100, 257, K, accumulate));
    // The depth a tall C needs grows with N, doubles when accumulating (two transposes), and is
    // at least one KC block.
    REQUIRE(detail::transposes_output(true, false, 1024, 256, 1600, false) == tall_rule);
    REQUIRE_FALSE(detail::transposes_output(true, false, 1024, 256, 1600, true));
    REQUIRE_FALSE(detail::transposes_output(true, false, 1024, 256, 800, false));
    REQUIRE(detail::transposes_output(true, false, 1024, 32, 512, false) == tall_rule);
    REQUIRE_FALSE(detail::transposes_output(true, false, 1024, 32, 500, false));
    for (const Narrow shape :
         {Narrow{400, 100}, Narrow{512, 17}, Narrow{512, 128}, Narrow{600, 150}}) {
      INFO("M=" << shape.M << " N=" << shape.N);
      REQUIRE_FALSE(detail::transposes_output(true, false, shape.M, full, K, accumulate));
      REQUIRE(detail::transposes_output(true, false, shape.M, shape.N, K, accumulate) ==
              (shape.N == 17 || tall_rule));
      Generator gen(31);
      const Operands wide(true, false, {shape.M, full, K}, 0, gen);
      require_leading_columns(wide, shape.N, 3, accumulate);
    }
  });
  // ... and per thread: on two, 1024 x 256 over 1600 rows is 800 each, below 4N.
  tbb::task_arena(2).execute(
      [&] { REQUIRE_FALSE(detail::transposes_output(true, false, 1024, 256, 1600, false)); });
}

TEST_CASE("gemm_bias gives the bits of filling C with the bias row, then accumulating",
          "[kernels][matmul][two_threads]") {
  // Every path (AVX-512 names): packed with B transposed (1030 rows), with B in place and its
  // plain, 8- and 16-batch wide tiles (37, 2, 1 rows; 16 with transposed A), fused packing, a
  // second KC block and a narrow last sliver (200x100x600), past NC (1030 columns); the turned
  // A.B^T tile (40, 300, 64 rows); the dot tiles (M = 3); and the thin products (K = 1, one row,
  // N <= 4 with A as stored and transposed); and 512x17x2100 with A transposed, which the fill's
  // gemm computes as its transpose on one thread and gemm_bias never does.
  struct Case {
    bool ta, tb;
    Shape s;
  };
  const Case c = GENERATE(
      Case{false, true, {1030, 70, 33}}, Case{false, false, {200, 100, 600}},
      Case{true, false, {37, 45, 20}}, Case{false, false, {5, 300, 40}},
      Case{false, false, {2, 300, 40}}, Case{true, false, {1, 600, 40}},
      Case{false, false, {3, 500, 40}}, Case{false, false, {130, 1030, 130}},
      Case{false, true, {40, 21, 19}}, Case{false, true, {300, 100, 1030}},
      Case{false, true, {3, 50, 37}}, Case{false, true, {990, 400, 1}},
      Case{true, false, {9, 3, 80}}, Case{false, true, {50, 3, 80}},
      Case{false, false, {1, 100, 400}}, Case{false, false, {2000, 1024, 128}},
      Case{true, true, {64, 33, 7}}, Case{true, false, {512, 17, 2100}});
  Generator gen(17);
  Operands op(c.ta, c.tb, c.s, 3, gen);
  // Column 0 of op(B) is zero, so its sums are exactly 0, and its bias is -0: where the tiles add
  // C after the chain (-0 + +0 = +0), a chain started from the bias would give -0 for a negative
  // a_mk; the bits must be the fill's in every path.
  for (Index k = 0; k < c.s.K; ++k) op.b[c.tb ? k : k * op.ldb] = 0.0f;
  INFO(describe(op, false));
  // N values, then NaN: a read past the row would poison C.
  std::vector<float> bias(static_cast<std::size_t>(c.s.N + 64), NAN);
  for (Index n = 0; n < c.s.N; ++n) bias[n] = n == 0 ? -0.0f : gen.uniform(-2.0f, 2.0f);
  std::vector<float> filled = op.c;
  for (Index m = 0; m < c.s.M; ++m)
    std::copy_n(bias.begin(), c.s.N, filled.begin() + m * op.ldc);
  const auto with_bias = [&](std::vector<float>& out) {
    tapegrad::kernels::gemm_bias(c.ta, c.tb, c.s.M, c.s.N, c.s.K, op.a.data(), op.lda,
                                 op.b.data(), op.ldb, out.data(), op.ldc, bias.data());
  };
  std::vector<float> fused = op.c;
  tbb::task_arena(1).execute([&] {
    gemm(c.ta, c.tb, c.s.M, c.s.N, c.s.K, op.a.data(), op.lda, op.b.data(), op.ldb,
         filled.data(), op.ldc, true);
    with_bias(fused);
  });
  REQUIRE(std::memcmp(filled.data(), fused.data(), sizeof(float) * filled.size()) == 0);
  // and the sum is right: against the reference from a C of bias rows
  Operands reference = op;
  for (Index m = 0; m < c.s.M; ++m)
    std::copy_n(bias.begin(), c.s.N, reference.c.begin() + m * op.ldc);
  REQUIRE(compare(reference, true, fused, reference.run_reference(true),
                  float_tolerance(c.s.K)) == "");
  std::vector<float> multi = op.c;
  if (tapegrad::testing::run_on_two_threads([&] { with_bias(multi); }))
    REQUIRE(std::memcmp(filled.data(), multi.data(), sizeof(float) * filled.size()) == 0);
}

TEST_CASE("gemm_bias with an empty sum leaves the bias rows", "[kernels][matmul]") {
  std::vector<float> c(6, 7.0f);
  const std::vector<float> bias{1.0f, -2.0f, 3.0f};
  tapegrad::kernels::gemm_bias(false, false, 2, 3, 0, nullptr, 1, nullptr, 3, c.data(), 3,
                               bias.data());
  REQUIRE(c == std::vector<float>{1.0f, -2.0f, 3.0f, 1.0f, -2.0f, 3.0f});
}
