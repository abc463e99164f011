#pragma once
// The Adam / AdamW update of one parameter tensor on raw arrays (optim/adam.cpp has the math and
// its PyTorch reference). The vectorised kernel and its scalar twin compute every element with the
// same IEEE operations in the same order (fma, *, +, correctly rounded sqrt and division), so
// they give the same bits, and both give PyTorch 1.13's float32 results.
#include <cstdint>

namespace tapegrad::kernels {

struct AdamUpdate {
  float* param;
  const float* grad;
  float* exp_avg;
  float* exp_avg_sq;
  float* max_exp_avg_sq;  // amsgrad's running maximum; null without amsgrad
  std::int64_t n;
  float beta1, beta2;
  float grad_weight, grad_sq_weight;  // 1 - beta1, 1 - beta2, rounded to float
  float eps;
  float weight_decay;
  bool decoupled_weight_decay;  // AdamW: p *= decay_factor before the update
  float decay_factor;           // 1 - lr * weight_decay
  bool maximize;
  float neg_step_size;          // -lr / (1 - beta1^t)
  float bias_correction2_sqrt;  // sqrt(1 - beta2^t)
};

void adam_update(const AdamUpdate& u);
void adam_update_reference(const AdamUpdate& u);

}  // namespace tapegrad::kernels
