// sigmoid, tanh and relu, each differentiated through its saved output, the form PyTorch uses:
//   y = sigmoid(x), dy/dx = y (1 - y);  y = tanh(x), dy/dx = 1 - y^2;  y = relu(x), dy/dx = [y > 0].
// The output is bounded, so these derivatives stay finite at any |x| (at +-50 they are 0 or
// tiny, never NaN); a derivative written with exp(-x) would overflow there (tinygrad#1113).
// relu'(0) = 0, as in PyTorch. relu(NaN) = NaN (std::max would return 0 for one argument order).
#include <cmath>

#include "autograd/node.h"
#include "ops/kernels/elementwise.h"
#include "ops/ops.h"
#include "ops/pointwise_map.h"

namespace tapegrad {

Tensor sigmoid(const Tensor& x) {
  pointwise::check_defined("sigmoid", "x", x);
  Tensor out = Tensor::empty(x.shape());
  kernels::sigmoid_forward(out.data(), x.data(), x.numel());
  record("sigmoid", {x}, {out}, {out}, [](BackwardContext& ctx) {
    if (!ctx.needs_grad(0)) return;
    ctx.accumulate(0, pointwise::map_same_shape(ctx.grad_output(0), ctx.saved(0),
                                                [](float g, float y) { return g * y * (1.0f - y); }));
  });
  return out;
}

Tensor tanh(const Tensor& x) {
  pointwise::check_defined("tanh", "x", x);
  Tensor out = Tensor::empty(x.shape());
  kernels::tanh_forward(out.data(), x.data(), x.numel());
  record("tanh", {x}, {out}, {out}, [](BackwardContext& ctx) {
    if (!ctx.needs_grad(0)) return;
    ctx.accumulate(0, pointwise::map_same_shape(ctx.grad_output(0), ctx.saved(0),
                                                [](float g, float y) { return g * (1.0f - y * y); }));
  });
  return out;
}

Tensor relu(const Tensor& x) {
  pointwise::check_defined("relu", "x", x);
  Tensor out = pointwise::map_unary(x, [](float v) { return v > 0.0f || std::isnan(v) ? v : 0.0f; });
  record("relu", {x}, {out}, {out}, [](BackwardContext& ctx) {
    if (!ctx.needs_grad(0)) return;
    ctx.accumulate(0, pointwise::map_same_shape(ctx.grad_output(0), ctx.saved(0),
                                                [](float g, float y) { return y > 0.0f ? g : 0.0f; }));
  });
  return out;
}

}  // namespace tapegrad
