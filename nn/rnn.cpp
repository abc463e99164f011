#include "nn/rnn.h"

#include <algorithm>
#include <cmath>
#include <deque>
#include <iterator>
#include <mutex>

#include "autograd/grad_mode.h"
#include "nn/cell_definition.h"
#include "nn/init.h"
#include "ops/cells.h"
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
  // Bounded so that gates * hidden_size (gates <= 4) and proj_size * 2 directions cannot overflow;
  // each weight's shape is then checked as a whole (uniform_parameter).
  if (input_size > max_numel / 4 || hidden_size > max_numel / 4) {
    throw ShapeError(std::string(name) + ": input_size " + std::to_string(input_size) +
                     " or hidden_size " + std::to_string(hidden_size) +
                     " is too large (at most " + std::to_string(max_numel / 4) + ")");
  }
  if (!(dropout >= 0.0f && dropout <= 1.0f)) {
    throw ValueError(std::string(name) + ": dropout must be in [0, 1], got " +
                     std::to_string(dropout));
  }
}

// PyTorch initialises every recurrent weight and bias from U(-1/sqrt(H), 1/sqrt(H)), the bound
// computed in double (Python) and rounded to float by uniform_, as here: a bound computed in float
// can differ by an ulp, and then Generator::torch would not reproduce PyTorch's weights.
// `module` names the layer in the ShapeError of a weight too large for any tensor.
Tensor uniform_parameter(const char* module, const Shape& shape, std::int64_t hidden_size,
                         Generator& generator) {
  checked_numel(module, shape);
  const auto bound = static_cast<float>(1.0 / std::sqrt(static_cast<double>(hidden_size)));
  return Tensor::uniform(shape, -bound, bound, generator);
}

}  // namespace

// ---------------------------------------------------------------- the cell registry

namespace {

bool any_mask(const RecurrentMasks& m) {
  return m.recurrent.defined() || m.zoneout_h.defined() || m.zoneout_c.defined();
}

// 0 with probability p, else scale: one draw per element.
Tensor bernoulli_mask(const Shape& shape, float p, float scale, Generator& generator) {
  Tensor mask = Tensor::uniform(shape, 0.0f, 1.0f, generator);
  float* m = mask.data();
  for (std::int64_t i = 0; i < mask.numel(); ++i) m[i] = m[i] < p ? 0.0f : scale;
  return mask;
}

// The built-in cells: lstm, gru and rnn_* run the hand-written kernels (bench_gates measures the
// derived LSTM backward slower) with the references composed in nn/rnn_reference.cpp, which the
// PyTorch fixtures check; the variants run kernels derived from ops/cells.h, as a user's cell does.
std::vector<CellDefinition> builtin_definitions() {
  std::vector<CellDefinition> cells;
  cells.push_back(cell_definition<cells::LSTM>(builtin_cell("lstm")));
  cells.back().composed = [](const Tensor& x, const Tensor& h0, const Tensor& c0,
                             const RecurrentWeights& w, const std::vector<std::int64_t>& lengths,
                             bool reverse, const RecurrentMasks& masks) {
    if (any_mask(masks)) return composed_cell_layer<cells::LSTM>(x, h0, c0, w, lengths, reverse, masks);
    return lstm_layer_reference(x, h0, c0, w.weight_ih, w.weight_hh, w.bias_ih, w.bias_hh,
                                w.weight_hr, lengths, reverse);
  };
  cells.push_back(cell_definition<cells::GRU>(builtin_cell("gru")));
  cells.back().composed = [](const Tensor& x, const Tensor& h0, const Tensor& c0,
                             const RecurrentWeights& w, const std::vector<std::int64_t>& lengths,
                             bool reverse, const RecurrentMasks& masks) {
    if (any_mask(masks)) return composed_cell_layer<cells::GRU>(x, h0, c0, w, lengths, reverse, masks);
    return gru_layer_reference(x, h0, w.weight_ih, w.weight_hh, w.bias_ih, w.bias_hh, lengths,
                               reverse);
  };
  for (const RNNNonlinearity act : {RNNNonlinearity::Tanh, RNNNonlinearity::ReLU}) {
    const bool tanh_act = act == RNNNonlinearity::Tanh;
    const CellKernel& kernel = builtin_cell(tanh_act ? "rnn_tanh" : "rnn_relu");
    cells.push_back(tanh_act ? cell_definition<cells::RNNTanh>(kernel)
                             : cell_definition<cells::RNNReLU>(kernel));
    cells.back().composed = [act](const Tensor& x, const Tensor& h0, const Tensor& c0,
                                  const RecurrentWeights& w,
                                  const std::vector<std::int64_t>& lengths, bool reverse,
                                  const RecurrentMasks& masks) {
      // rnn_layer_reference has no projection: the generic composition has (and the masks).
      if (any_mask(masks) || w.weight_hr.defined()) {
        return act == RNNNonlinearity::Tanh
                   ? composed_cell_layer<cells::RNNTanh>(x, h0, c0, w, lengths, reverse, masks)
                   : composed_cell_layer<cells::RNNReLU>(x, h0, c0, w, lengths, reverse, masks);
      }
      return rnn_layer_reference(x, h0, w.weight_ih, w.weight_hh, w.bias_ih, w.bias_hh, act,
                                 lengths, reverse);
    };
  }
  cells.push_back(cell_definition<cells::PeepholeLSTM>(derived_cell("peephole_lstm")));
  cells.push_back(cell_definition<cells::CIFGLSTM>(derived_cell("cifg_lstm")));
  cells.push_back(cell_definition<cells::LayerNormLSTM>(derived_cell("ln_lstm")));
  return cells;
}

std::mutex& registry_mutex() {
  static std::mutex mutex;
  return mutex;
}

// A deque: registering a cell never moves the definitions modules already point to.
std::deque<CellDefinition>& registry() {
  static std::deque<CellDefinition> cells = [] {
    std::vector<CellDefinition> builtin = builtin_definitions();
    return std::deque<CellDefinition>(std::make_move_iterator(builtin.begin()),
                                      std::make_move_iterator(builtin.end()));
  }();
  return cells;
}

std::string joined_names(const std::deque<CellDefinition>& cells) {
  std::string names;
  for (const CellDefinition& d : cells) names += (names.empty() ? "" : ", ") + d.name;
  return names;
}

// The module names today's classes have always used in their messages.
std::string module_name_of(const std::string& cell) {
  if (cell == "lstm") return "LSTM";
  if (cell == "gru") return "GRU";
  if (cell == "rnn_tanh" || cell == "rnn_relu") return "RNN";
  return cell;
}

}  // namespace

void register_cell(CellDefinition definition) {
  const std::string& name = definition.name;
  if (name.empty() || definition.kernel == nullptr || !definition.composed) {
    throw ValueError("register_cell: a cell needs a name, a kernel and a composed layer (cell \"" +
                     name + "\")");
  }
  if (definition.gates != definition.kernel->gates ||
      definition.cell_state != definition.kernel->cell_state ||
      static_cast<std::int64_t>(definition.param_names.size()) != definition.kernel->params) {
    throw ValueError("register_cell: cell \"" + name +
                     "\" declares a different gate count, cell state or parameter count than "
                     "its kernel");
  }
  if (!definition.param_init.empty() && definition.param_init.size() != definition.param_names.size()) {
    throw ValueError("register_cell: cell \"" + name + "\" gives " +
                     std::to_string(definition.param_init.size()) + " initialisations for " +
                     std::to_string(definition.param_names.size()) + " parameters");
  }
  std::lock_guard<std::mutex> lock(registry_mutex());
  std::deque<CellDefinition>& cells = registry();
  for (const CellDefinition& d : cells) {
    if (d.name == name) throw ValueError("register_cell: a cell named \"" + name + "\" is already registered");
  }
  cells.push_back(std::move(definition));
}

std::vector<std::string> registered_cells() {
  std::lock_guard<std::mutex> lock(registry_mutex());
  std::vector<std::string> names;
  for (const CellDefinition& d : registry()) names.push_back(d.name);
  return names;
}

const CellDefinition& find_cell(const std::string& name) {
  std::lock_guard<std::mutex> lock(registry_mutex());
  for (const CellDefinition& d : registry()) {
    if (d.name == name) return d;
  }
  throw ValueError("unknown recurrent cell \"" + name + "\"; registered cells: " +
                   joined_names(registry()));
}

// ---------------------------------------------------------------- RecurrentBase

RecurrentBase::RecurrentBase(const std::string& cell, const RecurrentOptions& o,
                             Generator& generator, const std::string& module_name)
    : cell_(&find_cell(cell)),
      name_(module_name.empty() ? module_name_of(cell) : module_name),
      input_size_(o.input_size),
      hidden_size_(o.hidden_size),
      num_layers_(o.num_layers),
      proj_size_(o.proj_size),
      bias_(o.bias),
      batch_first_(o.batch_first),
      bidirectional_(o.bidirectional),
      dropout_(o.dropout),
      input_dropout_(o.input_dropout),
      recurrent_dropout_(o.recurrent_dropout),
      zoneout_h_(o.zoneout_h),
      zoneout_c_(o.zoneout_c),
      dropout_generator_(generator.child_seed()) {
  const char* name = name_.c_str();
  check_options(name, input_size_, hidden_size_, num_layers_, dropout_);
  for (const auto& [what, p] : {std::pair<const char*, float>{"input_dropout", input_dropout_},
                                {"recurrent_dropout", recurrent_dropout_}}) {
    if (!(p >= 0.0f && p < 1.0f)) {
      throw ValueError(name_ + ": " + what + " must be in [0, 1), got " + std::to_string(p));
    }
  }
  for (const auto& [what, z] : {std::pair<const char*, float>{"zoneout_h", zoneout_h_},
                                {"zoneout_c", zoneout_c_}}) {
    if (!(z >= 0.0f && z <= 1.0f)) {
      throw ValueError(name_ + ": " + what + " must be in [0, 1], got " + std::to_string(z));
    }
  }
  if (zoneout_c_ > 0.0f && !cell_->cell_state) {
    throw ValueError(name_ + ": zoneout_c needs a cell with a cell state; " + cell_->name +
                     " has none");
  }
  if (proj_size_ < 0 || (proj_size_ > 0 && proj_size_ >= hidden_size_)) {
    throw ValueError(name_ + ": proj_size must be in [0, hidden_size), got " +
                     std::to_string(proj_size_) + " with hidden_size " +
                     std::to_string(hidden_size_));
  }
  if (proj_size_ > 0 && cell_->kernel->reads_h_prev) {
    throw ValueError(name_ + ": the " + cell_->name + " cell reads h_prev itself, so it cannot "
                     "take a projection (proj_size)");
  }
  // A row_norm over one unit is 0 whatever the unit holds (finite, thanks to eps, but the cell
  // would silently lose that path: ln_lstm's h would never see c).
  if (cell_->kernel->row_stats > 0 && hidden_size_ < 2) {
    throw ValueError(name_ + ": the " + cell_->name + " cell layer-normalises rows of hidden_size "
                     "units, so hidden_size must be at least 2, got " + std::to_string(hidden_size_));
  }
  const std::int64_t H = hidden_size_;
  const std::int64_t P = proj_size_ > 0 ? proj_size_ : H;
  const std::int64_t gates = cell_->gates;
  const std::int64_t directions = num_directions();
  for (std::int64_t layer = 0; layer < num_layers_; ++layer) {
    const std::int64_t layer_input = layer == 0 ? input_size_ : P * directions;
    for (std::int64_t direction = 0; direction < directions; ++direction) {
      const std::string suffix = "_l" + std::to_string(layer) + (direction ? "_reverse" : "");
      RecurrentWeights w;
      // Registration order is PyTorch's state_dict order: w_ih, w_hh, b_ih, b_hh, w_hr; then
      // the cell's own vectors.
      w.weight_ih = register_parameter("weight_ih" + suffix,
                                       uniform_parameter(name_.c_str(), {gates * H, layer_input}, H, generator));
      w.weight_hh = register_parameter("weight_hh" + suffix,
                                       uniform_parameter(name_.c_str(), {gates * H, P}, H, generator));
      if (bias_) {
        w.bias_ih = register_parameter("bias_ih" + suffix, uniform_parameter(name_.c_str(), {gates * H}, H, generator));
        w.bias_hh = register_parameter("bias_hh" + suffix, uniform_parameter(name_.c_str(), {gates * H}, H, generator));
      }
      if (proj_size_ > 0) {
        w.weight_hr = register_parameter("weight_hr" + suffix, uniform_parameter(name_.c_str(), {P, H}, H, generator));
      }
      // LayerNorm gains and biases start at 1 and 0, as torch.nn.LayerNorm's (no draws).
      if (cell_->kernel->norm_ih) {
        w.layernorm_ih_weight = register_parameter("layernorm_ih_weight" + suffix, Tensor::ones({gates * H}));
        w.layernorm_ih_bias = register_parameter("layernorm_ih_bias" + suffix, Tensor::zeros({gates * H}));
      }
      if (cell_->kernel->norm_hh) {
        w.layernorm_hh_weight = register_parameter("layernorm_hh_weight" + suffix, Tensor::ones({gates * H}));
        w.layernorm_hh_bias = register_parameter("layernorm_hh_bias" + suffix, Tensor::zeros({gates * H}));
      }
      for (std::size_t k = 0; k < cell_->param_names.size(); ++k) {
        const cell::Init init = k < cell_->param_init.size() ? cell_->param_init[k] : cell::Init::Uniform;
        Tensor value = init == cell::Init::One    ? Tensor::ones({H})
                       : init == cell::Init::Zero ? Tensor::zeros({H})
                                                  : uniform_parameter(name_.c_str(), {H}, H, generator);
        w.cell_params.push_back(register_parameter(cell_->param_names[k] + suffix, value));
      }
      weights_.push_back(w);
    }
  }
  if (o.forget_bias) set_forget_gate_bias(*o.forget_bias);
}

RecurrentOutput RecurrentBase::forward(const Tensor& input, const RecurrentState& state,
                                       const std::vector<std::int64_t>& lengths) const {
  const std::string& name = name_;
  if (!input.defined()) throw ValueError(name + ": the input is undefined");
  if (input.dim() != 2 && input.dim() != 3) {
    throw ShapeError(name + ": expected a 3-D input (" +
                     (batch_first_ ? "[B, T, I]" : "[T, B, I]") +
                     ") or an unbatched 2-D input [T, I], got shape " + format_shape(input.shape()));
  }
  const bool stateful = cell_->cell_state;
  if (stateful && state.h.defined() != state.c.defined()) {
    throw ValueError(name + ": pass both h0 and c0, or neither (zeros)");
  }
  if (!stateful && state.c.defined()) {
    throw ValueError(name + ": the " + cell_->name + " cell has no cell state, but c0 was given");
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
  auto check_state = [&](const Tensor& s, const char* what, std::int64_t size) {
    if (!s.defined()) return s;
    const Shape expected = unbatched ? Shape{slots, size} : Shape{slots, B, size};
    if (s.shape() != expected) {
      throw ShapeError(name + ": expected " + what + " of shape " + format_shape(expected) +
                       ", got " + format_shape(s.shape()));
    }
    return unbatched ? unsqueeze(s, 1) : s;
  };
  const Tensor h_init = check_state(state.h, "h0", P);
  const Tensor c_init = check_state(state.c, "c0", H);

  std::vector<Tensor> h_finals, c_finals;
  Tensor layer_input = x;
  const bool training = is_training();
  const std::int64_t T = x.size(0);
  for (std::int64_t l = 0; l < num_layers_; ++l) {
    std::vector<Tensor> direction_outputs;
    // Variational dropout of the layer's input: one [B, I] mask for every step.
    if (training && input_dropout_ > 0.0f) {
      layer_input = mul(layer_input, bernoulli_mask({B, layer_input.size(2)}, input_dropout_,
                                                    1.0f / (1.0f - input_dropout_),
                                                    dropout_generator_));
    }
    for (std::int64_t d = 0; d < directions; ++d) {
      const std::int64_t slot = l * directions + d;
      const Tensor h_slot = h_init.defined() ? select(h_init, 0, slot) : Tensor();
      const Tensor c_slot = c_init.defined() ? select(c_init, 0, slot) : Tensor();
      const RecurrentWeights& w = weights_[static_cast<std::size_t>(slot)];
      RecurrentMasks masks;
      if (training && recurrent_dropout_ > 0.0f) {
        masks.recurrent = bernoulli_mask({B, P}, recurrent_dropout_,
                                         1.0f / (1.0f - recurrent_dropout_), dropout_generator_);
      }
      // zoneout: 1 keeps the previous value (probability z) in training; z itself in evaluation
      if (zoneout_h_ > 0.0f) {
        masks.zoneout_h = training ? bernoulli_mask({T, B, P}, 1.0f - zoneout_h_, 1.0f, dropout_generator_)
                                   : Tensor::full({T, B, P}, zoneout_h_);
      }
      if (zoneout_c_ > 0.0f) {
        masks.zoneout_c = training ? bernoulli_mask({T, B, H}, 1.0f - zoneout_c_, 1.0f, dropout_generator_)
                                   : Tensor::full({T, B, H}, zoneout_c_);
      }
      RecurrentResult result =
          fused_ ? recurrent_layer(name_, *cell_->kernel, layer_input, h_slot, c_slot, w, lengths,
                                   d == 1, masks)
                 : cell_->composed(layer_input, h_slot, c_slot, w, lengths, d == 1, masks);
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
  RecurrentOutput result;
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

void RecurrentBase::set_forget_gate_bias(float value) {
  const std::int64_t block = cell_->forget_gate;
  if (block < 0) {
    throw ValueError(name_ + ": the " + cell_->name + " cell has no forget gate to set a bias of");
  }
  const std::int64_t H = hidden_size_;
  for (const RecurrentWeights& w : weights_) {
    if (!w.bias_ih.defined()) {
      throw ValueError(name_ + "::set_forget_gate_bias: the " + name_ +
                       " was built with bias=false");
    }
    NoGradGuard no_grad;
    Tensor bias_ih = w.bias_ih, bias_hh = w.bias_hh;  // handles: writes reach the parameters
    std::fill_n(bias_ih.data() + block * H, H, value);
    std::fill_n(bias_hh.data() + block * H, H, 0.0f);
    bias_ih.bump_version();
    bias_hh.bump_version();
  }
}

RecurrentBase make_recurrent(const std::string& cell, const RecurrentOptions& options,
                             Generator& generator) {
  return RecurrentBase(cell, options, generator);
}

// ---------------------------------------------------------------- LSTM, GRU, RNN

LSTM::LSTM(const LSTMOptions& o, Generator& generator)
    : RecurrentBase("lstm",
                    {.input_size = o.input_size, .hidden_size = o.hidden_size,
                     .num_layers = o.num_layers, .bias = o.bias, .batch_first = o.batch_first,
                     .dropout = o.dropout, .bidirectional = o.bidirectional,
                     .proj_size = o.proj_size},
                    generator) {}

LSTMOutput LSTM::forward(const Tensor& input, const LSTMState& state,
                         const std::vector<std::int64_t>& lengths) const {
  RecurrentOutput r = RecurrentBase::forward(input, state, lengths);
  return {r.output, {r.h_n, r.c_n}};
}

GRU::GRU(const GRUOptions& o, Generator& generator)
    : RecurrentBase("gru",
                    {.input_size = o.input_size, .hidden_size = o.hidden_size,
                     .num_layers = o.num_layers, .bias = o.bias, .batch_first = o.batch_first,
                     .dropout = o.dropout, .bidirectional = o.bidirectional},
                    generator) {}

RNNOutput GRU::forward(const Tensor& input, const Tensor& h0,
                       const std::vector<std::int64_t>& lengths) const {
  RecurrentOutput r = RecurrentBase::forward(input, {h0, Tensor()}, lengths);
  return {r.output, r.h_n};
}

namespace {
RNNNonlinearity parse_nonlinearity(const std::string& name, const char* module) {
  if (name == "tanh") return RNNNonlinearity::Tanh;
  if (name == "relu") return RNNNonlinearity::ReLU;
  throw ValueError(std::string(module) + ": nonlinearity must be \"tanh\" or \"relu\", got \"" +
                   name + "\"");
}
}  // namespace

RNN::RNN(const RNNOptions& o, Generator& generator)
    : RecurrentBase(parse_nonlinearity(o.nonlinearity, "RNN") == RNNNonlinearity::Tanh
                        ? "rnn_tanh"
                        : "rnn_relu",
                    {.input_size = o.input_size, .hidden_size = o.hidden_size,
                     .num_layers = o.num_layers, .bias = o.bias, .batch_first = o.batch_first,
                     .dropout = o.dropout, .bidirectional = o.bidirectional},
                    generator) {}

RNNOutput RNN::forward(const Tensor& input, const Tensor& h0,
                       const std::vector<std::int64_t>& lengths) const {
  RecurrentOutput r = RecurrentBase::forward(input, {h0, Tensor()}, lengths);
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
  weight_ih = register_parameter("weight_ih", uniform_parameter(name, {gates * H, input_size_}, H, generator));
  weight_hh = register_parameter("weight_hh", uniform_parameter(name, {gates * H, H}, H, generator));
  if (options.bias) {
    bias_ih = register_parameter("bias_ih", uniform_parameter(name, {gates * H}, H, generator));
    bias_hh = register_parameter("bias_hh", uniform_parameter(name, {gates * H}, H, generator));
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
