// Placeholder: gemm forwards to the reference until the packed xsimd kernel lands.
#include "ops/kernels/matmul.h"

namespace tapegrad::kernels {

void gemm_reference(bool transpose_a, bool transpose_b, std::int64_t M, std::int64_t N,
                    std::int64_t K, const float* a, std::int64_t lda, const float* b,
                    std::int64_t ldb, float* c, std::int64_t ldc, bool accumulate) {
  for (std::int64_t m = 0; m < M; ++m) {
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
}

void gemm(bool transpose_a, bool transpose_b, std::int64_t M, std::int64_t N, std::int64_t K,
          const float* a, std::int64_t lda, const float* b, std::int64_t ldb, float* c,
          std::int64_t ldc, bool accumulate) {
  gemm_reference(transpose_a, transpose_b, M, N, K, a, lda, b, ldb, c, ldc, accumulate);
}

}  // namespace tapegrad::kernels
