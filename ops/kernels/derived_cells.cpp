// The fused kernels of the cells in ops/cells.h, derived from their math by cell_kernel.h.
#include <string>

#include "autograd/errors.h"
#include "ops/cells.h"
#include "ops/kernels/cell_kernel.h"

namespace tapegrad {

const CellKernel& derived_cell(const std::string& name) {
  for (const CellKernel* cell :
       {&kernels::derived_cell_kernel<cells::LSTM>(), &kernels::derived_cell_kernel<cells::GRU>(),
        &kernels::derived_cell_kernel<cells::RNNTanh>(),
        &kernels::derived_cell_kernel<cells::RNNReLU>(),
        &kernels::derived_cell_kernel<cells::PeepholeLSTM>(),
        &kernels::derived_cell_kernel<cells::CIFGLSTM>(),
        &kernels::derived_cell_kernel<cells::LayerNormLSTM>()}) {
    if (cell->name == name) return *cell;
  }
  throw ValueError("derived_cell: unknown cell \"" + name +
                   "\"; the derived cells are lstm, gru, rnn_tanh, rnn_relu, peephole_lstm, "
                   "cifg_lstm, ln_lstm");
}

}  // namespace tapegrad
