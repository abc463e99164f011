// dropout (torch.nn.functional.dropout): y = x * mask, mask_i = keep_i / (1 - p) with
// keep_i ~ Bernoulli(1 - p) drawn from the caller's generator; dx = g * mask (the same mask).
// The mask is stored pre-scaled, so forward and backward are one multiply each, and it is a
// plain tensor with no history, which the backward may capture directly.
// p == 1 drops everything: the mask is all zeros (not 0 * inf) and no random number is drawn.
#include <sstream>

#include "autograd/node.h"
#include "ops/ops.h"

namespace tapegrad {

Tensor dropout(const Tensor& x, float p, bool training, Generator& generator) {
  check_floating("dropout", "x", x);
  if (!(p >= 0.0f && p <= 1.0f)) {  // also rejects NaN
    std::ostringstream message;
    message << "dropout: expected a probability p in [0, 1], got " << p;
    throw ValueError(message.str());
  }
  if (!training || p == 0.0f) return x;

  const std::int64_t n = x.numel();
  Tensor mask = Tensor::zeros(x.shape());
  float* m = mask.data();
  if (p < 1.0f) {
    const float scale = 1.0f / (1.0f - p);
    // uniform() is a multiple of 2^-24 in [0, 1), so P(u >= p) = 1 - p up to that grid.
    for (std::int64_t i = 0; i < n; ++i) m[i] = generator.uniform() >= p ? scale : 0.0f;
  }
  Tensor out = Tensor::empty(x.shape());
  const float* xv = x.data();
  float* y = out.data();
  for (std::int64_t i = 0; i < n; ++i) y[i] = xv[i] * m[i];

  record("dropout", {x}, {out}, {}, [mask](BackwardContext& ctx) {
    if (!ctx.needs_grad(0)) return;
    const Tensor& grad_out = ctx.grad_output(0);
    Tensor grad_x = Tensor::empty(mask.shape());
    const float* g = grad_out.data();
    const float* mv = mask.data();
    float* gx = grad_x.data();
    for (std::int64_t i = 0, count = grad_x.numel(); i < count; ++i) gx[i] = g[i] * mv[i];
    ctx.accumulate(0, std::move(grad_x));
  });
  return out;
}

}  // namespace tapegrad
