#pragma once
// Loss modules with PyTorch's names, thin wrappers over ops/losses.h for code written the
// tutorials' way: `nn::MSELoss loss_fn; Tensor loss = loss_fn(prediction, target);`.
#include <cstdint>
#include <vector>

#include "ops/losses.h"

namespace tapegrad::nn {

struct MSELoss {
  Reduction reduction = Reduction::Mean;
  Tensor operator()(const Tensor& input, const Tensor& target) const {
    return mse_loss(input, target, reduction);
  }
};

struct L1Loss {
  Reduction reduction = Reduction::Mean;
  Tensor operator()(const Tensor& input, const Tensor& target) const {
    return l1_loss(input, target, reduction);
  }
};

struct BCELoss {
  Tensor weight{};
  Reduction reduction = Reduction::Mean;
  Tensor operator()(const Tensor& input, const Tensor& target) const {
    return binary_cross_entropy(input, target, weight, reduction);
  }
};

struct BCEWithLogitsLoss {
  Tensor weight{};
  Tensor pos_weight{};
  Reduction reduction = Reduction::Mean;
  Tensor operator()(const Tensor& input, const Tensor& target) const {
    return binary_cross_entropy_with_logits(input, target, weight, pos_weight, reduction);
  }
};

struct CrossEntropyLoss {
  CrossEntropyOptions options{};
  Tensor operator()(const Tensor& logits, const std::vector<std::int64_t>& target) const {
    return cross_entropy(logits, target, options);
  }
};

struct NLLLoss {
  CrossEntropyOptions options{};
  Tensor operator()(const Tensor& log_probs, const std::vector<std::int64_t>& target) const {
    return nll_loss(log_probs, target, options);
  }
};

}  // namespace tapegrad::nn
