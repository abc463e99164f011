#pragma once
#include <limits>
#include <optional>

#include "optim/param_groups.h"

namespace tapegrad::optim {

// torch.optim.SGD's options. lr has no default in PyTorch; leaving it unset (in the defaults and
// in a group) throws.
struct SGDOptions {
  float lr = std::numeric_limits<float>::quiet_NaN();
  float momentum = 0.0f;
  float dampening = 0.0f;
  float weight_decay = 0.0f;
  bool nesterov = false;
  bool maximize = false;

  template <typename Self, typename Visit>
  static void for_each_field(Self& o, Visit&& visit) {
    visit("lr", o.lr), visit("momentum", o.momentum), visit("dampening", o.dampening);
    visit("weight_decay", o.weight_decay), visit("nesterov", o.nesterov);
    visit("maximize", o.maximize);
  }
};

// One param group of an SGD: its parameters and the options it sets for itself.
struct SGDParamGroup {
  std::vector<Tensor> params = {};
  std::optional<float> lr = std::nullopt;
  std::optional<float> momentum = std::nullopt;
  std::optional<float> dampening = std::nullopt;
  std::optional<float> weight_decay = std::nullopt;
  std::optional<bool> nesterov = std::nullopt;
  std::optional<bool> maximize = std::nullopt;
  SGDOptions resolve(const SGDOptions& defaults) const;
};

// Stochastic gradient descent with optional (Nesterov) momentum, as torch.optim.SGD:
//   optim::SGD sgd(model.parameters(), {.lr = 0.1f, .momentum = 0.9f});
//   optim::SGD sgd({{.params = body}, {.params = head, .lr = 0.5f}}, {.lr = 0.1f});
// State: "momentum_buffer" per parameter of a group with momentum != 0, made by its first step.
class SGD : public GroupedOptimizer<SGDOptions, SGDParamGroup> {
 public:
  SGD(std::vector<Tensor> params, SGDOptions options);
  SGD(std::vector<SGDParamGroup> groups, SGDOptions defaults);

 private:
  void update() override;
  bool group_uses_slot(std::size_t group, std::size_t slot) const override;

  std::size_t momentum_buffer_slot_ = 0;
};

}  // namespace tapegrad::optim
