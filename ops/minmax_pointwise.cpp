// maximum(a, b) and minimum(a, b), broadcasting, NaN-propagating (a NaN in either input gives NaN,
// as torch.maximum does; std::fmax would drop it). The gradient goes to the selected input; at a
// tie a == b each input gets g/2, PyTorch's convention, which keeps maximum(x, x) = x at slope 1.
#include <cmath>

#include "autograd/node.h"
#include "ops/broadcast.h"
#include "ops/ops.h"
#include "ops/pointwise_map.h"

namespace tapegrad {

namespace {

float pick_max(float a, float b) { return (a > b || std::isnan(a)) ? a : b; }
float pick_min(float a, float b) { return (a < b || std::isnan(a)) ? a : b; }

// Share of the gradient that goes to `mine` when `mine` wins the comparison `wins`:
// PyTorch's where(a == b, g/2, g).masked_fill_(loses, 0).
template <typename Wins>
float share(float g, float mine, float other, Wins wins) {
  if (mine == other) return 0.5f * g;
  return wins(other, mine) ? 0.0f : g;
}

template <typename Pick, typename Wins>
Tensor select_pointwise(const char* op, const Tensor& a, const Tensor& b, Pick pick, Wins wins) {
  const Shape out_shape = pointwise::check_binary(op, a, b);
  Tensor out = pointwise::map_broadcast(out_shape, pick, a, b);
  record(op, {a, b}, {out}, {a, b},
         [out_shape, a_shape = a.shape(), b_shape = b.shape(), wins](BackwardContext& ctx) {
           const Tensor& grad_out = ctx.grad_output(0);
           const Tensor& a = ctx.saved(0);
           const Tensor& b = ctx.saved(1);
           if (ctx.needs_grad(0)) {
             Tensor grad_a = pointwise::map_broadcast(
                 out_shape, [wins](float g, float x, float y) { return share(g, x, y, wins); },
                 grad_out, a, b);
             ctx.accumulate(0, sum_to_shape(grad_a, a_shape));
           }
           if (ctx.needs_grad(1)) {
             Tensor grad_b = pointwise::map_broadcast(
                 out_shape, [wins](float g, float x, float y) { return share(g, y, x, wins); },
                 grad_out, a, b);
             ctx.accumulate(1, sum_to_shape(grad_b, b_shape));
           }
         });
  return out;
}

}  // namespace

Tensor maximum(const Tensor& a, const Tensor& b) {
  return select_pointwise("maximum", a, b, pick_max, [](float x, float y) { return x > y; });
}

Tensor minimum(const Tensor& a, const Tensor& b) {
  return select_pointwise("minimum", a, b, pick_min, [](float x, float y) { return x < y; });
}

}  // namespace tapegrad
