#pragma once
// Single-precision matrix products on raw row-major pointers (llm.c style: outputs first, then
// inputs, then dimensions).
// Dimension letters: M rows of the result, N columns of the result, K the reduction length.
// lda/ldb/ldc are row strides in floats of the matrices as stored.
// Work is split over blocks of the output only, never over K, so the result is bit-identical for
// any thread count.
#include <cstdint>

#include "autograd/grad_mode.h"
#include "ops/kernels/matmul_bf16.h"

namespace tapegrad::kernels {

// C[M,N] = op(A)[M,K] . op(B)[K,N], plus the old C when accumulate is set.
// op(A) = A stored [M,K], or A^T with A stored [K,M] when transpose_a; likewise for B.
void gemm(bool transpose_a, bool transpose_b, std::int64_t M, std::int64_t N, std::int64_t K,
          const float* a, std::int64_t lda, const float* b, std::int64_t ldb, float* c,
          std::int64_t ldc, bool accumulate);
// C[M,N] = bias + op(A) . op(B), the row bias[N] added to every row of C, with the bits of
// filling C's rows with bias and then gemm(..., accumulate = true), without that pass over C: a
// recurrent layer's input projection over all T*B rows (16 MB written and read back again for
// the sine tutorial). bias must not overlap C; a null bias is gemm(..., accumulate = false).
void gemm_bias(bool transpose_a, bool transpose_b, std::int64_t M, std::int64_t N, std::int64_t K,
               const float* a, std::int64_t lda, const float* b, std::int64_t ldb, float* c,
               std::int64_t ldc, const float* bias);
// The naive triple loop (double accumulation) that gemm is tested against.
void gemm_reference(bool transpose_a, bool transpose_b, std::int64_t M, std::int64_t N,
                    std::int64_t K, const float* a, std::int64_t lda, const float* b,
                    std::int64_t ldb, float* c, std::int64_t ldc, bool accumulate);

// Whether a product of this shape runs in bfloat16 at this precision: under the matmul precision
// bfloat16 (autograd/grad_mode.h) where bfloat16 pays (bf16_pays).
inline bool runs_bf16(MatmulPrecision precision, std::int64_t M, std::int64_t N, std::int64_t K) {
  return precision == MatmulPrecision::bfloat16 && bf16_pays(M, N, K);
}

// gemm, or gemm_bf16 (matmul_bf16.h) where runs_bf16: the products of the ops, at the precision
// their forward recorded.
inline void gemm_at(MatmulPrecision precision, bool transpose_a, bool transpose_b,
                    std::int64_t M, std::int64_t N, std::int64_t K, const float* a,
                    std::int64_t lda, const float* b, std::int64_t ldb, float* c, std::int64_t ldc,
                    bool accumulate) {
  if (runs_bf16(precision, M, N, K))
    gemm_bf16(transpose_a, transpose_b, M, N, K, a, lda, b, ldb, c, ldc, accumulate);
  else
    gemm(transpose_a, transpose_b, M, N, K, a, lda, b, ldb, c, ldc, accumulate);
}

// C[M,N] = bias + op(A) . op(B) at the recorded precision: gemm_bias, or where runs_bf16 the
// bias rows filled first (split over threads when large) and the bfloat16 product accumulated
// onto them (the same sum).
void gemm_at_bias(MatmulPrecision precision, bool transpose_a, bool transpose_b, std::int64_t M,
                  std::int64_t N, std::int64_t K, const float* a, std::int64_t lda, const float* b,
                  std::int64_t ldb, float* c, std::int64_t ldc, const float* bias);

// The ops' products at their recorded precision (no default: a caller that forgets it would
// silently run float32 under the guard).
// out[M,N] (+)= a[M,K] . b[K,N]
inline void matmul_forward(float* out, const float* a, const float* b, std::int64_t M,
                           std::int64_t K, std::int64_t N, bool accumulate,
                           MatmulPrecision precision) {
  gemm_at(precision, false, false, M, N, K, a, K, b, N, out, N, accumulate);
}
// out[M,N] (+)= a[M,K] . b[N,K]^T  (the input gradient of a product, x . W^T of a Linear)
inline void matmul_nt(float* out, const float* a, const float* b, std::int64_t M, std::int64_t K,
                      std::int64_t N, bool accumulate, MatmulPrecision precision) {
  gemm_at(precision, false, true, M, N, K, a, K, b, K, out, N, accumulate);
}
// out[M,N] (+)= a[K,M]^T . b[K,N]  (the weight gradient of a product)
inline void matmul_tn(float* out, const float* a, const float* b, std::int64_t M, std::int64_t K,
                      std::int64_t N, bool accumulate, MatmulPrecision precision) {
  gemm_at(precision, true, false, M, N, K, a, M, b, N, out, N, accumulate);
}

}  // namespace tapegrad::kernels
