#pragma once
// Registering a recurrent cell of one's own, so make_recurrent("my_cell", ...) and every program
// that takes a cell name (rnn_vs_lstm --cells, bench_lstm) run it fused:
//
//   struct MyCell { static constexpr cell::Spec spec{...}; template <class V> static constexpr
//                   cell::Out<V> step(const cell::In<V>& in) {...} };   // ops/cell_math.h
//   nn::register_cell<MyCell>();
//
// OPT-IN: this header includes ops/kernels/cell_kernel.h, hence xsimd and TBB. Include it in the
// one .cpp file that registers the cell and build that file with the library's SIMD flags (link
// the CMake target tapegrad_simd, as examples/custom_cell.cpp does); without -march the derived
// kernel silently runs 4-wide. Nothing else needs it: other files use the cell by name.
#include "nn/rnn.h"
#include "ops/kernels/cell_kernel.h"
#include "ops/recurrent_reference.h"

namespace tapegrad::nn {

// The fused kernel derived from Cell's math, and the same math composed from generic ops.
template <class Cell>
CellDefinition cell_definition() {
  constexpr cell::Spec spec = Cell::spec;
  CellDefinition d;
  d.name = spec.name;
  d.gates = spec.gates;
  d.cell_state = spec.cell_state;
  for (int k = 0; k < spec.params; ++k) {
    d.param_names.emplace_back(spec.param_names[static_cast<std::size_t>(k)]);
    d.param_init.push_back(spec.param_init[static_cast<std::size_t>(k)]);
  }
  d.forget_gate = spec.forget_gate;
  d.kernel = &kernels::derived_cell_kernel<Cell>();
  d.composed = composed_cell_layer<Cell>;
  return d;
}

template <class Cell>
void register_cell() {
  register_cell(cell_definition<Cell>());
}

}  // namespace tapegrad::nn
