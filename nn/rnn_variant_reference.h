#pragma once
// Reference LSTM variants composed from generic differentiable ops: the readable specification of
// the fused variant layers, checked against PyTorch compositions of the same cells
// (tests/fixtures/rnn_variants.json, made by tests/fixtures/make_rnn_variant_fixtures.py).
// Gradients come from autograd; nothing here has a hand-written backward.
//
// One direction of one layer, with the contract of ops/recurrent.h's lstm_layer: time-major
// x [T, B, I]; h0/c0 [B, H] or undefined (zeros); `lengths` empty or B values in [1, T] (past its
// length a sequence carries its state and outputs zero); `reverse` runs from the end (each
// sequence from its own last step). Undefined bias_ih/bias_hh mean bias=false. No projection.
//
// The variants (gate blocks of weight_ih [G*H, I], weight_hh [G*H, H], bias_ih/bias_hh [G*H]):
//   Standard   G=4 (i, f, g, o): c = f c_prev + i g,  h = o tanh(c)                  (PyTorch LSTM)
//   Peephole   G=4 (i, f, g, o), Gers & Schmidhuber 2000, peepholes p_i, p_f, p_o [H]:
//                i = s(xi + hi + p_i c_prev), f = s(xf + hf + p_f c_prev), g = tanh(xg + hg),
//                c = f c_prev + i g,  o = s(xo + ho + p_o c),  h = o tanh(c)
//   CIFG       G=3 (f, g, o), coupled input and forget gates: i = 1 - f
//   LayerNorm  G=4 (i, f, g, o), Ba, Kiros & Hinton 2016:
//                gates = LN_ih(x W_ih^T) + LN_hh(h_prev W_hh^T) + b_ih + b_hh,
//                c = f c_prev + i g,  h = o tanh(LN_c(c))
//              LN normalises a whole row (4H for the gates, H for c) with biased variance and
//              eps 1e-5 (torch.nn.functional.layer_norm), then applies its gain and bias.
//
// Regularisers (VariantMasks), on every variant, passed as tensors so PyTorch can replay them:
//   variational dropout (Gal & Ghahramani 2016): x_t -> x_t * input_mask, and h_prev -> h_prev *
//     recurrent_mask inside the W_hh product only (the carried state, the peepholes and zoneout
//     see the unmasked h_prev). One mask per sequence, already scaled by 1/(1-p).
//   zoneout (Krueger et al. 2016): the cell proposes c~ and h~ (h~ from c~ as above), then
//     c_t = m_c c_prev + (1 - m_c) c~,  h_t = m_h h_prev + (1 - m_h) h~
//     with per-step 0/1 masks m [T, B, H] in training, or the scalar keep probabilities z_c, z_h
//     in evaluation (the expectation). The output at step t is h_t.
//   With lengths, masks act only on a sequence's valid steps: past its end nothing changes (the
//     state is carried, the output is zero) whatever the masks hold there. Masks are indexed by
//     absolute time t, also when `reverse` is set.
#include <cstdint>
#include <vector>

#include "autograd/tensor.h"
#include "ops/recurrent.h"

namespace tapegrad::nn {

enum class LSTMVariant { Standard, Peephole, CIFG, LayerNorm };

// "lstm", "peephole_lstm", "cifg_lstm", "ln_lstm": the factory names, used in error messages.
const char* lstm_variant_name(LSTMVariant variant);
// Gate blocks per layer: 3 for CIFG, 4 otherwise.
std::int64_t lstm_variant_gates(LSTMVariant variant);
// Index of the forget-gate block: 0 for CIFG (f, g, o), 1 otherwise (i, f, g, o).
std::int64_t lstm_variant_forget_block(LSTMVariant variant);

// One layer's parameters (one direction). Fields a variant does not use must stay undefined.
struct LSTMVariantWeights {
  // (Every member has an initializer so designated initializers may name only some of them.)
  Tensor weight_ih{}, weight_hh{};                    // [G*H, I], [G*H, H]
  Tensor bias_ih{}, bias_hh{};                        // [G*H] each, or undefined (bias=false)
  Tensor weight_pi{}, weight_pf{}, weight_po{};       // Peephole: [H] each
  Tensor layernorm_ih_weight{}, layernorm_ih_bias{};  // LayerNorm: [4H] each
  Tensor layernorm_hh_weight{}, layernorm_hh_bias{};  // LayerNorm: [4H] each
  Tensor layernorm_c_weight{}, layernorm_c_bias{};    // LayerNorm: [H] each
};

// Explicit regulariser masks; all optional (undefined / 0 = none).
struct VariantMasks {
  Tensor input_mask{};      // [B, I], multiplied into every x_t
  Tensor recurrent_mask{};  // [B, H], multiplied into h_prev before the W_hh product
  Tensor zoneout_h_mask{};  // [T, B, H] of 0/1: 1 keeps h_prev (training)
  Tensor zoneout_c_mask{};  // [T, B, H] of 0/1: 1 keeps c_prev (training)
  float zoneout_h = 0.0f;  // evaluation: h_t = z h_prev + (1 - z) h~; excludes zoneout_h_mask
  float zoneout_c = 0.0f;  // evaluation, likewise for c; excludes zoneout_c_mask
};

// Checks every argument first (ShapeError / ValueError naming the variant, the argument and the
// expected and actual shapes or values), then runs the layer. Returns {output [T,B,H], h_n, c_n}.
RecurrentResult lstm_variant_layer_reference(LSTMVariant variant, const Tensor& x, const Tensor& h0,
                                             const Tensor& c0, const LSTMVariantWeights& weights,
                                             const VariantMasks& masks = {},
                                             const std::vector<std::int64_t>& lengths = {},
                                             bool reverse = false);

// Sets the forget-gate block of bias_ih to `value` and of bias_hh to 0, in place (no grad
// recorded), for the variant's gate layout. Both biases must be defined and [G*H]. The handles
// share storage with the caller's, so a module's parameters are updated.
void set_lstm_variant_forget_bias(LSTMVariant variant, Tensor bias_ih, Tensor bias_hh, float value);

}  // namespace tapegrad::nn
