// The table of this instruction-set build (kernel_table.h): compiled once per level with the
// others in ops/kernels/ (ops/CMakeLists.txt), it exports the only global symbol of the build.
#include "ops/kernels/isa_namespace.h"
#include "ops/kernels/kernel_table.h"
#include "ops/kernels/row_norm_simd.h"  // row_stats, row_norm_grad_means: inline

namespace tapegrad::kernels::inline TAPEGRAD_KERNEL_ISA {

// This build's definitions (in the other files of ops/kernels/), declared with the public types.
decltype(kernels::gemm) gemm;
decltype(kernels::gemm_reference) gemm_reference;
decltype(matmul_detail::choose_kernel) choose_gemm_kernel;
decltype(matmul_detail::tile_rows) gemm_tile_rows;
decltype(kernels::sigmoid_forward) sigmoid_forward;
decltype(kernels::tanh_forward) tanh_forward;
decltype(kernels::exp_forward) exp_forward;
decltype(kernels::sigmoid_forward_reference) sigmoid_forward_reference;
decltype(kernels::tanh_forward_reference) tanh_forward_reference;
decltype(kernels::exp_forward_reference) exp_forward_reference;
decltype(kernels::lstm_gates_forward) lstm_gates_forward;
decltype(kernels::lstm_gates_forward_reference) lstm_gates_forward_reference;
decltype(kernels::lstm_gates_backward) lstm_gates_backward;
decltype(kernels::lstm_gates_backward_reference) lstm_gates_backward_reference;
decltype(kernels::gru_gates_forward) gru_gates_forward;
decltype(kernels::gru_gates_forward_reference) gru_gates_forward_reference;
decltype(kernels::gru_gates_backward) gru_gates_backward;
decltype(kernels::gru_gates_backward_reference) gru_gates_backward_reference;
decltype(kernels::adam_update) adam_update;
decltype(kernels::adam_update_reference) adam_update_reference;
decltype(kernels::row_norm_forward) row_norm_forward;
decltype(kernels::row_norm_backward) row_norm_backward;
decltype(kernels::add_column_sums) add_column_sums;
decltype(kernels::add_column_sums_reference) add_column_sums_reference;
const CellKernel* find_derived_cell(std::string_view name);  // derived_cells.cpp

namespace {
#define TAPEGRAD_STRINGIFY_(x) #x
#define TAPEGRAD_STRINGIFY(x) TAPEGRAD_STRINGIFY_(x)
// Designated: a kernel and its reference share a type, so a positional swap would compile.
constexpr KernelTable table{.isa = TAPEGRAD_STRINGIFY(TAPEGRAD_KERNEL_ISA),
                            .gemm = &gemm,
                            .gemm_reference = &gemm_reference,
                            .choose_gemm_kernel = &choose_gemm_kernel,
                            .gemm_tile_rows = &gemm_tile_rows,
                            .sigmoid_forward = &sigmoid_forward,
                            .tanh_forward = &tanh_forward,
                            .exp_forward = &exp_forward,
                            .sigmoid_forward_reference = &sigmoid_forward_reference,
                            .tanh_forward_reference = &tanh_forward_reference,
                            .exp_forward_reference = &exp_forward_reference,
                            .lstm_gates_forward = &lstm_gates_forward,
                            .lstm_gates_forward_reference = &lstm_gates_forward_reference,
                            .lstm_gates_backward = &lstm_gates_backward,
                            .lstm_gates_backward_reference = &lstm_gates_backward_reference,
                            .gru_gates_forward = &gru_gates_forward,
                            .gru_gates_forward_reference = &gru_gates_forward_reference,
                            .gru_gates_backward = &gru_gates_backward,
                            .gru_gates_backward_reference = &gru_gates_backward_reference,
                            .adam_update = &adam_update,
                            .adam_update_reference = &adam_update_reference,
                            .row_stats = &row_stats,
                            .row_norm_grad_means = &row_norm_grad_means,
                            .row_norm_forward = &row_norm_forward,
                            .row_norm_backward = &row_norm_backward,
                            .add_column_sums = &add_column_sums,
                            .add_column_sums_reference = &add_column_sums_reference,
                            .find_derived_cell = &find_derived_cell};
}  // namespace

}  // namespace tapegrad::kernels::TAPEGRAD_KERNEL_ISA

#define TAPEGRAD_TABLE_FUNCTION_(isa) tapegrad_kernels_##isa
#define TAPEGRAD_TABLE_FUNCTION(isa) TAPEGRAD_TABLE_FUNCTION_(isa)
extern "C" const tapegrad::kernels::KernelTable* TAPEGRAD_TABLE_FUNCTION(TAPEGRAD_KERNEL_ISA)() {
  return &tapegrad::kernels::TAPEGRAD_KERNEL_ISA::table;
}
