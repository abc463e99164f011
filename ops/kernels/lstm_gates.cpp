// Placeholder: the fused kernels forward to the references until the xsimd versions land.
#include "ops/kernels/lstm_gates.h"

#include <cmath>

namespace tapegrad::kernels {

namespace {
float sigmoid(float v) {
  if (v >= 0.0f) return 1.0f / (1.0f + std::exp(-v));
  const float e = std::exp(v);
  return e / (1.0f + e);
}
}  // namespace

void lstm_gates_forward_reference(float* h, float* c, float* gates_act, float* tanh_c,
                                  const float* gates_pre, const float* c_prev, std::int64_t B,
                                  std::int64_t H) {
  for (std::int64_t row = 0; row < B; ++row) {
    const float* pre = gates_pre + row * 4 * H;
    float* act = gates_act + row * 4 * H;
    for (std::int64_t j = 0; j < H; ++j) {
      const float i = sigmoid(pre[j]);
      const float f = sigmoid(pre[H + j]);
      const float g = std::tanh(pre[2 * H + j]);
      const float o = sigmoid(pre[3 * H + j]);
      const float c_new = f * c_prev[row * H + j] + i * g;
      const float t = std::tanh(c_new);
      act[j] = i;
      act[H + j] = f;
      act[2 * H + j] = g;
      act[3 * H + j] = o;
      c[row * H + j] = c_new;
      tanh_c[row * H + j] = t;
      h[row * H + j] = o * t;
    }
  }
}

void lstm_gates_backward_reference(float* grad_gates_pre, float* grad_c_prev,
                                   const float* grad_h, const float* grad_c,
                                   const float* gates_act, const float* tanh_c,
                                   const float* c_prev, std::int64_t B, std::int64_t H) {
  for (std::int64_t row = 0; row < B; ++row) {
    const float* act = gates_act + row * 4 * H;
    float* grad_pre = grad_gates_pre + row * 4 * H;
    for (std::int64_t j = 0; j < H; ++j) {
      const std::int64_t at = row * H + j;
      const float i = act[j], f = act[H + j], g = act[2 * H + j], o = act[3 * H + j];
      const float t = tanh_c[at];
      const float dh = grad_h ? grad_h[at] : 0.0f;
      // dL/dc = dL/dc (from later steps) + dL/dh * o * (1 - tanh(c)^2)
      const float dc = (grad_c ? grad_c[at] : 0.0f) + dh * o * (1.0f - t * t);
      grad_pre[j] = dc * g * i * (1.0f - i);
      grad_pre[H + j] = dc * c_prev[at] * f * (1.0f - f);
      grad_pre[2 * H + j] = dc * i * (1.0f - g * g);
      grad_pre[3 * H + j] = dh * t * o * (1.0f - o);
      if (grad_c_prev) grad_c_prev[at] = dc * f;
    }
  }
}

void lstm_gates_forward(float* h, float* c, float* gates_act, float* tanh_c,
                        const float* gates_pre, const float* c_prev, std::int64_t B,
                        std::int64_t H) {
  lstm_gates_forward_reference(h, c, gates_act, tanh_c, gates_pre, c_prev, B, H);
}

void lstm_gates_backward(float* grad_gates_pre, float* grad_c_prev, const float* grad_h,
                         const float* grad_c, const float* gates_act, const float* tanh_c,
                         const float* c_prev, std::int64_t B, std::int64_t H) {
  lstm_gates_backward_reference(grad_gates_pre, grad_c_prev, grad_h, grad_c, gates_act, tanh_c,
                                c_prev, B, H);
}

}  // namespace tapegrad::kernels
