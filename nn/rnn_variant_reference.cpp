// Reference LSTM variants composed from generic ops, one step at a time (see the header for the
// math). Each variant differs only in how it forms its gate pre-activations and how it turns them
// into the proposed state (c~, h~); masks, zoneout, lengths and the time order are shared.
#include "nn/rnn_variant_reference.h"

#include <string>

#include "autograd/grad_mode.h"
#include "nn/layers.h"
#include "ops/ops.h"
#include "ops/recurrent_common.h"

namespace tapegrad::nn {

const char* lstm_variant_name(LSTMVariant variant) {
  switch (variant) {
    case LSTMVariant::Standard: return "lstm";
    case LSTMVariant::Peephole: return "peephole_lstm";
    case LSTMVariant::CIFG: return "cifg_lstm";
    case LSTMVariant::LayerNorm: return "ln_lstm";
  }
  throw InternalError("lstm_variant_name: unknown variant");
}

std::int64_t lstm_variant_gates(LSTMVariant variant) {
  return variant == LSTMVariant::CIFG ? 3 : 4;
}

std::int64_t lstm_variant_forget_block(LSTMVariant variant) {
  return variant == LSTMVariant::CIFG ? 0 : 1;
}

namespace {

// ---------------------------------------------------------------- argument checks

struct LayerDims {
  std::int64_t T, B, I, H;
};

void check_vector(const std::string& op, const char* what, const Tensor& value, std::int64_t size) {
  if (!value.defined()) throw ValueError(op + ": " + what + " is undefined");
  check_same_shape(op, what, Shape{size}, value.shape());
}

void check_unused(const std::string& op, const char* what, const Tensor& value) {
  if (value.defined()) {
    throw ValueError(op + ": " + what + " is not a parameter of this variant; leave it undefined");
  }
}

// A zoneout mask: [T, B, H] and every value 0 or 1 (1 keeps the previous state).
void check_zoneout_mask(const std::string& op, const char* what, const Tensor& mask,
                        const LayerDims& d) {
  check_same_shape(op, what, Shape{d.T, d.B, d.H}, mask.shape());
  const float* values = mask.data();
  for (std::int64_t k = 0; k < mask.numel(); ++k) {
    if (values[k] != 0.0f && values[k] != 1.0f) {
      throw ValueError(op + ": " + what + " must hold only 0 and 1, got " +
                       std::to_string(values[k]) + " at flat index " + std::to_string(k));
    }
  }
}

void check_zoneout_probability(const std::string& op, const char* what, float z,
                               const Tensor& mask, const char* mask_name) {
  if (!(z >= 0.0f && z <= 1.0f)) {
    throw ValueError(op + ": " + what + " must be in [0, 1], got " + std::to_string(z));
  }
  if (z != 0.0f && mask.defined()) {
    throw ValueError(op + ": give " + mask_name + " (training) or " + what +
                     " (evaluation), not both");
  }
}

// The parameters only one variant has: name, field, owner, size as a multiple of H.
struct VariantParameter {
  const char* name;
  Tensor LSTMVariantWeights::*field;
  LSTMVariant owner;
  std::int64_t size_in_h;
};
using W = LSTMVariantWeights;
constexpr VariantParameter kVariantParameters[] = {
    {"weight_pi", &W::weight_pi, LSTMVariant::Peephole, 1},
    {"weight_pf", &W::weight_pf, LSTMVariant::Peephole, 1},
    {"weight_po", &W::weight_po, LSTMVariant::Peephole, 1},
    {"layernorm_ih_weight", &W::layernorm_ih_weight, LSTMVariant::LayerNorm, 4},
    {"layernorm_ih_bias", &W::layernorm_ih_bias, LSTMVariant::LayerNorm, 4},
    {"layernorm_hh_weight", &W::layernorm_hh_weight, LSTMVariant::LayerNorm, 4},
    {"layernorm_hh_bias", &W::layernorm_hh_bias, LSTMVariant::LayerNorm, 4},
    {"layernorm_c_weight", &W::layernorm_c_weight, LSTMVariant::LayerNorm, 1},
    {"layernorm_c_bias", &W::layernorm_c_bias, LSTMVariant::LayerNorm, 1},
};

LayerDims check_arguments(LSTMVariant variant, const Tensor& x, const Tensor& h0, const Tensor& c0,
                          const LSTMVariantWeights& w, const VariantMasks& masks,
                          const std::vector<std::int64_t>& lengths) {
  const std::string op = lstm_variant_name(variant);
  const recurrent::Dims input = recurrent::check_input(op.c_str(), x, lengths);
  if (!w.weight_hh.defined()) throw ValueError(op + ": weight_hh is undefined");
  if (w.weight_hh.dim() != 2 || w.weight_hh.size(1) < 1) {
    throw ShapeError(op + ": expected weight_hh of shape [" +
                     std::to_string(lstm_variant_gates(variant)) + "*H, H] with H >= 1, got " +
                     format_shape(w.weight_hh.shape()));
  }
  const LayerDims d{input.T, input.B, input.I, w.weight_hh.size(1)};
  const std::int64_t G = lstm_variant_gates(variant);
  recurrent::check_matrix(op.c_str(), "weight_hh", w.weight_hh, G * d.H, d.H);
  recurrent::check_matrix(op.c_str(), "weight_ih", w.weight_ih, G * d.H, d.I);
  recurrent::check_bias(op.c_str(), "bias_ih", w.bias_ih, G * d.H);
  recurrent::check_bias(op.c_str(), "bias_hh", w.bias_hh, G * d.H);
  recurrent::check_state(op.c_str(), "h0", h0, d.B, d.H);
  recurrent::check_state(op.c_str(), "c0", c0, d.B, d.H);

  for (const VariantParameter& p : kVariantParameters) {
    if (variant == p.owner) check_vector(op, p.name, w.*p.field, p.size_in_h * d.H);
    else check_unused(op, p.name, w.*p.field);
  }

  if (masks.input_mask.defined()) {
    check_same_shape(op, "input_mask", Shape{d.B, d.I}, masks.input_mask.shape());
  }
  if (masks.recurrent_mask.defined()) {
    check_same_shape(op, "recurrent_mask", Shape{d.B, d.H}, masks.recurrent_mask.shape());
  }
  if (masks.zoneout_h_mask.defined()) {
    check_zoneout_mask(op, "zoneout_h_mask", masks.zoneout_h_mask, d);
  }
  if (masks.zoneout_c_mask.defined()) {
    check_zoneout_mask(op, "zoneout_c_mask", masks.zoneout_c_mask, d);
  }
  check_zoneout_probability(op, "zoneout_h", masks.zoneout_h, masks.zoneout_h_mask,
                            "zoneout_h_mask");
  check_zoneout_probability(op, "zoneout_c", masks.zoneout_c, masks.zoneout_c_mask,
                            "zoneout_c_mask");
  return d;
}

// ---------------------------------------------------------------- the cells

// gain * (v - mean) / sqrt(var + 1e-5) + bias over the last dim (torch.nn.functional.layer_norm).
Tensor layer_norm(const Tensor& v, const Tensor& gain, const Tensor& bias) {
  const LayerNorm normalise({.normalized_shape = {v.size(-1)}, .elementwise_affine = false});
  return add(mul(normalise.forward(v), gain), bias);
}

Tensor add_bias(const Tensor& v, const Tensor& bias) { return bias.defined() ? add(v, bias) : v; }

// [B, G*H] gate pre-activations from the (masked) input and recurrent inputs.
Tensor gate_preactivations(LSTMVariant variant, const LSTMVariantWeights& w, const Tensor& x_t,
                           const Tensor& h_in) {
  if (variant == LSTMVariant::LayerNorm) {
    // The two products are normalised separately, before the biases (Ba et al. 2016, eq. 20).
    Tensor gates = add(layer_norm(linear(x_t, w.weight_ih, Tensor()), w.layernorm_ih_weight,
                                  w.layernorm_ih_bias),
                       layer_norm(linear(h_in, w.weight_hh, Tensor()), w.layernorm_hh_weight,
                                  w.layernorm_hh_bias));
    return add_bias(add_bias(gates, w.bias_ih), w.bias_hh);
  }
  return add(linear(x_t, w.weight_ih, w.bias_ih), linear(h_in, w.weight_hh, w.bias_hh));
}

struct Proposal {
  Tensor c, h;  // the cell's new state before zoneout
};

Proposal propose_state(LSTMVariant variant, const LSTMVariantWeights& w, const Tensor& gates,
                       const Tensor& c_prev) {
  switch (variant) {
    case LSTMVariant::Standard: {
      const std::vector<Tensor> g = chunk(gates, 4, 1);  // i, f, g, o
      Tensor c = sigmoid(g[1]) * c_prev + sigmoid(g[0]) * tanh(g[2]);
      return {c, sigmoid(g[3]) * tanh(c)};
    }
    case LSTMVariant::Peephole: {
      const std::vector<Tensor> g = chunk(gates, 4, 1);  // i, f, g, o
      Tensor input_gate = sigmoid(g[0] + w.weight_pi * c_prev);   // i and f see c_{t-1}
      Tensor forget_gate = sigmoid(g[1] + w.weight_pf * c_prev);
      Tensor c = forget_gate * c_prev + input_gate * tanh(g[2]);
      Tensor output_gate = sigmoid(g[3] + w.weight_po * c);       // o sees c_t
      return {c, output_gate * tanh(c)};
    }
    case LSTMVariant::CIFG: {
      const std::vector<Tensor> g = chunk(gates, 3, 1);  // f, g, o
      Tensor forget_gate = sigmoid(g[0]);
      Tensor c = forget_gate * c_prev + (1.0f - forget_gate) * tanh(g[1]);  // i = 1 - f
      return {c, sigmoid(g[2]) * tanh(c)};
    }
    case LSTMVariant::LayerNorm: {
      const std::vector<Tensor> g = chunk(gates, 4, 1);  // i, f, g, o
      Tensor c = sigmoid(g[1]) * c_prev + sigmoid(g[0]) * tanh(g[2]);
      Tensor c_normalised = layer_norm(c, w.layernorm_c_weight, w.layernorm_c_bias);
      return {c, sigmoid(g[3]) * tanh(c_normalised)};
    }
  }
  throw InternalError("propose_state: unknown variant");
}

// Zoneout of one state: keep `previous` where the mask is 1 (training), or mix with the keep
// probability z (evaluation); unchanged without either.
Tensor zoneout(const Tensor& previous, const Tensor& proposed, const Tensor& keep_mask, float z) {
  if (keep_mask.defined()) return where(keep_mask, previous, proposed);
  if (z != 0.0f) return previous * z + proposed * (1.0f - z);
  return proposed;
}

// [B, 1]: 1 on the rows whose sequence still has data at time t.
Tensor valid_rows(const std::vector<std::int64_t>& lengths, std::int64_t t) {
  Tensor rows = Tensor::empty({static_cast<std::int64_t>(lengths.size()), 1});
  for (std::size_t b = 0; b < lengths.size(); ++b) rows.data()[b] = t < lengths[b] ? 1.0f : 0.0f;
  return rows;
}

}  // namespace

RecurrentResult lstm_variant_layer_reference(LSTMVariant variant, const Tensor& x, const Tensor& h0,
                                             const Tensor& c0, const LSTMVariantWeights& weights,
                                             const VariantMasks& masks,
                                             const std::vector<std::int64_t>& lengths,
                                             bool reverse) {
  const LayerDims d = check_arguments(variant, x, h0, c0, weights, masks, lengths);
  Tensor h = h0.defined() ? h0 : Tensor::zeros({d.B, d.H});
  Tensor c = c0.defined() ? c0 : Tensor::zeros({d.B, d.H});
  std::vector<Tensor> outputs(static_cast<std::size_t>(d.T));
  for (std::int64_t step = 0; step < d.T; ++step) {
    const std::int64_t t = recurrent::time_at(step, d.T, reverse);
    Tensor x_t = select(x, 0, t);
    if (masks.input_mask.defined()) x_t = x_t * masks.input_mask;
    const Tensor h_in = masks.recurrent_mask.defined() ? h * masks.recurrent_mask : h;

    const Proposal proposed =
        propose_state(variant, weights, gate_preactivations(variant, weights, x_t, h_in), c);
    const auto mask_at = [t](const Tensor& per_step) {
      return per_step.defined() ? select(per_step, 0, t) : Tensor();
    };
    Tensor c_new = zoneout(c, proposed.c, mask_at(masks.zoneout_c_mask), masks.zoneout_c);
    Tensor h_new = zoneout(h, proposed.h, mask_at(masks.zoneout_h_mask), masks.zoneout_h);

    // Past a sequence's end: carry the state, output zero.
    if (lengths.empty()) {
      outputs[static_cast<std::size_t>(t)] = h_new;
      c = c_new;
      h = h_new;
    } else {
      const Tensor valid = valid_rows(lengths, t);
      outputs[static_cast<std::size_t>(t)] = h_new * valid;
      c = where(valid, c_new, c);
      h = where(valid, h_new, h);
    }
  }
  return {stack(outputs, 0), h, c};
}

void set_lstm_variant_forget_bias(LSTMVariant variant, Tensor bias_ih, Tensor bias_hh,
                                  float value) {
  const std::string op =
      std::string(lstm_variant_name(variant)) + ": set_lstm_variant_forget_bias";
  if (!bias_ih.defined() || !bias_hh.defined()) {
    throw ValueError(op + ": needs both bias_ih and bias_hh (a layer built with bias=false has "
                     "none)");
  }
  const std::int64_t G = lstm_variant_gates(variant);
  if (bias_ih.dim() != 1 || bias_ih.size(0) == 0 || bias_ih.size(0) % G != 0) {
    throw ShapeError(op + ": expected bias_ih of shape [" + std::to_string(G) +
                     "*hidden_size], got " + format_shape(bias_ih.shape()));
  }
  check_same_shape(op, "bias_hh", bias_ih.shape(), bias_hh.shape());
  const std::int64_t H = bias_ih.size(0) / G;
  const std::int64_t begin = lstm_variant_forget_block(variant) * H;
  NoGradGuard no_grad;
  for (std::int64_t j = begin; j < begin + H; ++j) {
    bias_ih.data()[j] = value;
    bias_hh.data()[j] = 0.0f;
  }
  bias_ih.bump_version();
  bias_hh.bump_version();
}

}  // namespace tapegrad::nn
