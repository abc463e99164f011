#pragma once
// Recurrent layers with PyTorch's options, parameter names, shapes, gate order and initialisation
// (https://pytorch.org/docs/stable/generated/torch.nn.LSTM.html, .../torch.nn.GRU.html,
// .../torch.nn.RNN.html), so a PyTorch state_dict loads by name.
//
//   Generator gen(0);
//   nn::LSTM lstm({.input_size = 1, .hidden_size = 100, .num_layers = 2, .batch_first = true}, gen);
//   auto [output, state] = lstm.forward(x);          // output [B, T, 100]; state.h, state.c [2, B, 100]
//   auto next = lstm.forward(chunk, state.detach()); // truncated BPTT: carry the state, cut the graph
//
// Input is [T, B, I] ([B, T, I] with batch_first) or unbatched [T, I]. h_n/c_n are
// [num_layers * num_directions, B, H] and never batch-first. `lengths` (one per sequence, in
// [1, T]) runs variable-length batches: past its length a sequence's state is carried unchanged and
// its output is zero, so h_n holds each sequence's state at its own last step (PyTorch's
// packed-sequence semantics, without packing).
//
// Two implementations per layer, tested to agree on outputs and every gradient: the fast default
// (one tape node per layer and direction: ops/lstm_layer.cpp etc.) and a reference composed from
// generic ops (set_fused(false)), which is also the readable specification.
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "autograd/generator.h"
#include "nn/module.h"
#include "ops/cell_math.h"
#include "ops/recurrent.h"

namespace tapegrad::nn {

struct RNNOptions {
  std::int64_t input_size = 0;
  std::int64_t hidden_size = 0;
  std::int64_t num_layers = 1;
  std::string nonlinearity = "tanh";  // or "relu"
  bool bias = true;
  bool batch_first = false;
  float dropout = 0.0f;  // between layers, in training mode only
  bool bidirectional = false;
};

struct LSTMOptions {
  std::int64_t input_size = 0;
  std::int64_t hidden_size = 0;
  std::int64_t num_layers = 1;
  bool bias = true;
  bool batch_first = false;
  float dropout = 0.0f;
  bool bidirectional = false;
  std::int64_t proj_size = 0;  // > 0: h is projected to proj_size (weight_hr_l{k})
};

struct GRUOptions {
  std::int64_t input_size = 0;
  std::int64_t hidden_size = 0;
  std::int64_t num_layers = 1;
  bool bias = true;
  bool batch_first = false;
  float dropout = 0.0f;
  bool bidirectional = false;
};

// Options of any registered cell (make_recurrent): PyTorch's recurrent options plus the
// regularisers every LSTM-like cell takes.
struct RecurrentOptions {
  std::int64_t input_size = 0;
  std::int64_t hidden_size = 0;
  std::int64_t num_layers = 1;
  bool bias = true;
  bool batch_first = false;
  float dropout = 0.0f;  // between layers, in training mode only
  bool bidirectional = false;
  std::int64_t proj_size = 0;  // cells that do not read h_prev themselves (LSTM-like)
  // Sets the forget-gate block of every bias_ih at construction (bias_hh's stays 0); cells with a
  // forget gate only.
  std::optional<float> forget_bias{};
  // Training mode only, seeded by the module's generator (ops/recurrent.h, RecurrentMasks):
  // variational dropout, one mask per sequence and layer, of each layer's input x_t ([B, I]) and
  // of h_{t-1} before W_hh ([B, H]), scaled by 1/(1-p); zoneout of h and c (per step and unit,
  // the previous value kept with probability zoneout_*; in evaluation its expectation).
  float input_dropout = 0.0f;
  float recurrent_dropout = 0.0f;
  float zoneout_h = 0.0f;
  float zoneout_c = 0.0f;  // cells with a cell state only
};

// h and c of every layer and direction: [num_layers * num_directions, B, P or H]; c undefined for
// cells without a cell state.
struct RecurrentState {
  Tensor h{};
  Tensor c{};
  // Cuts the graph (truncated BPTT); an undefined c (no cell state) stays undefined.
  RecurrentState detach() const {
    return {h.defined() ? h.detach() : h, c.defined() ? c.detach() : c};
  }
};
using LSTMState = RecurrentState;

// What every recurrent module returns: c_n undefined where the cell has none.
struct RecurrentOutput {
  Tensor output{};
  Tensor h_n{};
  Tensor c_n{};
  RecurrentState state() const { return {h_n, c_n}; }
};

struct LSTMOutput {
  Tensor output{};
  LSTMState state{};
};

struct RNNOutput {
  Tensor output{};
  Tensor h_n{};
};

// A cell the recurrent modules can run: its math's spec (gate count, cell state, parameters), the
// fused step kernels for the layer driver, and the same layer composed from generic ops (the
// reference behind set_fused(false)). Built-in: lstm, gru, rnn_tanh, rnn_relu, peephole_lstm,
// cifg_lstm, ln_lstm. A cell of one's own: nn/cell_registry.h (register_cell<MyCell>()).
using ComposedLayer = std::function<RecurrentResult(
    const Tensor& x, const Tensor& h0, const Tensor& c0, const RecurrentWeights& weights,
    const std::vector<std::int64_t>& lengths, bool reverse, const RecurrentMasks& masks)>;
struct CellDefinition {
  std::string name;
  std::int64_t gates = 1;
  bool cell_state = false;
  std::vector<std::string> param_names;  // per-unit vectors [H]: "<name>_l{k}[_reverse]"
  std::vector<cell::Init> param_init;    // one per name; empty: all Uniform
  std::int64_t forget_gate = -1;         // gate block forget_bias sets; -1: none
  const CellKernel* kernel = nullptr;
  ComposedLayer composed;
};
// Adds a cell under definition.name; throws ValueError if the name is taken or incomplete.
void register_cell(CellDefinition definition);
// Every registered name, built-in ones first: what make_recurrent and --cells accept.
std::vector<std::string> registered_cells();
// Throws ValueError naming the registered cells for an unknown name.
const CellDefinition& find_cell(const std::string& name);

// Every recurrent module: parameters per layer and direction (PyTorch names: weight_ih_l0, ...),
// layout, stacking, dropout between layers, and forward through the one layer driver.
class RecurrentBase : public Module {
 public:
  // `module_name` starts every error message (e.g. "LSTM"); empty: the cell's name.
  RecurrentBase(const std::string& cell, const RecurrentOptions& options, Generator& generator,
                const std::string& module_name = "");

  // input [T, B, I] ([B, T, I] with batch_first) or unbatched [T, I]; state: h (and c for cells
  // with a cell state), both or neither (zeros).
  RecurrentOutput forward(const Tensor& input, const RecurrentState& state = {},
                          const std::vector<std::int64_t>& lengths = {}) const;
  // forward with the forward hooks (nn/module.h): tensors {input, h, c} -> {output, h_n, c_n}.
  RecurrentOutput operator()(const Tensor& input, const RecurrentState& state = {},
                             const std::vector<std::int64_t>& lengths = {}) const;
  std::string type_name() const override { return name_; }
  std::string extra_repr() const override;  // PyTorch's: "10, 20, num_layers=2, batch_first=True"

  const std::string& cell() const { return cell_->name; }
  bool has_cell_state() const { return cell_->cell_state; }
  std::int64_t num_layers() const { return num_layers_; }
  std::int64_t hidden_size() const { return hidden_size_; }
  std::int64_t num_directions() const { return bidirectional_ ? 2 : 1; }
  // Fused single-node layers (default) or the reference composed from generic ops.
  void set_fused(bool fused) { fused_ = fused; }
  bool fused() const { return fused_; }
  // Sets the forget-gate block of every bias_ih to `value` and of every bias_hh to 0.
  void set_forget_gate_bias(float value);

 protected:
  // Dropout between layers, input/recurrent dropout and zoneout all draw from it.
  std::vector<std::pair<std::string, Generator*>> own_generators() override {
    return {{"dropout_generator", &dropout_generator_}};
  }

  const CellDefinition* cell_;
  std::string name_;
  std::int64_t input_size_, hidden_size_, num_layers_, proj_size_;
  bool bias_, batch_first_, bidirectional_;
  float dropout_;
  float input_dropout_, recurrent_dropout_, zoneout_h_, zoneout_c_;
  bool fused_ = true;
  std::vector<RecurrentWeights> weights_;  // index layer * num_directions + direction
  mutable Generator dropout_generator_;
};

// The factory: any registered cell by name ("lstm", "gru", "rnn_tanh", "rnn_relu",
// "peephole_lstm", "cifg_lstm", "ln_lstm", or one's own). A cell that layer-normalises its gate
// rows (ln_lstm) also has layernorm_ih_weight/_bias and layernorm_hh_weight/_bias [G] per layer
// and direction, initialised 1 and 0 (torch.nn.LayerNorm); a cell with a row_norm of its own
// (ln_lstm's c) needs hidden_size >= 2, since one unit always normalises to 0. "lstm", "gru" and "rnn_*" build exactly what
// nn::LSTM, nn::GRU and nn::RNN build (same parameters, names and initialisation).
RecurrentBase make_recurrent(const std::string& cell, const RecurrentOptions& options,
                             Generator& generator);

class LSTM : public RecurrentBase {
 public:
  LSTM(const LSTMOptions& options, Generator& generator);
  // state: both h and c, or neither (zeros).
  LSTMOutput forward(const Tensor& input, const LSTMState& state = {},
                     const std::vector<std::int64_t>& lengths = {}) const;
  LSTMOutput operator()(const Tensor& input, const LSTMState& state = {},
                        const std::vector<std::int64_t>& lengths = {}) const;
};

class GRU : public RecurrentBase {
 public:
  GRU(const GRUOptions& options, Generator& generator);
  RNNOutput forward(const Tensor& input, const Tensor& h0 = {},
                    const std::vector<std::int64_t>& lengths = {}) const;
  RNNOutput operator()(const Tensor& input, const Tensor& h0 = {},
                       const std::vector<std::int64_t>& lengths = {}) const;
};

class RNN : public RecurrentBase {
 public:
  RNN(const RNNOptions& options, Generator& generator);
  RNNOutput forward(const Tensor& input, const Tensor& h0 = {},
                    const std::vector<std::int64_t>& lengths = {}) const;
  RNNOutput operator()(const Tensor& input, const Tensor& h0 = {},
                       const std::vector<std::int64_t>& lengths = {}) const;
};

// ---- single steps, for hand-written loops (torch.nn.LSTMCell etc.) ----
struct RNNCellOptions {
  std::int64_t input_size = 0;
  std::int64_t hidden_size = 0;
  bool bias = true;
  std::string nonlinearity = "tanh";  // RNNCell only
};

// The parameters every cell has: weight_ih [G*H, I], weight_hh [G*H, H], bias_ih/bias_hh [G*H].
class RecurrentCellBase : public Module {
 public:
  std::string extra_repr() const override;  // PyTorch's: "10, 20" (+ ", bias=False")
  Tensor weight_ih, weight_hh, bias_ih, bias_hh;

 protected:
  RecurrentCellBase(const char* name, std::int64_t gates, const RNNCellOptions& options,
                    Generator& generator);
  std::int64_t input_size_, hidden_size_;
};

class LSTMCell : public RecurrentCellBase {
 public:
  LSTMCell(const RNNCellOptions& options, Generator& generator);
  // x [B, I] or [I]; state {h [B, H], c [B, H]} or empty (zeros). Returns {h', c'}.
  LSTMState forward(const Tensor& x, const LSTMState& state = {}) const;
  LSTMState operator()(const Tensor& x, const LSTMState& state = {}) const;  // with forward hooks
};

class GRUCell : public RecurrentCellBase {
 public:
  GRUCell(const RNNCellOptions& options, Generator& generator);
  Tensor forward(const Tensor& x, const Tensor& h = {}) const;
  Tensor operator()(const Tensor& x, const Tensor& h = {}) const;
};

class RNNCell : public RecurrentCellBase {
 public:
  RNNCell(const RNNCellOptions& options, Generator& generator);
  Tensor forward(const Tensor& x, const Tensor& h = {}) const;
  Tensor operator()(const Tensor& x, const Tensor& h = {}) const;
  std::string extra_repr() const override;

 private:
  bool relu_;
};

// Reference layers composed from generic ops (same contract as ops/recurrent.h).
RecurrentResult lstm_layer_reference(const Tensor& x, const Tensor& h0, const Tensor& c0,
                                     const Tensor& weight_ih, const Tensor& weight_hh,
                                     const Tensor& bias_ih, const Tensor& bias_hh,
                                     const Tensor& weight_hr,
                                     const std::vector<std::int64_t>& lengths, bool reverse);
RecurrentResult gru_layer_reference(const Tensor& x, const Tensor& h0, const Tensor& weight_ih,
                                    const Tensor& weight_hh, const Tensor& bias_ih,
                                    const Tensor& bias_hh,
                                    const std::vector<std::int64_t>& lengths, bool reverse);
RecurrentResult rnn_layer_reference(const Tensor& x, const Tensor& h0, const Tensor& weight_ih,
                                    const Tensor& weight_hh, const Tensor& bias_ih,
                                    const Tensor& bias_hh, RNNNonlinearity nonlinearity,
                                    const std::vector<std::int64_t>& lengths, bool reverse);

// Pads variable-length sequences [L_i, *] to [max L, N, *] ([N, max L, *] with batch_first),
// filling with padding_value (torch.nn.utils.rnn.pad_sequence). Differentiable.
Tensor pad_sequence(const std::vector<Tensor>& sequences, bool batch_first = false,
                    float padding_value = 0.0f);

}  // namespace tapegrad::nn
