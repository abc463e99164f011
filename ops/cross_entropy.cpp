// cross_entropy over the classes c of logits z at one position with target y, class weights w
// (1 if absent), W = sum_c w_c and label smoothing e (PyTorch 1.13's formula):
//   l = (1 - e) w_y (lse - z_y) + (e / C) sum_c w_c (lse - z_c),  lse = max z + log sum e^(z - max
//   z) dl/dz_c = p_c ((1 - e) w_y + (e / C) W) - (1 - e) w_y [c == y] - (e / C) w_c,  p =
//   softmax(z):
// softmax minus the smoothed, weighted one-hot, in one pass. Shifting by max z keeps every exp <=
// 1, so logits of +-1000 stay finite. nll_loss: l = -w_y x_y, dl/dx_y = -w_y. Ignored positions add
// nothing; Mean divides by the sum of w_y over the others (0 / 0 = NaN when all are ignored).
#include <algorithm>
#include <cmath>
#include <limits>

#include "autograd/node.h"
#include "ops/loss_common.h"
#include "ops/losses.h"

namespace tapegrad {

namespace {

// Scores [C] (one position), [N, C] or [N, C, d1, ...]: position p = n * inner + s reads class c
// at base(p) + c * inner.
struct ClassLayout {
  std::int64_t batch = 1;
  std::int64_t classes = 0;
  std::int64_t inner = 1;
  Shape loss_shape;  // of the unreduced loss: [], [N] or [N, d1, ...]
  std::int64_t positions() const { return batch * inner; }
  std::int64_t base(std::int64_t position) const {
    return (position / inner) * classes * inner + position % inner;
  }
};

ClassLayout check_arguments(const char* op, const char* what, const Tensor& scores,
                            const std::vector<std::int64_t>& target,
                            const CrossEntropyOptions& options) {
  loss_detail::check_defined(op, what, scores);
  const Shape& shape = scores.shape();
  if (shape.empty()) {
    throw ShapeError(std::string(op) + ": expected " + what +
                     " of shape [C], [N, C] or [N, C, d1, ...], got []");
  }
  ClassLayout layout;
  std::string per_target = " (unbatched)";
  if (shape.size() == 1) {
    layout.classes = shape[0];
  } else {
    layout.batch = shape[0];
    layout.classes = shape[1];
    layout.loss_shape = {shape[0]};
    for (std::size_t d = 2; d < shape.size(); ++d) {
      layout.inner *= shape[d];
      layout.loss_shape.push_back(shape[d]);
    }
    per_target = shape.size() == 2
                     ? " (one per sample)"
                     : " (one per position of " + format_shape(layout.loss_shape) + ", row-major)";
  }
  if (static_cast<std::int64_t>(target.size()) != layout.positions()) {
    throw ShapeError(std::string(op) + ": " + what + " of shape " + format_shape(shape) + " need " +
                     std::to_string(layout.positions()) + " target(s)" + per_target + ", got " +
                     std::to_string(target.size()));
  }
  if (options.weight.defined()) {
    check_same_shape(op, "weight (one per class)", {layout.classes}, options.weight.shape());
    loss_detail::check_constant(op, "weight", options.weight);
  }
  if (!(options.label_smoothing >= 0.0f && options.label_smoothing <= 1.0f)) {
    throw ValueError(std::string(op) + ": expected label_smoothing in [0, 1], got " +
                     loss_detail::format_value(options.label_smoothing));
  }
  for (std::size_t p = 0; p < target.size(); ++p) {
    const std::int64_t y = target[p];
    if (y != options.ignore_index && (y < 0 || y >= layout.classes)) {
      throw IndexError(std::string(op) + ": target " + std::to_string(y) + " at position " +
                       std::to_string(p) + " is out of range for " +
                       std::to_string(layout.classes) + " classes (expected 0 <= target < " +
                       std::to_string(layout.classes) + ", or ignore_index " +
                       std::to_string(options.ignore_index) + ")");
    }
  }
  return layout;
}

const float* data_or_null(const Tensor& tensor) {
  return tensor.defined() ? tensor.data() : nullptr;
}

double class_weight(const float* weight, std::int64_t c) {
  return weight ? static_cast<double>(weight[c]) : 1.0;
}

// log sum_c e^z_c over `classes` values `stride` apart.
double log_sum_exp(const float* z, std::int64_t classes, std::int64_t stride) {
  float max = -std::numeric_limits<float>::infinity();
  for (std::int64_t c = 0; c < classes; ++c) max = std::max(max, z[c * stride]);
  double sum = 0.0;
  for (std::int64_t c = 0; c < classes; ++c) {
    sum += std::exp(static_cast<double>(z[c * stride]) - static_cast<double>(max));
  }
  return static_cast<double>(max) + std::log(sum);
}

}  // namespace

Tensor cross_entropy(const Tensor& logits, const std::vector<std::int64_t>& target,
                     const CrossEntropyOptions& options) {
  constexpr const char* op = "cross_entropy";
  const ClassLayout layout = check_arguments(op, "logits", logits, target, options);
  const std::int64_t classes = layout.classes;
  const std::int64_t stride = layout.inner;
  const std::int64_t ignore_index = options.ignore_index;
  const Reduction reduction = options.reduction;
  const double smoothing = options.label_smoothing;
  const float* weight = data_or_null(options.weight);
  double weight_total = 0.0;  // W
  for (std::int64_t c = 0; c < classes; ++c) weight_total += class_weight(weight, c);

  std::vector<double> log_normalizer(target.size(), 0.0);  // lse per position, for the backward
  Tensor per_position = Tensor::empty(layout.loss_shape);
  float* loss = per_position.data();
  double denominator = 0.0;
  for (std::int64_t p = 0; p < layout.positions(); ++p) {
    const std::int64_t y = target[static_cast<std::size_t>(p)];
    if (y == ignore_index) {
      loss[p] = 0.0f;
      continue;
    }
    const float* z = logits.data() + layout.base(p);
    const double lse = log_sum_exp(z, classes, stride);
    log_normalizer[static_cast<std::size_t>(p)] = lse;
    const double weight_y = class_weight(weight, y);
    double value = (1.0 - smoothing) * weight_y * (lse - z[y * stride]);
    if (smoothing > 0.0) {
      double spread = 0.0;
      for (std::int64_t c = 0; c < classes; ++c) {
        spread += class_weight(weight, c) * (lse - z[c * stride]);
      }
      value += smoothing / static_cast<double>(classes) * spread;
    }
    loss[p] = static_cast<float>(value);
    denominator += weight_y;
  }
  Tensor out = loss_detail::reduce_loss(per_position, reduction, denominator);
  record(op, {logits}, {out}, {logits, options.weight},
         [layout, target, log_normalizer, ignore_index, reduction, smoothing, denominator,
          weight_total](BackwardContext& ctx) {
           const loss_detail::LossGradSeed seed(ctx.grad_output(0), reduction, denominator);
           const Tensor& saved_logits = ctx.saved(0);
           const float* weight = data_or_null(ctx.saved(1));
           const std::int64_t classes = layout.classes;
           const std::int64_t stride = layout.inner;
           const double spread_scale = smoothing / static_cast<double>(classes);
           Tensor grad_logits = Tensor::zeros(saved_logits.shape());
           for (std::int64_t p = 0; p < layout.positions(); ++p) {
             const std::int64_t y = target[static_cast<std::size_t>(p)];
             if (y == ignore_index) continue;
             const float* z = saved_logits.data() + layout.base(p);
             float* grad_z = grad_logits.data() + layout.base(p);
             const double lse = log_normalizer[static_cast<std::size_t>(p)];
             const double hit = (1.0 - smoothing) * class_weight(weight, y);
             const double prob_scale = hit + spread_scale * weight_total;
             const double scale = seed[p];
             for (std::int64_t c = 0; c < classes; ++c) {
               const double prob = std::exp(static_cast<double>(z[c * stride]) - lse);
               const double target_mass =
                   (c == y ? hit : 0.0) + spread_scale * class_weight(weight, c);
               grad_z[c * stride] = static_cast<float>(scale * (prob * prob_scale - target_mass));
             }
           }
           ctx.accumulate(0, std::move(grad_logits));
         });
  return out;
}

Tensor nll_loss(const Tensor& log_probs, const std::vector<std::int64_t>& target,
                const CrossEntropyOptions& options) {
  constexpr const char* op = "nll_loss";
  const ClassLayout layout = check_arguments(op, "log_probs", log_probs, target, options);
  if (options.label_smoothing != 0.0f) {
    throw ValueError(std::string(op) +
                     ": expected label_smoothing 0 (it is a cross_entropy "
                     "option), got " +
                     loss_detail::format_value(options.label_smoothing));
  }
  const std::int64_t stride = layout.inner;
  const std::int64_t ignore_index = options.ignore_index;
  const Reduction reduction = options.reduction;
  const float* weight = data_or_null(options.weight);

  Tensor per_position = Tensor::empty(layout.loss_shape);
  float* loss = per_position.data();
  double denominator = 0.0;
  for (std::int64_t p = 0; p < layout.positions(); ++p) {
    const std::int64_t y = target[static_cast<std::size_t>(p)];
    if (y == ignore_index) {
      loss[p] = 0.0f;
      continue;
    }
    const double weight_y = class_weight(weight, y);
    loss[p] = static_cast<float>(-weight_y * log_probs.data()[layout.base(p) + y * stride]);
    denominator += weight_y;
  }
  Tensor out = loss_detail::reduce_loss(per_position, reduction, denominator);
  record(op, {log_probs}, {out}, {options.weight},
         [layout, target, ignore_index, reduction, denominator,
          shape = log_probs.shape()](BackwardContext& ctx) {
           const loss_detail::LossGradSeed seed(ctx.grad_output(0), reduction, denominator);
           const float* weight = data_or_null(ctx.saved(0));
           Tensor grad_log_probs = Tensor::zeros(shape);
           for (std::int64_t p = 0; p < layout.positions(); ++p) {
             const std::int64_t y = target[static_cast<std::size_t>(p)];
             if (y == ignore_index) continue;
             grad_log_probs.data()[layout.base(p) + y * layout.inner] =
                 static_cast<float>(-seed[p] * class_weight(weight, y));
           }
           ctx.accumulate(0, std::move(grad_log_probs));
         });
  return out;
}

// ---- int64 target tensors: checked here, then the vector overloads above (one implementation)

namespace {

// The target's values after PyTorch's dtype and shape rules: int64, of the unreduced loss's shape
// ([] for [C] scores, [N] for [N, C], [N, d1, ...] for [N, C, d1, ...]).
std::vector<std::int64_t> target_values(const char* op, const char* what, const Tensor& scores,
                                        const Tensor& target) {
  loss_detail::check_defined(op, what, scores);
  if (!target.defined()) throw ValueError(std::string(op) + ": target is undefined");
  check_int64(op, "target", target);
  const Shape& shape = scores.shape();
  if (shape.empty()) return {};  // the vector overload names the bad scores shape
  Shape expected;
  if (shape.size() >= 2) {
    expected.push_back(shape[0]);
    expected.insert(expected.end(), shape.begin() + 2, shape.end());
  }
  if (target.shape() != expected) {
    throw ShapeError(std::string(op) + ": " + what + " of shape " + format_shape(shape) +
                     " need a target of shape " + format_shape(expected) + ", got shape " +
                     format_shape(target.shape()));
  }
  return target.to_vector_i64();
}

}  // namespace

Tensor cross_entropy(const Tensor& logits, const Tensor& target,
                     const CrossEntropyOptions& options) {
  return cross_entropy(logits, target_values("cross_entropy", "logits", logits, target), options);
}

Tensor nll_loss(const Tensor& log_probs, const Tensor& target, const CrossEntropyOptions& options) {
  return nll_loss(log_probs, target_values("nll_loss", "log_probs", log_probs, target), options);
}

}  // namespace tapegrad
