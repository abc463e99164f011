#pragma once
// Private to the float32 gemm of one instruction-set build (matmul.cpp, matmul_dot.cpp): the
// product as their kernels see it, and the entry of the dot-product path.
#include <xsimd/xsimd.hpp>

#include "ops/kernels/isa_namespace.h"
#include "ops/kernels/matmul_blocks.h"
#include "ops/kernels/matmul_internal.h"

namespace tapegrad::kernels::inline TAPEGRAD_KERNEL_ISA::float_gemm {

using matmul_detail::Index;
using Batch = xsimd::batch<float, xsimd::default_arch>;
constexpr Index kLanes = static_cast<Index>(Batch::size);

struct Problem {
  bool transpose_a, transpose_b, accumulate;
  Index M, N, K, lda, ldb, ldc;
  const float *a, *b;
  float* c;
  const float* bias = nullptr;  // gemm_bias's row (accumulate is then false)
};

// Packing scratch (matmul_blocks.h), in floats.
inline auto scratch(Index floats) { return matmul_blocks::scratch<float>(floats); }

inline Index round_up(Index x, Index multiple) { return (x + multiple - 1) / multiple * multiple; }

// C[m0..m1, n0..n1] of an A . B^T with at most kDotRows rows, by dot products along k
// (matmul_dot.cpp). Without a bias: gemm_bias fills C before it.
void compute_dot_block(const Problem& p, Index m0, Index m1, Index n0, Index n1);

}  // namespace tapegrad::kernels::TAPEGRAD_KERNEL_ISA::float_gemm
