#pragma once
// Internal: walking strided layouts over contiguous row-major storage. permute, slice, select, cat,
// split and the reductions all reduce to "visit every index of a shape, at offset
// base + sum_d index[d] * stride[d] in each of two buffers", so they share these loops instead of
// each growing its own odometer. Plain pointer arithmetic: no xtensor views in loops.
// Shapes here are tensors' shapes, checked when the tensors were made (checked_numel, errors.h):
// the product of their nonzero extents is at most max_numel, so every stride and offset below
// fits int64 without a check per element.
#include <algorithm>
#include <cstdint>
#include <vector>

#include "autograd/tensor.h"

namespace tapegrad {

using Strides = std::vector<std::int64_t>;

// Where the elements of a shape sit in a flat buffer.
struct Layout {
  Strides strides;
  std::int64_t offset = 0;
};

// Row-major strides of a contiguous tensor of `shape` ([2, 3, 4] -> [12, 4, 1]).
Strides contiguous_strides(const Shape& shape);
inline Layout contiguous_layout(const Shape& shape) { return {contiguous_strides(shape), 0}; }

// Calls visit(offset_a, offset_b) at the start of every innermost row of `shape` (row-major order);
// the caller walks the row itself with the last strides. A 0-D shape is one row of length 1.
template <typename Visit>
void for_each_row(const Shape& shape, const Layout& a, const Layout& b, Visit&& visit) {
  const std::int64_t total = numel_of(shape);
  if (total == 0) return;
  const std::size_t rank = shape.size();
  if (rank == 0) {
    visit(a.offset, b.offset);
    return;
  }
  std::vector<std::int64_t> index(rank, 0);
  std::int64_t offset_a = a.offset;
  std::int64_t offset_b = b.offset;
  const std::int64_t rows = total / shape[rank - 1];
  for (std::int64_t row = 0; row < rows; ++row) {
    visit(offset_a, offset_b);
    // advance the outer dims like an odometer, keeping both offsets in step
    for (std::size_t d = rank - 1; d-- > 0;) {
      if (++index[d] < shape[d]) {
        offset_a += a.strides[d];
        offset_b += b.strides[d];
        break;
      }
      offset_a -= a.strides[d] * (shape[d] - 1);
      offset_b -= b.strides[d] * (shape[d] - 1);
      index[d] = 0;
    }
  }
}

// Calls visit(offset_a, offset_b) for every index of `shape`, in row-major order.
template <typename Visit>
void for_each_offset(const Shape& shape, const Layout& a, const Layout& b, Visit&& visit) {
  const std::int64_t inner = shape.empty() ? 1 : shape.back();
  const std::int64_t step_a = shape.empty() ? 0 : a.strides.back();
  const std::int64_t step_b = shape.empty() ? 0 : b.strides.back();
  for_each_row(shape, a, b, [&](std::int64_t row_a, std::int64_t row_b) {
    for (std::int64_t j = 0; j < inner; ++j) visit(row_a + j * step_a, row_b + j * step_b);
  });
}

// dst[dst_layout(i)] = src[src_layout(i)] for every index i of `shape`.
void strided_copy(const Shape& shape, float* dst, const Layout& dst_layout, const float* src,
                  const Layout& src_layout);
// The same between tensors of one dtype, element for element in that dtype, so int64 values keep
// every bit (the shape ops move ids and labels; a float round trip would round above 2^24).
// dst and src must have the same dtype: the callers check it, so a mismatch is an InternalError.
void strided_copy(const Shape& shape, Tensor& dst, const Layout& dst_layout, const Tensor& src,
                  const Layout& src_layout);

}  // namespace tapegrad
