// The fused kernels of the cells in ops/cells.h, derived from their math by cell_kernel.h, in this
// instruction-set build (tapegrad::derived_cell in dispatch.cpp looks them up by name).
#include <string_view>

#include "ops/cells.h"
#include "ops/kernels/cell_kernel.h"

namespace tapegrad::kernels::inline TAPEGRAD_KERNEL_ISA {

const CellKernel* find_derived_cell(std::string_view name) {
  for (const CellKernel* cell :
       {&derived_cell_kernel<cells::LSTM>(), &derived_cell_kernel<cells::GRU>(),
        &derived_cell_kernel<cells::RNNTanh>(), &derived_cell_kernel<cells::RNNReLU>(),
        &derived_cell_kernel<cells::PeepholeLSTM>(), &derived_cell_kernel<cells::CIFGLSTM>(),
        &derived_cell_kernel<cells::LayerNormLSTM>()}) {
    if (cell->name == name) return cell;
  }
  return nullptr;
}

}  // namespace tapegrad::kernels::TAPEGRAD_KERNEL_ISA
