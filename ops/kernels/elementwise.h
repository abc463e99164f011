#pragma once
// Vectorised pointwise math on raw contiguous arrays of n floats. out may alias x.
// sigmoid is computed as 1/(1+exp(-x)) for x >= 0 and exp(x)/(1+exp(x)) for x < 0, so neither
// branch overflows: finite and exact at +-50 and beyond.
#include <cstdint>

namespace tapegrad::kernels {

void sigmoid_forward(float* out, const float* x, std::int64_t n);
void tanh_forward(float* out, const float* x, std::int64_t n);
void exp_forward(float* out, const float* x, std::int64_t n);
void sigmoid_forward_reference(float* out, const float* x, std::int64_t n);
void tanh_forward_reference(float* out, const float* x, std::int64_t n);
void exp_forward_reference(float* out, const float* x, std::int64_t n);

}  // namespace tapegrad::kernels
