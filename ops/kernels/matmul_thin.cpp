// Thin matrix products (N <= 4 or K == 1) and one-row A . B (M == 1). A register tile of 8 x 32
// wastes 31 of 32 lanes on a one-column result, and packing a K == 1 panel costs more than the
// product: the LSTM layer of a one-feature series (the sine tutorial) hits both, x W_ih^T with
// K = 1 and its weight gradient with N = 1, over T*B = 9900 rows. A batch-1 step's backward
// multiplies one row by W_hh at every time step. These are memory-bound, so the loops here stream
// each matrix once, vectorised along a contiguous axis.
//
// Every output element is still a sum over k in increasing order, and work is split over whole
// rows (or, for one row, whole column chunks) of the output, so results do not depend on the
// thread count.
#include "ops/kernels/matmul_thin.h"

#include "autograd/threads.h"
#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>

#include <algorithm>
#include <array>
#include <utility>
#include <vector>
#include <xsimd/xsimd.hpp>

namespace tapegrad::kernels::inline TAPEGRAD_KERNEL_ISA::detail {
namespace {

using Index = std::int64_t;
using Batch = xsimd::batch<float, xsimd::default_arch>;
constexpr Index kLanes = static_cast<Index>(Batch::size);
constexpr Index kMaxThinColumns = 4;
// Rows of C per task: enough streaming work (~64K multiply-adds) to be worth a task.
constexpr Index kGrainWork = 1 << 16;

// out[0..n) = alpha * x[0..n) + base[0..n), rounded once; base may be out itself.
void scaled_add(float* out, float alpha, const float* x, const float* base, Index n) {
  const Batch scale(alpha);
  Index i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    xsimd::fma(scale, Batch::load_unaligned(x + i), Batch::load_unaligned(base + i))
        .store_unaligned(out + i);
  }
  for (; i < n; ++i) out[i] = std::fma(alpha, x[i], base[i]);
}

// y[0..n) += alpha * x[0..n)
void axpy(float* y, float alpha, const float* x, Index n) { scaled_add(y, alpha, x, y, n); }

// sum over k of x[k] * y[k]: lane-parallel partial sums combined in a fixed order, so the result
// depends on K alone.
float dot(const float* x, const float* y, Index n) {
  Batch sum(0.0f);
  Index i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    sum = xsimd::fma(Batch::load_unaligned(x + i), Batch::load_unaligned(y + i), sum);
  }
  float total = xsimd::hadd(sum);
  for (; i < n; ++i) total = std::fma(x[i], y[i], total);
  return total;
}

// min_rows: the narrowest block worth vectorising over (the A^T case runs its loops along m).
template <typename Body>
void for_row_blocks(Index rows, Index work_per_row, Body&& body, Index min_rows = 1) {
  const Index grain =
      std::max(min_rows, kGrainWork / std::max<Index>(1, work_per_row));
  if (rows <= grain) {
    body(0, rows);
    return;
  }
  tapegrad::detail::apply_thread_settings();
  tbb::parallel_for(tbb::blocked_range<Index>(0, rows, grain),
                    [&](const tbb::blocked_range<Index>& r) { body(r.begin(), r.end()); });
}

// Accumulators of one k block of gemv_row: acc[j] gathers columns [j * kLanes, + kLanes) of the
// chunk, the last one from last_start. A compile-time count keeps them in registers; with a
// run-time count and a test per batch, g++ 12 kept them on the stack, a store and a reload per
// FMA (the H = 100 product ran at 12% of fma_peak).
template <int Batches>
void gemv_block(Index depth, const float* a, const float* b, Index ldb, Index last_start,
                Batch* sums) {
  Batch acc[Batches];
  for (int j = 0; j < Batches; ++j) acc[j] = Batch(0.0f);
  for (Index k = 0; k < depth; ++k) {
    const Batch scale(a[k]);
    const float* row = b + k * ldb;
#pragma GCC unroll 16
    for (int j = 0; j + 1 < Batches; ++j)
      acc[j] = xsimd::fma(scale, Batch::load_unaligned(row + j * kLanes), acc[j]);
    acc[Batches - 1] = xsimd::fma(scale, Batch::load_unaligned(row + last_start), acc[Batches - 1]);
  }
  for (int j = 0; j < Batches; ++j) sums[j] = acc[j];
}

// Accumulators per chunk: 16 of AVX-512's 32 vector registers; with 16 registers, 12 (16 spilled
// two of them, a store and a reload per k). The width changes no bits: each column is its own
// chain.
constexpr int kChunkBatches = kLanes >= 16 ? 16 : 12;
using GemvBlock = void (*)(Index, const float*, const float*, Index, Index, Batch*);
template <std::size_t... Counts>
constexpr std::array<GemvBlock, sizeof...(Counts)> gemv_blocks(std::index_sequence<Counts...>) {
  return {&gemv_block<static_cast<int>(Counts) + 1>...};
}
constexpr auto kGemvBlocks = gemv_blocks(std::make_index_sequence<kChunkBatches>{});

// C[0, :] (+)= a . B for one row a and a row-major B: B's rows streamed once, each scaled by its
// a[k] into accumulators along n (a matrix-vector product; the register-tiled kernels would
// run one row of a wide tile and re-enter per call). Per element the chain is the packed
// kernels' own, a fresh float32 fma chain per kc_block of k added to C at the block's end, so a
// batch-1 product equals the same row of a batched one bit for bit. Columns are split over
// threads in whole chunks, so the thread count changes nothing either.
void gemv_row(Index N, Index K, const float* a, const float* b, Index ldb, float* c,
              bool accumulate, Index kc_block) {
  constexpr Index kChunk = kChunkBatches * kLanes;
  const auto chunk_product = [&](Index n0, Index n1) {
    for (; n0 < n1; n0 += kChunk) {
      const Index width = std::min(kChunk, n1 - n0), batches = width / kLanes;
      // The last columns short of a vector run in the lanes of one more vector, ending at the
      // chunk's end and overlapping the columns before it (of this chunk or, for a last chunk
      // narrower than a vector, of the previous one; B is only read): each lane is its own
      // column's chain, so the overlapped lanes are simply not stored. Only a B narrower than a
      // vector is copied, k block by k block, into zero-padded rows.
      const Index rest = width - batches * kLanes;
      const bool padded = N < kLanes;
      const Index vectors = batches + (rest > 0 ? 1 : 0);
      const Index last_start = rest > 0 && !padded ? width - kLanes : (vectors - 1) * kLanes;
      std::vector<float> padded_b;
      if (padded) padded_b.assign(static_cast<std::size_t>(std::min(K, kc_block) * kLanes), 0.0f);
      for (Index k0 = 0; k0 < K; k0 += kc_block) {
        const Index depth = std::min(kc_block, K - k0);
        const float* b_block = b + k0 * ldb + n0;
        Index ld_block = ldb;
        if (padded) {
          for (Index k = 0; k < depth; ++k)
            std::copy_n(b_block + k * ldb, rest, padded_b.data() + k * kLanes);
          b_block = padded_b.data();
          ld_block = kLanes;
        }
        Batch sums[kChunkBatches];
        kGemvBlocks[static_cast<std::size_t>(vectors - 1)](depth, a + k0, b_block, ld_block,
                                                           last_start, sums);
        const bool add = accumulate || k0 > 0;
        float* out = c + n0;
        for (Index j = 0; j < batches; ++j) {
          Batch sum = sums[j];
          if (add) sum += Batch::load_unaligned(out + j * kLanes);
          sum.store_unaligned(out + j * kLanes);
        }
        if (rest > 0) {
          alignas(64) float rest_row[kLanes];
          sums[vectors - 1].store_aligned(rest_row);
          const Index rest_lane = padded ? 0 : kLanes - rest;  // the rest's first lane
          float* out_rest = out + batches * kLanes;
          for (Index t = 0; t < rest; ++t) {
            const float value = rest_row[rest_lane + t];
            out_rest[t] = add ? out_rest[t] + value : value;
          }
        }
      }
    }
  };
  const Index chunks = (N + kChunk - 1) / kChunk;
  if (chunks < 2 || N * K < kGrainWork * 4) {
    chunk_product(0, N);
    return;
  }
  tapegrad::detail::apply_thread_settings();
  tbb::parallel_for(tbb::blocked_range<Index>(0, chunks, 1), [&](const tbb::blocked_range<Index>& r) {
    chunk_product(r.begin() * kChunk, std::min(N, r.end() * kChunk));
  });
}

}  // namespace

bool gemm_thin(bool transpose_a, bool transpose_b, Index M, Index N, Index K, const float* a,
               Index lda, const float* b, Index ldb, float* c, Index ldc, bool accumulate,
               const float* bias, Index kc_block) {
  auto b_at = [&](Index k, Index n) { return transpose_b ? b[n * ldb + k] : b[k * ldb + n]; };
  auto a_at = [&](Index m, Index k) { return transpose_a ? a[k * lda + m] : a[m * lda + k]; };

  if (K == 1) {
    // C[m, :] (+)= a[m] * b[0, :]: one scaled copy of the row of B per row of C, onto the bias
    // row for gemm_bias (a one-feature series' input projection: one pass over C, not two, and
    // C is only written: the bias is read from its own row, not copied into C first).
    std::vector<float> b_row(static_cast<std::size_t>(N));
    for (Index n = 0; n < N; ++n) b_row[static_cast<std::size_t>(n)] = b_at(0, n);
    for_row_blocks(M, N, [&](Index m0, Index m1) {
      for (Index m = m0; m < m1; ++m) {
        float* row = c + m * ldc;
        if (bias == nullptr && !accumulate) std::fill(row, row + N, 0.0f);
        scaled_add(row, a_at(m, 0), b_row.data(), bias != nullptr ? bias : row, N);
      }
    });
    return true;
  }
  const bool one_row = M == 1 && !transpose_a && !transpose_b && N > kMaxThinColumns;
  if (!one_row && N > kMaxThinColumns) return false;
  if (bias != nullptr) {  // one row or a few columns: filling C first costs no more than the sum
    for (Index m = 0; m < M; ++m) std::copy_n(bias, N, c + m * ldc);
    accumulate = true;
  }
  if (one_row) {
    gemv_row(N, K, a, b, ldb, c, accumulate, kc_block);
    return true;
  }

  // The few columns of op(B) as contiguous vectors of length K.
  std::vector<float> columns(static_cast<std::size_t>(N * K));
  for (Index n = 0; n < N; ++n)
    for (Index k = 0; k < K; ++k) columns[static_cast<std::size_t>(n * K + k)] = b_at(k, n);

  if (!transpose_a) {
    // Rows of A are contiguous: each C[m, n] is one dot product.
    for_row_blocks(M, N * K, [&](Index m0, Index m1) {
      for (Index m = m0; m < m1; ++m) {
        for (Index n = 0; n < N; ++n) {
          const float value = dot(a + m * lda, columns.data() + n * K, K);
          c[m * ldc + n] = accumulate ? c[m * ldc + n] + value : value;
        }
      }
    });
    return true;
  }
  // A is stored [K, M]: C[:, n] += b[k, n] * A[k, :] for k in order, rows of A contiguous.
  // Work is split over blocks of m (columns of A), each accumulating its own slice in order.
  for_row_blocks(M, N * K, [&](Index m0, Index m1) {
    const Index width = m1 - m0;
    std::vector<float> sums(static_cast<std::size_t>(width));
    for (Index n = 0; n < N; ++n) {
      std::fill(sums.begin(), sums.end(), 0.0f);
      for (Index k = 0; k < K; ++k) axpy(sums.data(), columns[static_cast<std::size_t>(n * K + k)], a + k * lda + m0, width);
      for (Index m = m0; m < m1; ++m) {
        const float value = sums[static_cast<std::size_t>(m - m0)];
        c[m * ldc + n] = accumulate ? c[m * ldc + n] + value : value;
      }
    }
  }, /*min_rows=*/16 * kLanes);
  return true;
}

}  // namespace tapegrad::kernels::TAPEGRAD_KERNEL_ISA::detail
