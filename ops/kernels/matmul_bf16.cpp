// bfloat16 matrix products with float32 accumulation (matmul_bf16.h), one build per x86-64 level
// like the other kernels. The loops are gemm's (matmul.cpp) with the depth counted in k pairs:
// A is packed per block into panels of kPanelRows rows, one 32-bit word (a k pair) per row and
// pair; B comes packed; the register tile is kPanelRows x 32 columns.
//
// With AVX512_BF16 (Zen 4 and 5: vdpbf16ps is one instruction per cycle, like a float32 FMA, for
// twice the multiply-adds) a tile is 8 rows x 2 vectors: 16 accumulators, the same shape as the
// float32 kernel's. Without it, each pair is widened to two floats and costs two FMAs.
#include "ops/kernels/matmul_bf16.h"
#include "ops/kernels/isa_namespace.h"

#include "autograd/stream_split.h"
#include "autograd/threads.h"
#include "ops/kernels/matmul_blocks.h"
#include "ops/kernels/matmul_internal.h"

#if defined(__AVX512F__)
#include <immintrin.h>
#endif
#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>

#include <algorithm>
#include <cstring>
#include <new>
#include <utility>
#include <xsimd/xsimd.hpp>

namespace tapegrad::kernels::inline TAPEGRAD_KERNEL_ISA {
namespace {

using matmul_detail::Index;
using Batch = xsimd::batch<float, xsimd::default_arch>;
using Words = xsimd::batch<std::uint32_t, xsimd::default_arch>;
constexpr Index kLanes = static_cast<Index>(Batch::size);
constexpr Index kColumns = Bf16Panels::kColumns;
constexpr Index kBatches = kColumns / kLanes;  // vectors across a sliver
static_assert(kColumns % kLanes == 0);

// Rows of A per packed panel, in every build (so that the layout is the same everywhere).
constexpr Index kPanelRows = 8;
// Rows a widening tile computes at once: 8 x 2 vectors with 32 registers; with 16 (AVX2, SSE2)
// 8 rows would spill, and 2 rows x 4 (or 8) vectors plus the widened B is what fits.
constexpr Index kWideningRows = kLanes >= 16 ? 8 : 2;
// Depth block in pairs (1024 k): a B sliver block is 32 KB and stays in L1 or L2 across the
// panels of a row block; the A block (kRowBlock x kPairBlock words) is 128 KB, in L2.
constexpr Index kPairBlock = 256;
constexpr Index kRowBlock = 128;

// bf16_bits without a branch, so that the loops below vectorize (g++ and clang at -O3): the
// result's top 16 bits are the bfloat16, the low ones are garbage.
inline std::uint32_t rounded_bits(float x) {
  std::uint32_t bits = 0;
  std::memcpy(&bits, &x, sizeof bits);
  const bool nan = (bits & 0x7fffffffu) > 0x7f800000u;
  return nan ? bits | 0x00400000u : bits + 0x7fffu + ((bits >> 16) & 1u);
}

// out[i] = the pair word of (even[i], odd[i]) for i < count; odd may be null (k = K, past the end).
void combine_rows(const float* even, const float* odd, Index count, std::uint32_t* out) {
  if (odd == nullptr) {
    for (Index i = 0; i < count; ++i) out[i] = rounded_bits(even[i]) >> 16;
    return;
  }
  for (Index i = 0; i < count; ++i)
    out[i] = (rounded_bits(even[i]) >> 16) | (rounded_bits(odd[i]) & 0xffff0000u);
}

// The pair words of a row that runs along k: the first 2 * pairs k of x, zero from k = valid_k on.
// bfloat16s of consecutive k side by side are the words themselves (little-endian: the even k
// in the low half).
void row_words(const float* x, Index valid_k, Index pairs, std::uint16_t* halves) {
  const Index valid = std::min(2 * pairs, valid_k);
  for (Index i = 0; i < valid; ++i)
    halves[i] = static_cast<std::uint16_t>(rounded_bits(x[i]) >> 16);
  for (Index i = valid; i < 2 * pairs; ++i) halves[i] = 0;
}
inline std::uint32_t word_at(const std::uint16_t* halves, Index q) {
  std::uint32_t word = 0;
  std::memcpy(&word, halves + 2 * q, sizeof word);
  return word;
}

// The one layout of both operands (A's panels of kPanelRows rows, B's slivers of kColumns
// columns): `count` vectors of op(X) (rows of op(A), columns of op(B)), `depth` k pairs from the
// source's first k, as panels of Width vectors, panel after panel: word (panel, q, r) at
// out[(panel * depth + q) * Width + r] holds k = 2q (low half) and 2q + 1 (high half) of vector
// panel * Width + r; zero from k = valid_k on and for vectors past count. Two helpers, by which
// way the source runs (as matmul.cpp's pack_k_contiguous and pack_k_strided).

// Each vector is a stored row along k (stride ld): rounded to halves, then read as words.
// halves: scratch of 2 * depth.
template <Index Width>
void pack_pairs_k_contiguous(const float* src, Index ld, Index count, Index valid_k, Index depth,
                             std::uint32_t* out, std::uint16_t* halves) {
  for (Index panel = 0; panel * Width < count; ++panel) {
    std::uint32_t* dst = out + panel * depth * Width;
    for (Index r = 0; r < Width; ++r) {
      const Index vector = panel * Width + r;
      if (vector >= count) {
        for (Index q = 0; q < depth; ++q) dst[q * Width + r] = 0;
        continue;
      }
      row_words(src + vector * ld, valid_k, depth, halves);
      for (Index q = 0; q < depth; ++q) dst[q * Width + r] = word_at(halves, q);
    }
  }
}

// Each stored row (stride ld) is one k across the vectors: two of them give a line of words (one
// loop over all the vectors, which vectorizes; one per panel of 8 would not), cut into panels.
// line: scratch of count rounded up to Width.
template <Index Width>
void pack_pairs_k_strided(const float* src, Index ld, Index count, Index valid_k, Index depth,
                          std::uint32_t* out, std::uint32_t* line) {
  const Index panels = (count + Width - 1) / Width;
  std::fill(line + count, line + panels * Width, 0u);
  for (Index q = 0; q < depth; ++q) {
    const float* even = src + 2 * q * ld;
    combine_rows(even, 2 * q + 1 < valid_k ? even + ld : nullptr, count, line);
    for (Index panel = 0; panel < panels; ++panel)
      std::memcpy(out + (panel * depth + q) * Width, line + panel * Width,
                  sizeof(std::uint32_t) * Width);
  }
}

// Packing scratch (matmul_blocks.h), in 32-bit words.
auto word_scratch(Index words) { return matmul_blocks::scratch<std::uint32_t>(words); }

struct Problem {
  bool transpose_a, accumulate;
  Index M, lda, ldc;
  const float* a;
  const Bf16Panels* b;
  float* c;
};

// Rows row0 .. row0 + rows of op(A), pairs pair0 .. pair0 + depth, as panels of kPanelRows rows
// (the layout above); rows past `rows` and k past K are zero. line: scratch of
// max(depth, round_up(rows, kPanelRows)) words.
void pack_a(const Problem& p, Index K, Index row0, Index rows, Index pair0, Index depth,
            std::uint32_t* out, std::uint32_t* line) {
  const Index k0 = 2 * pair0;
  if (p.transpose_a)  // A stored [K, M]
    pack_pairs_k_strided<kPanelRows>(p.a + k0 * p.lda + row0, p.lda, rows, K - k0, depth, out,
                                     line);
  else
    pack_pairs_k_contiguous<kPanelRows>(p.a + row0 * p.lda + k0, p.lda, rows, K - k0, depth, out,
                                        reinterpret_cast<std::uint16_t*>(line));
}

struct Tile {
  const std::uint32_t *a_panel, *b;  // b: the sliver at the block's first pair
  Index depth;                       // pairs
  bool load_c;
};

// The end of a tile: C = (load_c ? C : 0) + the accumulators, row r's vector v at acc[r][v].
template <Index Rows>
[[gnu::always_inline]] inline void store_tile(const Batch (&acc)[Rows][kBatches], bool load_c,
                                              float* c, Index ldc) {
#pragma GCC unroll 8
  for (Index r = 0; r < Rows; ++r)
#pragma GCC unroll 8
    for (Index v = 0; v < kBatches; ++v) {
      Batch sum = acc[r][v];
      if (load_c) sum = Batch::load_unaligned(c + r * ldc + v * kLanes) + sum;
      sum.store_unaligned(c + r * ldc + v * kLanes);
    }
}

// Rows rows of the panel starting at a_panel's row `first`, each pair widened to two floats: the
// odd k's product added first, as vdpbf16ps does.
template <Index Rows>
void widening_tile(const Tile& t, Index first, float* c, Index ldc) {
  Batch acc[Rows][kBatches];
#pragma GCC unroll 8
  for (Index r = 0; r < Rows; ++r)
#pragma GCC unroll 8
    for (Index v = 0; v < kBatches; ++v) acc[r][v] = Batch(0.0f);
  const Words high_half(0xffff0000u);
  for (Index q = 0; q < t.depth; ++q) {
    Batch b_even[kBatches], b_odd[kBatches];
#pragma GCC unroll 8
    for (Index v = 0; v < kBatches; ++v) {
      const Words w = Words::load_aligned(t.b + q * kColumns + v * kLanes);
      b_even[v] = xsimd::bitwise_cast<Batch>(Words(w << 16));
      b_odd[v] = xsimd::bitwise_cast<Batch>(Words(w & high_half));
    }
#pragma GCC unroll 8
    for (Index r = 0; r < Rows; ++r) {
      const std::uint32_t word = t.a_panel[q * kPanelRows + first + r];
      const std::uint32_t even_bits = word << 16, odd_bits = word & 0xffff0000u;
      float even = 0.0f, odd = 0.0f;
      std::memcpy(&even, &even_bits, sizeof even);
      std::memcpy(&odd, &odd_bits, sizeof odd);
      const Batch a_even(even), a_odd(odd);
#pragma GCC unroll 8
      for (Index v = 0; v < kBatches; ++v) {
        acc[r][v] = xsimd::fma(a_odd, b_odd[v], acc[r][v]);
        acc[r][v] = xsimd::fma(a_even, b_even[v], acc[r][v]);
      }
    }
  }
  store_tile<Rows>(acc, t.load_c, c, ldc);
}

#if defined(__AVX512F__)
// The tile with vdpbf16ps: one instruction per row, vector and pair.
template <Index Rows>
[[gnu::target("avx512bf16")]] void dpbf16_tile(const Tile& t, float* c, Index ldc) {
  static_assert(kBatches == 2);
  __m512 acc[Rows][2];
#pragma GCC unroll 8
  for (Index r = 0; r < Rows; ++r) acc[r][0] = acc[r][1] = _mm512_setzero_ps();
  // C's lines are fetched now, so that the final stores do not wait on them (as in gemm).
#pragma GCC unroll 8
  for (Index r = 0; r < Rows; ++r) {
    __builtin_prefetch(c + r * ldc, 1);
    __builtin_prefetch(c + r * ldc + kLanes, 1);
  }
  for (Index q = 0; q < t.depth; ++q) {
    const __m512i b0 = _mm512_load_si512(t.b + q * kColumns);
    const __m512i b1 = _mm512_load_si512(t.b + q * kColumns + 16);
#pragma GCC unroll 8
    for (Index r = 0; r < Rows; ++r) {
      const __m512i a = _mm512_set1_epi32(static_cast<int>(t.a_panel[q * kPanelRows + r]));
      acc[r][0] = _mm512_dpbf16_ps(acc[r][0], (__m512bh)a, (__m512bh)b0);
      acc[r][1] = _mm512_dpbf16_ps(acc[r][1], (__m512bh)a, (__m512bh)b1);
    }
  }
#pragma GCC unroll 8
  for (Index r = 0; r < Rows; ++r)
    for (Index v = 0; v < 2; ++v) {
      __m512 sum = acc[r][v];
      if (t.load_c) sum = _mm512_add_ps(_mm512_loadu_ps(c + r * ldc + v * 16), sum);
      _mm512_storeu_ps(c + r * ldc + v * 16, sum);
    }
}
#endif

// kernel.template operator()<rows>() for rows in 1 .. Max.
template <Index Max, typename Kernel>
void with_rows(Index rows, Kernel&& kernel) {
  [&]<Index... R>(std::integer_sequence<Index, R...>) {
    ((rows == R + 1 ? kernel.template operator()<R + 1>() : void()), ...);
  }(std::make_integer_sequence<Index, Max>{});
}

// One panel's tile of `rows` rows into c (a full 32-column window of C, or a local copy).
void run_tile(const Tile& t, Index rows, bool dpbf16, float* c, Index ldc) {
#if defined(__AVX512F__)
  if (dpbf16)
    return with_rows<kPanelRows>(rows, [&]<Index Rows>() { dpbf16_tile<Rows>(t, c, ldc); });
#else
  (void)dpbf16;
#endif
  for (Index first = 0; first < rows; first += kWideningRows)
    with_rows<kWideningRows>(std::min(kWideningRows, rows - first), [&]<Index Rows>() {
      widening_tile<Rows>(t, first, c + first * ldc, ldc);
    });
}

// C[m0 .. m1, n0 .. n1] with n0 on a sliver boundary: depth blocks, row blocks, slivers, panels.
void compute_block(const Problem& p, bool dpbf16, Index m0, Index m1, Index n0, Index n1) {
  const Bf16Panels& b = *p.b;
  const Index pairs = b.pairs(), K = b.rows();
  const Index padded_rows =
      (std::min(kRowBlock, m1 - m0) + kPanelRows - 1) / kPanelRows * kPanelRows;
  const auto a_pack = word_scratch(padded_rows * std::min(kPairBlock, pairs));
  const auto line = word_scratch(std::max(padded_rows, std::min(kPairBlock, pairs)));
  for (Index pair0 = 0; pair0 < pairs; pair0 += kPairBlock) {
    const Index depth = std::min(kPairBlock, pairs - pair0);
    const bool load_c = p.accumulate || pair0 > 0;
    for (Index i0 = m0; i0 < m1; i0 += kRowBlock) {
      const Index mc = std::min(kRowBlock, m1 - i0);
      pack_a(p, K, i0, mc, pair0, depth, a_pack.get(), line.get());
      for (Index col = n0; col < n1; col += kColumns) {
        const Index cols = std::min(kColumns, n1 - col);
        const std::uint32_t* b_block = b.sliver(col / kColumns) + pair0 * kColumns;
        for (Index i = 0; i < mc; i += kPanelRows) {
          const Index rows = std::min(kPanelRows, mc - i);
          const Tile t{a_pack.get() + i * depth, b_block, depth, load_c};
          float* c_tile = p.c + (i0 + i) * p.ldc + col;
          if (cols == kColumns) {
            run_tile(t, rows, dpbf16, c_tile, p.ldc);
            continue;
          }
          // The last columns of C go through a local copy: the kernel never touches memory past
          // C's row ends.
          // The kernel reads (and drops) all 32 columns of C when it adds to C: zeroed then.
          alignas(64) float tile[kPanelRows * kColumns];
          if (load_c) {
            std::memset(tile, 0, sizeof tile);
            for (Index r = 0; r < rows; ++r)
              std::memcpy(tile + r * kColumns, c_tile + r * p.ldc, sizeof(float) * cols);
          }
          run_tile(t, rows, dpbf16, tile, kColumns);
          for (Index r = 0; r < rows; ++r)
            std::memcpy(c_tile + r * p.ldc, tile + r * kColumns, sizeof(float) * cols);
        }
      }
    }
  }
}

}  // namespace

void pack_bf16_words(bool transpose_b, std::int64_t K, std::int64_t N, const float* b,
                     std::int64_t ldb, std::uint32_t* words) {
  const Index pairs = (K + 1) / 2, slivers = (N + kColumns - 1) / kColumns;
  auto pack_slivers = [&](Index s0, Index s1) {
    const Index col0 = s0 * kColumns, cols = std::min(N, s1 * kColumns) - col0;
    std::uint32_t* out = words + s0 * pairs * kColumns;
    if (transpose_b) {  // B stored [N, K]
      const auto halves = word_scratch(pairs);
      pack_pairs_k_contiguous<kColumns>(b + col0 * ldb, ldb, cols, K, pairs, out,
                                        reinterpret_cast<std::uint16_t*>(halves.get()));
    } else {  // B stored [K, N]
      const auto line = word_scratch((s1 - s0) * kColumns);
      pack_pairs_k_strided<kColumns>(b + col0, ldb, cols, K, pairs, out, line.get());
    }
  };
  // A weight of a large layer (2048 x 512) is a millisecond of rounding alone; each sliver is
  // independent, so threads share it.
  if (tapegrad::num_threads() > 1 && K * N >= tapegrad::detail::kParallelStreamFloats) {
    tbb::parallel_for(tbb::blocked_range<Index>(0, slivers),
                      [&](const tbb::blocked_range<Index>& range) {
                        pack_slivers(range.begin(), range.end());
                      });
  } else {
    pack_slivers(0, slivers);
  }
}

void gemm_bf16_panels(bool transpose_a, std::int64_t M, const float* a, std::int64_t lda,
                      const Bf16Panels& b, float* c, std::int64_t ldc, bool accumulate,
                      bool dpbf16) {
  const Index N = b.cols(), K = b.rows();
  if (M <= 0 || N <= 0) return;
  const Problem p{transpose_a, accumulate, M, lda, ldc, a, &b, c};
  static_assert(matmul_detail::kSplitColumns % kColumns == 0 &&
                matmul_detail::kWideSplitColumns % kColumns == 0,
                "column blocks start on sliver boundaries");
  matmul_blocks::run_grid(M, N, K, kPanelRows, [&](Index m0, Index m1, Index n0, Index n1) {
    compute_block(p, dpbf16, m0, m1, n0, n1);
  });
}

}  // namespace tapegrad::kernels::TAPEGRAD_KERNEL_ISA
