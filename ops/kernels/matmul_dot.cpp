// The dot-product path of the float32 gemm: A . B^T with at most kDotRows rows of A (a batch-1
// step's h . W_hh^T), where transposing B into slivers would cost more than the product. Each
// element of C is a sum split over the SIMD lanes along k, the lanes then added by a fixed tree,
// so its bits depend on K alone, not on tiles, blocks or threads. Letters as in matmul.h.
#include "ops/kernels/isa_namespace.h"
#include "ops/kernels/matmul_problem.h"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <utility>
#include <xsimd/xsimd.hpp>

namespace tapegrad::kernels::inline TAPEGRAD_KERNEL_ISA::float_gemm {
namespace {

// Each accumulator's lane sum: sums[i] = the sum of acc[i]'s lanes, in an order fixed per lane.
// A horizontal sum per accumulator (xsimd::hadd) cost as much as the dot products' FMAs at
// K = 100; with AVX-512 the 16 accumulators of a dot tile fold into one vector in 15 shuffle-add
// steps instead (xsimd 8.1's haddp would, but returns lanes 2,3 and 4,5 swapped).
#pragma GCC diagnostic push
// GCC 12's _mm512_shuffle_f32x4 passes _mm512_undefined_ps() as its merge source, and
// -Wuninitialized reports that once it is inlined here.
#pragma GCC diagnostic ignored "-Wuninitialized"
// Inlined: as a call, the 16 accumulators went through the stack (and a vzeroupper).
template <std::size_t Count>
[[gnu::always_inline]] inline void lane_sums(const Batch (&acc)[Count], float* sums) {
#if defined(__AVX512F__)
  if constexpr (Count == 16 && kLanes == 16) {
    // The tree leaves accumulator 4a+b in lane 4b+a: fed in that order, lane i holds acc[i].
    constexpr int kOrder[16] = {0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15};
    __m512 halves[8], quarters[4], eighths[2];
#pragma GCC unroll 8
    for (int i = 0; i < 8; ++i) {  // [a0+a2, a1+a3, b0+b2, b1+b3] in 128-bit blocks
      const __m512 a = acc[kOrder[2 * i]], b = acc[kOrder[2 * i + 1]];
      halves[i] =
          _mm512_add_ps(_mm512_shuffle_f32x4(a, b, 0x44), _mm512_shuffle_f32x4(a, b, 0xEE));
    }
#pragma GCC unroll 8
    for (int i = 0; i < 4; ++i) {  // one 4-float block per accumulator
      const __m512 a = halves[2 * i], b = halves[2 * i + 1];
      quarters[i] =
          _mm512_add_ps(_mm512_shuffle_f32x4(a, b, 0x88), _mm512_shuffle_f32x4(a, b, 0xDD));
    }
#pragma GCC unroll 8
    for (int i = 0; i < 2; ++i) {  // two floats per accumulator within each block
      const __m512 a = quarters[2 * i], b = quarters[2 * i + 1];
      eighths[i] = _mm512_add_ps(_mm512_shuffle_ps(a, b, 0x44), _mm512_shuffle_ps(a, b, 0xEE));
    }
    const __m512 a = eighths[0], b = eighths[1];
    _mm512_storeu_ps(sums,
                     _mm512_add_ps(_mm512_shuffle_ps(a, b, 0x88), _mm512_shuffle_ps(a, b, 0xDD)));
    return;
  }
#endif
#pragma GCC unroll 16
  for (std::size_t i = 0; i < Count; ++i) sums[i] = xsimd::hadd(acc[i]);
}
#pragma GCC diagnostic pop

// The k batches of a dot tile: whole ones from k = 0, then, when K is not a multiple of kLanes, the
// one ending at K (its lanes shared with the batch before are zeroed); for K < kLanes one batch
// of scalar terms (B's rows are shorter than a vector).
Index dot_batches(Index K) {
  const Index whole = K / kLanes;
  return whole == 0 ? 1 : whole + (K % kLanes != 0 ? 1 : 0);
}
Index dot_batch_start(Index K, Index kb) {
  return std::min(kb * kLanes, std::max<Index>(0, K - kLanes));
}

// One k batch of a dot tile for B rows j = First .. First + Count: acc[r * Cols + j] += A row r's
// batch kb * B row j's k = start .. start + kLanes. Masked: B's lanes where lane_offset < 0 are
// taken as zero.
template <Index Rows, Index Cols, Index First, Index Count, bool Masked>
[[gnu::always_inline]] inline void dot_batch(Batch (&acc)[Rows * Cols], const float* a_rows,
                                             Index batches, Index kb,
                                             const float* const (&b_rows)[Cols], Index start,
                                             const Batch& lane_offset) {
  Batch a_k[Rows];
#pragma GCC unroll 16
  for (Index r = 0; r < Rows; ++r)
    a_k[r] = Batch::load_aligned(a_rows + (r * batches + kb) * kLanes);
#pragma GCC unroll 16
  for (Index j = First; j < First + Count; ++j) {
    Batch b_k = Batch::load_unaligned(b_rows[j] + start);
    if constexpr (Masked) b_k = xsimd::select(lane_offset < Batch(0.0f), Batch(0.0f), b_k);
#pragma GCC unroll 16
    for (Index r = 0; r < Rows; ++r) acc[r * Cols + j] = xsimd::fma(a_k[r], b_k, acc[r * Cols + j]);
  }
}

// Dot-product tile for A . B^T with tiny M: Rows rows of A against kLanes / Rows rows of B (columns
// of C), both contiguous along k. A comes as its block's padded copy (compute_dot_block): Rows
// rows from a_rows, each `batches` vectors long. tail_offset: below zero in the lanes of the batch
// ending at K that the batch before already counted.
template <Index Rows>
void dot_tile(const Problem& p, const float* a_rows, Index batches, const Batch& tail_offset,
              Index m0, Index rows, Index n0, Index cols) {
  constexpr Index Cols = kLanes / Rows;
  const float* b_rows[Cols] = {};  // rows past the block repeat its last one (never stored)
  for (Index j = 0; j < Cols; ++j) b_rows[j] = p.b + (n0 + std::min(j, cols - 1)) * p.ldb;
  // Row r, column j at r * Cols + j. (g++ 12 still zeroes this on the stack and loads it into
  // registers for the k loop, once per tile.)
  Batch acc[Rows * Cols];
  for (Batch& sum : acc) sum = Batch(0.0f);
  const Index whole = p.K / kLanes;
  // At most 8 rows of B per pass over k: with 16 row pointers live, g++ kept them in vector
  // registers and moved one back per load (1 x 100 x 400 ran at 23% of peak). Each column's
  // chain is the same either way.
  constexpr Index kGroup = std::min<Index>(Cols, 8);
  static_assert(Cols % kGroup == 0, "every column of the tile in some pass");
  const auto pass = [&]<Index First>() {
    for (Index kb = 0; kb < whole; ++kb)
      dot_batch<Rows, Cols, First, kGroup, false>(acc, a_rows, batches, kb, b_rows, kb * kLanes,
                                                  Batch(0.0f));
    if (whole > 0 && batches > whole) {
      // The batch ending at K: B's lanes that the batch before counted are zeroed too, not only
      // A's, so that an infinite element there cannot add 0 * inf = NaN to a sum that is +-inf.
      dot_batch<Rows, Cols, First, kGroup, true>(acc, a_rows, batches, whole, b_rows,
                                                 dot_batch_start(p.K, whole), tail_offset);
    }
  };
  [&]<Index... Group>(std::integer_sequence<Index, Group...>) {
    (pass.template operator()<Group * kGroup>(), ...);
  }(std::make_integer_sequence<Index, Cols / kGroup>{});
  alignas(64) float sums[Rows * Cols];
  lane_sums(acc, sums);
  if (Rows == 1 && cols == Cols && whole > 0) {  // a whole row of outputs: one vector
    float* out = p.c + m0 * p.ldc + n0;
    Batch row = Batch::load_aligned(sums);
    if (p.accumulate) row = Batch::load_unaligned(out) + row;
    row.store_unaligned(out);
    return;
  }
  for (Index r = 0; r < rows; ++r)
    for (Index j = 0; j < cols; ++j) {
      float sum = sums[r * Cols + j];
      // K < kLanes: no vector loop (B's rows are shorter than a vector), one chain in k order.
      for (Index t = 0; whole == 0 && t < p.K; ++t)
        sum = std::fma(a_rows[r * batches * kLanes + t], b_rows[j][t], sum);
      float& out = p.c[(m0 + r) * p.ldc + n0 + j];
      out = p.accumulate ? out + sum : sum;
    }
}

}  // namespace

// The block's rows of A copied once into the batches the dot tiles use, so that every tile loads
// them whole: batch kb holds k = dot_batch_start(K, kb) + lane, and the last batch (ending at K
// when K is not a multiple of kLanes) is zero where the one before it already counted k, so the
// lanes that B shares with that batch add nothing. Building this per tile, with a scalar copy into
// a vector just read back, cost a store-forwarding stall per tile. Rows past m1 repeat the last.
void compute_dot_block(const Problem& p, Index m0, Index m1, Index n0, Index n1) {
  const Index tile_rows = p.M >= 4 ? 4 : p.M >= 2 ? 2 : 1, tile_cols = kLanes / tile_rows;
  const Index batches = dot_batches(p.K), whole = p.K / kLanes;
  const Index padded_rows = round_up(m1 - m0, tile_rows), row_floats = batches * kLanes;
  const auto a_pad = scratch(padded_rows * row_floats);
  for (Index r = 0; r < padded_rows; ++r) {
    const float* a_row = p.a + std::min(m0 + r, m1 - 1) * p.lda;
    float* out = a_pad.get() + r * row_floats;
    std::fill(out, out + row_floats, 0.0f);
    for (Index kb = 0; kb < batches; ++kb) {
      const Index start = dot_batch_start(p.K, kb), first = kb < whole ? start : whole * kLanes;
      for (Index k = first; k < std::min(p.K, start + kLanes); ++k)
        out[kb * kLanes + k - start] = a_row[k];
    }
  }
  // Which lanes of the batch ending at K are already counted: derived once per block (built per
  // tile, its scalar stores read back as a vector stalled like A's copy did).
  alignas(64) float lane_index[kLanes];
  for (Index lane = 0; lane < kLanes; ++lane) lane_index[lane] = static_cast<float>(lane);
  const Batch tail_offset = Batch::load_aligned(lane_index) -
                            Batch(static_cast<float>(whole * kLanes - dot_batch_start(p.K, whole)));
  for (Index n = n0; n < n1; n += tile_cols)  // B's rows stay in L1 across the rows of A
    for (Index m = m0; m < m1; m += tile_rows) {
      const Index rows = std::min(tile_rows, m1 - m), cols = std::min(tile_cols, n1 - n);
      const float* a_rows = a_pad.get() + (m - m0) * row_floats;
      if (tile_rows == 4) dot_tile<4>(p, a_rows, batches, tail_offset, m, rows, n, cols);
      if (tile_rows == 2) dot_tile<2>(p, a_rows, batches, tail_offset, m, rows, n, cols);
      if (tile_rows == 1) dot_tile<1>(p, a_rows, batches, tail_offset, m, rows, n, cols);
    }
}

}  // namespace tapegrad::kernels::TAPEGRAD_KERNEL_ISA::float_gemm
