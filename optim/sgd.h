#pragma once
#include <limits>

#include "optim/optimizer.h"

namespace tapegrad::optim {

// torch.optim.SGD's options. lr has no default in PyTorch; leaving it unset throws.
struct SGDOptions {
  float lr = std::numeric_limits<float>::quiet_NaN();
  float momentum = 0.0f;
  float dampening = 0.0f;
  float weight_decay = 0.0f;
  bool nesterov = false;
  bool maximize = false;
};

// Stochastic gradient descent with optional (Nesterov) momentum, as torch.optim.SGD:
//   optim::SGD sgd(model.parameters(), {.lr = 0.1f, .momentum = 0.9f});
// State: "momentum_buffer" per parameter (when momentum != 0), created by the first step.
class SGD : public Optimizer {
 public:
  SGD(std::vector<Tensor> params, SGDOptions options);
  const SGDOptions& options() const { return options_; }

 private:
  void update() override;

  SGDOptions options_;
  std::size_t momentum_buffer_slot_ = 0;
};

}  // namespace tapegrad::optim
