#pragma once
// A recurrent cell tapegrad does not have, as its author writes it: the whole of it.
// The minimal gated unit (Zhou et al. 2016): one gate f does the work of the GRU's r and z; as in
// PyTorch's GRU, f multiplies the recurrent product (W_hn h + b_hn), so that product stays one
// matrix product per step (split_recurrent: gate_h holds it apart from the input part).
//   f = sigmoid(x W_if + b_if + h W_hf + b_hf)
//   n = tanh(x W_in + b_in + f * (h W_hn + b_hn))
//   h' = (1 - f) h + f n
// Registered with nn::register_cell<MinimalGatedUnit>() by examples/custom_cell.cpp and by
// bench/bench_lstm.cpp (which compare it fused and composed with the built-in cells).
#include "ops/cell_math.h"

struct MinimalGatedUnit {
  static constexpr tapegrad::cell::Spec spec{.name = "mgu", .gates = 2, .split_recurrent = true};
  template <class V>
  static constexpr tapegrad::cell::Out<V> step(const tapegrad::cell::In<V>& in) {
    const V f = sigmoid(in.gate[0] + in.gate_h[0]);
    const V n = tanh(in.gate[1] + f * in.gate_h[1]);
    return {.h = in.h_prev + f * (n - in.h_prev)};
  }
};
