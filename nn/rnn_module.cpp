// The recurrent modules as nn::Modules: their call operators (forward between the forward hooks,
// nn/module.h) and their printout (PyTorch's extra_repr of RNNBase and RNNCellBase).
#include "nn/rnn.h"

namespace tapegrad::nn {

// ---------------------------------------------------------------- calls with hooks
// The hooks see a call's tensors in argument order: {input, h, c} -> {output, h_n, c_n} for the
// layers ({input, h0} -> {output, h_n} for GRU and RNN), {x, h, c} -> {h', c'} and {x, h} -> {h'}
// for the cells (undefined tensors where absent).

RecurrentOutput RecurrentBase::operator()(const Tensor& input, const RecurrentState& state,
                                          const std::vector<std::int64_t>& lengths) const {
  if (!has_forward_hooks()) return forward(input, state, lengths);
  const std::vector<Tensor> out =
      call_with_hooks({input, state.h, state.c}, [&](const std::vector<Tensor>& in) {
        const RecurrentOutput r = forward(in[0], {in[1], in[2]}, lengths);
        return std::vector<Tensor>{r.output, r.h_n, r.c_n};
      });
  return {out[0], out[1], out[2]};
}

LSTMOutput LSTM::operator()(const Tensor& input, const LSTMState& state,
                            const std::vector<std::int64_t>& lengths) const {
  if (!has_forward_hooks()) return forward(input, state, lengths);
  const std::vector<Tensor> out =
      call_with_hooks({input, state.h, state.c}, [&](const std::vector<Tensor>& in) {
        const LSTMOutput r = forward(in[0], {in[1], in[2]}, lengths);
        return std::vector<Tensor>{r.output, r.state.h, r.state.c};
      });
  return {out[0], {out[1], out[2]}};
}

RNNOutput GRU::operator()(const Tensor& input, const Tensor& h0,
                          const std::vector<std::int64_t>& lengths) const {
  if (!has_forward_hooks()) return forward(input, h0, lengths);
  const std::vector<Tensor> out = call_with_hooks({input, h0}, [&](const std::vector<Tensor>& in) {
    const RNNOutput r = forward(in[0], in[1], lengths);
    return std::vector<Tensor>{r.output, r.h_n};
  });
  return {out[0], out[1]};
}

RNNOutput RNN::operator()(const Tensor& input, const Tensor& h0,
                          const std::vector<std::int64_t>& lengths) const {
  if (!has_forward_hooks()) return forward(input, h0, lengths);
  const std::vector<Tensor> out = call_with_hooks({input, h0}, [&](const std::vector<Tensor>& in) {
    const RNNOutput r = forward(in[0], in[1], lengths);
    return std::vector<Tensor>{r.output, r.h_n};
  });
  return {out[0], out[1]};
}

LSTMState LSTMCell::operator()(const Tensor& x, const LSTMState& state) const {
  if (!has_forward_hooks()) return forward(x, state);
  const std::vector<Tensor> out =
      call_with_hooks({x, state.h, state.c}, [&](const std::vector<Tensor>& in) {
        const LSTMState r = forward(in[0], {in[1], in[2]});
        return std::vector<Tensor>{r.h, r.c};
      });
  return {out[0], out[1]};
}

Tensor GRUCell::operator()(const Tensor& x, const Tensor& h) const {
  if (!has_forward_hooks()) return forward(x, h);
  return call_with_hooks({x, h}, [&](const std::vector<Tensor>& in) {
    return std::vector<Tensor>{forward(in[0], in[1])};
  })[0];
}

Tensor RNNCell::operator()(const Tensor& x, const Tensor& h) const {
  if (!has_forward_hooks()) return forward(x, h);
  return call_with_hooks({x, h}, [&](const std::vector<Tensor>& in) {
    return std::vector<Tensor>{forward(in[0], in[1])};
  })[0];
}

// ---------------------------------------------------------------- printout

// torch.nn.RNNBase.extra_repr: sizes, then each option that differs from its default; then
// tapegrad's own regularisers, which PyTorch does not have, the same way.
std::string RecurrentBase::extra_repr() const {
  std::string s = std::to_string(input_size_) + ", " + std::to_string(hidden_size_);
  if (proj_size_ != 0) s += ", proj_size=" + std::to_string(proj_size_);
  if (num_layers_ != 1) s += ", num_layers=" + std::to_string(num_layers_);
  if (!bias_) s += ", bias=False";
  if (batch_first_) s += ", batch_first=True";
  if (dropout_ != 0.0f) s += ", dropout=" + repr_float(dropout_);
  if (bidirectional_) s += ", bidirectional=True";
  const std::pair<const char*, float> regularisers[] = {{"input_dropout", input_dropout_},
                                                        {"recurrent_dropout", recurrent_dropout_},
                                                        {"zoneout_h", zoneout_h_},
                                                        {"zoneout_c", zoneout_c_}};
  for (const auto& [name, value] : regularisers) {
    if (value != 0.0f) s += ", " + std::string(name) + "=" + repr_float(value);
  }
  return s;
}

// torch.nn.RNNCellBase.extra_repr.
std::string RecurrentCellBase::extra_repr() const {
  return std::to_string(input_size_) + ", " + std::to_string(hidden_size_) +
         (bias_ih.defined() ? "" : ", bias=False");
}

std::string RNNCell::extra_repr() const {
  return RecurrentCellBase::extra_repr() + (relu_ ? ", nonlinearity=relu" : "");
}

}  // namespace tapegrad::nn
