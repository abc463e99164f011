// Reference recurrent layers composed from generic ops, one step at a time. They are the readable
// specification of the fused layers in ops/*_layer.cpp and are tested to agree with them (and with
// PyTorch) on outputs and every gradient. Same contract as ops/recurrent.h.
#include "nn/rnn.h"
#include "ops/ops.h"

namespace tapegrad::nn {

namespace {

// [B, 1] mask of the rows that still have data at time t (lengths empty: no mask).
Tensor valid_rows(const std::vector<std::int64_t>& lengths, std::int64_t t) {
  Tensor mask = Tensor::empty({static_cast<std::int64_t>(lengths.size()), 1});
  for (std::size_t b = 0; b < lengths.size(); ++b) mask.data()[b] = t < lengths[b] ? 1.0f : 0.0f;
  return mask;
}

Tensor state_or_zeros(const Tensor& state, std::int64_t B, std::int64_t size) {
  return state.defined() ? state : Tensor::zeros({B, size});
}

// Runs `step(x_t, t)` over the time order and assembles the outputs; `step` updates its own
// state and returns the new hidden state. Past a sequence's length the state is kept and the
// output is zero.
template <typename Step>
Tensor run_steps(const Tensor& x, const std::vector<std::int64_t>& lengths, bool reverse,
                 Step&& step) {
  const std::int64_t T = x.size(0);
  std::vector<Tensor> outputs(static_cast<std::size_t>(T));
  for (std::int64_t s = 0; s < T; ++s) {
    const std::int64_t t = reverse ? T - 1 - s : s;
    Tensor mask = lengths.empty() ? Tensor() : valid_rows(lengths, t);
    outputs[static_cast<std::size_t>(t)] = step(select(x, 0, t), mask);
  }
  return stack(outputs, 0);
}

// new where the row is valid, old elsewhere.
Tensor keep_invalid(const Tensor& mask, const Tensor& updated, const Tensor& old) {
  return mask.defined() ? where(mask, updated, old) : updated;
}

Tensor zero_invalid(const Tensor& mask, const Tensor& value) {
  return mask.defined() ? mul(value, mask) : value;
}

}  // namespace

RecurrentResult lstm_layer_reference(const Tensor& x, const Tensor& h0, const Tensor& c0,
                                     const Tensor& weight_ih, const Tensor& weight_hh,
                                     const Tensor& bias_ih, const Tensor& bias_hh,
                                     const Tensor& weight_hr,
                                     const std::vector<std::int64_t>& lengths, bool reverse) {
  const std::int64_t B = x.size(1);
  const std::int64_t H = weight_hh.size(0) / 4;
  Tensor h = state_or_zeros(h0, B, weight_hh.size(1));
  Tensor c = state_or_zeros(c0, B, H);
  Tensor output = run_steps(x, lengths, reverse, [&](const Tensor& x_t, const Tensor& mask) {
    Tensor gates = add(linear(x_t, weight_ih, bias_ih), linear(h, weight_hh, bias_hh));
    std::vector<Tensor> g = chunk(gates, 4, 1);  // i, f, g, o
    Tensor c_new = add(mul(sigmoid(g[1]), c), mul(sigmoid(g[0]), tanh(g[2])));
    Tensor h_new = mul(sigmoid(g[3]), tanh(c_new));
    if (weight_hr.defined()) h_new = linear(h_new, weight_hr, Tensor());
    c = keep_invalid(mask, c_new, c);
    h = keep_invalid(mask, h_new, h);
    return zero_invalid(mask, h_new);
  });
  return {output, h, c};
}

RecurrentResult gru_layer_reference(const Tensor& x, const Tensor& h0, const Tensor& weight_ih,
                                    const Tensor& weight_hh, const Tensor& bias_ih,
                                    const Tensor& bias_hh,
                                    const std::vector<std::int64_t>& lengths, bool reverse) {
  const std::int64_t B = x.size(1);
  Tensor h = state_or_zeros(h0, B, weight_hh.size(1));
  Tensor output = run_steps(x, lengths, reverse, [&](const Tensor& x_t, const Tensor& mask) {
    std::vector<Tensor> gx = chunk(linear(x_t, weight_ih, bias_ih), 3, 1);  // r, z, n
    std::vector<Tensor> gh = chunk(linear(h, weight_hh, bias_hh), 3, 1);
    Tensor r = sigmoid(add(gx[0], gh[0]));
    Tensor z = sigmoid(add(gx[1], gh[1]));
    Tensor n = tanh(add(gx[2], mul(r, gh[2])));
    Tensor h_new = add(n, mul(z, sub(h, n)));  // (1 - z) * n + z * h
    h = keep_invalid(mask, h_new, h);
    return zero_invalid(mask, h_new);
  });
  return {output, h, Tensor()};
}

RecurrentResult rnn_layer_reference(const Tensor& x, const Tensor& h0, const Tensor& weight_ih,
                                    const Tensor& weight_hh, const Tensor& bias_ih,
                                    const Tensor& bias_hh, RNNNonlinearity nonlinearity,
                                    const std::vector<std::int64_t>& lengths, bool reverse) {
  const std::int64_t B = x.size(1);
  Tensor h = state_or_zeros(h0, B, weight_hh.size(1));
  Tensor output = run_steps(x, lengths, reverse, [&](const Tensor& x_t, const Tensor& mask) {
    Tensor pre = add(linear(x_t, weight_ih, bias_ih), linear(h, weight_hh, bias_hh));
    Tensor h_new = nonlinearity == RNNNonlinearity::Tanh ? tanh(pre) : relu(pre);
    h = keep_invalid(mask, h_new, h);
    return zero_invalid(mask, h_new);
  });
  return {output, h, Tensor()};
}

Tensor pad_sequence(const std::vector<Tensor>& sequences, bool batch_first, float padding_value) {
  if (sequences.empty()) throw ValueError("pad_sequence: expected at least one sequence");
  const Shape& first = sequences[0].shape();
  if (first.empty()) {
    throw ShapeError("pad_sequence: expected sequences of shape [L, *], got a 0-D tensor");
  }
  std::int64_t max_length = 0;
  for (std::size_t i = 0; i < sequences.size(); ++i) {
    const Shape& shape = sequences[i].shape();
    if (shape.size() != first.size() || !std::equal(shape.begin() + 1, shape.end(), first.begin() + 1)) {
      throw ShapeError("pad_sequence: sequence " + std::to_string(i) + " has shape " +
                       format_shape(shape) + " but sequence 0 has shape " + format_shape(first) +
                       " (all dims after the first must match)");
    }
    max_length = std::max(max_length, shape[0]);
  }
  std::vector<Tensor> padded;
  for (const Tensor& sequence : sequences) {
    const std::int64_t missing = max_length - sequence.size(0);
    if (missing == 0) {
      padded.push_back(sequence);
      continue;
    }
    Shape pad_shape = sequence.shape();
    pad_shape[0] = missing;
    padded.push_back(cat({sequence, Tensor::full(pad_shape, padding_value)}, 0));
  }
  return stack(padded, batch_first ? 0 : 1);
}

}  // namespace tapegrad::nn
