#include "nn/rnn.h"

#include <cmath>

#include "nn/init.h"
#include "ops/ops.h"

namespace tapegrad::nn {

namespace {

void check_options(const char* name, std::int64_t input_size, std::int64_t hidden_size,
                   std::int64_t num_layers, float dropout) {
  if (input_size <= 0 || hidden_size <= 0 || num_layers <= 0) {
    throw ValueError(std::string(name) + ": expected positive input_size, hidden_size and "
                     "num_layers, got " + std::to_string(input_size) + ", " +
                     std::to_string(hidden_size) + ", " + std::to_string(num_layers));
  }
  if (!(dropout >= 0.0f && dropout <= 1.0f)) {
    throw ValueError(std::string(name) + ": dropout must be in [0, 1], got " +
                     std::to_string(dropout));
  }
}

// PyTorch initialises every recurrent weight and bias from U(-1/sqrt(H), 1/sqrt(H)), the bound
// computed in double (Python) and rounded to float by uniform_, as here: a bound computed in float
// can differ by an ulp, and then Generator::torch would not reproduce PyTorch's weights.
Tensor uniform_parameter(const Shape& shape, std::int64_t hidden_size, Generator& generator) {
  const auto bound = static_cast<float>(1.0 / std::sqrt(static_cast<double>(hidden_size)));
  return Tensor::uniform(shape, -bound, bound, generator);
}

}  // namespace

RecurrentBase::RecurrentBase(const Config& config, Generator& generator)
    : name_(config.name),
      gates_(config.gates),
      input_size_(config.input_size),
      hidden_size_(config.hidden_size),
      num_layers_(config.num_layers),
      proj_size_(config.proj_size),
      bias_(config.bias),
      batch_first_(config.batch_first),
      bidirectional_(config.bidirectional),
      dropout_(config.dropout),
      dropout_generator_(generator.child_seed()) {
  check_options(name_, input_size_, hidden_size_, num_layers_, dropout_);
  if (proj_size_ < 0 || (proj_size_ > 0 && proj_size_ >= hidden_size_)) {
    throw ValueError(std::string(name_) + ": proj_size must be in [0, hidden_size), got " +
                     std::to_string(proj_size_) + " with hidden_size " +
                     std::to_string(hidden_size_));
  }
  const std::int64_t H = hidden_size_;
  const std::int64_t P = proj_size_ > 0 ? proj_size_ : H;
  const std::int64_t directions = num_directions();
  for (std::int64_t layer = 0; layer < num_layers_; ++layer) {
    const std::int64_t layer_input = layer == 0 ? input_size_ : P * directions;
    for (std::int64_t direction = 0; direction < directions; ++direction) {
      const std::string suffix = "_l" + std::to_string(layer) + (direction ? "_reverse" : "");
      LayerWeights w;
      // Registration order is PyTorch's state_dict order: w_ih, w_hh, b_ih, b_hh, w_hr.
      w.weight_ih = register_parameter("weight_ih" + suffix,
                                       uniform_parameter({gates_ * H, layer_input}, H, generator));
      w.weight_hh = register_parameter("weight_hh" + suffix,
                                       uniform_parameter({gates_ * H, P}, H, generator));
      if (bias_) {
        w.bias_ih = register_parameter("bias_ih" + suffix, uniform_parameter({gates_ * H}, H, generator));
        w.bias_hh = register_parameter("bias_hh" + suffix, uniform_parameter({gates_ * H}, H, generator));
      }
      if (proj_size_ > 0) {
        w.weight_hr = register_parameter("weight_hr" + suffix, uniform_parameter({P, H}, H, generator));
      }
      weights_.push_back(w);
    }
  }
}

RecurrentBase::Result RecurrentBase::run(const Tensor& input, const Tensor& h0, const Tensor& c0,
                                         const std::vector<std::int64_t>& lengths,
                                         LayerFn layer) const {
  const std::string name(name_);
  if (!input.defined()) throw ValueError(name + ": the input is undefined");
  if (input.dim() != 2 && input.dim() != 3) {
    throw ShapeError(name + ": expected a 3-D input (" +
                     (batch_first_ ? "[B, T, I]" : "[T, B, I]") +
                     ") or an unbatched 2-D input [T, I], got shape " + format_shape(input.shape()));
  }
  const bool unbatched = input.dim() == 2;
  if (input.size(-1) != input_size_) {
    throw ShapeError(name + ": expected input with " + std::to_string(input_size_) +
                     " features (input_size), got shape " + format_shape(input.shape()));
  }
  if (unbatched && !lengths.empty()) {
    throw ValueError(name + ": lengths need a batched input, got an unbatched input of shape " +
                     format_shape(input.shape()));
  }
  // Time-major [T, B, I] inside.
  Tensor x = unbatched ? unsqueeze(input, 1) : batch_first_ ? transpose(input, 0, 1) : input;
  const std::int64_t B = x.size(1);
  const std::int64_t H = hidden_size_;
  const std::int64_t P = proj_size_ > 0 ? proj_size_ : H;
  const std::int64_t directions = num_directions();
  const std::int64_t slots = num_layers_ * directions;
  auto check_state = [&](const Tensor& state, const char* what, std::int64_t size) {
    if (!state.defined()) return state;
    const Shape expected = unbatched ? Shape{slots, size} : Shape{slots, B, size};
    if (state.shape() != expected) {
      throw ShapeError(name + ": expected " + what + " of shape " + format_shape(expected) +
                       ", got " + format_shape(state.shape()));
    }
    return unbatched ? unsqueeze(state, 1) : state;
  };
  const Tensor h_init = check_state(h0, "h0", P);
  const Tensor c_init = check_state(c0, "c0", H);

  std::vector<Tensor> h_finals, c_finals;
  Tensor layer_input = x;
  for (std::int64_t l = 0; l < num_layers_; ++l) {
    std::vector<Tensor> direction_outputs;
    for (std::int64_t d = 0; d < directions; ++d) {
      const std::int64_t slot = l * directions + d;
      const Tensor h_slot = h_init.defined() ? select(h_init, 0, slot) : Tensor();
      const Tensor c_slot = c_init.defined() ? select(c_init, 0, slot) : Tensor();
      RecurrentResult result = layer(layer_input, h_slot, c_slot,
                                     weights_[static_cast<std::size_t>(slot)], lengths, d == 1);
      direction_outputs.push_back(result.output);
      h_finals.push_back(result.h_n);
      if (result.c_n.defined()) c_finals.push_back(result.c_n);
    }
    Tensor output = directions == 2 ? cat(direction_outputs, 2) : direction_outputs[0];
    if (l + 1 < num_layers_ && dropout_ > 0.0f && is_training()) {
      output = tapegrad::dropout(output, dropout_, true, dropout_generator_);
    }
    layer_input = output;
  }
  Result result;
  result.output = unbatched ? squeeze(layer_input, 1)
                  : batch_first_ ? transpose(layer_input, 0, 1) : layer_input;
  result.h_n = stack(h_finals, 0);
  if (!c_finals.empty()) result.c_n = stack(c_finals, 0);
  if (unbatched) {
    result.h_n = squeeze(result.h_n, 1);
    if (result.c_n.defined()) result.c_n = squeeze(result.c_n, 1);
  }
  return result;
}

// ---------------------------------------------------------------- LSTM

LSTM::LSTM(const LSTMOptions& o, Generator& generator)
    : RecurrentBase({"LSTM", 4, o.input_size, o.hidden_size, o.num_layers, o.proj_size, o.bias,
                     o.batch_first, o.bidirectional, o.dropout},
                    generator) {}

LSTMOutput LSTM::forward(const Tensor& input, const LSTMState& state,
                         const std::vector<std::int64_t>& lengths) const {
  if (state.h.defined() != state.c.defined()) {
    throw ValueError("LSTM: pass both h0 and c0, or neither (zeros)");
  }
  const bool fused = fused_;
  Result r = run(input, state.h, state.c, lengths,
                 [fused](const Tensor& x, const Tensor& h0, const Tensor& c0, const LayerWeights& w,
                         const std::vector<std::int64_t>& lengths, bool reverse) {
                   if (fused) {
                     return recurrent_layer("LSTM", builtin_cell("lstm"), x, h0, c0,
                                            {w.weight_ih, w.weight_hh, w.bias_ih, w.bias_hh,
                                             w.weight_hr, {}},
                                            lengths, reverse);
                   }
                   return lstm_layer_reference(x, h0, c0, w.weight_ih, w.weight_hh, w.bias_ih,
                                               w.bias_hh, w.weight_hr, lengths, reverse);
                 });
  return {r.output, {r.h_n, r.c_n}};
}

void LSTM::set_forget_gate_bias(float value) {
  for (const LayerWeights& w : weights_) {
    if (!w.bias_ih.defined()) {
      throw ValueError("LSTM::set_forget_gate_bias: the LSTM was built with bias=false");
    }
    init::lstm_forget_gate_bias_(w.bias_ih, value);
    init::lstm_forget_gate_bias_(w.bias_hh, 0.0f);
  }
}

// ---------------------------------------------------------------- GRU

GRU::GRU(const GRUOptions& o, Generator& generator)
    : RecurrentBase({"GRU", 3, o.input_size, o.hidden_size, o.num_layers, 0, o.bias,
                     o.batch_first, o.bidirectional, o.dropout},
                    generator) {}

RNNOutput GRU::forward(const Tensor& input, const Tensor& h0,
                       const std::vector<std::int64_t>& lengths) const {
  const bool fused = fused_;
  Result r = run(input, h0, Tensor(), lengths,
                 [fused](const Tensor& x, const Tensor& h, const Tensor&, const LayerWeights& w,
                         const std::vector<std::int64_t>& lengths, bool reverse) {
                   if (fused) {
                     return recurrent_layer("GRU", builtin_cell("gru"), x, h, Tensor(),
                                            {w.weight_ih, w.weight_hh, w.bias_ih, w.bias_hh,
                                             Tensor(), {}},
                                            lengths, reverse);
                   }
                   return gru_layer_reference(x, h, w.weight_ih, w.weight_hh, w.bias_ih,
                                              w.bias_hh, lengths, reverse);
                 });
  return {r.output, r.h_n};
}

// ---------------------------------------------------------------- RNN

namespace {
RNNNonlinearity parse_nonlinearity(const std::string& name, const char* module) {
  if (name == "tanh") return RNNNonlinearity::Tanh;
  if (name == "relu") return RNNNonlinearity::ReLU;
  throw ValueError(std::string(module) + ": nonlinearity must be \"tanh\" or \"relu\", got \"" +
                   name + "\"");
}
}  // namespace

RNN::RNN(const RNNOptions& o, Generator& generator)
    : RecurrentBase({"RNN", 1, o.input_size, o.hidden_size, o.num_layers, 0, o.bias,
                     o.batch_first, o.bidirectional, o.dropout},
                    generator),
      nonlinearity_(parse_nonlinearity(o.nonlinearity, "RNN")) {}

RNNOutput RNN::forward(const Tensor& input, const Tensor& h0,
                       const std::vector<std::int64_t>& lengths) const {
  const bool fused = fused_;
  const RNNNonlinearity nonlinearity = nonlinearity_;
  Result r = run(input, h0, Tensor(), lengths,
                 [fused, nonlinearity](const Tensor& x, const Tensor& h, const Tensor&,
                                       const LayerWeights& w,
                                       const std::vector<std::int64_t>& lengths, bool reverse) {
                   if (fused) {
                     const char* cell =
                         nonlinearity == RNNNonlinearity::Tanh ? "rnn_tanh" : "rnn_relu";
                     return recurrent_layer("RNN", builtin_cell(cell), x, h, Tensor(),
                                            {w.weight_ih, w.weight_hh, w.bias_ih, w.bias_hh,
                                             Tensor(), {}},
                                            lengths, reverse);
                   }
                   return rnn_layer_reference(x, h, w.weight_ih, w.weight_hh, w.bias_ih,
                                              w.bias_hh, nonlinearity, lengths, reverse);
                 });
  return {r.output, r.h_n};
}

// ---------------------------------------------------------------- cells

namespace {

// x [B, I] or [I] -> [B, I] plus whether to squeeze the result back.
std::pair<Tensor, bool> batch_cell_input(const char* name, const Tensor& x, std::int64_t input_size) {
  if (!x.defined() || (x.dim() != 1 && x.dim() != 2) || x.size(-1) != input_size) {
    throw ShapeError(std::string(name) + ": expected input of shape [B, " +
                     std::to_string(input_size) + "] or [" + std::to_string(input_size) +
                     "], got " + (x.defined() ? format_shape(x.shape()) : "undefined"));
  }
  return {x.dim() == 1 ? unsqueeze(x, 0) : x, x.dim() == 1};
}

Tensor batch_cell_state(const char* name, const char* what, const Tensor& state, std::int64_t B,
                        std::int64_t H, bool unbatched) {
  if (!state.defined()) return Tensor::zeros({B, H});
  const Shape expected = unbatched ? Shape{H} : Shape{B, H};
  if (state.shape() != expected) {
    throw ShapeError(std::string(name) + ": expected " + what + " of shape " +
                     format_shape(expected) + ", got " + format_shape(state.shape()));
  }
  return unbatched ? unsqueeze(state, 0) : state;
}

}  // namespace

RecurrentCellBase::RecurrentCellBase(const char* name, std::int64_t gates,
                                     const RNNCellOptions& options, Generator& generator)
    : input_size_(options.input_size), hidden_size_(options.hidden_size) {
  check_options(name, input_size_, hidden_size_, 1, 0.0f);
  const std::int64_t H = hidden_size_;
  weight_ih = register_parameter("weight_ih", uniform_parameter({gates * H, input_size_}, H, generator));
  weight_hh = register_parameter("weight_hh", uniform_parameter({gates * H, H}, H, generator));
  if (options.bias) {
    bias_ih = register_parameter("bias_ih", uniform_parameter({gates * H}, H, generator));
    bias_hh = register_parameter("bias_hh", uniform_parameter({gates * H}, H, generator));
  }
}

LSTMCell::LSTMCell(const RNNCellOptions& options, Generator& generator)
    : RecurrentCellBase("LSTMCell", 4, options, generator) {}

LSTMState LSTMCell::forward(const Tensor& x_in, const LSTMState& state) const {
  auto [x, unbatched] = batch_cell_input("LSTMCell", x_in, input_size_);
  if (state.h.defined() != state.c.defined()) {
    throw ValueError("LSTMCell: pass both h and c, or neither (zeros)");
  }
  const std::int64_t B = x.size(0);
  Tensor h = batch_cell_state("LSTMCell", "h", state.h, B, hidden_size_, unbatched);
  Tensor c = batch_cell_state("LSTMCell", "c", state.c, B, hidden_size_, unbatched);
  Tensor gates = add(linear(x, weight_ih, bias_ih), linear(h, weight_hh, bias_hh));
  std::vector<Tensor> hc = lstm_cell(gates, c);
  if (unbatched) return {squeeze(hc[0], 0), squeeze(hc[1], 0)};
  return {hc[0], hc[1]};
}

GRUCell::GRUCell(const RNNCellOptions& options, Generator& generator)
    : RecurrentCellBase("GRUCell", 3, options, generator) {}

Tensor GRUCell::forward(const Tensor& x_in, const Tensor& h_in) const {
  auto [x, unbatched] = batch_cell_input("GRUCell", x_in, input_size_);
  Tensor h = batch_cell_state("GRUCell", "h", h_in, x.size(0), hidden_size_, unbatched);
  std::vector<Tensor> gx = chunk(linear(x, weight_ih, bias_ih), 3, 1);
  std::vector<Tensor> gh = chunk(linear(h, weight_hh, bias_hh), 3, 1);
  Tensor r = sigmoid(add(gx[0], gh[0]));
  Tensor z = sigmoid(add(gx[1], gh[1]));
  Tensor n = tanh(add(gx[2], mul(r, gh[2])));
  Tensor out = add(mul(sub(Tensor::ones_like(z), z), n), mul(z, h));  // (1 - z) * n + z * h
  return unbatched ? squeeze(out, 0) : out;
}

RNNCell::RNNCell(const RNNCellOptions& options, Generator& generator)
    : RecurrentCellBase("RNNCell", 1, options, generator),
      relu_(parse_nonlinearity(options.nonlinearity, "RNNCell") == RNNNonlinearity::ReLU) {}

Tensor RNNCell::forward(const Tensor& x_in, const Tensor& h_in) const {
  auto [x, unbatched] = batch_cell_input("RNNCell", x_in, input_size_);
  Tensor h = batch_cell_state("RNNCell", "h", h_in, x.size(0), hidden_size_, unbatched);
  Tensor pre = add(linear(x, weight_ih, bias_ih), linear(h, weight_hh, bias_hh));
  Tensor out = relu_ ? relu(pre) : tanh(pre);
  return unbatched ? squeeze(out, 0) : out;
}

}  // namespace tapegrad::nn
