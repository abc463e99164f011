#pragma once
// Internal helpers shared by the broadcasting ops (add, sub, mul, div, where, expand, ...).
#include <string_view>

#include "autograd/tensor.h"

namespace tapegrad {

// NumPy/PyTorch broadcasting of two shapes; throws ShapeError naming op, both shapes and the dim.
Shape broadcast_shapes(std::string_view op, const Shape& a, const Shape& b);

// Sums `gradient` down to `shape` (the inverse of broadcasting `shape` to gradient's shape): the
// backward of every broadcasting op (PyTorch's at::sum_to). Plain values, nothing recorded.
// Returns gradient itself when the shapes already match.
Tensor sum_to_shape(const Tensor& gradient, const Shape& shape);

// Materialises x broadcast to `shape` (which must be a valid broadcast target). Plain values.
Tensor broadcast_to(const Tensor& x, const Shape& shape);

}  // namespace tapegrad
