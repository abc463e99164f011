#pragma once
#include "optim/optimizer.h"

namespace tapegrad::optim {

// torch.optim.RMSprop's options (defaults included).
struct RMSpropOptions {
  float lr = 1e-2f;
  float alpha = 0.99f;
  float eps = 1e-8f;
  float weight_decay = 0.0f;
  float momentum = 0.0f;
  bool centered = false;
  bool maximize = false;
};

// RMSprop, as torch.optim.RMSprop:
//   optim::RMSprop rmsprop(model.parameters(), {.lr = 1e-3f, .centered = true});
// State per parameter, created by its first step: "step", "square_avg", "momentum_buffer" (when
// momentum > 0) and "grad_avg" (when centered).
class RMSprop : public Optimizer {
 public:
  RMSprop(std::vector<Tensor> params, RMSpropOptions options = {});
  const RMSpropOptions& options() const { return options_; }

 private:
  void update() override;

  RMSpropOptions options_;
  std::size_t step_slot_ = 0;
  std::size_t square_avg_slot_ = 0;
  std::size_t momentum_buffer_slot_ = 0;
  std::size_t grad_avg_slot_ = 0;
};

}  // namespace tapegrad::optim
