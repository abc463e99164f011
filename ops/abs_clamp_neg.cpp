// Piecewise-linear unary ops. neg: y = -x, dy/dx = -1. abs: y = |x|, dy/dx = sign(x) with
// sign(0) = 0. clamp: y = min(max(x, lo), hi), dy/dx = 1 where lo <= x <= hi (inclusive, so the
// gradient passes at the bounds themselves) and 0 outside. These are PyTorch's choices at the kinks.
// A NaN input stays NaN through abs and clamp and gets gradient 0 from clamp.
#include <cmath>
#include <optional>
#include <sstream>
#include <string>

#include "autograd/node.h"
#include "ops/ops.h"
#include "ops/pointwise_map.h"

namespace tapegrad {

Tensor neg(const Tensor& x) {
  pointwise::check_defined("neg", "x", x);
  Tensor out = pointwise::map_unary(x, [](float v) { return -v; });
  record("neg", {x}, {out}, {}, [](BackwardContext& ctx) {
    if (!ctx.needs_grad(0)) return;
    ctx.accumulate(0, pointwise::map_unary(ctx.grad_output(0), [](float g) { return -g; }));
  });
  return out;
}

Tensor abs(const Tensor& x) {
  pointwise::check_defined("abs", "x", x);
  Tensor out = pointwise::map_unary(x, [](float v) { return std::fabs(v); });
  record("abs", {x}, {out}, {x}, [](BackwardContext& ctx) {
    if (!ctx.needs_grad(0)) return;
    ctx.accumulate(0, pointwise::map_same_shape(ctx.grad_output(0), ctx.saved(0),
                                                [](float g, float v) {
                                                  return v > 0.0f ? g : (v < 0.0f ? -g : 0.0f);
                                                }));
  });
  return out;
}

namespace {

std::string describe(std::optional<float> bound) {
  if (!bound) return "none";
  std::ostringstream out;
  out << *bound;
  return out.str();
}

void check_clamp_bounds(std::optional<float> min, std::optional<float> max) {
  const std::string given = "min=" + describe(min) + " max=" + describe(max);
  if (!min && !max) {
    throw ValueError("clamp: expected at least one of min and max, got " + given);
  }
  if ((min && std::isnan(*min)) || (max && std::isnan(*max))) {
    throw ValueError("clamp: expected numeric bounds, got " + given +
                     " (a NaN bound makes no sense)");
  }
  if (min && max && *min > *max) {
    throw ValueError("clamp: expected min <= max, got " + given);
  }
}

}  // namespace

Tensor clamp(const Tensor& x, std::optional<float> min, std::optional<float> max) {
  pointwise::check_defined("clamp", "x", x);
  check_clamp_bounds(min, max);
  // An absent bound becomes an infinite one: the comparisons below then never fire for it.
  const float lo = min.value_or(-INFINITY);
  const float hi = max.value_or(INFINITY);
  Tensor out = pointwise::map_unary(x, [lo, hi](float v) {
    if (v < lo) return lo;
    if (v > hi) return hi;
    return v;  // also NaN, which fails both comparisons
  });
  record("clamp", {x}, {out}, {x}, [lo, hi](BackwardContext& ctx) {
    if (!ctx.needs_grad(0)) return;
    ctx.accumulate(0, pointwise::map_same_shape(ctx.grad_output(0), ctx.saved(0),
                                                [lo, hi](float g, float v) {
                                                  return (v >= lo && v <= hi) ? g : 0.0f;
                                                }));
  });
  return out;
}

}  // namespace tapegrad
