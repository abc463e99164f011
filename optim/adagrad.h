#pragma once
#include "optim/optimizer.h"

namespace tapegrad::optim {

// torch.optim.Adagrad's options (defaults included).
struct AdagradOptions {
  float lr = 1e-2f;
  float lr_decay = 0.0f;
  float weight_decay = 0.0f;
  float initial_accumulator_value = 0.0f;
  float eps = 1e-10f;
  bool maximize = false;
};

// Adagrad, as torch.optim.Adagrad:
//   optim::Adagrad adagrad(model.parameters(), {.lr = 0.1f, .lr_decay = 1e-3f});
// State per parameter, created by the constructor as in PyTorch: "step" (0) and "sum" (filled with
// initial_accumulator_value).
class Adagrad : public Optimizer {
 public:
  Adagrad(std::vector<Tensor> params, AdagradOptions options = {});
  const AdagradOptions& options() const { return options_; }

 private:
  void update() override;

  void init_state(std::size_t param_index);

  AdagradOptions options_;
  std::size_t step_slot_ = 0;
  std::size_t sum_slot_ = 0;
};

}  // namespace tapegrad::optim
