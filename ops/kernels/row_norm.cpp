// Layer normalisation of whole rows; the math is in row_norm.h. Two passes per row (mean, then
// the variance of the centred values), which stays accurate when |mean| >> std, unlike
// E[v^2] - mean^2.
#include "ops/kernels/row_norm.h"
#include "ops/kernels/isa_namespace.h"

#include <cmath>

#include "ops/kernels/pointwise_simd.h"
#include "ops/kernels/row_norm_simd.h"

namespace tapegrad::kernels::inline TAPEGRAD_KERNEL_ISA {

using detail::FloatBatch;
using detail::kLanes;

void row_norm_forward(float* out, float* xhat, float* rstd, const float* v, const float* gain,
                      const float* shift, std::int64_t R, std::int64_t W, float eps,
                      bool accumulate) {
  detail::for_rows(R, W, [&](std::int64_t row_begin, std::int64_t row_end) {
    for (std::int64_t r = row_begin; r < row_end; ++r) {
      const float* v_row = v + r * W;
      const RowStats stats = row_stats(v_row, W, eps);
      rstd[r] = stats.rstd;
      float* xhat_row = xhat + r * W;
      float* out_row = out + r * W;  // may be v_row: each element is read before it is written
      for (std::int64_t j = 0; j < W; ++j) {
        const float normalised = (v_row[j] - stats.mean) * stats.rstd;
        xhat_row[j] = normalised;
        const float affine = gain[j] * normalised + (shift ? shift[j] : 0.0f);
        out_row[j] = accumulate ? out_row[j] + affine : affine;
      }
    }
  });
}

void row_norm_backward(float* grad_v, double* grad_gain, const float* grad_out, const float* xhat,
                       const float* rstd, const float* gain, std::int64_t R, std::int64_t W) {
  // The gain's gradient first: grad_v may overwrite grad_out.
  if (grad_gain != nullptr) {
    for (std::int64_t r = 0; r < R; ++r) {
      const float* g = grad_out + r * W;
      const float* x = xhat + r * W;
      for (std::int64_t j = 0; j < W; ++j) grad_gain[j] += static_cast<double>(g[j] * x[j]);
    }
  }
  const float inv_w = 1.0f / static_cast<float>(W);
  detail::for_rows(R, W, [&](std::int64_t row_begin, std::int64_t row_end) {
    for (std::int64_t r = row_begin; r < row_end; ++r) {
      const float* dy = grad_out + r * W;
      const float* x = xhat + r * W;
      // mean(g) and mean(g * xhat) in one pass over the row. Multiplies then adds, never an fma:
      // the roundings of the two-pass version, which PyTorch's fixtures check at rtol 1e-4 (with
      // fmas, clang's build drifted past it on a layernorm gain's gradient).
      FloatBatch sum_g(0.0f), sum_gx(0.0f);
      std::int64_t j = 0;
      for (; j + kLanes <= W; j += kLanes) {
        const FloatBatch g = xsimd::load_unaligned(dy + j) * xsimd::load_unaligned(gain + j);
        sum_g += g;
        sum_gx += g * xsimd::load_unaligned(x + j);
      }
      float total_g = xsimd::hadd(sum_g), total_gx = xsimd::hadd(sum_gx);
      for (; j < W; ++j) {  // separate statements: no compiler contracts them into an fma
        const float g = dy[j] * gain[j];
        const float gx = g * x[j];
        total_g += g;
        total_gx += gx;
      }
      const float mean_g = inv_w * total_g, mean_gx = inv_w * total_gx;
      const float s = rstd[r];
      float* out = grad_v + r * W;
      for (std::int64_t k = 0; k < W; ++k) out[k] = s * (dy[k] * gain[k] - mean_g - x[k] * mean_gx);
    }
  });
}

}  // namespace tapegrad::kernels::TAPEGRAD_KERNEL_ISA
