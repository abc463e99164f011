// Broadcasting arithmetic: a + b, a - b, a * b, a / b, and the tensor-scalar forms a + s, a * s.
// d(a+b) = (g, g); d(a-b) = (g, -g); d(a*b) = (g*b, g*a); d(a/b) = (g/b, -g*(a/b)/b).
// Each input's gradient is computed over the broadcast shape and summed back to its own shape.
// The division gradient divides twice instead of by b*b, so it does not overflow or underflow
// earlier than the forward quotient does (b = 1e-20 squares to 0 in float32).
#include "autograd/node.h"
#include "ops/broadcast.h"
#include "ops/ops.h"
#include "ops/pointwise_map.h"

namespace tapegrad {

using pointwise::check_binary;
using pointwise::map_broadcast;

Tensor add(const Tensor& a, const Tensor& b) {
  const Shape out_shape = check_binary("add", a, b);
  Tensor out = map_broadcast(out_shape, [](float x, float y) { return x + y; }, a, b);
  record("add", {a, b}, {out}, {},
         [a_shape = a.shape(), b_shape = b.shape()](BackwardContext& ctx) {
           const Tensor& grad_out = ctx.grad_output(0);
           if (ctx.needs_grad(0)) ctx.accumulate(0, sum_to_shape(grad_out, a_shape));
           if (ctx.needs_grad(1)) ctx.accumulate(1, sum_to_shape(grad_out, b_shape));
         });
  return out;
}

Tensor sub(const Tensor& a, const Tensor& b) {
  const Shape out_shape = check_binary("sub", a, b);
  Tensor out = map_broadcast(out_shape, [](float x, float y) { return x - y; }, a, b);
  record("sub", {a, b}, {out}, {},
         [a_shape = a.shape(), b_shape = b.shape()](BackwardContext& ctx) {
           const Tensor& grad_out = ctx.grad_output(0);
           if (ctx.needs_grad(0)) ctx.accumulate(0, sum_to_shape(grad_out, a_shape));
           if (ctx.needs_grad(1)) {
             // Reduce first: negating the smaller tensor is cheaper.
             Tensor grad_b = sum_to_shape(grad_out, b_shape);
             ctx.accumulate(1, pointwise::map_unary(grad_b, [](float g) { return -g; }));
           }
         });
  return out;
}

Tensor mul(const Tensor& a, const Tensor& b) {
  const Shape out_shape = check_binary("mul", a, b);
  Tensor out = map_broadcast(out_shape, [](float x, float y) { return x * y; }, a, b);
  // a is only needed for b's gradient and b for a's, so save only those (as PyTorch does): an
  // in-place change to a tensor whose partner needs no gradient is then harmless.
  record("mul", {a, b}, {out},
         {b.requires_grad() ? a : Tensor(), a.requires_grad() ? b : Tensor()},
         [out_shape, a_shape = a.shape(), b_shape = b.shape()](BackwardContext& ctx) {
           const Tensor& grad_out = ctx.grad_output(0);
           const auto times = [](float g, float other) { return g * other; };
           if (ctx.needs_grad(0)) {
             ctx.accumulate(0, sum_to_shape(map_broadcast(out_shape, times, grad_out, ctx.saved(1)),
                                            a_shape));
           }
           if (ctx.needs_grad(1)) {
             ctx.accumulate(1, sum_to_shape(map_broadcast(out_shape, times, grad_out, ctx.saved(0)),
                                            b_shape));
           }
         });
  return out;
}

Tensor div(const Tensor& a, const Tensor& b) {
  const Shape out_shape = check_binary("div", a, b);
  Tensor out = map_broadcast(out_shape, [](float x, float y) { return x / y; }, a, b);
  record("div", {a, b}, {out}, {b.requires_grad() ? a : Tensor(), b},
         [out_shape, a_shape = a.shape(), b_shape = b.shape()](BackwardContext& ctx) {
           const Tensor& grad_out = ctx.grad_output(0);
           const Tensor& divisor = ctx.saved(1);
           if (ctx.needs_grad(0)) {
             Tensor grad_a =
                 map_broadcast(out_shape, [](float g, float y) { return g / y; }, grad_out, divisor);
             ctx.accumulate(0, sum_to_shape(grad_a, a_shape));
           }
           if (ctx.needs_grad(1)) {
             Tensor grad_b = map_broadcast(
                 out_shape, [](float g, float x, float y) { return -g * (x / y) / y; }, grad_out,
                 ctx.saved(0), divisor);
             ctx.accumulate(1, sum_to_shape(grad_b, b_shape));
           }
         });
  return out;
}

Tensor add(const Tensor& a, float b) {
  pointwise::check_defined("add", "a", a);
  Tensor out = pointwise::map_unary(a, [b](float x) { return x + b; });
  record("add", {a}, {out}, {}, [](BackwardContext& ctx) {
    if (ctx.needs_grad(0)) ctx.accumulate(0, ctx.grad_output(0));
  });
  return out;
}

Tensor mul(const Tensor& a, float b) {
  pointwise::check_defined("mul", "a", a);
  Tensor out = pointwise::map_unary(a, [b](float x) { return x * b; });
  record("mul", {a}, {out}, {}, [b](BackwardContext& ctx) {
    if (ctx.needs_grad(0)) {
      ctx.accumulate(0, pointwise::map_unary(ctx.grad_output(0), [b](float g) { return g * b; }));
    }
  });
  return out;
}

}  // namespace tapegrad
