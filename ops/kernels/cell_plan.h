#pragma once
// The analysis behind the derived cell kernels (ops/kernels/cell_kernel.h): plan() reads a cell's
// traced graph (ops/cell_math.h) once, at compile time, and decides what each kernel computes,
// keeps, loads and recomputes. Plain constexpr code, no SIMD; internal to cell_kernel.h.
//  - reach: the nodes the outputs h and c need; the forward computes only these.
//  - kept slots: each sigmoid/tanh/relu output (call order), each gate input a product's
//    derivative needs (the forward overwrites the gate rows in place), and each value read in a
//    later phase than its own.
//  - phases (row-wise steps): phase 0 is everything before any row_norm; a row_norm and what
//    depends on it run one phase after its operand, once the operand's whole row is reduced to
//    its mean and rstd. A cell without row_norm has one phase.
//  - the adjoint sweep, simulated phase by phase from the last: where each adjoint is first
//    written (so the kernel writes instead of adding), which inputs' gradients are complete in
//    which phase, and which adjoints cross phases through per-row scratch rows.
#include <algorithm>
#include <array>

#include "ops/cell_math.h"

namespace tapegrad::kernels::cell_plan {

using cell::Graph;
using cell::Node;
using cell::Op;
using cell::kMaxNodes;

// Each phase after the first starts at a row_norm.
inline constexpr int kMaxPhases = cell::kMaxRowNorms + 1;

template <class T>
using PerNode = std::array<T, kMaxNodes>;
template <class T>
using PerPhase = std::array<T, kMaxPhases>;

struct Plan {
  Graph graph;
  PerNode<bool> reach{};               // needed by the outputs (forward computes it)
  PerNode<int> slot{};                 // kept slot, or -1
  PerNode<bool> live{};                // has an adjoint when the sweep reaches it
  PerNode<bool> first_a{}, first_b{};  // the sweep's first write of that operand (in its phase)
  std::array<int, cell::kInputParam + cell::kMaxParams> input_node{};  // input number -> node
  int kept = 0;
  // Row-wise steps. Phase 0 is everything before any row_norm; a row_norm and what depends on it
  // run one phase after its operand, once the operand's whole row (kept in a slot) is reduced to
  // its mean and rstd.
  int phases = 1;
  int norms = 0;
  PerNode<int> phase{};  // inputs and constants: 0
  PerNode<int> home{};   // backward phase that completes the adjoint: the node's own phase; for an
                         // input, the first phase that reads it
  PerNode<int> norm{};   // row_norm node -> its number r (row statistics 2r, 2r+1), or -1
  std::array<int, cell::kMaxRowNorms> norm_node{};
  // Adjoints that cross phases go through per-row scratch rows: written or added at the end of a
  // later phase, loaded at the start of the node's home phase. A row_norm's own adjoint dy always
  // goes there: its operand's gradient needs mean(dy) and mean(dy * y) over the row first.
  PerNode<int> scratch{};
  int scratch_rows = 0;
  PerPhase<PerNode<bool>> forward_value{};     // forward phase p computes or loads the node
  PerPhase<PerNode<bool>> backward_value{};    // backward phase p needs the node's value
  PerPhase<PerNode<bool>> from_scratch{};      // backward phase p starts the adjoint from scratch
  PerPhase<PerNode<bool>> to_scratch{};        // backward phase p ends by storing it to scratch,
  PerPhase<PerNode<bool>> to_scratch_first{};  // as its first value (else added)
  PerNode<bool> transfer_first{};  // row_norm: the gradient it passes its operand is the first
  bool seed_h_first = true, seed_c_first = true;
};

constexpr bool has_a(Op op) { return op != Op::Input && op != Op::Const; }
constexpr bool has_b(Op op) { return op == Op::Add || op == Op::Sub || op == Op::Mul; }

constexpr Plan plan(const Graph& graph) {
  Plan p;
  p.graph = graph;
  const int n = graph.size;
  const auto at = [](auto& array, int k) -> auto& { return array[static_cast<std::size_t>(k)]; };
  for (int& node : p.input_node) node = -1;
  for (int& node : p.norm_node) node = -1;
  for (int k = 0; k < kMaxNodes; ++k) at(p.slot, k) = at(p.norm, k) = at(p.scratch, k) = -1;
  // forward reach: ancestors of the outputs
  at(p.reach, graph.h) = true;
  if (graph.c >= 0) at(p.reach, graph.c) = true;
  for (int k = n - 1; k >= 0; --k) {
    const Node& node = at(p.graph.nodes, k);
    if (!at(p.reach, k)) continue;
    if (has_a(node.op)) at(p.reach, node.a) = true;
    if (has_b(node.op)) at(p.reach, node.b) = true;
  }
  // phases, and the kept slots of the saved ops (call order)
  for (int k = 0; k < n; ++k) {
    const Node& node = at(p.graph.nodes, k);
    if (node.op == Op::Input) at(p.input_node, node.a) = k;
    int phase = 0;
    if (has_a(node.op)) phase = at(p.phase, node.a);
    if (has_b(node.op)) phase = std::max(phase, at(p.phase, node.b));
    if (node.op == Op::RowNorm) {
      ++phase;
      if (at(p.reach, k)) {
        if (p.norms == cell::kMaxRowNorms) throw "cell graph: more than kMaxRowNorms row_norm calls";
        at(p.norm, k) = p.norms;
        at(p.norm_node, p.norms++) = k;
      }
    }
    at(p.phase, k) = phase;
    if (at(p.reach, k)) p.phases = std::max(p.phases, phase + 1);
    if (at(p.reach, k) && cell::is_saved(node.op)) at(p.slot, k) = p.kept++;
  }
  // Values read in a later phase than their own are kept (slots numbered below): the operand
  // of a row_norm (its row is reduced between phases), and any earlier value a later phase
  // uses, unless it can be reloaded (h_prev, c_prev, parameters, gate_h: read-only; a gate
  // input is overwritten in place by phase 0's kept values).
  PerNode<bool> cross{};
  const auto reloadable = [&](int k) {
    const Node& node = at(p.graph.nodes, k);
    return node.op == Op::Const || (node.op == Op::Input && node.a >= cell::kInputGateH);
  };
  for (int k = 0; k < n; ++k) {
    const Node& node = at(p.graph.nodes, k);
    if (!at(p.reach, k) || !has_a(node.op)) continue;
    if (node.op == Op::RowNorm) {
      at(cross, node.a) = true;
      continue;
    }
    for (const int operand : {node.a, has_b(node.op) ? node.b : -1}) {
      if (operand >= 0 && at(p.phase, operand) < at(p.phase, k) && !reloadable(operand)) {
        at(cross, operand) = true;
      }
    }
  }
  // home phases: an input's adjoint is complete in the first phase that reads it (a row_norm
  // reads its operand one phase before its own)
  for (int k = 0; k < n; ++k) at(p.home, k) = has_a(at(p.graph.nodes, k).op) ? at(p.phase, k) : kMaxPhases;
  for (int k = 0; k < n; ++k) {
    const Node& node = at(p.graph.nodes, k);
    if (!at(p.reach, k) || !has_a(node.op)) continue;
    const int use = node.op == Op::RowNorm ? at(p.phase, k) - 1 : at(p.phase, k);
    for (const int operand : {node.a, has_b(node.op) ? node.b : -1}) {
      if (operand >= 0 && !has_a(at(p.graph.nodes, operand).op)) {
        at(p.home, operand) = std::min(at(p.home, operand), use);
      }
    }
  }
  for (int k = 0; k < n; ++k) {
    if (at(p.home, k) == kMaxPhases) at(p.home, k) = 0;  // outputs and unread inputs
  }
  // The adjoint sweep, simulated phase by phase (last first): which writes come first, what
  // crosses phases through scratch.
  PerNode<bool> scratch_written{};
  for (int ph = p.phases - 1; ph >= 0; --ph) {
    PerNode<bool> written{};
    for (int k = 0; k < n; ++k) {
      if (at(p.home, k) == ph && at(scratch_written, k)) {
        at(at(p.from_scratch, ph), k) = true;
        at(written, k) = true;
      }
    }
    if (at(p.home, graph.h) == ph) {
      p.seed_h_first = !at(written, graph.h);
      at(written, graph.h) = true;
    }
    if (graph.c >= 0 && at(p.home, graph.c) == ph) {
      p.seed_c_first = !at(written, graph.c);
      at(written, graph.c) = true;
    }
    for (int r = 0; r < p.norms; ++r) {
      const int k = at(p.norm_node, r);
      if (at(p.live, k) && at(p.phase, k) - 1 == ph) {
        const int operand = at(p.graph.nodes, k).a;
        at(p.transfer_first, k) = !at(written, operand);
        at(written, operand) = true;
      }
    }
    for (int k = n - 1; k >= 0; --k) {
      const Node& node = at(p.graph.nodes, k);
      if (at(p.phase, k) != ph || !at(p.reach, k) || !has_a(node.op)) continue;
      at(p.live, k) = at(written, k);
      if (!at(p.live, k) || node.op == Op::RowNorm) continue;  // a row_norm passes dy on below
      at(p.first_a, k) = !at(written, node.a);
      at(written, node.a) = true;
      if (has_b(node.op)) {
        at(p.first_b, k) = !at(written, node.b);
        at(written, node.b) = true;
      }
    }
    for (int k = 0; k < n; ++k) {
      const bool own_norm = at(p.graph.nodes, k).op == Op::RowNorm && at(p.phase, k) == ph;
      if (!at(written, k) || (at(p.home, k) == ph && !own_norm)) continue;
      if (at(p.scratch, k) < 0) at(p.scratch, k) = p.scratch_rows++;
      at(at(p.to_scratch, ph), k) = true;
      at(at(p.to_scratch_first, ph), k) = own_norm || !at(scratch_written, k);
      at(scratch_written, k) = true;
    }
    for (int k = 0; k < n; ++k) {
      if (!has_a(at(p.graph.nodes, k).op) && at(p.home, k) == ph) at(p.live, k) = at(written, k);
    }
  }
  // Values each backward phase needs: a product's operands, a saved op's output, a row_norm
  // operand whose gradient this phase forms, and whatever the cheap nodes among them are
  // recomputed from (within the phase: an earlier phase's value is kept).
  for (int ph = 0; ph < p.phases; ++ph) {
    auto& need = at(p.backward_value, ph);
    for (int k = 0; k < n; ++k) {
      const Node& node = at(p.graph.nodes, k);
      if (!at(p.live, k) || !has_a(node.op)) continue;
      if (at(p.phase, k) == ph && node.op == Op::Mul) at(need, node.a) = at(need, node.b) = true;
      if (at(p.phase, k) == ph && cell::is_saved(node.op)) at(need, k) = true;
      if (node.op == Op::RowNorm && at(p.phase, k) - 1 == ph) at(need, node.a) = true;
    }
    for (int k = n - 1; k >= 0; --k) {
      const Node& node = at(p.graph.nodes, k);
      if (!at(need, k) || at(p.slot, k) >= 0 || at(cross, k) || !has_a(node.op)) continue;
      if (at(p.phase, k) != ph) throw "cell graph: internal: a value crosses phases unkept";
      at(need, node.a) = true;
      if (has_b(node.op)) at(need, node.b) = true;
    }
  }
  // gate inputs (overwritten in place by the forward) that backward needs are kept too, then the
  // values that cross phases
  for (int k = 0; k < n; ++k) {
    const Node& node = at(p.graph.nodes, k);
    bool needed = false;
    for (int ph = 0; ph < p.phases; ++ph) needed = needed || at(at(p.backward_value, ph), k);
    if (node.op == Op::Input && node.a < cell::kInputHPrev && needed && at(p.slot, k) < 0) {
      at(p.slot, k) = p.kept++;
    }
  }
  for (int k = 0; k < n; ++k) {
    if (at(cross, k) && at(p.slot, k) < 0) at(p.slot, k) = p.kept++;
  }
  // Values each forward phase computes or loads: its own nodes, their operands, and in phase 0
  // the kept inputs (stored there, whichever phase reads them).
  for (int k = 0; k < n; ++k) {
    const Node& node = at(p.graph.nodes, k);
    if (!at(p.reach, k)) continue;
    auto& value = at(p.forward_value, at(p.phase, k));
    at(value, k) = true;
    if (has_a(node.op)) at(value, node.a) = true;
    if (has_b(node.op)) at(value, node.b) = true;
    if (!has_a(node.op) && at(p.slot, k) >= 0) at(at(p.forward_value, 0), k) = true;
  }
  return p;
}

}  // namespace tapegrad::kernels::cell_plan
