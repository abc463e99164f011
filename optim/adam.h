#pragma once
#include <array>
#include <optional>

#include "optim/param_groups.h"

namespace tapegrad::optim {

// torch.optim.Adam's options (defaults included).
struct AdamOptions {
  float lr = 1e-3f;
  std::array<float, 2> betas = {0.9f, 0.999f};
  float eps = 1e-8f;
  float weight_decay = 0.0f;  // L2 penalty added to the gradient
  bool amsgrad = false;
  bool maximize = false;

  template <typename Self, typename Visit>
  static void for_each_field(Self& o, Visit&& visit) {
    visit("lr", o.lr), visit("betas", o.betas), visit("eps", o.eps);
    visit("weight_decay", o.weight_decay), visit("amsgrad", o.amsgrad);
    visit("maximize", o.maximize);
  }
};

// torch.optim.AdamW's options: the same fields, but weight decay is decoupled and defaults to 1e-2.
struct AdamWOptions {
  float lr = 1e-3f;
  std::array<float, 2> betas = {0.9f, 0.999f};
  float eps = 1e-8f;
  float weight_decay = 1e-2f;
  bool amsgrad = false;
  bool maximize = false;

  template <typename Self, typename Visit>
  static void for_each_field(Self& o, Visit&& visit) {
    visit("lr", o.lr), visit("betas", o.betas), visit("eps", o.eps);
    visit("weight_decay", o.weight_decay), visit("amsgrad", o.amsgrad);
    visit("maximize", o.maximize);
  }
};

// One param group of an Adam or AdamW: its parameters and the options it sets for itself.
struct AdamParamGroup {
  std::vector<Tensor> params = {};
  std::optional<float> lr = std::nullopt;
  std::optional<std::array<float, 2>> betas = std::nullopt;
  std::optional<float> eps = std::nullopt;
  std::optional<float> weight_decay = std::nullopt;
  std::optional<bool> amsgrad = std::nullopt;
  std::optional<bool> maximize = std::nullopt;
  AdamOptions resolve(const AdamOptions& defaults) const;
};

// Adam with bias correction, as torch.optim.Adam:
//   optim::Adam adam(model.parameters(), {.lr = 0.01f});
// With groups, the defaults are not optional (Adam({}) would be ambiguous otherwise):
//   optim::Adam adam({{.params = encoder, .lr = 1e-4f}, {.params = head}}, {.lr = 1e-3f});
// State per parameter, created by its first step: "step", "exp_avg", "exp_avg_sq", and
// "max_exp_avg_sq" in a group with amsgrad. For AdamW, options() and param_groups() hold its
// AdamWOptions in Adam's form (same fields).
class Adam : public GroupedOptimizer<AdamOptions, AdamParamGroup> {
 public:
  Adam(std::vector<Tensor> params, AdamOptions options = {});
  Adam(std::vector<AdamParamGroup> groups, AdamOptions defaults);

 protected:
  // AdamW shares the update; `decoupled_weight_decay` switches how weight_decay applies.
  Adam(std::string name, std::vector<AdamParamGroup> groups, const AdamOptions& defaults,
       bool decoupled_weight_decay);

 private:
  void update() override;
  bool group_uses_slot(std::size_t group, std::size_t slot) const override;

  bool decoupled_weight_decay_;
  std::size_t step_slot_ = 0;
  std::size_t exp_avg_slot_ = 0;
  std::size_t exp_avg_sq_slot_ = 0;
  std::size_t max_exp_avg_sq_slot_ = 0;
};

// Adam with decoupled weight decay (p *= 1 - lr * weight_decay before the Adam step), as
// torch.optim.AdamW. Same state names as Adam. The common grouping leaves biases and norms
// undecayed:
//   optim::AdamW adamw({{.params = weights}, {.params = biases, .weight_decay = 0.0f}}, {});
class AdamW : public Adam {
 public:
  AdamW(std::vector<Tensor> params, AdamWOptions options = {});
  AdamW(std::vector<AdamParamGroup> groups, AdamWOptions defaults);
};

}  // namespace tapegrad::optim
