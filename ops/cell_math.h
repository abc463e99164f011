#pragma once
// Writing a recurrent cell: its per-step pointwise math, ONCE, generically over the value type.
//
//   struct MyCell {
//     static constexpr cell::Spec spec{.name = "my_cell", .gates = 2};
//     template <class V>
//     static constexpr cell::Out<V> step(const cell::In<V>& in) {
//       V f = sigmoid(in.gate[0]);
//       V n = tanh(in.gate[1]);
//       return {.h = n + f * (in.h_prev - n)};
//     }
//   };
//
// `in.gate[k]` is gate block k of x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh (or only the x part,
// with `in.gate_h[k]` the h part, when spec.split_recurrent); `in.h_prev`, `in.c_prev` (cells with
// a cell state) and `in.param[k]` (the spec.params per-unit vectors [H]) are the other inputs.
// Allowed: + - * between values and floats, unary -, sigmoid, tanh, relu, and row_norm.
//
// Row-wise steps (layer normalisation, Ba, Kiros & Hinton 2016). Everything above is pointwise:
// unit j of the output needs only unit j of the inputs, so the kernels run a row in SIMD blocks of
// units. Normalising needs the whole row; a cell declares it in two ways:
//  - `row_norm(v)`: (v - mean) / sqrt(var + eps) over the H units of the row (biased variance,
//    eps 1e-5 as torch.nn.LayerNorm; row_norm(v, eps) for another). Its gain and bias are
//    ordinary per-unit parameters, e.g. `in.param[0] * row_norm(c) + in.param[1]` with
//    .param_init = {cell::Init::One, cell::Init::Zero} (LayerNorm's initial weight and bias).
//    The kernels run in phases: phase 0 computes everything row_norm's operand needs over the
//    whole row, the row's mean and 1/sqrt(var + eps) are reduced and saved, then phase 1 computes
//    the rest (a row_norm of a row_norm's result adds a phase). Backward runs the phases in
//    reverse, reducing mean(dy) and mean(dy * y) over the row between them, so the derived
//    backward of a normalised cell is still written by no one.
//  - spec.norm_ih / spec.norm_hh: the whole gate rows [G] of x_t W_ih^T and of h_{t-1} W_hh^T are
//    each layer-normalised by the layer driver before b_ih / b_hh are added, with gains and biases
//    [G] (parameters layernorm_ih_weight, layernorm_ih_bias, layernorm_hh_weight,
//    layernorm_hh_bias; initialised 1 and 0), so `in.gate[k]` is block k of
//    LN_ih(x W_ih^T) + b_ih + LN_hh(h W_hh^T) + b_hh (eps spec.norm_eps). The driver keeps the two
//    products apart to normalise them, as it does for split_recurrent.
// ops/cells.h's LayerNormLSTM uses both.
//
// The library runs step() three ways:
//  - on cell::Sym at compile time, which records the math as a small graph (trace<Cell>());
//    ops/kernels/cell_kernel.h turns that graph into the fused, vectorised forward kernel, which
//    saves each sigmoid/tanh/relu output (slots numbered in call order), and into the backward
//    kernel, which loads those outputs instead of recomputing them, recomputes the cheap ops it
//    needs and runs the adjoint sweep: the author writes no backward;
//  - on Tensor, composed from generic ops: the readable reference the fused cell is tested against.
// This header has no third-party include; only the kernel generator needs xsimd.
#include <array>
#include <cstdint>

namespace tapegrad::cell {

inline constexpr int kMaxGates = 8;
inline constexpr int kMaxParams = 8;
inline constexpr int kMaxRowNorms = 4;  // row_norm calls in one step
// torch.nn.LayerNorm's default eps: row_norm's and the gate rows' unless the cell says otherwise.
inline constexpr float kNormEps = 1e-5f;

// Initial values of a cell's per-unit parameter: U(-1/sqrt(H), 1/sqrt(H)) like every recurrent
// weight in PyTorch, or the ones and zeros of a LayerNorm gain and bias.
enum class Init : std::uint8_t { Uniform, One, Zero };

struct Spec {
  const char* name = "";
  int gates = 1;                  // gate blocks of width H: weight_ih is [gates*H, I]
  bool cell_state = false;        // carries c besides h (LSTM-like)
  bool split_recurrent = false;   // in.gate_h apart from in.gate (GRU)
  int params = 0;                 // per-unit parameter vectors [H]
  std::array<const char*, kMaxParams> param_names{};  // PyTorch-style stems, e.g. "weight_pi"
  std::array<Init, kMaxParams> param_init{};          // Uniform unless given
  // forget_gate: the gate block whose bias `forget_bias` sets (-1: none).
  int forget_gate = -1;
  // Layer normalisation of the gate rows of x W_ih^T (norm_ih) and h W_hh^T (norm_hh): see above.
  bool norm_ih = false;
  bool norm_hh = false;
  float norm_eps = kNormEps;
};

template <class V>
struct In {
  std::array<V, kMaxGates> gate{};
  std::array<V, kMaxGates> gate_h{};
  V h_prev{};
  V c_prev{};
  std::array<V, kMaxParams> param{};
};

template <class V>
struct Out {
  V h{};
  V c{};  // cells with a cell state only
};

// ---- the compile-time graph ----

// RowNorm: (a - mean) / sqrt(var + value) over the row; value is eps.
enum class Op : std::uint8_t { Input, Const, Add, Sub, Mul, Neg, Sigmoid, Tanh, Relu, RowNorm };

constexpr bool is_saved(Op op) { return op == Op::Sigmoid || op == Op::Tanh || op == Op::Relu; }

// Input leaves are numbered: gate k -> k, gate_h k -> kMaxGates + k, h_prev, c_prev, param k.
inline constexpr int kInputGateH = kMaxGates;
inline constexpr int kInputHPrev = 2 * kMaxGates;
inline constexpr int kInputCPrev = 2 * kMaxGates + 1;
inline constexpr int kInputParam = 2 * kMaxGates + 2;

struct Node {
  Op op = Op::Const;
  int a = -1, b = -1;   // operand node ids (Input: the input number)
  float value = 0.0f;   // Const: the constant; RowNorm: eps
};

inline constexpr int kMaxNodes = 160;

struct Graph {
  std::array<Node, kMaxNodes> nodes{};
  int size = 0;
  int h = -1, c = -1;  // output node ids

  constexpr int add(Node node) {
    if (size == kMaxNodes) throw "cell graph: more than kMaxNodes operations in one step";
    nodes[static_cast<std::size_t>(size)] = node;
    return size++;
  }
};

// The symbolic value step() runs on at compile time: every operation appends a node.
struct Sym {
  Graph* graph = nullptr;
  int id = -1;
};

constexpr Sym unary(Op op, Sym x) { return {x.graph, x.graph->add({op, x.id, -1, 0.0f})}; }
constexpr Sym binary(Op op, Sym x, Sym y) {
  if (x.graph != y.graph) throw "cell graph: operands from different traces";
  return {x.graph, x.graph->add({op, x.id, y.id, 0.0f})};
}
constexpr Sym constant(Graph* graph, float v) { return {graph, graph->add({Op::Const, -1, -1, v})}; }

constexpr Sym operator+(Sym x, Sym y) { return binary(Op::Add, x, y); }
constexpr Sym operator-(Sym x, Sym y) { return binary(Op::Sub, x, y); }
constexpr Sym operator*(Sym x, Sym y) { return binary(Op::Mul, x, y); }
constexpr Sym operator-(Sym x) { return unary(Op::Neg, x); }
constexpr Sym operator+(Sym x, float v) { return x + constant(x.graph, v); }
constexpr Sym operator+(float v, Sym x) { return constant(x.graph, v) + x; }
constexpr Sym operator-(Sym x, float v) { return x - constant(x.graph, v); }
constexpr Sym operator-(float v, Sym x) { return constant(x.graph, v) - x; }
constexpr Sym operator*(Sym x, float v) { return x * constant(x.graph, v); }
constexpr Sym operator*(float v, Sym x) { return constant(x.graph, v) * x; }
constexpr Sym sigmoid(Sym x) { return unary(Op::Sigmoid, x); }
constexpr Sym tanh(Sym x) { return unary(Op::Tanh, x); }
constexpr Sym relu(Sym x) { return unary(Op::Relu, x); }
constexpr Sym row_norm(Sym x, float eps = kNormEps) {
  if (!(eps > 0.0f)) throw "cell graph: row_norm needs eps > 0 (a constant row would divide by 0)";
  return {x.graph, x.graph->add({Op::RowNorm, x.id, -1, eps})};
}

// Runs Cell::step on symbols: the cell's math as a graph, inputs first.
template <class Cell>
constexpr Graph trace() {
  constexpr Spec spec = Cell::spec;
  static_assert(spec.gates >= 1 && spec.gates <= kMaxGates, "cell: gates must be in [1, 8]");
  static_assert(spec.params >= 0 && spec.params <= kMaxParams, "cell: params must be in [0, 8]");
  static_assert(!(spec.norm_ih || spec.norm_hh) || spec.norm_eps > 0.0f, "cell: norm_eps must be > 0");
  Graph graph;
  In<Sym> in;
  const auto input = [&graph](int number) {
    return Sym{&graph, graph.add({Op::Input, number, -1, 0.0f})};
  };
  for (int k = 0; k < spec.gates; ++k) {
    in.gate[static_cast<std::size_t>(k)] = input(k);
    if (spec.split_recurrent) in.gate_h[static_cast<std::size_t>(k)] = input(kInputGateH + k);
  }
  in.h_prev = input(kInputHPrev);
  if (spec.cell_state) in.c_prev = input(kInputCPrev);
  for (int k = 0; k < spec.params; ++k) in.param[static_cast<std::size_t>(k)] = input(kInputParam + k);
  const Out<Sym> out = Cell::step(in);
  if (out.h.graph != &graph) throw "cell graph: step() returned no h";
  graph.h = out.h.id;
  if (spec.cell_state) {
    if (out.c.graph != &graph) throw "cell graph: a cell with a cell state must return c";
    graph.c = out.c.id;
  }
  return graph;
}

}  // namespace tapegrad::cell
