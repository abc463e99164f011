#pragma once
// Internal: the backward walk behind Tensor::backward.
#include "autograd/tensor.h"

namespace tapegrad {

// Runs reverse mode from `root`, seeded with `seed` (same shape as root). Without recursion:
// collect reachable nodes with an explicit stack, count each node's consumers, then run a ready
// queue where a node runs once all its consumers have added into its output gradients.
void run_backward(const Tensor& root, const Tensor& seed, BackwardOptions options);

}  // namespace tapegrad
