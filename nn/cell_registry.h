#pragma once
// Registering a recurrent cell of one's own, so make_recurrent("my_cell", ...) and every program
// that takes a cell name (rnn_vs_lstm --cells, bench_lstm) run it fused:
//
//   struct MyCell { static constexpr cell::Spec spec{...}; template <class V> static constexpr
//                   cell::Out<V> step(const cell::In<V>& in) {...} };   // ops/cell_math.h
//   nn::register_cell<MyCell>();
//
// OPT-IN: this header includes ops/kernels/cell_kernel.h, hence xsimd and TBB. Include it in the
// one .cpp file that registers the cell and build that file for the CPU it will run on (link the
// CMake target tapegrad_simd, as examples/custom_cell.cpp does: -march=native); without -march
// the derived kernel silently runs 4-wide. Nothing else needs it: other files use the cell by name.
#include "nn/cell_definition.h"
#include "nn/rnn.h"
#include "ops/kernels/cell_kernel.h"

namespace tapegrad::nn {

// The fused kernel derived from Cell's math (compiled with this file's flags), and the same math
// composed from generic ops.
template <class Cell>
CellDefinition cell_definition() {
  return cell_definition<Cell>(kernels::derived_cell_kernel<Cell>());
}

template <class Cell>
void register_cell() {
  register_cell(cell_definition<Cell>());
}

}  // namespace tapegrad::nn
