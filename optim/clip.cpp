// clip_grad_norm_ follows torch.nn.utils.clip_grad_norm_ (1.13,
// https://pytorch.org/docs/1.13/generated/torch.nn.utils.clip_grad_norm_.html):
//   total = norm([norm(g_0), norm(g_1), ...])  (for inf: max over all |g|)
//   coef = min(max_norm / (total + 1e-6), 1);  g *= coef for every gradient
// Each gradient's norm is accumulated in double and rounded to float, as torch.norm returns a
// float tensor; the coefficient is then computed in float like PyTorch's tensor arithmetic.
#include "optim/clip.h"

#include <algorithm>
#include <cmath>

#include "autograd/grad_mode.h"
#include "optim/optimizer.h"

namespace tapegrad::optim {

namespace {

float grad_norm(const Tensor& grad, double norm_type) {
  const float* values = grad.data();
  const std::int64_t n = grad.numel();
  if (std::isinf(norm_type)) {
    float largest = 0.0f;
    for (std::int64_t k = 0; k < n; ++k) {
      const float magnitude = std::fabs(values[k]);
      if (std::isnan(magnitude)) return magnitude;
      largest = std::max(largest, magnitude);
    }
    return largest;
  }
  double total = 0.0;
  if (norm_type == 2.0) {
    for (std::int64_t k = 0; k < n; ++k) total += static_cast<double>(values[k]) * values[k];
    return static_cast<float>(std::sqrt(total));
  }
  for (std::int64_t k = 0; k < n; ++k) total += std::pow(std::fabs(double{values[k]}), norm_type);
  return static_cast<float>(std::pow(total, 1.0 / norm_type));
}

// The same p-norm over already-computed per-gradient norms.
float norm_of_norms(const std::vector<float>& norms, double norm_type) {
  Tensor stacked = Tensor::from_vector(norms, {static_cast<std::int64_t>(norms.size())});
  return grad_norm(stacked, norm_type);
}

bool all_finite(const Tensor& grad) {
  const float* values = grad.data();
  for (std::int64_t k = 0; k < grad.numel(); ++k) {
    if (!std::isfinite(values[k])) return false;
  }
  return true;
}

std::string describe_param(const Tensor& param, std::size_t index) {
  std::string text = "parameter " + std::to_string(index);
  if (!param.name().empty()) text += " ('" + param.name() + "')";
  return text;
}

}  // namespace

float clip_grad_norm_(const std::vector<Tensor>& params, float max_norm, float norm_type,
                      bool error_if_nonfinite) {
  if (!(max_norm >= 0.0f)) {
    throw ValueError("clip_grad_norm_: invalid max_norm: " + detail::format_number(max_norm) +
                     " (expected max_norm >= 0)");
  }
  if (!(norm_type > 0.0f)) {
    throw ValueError("clip_grad_norm_: invalid norm_type: " + detail::format_number(norm_type) +
                     " (expected norm_type > 0, or INFINITY for the max norm)");
  }
  for (std::size_t i = 0; i < params.size(); ++i) {
    if (!params[i].defined()) {
      throw ValueError("clip_grad_norm_: parameter " + std::to_string(i) + " is undefined");
    }
  }
  std::vector<Tensor> grads;
  std::vector<std::size_t> owners;
  std::vector<float> norms;
  for (std::size_t i = 0; i < params.size(); ++i) {
    Tensor grad = params[i].grad();
    if (!grad.defined()) continue;
    norms.push_back(grad_norm(grad, norm_type));
    grads.push_back(std::move(grad));
    owners.push_back(i);
  }
  if (grads.empty()) return 0.0f;
  const float total_norm = norm_of_norms(norms, norm_type);

  if (error_if_nonfinite && !std::isfinite(total_norm)) {
    std::string culprit = "every gradient is finite, but their norm overflows float";
    for (std::size_t j = 0; j < grads.size(); ++j) {
      if (!all_finite(grads[j])) {
        culprit = "the first non-finite gradient is that of " +
                  describe_param(params[owners[j]], owners[j]);
        break;
      }
    }
    throw ValueError("clip_grad_norm_: the total norm of order " +
                     detail::format_number(norm_type) + " of the gradients is non-finite (" +
                     detail::format_number(total_norm) + "), so they cannot be clipped; " +
                     culprit + ". Pass error_if_nonfinite = false to scale them anyway");
  }

  const float clip_coef = max_norm / (total_norm + 1e-6f);
  // Multiplying by 1 when no clipping is needed matches PyTorch, which avoids the branch too.
  const float clip_coef_clamped = std::isnan(clip_coef) ? clip_coef : std::min(clip_coef, 1.0f);
  NoGradGuard no_grad;
  for (Tensor& grad : grads) {
    float* values = grad.data();
    for (std::int64_t k = 0; k < grad.numel(); ++k) values[k] *= clip_coef_clamped;
    grad.bump_version();
  }
  return total_norm;
}

void clip_grad_value_(const std::vector<Tensor>& params, float clip_value) {
  if (!(clip_value >= 0.0f)) {
    throw ValueError("clip_grad_value_: invalid clip_value: " + detail::format_number(clip_value) +
                     " (expected clip_value >= 0)");
  }
  for (std::size_t i = 0; i < params.size(); ++i) {
    if (!params[i].defined()) {
      throw ValueError("clip_grad_value_: parameter " + std::to_string(i) + " is undefined");
    }
  }
  NoGradGuard no_grad;
  for (const Tensor& param : params) {
    Tensor grad = param.grad();
    if (!grad.defined()) continue;
    float* values = grad.data();
    for (std::int64_t k = 0; k < grad.numel(); ++k) {
      // std::clamp would turn NaN into a bound; PyTorch's clamp_ keeps it.
      if (values[k] < -clip_value) values[k] = -clip_value;
      if (values[k] > clip_value) values[k] = clip_value;
    }
    grad.bump_version();
  }
}

}  // namespace tapegrad::optim
