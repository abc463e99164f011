// l1_loss: l_i = |x_i - t_i|, then kept (None), averaged over all elements (Mean) or summed.
// dl/dx_i = sign(x_i - t_i) and dl/dt_i = -sign(x_i - t_i), with sign(0) = 0 as PyTorch (the kink
// gets the zero subgradient), times the gradient the reduction passes back.
#include <cmath>

#include "ops/loss_common.h"
#include "ops/losses.h"

namespace tapegrad {

namespace {
double sign(float value) { return value > 0.0f ? 1.0 : value < 0.0f ? -1.0 : 0.0; }
}  // namespace

Tensor l1_loss(const Tensor& input, const Tensor& target, Reduction reduction) {
  return loss_detail::pointwise_loss(
      "l1_loss", input, target, reduction, [](float difference) { return std::abs(difference); },
      [](float difference) { return sign(difference); });
}

}  // namespace tapegrad
