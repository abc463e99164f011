// The built-in cells as CellKernel descriptors over their hand-written step kernels, and the
// lstm_layer / gru_layer / rnn_layer ops, which are the layer driver (recurrent_layer.cpp) run
// with them. Semantics are PyTorch's (https://pytorch.org/docs/stable/generated/torch.nn.LSTM.html,
// .../torch.nn.GRU.html, .../torch.nn.RNN.html):
//   LSTM (i, f, g, o): c = sigmoid(f) c_prev + sigmoid(i) tanh(g), h = sigmoid(o) tanh(c);
//     kept: the activated gates in place, tanh(c) in kept_extra.
//   GRU (r, z, n): r = sigmoid(xr + hr), z = sigmoid(xz + hz), n = tanh(xn + r hn),
//     h = (1 - z) n + z h_prev; b_hh stays inside r * (...), so pre_h is kept apart (split).
//     kept: r, z, n in place, hn in kept_extra.
//   RNN: h = act(pre), act tanh or relu; kept: h in place. Backward from the saved output:
//     tanh' = 1 - h^2, relu' = [h > 0] (relu'(0) = 0, as PyTorch).
#include <algorithm>

#include "autograd/errors.h"
#include "ops/kernels/elementwise.h"
#include "ops/kernels/gru_gates.h"
#include "ops/kernels/lstm_gates.h"
#include "ops/recurrent.h"

namespace tapegrad {

namespace {

void lstm_forward(const CellStepForward& s) {
  kernels::lstm_gates_forward(s.h, s.c, s.pre, s.kept_extra, s.pre, s.c_prev, s.B, s.H);
}
void lstm_backward(const CellStepBackward& s) {
  kernels::lstm_gates_backward(s.grad_pre, s.grad_c_prev, s.grad_h, s.grad_c, s.kept,
                               s.kept_extra, s.c_prev, s.B, s.H);
}

void gru_forward(const CellStepForward& s) {
  kernels::gru_gates_forward(s.h, s.pre, s.kept_extra, s.pre, s.pre_h, s.h_prev, s.B, s.H);
}
void gru_backward(const CellStepBackward& s) {
  kernels::gru_gates_backward(s.grad_pre, s.grad_pre_h, s.grad_h_prev, s.grad_h, s.kept,
                              s.kept_extra, s.h_prev, s.B, s.H);
}

void rnn_tanh_forward(const CellStepForward& s) {
  kernels::tanh_forward(s.pre, s.pre, s.B * s.H);
  std::copy_n(s.pre, s.B * s.H, s.h);
}
void rnn_tanh_backward(const CellStepBackward& s) {
  for (std::int64_t i = 0; i < s.B * s.H; ++i) {
    s.grad_pre[i] = s.grad_h[i] * (1.0f - s.kept[i] * s.kept[i]);
  }
}

void rnn_relu_forward(const CellStepForward& s) {
  for (std::int64_t i = 0; i < s.B * s.H; ++i) {
    const float h = s.pre[i] > 0.0f ? s.pre[i] : 0.0f;
    s.pre[i] = h;
    s.h[i] = h;
  }
}
void rnn_relu_backward(const CellStepBackward& s) {
  for (std::int64_t i = 0; i < s.B * s.H; ++i) {
    s.grad_pre[i] = s.kept[i] > 0.0f ? s.grad_h[i] : 0.0f;
  }
}

const CellKernel kLSTM{"lstm", 4, true, false, false, 5, 0, lstm_forward, lstm_backward};
const CellKernel kGRU{"gru", 3, false, true, true, 4, 0, gru_forward, gru_backward};
const CellKernel kRNNTanh{"rnn_tanh", 1, false, false, false, 1, 0, rnn_tanh_forward,
                          rnn_tanh_backward};
const CellKernel kRNNReLU{"rnn_relu", 1, false, false, false, 1, 0, rnn_relu_forward,
                          rnn_relu_backward};

}  // namespace

const CellKernel& builtin_cell(const std::string& name) {
  for (const CellKernel* cell : {&kLSTM, &kGRU, &kRNNTanh, &kRNNReLU}) {
    if (cell->name == name) return *cell;
  }
  throw ValueError("builtin_cell: unknown cell \"" + name +
                   "\"; the built-in cells are lstm, gru, rnn_tanh, rnn_relu");
}

RecurrentResult lstm_layer(const Tensor& x, const Tensor& h0, const Tensor& c0,
                           const Tensor& weight_ih, const Tensor& weight_hh,
                           const Tensor& bias_ih, const Tensor& bias_hh, const Tensor& weight_hr,
                           const std::vector<std::int64_t>& lengths, bool reverse) {
  return recurrent_layer("lstm_layer", kLSTM, x, h0, c0,
                         {weight_ih, weight_hh, bias_ih, bias_hh, weight_hr, {}}, lengths,
                         reverse);
}

RecurrentResult gru_layer(const Tensor& x, const Tensor& h0, const Tensor& weight_ih,
                          const Tensor& weight_hh, const Tensor& bias_ih, const Tensor& bias_hh,
                          const std::vector<std::int64_t>& lengths, bool reverse) {
  return recurrent_layer("gru_layer", kGRU, x, h0, Tensor(),
                         {weight_ih, weight_hh, bias_ih, bias_hh, Tensor(), {}}, lengths, reverse);
}

RecurrentResult rnn_layer(const Tensor& x, const Tensor& h0, const Tensor& weight_ih,
                          const Tensor& weight_hh, const Tensor& bias_ih, const Tensor& bias_hh,
                          RNNNonlinearity nonlinearity, const std::vector<std::int64_t>& lengths,
                          bool reverse) {
  const CellKernel& cell = nonlinearity == RNNNonlinearity::Tanh ? kRNNTanh : kRNNReLU;
  return recurrent_layer("rnn_layer", cell, x, h0, Tensor(),
                         {weight_ih, weight_hh, bias_ih, bias_hh, Tensor(), {}}, lengths, reverse);
}

}  // namespace tapegrad
