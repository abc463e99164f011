// binary_cross_entropy on probabilities x: l = -w (t log x + (1 - t) log(1 - x)), each log clamped
// to >= -100 as PyTorch, so x = 0 or 1 stays finite. dl/dx = w (x - t) / max(x (1 - x), 1e-12) is
// PyTorch's formula (finite at 0 and 1); dl/dt = w (log(1 - x) - log x) with the clamped logs, the
// exact derivative of our forward (PyTorch's unclamped -logit(x) is +-inf at 0 and 1).
//
// binary_cross_entropy_with_logits, with p = pos_weight (1 if absent), c = 1 + (p - 1) t and
// sp(z) = log(1 + e^z) = max(z, 0) + log1p(e^-|z|), which never overflows:
//   l = w ((1 - t) x + c sp(-x)),  dl/dx = w (c sigmoid(x) - p t),  dl/dt = w (p sp(-x) - sp(x)).
#include <algorithm>
#include <cmath>

#include "autograd/node.h"
#include "ops/loss_common.h"
#include "ops/losses.h"

namespace tapegrad {

namespace {

constexpr double kMinLog = -100.0;      // PyTorch's clamp of log(x) and log(1 - x)
constexpr double kMinVariance = 1e-12;  // PyTorch's EPSILON in the input gradient

double clamped_log(double value) { return std::max(std::log(value), kMinLog); }
double clamped_log1m(double value) { return std::max(std::log1p(-value), kMinLog); }

double softplus(double z) { return std::max(z, 0.0) + std::log1p(std::exp(-std::abs(z))); }

double stable_sigmoid(double z) {
  if (z >= 0.0) return 1.0 / (1.0 + std::exp(-z));
  const double e = std::exp(z);
  return e / (1.0 + e);
}

// Optional operands are read through a pointer that is null when absent.
const float* data_or_null(const Tensor& tensor) {
  return tensor.defined() ? tensor.data() : nullptr;
}
double value_or(const float* values, std::int64_t i, double fallback) {
  return values ? static_cast<double>(values[i]) : fallback;
}

void check_probabilities(const char* op, const Tensor& input) {
  const float* x = input.data();
  for (std::int64_t i = 0, n = input.numel(); i < n; ++i) {
    if (!(x[i] >= 0.0f && x[i] <= 1.0f)) {  // also catches NaN
      throw ValueError(std::string(op) +
                       ": expected input values in [0, 1] (probabilities; "
                       "pass logits to binary_cross_entropy_with_logits), got " +
                       loss_detail::format_value(x[i]) + " at index " +
                       loss_detail::format_index(input.shape(), i));
    }
  }
}

}  // namespace

Tensor binary_cross_entropy(const Tensor& input, const Tensor& target, const Tensor& weight,
                            Reduction reduction) {
  constexpr const char* op = "binary_cross_entropy";
  loss_detail::check_input_target(op, input, target);
  check_probabilities(op, input);
  const Tensor full_weight = loss_detail::expand_weight(op, "weight", weight, input.shape());

  const std::int64_t count = input.numel();
  Tensor per_element = Tensor::empty(input.shape());
  {
    const float* x = input.data();
    const float* t = target.data();
    const float* w = data_or_null(full_weight);
    float* loss = per_element.data();
    for (std::int64_t i = 0; i < count; ++i) {
      const double ti = t[i];
      loss[i] = static_cast<float>(value_or(w, i, 1.0) *
                                   ((ti - 1.0) * clamped_log1m(x[i]) - ti * clamped_log(x[i])));
    }
  }
  Tensor out = loss_detail::reduce_loss(per_element, reduction, static_cast<double>(count));
  record(op, {input, target}, {out}, {input, target, full_weight},
         [reduction, count](BackwardContext& ctx) {
           const loss_detail::LossGradSeed seed(ctx.grad_output(0), reduction,
                                                static_cast<double>(count));
           const Shape& shape = ctx.saved(0).shape();
           const float* x = ctx.saved(0).data();
           const float* t = ctx.saved(1).data();
           const float* w = data_or_null(ctx.saved(2));
           if (ctx.needs_grad(0)) {
             Tensor grad_input = Tensor::empty(shape);
             float* grad_x = grad_input.data();
             for (std::int64_t i = 0; i < count; ++i) {
               const double xi = x[i];
               const double variance = std::max((1.0 - xi) * xi, kMinVariance);
               grad_x[i] =
                   static_cast<float>(seed[i] * value_or(w, i, 1.0) * (xi - t[i]) / variance);
             }
             ctx.accumulate(0, std::move(grad_input));
           }
           if (ctx.needs_grad(1)) {
             Tensor grad_target = Tensor::empty(shape);
             float* grad_t = grad_target.data();
             for (std::int64_t i = 0; i < count; ++i) {
               grad_t[i] = static_cast<float>(seed[i] * value_or(w, i, 1.0) *
                                              (clamped_log1m(x[i]) - clamped_log(x[i])));
             }
             ctx.accumulate(1, std::move(grad_target));
           }
         });
  return out;
}

Tensor binary_cross_entropy_with_logits(const Tensor& input, const Tensor& target,
                                        const Tensor& weight, const Tensor& pos_weight,
                                        Reduction reduction) {
  constexpr const char* op = "binary_cross_entropy_with_logits";
  loss_detail::check_input_target(op, input, target);
  const Tensor full_weight = loss_detail::expand_weight(op, "weight", weight, input.shape());
  const Tensor full_pos_weight =
      loss_detail::expand_weight(op, "pos_weight", pos_weight, input.shape());

  const std::int64_t count = input.numel();
  Tensor per_element = Tensor::empty(input.shape());
  {
    const float* x = input.data();
    const float* t = target.data();
    const float* w = data_or_null(full_weight);
    const float* p = data_or_null(full_pos_weight);
    float* loss = per_element.data();
    for (std::int64_t i = 0; i < count; ++i) {
      const double xi = x[i];
      const double ti = t[i];
      const double log_weight = 1.0 + (value_or(p, i, 1.0) - 1.0) * ti;
      loss[i] =
          static_cast<float>(value_or(w, i, 1.0) * ((1.0 - ti) * xi + log_weight * softplus(-xi)));
    }
  }
  Tensor out = loss_detail::reduce_loss(per_element, reduction, static_cast<double>(count));
  record(op, {input, target}, {out}, {input, target, full_weight, full_pos_weight},
         [reduction, count](BackwardContext& ctx) {
           const loss_detail::LossGradSeed seed(ctx.grad_output(0), reduction,
                                                static_cast<double>(count));
           const Shape& shape = ctx.saved(0).shape();
           const float* x = ctx.saved(0).data();
           const float* t = ctx.saved(1).data();
           const float* w = data_or_null(ctx.saved(2));
           const float* p = data_or_null(ctx.saved(3));
           if (ctx.needs_grad(0)) {
             Tensor grad_input = Tensor::empty(shape);
             float* grad_x = grad_input.data();
             for (std::int64_t i = 0; i < count; ++i) {
               const double ti = t[i];
               const double pi = value_or(p, i, 1.0);
               const double log_weight = 1.0 + (pi - 1.0) * ti;
               grad_x[i] = static_cast<float>(seed[i] * value_or(w, i, 1.0) *
                                              (log_weight * stable_sigmoid(x[i]) - pi * ti));
             }
             ctx.accumulate(0, std::move(grad_input));
           }
           if (ctx.needs_grad(1)) {
             Tensor grad_target = Tensor::empty(shape);
             float* grad_t = grad_target.data();
             for (std::int64_t i = 0; i < count; ++i) {
               const double xi = x[i];
               grad_t[i] = static_cast<float>(seed[i] * value_or(w, i, 1.0) *
                                              (value_or(p, i, 1.0) * softplus(-xi) - softplus(xi)));
             }
             ctx.accumulate(1, std::move(grad_target));
           }
         });
  return out;
}

}  // namespace tapegrad
