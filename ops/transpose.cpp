// permute and transpose (https://pytorch.org/docs/stable/generated/torch.permute.html).
//   y[i_0, ..., i_{n-1}] = x[j] with j[perm[k]] = i_k;  dL/dx is dL/dy permuted back by the
//   inverse permutation. Storage is contiguous, so unlike PyTorch's view the result is a copy.
// Both directions are one strided_copy: the forward reads x with x's strides taken in perm order,
// the backward writes grad_x with the same strides. Any dtype: an int64 x gives an int64 result
// with the same values (and no gradient).
#include <string>
#include <utility>

#include "autograd/node.h"
#include "ops/ops.h"
#include "ops/strided.h"

namespace tapegrad {

namespace {

Tensor permute_checked(const char* op, const Tensor& x, const std::vector<std::int64_t>& perm) {
  const Shape& x_shape = x.shape();
  const Strides x_strides = contiguous_strides(x_shape);
  Shape out_shape(perm.size());
  Layout x_in_out_order{Strides(perm.size()), 0};
  for (std::size_t k = 0; k < perm.size(); ++k) {
    const auto d = static_cast<std::size_t>(perm[k]);
    out_shape[k] = x_shape[d];
    x_in_out_order.strides[k] = x_strides[d];
  }
  Tensor out = Tensor::empty(out_shape, x.dtype());
  strided_copy(out_shape, out, contiguous_layout(out_shape), x, x_in_out_order);
  record(op, {x}, {out}, {}, [x_shape, out_shape, x_in_out_order](BackwardContext& ctx) {
    if (!ctx.needs_grad(0)) return;
    Tensor grad_x = Tensor::empty(x_shape);
    strided_copy(out_shape, grad_x.data(), x_in_out_order, ctx.grad_output(0).data(),
                 contiguous_layout(out_shape));
    ctx.accumulate(0, std::move(grad_x));
  });
  return out;
}

}  // namespace

Tensor permute(const Tensor& x, const std::vector<std::int64_t>& dims) {
  const auto rank = static_cast<std::int64_t>(x.dim());
  if (static_cast<std::int64_t>(dims.size()) != rank) {
    throw ShapeError("permute: expected " + std::to_string(rank) + " dims for shape " +
                     format_shape(x.shape()) + ", got " + format_shape(dims));
  }
  std::vector<std::int64_t> perm(dims.size());
  std::vector<bool> seen(dims.size(), false);
  for (std::size_t k = 0; k < dims.size(); ++k) {
    perm[k] = wrap_dim("permute", dims[k], rank);
    if (seen[static_cast<std::size_t>(perm[k])]) {
      throw ValueError("permute: dims " + format_shape(dims) + " is not a permutation (dim " +
                       std::to_string(perm[k]) + " appears more than once)");
    }
    seen[static_cast<std::size_t>(perm[k])] = true;
  }
  return permute_checked("permute", x, perm);
}

Tensor transpose(const Tensor& x, std::int64_t dim0, std::int64_t dim1) {
  const auto rank = static_cast<std::int64_t>(x.dim());
  const std::int64_t a = wrap_dim("transpose", dim0, rank);
  const std::int64_t b = wrap_dim("transpose", dim1, rank);
  std::vector<std::int64_t> perm(static_cast<std::size_t>(rank));
  for (std::int64_t k = 0; k < rank; ++k) perm[static_cast<std::size_t>(k)] = k;
  if (rank > 0) std::swap(perm[static_cast<std::size_t>(a)], perm[static_cast<std::size_t>(b)]);
  return permute_checked("transpose", x, perm);
}

}  // namespace tapegrad
