// mse_loss: l_i = (x_i - t_i)^2, then kept (None), averaged over all elements (Mean) or summed.
// dl/dx_i = 2 (x_i - t_i) and dl/dt_i = -2 (x_i - t_i), times the gradient the reduction passes
// back (grad_out / numel for Mean). Input and target must have equal shapes (no broadcasting).
#include "ops/loss_common.h"
#include "ops/losses.h"

namespace tapegrad {

Tensor mse_loss(const Tensor& input, const Tensor& target, Reduction reduction) {
  return loss_detail::pointwise_loss(
      "mse_loss", input, target, reduction,
      [](float difference) { return difference * difference; },
      [](float difference) { return 2.0 * static_cast<double>(difference); });
}

}  // namespace tapegrad
