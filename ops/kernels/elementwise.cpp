// Pointwise sigmoid, tanh and exp on n contiguous floats: an xsimd loop over full batches
// (16 lanes in the AVX-512 build, 8 with AVX2, 4 with SSE2) and a scalar tail, plus the plain std:: references the
// tests compare against. Loads happen before stores within a batch, so out may alias x.
#include "ops/kernels/elementwise.h"
#include "ops/kernels/isa_namespace.h"

#include <cmath>

#include "ops/kernels/pointwise_simd.h"

namespace tapegrad::kernels::inline TAPEGRAD_KERNEL_ISA {

namespace {

using detail::FloatBatch;
using detail::kLanes;

// Applies batch_fn to every full batch and scalar_fn to the remaining n % kLanes elements.
template <class BatchFn, class ScalarFn>
void map_pointwise(float* out, const float* x, std::int64_t n, BatchFn batch_fn,
                   ScalarFn scalar_fn) {
  std::int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    batch_fn(xsimd::load_unaligned(x + i)).store_unaligned(out + i);
  }
  for (; i < n; ++i) out[i] = scalar_fn(x[i]);
}

}  // namespace

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
  map_pointwise(
      out, x, n, [](const FloatBatch& v) { return detail::sigmoid_batch(v); },
      [](float v) { return detail::sigmoid_scalar(v); });
}

// xsimd::tanh saturates to exactly +-1 (it goes through 1 - 2/(1+exp(2|x|)) for |x| >= 0.625)
// and propagates NaN.
void tanh_forward(float* out, const float* x, std::int64_t n) {
  map_pointwise(
      out, x, n, [](const FloatBatch& v) { return xsimd::tanh(v); },
      [](float v) { return std::tanh(v); });
}

void exp_forward(float* out, const float* x, std::int64_t n) {
  map_pointwise(
      out, x, n, [](const FloatBatch& v) { return xsimd::exp(v); },
      [](float v) { return std::exp(v); });
}

}  // namespace tapegrad::kernels::TAPEGRAD_KERNEL_ISA
