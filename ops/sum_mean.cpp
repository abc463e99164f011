// sum and mean over a set of dims (https://pytorch.org/docs/stable/generated/torch.sum.html).
//   y[j] = sum_{i -> j} x[i]   (mean: divided by the count of reduced elements)
//   dy/dx = 1 (mean: 1/count), so the backward broadcasts grad_out back over the reduced dims.
// Sums accumulate in double: a float running sum of 2^20 copies of 0.1f is already 1% off.
// An empty dims list reduces every dim. Unlike PyTorch (which returns NaN), mean over a dim of
// extent 0 throws ValueError: a NaN loss is never what the caller meant.
#include <string>

#include "autograd/node.h"
#include "ops/ops.h"
#include "ops/strided.h"

namespace tapegrad {

namespace {

struct Reduction {
  Shape out_shape;
  // Strides of the output seen from the input's index space: 0 on every reduced dim, so
  // for_each_offset over x.shape() maps each input element to its output element.
  Layout out_from_input;
  std::int64_t count = 1;  // input elements per output element
};

Reduction plan_reduction(std::string_view op, const Shape& shape,
                         const std::vector<std::int64_t>& dims, bool keepdim) {
  const auto rank = static_cast<std::int64_t>(shape.size());
  // A 0-D tensor accepts dim 0 / -1 (as PyTorch) and has nothing to reduce.
  std::vector<bool> seen(static_cast<std::size_t>(rank == 0 ? 1 : rank), false);
  for (std::int64_t dim : dims) {
    const auto d = static_cast<std::size_t>(wrap_dim(op, dim, rank));
    if (seen[d]) {
      throw ValueError(std::string(op) + ": dim " + std::to_string(d) +
                       " appears more than once in dims " + format_shape(dims));
    }
    seen[d] = true;
  }
  Reduction plan;
  std::vector<bool> reduced(shape.size());
  Shape kept_shape(shape.size());
  for (std::size_t d = 0; d < shape.size(); ++d) {
    reduced[d] = dims.empty() || seen[d];
    kept_shape[d] = reduced[d] ? 1 : shape[d];
    if (reduced[d]) plan.count *= shape[d];
    if (!reduced[d] || keepdim) plan.out_shape.push_back(kept_shape[d]);
  }
  plan.out_from_input.strides = contiguous_strides(kept_shape);
  for (std::size_t d = 0; d < shape.size(); ++d) {
    if (reduced[d]) plan.out_from_input.strides[d] = 0;
  }
  return plan;
}

// The shared forward and backward; `scale` is 1 for sum and 1/count for mean.
Tensor reduce_sum(const char* op, const Tensor& x, const Reduction& plan, double scale) {
  check_floating(op, "x", x);
  const Shape x_shape = x.shape();
  const Layout x_layout = contiguous_layout(x_shape);
  std::vector<double> totals(static_cast<std::size_t>(numel_of(plan.out_shape)), 0.0);
  const float* in = x.data();
  for_each_offset(x_shape, x_layout, plan.out_from_input, [&](std::int64_t i, std::int64_t j) {
    totals[static_cast<std::size_t>(j)] += in[i];
  });
  Tensor out = Tensor::empty(plan.out_shape);
  float* values = out.data();
  for (std::size_t j = 0; j < totals.size(); ++j) values[j] = static_cast<float>(totals[j] * scale);

  record(op, {x}, {out}, {},
         [x_shape, x_layout, out_from_input = plan.out_from_input, scale](BackwardContext& ctx) {
           if (!ctx.needs_grad(0)) return;
           const float* grad_out = ctx.grad_output(0).data();
           Tensor grad_x = Tensor::empty(x_shape);
           float* grad = grad_x.data();
           const auto factor = static_cast<float>(scale);
           for_each_offset(x_shape, x_layout, out_from_input,
                           [&](std::int64_t i, std::int64_t j) { grad[i] = grad_out[j] * factor; });
           ctx.accumulate(0, std::move(grad_x));
         });
  return out;
}

Tensor mean_over(const Tensor& x, const Reduction& plan) {
  if (plan.count == 0) {
    throw ValueError("mean: cannot reduce over an empty dim (input shape " +
                     format_shape(x.shape()) + "; PyTorch would return NaN)");
  }
  return reduce_sum("mean", x, plan, 1.0 / static_cast<double>(plan.count));
}

}  // namespace

Tensor sum(const Tensor& x) {
  return reduce_sum("sum", x, plan_reduction("sum", x.shape(), {}, false), 1.0);
}

Tensor sum(const Tensor& x, const std::vector<std::int64_t>& dims, bool keepdim) {
  return reduce_sum("sum", x, plan_reduction("sum", x.shape(), dims, keepdim), 1.0);
}

Tensor mean(const Tensor& x) { return mean_over(x, plan_reduction("mean", x.shape(), {}, false)); }

Tensor mean(const Tensor& x, const std::vector<std::int64_t>& dims, bool keepdim) {
  return mean_over(x, plan_reduction("mean", x.shape(), dims, keepdim));
}

}  // namespace tapegrad
