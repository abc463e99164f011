// chunk, split, unbind (https://pytorch.org/docs/stable/generated/torch.chunk.html, torch.split,
// torch.unbind): consecutive pieces of x along dim.
//   y_k = x[..., s_k : s_k + n_k, ...] (unbind: x[..., k, ...]); dL/dx is every dL/dy_k written
//   back at its offset (an unused piece contributes zeros).
// One node with one output per piece: unbinding a [B, T, H] sequence over T=1000 steps then costs
// one pass over the gradient, where T separate slices would each build a full-size zero gradient.
// Any dtype: the pieces of an int64 x are int64 with the same values (and no gradient).
#include <algorithm>
#include <string>

#include "autograd/node.h"
#include "ops/ops.h"
#include "ops/strided.h"

namespace tapegrad {

namespace {

// sizes are validated (non-negative, summing to the extent); drop_dim removes dim from each piece.
std::vector<Tensor> split_checked(const char* op, const Tensor& x, std::size_t dim,
                                  const std::vector<std::int64_t>& sizes, bool drop_dim) {
  const Shape& x_shape = x.shape();
  const Strides x_strides = contiguous_strides(x_shape);
  std::vector<Shape> piece_shapes;  // with dim kept, for the copies
  std::vector<Layout> regions;
  std::vector<Tensor> pieces;
  std::int64_t start = 0;
  for (std::int64_t size : sizes) {
    Shape shape = x_shape;
    shape[dim] = size;
    regions.push_back(Layout{x_strides, start * x_strides[dim]});
    Shape out_shape = shape;
    if (drop_dim) out_shape.erase(out_shape.begin() + static_cast<std::ptrdiff_t>(dim));
    Tensor piece = Tensor::empty(out_shape, x.dtype());
    strided_copy(shape, piece, contiguous_layout(shape), x, regions.back());
    pieces.push_back(std::move(piece));
    piece_shapes.push_back(std::move(shape));
    start += size;
  }
  record(op, {x}, pieces, {}, [x_shape, piece_shapes, regions](BackwardContext& ctx) {
    if (!ctx.needs_grad(0)) return;
    Tensor grad_x =
        Tensor::empty(x_shape);  // the pieces tile x exactly, so every element is written
    for (std::size_t k = 0; k < piece_shapes.size(); ++k) {
      strided_copy(piece_shapes[k], grad_x.data(), regions[k], ctx.grad_output(k).data(),
                   contiguous_layout(piece_shapes[k]));
    }
    ctx.accumulate(0, std::move(grad_x));
  });
  return pieces;
}

std::size_t split_dim(const char* op, const Tensor& x, std::int64_t dim) {
  if (x.dim() == 0) {
    throw ShapeError(std::string(op) + ": expected a tensor with at least 1 dim, got shape []");
  }
  return static_cast<std::size_t>(wrap_dim(op, dim, x.dim()));
}

// Pieces of split_size, the last one smaller; PyTorch gives one empty piece for an empty dim.
// split_size is the caller's and may be near INT64_MAX, so ceil(extent / split_size) is formed
// as (extent - 1) / split_size + 1, which cannot overflow.
std::vector<std::int64_t> even_sizes(std::int64_t extent, std::int64_t split_size) {
  const std::int64_t count = split_size == 0 || extent == 0 ? 1 : (extent - 1) / split_size + 1;
  std::vector<std::int64_t> sizes(static_cast<std::size_t>(count), split_size);
  sizes.back() = extent - split_size * (count - 1);
  return sizes;
}

}  // namespace

std::vector<Tensor> split(const Tensor& x, std::int64_t split_size, std::int64_t dim) {
  const std::size_t d = split_dim("split", x, dim);
  const std::int64_t extent = x.shape()[d];
  if (split_size < 0 || (split_size == 0 && extent != 0)) {
    throw ValueError("split: expected split_size >= 1 (0 only for an empty dim), got " +
                     std::to_string(split_size) + " for dim " + std::to_string(dim) + " of size " +
                     std::to_string(extent));
  }
  return split_checked("split", x, d, even_sizes(extent, split_size), false);
}

std::vector<Tensor> split(const Tensor& x, const std::vector<std::int64_t>& sizes,
                          std::int64_t dim) {
  const std::size_t d = split_dim("split", x, dim);
  const std::int64_t extent = x.shape()[d];
  std::int64_t total = 0;
  bool too_many = false;  // the sizes pass the extent (their sum may not even fit int64)
  for (std::int64_t size : sizes) {
    if (size < 0) {
      throw ValueError("split: sizes " + format_shape(sizes) + " contain a negative size");
    }
    too_many = too_many || size > extent - total;
    if (!too_many) total += size;
  }
  if (too_many || total != extent) {
    throw ValueError("split: sizes " + format_shape(sizes) + " sum to " +
                     (too_many ? "more than " + std::to_string(extent)
                               : std::to_string(total)) +
                     ", expected the size of dim " + std::to_string(dim) + ", " +
                     std::to_string(extent) + " (input shape " + format_shape(x.shape()) + ")");
  }
  return split_checked("split", x, d, sizes, false);
}

// ceil(extent / chunks) per chunk, so there may be fewer than `chunks` pieces (torch.chunk).
std::vector<Tensor> chunk(const Tensor& x, std::int64_t chunks, std::int64_t dim) {
  const std::size_t d = split_dim("chunk", x, dim);
  if (chunks < 1) throw ValueError("chunk: expected chunks >= 1, got " + std::to_string(chunks));
  const std::int64_t extent = x.shape()[d];
  if (extent == 0) {
    // PyTorch returns `chunks` empty pieces here.
    return split_checked("chunk", x, d,
                         std::vector<std::int64_t>(static_cast<std::size_t>(chunks), 0), false);
  }
  // ceil(extent / chunks) without forming extent + chunks (chunks may be near INT64_MAX)
  return split_checked("chunk", x, d, even_sizes(extent, (extent - 1) / chunks + 1), false);
}

std::vector<Tensor> unbind(const Tensor& x, std::int64_t dim) {
  const std::size_t d = split_dim("unbind", x, dim);
  const std::vector<std::int64_t> ones(static_cast<std::size_t>(x.shape()[d]), 1);
  return split_checked("unbind", x, d, ones, true);
}

}  // namespace tapegrad
