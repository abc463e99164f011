// Broadcasting helpers: shape rule, materialise (broadcast_to) and its adjoint (sum_to_shape),
// the latter two as xtensor expressions over views of the tensors' storage.
#include "ops/broadcast.h"

#include <xtensor/xbroadcast.hpp>
#include <xtensor/xmath.hpp>
#include <xtensor/xnoalias.hpp>

#include <algorithm>
#include <string>

#include "autograd/xtensor_view.h"

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
  // Two valid shapes can broadcast to one too large for any tensor ([2^30, 1] and [1, 2^30]).
  checked_numel(op, out);
  return out;
}

namespace {

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

}  // namespace

Tensor broadcast_to(const Tensor& x, const Shape& shape) {
  check_broadcastable("broadcast_to", x.shape(), shape);
  if (x.shape() == shape) return x;
  Tensor out = Tensor::empty(shape);
  auto out_view = xtensor_view::of(out);
  xt::noalias(out_view) = xt::broadcast(xtensor_view::of(x), xtensor_view::extents(shape));
  return out;
}

Tensor sum_to_shape(const Tensor& gradient, const Shape& shape) {
  check_broadcastable("sum_to_shape", shape, gradient.shape());
  if (gradient.shape() == shape) return gradient;
  // Sum the leading dims `shape` lacks and the dims where it has extent 1; keep_dims leaves the
  // result with gradient's rank and shape's element order, so it copies straight into place.
  const Shape& full = gradient.shape();
  const std::size_t lead = full.size() - shape.size();
  std::vector<std::size_t> axes;
  for (std::size_t d = 0; d < full.size(); ++d) {
    if (d < lead || (shape[d - lead] == 1 && full[d] != 1)) axes.push_back(d);
  }
  Tensor out = Tensor::empty(shape);
  // Accumulate in double: a bias gradient sums thousands of rows.
  const xt::xarray<double> summed =
      xt::sum<double>(xtensor_view::of(gradient), axes, xt::keep_dims);
  std::copy(summed.begin(), summed.end(), out.data());
  return out;
}

}  // namespace tapegrad
