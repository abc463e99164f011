#pragma once
// xtensor for users: a zero-copy xtensor view of a Tensor's storage, and a Tensor made from any
// xtensor expression. tapegrad's own .cpp files use the same header (ops/broadcast.cpp).
//
//   #include "autograd/xtensor_view.h"       // opt-in: pulls in xtensor
//   auto x = tapegrad::xtensor_view::of(t);   // xt adaptor over t's floats, t's shape
//   Tensor y = tapegrad::xtensor_view::from_expression(x / (1.0f + xt::abs(x)));
//   tapegrad::xtensor_view::assign(t, xt::zeros<float>({2, 3}));   // checked, version-bumped
//
// OPT-IN: include it only in .cpp files, built with the flags tapegrad was built with
// (XTENSOR_USE_XSIMD and the same -march: link the CMake target tapegrad_simd in this tree), since
// xtensor's container types depend on them (deps.md). No tapegrad header includes it, and no
// xtensor type crosses tapegrad's API: a Tensor goes in, a Tensor comes out.
//
// The views do not own the data, and writing through a view is not tracked by the version counter
// (as Tensor::data() is not): prefer assign() for a tensor that backward may have saved, or call
// t.bump_version() after writing. Evaluate an expression (from_expression, assign, xt::eval or
// xt::noalias into a view) before the statement ends: an xtensor expression holds references to
// its operands and must not outlive them.
#include <cstddef>
#include <vector>
#include <xtensor/xadapt.hpp>
#include <xtensor/xexpression.hpp>
#include <xtensor/xnoalias.hpp>

#include "autograd/tensor.h"

namespace tapegrad::xtensor_view {

inline std::vector<std::size_t> extents(const Shape& shape) {
  return std::vector<std::size_t>(shape.begin(), shape.end());
}

// A writable row-major view of t's storage with t's shape.
inline auto of(Tensor& t) {
  return xt::adapt(t.data(), static_cast<std::size_t>(t.numel()), xt::no_ownership(),
                   extents(t.shape()));
}

// A read-only view (xtensor adapts a const pointer as a read-only container).
inline auto of(const Tensor& t) {
  return xt::adapt(t.data(), static_cast<std::size_t>(t.numel()), xt::no_ownership(),
                   extents(t.shape()));
}

// A new tensor holding the expression's values (converted to float) with its shape. The shape is
// checked as every factory checks it (ShapeError past tapegrad's size limit).
template <class E>
Tensor from_expression(const xt::xexpression<E>& expression, bool requires_grad = false) {
  const E& e = expression.derived_cast();
  Shape shape;
  for (const auto extent : e.shape()) shape.push_back(static_cast<std::int64_t>(extent));
  Tensor out = Tensor::empty(shape);
  auto view = of(out);
  xt::noalias(view) = e;  // a fresh tensor aliases nothing
  if (requires_grad) out.requires_grad_(true);
  return out;
}

// t = expression, through Tensor::copy_: the same shape required (ShapeError naming both),
// refused on a leaf that requires grad while grad mode is on, and version-bumped, so a backward
// that saved t sees the write. The expression may read t itself.
template <class E>
void assign(Tensor& t, const xt::xexpression<E>& expression) {
  t.copy_(from_expression(expression));
}

}  // namespace tapegrad::xtensor_view
