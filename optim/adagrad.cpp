// Adagrad as in https://pytorch.org/docs/1.13/generated/torch.optim.Adagrad.html (pseudo-code):
//   g = grad (negated if maximize);  if weight_decay: g = g + weight_decay * p
//   clr = lr / (1 + (t - 1) * lr_decay)
//   s = s + g^2;   p = p - clr * g / (sqrt(s) + eps)
// with s starting at initial_accumulator_value. eps sits outside the square root, as in PyTorch.
// See optimizer.h for how the arithmetic reproduces PyTorch's rounding.
#include "optim/adagrad.h"

#include <cmath>

#include "autograd/grad_mode.h"

namespace tapegrad::optim {

namespace {

void check_adagrad_options(const std::string& name, const AdagradOptions& options,
                           std::size_t group) {
  detail::check_option(name, options.lr >= 0.0f, group, "lr", options.lr, "lr >= 0");
  detail::check_option(name, options.lr_decay >= 0.0f, group, "lr_decay", options.lr_decay,
                       "lr_decay >= 0");
  detail::check_option(name, options.weight_decay >= 0.0f, group, "weight_decay",
                       options.weight_decay, "weight_decay >= 0");
  detail::check_option(name, options.initial_accumulator_value >= 0.0f, group,
                       "initial_accumulator_value", options.initial_accumulator_value,
                       "initial_accumulator_value >= 0");
  detail::check_option(name, options.eps >= 0.0f, group, "eps", options.eps, "eps >= 0");
}

}  // namespace

AdagradOptions AdagradParamGroup::resolve(const AdagradOptions& defaults) const {
  return {.lr = lr.value_or(defaults.lr), .lr_decay = lr_decay.value_or(defaults.lr_decay),
          .weight_decay = weight_decay.value_or(defaults.weight_decay),
          .initial_accumulator_value =
              initial_accumulator_value.value_or(defaults.initial_accumulator_value),
          .eps = eps.value_or(defaults.eps), .maximize = maximize.value_or(defaults.maximize)};
}

Adagrad::Adagrad(std::vector<Tensor> params, AdagradOptions options)
    : Adagrad(std::vector<AdagradParamGroup>{{.params = std::move(params)}}, options) {}

Adagrad::Adagrad(std::vector<AdagradParamGroup> groups, AdagradOptions defaults)
    : GroupedOptimizer("Adagrad", std::move(groups), defaults, check_adagrad_options) {
  step_slot_ = add_slot("step");
  sum_slot_ = add_slot("sum");
  for (std::size_t group = 0; group < num_param_groups(); ++group) on_param_group_added(group);
}

void Adagrad::on_param_group_added(std::size_t group) {
  for (std::size_t i = param_begin(group); i < param_end(group); ++i) {
    init_state(i, group_options(group));
  }
}

void Adagrad::init_state(std::size_t param_index, const AdagradOptions& options) {
  state(param_index, step_slot_) = detail::filled_state({1}, 0.0f);
  state(param_index, sum_slot_) =
      detail::filled_state(params_[param_index].shape(), options.initial_accumulator_value);
}

void Adagrad::update() {
  NoGradGuard no_grad;
  for (std::size_t group = 0; group < num_param_groups(); ++group) {
    const AdagradOptions& options = group_options(group);
    const double lr = options.lr;
    const float eps = options.eps;
    const float weight_decay = options.weight_decay;

    for (std::size_t i = param_begin(group); i < param_end(group); ++i) {
      Tensor& param = params_[i];
      const Tensor grad_tensor = param.grad();
      if (!grad_tensor.defined()) continue;
      // Loading a state without this parameter's entries leaves it fresh.
      if (!has_state(i)) init_state(i, options);
      float& step_count = state(i, step_slot_).data()[0];
      step_count += 1.0f;
      const double clr = lr / (1.0 + (static_cast<double>(step_count) - 1.0) *
                                         static_cast<double>(options.lr_decay));
      const float neg_clr = static_cast<float>(-clr);

      const std::int64_t n = param.numel();
      float* p = param.data();
      const float* grad = grad_tensor.data();
      float* sum = state(i, sum_slot_).data();
      for (std::int64_t k = 0; k < n; ++k) {
        float g = options.maximize ? -grad[k] : grad[k];
        if (weight_decay != 0.0f) g = std::fma(weight_decay, p[k], g);
        sum[k] = std::fma(g, g, sum[k]);
        const float std_dev = std::sqrt(sum[k]) + eps;
        p[k] = p[k] + (neg_clr * g) / std_dev;
      }
      param.bump_version();
    }
  }
}

}  // namespace tapegrad::optim
