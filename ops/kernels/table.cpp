// The table of this instruction-set build (kernel_table.h): compiled once per level with the
// others in ops/kernels/ (ops/CMakeLists.txt), it exports the only global symbol of the build.
#include <type_traits>

#include "ops/kernels/isa_namespace.h"
#include "ops/kernels/kernel_table.h"
#include "ops/kernels/row_norm_simd.h"  // row_stats, row_norm_grad_means: inline

namespace tapegrad::kernels::inline TAPEGRAD_KERNEL_ISA {

// This build's definitions (in the other files of ops/kernels/; row_stats and
// row_norm_grad_means inline above), declared with the public types, taken from the table's
// fields: kernels::name itself would also find this build's inline functions.
#define TAPEGRAD_KERNEL_DECLARATION(name) std::remove_pointer_t<decltype(KernelTable::name)> name;
TAPEGRAD_KERNEL_FUNCTIONS(TAPEGRAD_KERNEL_DECLARATION)
#undef TAPEGRAD_KERNEL_DECLARATION
decltype(matmul_detail::choose_kernel) choose_gemm_kernel;
decltype(matmul_detail::tile_rows) gemm_tile_rows;
decltype(matmul_detail::transposes_output) gemm_transposes_output;
std::remove_pointer_t<decltype(KernelTable::gemm_bf16_panels)> gemm_bf16_panels;
std::remove_pointer_t<decltype(KernelTable::pack_bf16_words)> pack_bf16_words;
const CellKernel* find_derived_cell(std::string_view name);  // derived_cells.cpp

namespace {
#define TAPEGRAD_STRINGIFY_(x) #x
#define TAPEGRAD_STRINGIFY(x) TAPEGRAD_STRINGIFY_(x)
// Each entry is .name = &name: no entry can take another function of the same type.
#define TAPEGRAD_KERNEL_ENTRY(name) .name = &name,
constexpr KernelTable table{.isa = TAPEGRAD_STRINGIFY(TAPEGRAD_KERNEL_ISA),
                            TAPEGRAD_KERNEL_FUNCTIONS(TAPEGRAD_KERNEL_ENTRY)
                            .choose_gemm_kernel = &choose_gemm_kernel,
                            .gemm_tile_rows = &gemm_tile_rows,
                            .gemm_transposes_output = &gemm_transposes_output,
                            .pack_bf16_words = &pack_bf16_words,
                            .gemm_bf16_panels = &gemm_bf16_panels,
                            .find_derived_cell = &find_derived_cell};
#undef TAPEGRAD_KERNEL_ENTRY
}  // namespace

}  // namespace tapegrad::kernels::TAPEGRAD_KERNEL_ISA

#define TAPEGRAD_TABLE_FUNCTION_(isa) tapegrad_kernels_##isa
#define TAPEGRAD_TABLE_FUNCTION(isa) TAPEGRAD_TABLE_FUNCTION_(isa)
extern "C" const tapegrad::kernels::KernelTable* TAPEGRAD_TABLE_FUNCTION(TAPEGRAD_KERNEL_ISA)() {
  return &tapegrad::kernels::TAPEGRAD_KERNEL_ISA::table;
}
