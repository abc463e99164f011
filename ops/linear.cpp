// linear (torch.nn.functional.linear): y[R, out] = x[R, in] . W[out, in]^T + b, where R is the
// product of x's leading dims. dx = G . W; dW = G^T . x; db = column sums of G.
// All leading dims fold into the R rows, so forward, dx and dW are each ONE gemm: dW sums over
// every row (time steps included) inside the product instead of in a loop of small ones.
#include <algorithm>
#include <string>

#include "autograd/node.h"
#include "ops/kernels/matmul.h"
#include "ops/ops.h"

namespace tapegrad {

namespace {

void check_linear_args(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  check_floating("linear", "input", x);
  check_floating("linear", "weight", weight);
  check_floating("linear", "bias", bias);
  if (x.dim() < 1) {
    throw ShapeError("linear: expected an input of shape [*, in_features], got shape " +
                     format_shape(x.shape()));
  }
  if (weight.dim() != 2) {
    throw ShapeError("linear: expected a 2-D weight [out_features, in_features], got shape " +
                     format_shape(weight.shape()));
  }
  const std::int64_t in_features = x.shape().back();
  if (weight.shape()[1] != in_features) {
    throw ShapeError("linear: input of shape " + format_shape(x.shape()) + " has " +
                     std::to_string(in_features) + " features but weight of shape " +
                     format_shape(weight.shape()) + " expects " +
                     std::to_string(weight.shape()[1]));
  }
  if (bias.defined() && bias.shape() != Shape{weight.shape()[0]}) {
    throw ShapeError("linear: expected bias of shape " + format_shape({weight.shape()[0]}) +
                     " for weight of shape " + format_shape(weight.shape()) + ", got " +
                     format_shape(bias.shape()));
  }
}

}  // namespace

Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  check_linear_args(x, weight, bias);
  const std::int64_t in_features = weight.shape()[1];
  const std::int64_t out_features = weight.shape()[0];
  std::int64_t rows = 1;
  for (std::size_t d = 0; d + 1 < x.shape().size(); ++d) rows *= x.shape()[d];
  Shape out_shape = x.shape();
  out_shape.back() = out_features;
  checked_numel("linear", out_shape);  // rows come from x, out_features from the weight
  Tensor out = Tensor::empty(out_shape);
  float* y = out.data();
  const MatmulPrecision precision = matmul_precision();
  if (bias.defined()) {
    kernels::gemm_at_bias(precision, false, true, rows, out_features, in_features, x.data(),
                          in_features, weight.data(), in_features, y, out_features, bias.data());
  } else {
    kernels::matmul_nt(y, x.data(), weight.data(), rows, in_features, out_features, false,
                       precision);
  }

  record("linear", {x, weight, bias}, {out}, {x, weight},
         [rows, in_features, out_features, precision](BackwardContext& ctx) {
           const Tensor& grad_out = ctx.grad_output(0);
           const float* g = grad_out.data();
           if (ctx.needs_grad(0)) {
             const Tensor& saved_weight = ctx.saved(1);
             Tensor grad_x = Tensor::empty(ctx.saved(0).shape());
             kernels::matmul_forward(grad_x.data(), g, saved_weight.data(), rows, out_features,
                                     in_features, false, precision);
             ctx.accumulate(0, std::move(grad_x));
           }
           if (ctx.needs_grad(1)) {
             const Tensor& saved_x = ctx.saved(0);
             Tensor grad_weight = Tensor::empty({out_features, in_features});
             kernels::matmul_tn(grad_weight.data(), g, saved_x.data(), out_features, rows,
                                in_features, false, precision);
             ctx.accumulate(1, std::move(grad_weight));
           }
           if (ctx.needs_grad(2)) {
             // Row-major sweep: each row adds into the whole sum vector (contiguous, vectorises).
             Tensor grad_bias = Tensor::zeros({out_features});
             float* gb = grad_bias.data();
             for (std::int64_t r = 0; r < rows; ++r) {
               const float* g_row = g + r * out_features;
               for (std::int64_t o = 0; o < out_features; ++o) gb[o] += g_row[o];
             }
             ctx.accumulate(2, std::move(grad_bias));
           }
         });
  return out;
}

}  // namespace tapegrad
