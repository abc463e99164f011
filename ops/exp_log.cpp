// y = exp(x), dy/dx = y; y = sqrt(x), dy/dx = 0.5 / y: both from the saved output, which is
// already computed and avoids a second exp/sqrt. y = log(x), dy/dx = 1 / x from the saved input.
// Domain edges follow PyTorch/IEEE: exp overflows to inf above ~88.7, log(0) = -inf with gradient
// inf, log(x < 0) = NaN, sqrt(0) = 0 with gradient inf, sqrt(x < 0) = NaN.
#include <cmath>

#include "autograd/node.h"
#include "ops/kernels/elementwise.h"
#include "ops/ops.h"
#include "ops/pointwise_map.h"

namespace tapegrad {

Tensor exp(const Tensor& x) {
  pointwise::check_defined("exp", "x", x);
  Tensor out = Tensor::empty(x.shape());
  kernels::exp_forward(out.data(), x.data(), x.numel());
  record("exp", {x}, {out}, {out}, [](BackwardContext& ctx) {
    if (!ctx.needs_grad(0)) return;
    ctx.accumulate(0, pointwise::map_same_shape(ctx.grad_output(0), ctx.saved(0),
                                                [](float g, float y) { return g * y; }));
  });
  return out;
}

Tensor log(const Tensor& x) {
  pointwise::check_defined("log", "x", x);
  Tensor out = pointwise::map_unary(x, [](float v) { return std::log(v); });
  record("log", {x}, {out}, {x}, [](BackwardContext& ctx) {
    if (!ctx.needs_grad(0)) return;
    ctx.accumulate(0, pointwise::map_same_shape(ctx.grad_output(0), ctx.saved(0),
                                                [](float g, float v) { return g / v; }));
  });
  return out;
}

Tensor sqrt(const Tensor& x) {
  pointwise::check_defined("sqrt", "x", x);
  Tensor out = pointwise::map_unary(x, [](float v) { return std::sqrt(v); });
  record("sqrt", {x}, {out}, {out}, [](BackwardContext& ctx) {
    if (!ctx.needs_grad(0)) return;
    ctx.accumulate(0, pointwise::map_same_shape(ctx.grad_output(0), ctx.saved(0),
                                                [](float g, float y) { return g * 0.5f / y; }));
  });
  return out;
}

}  // namespace tapegrad
