// Placeholder: the vectorised kernels forward to the references until the xsimd versions land.
#include "ops/kernels/elementwise.h"

#include <cmath>

namespace tapegrad::kernels {

void sigmoid_forward_reference(float* out, const float* x, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) {
    const float v = x[i];
    if (v >= 0.0f) {
      out[i] = 1.0f / (1.0f + std::exp(-v));
    } else {
      const float e = std::exp(v);
      out[i] = e / (1.0f + e);
    }
  }
}

void tanh_forward_reference(float* out, const float* x, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) out[i] = std::tanh(x[i]);
}

void exp_forward_reference(float* out, const float* x, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) out[i] = std::exp(x[i]);
}

void sigmoid_forward(float* out, const float* x, std::int64_t n) {
  sigmoid_forward_reference(out, x, n);
}
void tanh_forward(float* out, const float* x, std::int64_t n) { tanh_forward_reference(out, x, n); }
void exp_forward(float* out, const float* x, std::int64_t n) { exp_forward_reference(out, x, n); }

}  // namespace tapegrad::kernels
