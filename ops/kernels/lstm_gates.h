#pragma once
// Fused LSTM cell pointwise math, PyTorch gate order i, f, g, o
// (https://pytorch.org/docs/stable/generated/torch.nn.LSTM.html):
//   i = sigmoid(gi), f = sigmoid(gf), g = tanh(gg), o = sigmoid(go)
//   c = f * c_prev + i * g,  h = o * tanh(c)
// Dimension letters: B batch, H hidden, G = 4H. All arrays row-major and contiguous.
#include <cstdint>

namespace tapegrad::kernels {

// gates_pre [B,4H] (the summed pre-activations), c_prev [B,H] ->
// h [B,H], c [B,H], gates_act [B,4H] (i,f,g,o after their nonlinearity), tanh_c [B,H].
// gates_act may be gates_pre itself (activated in place: every block is read before it is written).
void lstm_gates_forward(float* h, float* c, float* gates_act, float* tanh_c,
                        const float* gates_pre, const float* c_prev, std::int64_t B,
                        std::int64_t H);
void lstm_gates_forward_reference(float* h, float* c, float* gates_act, float* tanh_c,
                                  const float* gates_pre, const float* c_prev, std::int64_t B,
                                  std::int64_t H);

// From grad_h and grad_c [B,H] (either may be null, meaning zero) and the saved forward values:
// grad_gates_pre [B,4H] and grad_c_prev [B,H] (may be null when not needed), written, not added.
void lstm_gates_backward(float* grad_gates_pre, float* grad_c_prev, const float* grad_h,
                         const float* grad_c, const float* gates_act, const float* tanh_c,
                         const float* c_prev, std::int64_t B, std::int64_t H);
void lstm_gates_backward_reference(float* grad_gates_pre, float* grad_c_prev,
                                   const float* grad_h, const float* grad_c,
                                   const float* gates_act, const float* tanh_c,
                                   const float* c_prev, std::int64_t B, std::int64_t H);

}  // namespace tapegrad::kernels
