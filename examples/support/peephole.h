#pragma once
// A user-defined op and a user-defined recurrent cell, written outside the library with only
// tapegrad's public headers: what examples/custom_op.cpp demonstrates and
// tests/examples/test_custom_op.cpp checks.
#include "autograd/generator.h"
#include "autograd/tensor.h"
#include "nn/module.h"
#include "nn/rnn.h"

namespace examples {

// softsign(x) = x / (1 + |x|), a cheap saturating activation; d/dx = 1 / (1 + |x|)^2.
// Defined with tapegrad::record(): forward, then the backward lambda beside it, each one xtensor
// expression over views of the tensors (autograd/xtensor_view.h).
tapegrad::Tensor softsign(const tapegrad::Tensor& x);
// The same op written with raw loops: its reference, and the baseline of bench_xtensor_op.
tapegrad::Tensor softsign_raw_loop(const tapegrad::Tensor& x);

// A peephole LSTM cell (Gers & Schmidhuber 2000) built from generic ops plus softsign:
//   i = sigmoid(W_i x + U_i h + p_i * c_prev + b_i),  f = sigmoid(... + p_f * c_prev ...)
//   g = softsign(W_g x + U_g h + b_g),  c = f c_prev + i g
//   o = sigmoid(W_o x + U_o h + p_o * c + b_o),  h = o * softsign(c)
class PeepholeLSTMCell : public tapegrad::nn::Module {
 public:
  PeepholeLSTMCell(std::int64_t input_size, std::int64_t hidden_size, tapegrad::Generator& gen);
  // x [B, I], state {h [B, H], c [B, H]} -> next state
  tapegrad::nn::LSTMState forward(const tapegrad::Tensor& x, const tapegrad::nn::LSTMState& state) const;
  std::int64_t hidden_size() const { return hidden_size_; }

  tapegrad::Tensor weight_ih, weight_hh, bias, peephole_i, peephole_f, peephole_o;

 private:
  std::int64_t hidden_size_;
};

}  // namespace examples
