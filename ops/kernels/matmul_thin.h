#pragma once
// Internal to ops/kernels: matrix products too thin for register tiles, computed with vector
// loops instead (see matmul_thin.cpp). Same contract and dimension letters as gemm in matmul.h.
#include <cstdint>

#include "ops/kernels/isa_namespace.h"

namespace tapegrad::kernels::inline TAPEGRAD_KERNEL_ISA::detail {

// Handles the product and returns true when N or K is tiny (N <= 4 columns: matrix-vector
// products such as the weight gradient of a 1-feature input; K == 1: an outer product such as
// that input's projection) or when one row of A meets a row-major B (A . B with M == 1: a
// batch-1 recurrent step's backward); returns false, touching nothing, otherwise. kc_block is
// the packed kernels' depth block (KC), whose chains the one-row product reproduces. bias: null,
// or gemm_bias's row (accumulate is then false).
bool gemm_thin(bool transpose_a, bool transpose_b, std::int64_t M, std::int64_t N, std::int64_t K,
               const float* a, std::int64_t lda, const float* b, std::int64_t ldb, float* c,
               std::int64_t ldc, bool accumulate, const float* bias, std::int64_t kc_block);

}  // namespace tapegrad::kernels::TAPEGRAD_KERNEL_ISA::detail
