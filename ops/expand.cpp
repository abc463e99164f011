// expand (https://pytorch.org/docs/stable/generated/torch.Tensor.expand.html).
//   y = x broadcast to `shape`: extent-1 dims repeat, new leading dims are added, -1 keeps an
//   extent. dL/dx = dL/dy summed over the broadcast dims (sum_to_shape), the adjoint.
// PyTorch returns a stride-0 view; our storage is contiguous, so the result is materialised: one
// strided_copy reading x through that stride-0 layout. It copies elements in x's own dtype, so an
// int64 x gives an int64 result with the same values (and no gradient).
#include <string>

#include "autograd/node.h"
#include "ops/broadcast.h"
#include "ops/ops.h"
#include "ops/strided.h"

namespace tapegrad {

namespace {

Shape expanded_shape(const Shape& x_shape, const Shape& requested) {
  if (requested.size() < x_shape.size()) {
    throw ShapeError("expand: the target shape " + format_shape(requested) +
                     " has fewer dims than the input shape " + format_shape(x_shape));
  }
  const std::size_t new_dims = requested.size() - x_shape.size();
  Shape shape = requested;
  for (std::size_t d = 0; d < requested.size(); ++d) {
    const std::int64_t extent = requested[d];
    if (extent < -1 || (extent == -1 && d < new_dims)) {
      throw ValueError("expand: invalid extent " + std::to_string(extent) + " at dim " +
                       std::to_string(d) + " of target shape " + format_shape(requested) +
                       (extent == -1 ? " (-1 cannot be used for a new leading dim)" : ""));
    }
    if (d < new_dims) continue;
    const std::int64_t own = x_shape[d - new_dims];
    if (extent == -1) {
      shape[d] = own;
    } else if (own != extent && own != 1) {
      throw ShapeError("expand: input shape " + format_shape(x_shape) + " cannot be expanded to " +
                       format_shape(requested) + " (dim " + std::to_string(d) + ": " +
                       std::to_string(own) + " is neither 1 nor " + std::to_string(extent) + ")");
    }
  }
  checked_numel("expand", shape);  // the new leading dims are the caller's: any size
  return shape;
}

// x's storage seen with the expanded shape: stride 0 along new leading dims and broadcast dims.
Layout broadcast_layout(const Shape& x_shape, const Shape& target) {
  const Strides x_strides = contiguous_strides(x_shape);
  const std::size_t new_dims = target.size() - x_shape.size();
  Layout layout{Strides(target.size(), 0), 0};
  for (std::size_t d = new_dims; d < target.size(); ++d) {
    const std::size_t own = d - new_dims;
    if (x_shape[own] == target[d]) layout.strides[d] = x_strides[own];
  }
  return layout;
}

}  // namespace

Tensor expand(const Tensor& x, const Shape& shape) {
  const Shape target = expanded_shape(x.shape(), shape);
  // Always a fresh tensor, even when nothing is broadcast: the result never aliases x.
  Tensor out = Tensor::empty(target, x.dtype());
  strided_copy(target, out, contiguous_layout(target), x, broadcast_layout(x.shape(), target));
  record("expand", {x}, {out}, {}, [x_shape = x.shape()](BackwardContext& ctx) {
    if (ctx.needs_grad(0)) ctx.accumulate(0, sum_to_shape(ctx.grad_output(0), x_shape));
  });
  return out;
}

}  // namespace tapegrad
