// y = base^e. d/dbase = e * base^(e-1), taken as exactly 0 where e == 0 (x^0 is constant, even at
// x = 0 where 0 * 0^-1 would give NaN); at base = 0 this gives PyTorch's values: 0 for e > 1,
// 1 for e == 1, inf for 0 < e < 1. d/de = y * log(base), taken as 0 where base == 0 and e >= 0
// (PyTorch's mask: y is 0 or 1 there and is flat in e from the right); for base < 0 it is NaN,
// as in PyTorch, since real base^e is not differentiable in e there.
#include <cmath>
#include <string>

#include "autograd/node.h"
#include "ops/broadcast.h"
#include "ops/ops.h"
#include "ops/pointwise_map.h"

namespace tapegrad {

namespace {

float power(float base, float exponent) {
  // Exponents common in losses and norms get exact, cheaper forms (as PyTorch special-cases them).
  if (exponent == 2.0f) return base * base;
  if (exponent == 1.0f) return base;
  if (exponent == 0.5f) return std::sqrt(base);
  if (exponent == -1.0f) return 1.0f / base;
  return std::pow(base, exponent);
}

float power_grad_base(float base, float exponent) {
  if (exponent == 0.0f) return 0.0f;
  return exponent * power(base, exponent - 1.0f);
}

float power_grad_exponent(float base, float exponent, float result) {
  if (base == 0.0f && exponent >= 0.0f) return 0.0f;
  return result * std::log(base);
}

}  // namespace

Tensor pow(const Tensor& base, float exponent) {
  pointwise::check_defined("pow", "base", base);
  if (std::isnan(exponent)) {
    throw ValueError("pow: expected a number as exponent, got NaN (a NaN exponent makes no sense)");
  }
  Tensor out = pointwise::map_unary(base, [exponent](float x) { return power(x, exponent); });
  record("pow", {base}, {out}, {base}, [exponent](BackwardContext& ctx) {
    if (!ctx.needs_grad(0)) return;
    ctx.accumulate(0, pointwise::map_same_shape(ctx.grad_output(0), ctx.saved(0),
                                                [exponent](float g, float x) {
                                                  return g * power_grad_base(x, exponent);
                                                }));
  });
  return out;
}

Tensor pow(const Tensor& base, const Tensor& exponent) {
  const Shape out_shape = pointwise::check_binary("pow", base, exponent, "base", "exponent");
  Tensor out = pointwise::map_broadcast(out_shape, power, base, exponent);
  // The output is saved only for the exponent's gradient (y * log(base)).
  record("pow", {base, exponent}, {out},
         {base, exponent, exponent.requires_grad() ? out : Tensor()},
         [out_shape, base_shape = base.shape(), exponent_shape = exponent.shape()](
             BackwardContext& ctx) {
           const Tensor& grad_out = ctx.grad_output(0);
           if (ctx.needs_grad(0)) {
             Tensor grad_base = pointwise::map_broadcast(
                 out_shape, [](float g, float x, float e) { return g * power_grad_base(x, e); },
                 grad_out, ctx.saved(0), ctx.saved(1));
             ctx.accumulate(0, sum_to_shape(grad_base, base_shape));
           }
           if (ctx.needs_grad(1)) {
             Tensor grad_exponent = pointwise::map_broadcast(
                 out_shape,
                 [](float g, float x, float e, float y) { return g * power_grad_exponent(x, e, y); },
                 grad_out, ctx.saved(0), ctx.saved(1), ctx.saved(2));
             ctx.accumulate(1, sum_to_shape(grad_exponent, exponent_shape));
           }
         });
  return out;
}

}  // namespace tapegrad
