#pragma once
// Whole-sequence recurrent layers as single tape nodes: the fast path behind nn::RNN, nn::LSTM
// and nn::GRU. Each computes the input projection of all T steps in one matrix product, then per
// step one recurrent product and a fused pointwise kernel; its backward computes the weight
// gradients once over all steps. Semantics are PyTorch's (gate order LSTM i,f,g,o; GRU r,z,n).
//
// Layout is time-major: x [T, B, I]. `lengths` (empty, or B values in [1, T]) gives each
// sequence's length: past it the state is carried unchanged and the output is zero, so h_n is the
// state at each sequence's own last step (PyTorch's packed-sequence semantics). `reverse` runs the
// sequence from the end (the backward direction of a bidirectional layer; with lengths, each
// sequence starts at its own last valid step). Undefined h0/c0 mean zeros; undefined biases mean
// bias=false; an undefined weight_hr means no projection (proj_size = 0).
#include <cstdint>
#include <string>
#include <vector>

#include "autograd/tensor.h"
#include "ops/recurrent_cell.h"

namespace tapegrad {

struct RecurrentResult {
  Tensor output;  // [T, B, P]: the hidden state at each step (P = proj_size or H)
  Tensor h_n;     // [B, P]
  Tensor c_n;     // [B, H]; LSTM only
};

// The parameters of one layer and direction. weight_ih [G, I], weight_hh [G, P], bias_ih/bias_hh
// [G] (undefined: bias=false), weight_hr [P, H] (undefined: no projection), cell_params: the
// cell's own per-unit vectors, each [H] (CellKernel::params of them). Cells that layer-normalise
// their gate rows (CellKernel::norm_ih / norm_hh) take the LayerNorm gain and bias [G] of
// x W_ih^T and of h W_hh^T; other cells leave them undefined.
struct RecurrentWeights {
  Tensor weight_ih, weight_hh, bias_ih, bias_hh, weight_hr;
  std::vector<Tensor> cell_params;
  Tensor layernorm_ih_weight{}, layernorm_ih_bias{}, layernorm_hh_weight{}, layernorm_hh_bias{};
};

// Regularisers of one layer and direction, as constants (no gradient flows into them); each
// undefined means none. Masks act on a sequence's valid steps only and are indexed by absolute t.
//   recurrent: [B, P] variational (locked) dropout of the recurrent state, Gal & Ghahramani 2016:
//     h_{t-1} * recurrent enters the W_hh product; the carried state and the cell's own use of
//     h_prev do not see it. Already scaled by 1/(1-p).
//   zoneout_h [T, B, P], zoneout_c [T, B, H], Krueger et al. 2016: the weight of the previous
//     state, h_t = z h_{t-1} + (1 - z) h~_t (c likewise, with h~ computed from the proposed c~):
//     0/1 masks in training, the probability itself in evaluation (the expectation).
struct RecurrentMasks {
  Tensor recurrent, zoneout_h, zoneout_c;
};

// The one layer driver: any cell over a sequence as ONE tape node. `name` is what the user called
// (the module, "LSTM", or the op, "lstm_layer"): every error message starts with it.
RecurrentResult recurrent_layer(const std::string& name, const CellKernel& cell, const Tensor& x,
                                const Tensor& h0, const Tensor& c0,
                                const RecurrentWeights& weights,
                                const std::vector<std::int64_t>& lengths = {},
                                bool reverse = false, const RecurrentMasks& masks = {});

// The three built-in cells on the driver, as ops.
// weight_ih [4H, I], weight_hh [4H, P], bias_ih/bias_hh [4H], weight_hr [P, H]; h0 [B, P], c0 [B, H].
RecurrentResult lstm_layer(const Tensor& x, const Tensor& h0, const Tensor& c0,
                           const Tensor& weight_ih, const Tensor& weight_hh,
                           const Tensor& bias_ih, const Tensor& bias_hh, const Tensor& weight_hr,
                           const std::vector<std::int64_t>& lengths = {}, bool reverse = false);

// Elman RNN: h = act(x W_ih^T + b_ih + h_prev W_hh^T + b_hh), act tanh or relu.
// weight_ih [H, I], weight_hh [H, H], biases [H]; h0 [B, H].
enum class RNNNonlinearity { Tanh, ReLU };
RecurrentResult rnn_layer(const Tensor& x, const Tensor& h0, const Tensor& weight_ih,
                          const Tensor& weight_hh, const Tensor& bias_ih, const Tensor& bias_hh,
                          RNNNonlinearity nonlinearity, const std::vector<std::int64_t>& lengths = {},
                          bool reverse = false);

// GRU: weight_ih [3H, I], weight_hh [3H, H], biases [3H]; h0 [B, H].
RecurrentResult gru_layer(const Tensor& x, const Tensor& h0, const Tensor& weight_ih,
                          const Tensor& weight_hh, const Tensor& bias_ih, const Tensor& bias_hh,
                          const std::vector<std::int64_t>& lengths = {}, bool reverse = false);

// One fused LSTM step for hand-written cells: gates_pre [B, 4H] (i,f,g,o pre-activations) and
// c_prev [B, H] -> {h, c}. Differentiable in both inputs.
std::vector<Tensor> lstm_cell(const Tensor& gates_pre, const Tensor& c_prev);

}  // namespace tapegrad
