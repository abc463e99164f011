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
// for how the arithmetic reproduces PyTorch's rounding. The element loop is the vectorised kernel
// ops/kernels/adam.cpp: in the batch-1 `tiny` step the scalar loop with its per-element option
// branches was half of the step's time.
#include "optim/adam.h"

#include <cmath>

#include "autograd/grad_mode.h"
#include "ops/kernels/adam.h"

namespace tapegrad::optim {

namespace {

AdamOptions as_adam_options(const AdamWOptions& w) {
  return {.lr = w.lr, .betas = w.betas, .eps = w.eps, .weight_decay = w.weight_decay,
          .amsgrad = w.amsgrad, .maximize = w.maximize};
}

void check_adam_options(const std::string& name, const AdamOptions& options, std::size_t group) {
  detail::check_option(name, options.lr >= 0.0f, group, "lr", options.lr, "lr >= 0");
  detail::check_option(name, options.eps >= 0.0f, group, "eps", options.eps, "eps >= 0");
  detail::check_option(name, options.betas[0] >= 0.0f && options.betas[0] < 1.0f, group,
                       "betas[0]", options.betas[0], "0 <= betas[0] < 1");
  detail::check_option(name, options.betas[1] >= 0.0f && options.betas[1] < 1.0f, group,
                       "betas[1]", options.betas[1], "0 <= betas[1] < 1");
  detail::check_option(name, options.weight_decay >= 0.0f, group, "weight_decay",
                       options.weight_decay, "weight_decay >= 0");
}

}  // namespace

AdamOptions AdamParamGroup::resolve(const AdamOptions& defaults) const {
  return {.lr = lr.value_or(defaults.lr), .betas = betas.value_or(defaults.betas),
          .eps = eps.value_or(defaults.eps),
          .weight_decay = weight_decay.value_or(defaults.weight_decay),
          .amsgrad = amsgrad.value_or(defaults.amsgrad),
          .maximize = maximize.value_or(defaults.maximize)};
}

Adam::Adam(std::vector<Tensor> params, AdamOptions options)
    : Adam("Adam", {{.params = std::move(params)}}, options, false) {}

Adam::Adam(std::vector<AdamParamGroup> groups, AdamOptions defaults)
    : Adam("Adam", std::move(groups), defaults, false) {}

AdamW::AdamW(std::vector<Tensor> params, AdamWOptions options)
    : Adam("AdamW", {{.params = std::move(params)}}, as_adam_options(options), true) {}

AdamW::AdamW(std::vector<AdamParamGroup> groups, AdamWOptions defaults)
    : Adam("AdamW", std::move(groups), as_adam_options(defaults), true) {}

Adam::Adam(std::string name, std::vector<AdamParamGroup> groups, const AdamOptions& defaults,
           bool decoupled_weight_decay)
    : GroupedOptimizer(std::move(name), std::move(groups), defaults, check_adam_options),
      decoupled_weight_decay_(decoupled_weight_decay) {
  step_slot_ = add_slot("step");
  exp_avg_slot_ = add_slot("exp_avg");
  exp_avg_sq_slot_ = add_slot("exp_avg_sq");
  max_exp_avg_sq_slot_ = add_slot("max_exp_avg_sq");
}

bool Adam::group_uses_slot(std::size_t group, std::size_t slot) const {
  return slot != max_exp_avg_sq_slot_ || group_options(group).amsgrad;
}

void Adam::update() {
  NoGradGuard no_grad;
  for (std::size_t group = 0; group < num_param_groups(); ++group) {
    const AdamOptions& options = group_options(group);
    const double lr = options.lr;
    const double beta1 = options.betas[0];
    const double beta2 = options.betas[1];
    const float beta1_f = options.betas[0];
    const float beta2_f = options.betas[1];
    const float grad_weight = static_cast<float>(1.0 - beta1);
    const float grad_sq_weight = static_cast<float>(1.0 - beta2);
    const float eps = options.eps;
    const float weight_decay = options.weight_decay;
    const float decay_factor = static_cast<float>(1.0 - lr * static_cast<double>(weight_decay));

    for (std::size_t i = param_begin(group); i < param_end(group); ++i) {
      Tensor& param = params_[i];
      const Tensor grad_tensor = param.grad();
      if (!grad_tensor.defined()) continue;
      if (!has_state(i)) {
        state(i, step_slot_) = detail::filled_state({1}, 0.0f);
        state(i, exp_avg_slot_) = detail::filled_state(param.shape(), 0.0f);
        state(i, exp_avg_sq_slot_) = detail::filled_state(param.shape(), 0.0f);
      }
      // Also when amsgrad was switched on after this parameter's first step (PyTorch would fail
      // on the missing entry): the running maximum starts from zero, as on a first step.
      if (options.amsgrad && !state(i, max_exp_avg_sq_slot_).defined()) {
        state(i, max_exp_avg_sq_slot_) = detail::filled_state(param.shape(), 0.0f);
      }
      float& step_count = state(i, step_slot_).data()[0];
      step_count += 1.0f;
      const double t = step_count;
      const double bias_correction1 = 1.0 - std::pow(beta1, t);
      const double bias_correction2 = 1.0 - std::pow(beta2, t);
      const float neg_step_size = static_cast<float>(-(lr / bias_correction1));
      const float bias_correction2_sqrt = static_cast<float>(std::sqrt(bias_correction2));

      kernels::adam_update({.param = param.data(),
                            .grad = grad_tensor.data(),
                            .exp_avg = state(i, exp_avg_slot_).data(),
                            .exp_avg_sq = state(i, exp_avg_sq_slot_).data(),
                            .max_exp_avg_sq =
                                options.amsgrad ? state(i, max_exp_avg_sq_slot_).data() : nullptr,
                            .n = param.numel(),
                            .beta1 = beta1_f,
                            .beta2 = beta2_f,
                            .grad_weight = grad_weight,
                            .grad_sq_weight = grad_sq_weight,
                            .eps = eps,
                            .weight_decay = weight_decay,
                            .decoupled_weight_decay = decoupled_weight_decay_,
                            .decay_factor = decay_factor,
                            .maximize = options.maximize,
                            .neg_step_size = neg_step_size,
                            .bias_correction2_sqrt = bias_correction2_sqrt});
      param.bump_version();
    }
  }
}

}  // namespace tapegrad::optim
