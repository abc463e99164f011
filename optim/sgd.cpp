// SGD as in https://pytorch.org/docs/1.13/generated/torch.optim.SGD.html (pseudo-code):
//   g = grad (negated if maximize);  if weight_decay: g = g + weight_decay * p
//   if momentum: b = g on the first step, else b = momentum * b + (1 - dampening) * g
//                g = g + momentum * b if nesterov, else g = b
//   p = p - lr * g
// The first step copies g into the buffer without dampening, as PyTorch does. See optimizer.h for
// how the arithmetic reproduces PyTorch's rounding (std::fma where ATen's add(alpha=) fuses).
#include "optim/sgd.h"

#include <cmath>

#include "autograd/grad_mode.h"

namespace tapegrad::optim {

namespace {

void check_sgd_options(const std::string& name, const SGDOptions& options, std::size_t group) {
  if (std::isnan(options.lr)) {
    throw ValueError(name + ": lr is required (PyTorch's SGD has no default), e.g. {.lr = 0.1f}; "
                     "param group " + std::to_string(group) + " has none");
  }
  detail::check_option(name, options.lr >= 0.0f, group, "lr", options.lr, "lr >= 0");
  detail::check_option(name, options.momentum >= 0.0f, group, "momentum", options.momentum,
                       "momentum >= 0");
  detail::check_option(name, options.weight_decay >= 0.0f, group, "weight_decay",
                       options.weight_decay, "weight_decay >= 0");
  if (options.nesterov && (options.momentum <= 0.0f || options.dampening != 0.0f)) {
    throw ValueError(name + ": invalid nesterov: true (Nesterov momentum requires momentum > 0 and "
                     "dampening = 0, got momentum=" + detail::format_number(options.momentum) +
                     " and dampening=" + detail::format_number(options.dampening) +
                     ") in param group " + std::to_string(group));
  }
}

}  // namespace

SGDOptions SGDParamGroup::resolve(const SGDOptions& defaults) const {
  return {.lr = lr.value_or(defaults.lr), .momentum = momentum.value_or(defaults.momentum),
          .dampening = dampening.value_or(defaults.dampening),
          .weight_decay = weight_decay.value_or(defaults.weight_decay),
          .nesterov = nesterov.value_or(defaults.nesterov),
          .maximize = maximize.value_or(defaults.maximize)};
}

SGD::SGD(std::vector<Tensor> params, SGDOptions options)
    : SGD(std::vector<SGDParamGroup>{{.params = std::move(params)}}, options) {}

SGD::SGD(std::vector<SGDParamGroup> groups, SGDOptions defaults)
    : GroupedOptimizer("SGD", std::move(groups), defaults, check_sgd_options) {
  momentum_buffer_slot_ = add_slot("momentum_buffer");
}

bool SGD::group_uses_slot(std::size_t group, std::size_t slot) const {
  return slot != momentum_buffer_slot_ || group_options(group).momentum != 0.0f;
}

void SGD::update() {
  NoGradGuard no_grad;
  for (std::size_t group = 0; group < num_param_groups(); ++group) {
    const SGDOptions& options = group_options(group);
    const float lr = options.lr;
    const float momentum = options.momentum;
    const float weight_decay = options.weight_decay;
    const float buffer_keep = static_cast<float>(1.0 - static_cast<double>(options.dampening));
    for (std::size_t i = param_begin(group); i < param_end(group); ++i) {
      Tensor& param = params_[i];
      const Tensor grad_tensor = param.grad();
      if (!grad_tensor.defined()) continue;
      const std::int64_t n = param.numel();
      float* p = param.data();
      const float* grad = grad_tensor.data();

      float* buffer = nullptr;
      bool first_step = false;
      if (momentum != 0.0f) {
        first_step = !has_state(i);
        if (first_step) state(i, momentum_buffer_slot_) = Tensor::empty(param.shape());
        buffer = state(i, momentum_buffer_slot_).data();
      }
      for (std::int64_t k = 0; k < n; ++k) {
        float g = options.maximize ? -grad[k] : grad[k];
        if (weight_decay != 0.0f) g = std::fma(weight_decay, p[k], g);
        if (buffer) {
          buffer[k] = first_step ? g : std::fma(buffer_keep, g, buffer[k] * momentum);
          g = options.nesterov ? std::fma(momentum, buffer[k], g) : buffer[k];
        }
        p[k] = std::fma(-lr, g, p[k]);
      }
      param.bump_version();
    }
  }
}

}  // namespace tapegrad::optim
