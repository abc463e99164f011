// slice and select: x[..., start:end:step, ...] and x[..., index, ...] along one dim
// (https://pytorch.org/docs/stable/generated/torch.select.html, Python slicing rules).
//   y = the elements of x in a strided region; dL/dx is dL/dy written into that region of zeros.
// The region is a Layout over x's storage (offset start*stride, stride step*stride), so both
// directions are one strided_copy. Results are copies (PyTorch returns views), of any dtype: an
// int64 x (a label or id tensor) gives an int64 result with the same values and no gradient.
#include <algorithm>
#include <string>

#include "autograd/node.h"
#include "ops/ops.h"
#include "ops/strided.h"

namespace tapegrad {

namespace {

// out = x read through `region` (a layout of out_shape over x's storage).
Tensor gather_region(const char* op, const Tensor& x, const Shape& out_shape,
                     const Layout& region) {
  Tensor out = Tensor::empty(out_shape, x.dtype());
  strided_copy(out_shape, out, contiguous_layout(out_shape), x, region);
  record(op, {x}, {out}, {}, [x_shape = x.shape(), out_shape, region](BackwardContext& ctx) {
    if (!ctx.needs_grad(0)) return;
    Tensor grad_x = Tensor::zeros(x_shape);
    strided_copy(out_shape, grad_x.data(), region, ctx.grad_output(0).data(),
                 contiguous_layout(out_shape));
    ctx.accumulate(0, std::move(grad_x));
  });
  return out;
}

void check_not_scalar(const char* op, const Tensor& x) {
  if (x.dim() == 0) {
    throw ShapeError(std::string(op) + ": expected a tensor with at least 1 dim, got shape []");
  }
}

}  // namespace

Tensor slice(const Tensor& x, std::int64_t dim, std::int64_t start, std::int64_t end,
             std::int64_t step) {
  check_not_scalar("slice", x);
  const Shape& shape = x.shape();
  const auto d = static_cast<std::size_t>(wrap_dim("slice", dim, x.dim()));
  if (step < 1) {
    throw ValueError("slice: expected step >= 1, got " + std::to_string(step));
  }
  // Python's rules: negative bounds count from the end, then both clamp to [0, extent].
  const std::int64_t extent = shape[d];
  const auto clamp_bound = [extent](std::int64_t bound) {
    return std::clamp<std::int64_t>(bound < 0 ? bound + extent : bound, 0, extent);
  };
  const std::int64_t first = clamp_bound(start);
  const std::int64_t last = clamp_bound(end);
  const std::int64_t count = last > first ? 1 + (last - first - 1) / step : 0;

  Shape out_shape = shape;
  out_shape[d] = count;
  Layout region{contiguous_strides(shape), 0};
  region.offset = first * region.strides[d];
  if (count > 1) region.strides[d] *= step;  // (a lone element needs no stride; avoids overflow)
  return gather_region("slice", x, out_shape, region);
}

Tensor select(const Tensor& x, std::int64_t dim, std::int64_t index) {
  check_not_scalar("select", x);
  const Shape& shape = x.shape();
  const auto d = static_cast<std::size_t>(wrap_dim("select", dim, x.dim()));
  const std::int64_t extent = shape[d];
  if (index < -extent || index >= extent) {
    throw IndexError("select: index " + std::to_string(index) + " is out of range for dim " +
                     std::to_string(dim) + " of size " + std::to_string(extent) + " (shape " +
                     format_shape(shape) + ")");
  }
  const Strides strides = contiguous_strides(shape);
  Layout region{strides, (index < 0 ? index + extent : index) * strides[d]};
  region.strides.erase(region.strides.begin() + static_cast<std::ptrdiff_t>(d));
  Shape out_shape = shape;
  out_shape.erase(out_shape.begin() + static_cast<std::ptrdiff_t>(d));
  return gather_region("select", x, out_shape, region);
}

}  // namespace tapegrad
