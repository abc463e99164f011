// Broadcasting helpers: shape rule, materialise (broadcast_to) and its adjoint (sum_to_shape).
// Both walk the output in row-major order with a per-dim stride that is 0 on broadcast dims, so
// they handle any rank without xtensor's expression machinery.
#include "ops/broadcast.h"

#include <algorithm>
#include <string>

namespace tapegrad {

Shape broadcast_shapes(std::string_view op, const Shape& a, const Shape& b) {
  const std::size_t rank = std::max(a.size(), b.size());
  Shape out(rank);
  for (std::size_t i = 0; i < rank; ++i) {
    // i counts from the last dim
    const std::int64_t ea = i < a.size() ? a[a.size() - 1 - i] : 1;
    const std::int64_t eb = i < b.size() ? b[b.size() - 1 - i] : 1;
    if (ea != eb && ea != 1 && eb != 1) {
      throw ShapeError(std::string(op) + ": shapes " + format_shape(a) + " and " +
                       format_shape(b) + " cannot be broadcast (dim -" + std::to_string(i + 1) +
                       ": " + std::to_string(ea) + " vs " + std::to_string(eb) + ")");
    }
    out[rank - 1 - i] = ea == 1 ? eb : ea;
  }
  return out;
}

namespace {

// Strides (in elements) of `shape` aligned to the trailing dims of `target`, 0 where broadcast.
std::vector<std::int64_t> broadcast_strides(const Shape& shape, const Shape& target) {
  std::vector<std::int64_t> strides(target.size(), 0);
  std::int64_t stride = 1;
  for (std::size_t i = 0; i < shape.size(); ++i) {
    const std::size_t d = shape.size() - 1 - i;
    const std::size_t t = target.size() - 1 - i;
    strides[t] = shape[d] == 1 ? 0 : stride;
    stride *= shape[d];
  }
  return strides;
}

void check_broadcastable(const char* op, const Shape& shape, const Shape& target) {
  bool ok = shape.size() <= target.size();
  for (std::size_t i = 0; ok && i < shape.size(); ++i) {
    const std::int64_t e = shape[shape.size() - 1 - i];
    ok = e == 1 || e == target[target.size() - 1 - i];
  }
  if (!ok) {
    throw ShapeError(std::string(op) + ": shape " + format_shape(shape) +
                     " cannot be broadcast to " + format_shape(target));
  }
}

// Calls visit(target_offset, source_offset) for every element of target in row-major order.
template <typename Visit>
void for_each_broadcast(const Shape& target, const std::vector<std::int64_t>& strides,
                        Visit&& visit) {
  const std::int64_t total = numel_of(target);
  if (total == 0) return;
  const std::size_t rank = target.size();
  if (rank == 0) {
    visit(0, 0);
    return;
  }
  std::vector<std::int64_t> index(rank, 0);
  const std::int64_t inner = target[rank - 1];
  const std::int64_t inner_stride = strides[rank - 1];
  std::int64_t source = 0;
  for (std::int64_t offset = 0; offset < total; offset += inner) {
    for (std::int64_t j = 0; j < inner; ++j) visit(offset + j, source + j * inner_stride);
    // advance the outer index (odometer), keeping `source` in step
    for (std::size_t d = rank - 1; d-- > 0;) {
      if (++index[d] < target[d]) {
        source += strides[d];
        break;
      }
      source -= strides[d] * (target[d] - 1);
      index[d] = 0;
    }
  }
}

}  // namespace

Tensor broadcast_to(const Tensor& x, const Shape& shape) {
  check_broadcastable("broadcast_to", x.shape(), shape);
  if (x.shape() == shape) return x;
  Tensor out = Tensor::empty(shape);
  const float* in = x.data();
  float* values = out.data();
  for_each_broadcast(shape, broadcast_strides(x.shape(), shape),
                     [&](std::int64_t o, std::int64_t s) { values[o] = in[s]; });
  return out;
}

Tensor sum_to_shape(const Tensor& gradient, const Shape& shape) {
  check_broadcastable("sum_to_shape", shape, gradient.shape());
  if (gradient.shape() == shape) return gradient;
  Tensor out = Tensor::zeros(shape);
  const float* in = gradient.data();
  float* values = out.data();
  for_each_broadcast(gradient.shape(), broadcast_strides(shape, gradient.shape()),
                     [&](std::int64_t o, std::int64_t s) { values[s] += in[o]; });
  return out;
}

}  // namespace tapegrad
