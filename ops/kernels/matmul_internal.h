#pragma once
// Private to ops/kernels (matmul.cpp, the dispatcher) and gemm's test: the blocking parameters
// and how gemm splits C over TBB tasks. No xsimd or TBB here; the tile width NR (2 batches) lives in the .cpp.
// Letters as in matmul.h; MR x NR is the register tile, KC/MC/NC the cache blocks over K, M, N.
#include <algorithm>
#include <cmath>
#include <cstdint>

namespace tapegrad::kernels::matmul_detail {

using Index = std::int64_t;

// 8 x 32 register tile: 16 accumulators + 2 B batches + 1 broadcast = 19 of 32 zmm registers.
// 16 independent FMA chains cover 4 cycles of latency at 1 FMA/cycle with room to spare, and 8
// rows divide the batch-64 LSTM shapes; 6-, 12- and 14-row tiles measured the same or worse with
// AVX-512. Builds with 16 vector registers use 6 rows (matmul.cpp: kTileRows), 8 would spill.
constexpr Index MR = 8;
// KC = 512: a B sliver (KC x NR) is 64 KB and lives in L2, which feeds one FMA per cycle easily;
// against KC = 256 it halves the passes over C (+5-8% at 512^3). Packed A (MC x KC) is 256 KB.
// NC = 1024: the packed B block (KC x NC, 2 MB) that later row blocks reuse sits in L3; MC = 256
// and NC = 256 or 512 measured within noise of this choice.
constexpr Index KC = 512;
constexpr Index MC = 128;
constexpr Index NC = 1024;
// A row-major B is read in place, not packed, when a block's rows x depth is at most this: few row
// panels re-read each sliver, and packing costs about what it saves (32x512x2048: 91-96% of peak
// in place, 72-77% packed). Beyond it the re-reads thrash, as rows of B 4 or 8 KB apart share L2
// sets (64x512x2048 in place swung between 58% and 91% from run to run).
constexpr Index kDirectArea = 32 * 512;
// A . B^T with at most this many rows uses dot products: transposing B into slivers would cost
// more than the product (1x512x2048: 57 vs 270 us); from 8 rows the turned tile below is faster.
constexpr Index kDotRows = 4;
// A . B^T with 8 to this many rows reads B in place through a turned tile (vectors along M) instead
// of transposing it into slivers: 1.1-1.5x at 8-64 rows, ahead to ~1000 rows; beyond, the
// transposed slivers are reused by enough rows that packing them is as fast or up to 5% faster
// (3200x256x1024, the input projection of a batch-64 sequence).
constexpr Index kTurnedMaxRows = 1024;
// Threading grain: a task gets at least ~2 MFLOP (~20 us); up to 4 tasks per thread, so that work
// stealing evens out a core that is busy with something else.
constexpr double kTaskFlops = 2e6;
constexpr Index kTasksPerThread = 4;
// Column blocks are whole register tiles: NR columns (32 with AVX-512), or the 256-column wide
// tile of a single row when M <= MR.
constexpr Index kSplitColumns = 32;
constexpr Index kWideSplitColumns = 256;

// C split into row_blocks x col_blocks blocks of rows_per_block x cols_per_block (the last ones
// shorter); 1 x 1 means gemm runs serially without touching TBB.
struct GridPlan {
  Index row_blocks = 1, col_blocks = 1, rows_per_block = 0, cols_per_block = 0;
};

// The kernel gemm runs for a product, chosen by the transposes and M alone (so never by the thread
// count), and the rows of its register tile, the grid's row unit. Each kernel build defines its
// own (matmul.cpp, where the SIMD width is known); these call the build in use (dispatch.cpp),
// and the tests ask them which path and which plan a shape gets.
//   dot     A . B^T with M <= kDotRows: dot products along k
//   turned  A . B^T with MR <= M <= kTurnedMaxRows: B read in place, vectors along M
//   packed  everything else: register tiles (tile_rows() x NR) over packed or in-place B slivers
enum class Kernel { dot, turned, packed };
Kernel choose_kernel(bool transpose_a, bool transpose_b, Index M);
Index tile_rows(Kernel kernel);
// Whether gemm computes an A^T . B (a weight gradient: K = the rows of a batch or sequence, C
// small) as C^T = B^T . A with the packed kernel, then transposes the result into C: when N ends
// in a part-filled register tile and M would fill them (H = 100: 400 x 100 ran at 67% of peak,
// 100 x 400 at 80%), or with AVX-512 when C is tall and narrow (an LSTM's d W_hh and d W_ih
// when their N, H or I, is at most 256 and K is deep enough for it: matmul.cpp). Each element
// keeps its chain (fma(a, b, s) = fma(b, a, s); the same KC blocks), so the bits do not depend
// on it, and it may depend on the thread count and on whether C is accumulated into.
bool transposes_output(bool transpose_a, bool transpose_b, Index M, Index N, Index K,
                       bool accumulate);
// The transposes of C (two when accumulating) run on one thread while the product runs on all:
// each moves an element of C in ~1 ns, which costs 2K FLOPs, ~20 ns at K = 1024 on one core, to
// compute. So K must be at least this per thread, keeping the transposes under ~5% of the product
// (the sine layer's weight gradient, K = 9900: ~2% on two threads); the tall rule, which gains
// more, weighs its own limit against N (matmul.cpp).
constexpr Index kTransposeMinDepthPerThread = 4 * KC;
// C of at most this many floats (4 MB of scratch) is transposed.
constexpr Index kTransposeMaxArea = Index{1} << 20;
// With AVX-512, a tall C, M >= kTransposeMinAspect * N, of at most kTransposeMaxNarrowColumns
// columns is transposed (matmul.cpp says why).
constexpr Index kTransposeMinAspect = 4;
constexpr Index kTransposeMaxNarrowColumns = 256;

// Below two tasks' worth of work: serial. Otherwise a multiple of the thread count in tasks
// (when there is work for that). Each column split repacks A and each row split repacks B, so the
// row count is the divisor of the task count closest to the aspect sqrt(tasks * M / N).
// row_unit: rows of the register tile (tile_rows() of the kernel that runs).
inline GridPlan plan_grid(Index M, Index N, Index K, Index threads, Index row_unit) {
  const Index affordable = static_cast<Index>(2.0 * double(M) * double(N) * double(K) / kTaskFlops);
  if (threads <= 1 || affordable < 2) return {1, 1, M, N};
  Index tasks = std::min(kTasksPerThread * threads, affordable);
  if (tasks >= threads) tasks -= tasks % threads;
  const double ideal_rows = std::sqrt(double(tasks) * double(M) / double(N));
  Index tm = 1;
  for (Index d = 2; d <= tasks; ++d)
    if (tasks % d == 0 &&
        std::fabs(std::log(d / ideal_rows)) < std::fabs(std::log(tm / ideal_rows)))
      tm = d;
  const Index col_unit = M <= MR ? kWideSplitColumns : kSplitColumns;
  const Index row_units = (M + row_unit - 1) / row_unit, col_units = (N + col_unit - 1) / col_unit;
  tm = std::min(tm, row_units);
  const Index tn = std::min(tasks / tm, col_units);
  GridPlan plan;
  plan.rows_per_block = (row_units + tm - 1) / tm * row_unit;
  plan.cols_per_block = (col_units + tn - 1) / tn * col_unit;
  plan.row_blocks = (M + plan.rows_per_block - 1) / plan.rows_per_block;
  plan.col_blocks = (N + plan.cols_per_block - 1) / plan.cols_per_block;
  return plan;
}

}  // namespace tapegrad::kernels::matmul_detail
