// where(c, a, b) = c != 0 ? a : b, with c, a, b broadcast together (torch.where);
// da = sum_to(g where c != 0), db = sum_to(g where c == 0); c gets no gradient.
// masked_fill(x, mask, v) = mask != 0 ? v : x with mask broadcast to x; dx = g where mask == 0.
// The backward captures the picks as bytes, not the condition tensor: the condition may have a
// history of its own and is never differentiated, so only its pattern is kept.
#include <cstdint>
#include <string>
#include <vector>

#include "autograd/node.h"
#include "ops/broadcast.h"
#include "ops/ops.h"

namespace tapegrad {

namespace {

// grad where keep[i] is set, zero elsewhere.
Tensor masked_gradient(const Tensor& grad_out, const std::vector<std::uint8_t>& keep) {
  Tensor grad = Tensor::empty(grad_out.shape());
  const float* g = grad_out.data();
  float* out = grad.data();
  for (std::size_t i = 0; i < keep.size(); ++i) out[i] = keep[i] ? g[i] : 0.0f;
  return grad;
}

}  // namespace

Tensor where(const Tensor& condition, const Tensor& a, const Tensor& b) {
  check_floating("where", "condition", condition);
  check_floating("where", "a", a);
  check_floating("where", "b", b);
  const Shape shape =
      broadcast_shapes("where", broadcast_shapes("where", condition.shape(), a.shape()), b.shape());
  const Tensor condition_full = broadcast_to(condition, shape);
  const Tensor a_full = broadcast_to(a, shape);
  const Tensor b_full = broadcast_to(b, shape);
  Tensor out = Tensor::empty(shape);
  const float* c = condition_full.data();
  const float* av = a_full.data();
  const float* bv = b_full.data();
  float* y = out.data();
  const std::int64_t n = out.numel();
  for (std::int64_t i = 0; i < n; ++i) y[i] = c[i] != 0.0f ? av[i] : bv[i];
  if (!should_record({a, b})) return out;

  std::vector<std::uint8_t> picks_a(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) picks_a[i] = c[i] != 0.0f;
  record("where", {a, b}, {out}, {},
         [picks_a = std::move(picks_a), a_shape = a.shape(), b_shape = b.shape()](
             BackwardContext& ctx) {
           const Tensor& grad_out = ctx.grad_output(0);
           if (ctx.needs_grad(0)) {
             ctx.accumulate(0, sum_to_shape(masked_gradient(grad_out, picks_a), a_shape));
           }
           if (ctx.needs_grad(1)) {
             std::vector<std::uint8_t> picks_b(picks_a.size());
             for (std::size_t i = 0; i < picks_a.size(); ++i) picks_b[i] = !picks_a[i];
             ctx.accumulate(1, sum_to_shape(masked_gradient(grad_out, picks_b), b_shape));
           }
         });
  return out;
}

Tensor masked_fill(const Tensor& x, const Tensor& mask, float value) {
  check_floating("masked_fill", "x", x);
  check_floating("masked_fill", "mask", mask);
  const Shape& shape = x.shape();
  const Shape& mask_shape = mask.shape();
  bool broadcastable = mask_shape.size() <= shape.size();
  for (std::size_t i = 0; broadcastable && i < mask_shape.size(); ++i) {
    const std::int64_t extent = mask_shape[mask_shape.size() - 1 - i];
    broadcastable = extent == 1 || extent == shape[shape.size() - 1 - i];
  }
  if (!broadcastable) {
    throw ShapeError("masked_fill: mask of shape " + format_shape(mask_shape) +
                     " cannot be broadcast to the input's shape " + format_shape(shape));
  }
  const Tensor mask_full = broadcast_to(mask, shape);
  const float* m = mask_full.data();
  const float* xv = x.data();
  Tensor out = Tensor::empty(shape);
  float* y = out.data();
  const std::int64_t n = out.numel();
  for (std::int64_t i = 0; i < n; ++i) y[i] = m[i] != 0.0f ? value : xv[i];
  if (!should_record({x})) return out;

  std::vector<std::uint8_t> unmasked(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) unmasked[i] = m[i] == 0.0f;
  record("masked_fill", {x}, {out}, {}, [unmasked = std::move(unmasked)](BackwardContext& ctx) {
    if (ctx.needs_grad(0)) ctx.accumulate(0, masked_gradient(ctx.grad_output(0), unmasked));
  });
  return out;
}

}  // namespace tapegrad
