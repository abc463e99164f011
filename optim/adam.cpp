// Adam: https://pytorch.org/docs/1.13/generated/torch.optim.Adam.html
// AdamW: https://pytorch.org/docs/1.13/generated/torch.optim.AdamW.html
// Following the pseudo-code there (and 1.13's single-tensor implementation), for step t:
//   g = grad (negated if maximize)
//   Adam:  if weight_decay: g = g + weight_decay * p          (L2 penalty through the moments)
//   AdamW: p = p * (1 - lr * weight_decay)                    (decoupled, before the update)
//   m = beta1 * m + (1 - beta1) * g;   v = beta2 * v + (1 - beta2) * g^2
//   v_used = max(v_max, v) if amsgrad (and v_max keeps it), else v
//   p = p - (lr / (1 - beta1^t)) * m / (sqrt(v_used) / sqrt(1 - beta2^t) + eps)
// eps is added after the bias correction of sqrt(v), exactly where PyTorch adds it. See optimizer.h
// for how the arithmetic reproduces PyTorch's rounding.
#include "optim/adam.h"

#include <cmath>

#include "autograd/grad_mode.h"

namespace tapegrad::optim {

namespace {

AdamOptions as_adam_options(const AdamWOptions& w) {
  return {.lr = w.lr, .betas = w.betas, .eps = w.eps, .weight_decay = w.weight_decay,
          .amsgrad = w.amsgrad, .maximize = w.maximize};
}

}  // namespace

Adam::Adam(std::vector<Tensor> params, AdamOptions options)
    : Adam("Adam", std::move(params), options, false) {}

AdamW::AdamW(std::vector<Tensor> params, AdamWOptions options)
    : Adam("AdamW", std::move(params), as_adam_options(options), true) {}

Adam::Adam(std::string name, std::vector<Tensor> params, const AdamOptions& options,
           bool decoupled_weight_decay)
    : Optimizer(std::move(name), std::move(params), options.lr),
      options_(options),
      decoupled_weight_decay_(decoupled_weight_decay) {
  check_option(options.lr >= 0.0f, "lr", options.lr, "lr >= 0");
  check_option(options.eps >= 0.0f, "eps", options.eps, "eps >= 0");
  check_option(options.betas[0] >= 0.0f && options.betas[0] < 1.0f, "betas[0]", options.betas[0],
               "0 <= betas[0] < 1");
  check_option(options.betas[1] >= 0.0f && options.betas[1] < 1.0f, "betas[1]", options.betas[1],
               "0 <= betas[1] < 1");
  check_option(options.weight_decay >= 0.0f, "weight_decay", options.weight_decay,
               "weight_decay >= 0");
  step_slot_ = add_slot("step");
  exp_avg_slot_ = add_slot("exp_avg");
  exp_avg_sq_slot_ = add_slot("exp_avg_sq");
  if (options.amsgrad) max_exp_avg_sq_slot_ = add_slot("max_exp_avg_sq");
}

void Adam::update() {
  NoGradGuard no_grad;
  const double lr = this->lr();
  const double beta1 = options_.betas[0];
  const double beta2 = options_.betas[1];
  const float beta1_f = options_.betas[0];
  const float beta2_f = options_.betas[1];
  const float grad_weight = static_cast<float>(1.0 - beta1);
  const float grad_sq_weight = static_cast<float>(1.0 - beta2);
  const float eps = options_.eps;
  const float weight_decay = options_.weight_decay;
  const float decay_factor = static_cast<float>(1.0 - lr * static_cast<double>(weight_decay));

  for (std::size_t i = 0; i < params_.size(); ++i) {
    Tensor& param = params_[i];
    const Tensor grad_tensor = param.grad();
    if (!grad_tensor.defined()) continue;
    if (!has_state(i)) {
      state(i, step_slot_) = detail::filled_state({1}, 0.0f);
      state(i, exp_avg_slot_) = detail::filled_state(param.shape(), 0.0f);
      state(i, exp_avg_sq_slot_) = detail::filled_state(param.shape(), 0.0f);
      if (options_.amsgrad) {
        state(i, max_exp_avg_sq_slot_) = detail::filled_state(param.shape(), 0.0f);
      }
    }
    float& step_count = state(i, step_slot_).data()[0];
    step_count += 1.0f;
    const double t = step_count;
    const double bias_correction1 = 1.0 - std::pow(beta1, t);
    const double bias_correction2 = 1.0 - std::pow(beta2, t);
    const float neg_step_size = static_cast<float>(-(lr / bias_correction1));
    const float bias_correction2_sqrt = static_cast<float>(std::sqrt(bias_correction2));

    const std::int64_t n = param.numel();
    float* p = param.data();
    const float* grad = grad_tensor.data();
    float* exp_avg = state(i, exp_avg_slot_).data();
    float* exp_avg_sq = state(i, exp_avg_sq_slot_).data();
    float* max_exp_avg_sq = options_.amsgrad ? state(i, max_exp_avg_sq_slot_).data() : nullptr;
    for (std::int64_t k = 0; k < n; ++k) {
      float g = options_.maximize ? -grad[k] : grad[k];
      if (weight_decay != 0.0f) {
        if (decoupled_weight_decay_) {
          p[k] = p[k] * decay_factor;
        } else {
          g = std::fma(weight_decay, p[k], g);
        }
      }
      exp_avg[k] = std::fma(grad_weight, g, exp_avg[k] * beta1_f);
      exp_avg_sq[k] = std::fma(grad_sq_weight * g, g, exp_avg_sq[k] * beta2_f);
      float second_moment = exp_avg_sq[k];
      if (max_exp_avg_sq) {
        // torch.maximum propagates NaN, so a NaN moment is not silently dropped.
        const float current = exp_avg_sq[k];
        if (!std::isnan(max_exp_avg_sq[k]) && !(max_exp_avg_sq[k] >= current)) {
          max_exp_avg_sq[k] = current;
        }
        second_moment = max_exp_avg_sq[k];
      }
      const float denom = std::sqrt(second_moment) / bias_correction2_sqrt + eps;
      p[k] = p[k] + (neg_step_size * exp_avg[k]) / denom;
    }
    param.bump_version();
  }
}

}  // namespace tapegrad::optim
