#pragma once
#include <optional>

#include "optim/param_groups.h"

namespace tapegrad::optim {

// torch.optim.Adagrad's options (defaults included).
struct AdagradOptions {
  float lr = 1e-2f;
  float lr_decay = 0.0f;
  float weight_decay = 0.0f;
  float initial_accumulator_value = 0.0f;
  float eps = 1e-10f;
  bool maximize = false;

  template <typename Self, typename Visit>
  static void for_each_field(Self& o, Visit&& visit) {
    visit("lr", o.lr), visit("lr_decay", o.lr_decay), visit("weight_decay", o.weight_decay);
    visit("initial_accumulator_value", o.initial_accumulator_value), visit("eps", o.eps);
    visit("maximize", o.maximize);
  }
};

// One param group of an Adagrad: its parameters and the options it sets for itself.
struct AdagradParamGroup {
  std::vector<Tensor> params = {};
  std::optional<float> lr = std::nullopt;
  std::optional<float> lr_decay = std::nullopt;
  std::optional<float> weight_decay = std::nullopt;
  std::optional<float> initial_accumulator_value = std::nullopt;
  std::optional<float> eps = std::nullopt;
  std::optional<bool> maximize = std::nullopt;
  AdagradOptions resolve(const AdagradOptions& defaults) const;
};

// Adagrad, as torch.optim.Adagrad:
//   optim::Adagrad adagrad(model.parameters(), {.lr = 0.1f, .lr_decay = 1e-3f});
// State per parameter, created by the constructor as in PyTorch: "step" (0) and "sum" (filled with
// initial_accumulator_value of the parameter's group); add_param_group does the same for the new
// group's parameters (PyTorch 1.13 leaves them without state and fails on their first step).
class Adagrad : public GroupedOptimizer<AdagradOptions, AdagradParamGroup> {
 public:
  Adagrad(std::vector<Tensor> params, AdagradOptions options = {});
  Adagrad(std::vector<AdagradParamGroup> groups, AdagradOptions defaults);

 private:
  void update() override;
  void on_param_group_added(std::size_t group) override;

  void init_state(std::size_t param_index, const AdagradOptions& options);
  std::size_t step_slot_ = 0;
  std::size_t sum_slot_ = 0;
};

}  // namespace tapegrad::optim
