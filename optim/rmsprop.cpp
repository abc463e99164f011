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

namespace {

void check_rmsprop_options(const std::string& name, const RMSpropOptions& options,
                           std::size_t group) {
  detail::check_option(name, options.lr >= 0.0f, group, "lr", options.lr, "lr >= 0");
  detail::check_option(name, options.eps >= 0.0f, group, "eps", options.eps, "eps >= 0");
  detail::check_option(name, options.momentum >= 0.0f, group, "momentum", options.momentum,
                       "momentum >= 0");
  detail::check_option(name, options.weight_decay >= 0.0f, group, "weight_decay",
                       options.weight_decay, "weight_decay >= 0");
  detail::check_option(name, options.alpha >= 0.0f, group, "alpha", options.alpha, "alpha >= 0");
}

}  // namespace

RMSpropOptions RMSpropParamGroup::resolve(const RMSpropOptions& defaults) const {
  return {.lr = lr.value_or(defaults.lr), .alpha = alpha.value_or(defaults.alpha),
          .eps = eps.value_or(defaults.eps),
          .weight_decay = weight_decay.value_or(defaults.weight_decay),
          .momentum = momentum.value_or(defaults.momentum),
          .centered = centered.value_or(defaults.centered),
          .maximize = maximize.value_or(defaults.maximize)};
}

RMSprop::RMSprop(std::vector<Tensor> params, RMSpropOptions options)
    : RMSprop(std::vector<RMSpropParamGroup>{{.params = std::move(params)}}, options) {}

RMSprop::RMSprop(std::vector<RMSpropParamGroup> groups, RMSpropOptions defaults)
    : GroupedOptimizer("RMSprop", std::move(groups), defaults, check_rmsprop_options) {
  step_slot_ = add_slot("step");
  square_avg_slot_ = add_slot("square_avg");
  momentum_buffer_slot_ = add_slot("momentum_buffer");
  grad_avg_slot_ = add_slot("grad_avg");
}

bool RMSprop::group_uses_slot(std::size_t group, std::size_t slot) const {
  const RMSpropOptions& options = group_options(group);
  if (slot == momentum_buffer_slot_) return options.momentum > 0.0f;
  if (slot == grad_avg_slot_) return options.centered;
  return true;
}

void RMSprop::update() {
  NoGradGuard no_grad;
  for (std::size_t group = 0; group < num_param_groups(); ++group) {
    const RMSpropOptions& options = group_options(group);
    const float neg_lr = -options.lr;
    const float alpha = options.alpha;
    const float new_weight = static_cast<float>(1.0 - static_cast<double>(options.alpha));
    const float eps = options.eps;
    const float weight_decay = options.weight_decay;
    const float momentum = options.momentum;
    const bool use_momentum = momentum > 0.0f;

    for (std::size_t i = param_begin(group); i < param_end(group); ++i) {
      Tensor& param = params_[i];
      const Tensor grad_tensor = param.grad();
      if (!grad_tensor.defined()) continue;
      if (!has_state(i)) {
        state(i, step_slot_) = detail::filled_state({1}, 0.0f);
        state(i, square_avg_slot_) = detail::filled_state(param.shape(), 0.0f);
      }
      // Made here too when momentum or centered was switched on after the first step.
      Tensor& buffer_state = state(i, momentum_buffer_slot_);
      if (use_momentum && !buffer_state.defined()) {
        buffer_state = detail::filled_state(param.shape(), 0.0f);
      }
      Tensor& grad_avg_state = state(i, grad_avg_slot_);
      if (options.centered && !grad_avg_state.defined()) {
        grad_avg_state = detail::filled_state(param.shape(), 0.0f);
      }
      state(i, step_slot_).data()[0] += 1.0f;

      const std::int64_t n = param.numel();
      float* p = param.data();
      const float* grad = grad_tensor.data();
      float* square_avg = state(i, square_avg_slot_).data();
      float* buffer = use_momentum ? buffer_state.data() : nullptr;
      float* grad_avg = options.centered ? grad_avg_state.data() : nullptr;
      for (std::int64_t k = 0; k < n; ++k) {
        float g = options.maximize ? -grad[k] : grad[k];
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
}

}  // namespace tapegrad::optim
