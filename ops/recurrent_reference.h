#pragma once
// Any cell written with ops/cell_math.h, composed from generic ops: its step() run on Tensor, one
// time step after another, with the layer driver's contract (ops/recurrent.h: lengths, reverse,
// projection, cell parameters, regulariser masks). It is the readable reference the fused layer is tested against,
// and the "composed" form benchmarked next to it. No xsimd here: ordinary ops only.
#include <vector>

#include "ops/cell_math.h"
#include "ops/ops.h"

namespace tapegrad {

// The cell vocabulary's row_norm on Tensor (sigmoid, tanh, relu are ops): (v - mean) /
// sqrt(var + eps) over the last dim, biased variance, as torch.nn.functional.layer_norm without
// its affine part.
inline Tensor row_norm(const Tensor& v, float eps = cell::kNormEps) {
  const Tensor centred = sub(v, mean(v, {-1}, true));
  return div(centred, sqrt(add(mean(mul(centred, centred), {-1}, true), eps)));
}

namespace recurrent_reference_detail {
// gain * row_norm(v) + bias, then the layer's own bias if it has one: a normalised gate row.
inline Tensor normalised_gates(const Tensor& v, const Tensor& gain, const Tensor& bias,
                               const Tensor& layer_bias, float eps) {
  Tensor out = add(mul(row_norm(v, eps), gain), bias);
  return layer_bias.defined() ? add(out, layer_bias) : out;
}
}  // namespace recurrent_reference_detail

template <class Cell>
RecurrentResult composed_cell_layer(const Tensor& x, const Tensor& h0, const Tensor& c0,
                                    const RecurrentWeights& w,
                                    const std::vector<std::int64_t>& lengths = {},
                                    bool reverse = false, const RecurrentMasks& masks = {}) {
  constexpr cell::Spec spec = Cell::spec;
  const std::int64_t T = x.size(0), B = x.size(1);
  const std::int64_t H = w.weight_ih.size(0) / spec.gates;
  const std::int64_t P = w.weight_hr.defined() ? w.weight_hr.size(0) : H;
  Tensor h = h0.defined() ? h0 : Tensor::zeros({B, P});
  Tensor c = spec.cell_state ? (c0.defined() ? c0 : Tensor::zeros({B, H})) : Tensor();
  std::vector<Tensor> outputs(static_cast<std::size_t>(T));
  for (std::int64_t s = 0; s < T; ++s) {
    const std::int64_t t = reverse ? T - 1 - s : s;
    using recurrent_reference_detail::normalised_gates;
    const Tensor x_t = select(x, 0, t);
    const Tensor h_in = masks.recurrent.defined() ? mul(h, masks.recurrent) : h;
    Tensor gates_x = spec.norm_ih ? normalised_gates(linear(x_t, w.weight_ih, Tensor()), w.layernorm_ih_weight,
                                                     w.layernorm_ih_bias, w.bias_ih, spec.norm_eps)
                                  : linear(x_t, w.weight_ih, w.bias_ih);
    Tensor gates_h = spec.norm_hh ? normalised_gates(linear(h_in, w.weight_hh, Tensor()), w.layernorm_hh_weight,
                                                     w.layernorm_hh_bias, w.bias_hh, spec.norm_eps)
                                  : linear(h_in, w.weight_hh, w.bias_hh);
    cell::In<Tensor> in;
    const std::vector<Tensor> blocks = chunk(spec.split_recurrent ? gates_x : add(gates_x, gates_h),
                                             spec.gates, 1);
    const std::vector<Tensor> blocks_h =
        spec.split_recurrent ? chunk(gates_h, spec.gates, 1) : std::vector<Tensor>{};
    for (int k = 0; k < spec.gates; ++k) {
      in.gate[static_cast<std::size_t>(k)] = blocks[static_cast<std::size_t>(k)];
      if (spec.split_recurrent) in.gate_h[static_cast<std::size_t>(k)] = blocks_h[static_cast<std::size_t>(k)];
    }
    in.h_prev = h;
    in.c_prev = c;
    for (int k = 0; k < spec.params; ++k) {
      in.param[static_cast<std::size_t>(k)] = w.cell_params[static_cast<std::size_t>(k)];
    }
    const cell::Out<Tensor> out = Cell::step(in);
    Tensor h_new = w.weight_hr.defined() ? linear(out.h, w.weight_hr, Tensor()) : out.h;
    Tensor c_new = out.c;
    // zoneout: h_t = h~ + z (h_{t-1} - h~), c likewise
    if (masks.zoneout_h.defined()) h_new = add(h_new, mul(select(masks.zoneout_h, 0, t), sub(h, h_new)));
    if (masks.zoneout_c.defined()) c_new = add(c_new, mul(select(masks.zoneout_c, 0, t), sub(c, c_new)));
    if (lengths.empty()) {
      h = h_new;
      if (spec.cell_state) c = c_new;
      outputs[static_cast<std::size_t>(t)] = h_new;
      continue;
    }
    // Past its length a sequence keeps its state and outputs zero.
    Tensor valid = Tensor::empty({B, 1});
    for (std::int64_t b = 0; b < B; ++b) {
      valid.data()[b] = t < lengths[static_cast<std::size_t>(b)] ? 1.0f : 0.0f;
    }
    h = where(valid, h_new, h);
    if (spec.cell_state) c = where(valid, c_new, c);
    outputs[static_cast<std::size_t>(t)] = mul(h_new, valid);
  }
  return {stack(outputs, 0), h, c};
}

}  // namespace tapegrad
