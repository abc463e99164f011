#pragma once
// A cell written with ops/cell_math.h as a CellDefinition (nn/rnn.h), given its fused kernel:
// names, gates and parameters from its Spec, and the same math composed from generic ops.
// No SIMD here: nn/cell_registry.h derives the kernel of a cell of one's own, the library takes
// its built-in cells' kernels from the instruction-set build in use (ops/kernels/isa.h).
#include "nn/rnn.h"
#include "ops/recurrent_reference.h"

namespace tapegrad::nn {

template <class Cell>
CellDefinition cell_definition(const CellKernel& kernel) {
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
  d.kernel = &kernel;
  d.composed = composed_cell_layer<Cell>;
  return d;
}

}  // namespace tapegrad::nn
