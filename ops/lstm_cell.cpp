// lstm_cell: one fused LSTM step, gates_pre [B, 4H] (i, f, g, o) and c_prev [B, H] -> h, c.
//   c = sigmoid(f) c_prev + sigmoid(i) tanh(g),  h = sigmoid(o) tanh(c)
// Backward from the saved activations (ops/kernels/lstm_gates.h): one pass gives d gates_pre and
// d c_prev. nn::LSTMCell and hand-written cells use it; whole sequences use lstm_layer.
#include "autograd/node.h"
#include "ops/kernels/lstm_gates.h"
#include "ops/recurrent.h"

namespace tapegrad {

std::vector<Tensor> lstm_cell(const Tensor& gates_pre, const Tensor& c_prev) {
  constexpr const char* op = "lstm_cell";
  if (!gates_pre.defined() || !c_prev.defined()) {
    throw ValueError(std::string(op) + ": gates_pre and c_prev must be defined");
  }
  check_floating(op, "gates_pre", gates_pre);
  check_floating(op, "c_prev", c_prev);
  check_rank(op, "c_prev [B, H]", c_prev.shape(), 2);
  const std::int64_t B = c_prev.size(0);
  const std::int64_t H = c_prev.size(1);
  check_same_shape(op, "gates_pre", Shape{B, 4 * H}, gates_pre.shape());

  Tensor h = Tensor::empty({B, H});
  Tensor c = Tensor::empty({B, H});
  Tensor gates_act = Tensor::empty({B, 4 * H});
  Tensor tanh_c = Tensor::empty({B, H});
  kernels::lstm_gates_forward(h.data(), c.data(), gates_act.data(), tanh_c.data(),
                              gates_pre.data(), c_prev.data(), B, H);
  record(op, {gates_pre, c_prev}, {h, c}, {c_prev}, [=](BackwardContext& ctx) {
    Tensor grad_gates = Tensor::empty({B, 4 * H});
    Tensor grad_c_prev = Tensor::empty({B, H});
    kernels::lstm_gates_backward(grad_gates.data(), grad_c_prev.data(), ctx.grad_output(0).data(),
                                 ctx.grad_output(1).data(), gates_act.data(), tanh_c.data(),
                                 ctx.saved(0).data(), B, H);
    ctx.accumulate(0, grad_gates);
    ctx.accumulate(1, grad_c_prev);
  });
  return {h, c};
}

}  // namespace tapegrad
