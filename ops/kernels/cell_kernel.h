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
// How: trace<Cell>() records the cell's math as a graph at compile time; plan() (cell_plan.h)
// analyses it once (which nodes the outputs need, which values backward needs, where each adjoint
// is first written); the kernels below unroll the graph node by node with `if constexpr`, so each
// cell compiles to straight-line xsimd code with its values in registers, like a hand-written
// kernel.
//  - forward: every node the outputs need, in order; each sigmoid/tanh/relu output is stored in a
//    kept slot (call order), as is every gate input that backward needs to recompute a product.
//  - backward: loads the kept slots (no exp or tanh in backward), recomputes the cheap nodes whose
//    values a product's derivative needs, then sweeps adjoints from h and c back to the inputs.
// Row-wise steps (row_norm) split both into phases over the whole row, with per-row reductions
// between them: forward saves each normalised operand in a kept slot and its row's mean and rstd;
// backward runs the phases in reverse, passing the adjoints that cross a phase (and each
// row_norm's dy) through per-row scratch rows. A cell without row_norm has one phase: one
// lane-block loop per row, no scratch, no statistics.
// Tails of H that are not a multiple of the SIMD width run the same code on zero-padded copies
// (detail::for_each_lane_offset: full blocks get the row pointers and an offset, no pointer rebuild).
// B batch, H hidden, G = gates * H.
#include <algorithm>
#include <array>
#include <cstdint>
#include <type_traits>
#include <utility>
#include <vector>

#include "ops/cell_math.h"
#include "ops/kernels/cell_plan.h"
#include "ops/kernels/pointwise_simd.h"
#include "ops/kernels/row_norm_simd.h"
#include "ops/recurrent_cell.h"

namespace tapegrad::kernels {
// Per instruction set, as pointwise_simd.h: a cell's kernel compiled under two flag sets is two
// kernels, not one symbol with two bodies.
inline namespace TAPEGRAD_KERNEL_ISA {

namespace cell_detail {

using namespace kernels::cell_plan;  // the plan (cell_plan.h), the same for every build

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

// Per-row scalars of the row_norms: forward statistics, and backward's two means.
struct RowScalars {
  std::array<float, cell::kMaxRowNorms> mean{}, rstd{}, mean_grad{}, mean_grad_y{};
};

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
  static constexpr bool phased = p.phases > 1;
  static constexpr int scratch_rows = p.scratch_rows;

  static constexpr int node_of(int number) { return p.input_node[static_cast<std::size_t>(number)]; }
  // Whether forward phase `ph` loads input `number` from the caller's buffer (an unread input
  // gets a null pointer, so the SIMD tail does not copy it: LSTM never reads h_prev); later
  // phases load kept inputs from their slots.
  static constexpr bool forward_reads(int ph, int number) {
    const int node = node_of(number);
    return node >= 0 && p.forward_value[static_cast<std::size_t>(ph)][static_cast<std::size_t>(node)] &&
           (ph == 0 || p.slot[static_cast<std::size_t>(node)] < 0);
  }
  static constexpr bool backward_reads(int ph, int number) {
    const int node = node_of(number);
    return node >= 0 && p.backward_value[static_cast<std::size_t>(ph)][static_cast<std::size_t>(node)] &&
           p.slot[static_cast<std::size_t>(node)] < 0;
  }
  // The backward phase that writes input `number`'s gradient (zero where the math does not use it).
  static constexpr int grad_phase(int number) {
    const int node = node_of(number);
    return node >= 0 ? p.home[static_cast<std::size_t>(node)] : 0;
  }
  static constexpr bool reads_h_prev =
      p.input_node[cell::kInputHPrev] >= 0 && p.live[static_cast<std::size_t>(p.input_node[cell::kInputHPrev])];
  // kept slot s is read by forward phase ph (a later phase reading an earlier value) / written
  static constexpr bool forward_reads_slot(int ph, int s) {
    for (int k = 0; k < N; ++k) {
      const auto i = static_cast<std::size_t>(k);
      if (p.slot[i] == s && p.phase[i] < ph && p.forward_value[static_cast<std::size_t>(ph)][i]) return true;
    }
    return false;
  }
  static constexpr bool forward_writes_slot(int ph, int s) {
    for (int k = 0; k < N; ++k) {
      if (p.slot[static_cast<std::size_t>(k)] == s) return p.phase[static_cast<std::size_t>(k)] == ph;
    }
    return false;
  }
  static constexpr bool backward_reads_slot(int ph, int s) {
    for (int k = 0; k < N; ++k) {
      const auto i = static_cast<std::size_t>(k);
      if (p.slot[i] == s && p.backward_value[static_cast<std::size_t>(ph)][i]) return true;
    }
    return false;
  }
  // scratch row s is read / written by backward phase ph
  static constexpr bool reads_scratch(int ph, int s) {
    for (int k = 0; k < N; ++k) {
      const auto i = static_cast<std::size_t>(k);
      const auto q = static_cast<std::size_t>(ph);
      if (p.scratch[i] != s) continue;
      const bool transfer = p.graph.nodes[i].op == Op::RowNorm && p.live[i] && p.phase[i] - 1 == ph;
      if (p.from_scratch[q][i] || transfer || (p.to_scratch[q][i] && !p.to_scratch_first[q][i])) return true;
    }
    return false;
  }
  static constexpr bool writes_scratch(int ph, int s) {
    for (int k = 0; k < N; ++k) {
      const auto i = static_cast<std::size_t>(k);
      if (p.scratch[i] == s && p.to_scratch[static_cast<std::size_t>(ph)][i]) return true;
    }
    return false;
  }

  // Position of input number `number` in the forward kernel's input array:
  // gates, gate_h blocks (split cells), h_prev, c_prev, params; then (phased cells) kept slots.
  static constexpr std::size_t forward_input(int number) {
    if (number < cell::kInputGateH) return static_cast<std::size_t>(number);
    if (number < cell::kInputHPrev) return static_cast<std::size_t>(gates + number - cell::kInputGateH);
    if (number < cell::kInputParam) return static_cast<std::size_t>(gate_blocks + number - cell::kInputHPrev);
    return static_cast<std::size_t>(gate_blocks + 2 + number - cell::kInputParam);
  }
  static constexpr std::size_t kForwardSlots = gate_blocks + 2 + num_params;
  static constexpr std::size_t kForwardIn = kForwardSlots + (phased ? kept : 0);
  static constexpr std::size_t kForwardOut = kept + 2;  // kept slots, h, c
  // backward inputs: kept slots, h_prev, c_prev, params, grad_h, grad_c, scratch rows
  static constexpr std::size_t kGradH = kept + 2 + num_params;
  static constexpr std::size_t kScratchIn = kGradH + 2;
  static constexpr std::size_t kBackwardIn = kScratchIn + scratch_rows;
  // backward outputs: grad gates, grad gate_h, grad h_prev, grad c_prev, grad params, scratch rows
  static constexpr std::size_t kScratchOut = gate_blocks + 2 + num_params;
  static constexpr std::size_t kBackwardOut = kScratchOut + scratch_rows;

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

  // y = (x - mean) * rstd of row_norm number r, from its kept operand and the row's statistics
  static Batch normalised(int r, const Batch& x, const RowScalars& row) {
    return (x - Batch(row.mean[static_cast<std::size_t>(r)])) * Batch(row.rstd[static_cast<std::size_t>(r)]);
  }

  template <int Ph>
  static void forward_block(const std::array<const float*, kForwardIn>& in,
                            const std::array<float*, kForwardOut>& out, std::int64_t j,
                            const RowScalars& row) {
    std::array<Batch, N> v;
    unroll(std::make_integer_sequence<int, N>{}, [&](auto k) {
      constexpr int K = decltype(k)::value;
      constexpr Node node = p.graph.nodes[K];
      if constexpr (p.forward_value[Ph][K]) {
        if constexpr (p.phase[K] < Ph && p.slot[K] >= 0) {
          v[K] = xsimd::load_unaligned(in[kForwardSlots + static_cast<std::size_t>(p.slot[K])] + j);
        } else if constexpr (node.op == Op::Input) {
          v[K] = xsimd::load_unaligned(in[forward_input(node.a)] + j);
        } else if constexpr (node.op == Op::Const) {
          v[K] = Batch(node.value);
        } else if constexpr (node.op == Op::RowNorm) {
          v[K] = normalised(p.norm[K], v[node.a], row);
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
      if constexpr (p.slot[K] >= 0 && p.phase[K] == Ph) {
        v[K].store_unaligned(out[static_cast<std::size_t>(p.slot[K])] + j);
      }
    });
    if constexpr (p.phase[p.graph.h] == Ph) v[p.graph.h].store_unaligned(out[kept] + j);
    if constexpr (spec.cell_state && p.phase[p.graph.c] == Ph) v[p.graph.c].store_unaligned(out[kept + 1] + j);
  }

  // The row pointers forward phase Ph reads and writes. Every decision is a compile-time
  // constant: the row loop only fills in addresses.
  using ForwardPointers = std::pair<std::array<const float*, kForwardIn>, std::array<float*, kForwardOut>>;
  template <int Ph>
  static ForwardPointers forward_pointers(const CellStepForward& s, std::int64_t row) {
    const std::int64_t H = s.H;
    ForwardPointers pointers{};
    auto& in = pointers.first;  // not a structured binding: clang 14 cannot capture those
    auto& out = pointers.second;
    float* pre = s.pre + row * gates * H;
    unroll(std::make_integer_sequence<int, gates>{}, [&](auto k) {
      constexpr int K = decltype(k)::value;
      if constexpr (forward_reads(Ph, K)) in[K] = pre + K * H;
      if constexpr (spec.split_recurrent && forward_reads(Ph, cell::kInputGateH + K)) {
        in[gates + K] = s.pre_h + row * gates * H + K * H;
      }
    });
    if constexpr (forward_reads(Ph, cell::kInputHPrev)) in[gate_blocks] = offset(s.h_prev, row * H);
    if constexpr (forward_reads(Ph, cell::kInputCPrev)) in[gate_blocks + 1] = offset(s.c_prev, row * H);
    unroll(std::make_integer_sequence<int, num_params>{}, [&](auto k) {
      constexpr int K = decltype(k)::value;
      if constexpr (forward_reads(Ph, cell::kInputParam + K)) in[gate_blocks + 2 + K] = s.params + K * H;
    });
    unroll(std::make_integer_sequence<int, kept>{}, [&](auto k) {
      constexpr int K = decltype(k)::value;
      if constexpr (phased && forward_reads_slot(Ph, K)) in[kForwardSlots + K] = slot_row(s, row, K);
      if constexpr (forward_writes_slot(Ph, K)) out[K] = slot_row(s, row, K);
    });
    if constexpr (p.phase[p.graph.h] == Ph) out[kept] = s.h + row * H;
    if constexpr (spec.cell_state && p.phase[p.graph.c] == Ph) out[kept + 1] = s.c + row * H;
    return pointers;
  }

  // Kept slot k of a row: blocks below `gates` in place of the gate inputs, the rest in kept_extra.
  template <class Step>
  static auto slot_row(const Step& s, std::int64_t row, int k) {
    constexpr std::int64_t extra = kept > gates ? kept - gates : 0;
    const std::int64_t H = s.H;
    if constexpr (std::is_same_v<Step, CellStepForward>) {
      return k < gates ? s.pre + (row * gates + k) * H : s.kept_extra + (row * extra + (k - gates)) * H;
    } else {
      return k < gates ? s.kept + (row * gates + k) * H : s.kept_extra + (row * extra + (k - gates)) * H;
    }
  }

  // Rows [row_begin, row_end) of a forward step. flatten: everything it calls is inlined into it
  // (lane blocks, sigmoid, tanh). Left to GCC's unit-wide inlining budget, which every cell in
  // derived_cells.cpp shares, sigmoid_batch stayed out of line once a seventh cell was added, and
  // the derived LSTM forward ran 30% more instructions (callgrind).
  [[gnu::flatten]] static void forward_rows(const CellStepForward& s, std::int64_t row_begin,
                                            std::int64_t row_end) {
    const std::int64_t H = s.H;
    for (std::int64_t row = row_begin; row < row_end; ++row) {
      RowScalars scalars;
      unroll(std::make_integer_sequence<int, p.phases>{}, [&](auto phase) {
        constexpr int Ph = decltype(phase)::value;
        const ForwardPointers pointers = forward_pointers<Ph>(s, row);
        detail::for_each_lane_offset(
            H, pointers.first, pointers.second,
            [&](const auto& block_in, const auto& block_out, std::int64_t j) {
              forward_block<Ph>(block_in, block_out, j, scalars);
            });
        // the statistics of the rows the next phase normalises, saved for backward
        unroll(std::make_integer_sequence<int, p.norms>{}, [&](auto norm) {
          constexpr int R = decltype(norm)::value;
          constexpr int k = p.norm_node[R];
          if constexpr (p.phase[k] == Ph + 1) {
            constexpr Node node = p.graph.nodes[k];
            const RowStats stats = row_stats(slot_row(s, row, p.slot[node.a]), H, node.value);
            scalars.mean[R] = s.row_stats[row * 2 * p.norms + 2 * R] = stats.mean;
            scalars.rstd[R] = s.row_stats[row * 2 * p.norms + 2 * R + 1] = stats.rstd;
          }
        });
      });
    }
  }

  static void forward(const CellStepForward& s) {
    detail::for_rows(s.B, s.H, [&](std::int64_t row_begin, std::int64_t row_end) {
      forward_rows(s, row_begin, row_end);
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

  template <int Ph>
  static void backward_block(const std::array<const float*, kBackwardIn>& in,
                             const std::array<float*, kBackwardOut>& out, std::int64_t j,
                             const RowScalars& row) {
    std::array<Batch, N> v;
    std::array<Batch, N> adj;
    // values: kept slots loaded, cheap nodes recomputed
    unroll(std::make_integer_sequence<int, N>{}, [&](auto k) {
      constexpr int K = decltype(k)::value;
      constexpr Node node = p.graph.nodes[K];
      if constexpr (p.backward_value[Ph][K]) {
        if constexpr (p.slot[K] >= 0) {
          v[K] = xsimd::load_unaligned(in[static_cast<std::size_t>(p.slot[K])] + j);
        } else if constexpr (node.op == Op::Input) {
          // h_prev, c_prev or a parameter (gate inputs needed by backward have slots)
          v[K] = xsimd::load_unaligned(in[static_cast<std::size_t>(kept + node.a - cell::kInputHPrev)] + j);
        } else if constexpr (node.op == Op::Const) {
          v[K] = Batch(node.value);
        } else if constexpr (node.op == Op::RowNorm) {
          v[K] = normalised(p.norm[K], v[node.a], row);
        } else if constexpr (has_b(node.op)) {
          v[K] = apply_forward(node.op, v[node.a], v[node.b]);
        } else {
          v[K] = apply_forward(node.op, v[node.a], v[node.a]);
        }
      }
    });
    // adjoints begun by later phases
    unroll(std::make_integer_sequence<int, N>{}, [&](auto k) {
      constexpr int K = decltype(k)::value;
      if constexpr (p.from_scratch[Ph][K]) {
        adj[K] = xsimd::load_unaligned(in[kScratchIn + static_cast<std::size_t>(p.scratch[K])] + j);
      }
    });
    if constexpr (p.home[p.graph.h] == Ph) {
      add_to<p.seed_h_first>(adj[p.graph.h], xsimd::load_unaligned(in[kGradH] + j));
    }
    if constexpr (spec.cell_state && p.home[p.graph.c] == Ph) {
      add_to<p.seed_c_first>(adj[p.graph.c], detail::load_or_zero(offset(in[kGradH + 1], j)));
    }
    // a row_norm y = (x - mean) * rstd of a later phase: dx = rstd (dy - mean(dy) - y mean(dy y))
    unroll(std::make_integer_sequence<int, N>{}, [&](auto k) {
      constexpr int K = decltype(k)::value;
      constexpr Node node = p.graph.nodes[K];
      if constexpr (node.op == Op::RowNorm && p.live[K] && p.phase[K] - 1 == Ph) {
        constexpr int r = p.norm[K];
        const Batch rstd(row.rstd[r]);
        const Batch y = normalised(r, v[node.a], row);
        const Batch dy = xsimd::load_unaligned(in[kScratchIn + static_cast<std::size_t>(p.scratch[K])] + j);
        add_to<p.transfer_first[K]>(adj[node.a],
                                    rstd * (dy - Batch(row.mean_grad[r]) - y * Batch(row.mean_grad_y[r])));
      }
    });
    unroll_reverse(std::make_integer_sequence<int, N>{}, [&](auto k) {
      constexpr int K = decltype(k)::value;
      constexpr Node node = p.graph.nodes[K];
      if constexpr (p.phase[K] == Ph && p.live[K] && has_a(node.op)) {
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
    // adjoints a phase below completes
    unroll(std::make_integer_sequence<int, N>{}, [&](auto k) {
      constexpr int K = decltype(k)::value;
      if constexpr (p.to_scratch[Ph][K]) {
        constexpr std::size_t s = static_cast<std::size_t>(p.scratch[K]);
        if constexpr (p.to_scratch_first[Ph][K]) {
          adj[K].store_unaligned(out[kScratchOut + s] + j);
        } else {
          (xsimd::load_unaligned(in[kScratchIn + s] + j) + adj[K]).store_unaligned(out[kScratchOut + s] + j);
        }
      }
    });
    // leaf gradients, in the phase that completes them: written, zero where the math does not
    // use an input
    const auto store_input_grad = [&](auto input, float* to) {
      constexpr int number = decltype(input)::value;
      constexpr int node = p.input_node[number];
      if constexpr (grad_phase(number) == Ph) {
        if (to == nullptr) return;
        if constexpr (node >= 0 && p.live[node]) {
          adj[node].store_unaligned(to + j);
        } else {
          Batch(0.0f).store_unaligned(to + j);
        }
      }
    };
    using cell::kInputCPrev, cell::kInputGateH, cell::kInputHPrev, cell::kInputParam;
    unroll(std::make_integer_sequence<int, gates>{}, [&](auto k) {
      constexpr int G = decltype(k)::value;
      store_input_grad(std::integral_constant<int, G>{}, out[G]);
      if constexpr (spec.split_recurrent) {
        store_input_grad(std::integral_constant<int, kInputGateH + G>{}, out[gates + G]);
      }
    });
    store_input_grad(std::integral_constant<int, kInputHPrev>{}, out[gate_blocks]);
    if constexpr (spec.cell_state) store_input_grad(std::integral_constant<int, kInputCPrev>{}, out[gate_blocks + 1]);
    unroll(std::make_integer_sequence<int, num_params>{}, [&](auto k) {
      constexpr int K = decltype(k)::value;
      store_input_grad(std::integral_constant<int, kInputParam + K>{}, out[gate_blocks + 2 + K]);
    });
  }

  using BackwardPointers = std::pair<std::array<const float*, kBackwardIn>, std::array<float*, kBackwardOut>>;
  template <int Ph>
  static BackwardPointers backward_pointers(const CellStepBackward& s, std::int64_t row, float* scratch) {
    const std::int64_t H = s.H;
    BackwardPointers pointers{};
    auto& in = pointers.first;  // not a structured binding: clang 14 cannot capture those
    auto& out = pointers.second;
    unroll(std::make_integer_sequence<int, kept>{}, [&](auto k) {
      constexpr int K = decltype(k)::value;
      if constexpr (backward_reads_slot(Ph, K)) in[K] = slot_row(s, row, K);
    });
    if constexpr (backward_reads(Ph, cell::kInputHPrev)) in[kept] = offset(s.h_prev, row * H);
    if constexpr (backward_reads(Ph, cell::kInputCPrev)) in[kept + 1] = offset(s.c_prev, row * H);
    unroll(std::make_integer_sequence<int, num_params>{}, [&](auto k) {
      constexpr int K = decltype(k)::value;
      if constexpr (backward_reads(Ph, cell::kInputParam + K)) in[kept + 2 + K] = s.params + K * H;
      if constexpr (grad_phase(cell::kInputParam + K) == Ph) {
        out[gate_blocks + 2 + K] = s.grad_params + (row * num_params + K) * H;
      }
    });
    if constexpr (p.home[p.graph.h] == Ph) in[kGradH] = s.grad_h + row * H;
    if constexpr (spec.cell_state && p.home[p.graph.c] == Ph) in[kGradH + 1] = offset(s.grad_c, row * H);
    unroll(std::make_integer_sequence<int, gates>{}, [&](auto k) {
      constexpr int K = decltype(k)::value;
      if constexpr (grad_phase(K) == Ph) out[K] = s.grad_pre + row * gates * H + K * H;
      if constexpr (spec.split_recurrent && grad_phase(cell::kInputGateH + K) == Ph) {
        out[gates + K] = s.grad_pre_h + row * gates * H + K * H;
      }
    });
    if constexpr (grad_phase(cell::kInputHPrev) == Ph) out[gate_blocks] = offset(s.grad_h_prev, row * H);
    if constexpr (grad_phase(cell::kInputCPrev) == Ph) out[gate_blocks + 1] = offset(s.grad_c_prev, row * H);
    unroll(std::make_integer_sequence<int, scratch_rows>{}, [&](auto k) {
      constexpr int K = decltype(k)::value;
      if constexpr (reads_scratch(Ph, K)) in[kScratchIn + K] = scratch + K * H;
      if constexpr (writes_scratch(Ph, K)) out[kScratchOut + K] = scratch + K * H;
    });
    return pointers;
  }

  [[gnu::flatten]] static void backward_rows(const CellStepBackward& s, std::int64_t row_begin,
                                             std::int64_t row_end) {
    const std::int64_t H = s.H;
    std::vector<float> scratch;  // cells with row_norm only
    if constexpr (scratch_rows > 0) scratch.resize(static_cast<std::size_t>(scratch_rows * H));
    for (std::int64_t row = row_begin; row < row_end; ++row) {
      RowScalars scalars;
      unroll(std::make_integer_sequence<int, p.norms>{}, [&](auto norm) {
        constexpr int R = decltype(norm)::value;
        scalars.mean[R] = s.row_stats[row * 2 * p.norms + 2 * R];
        scalars.rstd[R] = s.row_stats[row * 2 * p.norms + 2 * R + 1];
      });
      unroll_reverse(std::make_integer_sequence<int, p.phases>{}, [&](auto phase) {
        constexpr int Ph = decltype(phase)::value;
        const BackwardPointers pointers = backward_pointers<Ph>(s, row, scratch.data());
        detail::for_each_lane_offset(
            H, pointers.first, pointers.second,
            [&](const auto& block_in, const auto& block_out, std::int64_t j) {
              backward_block<Ph>(block_in, block_out, j, scalars);
            });
        // mean(dy) and mean(dy * y) of each row_norm of this phase, for its operand's gradient
        // in the phase below
        unroll(std::make_integer_sequence<int, p.norms>{}, [&](auto norm) {
          constexpr int R = decltype(norm)::value;
          constexpr int k = p.norm_node[R];
          if constexpr (p.phase[k] == Ph && p.live[k]) {
            const RowGradMeans means =
                row_norm_grad_means(scratch.data() + p.scratch[k] * H,
                                    slot_row(s, row, p.slot[p.graph.nodes[k].a]),
                                    {scalars.mean[R], scalars.rstd[R]}, H);
            scalars.mean_grad[R] = means.grad;
            scalars.mean_grad_y[R] = means.grad_y;
          }
        });
      });
    }
  }

  static void backward(const CellStepBackward& s) {
    detail::for_rows(s.B, s.H, [&](std::int64_t row_begin, std::int64_t row_end) {
      backward_rows(s, row_begin, row_end);
    });
  }
};

}  // namespace cell_detail

// The descriptor the layer driver runs (one per cell type, built on first use).
template <class Cell>
const CellKernel& derived_cell_kernel() {
  using D = cell_detail::Derived<Cell>;
  constexpr cell::Spec spec = Cell::spec;
  static const CellKernel kernel{spec.name,
                                 D::gates,
                                 spec.cell_state,
                                 spec.split_recurrent,
                                 D::reads_h_prev,
                                 D::kept,
                                 D::num_params,
                                 &D::forward,
                                 &D::backward,
                                 2 * D::p.norms,
                                 spec.norm_ih,
                                 spec.norm_hh,
                                 spec.norm_eps};
  return kernel;
}

}  // namespace TAPEGRAD_KERNEL_ISA
}  // namespace tapegrad::kernels
