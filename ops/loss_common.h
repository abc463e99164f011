#pragma once
// Internal helpers shared by the loss ops: argument checks with PyTorch-style messages, the
// reduction of per-element losses, and the gradient each element receives back from the reduction.
#include <cmath>
#include <cstdint>
#include <iomanip>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>

#include "autograd/grad_mode.h"
#include "autograd/node.h"
#include "autograd/tensor.h"
#include "ops/broadcast.h"
#include "ops/losses.h"

namespace tapegrad::loss_detail {

inline std::string format_value(double value) {
  std::ostringstream out;
  out << std::setprecision(9) << value;
  return out.str();
}

// The multi-index of a flat row-major offset, e.g. "[1, 0, 2]", for pointing at a bad element.
inline std::string format_index(const Shape& shape, std::int64_t offset) {
  Shape index(shape.size());
  for (std::size_t d = shape.size(); d-- > 0;) {
    index[d] = offset % shape[d];
    offset /= shape[d];
  }
  return format_shape(index);
}

inline void check_defined(std::string_view op, std::string_view what, const Tensor& tensor) {
  if (!tensor.defined()) {
    throw ValueError(std::string(op) + ": " + std::string(what) + " is undefined");
  }
  check_floating(op, what, tensor);
}

// Pointwise losses compare input and target element by element and never broadcast them: PyTorch
// does (with only a warning), and a [N] target against [N, 1] predictions then silently becomes an
// [N, N] loss, the classic tutorial bug.
inline void check_input_target(std::string_view op, const Tensor& input, const Tensor& target) {
  check_defined(op, "input", input);
  check_defined(op, "target", target);
  if (input.shape() != target.shape()) {
    throw ShapeError(std::string(op) + ": input shape " + format_shape(input.shape()) +
                     " and target shape " + format_shape(target.shape()) +
                     " differ; a loss compares them element by element and does not broadcast "
                     "(a [N] target against [N, 1] predictions would give an [N, N] loss)");
  }
}

// PyTorch refuses a weight that requires grad ("not differentiable with respect to argument
// 'weight'"); so do we, at the call rather than in the middle of backward.
inline void check_constant(std::string_view op, std::string_view what, const Tensor& tensor) {
  check_floating(op, what, tensor);
  if (tensor.defined() && tensor.requires_grad() && is_grad_enabled()) {
    throw ValueError(std::string(op) + ": " + std::string(what) +
                     " requires grad, but the loss is not differentiable with respect to it (as "
                     "in PyTorch); pass " +
                     std::string(what) + ".detach()");
  }
}

// An optional per-element weight, checked and materialised to `shape` (undefined stays undefined).
// It may broadcast up to `shape` but must not grow it, or the loss would change shape.
inline Tensor expand_weight(std::string_view op, std::string_view what, const Tensor& weight,
                            const Shape& shape) {
  if (!weight.defined()) return weight;
  check_constant(op, what, weight);
  const Shape& from = weight.shape();
  bool fits = from.size() <= shape.size();
  for (std::size_t i = 0; fits && i < from.size(); ++i) {
    const std::int64_t extent = from[from.size() - 1 - i];
    fits = extent == 1 || extent == shape[shape.size() - 1 - i];
  }
  if (!fits) {
    throw ShapeError(std::string(op) + ": expected " + std::string(what) +
                     " that broadcasts to the input's shape " + format_shape(shape) + ", got " +
                     format_shape(from));
  }
  return broadcast_to(weight, shape).detach();
}

// Sums per-element losses in double. Mean divides by `denominator` (numel, or the summed class
// weights for cross entropy); 0 / 0 gives NaN, as PyTorch does for an empty or all-ignored batch.
inline Tensor reduce_loss(const Tensor& per_element, Reduction reduction, double denominator) {
  if (reduction == Reduction::None) return per_element;
  double total = 0.0;
  const float* values = per_element.data();
  for (std::int64_t i = 0, n = per_element.numel(); i < n; ++i) total += values[i];
  return Tensor::scalar(
      static_cast<float>(reduction == Reduction::Mean ? total / denominator : total));
}

// The gradient that element i of the unreduced loss receives from the reduction: grad_out[i] for
// None, grad_out / denominator for Mean, grad_out for Sum.
class LossGradSeed {
 public:
  LossGradSeed(const Tensor& grad_out, Reduction reduction, double denominator)
      : values_(grad_out.data()),
        per_element_(reduction == Reduction::None),
        shared_(per_element_                   ? 0.0
                : reduction == Reduction::Mean ? static_cast<double>(values_[0]) / denominator
                                               : static_cast<double>(values_[0])) {}
  double operator[](std::int64_t i) const { return per_element_ ? values_[i] : shared_; }

 private:
  const float* values_;
  bool per_element_;
  double shared_;
};

// A loss of one input against one target, element by element (mse_loss, l1_loss): per-element
// loss(x_i - t_i), reduced, and in backward dl/dx_i = derivative(x_i - t_i) times the reduction's
// gradient, and dl/dt_i = -dl/dx_i. `loss` returns float, `derivative` double.
template <typename Loss, typename Derivative>
Tensor pointwise_loss(const char* op, const Tensor& input, const Tensor& target,
                      Reduction reduction, Loss loss, Derivative derivative) {
  check_input_target(op, input, target);
  const std::int64_t count = input.numel();
  Tensor per_element = Tensor::empty(input.shape());
  {
    const float* x = input.data();
    const float* t = target.data();
    float* values = per_element.data();
    for (std::int64_t i = 0; i < count; ++i) values[i] = loss(x[i] - t[i]);
  }
  Tensor out = reduce_loss(per_element, reduction, static_cast<double>(count));
  record(op, {input, target}, {out}, {input, target},
         [reduction, count, derivative](BackwardContext& ctx) {
           const LossGradSeed seed(ctx.grad_output(0), reduction, static_cast<double>(count));
           const Tensor& saved_input = ctx.saved(0);
           const float* x = saved_input.data();
           const float* t = ctx.saved(1).data();
           Tensor grad_input = Tensor::empty(saved_input.shape());
           float* grad_x = grad_input.data();
           for (std::int64_t i = 0; i < count; ++i) {
             grad_x[i] = static_cast<float>(derivative(x[i] - t[i]) * seed[i]);
           }
           if (ctx.needs_grad(1)) {
             Tensor grad_target = Tensor::empty(saved_input.shape());
             float* grad_t = grad_target.data();
             for (std::int64_t i = 0; i < count; ++i) grad_t[i] = -grad_x[i];
             ctx.accumulate(1, std::move(grad_target));
           }
           ctx.accumulate(0, std::move(grad_input));
         });
  return out;
}

}  // namespace tapegrad::loss_detail
