// Single-precision GEMM: packed panels, an xsimd register-blocked micro-kernel, TBB over blocks of
// the output. M rows of C, N columns, K the reduction length; MR x NR is the register tile and
// KC/MC/NC the cache blocks over K, M and N (BLIS names). Tuned on AMD EPYC Zen 4 with
// -march=native: AVX-512 (16 floats per batch), one 512-bit FMA per cycle with 4-cycle latency
// (measured peak 112-117 GFLOP/s per core), 32 KB L1d, 1 MB L2 per core; the tall-and-narrow
// rule of gemm_transposes_output on Zen 5 (two 512-bit FMAs per cycle, 48 KB L1d, 1 MB L2).
//
// In the packed and turned kernels every element of C is, per KC block of k, the float32 chain
//   s = 0;  for k in the block: s = fma(a_mk, b_kn, s);
//   c = (accumulate or a later block) ? c + s : s
// (zero padding never meets a valid element), so its value cannot depend on tiles, blocks, which
// of the two kernels ran, or threads; gemm_bias's first block stores bias + s, the sum c + s
// makes after a fill with the bias. The thin paths (matmul_thin.cpp) fix their own order. C is
// added at the end, not loaded first, so that the FMA chains never wait on C's lines (K <= 128
// accumulating: 0-12% faster). The dot path (A . B^T, tiny M; matmul_dot.cpp) splits k over
// SIMD lanes in an order fixed by K alone. Either way 1 and 2 threads agree bit for bit. An
// A^T . B may be computed transposed (gemm_transposes_output), each element by the same chain.
#include "ops/kernels/matmul.h"
#include "ops/kernels/isa_namespace.h"
#include "ops/kernels/matmul_thin.h"

#include "ops/kernels/matmul_blocks.h"
#include "ops/kernels/matmul_internal.h"
#include "ops/kernels/matmul_problem.h"

#include <algorithm>
#include <cstring>
#include <utility>
#include <xsimd/xsimd.hpp>

#include "autograd/threads.h"

namespace tapegrad::kernels::inline TAPEGRAD_KERNEL_ISA {
namespace {

using namespace matmul_detail;
using namespace float_gemm;
static_assert(kLanes % 4 == 0, "the packing transpose works on 4x4 blocks");

constexpr Index NR = 2 * kLanes;  // 32 floats with AVX-512

// The register tile is sized for this build's vector registers: AVX-512 has 32, AVX2 and SSE2
// have 16. A rows x 2-batch tile holds 2 * rows accumulators, 2 batches of B and a broadcast of
// A: 8 rows take 19 registers, 6 take 15. On Zen 4 the AVX2 build ran at 49-55% of fma_peak with
// 8 rows (spilling) and 61-82% with 6; AVX-512 runs at 86-96%. matmul_internal.h's MR is the
// AVX-512 value (and the turned kernel's threshold in every build); kTileRows is this build's.
constexpr bool kWideRegisters = kLanes >= 16;
constexpr Index kTileRows = kWideRegisters ? MR : 6;

// With one row of A the tile can be wider: ~16 accumulators with 32 registers, and with 16, 8
// for one row (B straight from memory into the FMA) and 8 for two (plus 4 B batches).
constexpr Index wide_batches(Index rows) {
  if constexpr (kWideRegisters) return rows == 1 ? 16 : rows == 2 ? 8 : rows <= 4 ? 4 : 2;
  return rows == 1 ? 8 : rows == 2 ? 4 : 2;
}
static_assert(kSplitColumns % NR == 0 && kWideSplitColumns % (wide_batches(1) * kLanes) == 0);

// out[k * out_stride + r] = src[r * ld + k] for r < 4, k < depth. xsimd 8.1's zip_lo/zip_hi
// interleave inside each 128-bit lane (unpcklps/unpckhps), so two rounds of them transpose the
// 4 x 4 block held in every lane; each lane is then 4 consecutive floats of one packed row.
// (Later xsimd releases interleave across the whole AVX-512 register, which would scramble this
// and bt_kernel's turn-back; the assert makes an xsimd upgrade revisit both.)
static_assert(XSIMD_VERSION_MAJOR == 8, "zip_lo/zip_hi must interleave within 128-bit lanes");
void transpose_4_rows(const float* src, Index ld, Index depth, float* out, Index out_stride) {
  Index k = 0;
  for (; k + kLanes <= depth; k += kLanes) {
    const Batch r0 = Batch::load_unaligned(src + k), r1 = Batch::load_unaligned(src + ld + k);
    const Batch r2 = Batch::load_unaligned(src + 2 * ld + k);
    const Batch r3 = Batch::load_unaligned(src + 3 * ld + k);
    const Batch t0 = xsimd::zip_lo(r0, r2), t1 = xsimd::zip_hi(r0, r2);
    const Batch t2 = xsimd::zip_lo(r1, r3), t3 = xsimd::zip_hi(r1, r3);
    const Batch transposed[4] = {xsimd::zip_lo(t0, t2), xsimd::zip_hi(t0, t2),
                                 xsimd::zip_lo(t1, t3), xsimd::zip_hi(t1, t3)};
    alignas(64) float columns[4][kLanes];  // columns[i] lane l: k + 4l + i of rows 0..3
    for (Index i = 0; i < 4; ++i) transposed[i].store_aligned(columns[i]);
    for (Index lane = 0; lane < kLanes / 4; ++lane)
      for (Index i = 0; i < 4; ++i)
        std::memcpy(out + (k + 4 * lane + i) * out_stride, &columns[i][4 * lane],
                    4 * sizeof(float));
  }
  for (; k < depth; ++k)
    for (Index r = 0; r < 4; ++r) out[k * out_stride + r] = src[r * ld + k];
}

// dst[j * ld_dst + i] = src[i * ld_src + j] for i < rows, j < cols.
void transpose_matrix(const float* src, Index ld_src, Index rows, Index cols, float* dst,
                      Index ld_dst) {
  Index i = 0;
  for (; i + 4 <= rows; i += 4) transpose_4_rows(src + i * ld_src, ld_src, cols, dst + i, ld_dst);
  for (; i < rows; ++i)
    for (Index j = 0; j < cols; ++j) dst[j * ld_dst + i] = src[i * ld_src + j];
}

// Packs `valid` <= width vectors that run along k (rows of src, stride ld) into
// out[k * width + r], zero-filling r >= valid.
void pack_k_contiguous(const float* src, Index ld, Index valid, Index width, Index depth,
                       float* out) {
  transpose_matrix(src, ld, valid, depth, out, width);
  for (Index r = valid; r < width; ++r)
    for (Index k = 0; k < depth; ++k) out[k * width + r] = 0.0f;
}

// Same layout when the `valid` values of one k are contiguous (row k of src): a plain copy.
void pack_k_strided(const float* src, Index ld, Index valid, Index width, Index depth,
                    float* out) {
  for (Index k = 0; k < depth; ++k) {
    const float* row = src + k * ld;
    float* dst = out + k * width;
    if (valid == width && width % kLanes == 0)
      for (Index j = 0; j < width; j += kLanes)
        Batch::load_unaligned(row + j).store_aligned(dst + j);
    else if (valid == width)  // a tile row of A^T (6 or 8 floats): one copy, not scalar moves
      std::memcpy(dst, row, sizeof(float) * static_cast<std::size_t>(width));
    else
      for (Index j = 0; j < width; ++j) dst[j] = j < valid ? row[j] : 0.0f;
  }
}

// op(A)[row0 .. row0+rows, k0 .. k0+depth] as panels of `width` rows: a panel holds `width`
// values per k (MR for the main kernel, kBtRows for the A . B^T kernel).
void pack_a(const Problem& p, Index row0, Index rows, Index k0, Index depth, float* out,
            Index width = kTileRows) {
  for (Index panel = 0; panel < rows; panel += width) {
    const Index valid = std::min(width, rows - panel);
    float* dst = out + panel * depth;
    if (p.transpose_a)  // A stored [K, M]
      pack_k_strided(p.a + k0 * p.lda + row0 + panel, p.lda, valid, width, depth, dst);
    else
      pack_k_contiguous(p.a + (row0 + panel) * p.lda + k0, p.lda, valid, width, depth, dst);
  }
}

// One NR-column sliver of op(B)[k0 .. k0+depth, col0 .. col0+valid]: NR values per k.
void pack_b(const Problem& p, Index k0, Index depth, Index col0, Index valid, float* out) {
  if (p.transpose_b)  // B stored [N, K]
    pack_k_contiguous(p.b + col0 * p.ldb + k0, p.ldb, valid, NR, depth, out);
  else
    pack_k_strided(p.b + k0 * p.ldb + col0, p.ldb, valid, NR, depth, out);
}

// What a micro-kernel call does besides C += A_panel . B:
//  plain          B is a packed sliver, or the NR columns of a row-major B read in place;
//  wide           row-major B read in place, wide_batches(rows) batches wide (few rows);
//  prefetch_next  also prefetch a share of the next sliver's source (see Prefetch);
//  pack           B is the row-major source, and every row loaded is also stored into the packed
//                 sliver for the other row panels. Packing in a pass of its own cost 15-20% at
//                 64x512x2048, mostly waiting on L3; fused, the loads overlap the FMAs;
//  narrow         plain, one batch wide: the last columns of C when at most kLanes remain (N = 100
//                 ends in 4 columns, which a 2-batch tile spent a whole tile's FMAs on).
enum class Mode { plain, wide, prefetch_next, pack, narrow };

// The next sliver's source as line pairs t = 0..depth-1: row t (NR floats) of a row-major B, or
// NR floats at column t / NR * NR of row t % NR of a transposed B (NR rows of depth floats).
// Panel `first` of `step` takes t = first, first + step, ...; spread over the whole sliver's
// compute the reads hide behind it (NN 64x512x2048, with pack: 82-86% -> 89-95% of peak).
struct Prefetch {
  const float* base = nullptr;
  Index ld = 0, last = 0, first = 0, step = 1;  // last: last float of a source row to touch
  bool transposed = false;
};
constexpr Index kPackAhead = 24;  // pack prefetches its source rows this far ahead

struct Tile {  // the arguments of one micro-kernel call
  Mode mode = Mode::plain;
  Index rows = 0, depth = 0, ldb = 0;
  const float *a_panel = nullptr, *b = nullptr;
  float* pack_to = nullptr;
  bool load_c = false;
  const float* bias = nullptr;  // the first k block of gemm_bias: its row at the tile's columns
  Prefetch prefetch = {};
};

template <Index Rows, Index Batches, Mode mode>
void micro_kernel(const Tile& t, float* c, Index ldc) {
  Batch acc[Rows][Batches];
#pragma GCC unroll 16
  for (Index r = 0; r < Rows; ++r)
#pragma GCC unroll 16
    for (Index v = 0; v < Batches; ++v) acc[r][v] = Batch(0.0f);
  // Start fetching C's lines for the final stores now: when K is short and C large, each store
  // otherwise waits for its line from L3 or memory (NN 2048x128x512: 76-84% -> 94% of peak).
#pragma GCC unroll 16
  for (Index r = 0; r < Rows; ++r)
#pragma GCC unroll 16
    for (Index v = 0; v < Batches; ++v) __builtin_prefetch(c + r * ldc + v * kLanes, 1);
  const Prefetch& next = t.prefetch;
  Index next_line = next.base != nullptr ? next.first : t.depth;
  for (Index k = 0; k < t.depth; ++k) {
    if constexpr (mode == Mode::prefetch_next || mode == Mode::pack) {
      if (k == next_line) {
        const Index col = next.transposed ? k / NR * NR : 0;
        const float* line = next.base + (next.transposed ? k % NR : k) * next.ld;
        __builtin_prefetch(line + std::min(col, next.last));
        __builtin_prefetch(line + std::min(col + kLanes, next.last));
        next_line += next.step;
      }
    }
    if constexpr (mode == Mode::pack) {
      const float* ahead = t.b + std::min(k + kPackAhead, t.depth - 1) * t.ldb;
      __builtin_prefetch(ahead);
      __builtin_prefetch(ahead + NR - 1);
    }
    Batch b_k[Batches];
#pragma GCC unroll 16
    for (Index v = 0; v < Batches; ++v)
      b_k[v] = Batch::load_unaligned(t.b + k * t.ldb + v * kLanes);
    if constexpr (mode == Mode::pack)
#pragma GCC unroll 16
      for (Index v = 0; v < Batches; ++v) b_k[v].store_aligned(t.pack_to + k * NR + v * kLanes);
#pragma GCC unroll 16
    for (Index r = 0; r < Rows; ++r) {
      const Batch a_rk(t.a_panel[k * kTileRows + r]);
#pragma GCC unroll 16
      for (Index v = 0; v < Batches; ++v) acc[r][v] = xsimd::fma(a_rk, b_k[v], acc[r][v]);
    }
  }
#pragma GCC unroll 16
  for (Index r = 0; r < Rows; ++r)
#pragma GCC unroll 16
    for (Index v = 0; v < Batches; ++v) {
      if (t.load_c)
        acc[r][v] += Batch::load_unaligned(c + r * ldc + v * kLanes);
      else if (t.bias != nullptr)
        acc[r][v] += Batch::load_unaligned(t.bias + v * kLanes);
      acc[r][v].store_unaligned(c + r * ldc + v * kLanes);
    }
}

template <Index... R>  // picks the kernel for t.rows (1..MR) and t.mode
void run_rows(std::integer_sequence<Index, R...>, const Tile& t, float* c, Index ldc) {
  auto run = [&]<Index Rows>() {
    switch (t.mode) {
      case Mode::plain: return micro_kernel<Rows, 2, Mode::plain>(t, c, ldc);
      case Mode::wide: return micro_kernel<Rows, wide_batches(Rows), Mode::wide>(t, c, ldc);
      case Mode::prefetch_next: return micro_kernel<Rows, 2, Mode::prefetch_next>(t, c, ldc);
      case Mode::pack: return micro_kernel<Rows, 2, Mode::pack>(t, c, ldc);
      case Mode::narrow: return micro_kernel<Rows, 1, Mode::narrow>(t, c, ldc);
    }
  };
  ((t.rows == R + 1 ? run.template operator()<R + 1>() : void()), ...);
}

// A tile narrower than NR (the last columns of C) goes through a local copy, so the kernel never
// touches memory past C's row ends; its B sliver is zero-padded.
void run_tile(Tile& t, Index cols, float* c, Index ldc) {
  constexpr auto row_counts = std::make_integer_sequence<Index, kTileRows>{};
  if (t.mode == Mode::wide || cols == NR) return run_rows(row_counts, t, c, ldc);
  alignas(64) float tile[kTileRows * NR];
  if (t.load_c)
    for (Index r = 0; r < t.rows; ++r) std::memcpy(tile + r * NR, c + r * ldc, 4 * cols);
  if (!t.load_c && t.bias != nullptr) {
    // The bias row has only `cols` columns here: filled into the copy, then added as C would
    // be. t is changed in place and put back: a copy of it would stall (see compute_block).
    for (Index r = 0; r < t.rows; ++r) std::memcpy(tile + r * NR, t.bias, 4 * cols);
    const float* bias = t.bias;
    t.load_c = true;
    t.bias = nullptr;
    run_rows(row_counts, t, tile, NR);
    t.load_c = false;
    t.bias = bias;
  } else {
    run_rows(row_counts, t, tile, NR);
  }
  for (Index r = 0; r < t.rows; ++r) std::memcpy(c + r * ldc, tile + r * NR, 4 * cols);
}

// C[m0..m1, n0..n1] in the BLIS loop order: NC columns, KC depth, MC rows, NR slivers, MR panels.
// The first row block packs each B sliver (fused into its first panel when B is row-major) and
// prefetches the next; later row blocks reuse the packed slivers.
void compute_block(const Problem& p, Index m0, Index m1, Index n0, Index n1) {
  const bool in_place = !p.transpose_b && (m1 - m0) * std::min(KC, p.K) <= kDirectArea;
  // With one row block each sliver is used at once: one sliver of scratch will do, and the
  // column block spans everything, so A is packed once per KC block.
  const bool one_row_block = m1 - m0 <= MC;
  const Index col_block = one_row_block ? n1 - n0 : NC;
  const Index depth_max = std::min(KC, p.K);
  const auto a_pack = scratch(round_up(std::min(MC, m1 - m0), kTileRows) * depth_max);
  const Index b_pack_cols = one_row_block ? NR : round_up(std::min(NC, n1 - n0), NR);
  const auto b_pack = scratch(b_pack_cols * depth_max);
  for (Index j0 = n0; j0 < n1; j0 += col_block) {
    const Index nc = std::min(col_block, n1 - j0);
    for (Index k0 = 0; k0 < p.K; k0 += KC) {
      const Index depth = std::min(KC, p.K - k0);
      for (Index i0 = m0; i0 < m1; i0 += MC) {
        const Index mc = std::min(MC, m1 - i0);
        pack_a(p, i0, mc, k0, depth, a_pack.get());
        float* c_block = p.c + i0 * p.ldc + j0;
        for (Index j = 0; j < nc;) {
          const Index col = j0 + j;
          Tile t{.depth = depth, .ldb = p.ldb,  // B in place, if row-major
                 .b = p.transpose_b ? nullptr : p.b + k0 * p.ldb + col,
                 .load_c = p.accumulate || k0 > 0,
                 .bias = k0 == 0 && p.bias != nullptr ? p.bias + col : nullptr};
          const Index wide_cols = wide_batches(mc) * kLanes;
          if (in_place && mc <= kTileRows && nc - j >= wide_cols) {
            t.mode = Mode::wide;
            t.rows = mc;
            t.a_panel = a_pack.get();
            run_tile(t, wide_cols, c_block + j, p.ldc);
            j += wide_cols;
            continue;
          }
          const Index cols = std::min(NR, nc - j);
          float* sliver = b_pack.get() + (one_row_block ? 0 : j * depth);
          const bool packed = !in_place || cols < NR;
          const bool fused_pack = packed && i0 == m0 && !p.transpose_b && cols == NR;
          if (packed && i0 == m0 && !fused_pack) pack_b(p, k0, depth, col, cols, sliver);
          if (packed && i0 == m0 && j + 2 * NR <= nc) {
            t.mode = Mode::prefetch_next;
            const float* next = p.transpose_b ? p.b + (col + NR) * p.ldb + k0
                                              : p.b + k0 * p.ldb + col + NR;
            t.prefetch = {next, p.ldb, p.transpose_b ? depth - 1 : NR - 1, 0,
                          (mc + kTileRows - 1) / kTileRows, p.transpose_b};
          }
          // t is updated field by field, not copied: a whole-struct copy reads back with wide
          // loads what was just written with narrow stores, and that store-forwarding stall cost
          // ~30 cycles per call (7% of 2048x64x512, where a call is 64 steps).
          if (cols <= kLanes && t.mode == Mode::plain) t.mode = Mode::narrow;
          const Mode sliver_mode = t.mode;
          for (Index i = 0; i < mc; i += kTileRows, ++t.prefetch.first) {
            const bool packing_now = fused_pack && i == 0;
            t.rows = std::min(kTileRows, mc - i);
            t.a_panel = a_pack.get() + i * depth;
            t.mode = packing_now ? Mode::pack : sliver_mode;
            t.pack_to = packing_now ? sliver : nullptr;
            if (packed && !packing_now) {
              t.b = sliver;
              t.ldb = NR;
            }
            run_tile(t, cols, c_block + i * p.ldc + j, p.ldc);
          }
          j += cols;
        }
      }
    }
  }
}

// A . B^T (B stored [N, K], a PyTorch weight) without transposing B: the tile is turned around.
// Its vectors run along M, over a packed panel of op(A) (kBtRows values per k), and each of
// kBtCols rows of B is read in place, one broadcast scalar per k. The tile is C^T, so it is
// written back transposed. Packing B^T instead cost 0.6 cycle per element against 4 cycles of
// FMAs per element at M = 64, and waited on L3 for B (64x512x2048: 80-82% of peak; in place,
// 91-94%; 8-48 rows 1.1-1.5x faster).
constexpr Index kBtRows = 2 * kLanes;  // rows of C per tile (32 with AVX-512, 16 with AVX2)
// columns of C per tile: 16 accumulators with 32 registers, 8 with 16 (2 x 8 would spill)
constexpr Index kBtCols = kWideRegisters ? 8 : 4;
// Rows of op(A) packed at a time: 512 KB of the 1 MB L2 at KC = 512 (128 rows measured 2-5%
// slower on the large products with 2 threads, which re-read B from L3 once per block).
constexpr Index kBtMC = 256;
static_assert(kBtCols % 4 == 0, "the tile goes back through 4 x 4 transposes");

struct BtTile {
  const float* a_panel;          // depth x kBtRows, packed
  const float* b_rows[kBtCols];  // rows of B at k0; past the last valid one they repeat it
  const float* prefetch_rows;    // the next tile's first row of B, or nullptr
  Index depth, ldb, rows, cols;  // rows, cols: the valid part of the tile
  bool load_c;
  const float* bias;  // the first k block of gemm_bias: its row at the tile's columns
};

// GCC 12 reports the self-initialised placeholder inside _mm512_undefined_ps (which the
// unpack intrinsics behind xsimd::zip_lo/zip_hi pass as their unused merge source) as used
// uninitialised once this function is inlined; the CMake flags already silence its "maybe" twin.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
template <Index Batches>
void bt_kernel(const BtTile& t, float* c, Index ldc) {
  constexpr Index Width = Batches * kLanes;
  Batch acc[kBtCols][Batches];
#pragma GCC unroll 16
  for (Index j = 0; j < kBtCols; ++j)
#pragma GCC unroll 16
    for (Index v = 0; v < Batches; ++v) acc[j][v] = Batch(0.0f);
  const float* b_rows[kBtCols];
  for (Index j = 0; j < kBtCols; ++j) b_rows[j] = t.b_rows[j];
  for (Index k = 0; k < t.depth; ++k) {
    // The next tile's rows of B, one 64-byte line every other step: kBtCols rows x depth / 16
    // lines are all requested by the end of this tile, as B streams from L3 or memory.
    if (t.prefetch_rows != nullptr && k % 2 == 0) {
      constexpr Index kLineFloats = 64 / sizeof(float);
      const Index line = k / 2;
      __builtin_prefetch(t.prefetch_rows + (line % kBtCols) * t.ldb +
                         std::min(line / kBtCols * kLineFloats, t.depth - 1));
    }
    Batch a_k[Batches];
#pragma GCC unroll 16
    for (Index v = 0; v < Batches; ++v)
      a_k[v] = Batch::load_aligned(t.a_panel + k * kBtRows + v * kLanes);  // kBtRows-wide panels
#pragma GCC unroll 16
    for (Index j = 0; j < kBtCols; ++j) {
      const Batch b_jk(b_rows[j][k]);
#pragma GCC unroll 16
      for (Index v = 0; v < Batches; ++v) acc[j][v] = xsimd::fma(a_k[v], b_jk, acc[j][v]);
    }
  }
  // Turn the tile back: tile[m][j] = C[m, j]. The zips transpose the 4 x 4 blocks of four
  // accumulators in every 128-bit lane (as in transpose_4_rows), and each lane then moves as
  // 4 floats; element by element this write cost 20% at K = 64.
  alignas(64) float tile[Width][kBtCols];
  for (Index v = 0; v < Batches; ++v)
    for (Index j0 = 0; j0 < kBtCols; j0 += 4) {
      const Batch t0 = xsimd::zip_lo(acc[j0][v], acc[j0 + 2][v]);
      const Batch t1 = xsimd::zip_hi(acc[j0][v], acc[j0 + 2][v]);
      const Batch t2 = xsimd::zip_lo(acc[j0 + 1][v], acc[j0 + 3][v]);
      const Batch t3 = xsimd::zip_hi(acc[j0 + 1][v], acc[j0 + 3][v]);
      alignas(64) float blocks[4][kLanes];  // blocks[i] lane 4l + q: C[v * kLanes + 4l + i, j0 + q]
      xsimd::zip_lo(t0, t2).store_aligned(blocks[0]);
      xsimd::zip_hi(t0, t2).store_aligned(blocks[1]);
      xsimd::zip_lo(t1, t3).store_aligned(blocks[2]);
      xsimd::zip_hi(t1, t3).store_aligned(blocks[3]);
      for (Index lane = 0; lane < kLanes / 4; ++lane)
        for (Index i = 0; i < 4; ++i)
          std::memcpy(&tile[v * kLanes + 4 * lane + i][j0], &blocks[i][4 * lane],
                      4 * sizeof(float));
    }
  for (Index m = 0; m < t.rows; ++m) {
    float* c_row = c + m * ldc;
    if (t.cols == kBtCols && t.load_c)
      for (Index j = 0; j < kBtCols; ++j) c_row[j] += tile[m][j];
    else if (t.cols == kBtCols && t.bias != nullptr)
      for (Index j = 0; j < kBtCols; ++j) c_row[j] = t.bias[j] + tile[m][j];
    else if (t.cols == kBtCols)
      for (Index j = 0; j < kBtCols; ++j) c_row[j] = tile[m][j];
    else
      for (Index j = 0; j < t.cols; ++j)
        c_row[j] = t.load_c ? c_row[j] + tile[m][j]
                   : t.bias != nullptr ? t.bias[j] + tile[m][j] : tile[m][j];
  }
}
#pragma GCC diagnostic pop

void compute_bt_block(const Problem& p, Index m0, Index m1, Index n0, Index n1) {
  const Index depth_max = std::min(KC, p.K);
  const auto a_pack = scratch(round_up(std::min(kBtMC, m1 - m0), kBtRows) * depth_max);
  for (Index k0 = 0; k0 < p.K; k0 += KC) {
    const Index depth = std::min(KC, p.K - k0);
    for (Index i0 = m0; i0 < m1; i0 += kBtMC) {
      const Index mc = std::min(kBtMC, m1 - i0);
      pack_a(p, i0, mc, k0, depth, a_pack.get(), kBtRows);
      for (Index j = n0; j < n1; j += kBtCols) {
        BtTile t{};
        t.depth = depth;
        t.ldb = p.ldb;
        t.cols = std::min(kBtCols, n1 - j);
        t.load_c = p.accumulate || k0 > 0;
        t.bias = k0 == 0 && p.bias != nullptr ? p.bias + j : nullptr;
        for (Index col = 0; col < kBtCols; ++col)
          t.b_rows[col] = p.b + (j + std::min(col, t.cols - 1)) * p.ldb + k0;
        for (Index i = 0; i < mc; i += kBtRows) {
          t.rows = std::min(kBtRows, mc - i);
          t.a_panel = a_pack.get() + i * depth;
          // The first panel of a tile column fetches the next tile column's rows of B.
          t.prefetch_rows = i == 0 && j + 2 * kBtCols <= n1 ? t.b_rows[0] + kBtCols * p.ldb
                                                              : nullptr;
          float* c_tile = p.c + (i0 + i) * p.ldc + j;
          if (t.rows <= kLanes)  // a last panel of at most 16 rows: half the FMAs
            bt_kernel<1>(t, c_tile, p.ldc);
          else
            bt_kernel<2>(t, c_tile, p.ldc);
        }
      }
    }
  }
}

}  // namespace

// matmul_detail::choose_kernel and tile_rows of this build (dispatch.cpp).
Kernel choose_gemm_kernel(bool transpose_a, bool transpose_b, Index M) {
  if (!transpose_a && transpose_b && M <= kDotRows) return Kernel::dot;
  // Below MR rows a turned tile (16 or 32 rows) would mostly multiply padding.
  if (transpose_b && M >= MR && M <= kTurnedMaxRows) return Kernel::turned;
  return Kernel::packed;
}

Index gemm_tile_rows(Kernel kernel) { return kernel == Kernel::turned ? kBtRows : kTileRows; }

namespace {
// The packed kernel's time over C [M, N] in full-tile calls: row panels times column tiles, a
// last tile of at most kLanes columns counted as 0.6 of a full one (the narrow kernel has half
// the full tile's FMAs per k, and its C goes through a local copy; in the sine layer's profile
// its 4 columns of 100 took ~15% of the product, ~0.55 of a full tile).
double tile_calls(Index M, Index N) {
  const Index tail = N % NR;
  const double column_tiles = double(N / NR) + (tail == 0 ? 0.0 : tail <= kLanes ? 0.6 : 1.0);
  return double((M + kTileRows - 1) / kTileRows) * column_tiles;
}
}  // namespace

// Only A^T . B, whose transposed problem is A^T . B again, run by the packed kernel directly
// (multiply_transposed); M and N of at least two row panels. Transposed when the tile model saves
// over 5%, against the few percent the transposes cost, or, with AVX-512, when C is tall and
// narrow: A^T's panels are packed in a pass of their own that the FMAs do not hide, and serve
// only N / NR slivers each, while the transposed problem reads that operand as its B, packed
// inside the kernel as it computes. On one Zen 5 core (one thread, each shape alone, transposes
// included, medians of 20-50 calls), M x N over K rows, GFLOP/s: 1024 x 32 over 1600 (`b16`'s
// first d W_ih) 73 -> 148; 2048 x 128 over 800 (`wide`'s d W_ih) 146 -> 181; 1024 x 128 over
// 3200 (`mid`'s d W_ih) 134 -> 179; 1024 x 256 over 3200 (its d W_hh) 168 -> 181, over 1600
// 174 -> 184, over 800 even (and 22% slower accumulating: two transposes); on two threads
// 1024 x 128 over 3200 +5%, 1024 x 256 over 1600 -2%. At M = 2N or 3N, or N = 512, the two
// orders were within 3%. With AVX2 the shapes over 3200 rows moved -2% to +5%, with SSE2 -9% to
// +2%: there the rule is not used. Not measured on Zen 4.
bool gemm_transposes_output(bool transpose_a, bool transpose_b, Index M, Index N, Index K,
                            bool accumulate) {
  if (!transpose_a || transpose_b || std::min(M, N) < 2 * kTileRows || M * N > kTransposeMaxArea)
    return false;
  const Index threads = tapegrad::num_threads();
  // The gain of the tall rule shrinks as N grows and the transposes' cost (two when
  // accumulating) is C's size against K: K per thread of 4N and one KC block; 8N when
  // accumulating, by the two transposes' cost, not measured (no layer accumulates here).
  const Index tall_depth = std::max(KC, (accumulate ? 8 : 4) * N);
  const bool tall_and_narrow = kWideRegisters && N <= kTransposeMaxNarrowColumns &&
                               M >= kTransposeMinAspect * N && K >= tall_depth * threads;
  return tall_and_narrow || (K >= kTransposeMinDepthPerThread * threads &&
                             tile_calls(N, M) < 0.95 * tile_calls(M, N));
}

void gemm_reference(bool transpose_a, bool transpose_b, std::int64_t M, std::int64_t N,
                    std::int64_t K, const float* a, std::int64_t lda, const float* b,
                    std::int64_t ldb, float* c, std::int64_t ldc, bool accumulate) {
  for (std::int64_t m = 0; m < M; ++m)
    for (std::int64_t n = 0; n < N; ++n) {
      double total = accumulate ? c[m * ldc + n] : 0.0;
      for (std::int64_t k = 0; k < K; ++k) {
        const float a_mk = transpose_a ? a[k * lda + m] : a[m * lda + k];
        const float b_kn = transpose_b ? b[n * ldb + k] : b[k * ldb + n];
        total += static_cast<double>(a_mk) * static_cast<double>(b_kn);
      }
      c[m * ldc + n] = static_cast<float>(total);
    }
}

namespace {

// C's rows [0, M) set to the row `bias`.
void fill_rows(float* c, Index M, Index N, Index ldc, const float* bias) {
  const auto bytes = sizeof(float) * static_cast<std::size_t>(N);
  for (Index m = 0; m < M; ++m) std::memcpy(c + m * ldc, bias, bytes);
}

// C = A^T . B computed as C^T = B^T . A by the packed kernel into scratch, then transposed into C
// (gemm_transposes_output says when). When accumulating, C goes into the scratch first, so that
// each element's sum c + s per KC block is the same.
void multiply_transposed(const Problem& p) {
  const auto transposed = scratch(p.M * p.N);
  if (p.accumulate) transpose_matrix(p.c, p.ldc, p.M, p.N, transposed.get(), p.M);
  const Problem t{true, false, p.accumulate, p.N, p.M, p.K, p.ldb, p.lda, p.M, p.b, p.a,
                  transposed.get()};
  matmul_blocks::run_grid(t.M, t.N, t.K, kTileRows, [&](Index m0, Index m1, Index n0, Index n1) {
    compute_block(t, m0, m1, n0, n1);
  });
  transpose_matrix(transposed.get(), p.M, p.N, p.M, p.c, p.ldc);
}

// gemm and gemm_bias: p.bias set means p.accumulate is false and C starts from the bias rows.
void multiply(Problem p) {
  if (p.M <= 0 || p.N <= 0) return;
  if (p.K <= 0) {  // an empty sum
    if (p.bias != nullptr)
      fill_rows(p.c, p.M, p.N, p.ldc, p.bias);
    else if (!p.accumulate)
      for (Index m = 0; m < p.M; ++m) std::fill(p.c + m * p.ldc, p.c + m * p.ldc + p.N, 0.0f);
    return;
  }
  if (detail::gemm_thin(p.transpose_a, p.transpose_b, p.M, p.N, p.K, p.a, p.lda, p.b, p.ldb, p.c,
                        p.ldc, p.accumulate, p.bias, KC)) {
    return;
  }
  // (gemm_bias adds its row in the first k block's tiles, which a transposed C would not have.)
  if (p.bias == nullptr && gemm_transposes_output(p.transpose_a, p.transpose_b, p.M, p.N, p.K,
                                                    p.accumulate))
    return multiply_transposed(p);
  const Kernel kernel = choose_gemm_kernel(p.transpose_a, p.transpose_b, p.M);
  if (kernel == Kernel::dot && p.bias != nullptr) {
    // At most kDotRows rows: the fill is as cheap as adding the row in the tile.
    fill_rows(p.c, p.M, p.N, p.ldc, p.bias);
    p.bias = nullptr;
    p.accumulate = true;
  }
  auto compute = [&](Index m0, Index m1, Index n0, Index n1) {
    switch (kernel) {
      case Kernel::dot: return compute_dot_block(p, m0, m1, n0, n1);
      case Kernel::turned: return compute_bt_block(p, m0, m1, n0, n1);
      case Kernel::packed: return compute_block(p, m0, m1, n0, n1);
    }
  };
  matmul_blocks::run_grid(p.M, p.N, p.K, gemm_tile_rows(kernel), compute);
}

}  // namespace

void gemm(bool transpose_a, bool transpose_b, std::int64_t M, std::int64_t N, std::int64_t K,
          const float* a, std::int64_t lda, const float* b, std::int64_t ldb, float* c,
          std::int64_t ldc, bool accumulate) {
  multiply({transpose_a, transpose_b, accumulate, M, N, K, lda, ldb, ldc, a, b, c});
}

void gemm_bias(bool transpose_a, bool transpose_b, std::int64_t M, std::int64_t N, std::int64_t K,
               const float* a, std::int64_t lda, const float* b, std::int64_t ldb, float* c,
               std::int64_t ldc, const float* bias) {
  multiply({transpose_a, transpose_b, false, M, N, K, lda, ldb, ldc, a, b, c, bias});
}

}  // namespace tapegrad::kernels::TAPEGRAD_KERNEL_ISA
