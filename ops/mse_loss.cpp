// mse_loss: l_i = (x_i - t_i)^2, then kept (None), averaged over all elements (Mean) or summed.
// dl/dx_i = 2 (x_i - t_i) and dl/dt_i = -2 (x_i - t_i), times the gradient the reduction passes
// back (grad_out / numel for Mean). Input and target must have equal shapes (no broadcasting).
#include "autograd/node.h"
#include "ops/loss_common.h"
#include "ops/losses.h"

namespace tapegrad {

Tensor mse_loss(const Tensor& input, const Tensor& target, Reduction reduction) {
  loss_detail::check_input_target("mse_loss", input, target);
  const std::int64_t count = input.numel();
  Tensor per_element = Tensor::empty(input.shape());
  {
    const float* x = input.data();
    const float* t = target.data();
    float* loss = per_element.data();
    for (std::int64_t i = 0; i < count; ++i) {
      const float difference = x[i] - t[i];
      loss[i] = difference * difference;
    }
  }
  Tensor out = loss_detail::reduce_loss(per_element, reduction, static_cast<double>(count));
  record("mse_loss", {input, target}, {out}, {input, target},
         [reduction, count](BackwardContext& ctx) {
           const loss_detail::LossGradSeed seed(ctx.grad_output(0), reduction,
                                                static_cast<double>(count));
           const Tensor& saved_input = ctx.saved(0);
           const float* x = saved_input.data();
           const float* t = ctx.saved(1).data();
           Tensor grad_input = Tensor::empty(saved_input.shape());
           float* grad_x = grad_input.data();
           for (std::int64_t i = 0; i < count; ++i) {
             grad_x[i] = static_cast<float>(2.0 * static_cast<double>(x[i] - t[i]) * seed[i]);
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

}  // namespace tapegrad
