#pragma once
// The built-in cells' pointwise math, written once with ops/cell_math.h. Their fused kernels are
// derived from it (ops/kernels/derived_cells.cpp); the same step() on Tensor is their composed
// reference. Gate orders are PyTorch's (LSTM i, f, g, o; GRU r, z, n).
#include "ops/cell_math.h"

namespace tapegrad::cells {

// https://pytorch.org/docs/stable/generated/torch.nn.LSTM.html
struct LSTM {
  static constexpr cell::Spec spec{.name = "lstm", .gates = 4, .cell_state = true, .forget_gate = 1};
  template <class V>
  static constexpr cell::Out<V> step(const cell::In<V>& in) {
    const V i = sigmoid(in.gate[0]);
    const V f = sigmoid(in.gate[1]);
    const V g = tanh(in.gate[2]);
    const V o = sigmoid(in.gate[3]);
    const V c = f * in.c_prev + i * g;
    return {.h = o * tanh(c), .c = c};
  }
};

// https://pytorch.org/docs/stable/generated/torch.nn.GRU.html: b_hn stays inside r * (...), so
// the recurrent part is kept apart (split_recurrent).
struct GRU {
  static constexpr cell::Spec spec{.name = "gru", .gates = 3, .split_recurrent = true};
  template <class V>
  static constexpr cell::Out<V> step(const cell::In<V>& in) {
    const V r = sigmoid(in.gate[0] + in.gate_h[0]);
    const V z = sigmoid(in.gate[1] + in.gate_h[1]);
    const V n = tanh(in.gate[2] + r * in.gate_h[2]);
    return {.h = n + z * (in.h_prev - n)};  // (1 - z) n + z h_prev
  }
};

struct RNNTanh {
  static constexpr cell::Spec spec{.name = "rnn_tanh", .gates = 1};
  template <class V>
  static constexpr cell::Out<V> step(const cell::In<V>& in) {
    return {.h = tanh(in.gate[0])};
  }
};

struct RNNReLU {
  static constexpr cell::Spec spec{.name = "rnn_relu", .gates = 1};
  template <class V>
  static constexpr cell::Out<V> step(const cell::In<V>& in) {
    return {.h = relu(in.gate[0])};
  }
};

// Peephole LSTM (Gers & Schmidhuber 2000): i and f see c_{t-1}, o sees c_t.
struct PeepholeLSTM {
  static constexpr cell::Spec spec{.name = "peephole_lstm",
                                   .gates = 4,
                                   .cell_state = true,
                                   .params = 3,
                                   .param_names = {"weight_pi", "weight_pf", "weight_po"},
                                   .forget_gate = 1};
  template <class V>
  static constexpr cell::Out<V> step(const cell::In<V>& in) {
    const V i = sigmoid(in.gate[0] + in.param[0] * in.c_prev);
    const V f = sigmoid(in.gate[1] + in.param[1] * in.c_prev);
    const V g = tanh(in.gate[2]);
    const V c = f * in.c_prev + i * g;
    const V o = sigmoid(in.gate[3] + in.param[2] * c);
    return {.h = o * tanh(c), .c = c};
  }
};

// Coupled input-forget gate LSTM: three gate blocks f, g, o and i = 1 - f.
struct CIFGLSTM {
  static constexpr cell::Spec spec{.name = "cifg_lstm", .gates = 3, .cell_state = true, .forget_gate = 0};
  template <class V>
  static constexpr cell::Out<V> step(const cell::In<V>& in) {
    const V f = sigmoid(in.gate[0]);
    const V g = tanh(in.gate[1]);
    const V o = sigmoid(in.gate[2]);
    const V c = f * in.c_prev + (1.0f - f) * g;
    return {.h = o * tanh(c), .c = c};
  }
};

// Layer-normalised LSTM (Ba, Kiros & Hinton 2016, eq. 20-22): the gate pre-activations are
// LN_ih(x W_ih^T) + b_ih + LN_hh(h W_hh^T) + b_hh (each product normalised over its whole row of
// 4H, by the driver: norm_ih, norm_hh), and h = o tanh(LN_c(c)) with c normalised over its H
// units. LN_c's gain and bias are the cell's parameters (LayerNorm's names and initial 1 and 0).
struct LayerNormLSTM {
  static constexpr cell::Spec spec{.name = "ln_lstm",
                                   .gates = 4,
                                   .cell_state = true,
                                   .params = 2,
                                   .param_names = {"layernorm_c_weight", "layernorm_c_bias"},
                                   .param_init = {cell::Init::One, cell::Init::Zero},
                                   .forget_gate = 1,
                                   .norm_ih = true,
                                   .norm_hh = true};
  template <class V>
  static constexpr cell::Out<V> step(const cell::In<V>& in) {
    const V i = sigmoid(in.gate[0]);
    const V f = sigmoid(in.gate[1]);
    const V g = tanh(in.gate[2]);
    const V o = sigmoid(in.gate[3]);
    const V c = f * in.c_prev + i * g;
    return {.h = o * tanh(in.param[0] * row_norm(c) + in.param[1]), .c = c};
  }
};

}  // namespace tapegrad::cells
