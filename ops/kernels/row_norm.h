#pragma once
// Layer normalisation of whole rows (Ba, Kiros & Hinton 2016): the normalisation of
// torch.nn.functional.layer_norm over the last dim
// (https://pytorch.org/docs/stable/generated/torch.nn.LayerNorm.html), biased variance.
// R rows, W width (a gate row G = gates * H, or the H units of a cell's row_norm).
//   forward:  rstd = 1 / sqrt(var + eps),  xhat = (v - mean) * rstd,  out (+)= gain * xhat + shift
//   backward: g = grad_out * gain,  grad_v = rstd * (g - mean(g) - xhat * mean(g * xhat)),
//             grad_gain += column sums of grad_out * xhat
// A constant row (var 0: a zero input, or H = 1) gives xhat = 0 and a finite gradient, since
// eps > 0. The reductions use SIMD partial sums combined in a fixed order (row-wise results do not
// depend on the thread split); the layer driver (ops/recurrent_layer.cpp) runs these on the gate
// rows, and the cell kernels (ops/kernels/cell_kernel.h) use row_stats and row_norm_grad_means for
// a cell's own row_norm.
#include <cstdint>

namespace tapegrad::kernels {

struct RowStats {
  float mean, rstd;
};
// Mean and 1/sqrt(var + eps) of v[0, n), n >= 1.
RowStats row_stats(const float* v, std::int64_t n, float eps);

// With y = (x - mean) * rstd, the two means backward needs: mean(grad_y), mean(grad_y * y).
struct RowGradMeans {
  float grad, grad_y;
};
RowGradMeans row_norm_grad_means(const float* grad_y, const float* x, RowStats stats,
                                 std::int64_t n);

// out, xhat [R, W]; rstd [R]; v [R, W] (may alias out); gain [W]; shift [W] or null (zero).
// accumulate: out += gain * xhat + shift instead of out = ....
void row_norm_forward(float* out, float* xhat, float* rstd, const float* v, const float* gain,
                      const float* shift, std::int64_t R, std::int64_t W, float eps,
                      bool accumulate);

// grad_v [R, W] (may alias grad_out); grad_gain [W] accumulated in double, or null.
void row_norm_backward(float* grad_v, double* grad_gain, const float* grad_out, const float* xhat,
                       const float* rstd, const float* gain, std::int64_t R, std::int64_t W);

}  // namespace tapegrad::kernels
