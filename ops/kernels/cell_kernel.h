#pragma once
// The fused step kernels of a cell written with ops/cell_math.h, derived from its math:
//
//   #include "ops/kernels/cell_kernel.h"
//   const CellKernel& kernel = kernels::derived_cell_kernel<MyCell>();
//
// OPT-IN: this header includes xsimd and TBB (through pointwise_simd.h), so include it only in the
// one .cpp file that instantiates a cell's kernel, and build that file with the tapegrad_simd
// flags (-march, as the library). Ordinary public headers never include it.
//
// How: trace<Cell>() records the cell's math as a graph at compile time; plan() analyses it once
// (which nodes the outputs need, which values backward needs, where each adjoint is first
// written); the kernels below unroll the graph node by node with `if constexpr`, so each cell
// compiles to straight-line xsimd code with its values in registers, like a hand-written kernel.
//  - forward: every node the outputs need, in order; each sigmoid/tanh/relu output is stored in a
//    kept slot (call order), as is every gate input that backward needs to recompute a product.
//  - backward: loads the kept slots (no exp or tanh in backward), recomputes the cheap nodes whose
//    values a product's derivative needs, then sweeps adjoints from h and c back to the inputs.
// Tails of H that are not a multiple of the SIMD width run the same code on zero-padded copies
// (detail::for_each_lane_offset: full blocks get the row pointers and an offset, no pointer rebuild).
// B batch, H hidden, G = gates * H.
#include <array>
#include <cstdint>
#include <utility>

#include "ops/cell_math.h"
#include "ops/kernels/pointwise_simd.h"
#include "ops/recurrent_cell.h"

namespace tapegrad::kernels {

namespace cell_detail {

using cell::Graph;
using cell::Node;
using cell::Op;
using cell::kMaxNodes;

struct Plan {
  Graph graph;
  std::array<bool, kMaxNodes> reach{};         // needed by the outputs (forward computes it)
  std::array<int, kMaxNodes> slot{};           // kept slot, or -1
  std::array<bool, kMaxNodes> live{};          // has an adjoint when the sweep reaches it
  std::array<bool, kMaxNodes> first_a{}, first_b{};  // the sweep's first write of that operand
  std::array<bool, kMaxNodes> value_needed{};  // backward needs the node's value
  std::array<int, cell::kInputParam + cell::kMaxParams> input_node{};  // input number -> node
  int kept = 0;
};

constexpr bool has_a(Op op) { return op != Op::Input && op != Op::Const; }
constexpr bool has_b(Op op) { return op == Op::Add || op == Op::Sub || op == Op::Mul; }

constexpr Plan plan(const Graph& graph) {
  Plan p;
  p.graph = graph;
  const int n = graph.size;
  for (int& node : p.input_node) node = -1;
  for (int k = 0; k < kMaxNodes; ++k) p.slot[static_cast<std::size_t>(k)] = -1;
  const auto at = [](auto& array, int k) -> auto& { return array[static_cast<std::size_t>(k)]; };
  // forward reach: ancestors of the outputs
  at(p.reach, graph.h) = true;
  if (graph.c >= 0) at(p.reach, graph.c) = true;
  for (int k = n - 1; k >= 0; --k) {
    const Node& node = at(p.graph.nodes, k);
    if (!at(p.reach, k)) continue;
    if (has_a(node.op)) at(p.reach, node.a) = true;
    if (has_b(node.op)) at(p.reach, node.b) = true;
  }
  for (int k = 0; k < n; ++k) {
    const Node& node = at(p.graph.nodes, k);
    if (node.op == Op::Input) at(p.input_node, node.a) = k;
    if (at(p.reach, k) && cell::is_saved(node.op)) at(p.slot, k) = p.kept++;
  }
  // adjoint sweep, simulated: which writes come first
  std::array<bool, kMaxNodes> written{};
  at(written, graph.h) = true;
  if (graph.c >= 0) at(written, graph.c) = true;
  for (int k = n - 1; k >= 0; --k) {
    const Node& node = at(p.graph.nodes, k);
    at(p.live, k) = at(written, k) && at(p.reach, k);
    if (!at(p.live, k)) continue;
    if (has_a(node.op)) {
      at(p.first_a, k) = !at(written, node.a);
      at(written, node.a) = true;
    }
    if (has_b(node.op)) {
      at(p.first_b, k) = !at(written, node.b);
      at(written, node.b) = true;
    }
  }
  // values the backward needs: a product's operands and a saved op's output, plus whatever the
  // cheap nodes among them are recomputed from
  for (int k = n - 1; k >= 0; --k) {
    const Node& node = at(p.graph.nodes, k);
    if (!at(p.live, k)) continue;
    if (node.op == Op::Mul) {
      at(p.value_needed, node.a) = true;
      at(p.value_needed, node.b) = true;
    }
    if (cell::is_saved(node.op)) at(p.value_needed, k) = true;
  }
  for (int k = n - 1; k >= 0; --k) {
    const Node& node = at(p.graph.nodes, k);
    if (!at(p.value_needed, k) || cell::is_saved(node.op)) continue;
    if (has_a(node.op)) at(p.value_needed, node.a) = true;
    if (has_b(node.op)) at(p.value_needed, node.b) = true;
  }
  // gate inputs (overwritten in place by the forward) that backward needs are kept too
  for (int k = 0; k < n; ++k) {
    const Node& node = at(p.graph.nodes, k);
    if (node.op == Op::Input && node.a < cell::kInputHPrev && at(p.value_needed, k)) {
      at(p.slot, k) = p.kept++;
    }
  }
  return p;
}

// p + n, and null stays null (an input the caller does not have; the lane-block loop skips it).
template <class T>
inline T* offset(T* p, std::int64_t n) {
  return p ? p + n : nullptr;
}

template <int... K, class F>
inline void unroll(std::integer_sequence<int, K...>, F&& f) {
  (f(std::integral_constant<int, K>{}), ...);
}
template <int... K, class F>
inline void unroll_reverse(std::integer_sequence<int, K...>, F&& f) {
  constexpr int last = static_cast<int>(sizeof...(K)) - 1;
  (f(std::integral_constant<int, last - K>{}), ...);
}

template <class Cell>
struct Derived {
  using Batch = detail::FloatBatch;
  static constexpr cell::Spec spec = Cell::spec;
  static constexpr Plan p = plan(cell::trace<Cell>());
  static constexpr int N = p.graph.size;
  static constexpr int gates = spec.gates;
  // Gate input blocks: x and h parts apart for split cells, one summed block each otherwise (no
  // always-null pointers for the lane-block loop to carry).
  static constexpr int gate_blocks = spec.split_recurrent ? 2 * gates : gates;
  static constexpr int num_params = spec.params;
  static constexpr int kept = p.kept;
  // Whether the forward (backward) reads input `number` at all: an unread input gets a null
  // pointer, so the SIMD tail does not copy it (LSTM never reads h_prev, for example).
  static constexpr bool forward_reads(int number) {
    const int node = p.input_node[static_cast<std::size_t>(number)];
    return node >= 0 && p.reach[static_cast<std::size_t>(node)];
  }
  static constexpr bool backward_reads(int number) {
    const int node = p.input_node[static_cast<std::size_t>(number)];
    return node >= 0 && p.value_needed[static_cast<std::size_t>(node)] &&
           p.slot[static_cast<std::size_t>(node)] < 0;
  }
  static constexpr bool reads_h_prev =
      p.input_node[cell::kInputHPrev] >= 0 && p.live[static_cast<std::size_t>(p.input_node[cell::kInputHPrev])];

  // Position of input number `number` in the forward kernel's input array:
  // gates, gate_h blocks (split cells), h_prev, c_prev, params.
  static constexpr std::size_t forward_input(int number) {
    if (number < cell::kInputGateH) return static_cast<std::size_t>(number);
    if (number < cell::kInputHPrev) return static_cast<std::size_t>(gates + number - cell::kInputGateH);
    if (number < cell::kInputParam) return static_cast<std::size_t>(gate_blocks + number - cell::kInputHPrev);
    return static_cast<std::size_t>(gate_blocks + 2 + number - cell::kInputParam);
  }
  static constexpr std::size_t kForwardIn = gate_blocks + 2 + num_params;
  static constexpr std::size_t kForwardOut = kept + 2;  // kept slots, h, c
  // backward inputs: kept slots, h_prev, c_prev, params, grad_h, grad_c
  static constexpr std::size_t kBackwardIn = kept + 2 + num_params + 2;
  // backward outputs: grad gates, grad gate_h, grad h_prev, grad c_prev, grad params
  static constexpr std::size_t kBackwardOut = gate_blocks + 2 + num_params;

  static Batch apply_forward(Op op, const Batch& a, const Batch& b) {
    switch (op) {
      case Op::Add: return a + b;
      case Op::Sub: return a - b;
      case Op::Mul: return a * b;
      case Op::Neg: return -a;
      case Op::Sigmoid: return detail::sigmoid_batch(a);
      case Op::Tanh: return xsimd::tanh(a);
      case Op::Relu: return xsimd::max(a, Batch(0.0f));
      default: return a;
    }
  }

  static void forward_block(const std::array<const float*, kForwardIn>& in,
                            const std::array<float*, kForwardOut>& out, std::int64_t j) {
    std::array<Batch, N> v;
    unroll(std::make_integer_sequence<int, N>{}, [&](auto k) {
      constexpr int K = decltype(k)::value;
      constexpr Node node = p.graph.nodes[K];
      if constexpr (p.reach[K]) {
        if constexpr (node.op == Op::Input) {
          v[K] = xsimd::load_unaligned(in[forward_input(node.a)] + j);
        } else if constexpr (node.op == Op::Const) {
          v[K] = Batch(node.value);
        } else if constexpr (has_b(node.op)) {
          v[K] = apply_forward(node.op, v[node.a], v[node.b]);
        } else {
          v[K] = apply_forward(node.op, v[node.a], v[node.a]);
        }
      }
    });
    // Stores after every load: the kept slots overwrite the gate inputs in place.
    unroll(std::make_integer_sequence<int, N>{}, [&](auto k) {
      constexpr int K = decltype(k)::value;
      if constexpr (p.slot[K] >= 0) v[K].store_unaligned(out[static_cast<std::size_t>(p.slot[K])] + j);
    });
    v[p.graph.h].store_unaligned(out[kept] + j);
    if constexpr (spec.cell_state) v[p.graph.c].store_unaligned(out[kept + 1] + j);
  }

  static void forward(const CellStepForward& s) {
    const std::int64_t H = s.H;
    detail::for_rows(s.B, H, [&](std::int64_t row_begin, std::int64_t row_end) {
      for (std::int64_t row = row_begin; row < row_end; ++row) {
        std::array<const float*, kForwardIn> in{};
        std::array<float*, kForwardOut> out{};
        float* pre = s.pre + row * gates * H;
        for (int k = 0; k < gates; ++k) {
          in[static_cast<std::size_t>(k)] = pre + k * H;
          if constexpr (spec.split_recurrent) {
            in[static_cast<std::size_t>(gates + k)] = s.pre_h + row * gates * H + k * H;
          }
        }
        if constexpr (forward_reads(cell::kInputHPrev)) in[gate_blocks] = offset(s.h_prev, row * H);
        if constexpr (forward_reads(cell::kInputCPrev)) in[gate_blocks + 1] = offset(s.c_prev, row * H);
        for (int k = 0; k < num_params; ++k) in[static_cast<std::size_t>(gate_blocks + 2 + k)] = s.params + k * H;
        const std::int64_t extra = kept > gates ? kept - gates : 0;
        for (int k = 0; k < kept; ++k) {
          out[static_cast<std::size_t>(k)] =
              k < gates ? pre + k * H : s.kept_extra + (row * extra + (k - gates)) * H;
        }
        out[kept] = s.h + row * H;
        if constexpr (spec.cell_state) out[kept + 1] = s.c + row * H;
        detail::for_each_lane_offset(H, in, out, forward_block);
      }
    });
  }

  // adj[a] = g (first write) or adj[a] + g; with a factor, g * factor, as one FMA when adding.
  template <bool First>
  static void add_to(Batch& adj, const Batch& g) {
    if constexpr (First) adj = g; else adj += g;
  }
  template <bool First>
  static void add_product(Batch& adj, const Batch& g, const Batch& factor) {
    if constexpr (First) adj = g * factor; else adj = xsimd::fma(g, factor, adj);
  }
  template <bool First>
  static void subtract(Batch& adj, const Batch& g) {
    if constexpr (First) adj = -g; else adj -= g;
  }

  static void backward_block(const std::array<const float*, kBackwardIn>& in,
                             const std::array<float*, kBackwardOut>& out, std::int64_t j) {
    std::array<Batch, N> v;
    std::array<Batch, N> adj;
    // values: kept slots loaded, cheap nodes recomputed
    unroll(std::make_integer_sequence<int, N>{}, [&](auto k) {
      constexpr int K = decltype(k)::value;
      constexpr Node node = p.graph.nodes[K];
      if constexpr (p.value_needed[K]) {
        if constexpr (p.slot[K] >= 0) {
          v[K] = xsimd::load_unaligned(in[static_cast<std::size_t>(p.slot[K])] + j);
        } else if constexpr (node.op == Op::Input) {
          // h_prev, c_prev or a parameter (gate inputs needed by backward have slots)
          v[K] = xsimd::load_unaligned(in[static_cast<std::size_t>(kept + node.a - cell::kInputHPrev)] + j);
        } else if constexpr (node.op == Op::Const) {
          v[K] = Batch(node.value);
        } else if constexpr (has_b(node.op)) {
          v[K] = apply_forward(node.op, v[node.a], v[node.b]);
        } else {
          v[K] = apply_forward(node.op, v[node.a], v[node.a]);
        }
      }
    });
    constexpr std::size_t grad_h_at = kept + 2 + num_params;
    adj[p.graph.h] = xsimd::load_unaligned(in[grad_h_at] + j);
    if constexpr (spec.cell_state) {
      const Batch grad_c = detail::load_or_zero(offset(in[grad_h_at + 1], j));
      if constexpr (p.graph.c == p.graph.h) adj[p.graph.c] += grad_c; else adj[p.graph.c] = grad_c;
    }
    unroll_reverse(std::make_integer_sequence<int, N>{}, [&](auto k) {
      constexpr int K = decltype(k)::value;
      constexpr Node node = p.graph.nodes[K];
      if constexpr (p.live[K] && has_a(node.op)) {
        constexpr bool fa = p.first_a[K], fb = p.first_b[K];
        const Batch& g = adj[K];
        if constexpr (node.op == Op::Add) {
          add_to<fa>(adj[node.a], g);
          add_to<fb>(adj[node.b], g);
        } else if constexpr (node.op == Op::Sub) {
          add_to<fa>(adj[node.a], g);
          subtract<fb>(adj[node.b], g);
        } else if constexpr (node.op == Op::Mul) {
          add_product<fa>(adj[node.a], g, v[node.b]);
          add_product<fb>(adj[node.b], g, v[node.a]);
        } else if constexpr (node.op == Op::Neg) {
          subtract<fa>(adj[node.a], g);
        } else if constexpr (node.op == Op::Sigmoid) {
          add_product<fa>(adj[node.a], g, v[K] * (Batch(1.0f) - v[K]));
        } else if constexpr (node.op == Op::Tanh) {
          add_product<fa>(adj[node.a], g, xsimd::fnma(v[K], v[K], Batch(1.0f)));
        } else if constexpr (node.op == Op::Relu) {
          add_to<fa>(adj[node.a], xsimd::select(v[K] > Batch(0.0f), g, Batch(0.0f)));
        }
      }
    });
    // leaf gradients: written, zero where the math does not use an input
    const auto store_input_grad = [&](int number, float* to) {
      if (to == nullptr) return;
      const int node = p.input_node[static_cast<std::size_t>(number)];
      // node and liveness are runtime-indexed here but constant after unrolling the callers
      if (node >= 0 && p.live[static_cast<std::size_t>(node)]) {
        adj[static_cast<std::size_t>(node)].store_unaligned(to + j);
      } else {
        Batch(0.0f).store_unaligned(to + j);
      }
    };
    unroll(std::make_integer_sequence<int, gates>{}, [&](auto k) {
      constexpr int G = decltype(k)::value;
      store_input_grad(G, out[G]);
      if constexpr (spec.split_recurrent) store_input_grad(cell::kInputGateH + G, out[gates + G]);
    });
    store_input_grad(cell::kInputHPrev, out[gate_blocks]);
    if constexpr (spec.cell_state) store_input_grad(cell::kInputCPrev, out[gate_blocks + 1]);
    unroll(std::make_integer_sequence<int, num_params>{}, [&](auto k) {
      constexpr int K = decltype(k)::value;
      store_input_grad(cell::kInputParam + K, out[gate_blocks + 2 + K]);
    });
  }

  static void backward(const CellStepBackward& s) {
    const std::int64_t H = s.H;
    detail::for_rows(s.B, H, [&](std::int64_t row_begin, std::int64_t row_end) {
      for (std::int64_t row = row_begin; row < row_end; ++row) {
        std::array<const float*, kBackwardIn> in{};
        std::array<float*, kBackwardOut> out{};
        const float* kept_row = s.kept + row * gates * H;
        const std::int64_t extra = kept > gates ? kept - gates : 0;
        for (int k = 0; k < kept; ++k) {
          in[static_cast<std::size_t>(k)] =
              k < gates ? kept_row + k * H : s.kept_extra + (row * extra + (k - gates)) * H;
        }
        if constexpr (backward_reads(cell::kInputHPrev)) in[kept] = offset(s.h_prev, row * H);
        if constexpr (backward_reads(cell::kInputCPrev)) in[kept + 1] = offset(s.c_prev, row * H);
        for (int k = 0; k < num_params; ++k) in[static_cast<std::size_t>(kept + 2 + k)] = s.params + k * H;
        in[kept + 2 + num_params] = s.grad_h + row * H;
        in[kept + 3 + num_params] = offset(s.grad_c, row * H);
        for (int k = 0; k < gates; ++k) {
          out[static_cast<std::size_t>(k)] = s.grad_pre + row * gates * H + k * H;
          if constexpr (spec.split_recurrent) {
            out[static_cast<std::size_t>(gates + k)] = s.grad_pre_h + row * gates * H + k * H;
          }
        }
        out[gate_blocks] = offset(s.grad_h_prev, row * H);
        out[gate_blocks + 1] = offset(s.grad_c_prev, row * H);
        for (int k = 0; k < num_params; ++k) {
          out[static_cast<std::size_t>(gate_blocks + 2 + k)] = s.grad_params + (row * num_params + k) * H;
        }
        detail::for_each_lane_offset(H, in, out, backward_block);
      }
    });
  }
};

}  // namespace cell_detail

// The descriptor the layer driver runs (one per cell type, built on first use).
template <class Cell>
const CellKernel& derived_cell_kernel() {
  using D = cell_detail::Derived<Cell>;
  static const CellKernel kernel{Cell::spec.name,      D::gates,         Cell::spec.cell_state,
                                 Cell::spec.split_recurrent, D::reads_h_prev, D::kept,
                                 D::num_params,        &D::forward,      &D::backward};
  return kernel;
}

}  // namespace tapegrad::kernels
