#pragma once
// Internal to ops/kernels (xsimd, through pointwise_simd.h): the per-row reductions of layer
// normalisation (row_norm.h), inline in each instruction-set build, so that row_norm.cpp and a
// cell's own row_norm (cell_kernel.h) call their own build's copy, never the dispatcher's.
#include <cmath>
#include <cstdint>

#include "ops/kernels/pointwise_simd.h"
#include "ops/kernels/row_norm.h"

namespace tapegrad::kernels::inline TAPEGRAD_KERNEL_ISA {

namespace detail {
// sum over j of term(j): lane-parallel partial sums, then the tail, in a fixed order.
template <class BatchTerm, class ScalarTerm>
inline float row_sum(std::int64_t n, BatchTerm&& batch_term, ScalarTerm&& scalar_term) {
  FloatBatch sum(0.0f);
  std::int64_t j = 0;
  for (; j + kLanes <= n; j += kLanes) sum += batch_term(j);
  float total = xsimd::hadd(sum);
  for (; j < n; ++j) total += scalar_term(j);
  return total;
}
}  // namespace detail

inline RowStats row_stats(const float* v, std::int64_t n, float eps) {
  const float inv_n = 1.0f / static_cast<float>(n);
  const float mean = inv_n * detail::row_sum(
                                 n, [&](std::int64_t j) { return xsimd::load_unaligned(v + j); },
                                 [&](std::int64_t j) { return v[j]; });
  const detail::FloatBatch mean_batch(mean);
  const float var = inv_n * detail::row_sum(
                                n,
                                [&](std::int64_t j) {
                                  const detail::FloatBatch d =
                                      xsimd::load_unaligned(v + j) - mean_batch;
                                  return d * d;
                                },
                                [&](std::int64_t j) { return (v[j] - mean) * (v[j] - mean); });
  return {mean, 1.0f / std::sqrt(var + eps)};
}

inline RowGradMeans row_norm_grad_means(const float* grad_y, const float* x, RowStats stats,
                                 std::int64_t n) {
  const float inv_n = 1.0f / static_cast<float>(n);
  const detail::FloatBatch mean(stats.mean), rstd(stats.rstd);
  const float grad = detail::row_sum(
      n, [&](std::int64_t j) { return xsimd::load_unaligned(grad_y + j); },
      [&](std::int64_t j) { return grad_y[j]; });
  const float grad_y_dot = detail::row_sum(
      n,
      [&](std::int64_t j) {
        return xsimd::load_unaligned(grad_y + j) * ((xsimd::load_unaligned(x + j) - mean) * rstd);
      },
      [&](std::int64_t j) { return grad_y[j] * ((x[j] - stats.mean) * stats.rstd); });
  return {grad * inv_n, grad_y_dot * inv_n};
}

}  // namespace tapegrad::kernels::TAPEGRAD_KERNEL_ISA
