#pragma once
// The loss ops, as torch.nn.functional (PyTorch 1.13) defines them in values and gradients. Each is
// a primitive with its own backward (ops/mse_loss.cpp, l1_loss.cpp, bce_loss.cpp,
// cross_entropy.cpp). Where we deliberately differ from PyTorch, the comment on the declaration
// says so:
// - input and target of the pointwise losses must have equal shapes. PyTorch broadcasts them with a
//   warning, and a [N] target against [N, 1] predictions silently becomes an [N, N] loss (the
//   classic tutorial bug); we throw ShapeError naming both shapes instead.
// - class weights, weight and pos_weight are constants, as in PyTorch (which refuses them when they
//   require grad); we throw ValueError at the call for the same case.
#include <cstdint>
#include <vector>

#include "autograd/tensor.h"

namespace tapegrad {

// How a loss combines its per-element values: keep (None), average (Mean) or add them (Sum).
enum class Reduction { None, Mean, Sum };

// (input - target)^2. Gradients flow to input and target.
Tensor mse_loss(const Tensor& input, const Tensor& target, Reduction reduction = Reduction::Mean);
// |input - target|; the gradient at input == target is 0, as PyTorch's sign().
Tensor l1_loss(const Tensor& input, const Tensor& target, Reduction reduction = Reduction::Mean);

// -weight * (t log(x) + (1 - t) log(1 - x)) for probabilities x in [0, 1] (ValueError otherwise,
// naming the value and its index); each log is clamped to >= -100 as in PyTorch, so x = 0 or 1
// stays finite. weight (optional) broadcasts to the input's shape. Target values are not
// range-checked (as in PyTorch 1.13). The target's gradient uses the same clamped logs (finite;
// PyTorch gives +-inf at x = 0 or 1).
Tensor binary_cross_entropy(const Tensor& input, const Tensor& target, const Tensor& weight = {},
                            Reduction reduction = Reduction::Mean);
// The same loss on logits, computed stably: (1 - t) x + (1 + (pos_weight - 1) t) softplus(-x),
// times weight. weight and pos_weight (optional; pos_weight usually [C]) broadcast to the input's
// shape.
Tensor binary_cross_entropy_with_logits(const Tensor& input, const Tensor& target,
                                        const Tensor& weight = {}, const Tensor& pos_weight = {},
                                        Reduction reduction = Reduction::Mean);

struct CrossEntropyOptions {
  // [C] class weights, optional. The explicit {} lets callers omit it in designated initializers
  // ({.reduction = Reduction::Sum}) without GCC 12's -Wmissing-field-initializers.
  Tensor weight{};
  // Targets equal to ignore_index add nothing, not even to the mean's divisor.
  std::int64_t ignore_index = -100;
  // Mean divides by the summed class weights of the non-ignored targets.
  Reduction reduction = Reduction::Mean;
  float label_smoothing = 0.0f;  // in [0, 1]; cross_entropy only
};

// Class-index cross entropy from unnormalised logits: [N, C] with N targets, [C] with one target
// (unbatched: the unreduced loss is 0-D), or [N, C, d1, ...] with N*d1*... targets in row-major
// order over (N, d1, ...) (the unreduced loss is [N, d1, ...]). Targets must be in [0, C) or
// ignore_index. When every target is ignored, Mean gives NaN with zero gradients, exactly as
// PyTorch 1.13: an all-padding batch is legitimate in sequence training, and zero gradients leave
// the parameters intact.
Tensor cross_entropy(const Tensor& logits, const std::vector<std::int64_t>& target,
                     const CrossEntropyOptions& options = {});
// -weight[y] * log_probs[y], with the same shapes and options (label_smoothing must be 0).
Tensor nll_loss(const Tensor& log_probs, const std::vector<std::int64_t>& target,
                const CrossEntropyOptions& options = {});

// The same losses with the targets as an int64 tensor (a batch of labels from a DataLoader), of
// PyTorch's target shapes: [N] for [N, C] scores, [] for [C], [N, d1, ...] for [N, C, d1, ...].
// TypeError for a float target, ShapeError naming both shapes for a target of another shape;
// then exactly as the vector overloads (one implementation), gradients flowing to the scores
// only. Class indices only: PyTorch's cross_entropy also takes a float target of the input's
// shape as class probabilities, which this does not (nll_loss, like PyTorch's, never does).
Tensor cross_entropy(const Tensor& logits, const Tensor& target,
                     const CrossEntropyOptions& options = {});
Tensor nll_loss(const Tensor& log_probs, const Tensor& target,
                const CrossEntropyOptions& options = {});

}  // namespace tapegrad
