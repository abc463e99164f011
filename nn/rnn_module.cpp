// The recurrent modules as nn::Modules: their call operators (forward between the forward hooks,
// nn/module.h) and their printout (PyTorch's extra_repr of RNNBase and RNNCellBase).
#include <cstddef>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "nn/rnn.h"

namespace tapegrad::nn {

// ---------------------------------------------------------------- calls with hooks
// The hooks see a call's tensors in argument order: {input, h, c} -> {output, h_n, c_n} for the
// layers ({input, h0} -> {output, h_n} for GRU and RNN), {x, h, c} -> {h', c'} and {x, h} -> {h'}
// for the cells (undefined tensors where absent).

namespace {

// The flat tensor list forward hooks see, for each type a recurrent module takes or returns, and
// back. Undefined tensors (no c, no h0) keep their place, so a hook sees a fixed layout per module.
void flatten_into(std::vector<Tensor>& flat, const Tensor& tensor) { flat.push_back(tensor); }
void flatten_into(std::vector<Tensor>& flat, const RecurrentState& state) {
  flat.insert(flat.end(), {state.h, state.c});
}
void flatten_into(std::vector<Tensor>& flat, const RecurrentOutput& out) {
  flat.insert(flat.end(), {out.output, out.h_n, out.c_n});
}
void flatten_into(std::vector<Tensor>& flat, const LSTMOutput& out) {
  flat.insert(flat.end(), {out.output, out.state.h, out.state.c});
}
void flatten_into(std::vector<Tensor>& flat, const RNNOutput& out) {
  flat.insert(flat.end(), {out.output, out.h_n});
}

template <typename T>
T unflatten(const std::vector<Tensor>& flat, std::size_t& pos) {
  const auto next = [&] { return flat[pos++]; };
  if constexpr (std::is_same_v<T, Tensor>) {
    return next();
  } else if constexpr (std::is_same_v<T, RecurrentState>) {
    Tensor h = next();
    return {h, next()};
  } else if constexpr (std::is_same_v<T, RecurrentOutput>) {
    Tensor output = next();
    Tensor h_n = next();
    return {output, h_n, next()};
  } else if constexpr (std::is_same_v<T, LSTMOutput>) {
    Tensor output = next();
    Tensor h = next();
    return {output, {h, next()}};
  } else {
    static_assert(std::is_same_v<T, RNNOutput>);
    Tensor output = next();
    return {output, next()};
  }
}

// A module's call operator: forward(inputs...) between its forward hooks, or forward alone when
// it has none (an unhooked call costs nothing extra). call_with_hooks keeps the counts fixed.
template <typename Out, typename Forward, typename... In>
Out call_hooked(const Module& module, const Forward& forward, const In&... inputs) {
  if (!module.has_forward_hooks()) return forward(inputs...);
  std::vector<Tensor> flat;
  (flatten_into(flat, inputs), ...);
  const std::vector<Tensor> out =
      module.call_with_hooks(std::move(flat), [&](const std::vector<Tensor>& hooked) {
        std::size_t pos = 0;
        const std::tuple<In...> arguments{unflatten<In>(hooked, pos)...};  // braces: in order
        std::vector<Tensor> result;
        flatten_into(result, std::apply(forward, arguments));
        return result;
      });
  std::size_t pos = 0;
  return unflatten<Out>(out, pos);
}

}  // namespace

RecurrentOutput RecurrentBase::operator()(const Tensor& input, const RecurrentState& state,
                                          const std::vector<std::int64_t>& lengths) const {
  return call_hooked<RecurrentOutput>(
      *this, [&](const Tensor& x, const RecurrentState& s) { return forward(x, s, lengths); },
      input, state);
}

LSTMOutput LSTM::operator()(const Tensor& input, const LSTMState& state,
                            const std::vector<std::int64_t>& lengths) const {
  return call_hooked<LSTMOutput>(
      *this, [&](const Tensor& x, const LSTMState& s) { return forward(x, s, lengths); }, input,
      state);
}

RNNOutput GRU::operator()(const Tensor& input, const Tensor& h0,
                          const std::vector<std::int64_t>& lengths) const {
  return call_hooked<RNNOutput>(
      *this, [&](const Tensor& x, const Tensor& h) { return forward(x, h, lengths); }, input, h0);
}

RNNOutput RNN::operator()(const Tensor& input, const Tensor& h0,
                          const std::vector<std::int64_t>& lengths) const {
  return call_hooked<RNNOutput>(
      *this, [&](const Tensor& x, const Tensor& h) { return forward(x, h, lengths); }, input, h0);
}

LSTMState LSTMCell::operator()(const Tensor& x, const LSTMState& state) const {
  return call_hooked<LSTMState>(
      *this, [&](const Tensor& in, const LSTMState& s) { return forward(in, s); }, x, state);
}

Tensor GRUCell::operator()(const Tensor& x, const Tensor& h) const {
  return call_hooked<Tensor>(
      *this, [&](const Tensor& in, const Tensor& state) { return forward(in, state); }, x, h);
}

Tensor RNNCell::operator()(const Tensor& x, const Tensor& h) const {
  return call_hooked<Tensor>(
      *this, [&](const Tensor& in, const Tensor& state) { return forward(in, state); }, x, h);
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
