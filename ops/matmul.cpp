// matmul (torch.matmul for operands of rank 1 to 3): C = A . B; dA = G . B^T, dB = A^T . G.
// Every case is a stack of [M,K]x[K,N] products. A 1-D operand is a one-row (or one-column)
// matrix with the same storage, and a 2-D operand next to a 3-D one is shared by every batch
// slice (stride 0), as in PyTorch's batch broadcasting. When B is the shared one, the batch
// folds into the rows: forward and dA are single [batch*M, ...] products and dB is one TN
// product summing over all batch*M rows. The transposes are gemm flags, never copies.
#include <string>

#include "autograd/node.h"
#include "ops/kernels/matmul.h"
#include "ops/ops.h"

namespace tapegrad {

namespace {

struct MatmulDims {
  std::int64_t batch = 1;    // batch of the output
  std::int64_t batch_a = 1;  // 1 when A is shared by all slices
  std::int64_t batch_b = 1;
  std::int64_t M = 1, K = 1, N = 1;
};

std::string both_shapes(const Tensor& a, const Tensor& b) {
  return format_shape(a.shape()) + " and " + format_shape(b.shape());
}

MatmulDims matmul_dims(const Tensor& a, const Tensor& b) {
  const Shape& sa = a.shape();
  const Shape& sb = b.shape();
  const std::int64_t rank_a = a.dim();
  const std::int64_t rank_b = b.dim();
  if (rank_a < 1 || rank_a > 3 || rank_b < 1 || rank_b > 3) {
    throw ShapeError("matmul: expected 1-D, 2-D or 3-D operands, got shapes " + both_shapes(a, b));
  }
  MatmulDims d;
  d.K = sa[sa.size() - 1];
  d.M = rank_a >= 2 ? sa[sa.size() - 2] : 1;
  const std::int64_t k_of_b = rank_b >= 2 ? sb[sb.size() - 2] : sb[0];
  d.N = rank_b >= 2 ? sb[sb.size() - 1] : 1;
  if (k_of_b != d.K) {
    throw ShapeError("matmul: shapes " + both_shapes(a, b) + " cannot be multiplied (inner dims " +
                     std::to_string(d.K) + " vs " + std::to_string(k_of_b) + ")");
  }
  d.batch_a = rank_a == 3 ? sa[0] : 1;
  d.batch_b = rank_b == 3 ? sb[0] : 1;
  if (d.batch_a != d.batch_b && d.batch_a != 1 && d.batch_b != 1) {
    throw ShapeError("matmul: batch sizes of shapes " + both_shapes(a, b) + " differ (" +
                     std::to_string(d.batch_a) + " vs " + std::to_string(d.batch_b) + ")");
  }
  d.batch = d.batch_a == 1 ? d.batch_b : d.batch_a;
  return d;
}

// PyTorch drops the unit dims that a 1-D operand was promoted with.
Shape matmul_output_shape(const Tensor& a, const Tensor& b, const MatmulDims& d) {
  Shape out;
  if (a.dim() == 3 || b.dim() == 3) out.push_back(d.batch);
  if (a.dim() >= 2) out.push_back(d.M);
  if (b.dim() >= 2) out.push_back(d.N);
  return out;
}

}  // namespace

Tensor matmul(const Tensor& a, const Tensor& b) {
  check_floating("matmul", "a", a);
  check_floating("matmul", "b", b);
  const MatmulDims d = matmul_dims(a, b);
  const Shape out_shape = matmul_output_shape(a, b, d);
  // M and N come from different operands: [2^40, 0] x [0, 2^40] is fine, its product is not.
  // Once the output is checked, every stride below (M*K, K*N, M*N, batch*M) fits too.
  checked_numel("matmul", out_shape);
  Tensor out = Tensor::empty(out_shape);
  const std::int64_t stride_a = d.batch_a == 1 ? 0 : d.M * d.K;
  const std::int64_t stride_b = d.batch_b == 1 ? 0 : d.K * d.N;
  const std::int64_t stride_c = d.M * d.N;
  const MatmulPrecision precision = matmul_precision();
  if (d.batch_b == 1) {
    // A's slices are contiguous, so [batch, M, K] is one [batch*M, K] matrix.
    kernels::matmul_forward(out.data(), a.data(), b.data(), d.batch_a * d.M, d.K, d.N, false,
                            precision);
  } else {
    for (std::int64_t i = 0; i < d.batch; ++i) {
      kernels::matmul_forward(out.data() + i * stride_c, a.data() + i * stride_a,
                              b.data() + i * stride_b, d.M, d.K, d.N, false, precision);
    }
  }

  record("matmul", {a, b}, {out}, {a, b},
         [d, stride_a, stride_b, stride_c, precision](BackwardContext& ctx) {
    const Tensor& grad_out = ctx.grad_output(0);
    const Tensor& saved_a = ctx.saved(0);
    const Tensor& saved_b = ctx.saved(1);
    if (ctx.needs_grad(0)) {
      Tensor grad_a = Tensor::empty(saved_a.shape());
      if (d.batch_b == 1) {
        kernels::matmul_nt(grad_a.data(), grad_out.data(), saved_b.data(), d.batch_a * d.M, d.N,
                           d.K, false, precision);
      } else {
        // A shared over batch slices sums the slices' gradients (accumulate after the first).
        for (std::int64_t i = 0; i < d.batch; ++i) {
          kernels::matmul_nt(grad_a.data() + i * stride_a, grad_out.data() + i * stride_c,
                             saved_b.data() + i * stride_b, d.M, d.N, d.K,
                             /*accumulate=*/stride_a == 0 && i > 0, precision);
        }
      }
      ctx.accumulate(0, std::move(grad_a));
    }
    if (ctx.needs_grad(1)) {
      Tensor grad_b = Tensor::empty(saved_b.shape());
      if (d.batch_b == 1) {
        kernels::matmul_tn(grad_b.data(), saved_a.data(), grad_out.data(), d.K, d.batch_a * d.M,
                           d.N, false, precision);
      } else {
        for (std::int64_t i = 0; i < d.batch; ++i) {
          kernels::matmul_tn(grad_b.data() + i * stride_b, saved_a.data() + i * stride_a,
                             grad_out.data() + i * stride_c, d.K, d.M, d.N, false, precision);
        }
      }
      ctx.accumulate(1, std::move(grad_b));
    }
  });
  return out;
}

}  // namespace tapegrad
