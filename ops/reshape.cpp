// reshape, view, flatten, squeeze, unsqueeze: the same row-major data under another shape.
//   y = x with a new shape (same numel); dL/dx = dL/dy read with x's shape (no arithmetic).
// Storage is always contiguous, so any reshape could share it. Where PyTorch documents the result
// as a view (view, squeeze, unsqueeze) ours shares storage and version counter too, so an in-place
// write through one handle is visible in the other, as in PyTorch. Where PyTorch leaves it open
// (reshape, flatten: "may be a view or a copy") ours copies, so nothing aliases by surprise.
// Any dtype: an int64 x gives an int64 result with the same values (and no gradient).
#include <string>

#include "autograd/node.h"
#include "ops/ops.h"

namespace tapegrad {

namespace {

// Resolves one -1 extent against numel, PyTorch's rules: at most one -1, nothing below -1, and
// -1 must be unambiguous (not next to a zero extent).
Shape infer_shape(const char* op, const Shape& requested, const Shape& input_shape) {
  const std::int64_t numel = numel_of(input_shape);
  std::int64_t known = 1;
  std::ptrdiff_t inferred = -1;
  for (std::size_t d = 0; d < requested.size(); ++d) {
    const std::int64_t extent = requested[d];
    if (extent == -1) {
      if (inferred >= 0) {
        throw ValueError(std::string(op) + ": only one dim can be -1, got shape " +
                         format_shape(requested));
      }
      inferred = static_cast<std::ptrdiff_t>(d);
    } else if (extent < 0) {
      throw ValueError(std::string(op) + ": invalid extent " + std::to_string(extent) +
                       " in shape " + format_shape(requested));
    } else {
      known = checked_mul(op, known, extent, requested);
    }
  }
  Shape shape = requested;
  if (inferred >= 0) {
    if (known == 0) {
      throw ShapeError(std::string(op) + ": cannot infer the -1 in shape " +
                       format_shape(requested) + " for input of shape " +
                       format_shape(input_shape) + " (a zero extent makes it ambiguous)");
    }
    if (numel % known != 0) {
      throw ShapeError(std::string(op) + ": shape " + format_shape(requested) +
                       " is invalid for input of shape " + format_shape(input_shape) + " (" +
                       std::to_string(numel) + " elements)");
    }
    shape[static_cast<std::size_t>(inferred)] = numel / known;
  } else if (known != numel) {
    throw ShapeError(std::string(op) + ": shape " + format_shape(requested) +
                     " is invalid for input of shape " + format_shape(input_shape) + " (" +
                     std::to_string(numel) + " elements)");
  }
  // A zero extent lets a too-large shape match an empty input ([0] as [0, 2^40, 2^40]).
  checked_numel(op, shape);
  return shape;
}

Tensor reshape_to(const char* op, const Tensor& x, const Shape& shape, bool share_storage) {
  // The copy is detached: the node recorded below is the only history the result gets.
  const Tensor out =
      share_storage ? x.view_data_as(shape) : x.detach().clone().view_data_as(shape);
  record(op, {x}, {out}, {}, [x_shape = x.shape()](BackwardContext& ctx) {
    // A view of the incoming gradient: the engine copies it if anyone else still holds the buffer.
    if (ctx.needs_grad(0)) ctx.accumulate(0, ctx.grad_output(0).view_data_as(x_shape));
  });
  return out;
}

}  // namespace

Tensor reshape(const Tensor& x, const Shape& shape) {
  return reshape_to("reshape", x, infer_shape("reshape", shape, x.shape()), false);
}

Tensor view(const Tensor& x, const Shape& shape) {
  return reshape_to("view", x, infer_shape("view", shape, x.shape()), true);
}

// Merges dims start_dim..end_dim (inclusive) into one; a 0-D tensor becomes [1], as in PyTorch.
Tensor flatten(const Tensor& x, std::int64_t start_dim, std::int64_t end_dim) {
  const Shape& shape = x.shape();
  const auto rank = static_cast<std::int64_t>(shape.size());
  const std::int64_t start = wrap_dim("flatten", start_dim, rank);
  const std::int64_t end = wrap_dim("flatten", end_dim, rank);
  if (start > end) {
    throw ValueError("flatten: start_dim " + std::to_string(start_dim) + " comes after end_dim " +
                     std::to_string(end_dim) + " for shape " + format_shape(shape));
  }
  if (rank == 0) return reshape_to("flatten", x, {1}, false);
  Shape out(shape.begin(), shape.begin() + start);
  std::int64_t merged = 1;
  for (std::int64_t d = start; d <= end; ++d) merged *= shape[static_cast<std::size_t>(d)];
  out.push_back(merged);
  out.insert(out.end(), shape.begin() + end + 1, shape.end());
  return reshape_to("flatten", x, out, false);
}

// Removes dim if its extent is 1; otherwise the shape is unchanged (PyTorch's no-op).
Tensor squeeze(const Tensor& x, std::int64_t dim) {
  Shape shape = x.shape();
  const std::int64_t d = wrap_dim("squeeze", dim, static_cast<std::int64_t>(shape.size()));
  if (!shape.empty() && shape[static_cast<std::size_t>(d)] == 1) {
    shape.erase(shape.begin() + d);
  }
  return reshape_to("squeeze", x, shape, true);
}

// Inserts an extent-1 dim at `dim`, which ranges over [-rank-1, rank].
Tensor unsqueeze(const Tensor& x, std::int64_t dim) {
  Shape shape = x.shape();
  const auto rank = static_cast<std::int64_t>(shape.size());
  if (dim < -rank - 1 || dim > rank) {
    throw IndexError("unsqueeze: dim " + std::to_string(dim) + " is out of range for a " +
                     std::to_string(rank) + "-D tensor (expected a dim in [" +
                     std::to_string(-rank - 1) + ", " + std::to_string(rank) + "])");
  }
  const std::int64_t d = dim < 0 ? dim + rank + 1 : dim;
  shape.insert(shape.begin() + d, 1);
  return reshape_to("unsqueeze", x, shape, true);
}

}  // namespace tapegrad
