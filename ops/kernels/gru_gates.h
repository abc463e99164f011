#pragma once
// Fused GRU cell pointwise math, PyTorch gate order r, z, n
// (https://pytorch.org/docs/stable/generated/torch.nn.GRU.html):
//   r = sigmoid(xr + hr), z = sigmoid(xz + hz), n = tanh(xn + r * hn), h = (1 - z) * n + z * h_prev
// where gates_x = x W_ih^T + b_ih and gates_h = h_prev W_hh^T + b_hh, both biases already added
// (so b_hn sits inside r * (...), as in PyTorch).
// Dimension letters: B batch, H hidden, G = 3H. All arrays row-major and contiguous.
#include <cstdint>

namespace tapegrad::kernels {

// gates_x [B,3H], gates_h [B,3H], h_prev [B,H] ->
// h [B,H], gates_act [B,3H] (r, z, n after their nonlinearity) and hn_saved [B,H] (the n third of
// gates_h, which backward needs, so the caller can drop gates_h itself).
void gru_gates_forward(float* h, float* gates_act, float* hn_saved, const float* gates_x,
                       const float* gates_h, const float* h_prev, std::int64_t B, std::int64_t H);
void gru_gates_forward_reference(float* h, float* gates_act, float* hn_saved,
                                 const float* gates_x, const float* gates_h, const float* h_prev,
                                 std::int64_t B, std::int64_t H);

// From grad_h [B,H] and the saved forward values: grad_gates_x [B,3H], grad_gates_h [B,3H] (equal
// in their r and z thirds; the n third of grad_gates_h is r times that of grad_gates_x) and
// grad_h_prev [B,H] (may be null), written, not added. grad_h_prev is only the direct path
// z * grad_h; the path through gates_h = h_prev W_hh^T belongs to the caller's matmul backward.
void gru_gates_backward(float* grad_gates_x, float* grad_gates_h, float* grad_h_prev,
                        const float* grad_h, const float* gates_act, const float* hn_saved,
                        const float* h_prev, std::int64_t B, std::int64_t H);
void gru_gates_backward_reference(float* grad_gates_x, float* grad_gates_h, float* grad_h_prev,
                                  const float* grad_h, const float* gates_act,
                                  const float* hn_saved, const float* h_prev, std::int64_t B,
                                  std::int64_t H);

}  // namespace tapegrad::kernels
