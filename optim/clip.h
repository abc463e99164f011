#pragma once
// Gradient clipping, as torch.nn.utils.clip_grad_norm_ / clip_grad_value_. Clipping is never
// implicit in tapegrad: call one of these between backward() and step().
#include <vector>

#include "autograd/tensor.h"

namespace tapegrad::optim {

// Scales every defined gradient in place by min(1, max_norm / (total_norm + 1e-6)), where
// total_norm is the norm_type-norm of all gradients viewed as one vector (norm_type may be
// INFINITY for the max-abs norm). Returns total_norm, measured before clipping; 0 when no
// parameter has a gradient.
// A non-finite total norm throws ValueError naming the first parameter whose gradient holds a
// NaN or inf, unless error_if_nonfinite is false: then the gradients are scaled anyway (PyTorch's
// behaviour, which spreads the NaN) and the non-finite norm is returned. Note PyTorch 1.13
// defaults error_if_nonfinite to false; tapegrad defaults to the safe side.
// Throws ValueError for max_norm < 0 or NaN, and for norm_type that is not > 0.
float clip_grad_norm_(const std::vector<Tensor>& params, float max_norm, float norm_type = 2.0f,
                      bool error_if_nonfinite = true);

// Clamps every defined gradient in place to [-clip_value, clip_value]; NaN stays NaN.
// Throws ValueError for clip_value < 0 or NaN.
void clip_grad_value_(const std::vector<Tensor>& params, float clip_value);

}  // namespace tapegrad::optim
