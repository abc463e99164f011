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

SGD::SGD(std::vector<Tensor> params, SGDOptions options)
    : Optimizer("SGD", std::move(params), options.lr), options_(options) {
  if (std::isnan(options.lr)) {
    throw ValueError("SGD: lr is required (PyTorch's SGD has no default), e.g. {.lr = 0.1f}");
  }
  check_option(options.lr >= 0.0f, "lr", options.lr, "lr >= 0");
  check_option(options.momentum >= 0.0f, "momentum", options.momentum, "momentum >= 0");
  check_option(options.weight_decay >= 0.0f, "weight_decay", options.weight_decay,
               "weight_decay >= 0");
  if (options.nesterov && (options.momentum <= 0.0f || options.dampening != 0.0f)) {
    throw ValueError("SGD: invalid nesterov: true (Nesterov momentum requires momentum > 0 and "
                     "dampening = 0, got momentum=" + detail::format_number(options.momentum) +
                     " and dampening=" + detail::format_number(options.dampening) + ")");
  }
  if (options.momentum != 0.0f) momentum_buffer_slot_ = add_slot("momentum_buffer");
}

void SGD::update() {
  NoGradGuard no_grad;
  const float lr = this->lr();
  const float momentum = options_.momentum;
  const float weight_decay = options_.weight_decay;
  const float buffer_keep = static_cast<float>(1.0 - static_cast<double>(options_.dampening));
  for (std::size_t i = 0; i < params_.size(); ++i) {
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
      float g = options_.maximize ? -grad[k] : grad[k];
      if (weight_decay != 0.0f) g = std::fma(weight_decay, p[k], g);
      if (buffer) {
        buffer[k] = first_step ? g : std::fma(buffer_keep, g, buffer[k] * momentum);
        g = options_.nesterov ? std::fma(momentum, buffer[k], g) : buffer[k];
      }
      p[k] = std::fma(-lr, g, p[k]);
    }
    param.bump_version();
  }
}

}  // namespace tapegrad::optim
