#pragma once
// Internal: xtensor views of tensor storage, for .cpp files that compute with xtensor expressions
// (broadcasting, reductions). Never include this from a public header: it pulls in xtensor, whose
// container types depend on XTENSOR_USE_XSIMD and -march (see deps.md), and which costs every
// including translation unit a second or more to parse.
//
// The views do not own the data. Evaluate expressions into a tapegrad tensor's view with
// xt::noalias (or xt::eval into a temporary) before the statement ends: an xtensor expression
// holds references to its operands and must not outlive them.
#include <cstddef>
#include <vector>
#include <xtensor/xadapt.hpp>

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

}  // namespace tapegrad::xtensor_view
