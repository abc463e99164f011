#include "autograd/gradcheck.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "autograd/grad_mode.h"
#include "autograd/tensor_impl.h"

namespace tapegrad {

namespace {

double projected(const Tensor& output, const Tensor& weights) {
  double total = 0.0;
  const float* y = output.data();
  const float* w = weights.data();
  for (std::int64_t i = 0, n = output.numel(); i < n; ++i) {
    total += static_cast<double>(y[i]) * static_cast<double>(w[i]);
  }
  return total;
}

}  // namespace

GradcheckResult gradcheck(const GradcheckFn& fn, const std::vector<Tensor>& inputs,
                          const GradcheckOptions& options) {
  if (std::none_of(inputs.begin(), inputs.end(),
                   [](const Tensor& t) { return t.defined() && t.requires_grad(); })) {
    throw ValueError("gradcheck: no input requires grad, so there is nothing to check");
  }
  if (!(options.eps > 0.0)) {
    throw ValueError("gradcheck: expected eps > 0, got " + std::to_string(options.eps));
  }

  // Analytic gradients, on detached leaf copies so the caller's .grad is untouched.
  std::vector<Tensor> leaves;
  leaves.reserve(inputs.size());
  for (const Tensor& input : inputs) {
    if (!input.defined()) {
      leaves.push_back(input);
      continue;
    }
    Tensor leaf = input.detach();
    leaf.requires_grad_(input.requires_grad());
    leaves.push_back(leaf);
  }
  Tensor output;
  {
    GradModeGuard grad_on(true);
    output = fn(leaves);
  }
  if (!output.defined()) throw ValueError("gradcheck: fn returned an undefined tensor");
  Generator generator(options.seed);
  Tensor weights = Tensor::uniform(output.shape(), -1.0f, 1.0f, generator);
  if (output.requires_grad()) output.backward(weights);

  GradcheckResult result;
  std::ostringstream report;
  int reported = 0;
  NoGradGuard no_grad;
  for (std::size_t i = 0; i < leaves.size(); ++i) {
    Tensor& leaf = leaves[i];
    if (!leaf.defined() || !leaf.requires_grad()) continue;
    Tensor analytic = leaf.grad();
    float* values = leaf.data();
    auto loss_at = [&](std::int64_t j, double offset) {
      const float original = values[j];
      values[j] = static_cast<float>(original + offset);
      const double loss = projected(fn(leaves), weights);
      values[j] = original;
      return loss;
    };
    for (std::int64_t j = 0, n = leaf.numel(); j < n; ++j) {
      // The step actually representable in float32 around x_j.
      const double x = values[j];
      const double h = static_cast<double>(static_cast<float>(x + options.eps)) - x;
      double numeric;
      if (options.four_point) {
        numeric = (8.0 * (loss_at(j, h) - loss_at(j, -h)) - (loss_at(j, 2 * h) - loss_at(j, -2 * h))) /
                  (12.0 * h);
      } else {
        numeric = (loss_at(j, h) - loss_at(j, -h)) / (2.0 * h);
      }
      const double analytic_j = analytic.defined() ? analytic.data()[j] : 0.0;
      const double abs_error = std::abs(analytic_j - numeric);
      const double rel_error = abs_error / std::max(std::abs(numeric), 1e-12);
      result.max_abs_error = std::max(result.max_abs_error, abs_error);
      if (abs_error > options.atol) result.max_rel_error = std::max(result.max_rel_error, rel_error);
      if (!std::isfinite(analytic_j) || abs_error > options.atol + options.rtol * std::abs(numeric)) {
        result.ok = false;
        if (reported++ < 8) {
          report << "input " << i << " element " << j << ": analytic " << analytic_j
                 << " numeric " << numeric << " (abs error " << abs_error << ")\n";
        }
      }
    }
  }
  if (!result.ok) {
    report << reported << " mismatching element(s); max abs error " << result.max_abs_error;
    result.report = report.str();
  }
  return result;
}

}  // namespace tapegrad
