// RMSprop as in https://pytorch.org/docs/1.13/generated/torch.optim.RMSprop.html (pseudo-code):
//   g = grad (negated if maximize);  if weight_decay: g = g + weight_decay * p
//   v = alpha * v + (1 - alpha) * g^2
//   centered: g_avg = alpha * g_avg + (1 - alpha) * g;  denom = sqrt(v - g_avg^2) + eps
//   else:     denom = sqrt(v) + eps
//   momentum > 0: b = momentum * b + g / denom;  p = p - lr * b
//   else:         p = p - lr * g / denom
// eps is added outside the square root, as PyTorch does (unlike TensorFlow's RMSprop). The step
// count is kept only because PyTorch's state has it; the update does not use it. See optimizer.h
// for how the arithmetic reproduces PyTorch's rounding.
#include "optim/rmsprop.h"

#include <cmath>

#include "autograd/grad_mode.h"

namespace tapegrad::optim {

RMSprop::RMSprop(std::vector<Tensor> params, RMSpropOptions options)
    : Optimizer("RMSprop", std::move(params), options.lr), options_(options) {
  check_option(options.lr >= 0.0f, "lr", options.lr, "lr >= 0");
  check_option(options.eps >= 0.0f, "eps", options.eps, "eps >= 0");
  check_option(options.momentum >= 0.0f, "momentum", options.momentum, "momentum >= 0");
  check_option(options.weight_decay >= 0.0f, "weight_decay", options.weight_decay,
               "weight_decay >= 0");
  check_option(options.alpha >= 0.0f, "alpha", options.alpha, "alpha >= 0");
  step_slot_ = add_slot("step");
  square_avg_slot_ = add_slot("square_avg");
  if (options.momentum > 0.0f) momentum_buffer_slot_ = add_slot("momentum_buffer");
  if (options.centered) grad_avg_slot_ = add_slot("grad_avg");
}

void RMSprop::update() {
  NoGradGuard no_grad;
  const float neg_lr = -this->lr();
  const float alpha = options_.alpha;
  const float new_weight = static_cast<float>(1.0 - static_cast<double>(options_.alpha));
  const float eps = options_.eps;
  const float weight_decay = options_.weight_decay;
  const float momentum = options_.momentum;
  const bool use_momentum = momentum > 0.0f;

  for (std::size_t i = 0; i < params_.size(); ++i) {
    Tensor& param = params_[i];
    const Tensor grad_tensor = param.grad();
    if (!grad_tensor.defined()) continue;
    if (!has_state(i)) {
      state(i, step_slot_) = detail::filled_state({1}, 0.0f);
      state(i, square_avg_slot_) = detail::filled_state(param.shape(), 0.0f);
      if (use_momentum) state(i, momentum_buffer_slot_) = detail::filled_state(param.shape(), 0.0f);
      if (options_.centered) state(i, grad_avg_slot_) = detail::filled_state(param.shape(), 0.0f);
    }
    state(i, step_slot_).data()[0] += 1.0f;

    const std::int64_t n = param.numel();
    float* p = param.data();
    const float* grad = grad_tensor.data();
    float* square_avg = state(i, square_avg_slot_).data();
    float* buffer = use_momentum ? state(i, momentum_buffer_slot_).data() : nullptr;
    float* grad_avg = options_.centered ? state(i, grad_avg_slot_).data() : nullptr;
    for (std::int64_t k = 0; k < n; ++k) {
      float g = options_.maximize ? -grad[k] : grad[k];
      if (weight_decay != 0.0f) g = std::fma(weight_decay, p[k], g);
      square_avg[k] = std::fma(new_weight * g, g, square_avg[k] * alpha);
      float avg;
      if (grad_avg) {
        grad_avg[k] = std::fma(new_weight, g, grad_avg[k] * alpha);
        // Can round below zero when g barely varies; PyTorch then gives NaN too.
        avg = std::sqrt(std::fma(-grad_avg[k], grad_avg[k], square_avg[k]));
      } else {
        avg = std::sqrt(square_avg[k]);
      }
      avg = avg + eps;
      if (buffer) {
        buffer[k] = buffer[k] * momentum + g / avg;
        p[k] = std::fma(neg_lr, buffer[k], p[k]);
      } else {
        p[k] = p[k] + (neg_lr * g) / avg;
      }
    }
    param.bump_version();
  }
}

}  // namespace tapegrad::optim
