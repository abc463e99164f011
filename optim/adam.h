#pragma once
#include <array>

#include "optim/optimizer.h"

namespace tapegrad::optim {

// torch.optim.Adam's options (defaults included).
struct AdamOptions {
  float lr = 1e-3f;
  std::array<float, 2> betas = {0.9f, 0.999f};
  float eps = 1e-8f;
  float weight_decay = 0.0f;  // L2 penalty added to the gradient
  bool amsgrad = false;
  bool maximize = false;
};

// torch.optim.AdamW's options: the same fields, but weight decay is decoupled and defaults to 1e-2.
struct AdamWOptions {
  float lr = 1e-3f;
  std::array<float, 2> betas = {0.9f, 0.999f};
  float eps = 1e-8f;
  float weight_decay = 1e-2f;
  bool amsgrad = false;
  bool maximize = false;
};

// Adam with bias correction, as torch.optim.Adam:
//   optim::Adam adam(model.parameters(), {.lr = 0.01f});
// State per parameter, created by its first step: "step", "exp_avg", "exp_avg_sq", and
// "max_exp_avg_sq" with amsgrad.
class Adam : public Optimizer {
 public:
  Adam(std::vector<Tensor> params, AdamOptions options = {});
  // For AdamW, its AdamWOptions in Adam's form (same fields).
  const AdamOptions& options() const { return options_; }

 protected:
  // AdamW shares the update; `decoupled_weight_decay` switches how weight_decay applies.
  Adam(std::string name, std::vector<Tensor> params, const AdamOptions& options,
       bool decoupled_weight_decay);

 private:
  void update() override;

  AdamOptions options_;
  bool decoupled_weight_decay_;
  std::size_t step_slot_ = 0;
  std::size_t exp_avg_slot_ = 0;
  std::size_t exp_avg_sq_slot_ = 0;
  std::size_t max_exp_avg_sq_slot_ = 0;
};

// Adam with decoupled weight decay (p *= 1 - lr * weight_decay before the Adam step), as
// torch.optim.AdamW. Same state names as Adam.
class AdamW : public Adam {
 public:
  AdamW(std::vector<Tensor> params, AdamWOptions options = {});
};

}  // namespace tapegrad::optim
