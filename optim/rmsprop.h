#pragma once
#include <optional>

#include "optim/param_groups.h"

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

  template <typename Self, typename Visit>
  static void for_each_field(Self& o, Visit&& visit) {
    visit("lr", o.lr), visit("alpha", o.alpha), visit("eps", o.eps);
    visit("weight_decay", o.weight_decay), visit("momentum", o.momentum);
    visit("centered", o.centered), visit("maximize", o.maximize);
  }
};

// One param group of an RMSprop: its parameters and the options it sets for itself.
struct RMSpropParamGroup {
  std::vector<Tensor> params = {};
  std::optional<float> lr = std::nullopt;
  std::optional<float> alpha = std::nullopt;
  std::optional<float> eps = std::nullopt;
  std::optional<float> weight_decay = std::nullopt;
  std::optional<float> momentum = std::nullopt;
  std::optional<bool> centered = std::nullopt;
  std::optional<bool> maximize = std::nullopt;
  RMSpropOptions resolve(const RMSpropOptions& defaults) const;
};

// RMSprop, as torch.optim.RMSprop:
//   optim::RMSprop rmsprop(model.parameters(), {.lr = 1e-3f, .centered = true});
// State per parameter, created by its first step: "step", "square_avg", "momentum_buffer" (when
// momentum > 0) and "grad_avg" (when centered), per the options of the parameter's group.
class RMSprop : public GroupedOptimizer<RMSpropOptions, RMSpropParamGroup> {
 public:
  RMSprop(std::vector<Tensor> params, RMSpropOptions options = {});
  RMSprop(std::vector<RMSpropParamGroup> groups, RMSpropOptions defaults);

 private:
  void update() override;
  bool group_uses_slot(std::size_t group, std::size_t slot) const override;
  std::size_t step_slot_ = 0;
  std::size_t square_avg_slot_ = 0;
  std::size_t momentum_buffer_slot_ = 0;
  std::size_t grad_avg_slot_ = 0;
};

}  // namespace tapegrad::optim
