// cat and stack (https://pytorch.org/docs/stable/generated/torch.cat.html, torch.stack).
//   cat:   y = [t_0; t_1; ...] along dim; dL/dt_k is the slab of dL/dy where t_k was written.
//   stack: cat of the inputs each seen with a new extent-1 dim at `dim`, so both share one loop.
// One node for all inputs: its backward touches each element of dL/dy once, where composing
// from slices would allocate a full-size zero gradient per input.
// Any dtype, but one for all inputs: cat of int64 id batches is int64 (no gradient). PyTorch would
// promote mixed dtypes; we have no promotion, so a mix is a TypeError naming both dtypes.
#include <string>

#include "autograd/node.h"
#include "ops/ops.h"
#include "ops/strided.h"

namespace tapegrad {

namespace {

void check_defined_inputs(const char* op, const std::vector<Tensor>& tensors) {
  if (tensors.empty())
    throw ValueError(std::string(op) + ": expected at least one tensor, got none");
  for (std::size_t k = 0; k < tensors.size(); ++k) {
    if (!tensors[k].defined()) {
      throw ValueError(std::string(op) + ": tensor " + std::to_string(k) + " is undefined");
    }
  }
  const Dtype dtype = tensors[0].dtype();
  for (std::size_t k = 1; k < tensors.size(); ++k) {
    if (tensors[k].dtype() != dtype) {
      throw TypeError(std::string(op) + ": expected tensor " + std::to_string(k) +
                      " to have tensor 0's dtype " + dtype_name(dtype) + ", got " +
                      dtype_name(tensors[k].dtype()) +
                      " (mixed dtypes are not promoted: convert with to() first)");
    }
  }
}

// `pieces[k]` is the shape tensors[k] is placed with (same rank as the output, any extent at dim).
Tensor cat_pieces(const char* op, const std::vector<Tensor>& tensors,
                  const std::vector<Shape>& pieces, std::size_t dim) {
  Shape out_shape = pieces[0];
  out_shape[dim] = 0;
  for (const Shape& piece : pieces) {
    // Each extent is at most max_numel (its shape was checked), so stopping once the running sum
    // passes max_numel keeps it far from int64 overflow; checked_numel then rejects the shape.
    out_shape[dim] += piece[dim];
    if (out_shape[dim] > max_numel) break;
  }
  checked_numel(op, out_shape);
  Tensor out = Tensor::empty(out_shape, tensors[0].dtype());
  const Strides out_strides = contiguous_strides(out_shape);
  std::vector<std::int64_t> starts(pieces.size());
  std::int64_t start = 0;
  for (std::size_t k = 0; k < pieces.size(); ++k) {
    starts[k] = start;
    strided_copy(pieces[k], out, Layout{out_strides, start * out_strides[dim]}, tensors[k],
                 contiguous_layout(pieces[k]));
    start += pieces[k][dim];
  }
  std::vector<Shape> input_shapes;
  for (const Tensor& t : tensors) input_shapes.push_back(t.shape());
  record(op, tensors, {out}, {},
         [pieces, input_shapes, starts, out_strides, dim](BackwardContext& ctx) {
           const float* grad_out = ctx.grad_output(0).data();
           for (std::size_t k = 0; k < pieces.size(); ++k) {
             if (!ctx.needs_grad(k)) continue;
             Tensor grad = Tensor::empty(input_shapes[k]);  // same elements, in piece order
             strided_copy(pieces[k], grad.data(), contiguous_layout(pieces[k]), grad_out,
                          Layout{out_strides, starts[k] * out_strides[dim]});
             ctx.accumulate(k, std::move(grad));
           }
         });
  return out;
}

}  // namespace

Tensor cat(const std::vector<Tensor>& tensors, std::int64_t dim) {
  check_defined_inputs("cat", tensors);
  const Shape& first = tensors[0].shape();
  if (first.empty()) {
    throw ShapeError("cat: tensor 0 is 0-D (shape []) and cannot be concatenated");
  }
  const auto d =
      static_cast<std::size_t>(wrap_dim("cat", dim, static_cast<std::int64_t>(first.size())));
  std::vector<Shape> pieces;
  for (std::size_t k = 0; k < tensors.size(); ++k) {
    const Shape& shape = tensors[k].shape();
    bool matches = shape.size() == first.size();
    for (std::size_t i = 0; matches && i < shape.size(); ++i)
      matches = i == d || shape[i] == first[i];
    if (!matches) {
      throw ShapeError("cat: tensor " + std::to_string(k) + " has shape " + format_shape(shape) +
                       ", expected tensor 0's shape " + format_shape(first) +
                       " in every dim except dim " + std::to_string(d));
    }
    pieces.push_back(shape);
  }
  return cat_pieces("cat", tensors, pieces, d);
}

Tensor stack(const std::vector<Tensor>& tensors, std::int64_t dim) {
  check_defined_inputs("stack", tensors);
  const Shape& first = tensors[0].shape();
  for (std::size_t k = 1; k < tensors.size(); ++k) {
    check_same_shape("stack", "tensor " + std::to_string(k) + " (like tensor 0)", first,
                     tensors[k].shape());
  }
  const auto rank = static_cast<std::int64_t>(first.size());
  if (dim < -rank - 1 || dim > rank) {
    throw IndexError("stack: dim " + std::to_string(dim) + " is out of range for stacking " +
                     std::to_string(rank) + "-D tensors (expected a dim in [" +
                     std::to_string(-rank - 1) + ", " + std::to_string(rank) + "])");
  }
  const auto d = static_cast<std::size_t>(dim < 0 ? dim + rank + 1 : dim);
  Shape piece = first;
  piece.insert(piece.begin() + static_cast<std::ptrdiff_t>(d), 1);
  return cat_pieces("stack", tensors, std::vector<Shape>(tensors.size(), piece), d);
}

}  // namespace tapegrad
