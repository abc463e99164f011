#pragma once
// Internal to ops/kernels: the kernels of one instruction-set build as a table of function
// pointers. Each build (ops/CMakeLists.txt) exports exactly one symbol, the C function returning
// its table; dispatch.cpp defines the public kernel functions (matmul.h, lstm_gates.h, ...) as
// calls through the table of the level in use (isa.h). The entries have the public functions'
// types, so a build whose signature drifts does not compile.
#include <string>
#include <string_view>

#include "ops/kernels/adam.h"
#include "ops/kernels/column_sums.h"
#include "ops/kernels/elementwise.h"
#include "ops/kernels/gru_gates.h"
#include "ops/kernels/lstm_gates.h"
#include "ops/kernels/matmul.h"
#include "ops/kernels/matmul_bf16.h"
#include "ops/kernels/matmul_internal.h"
#include "ops/kernels/row_norm.h"
#include "ops/recurrent_cell.h"

namespace tapegrad::kernels {

// The public kernel functions that each build defines under the same name, listed once: the
// table's fields below, and each build's declarations and entries (table.cpp), come from it.
#define TAPEGRAD_KERNEL_FUNCTIONS(X) \
  X(gemm) X(gemm_bias) X(gemm_reference) X(sigmoid_forward) X(tanh_forward) X(exp_forward) \
  X(sigmoid_forward_reference) X(tanh_forward_reference) X(exp_forward_reference) \
  X(lstm_gates_forward) X(lstm_gates_forward_reference) X(lstm_gates_backward) \
  X(lstm_gates_backward_reference) X(gru_gates_forward) X(gru_gates_forward_reference) \
  X(gru_gates_backward) X(gru_gates_backward_reference) X(adam_update) X(adam_update_reference) \
  X(row_stats) X(row_norm_grad_means) X(row_norm_forward) X(row_norm_backward) \
  X(add_column_sums) X(add_column_sums_reference)

struct KernelTable {
  const char* isa;  // "avx512", "avx2", "baseline", "generic"
#define TAPEGRAD_KERNEL_FIELD(name) decltype(&kernels::name) name;
  TAPEGRAD_KERNEL_FUNCTIONS(TAPEGRAD_KERNEL_FIELD)
#undef TAPEGRAD_KERNEL_FIELD
  // matmul_detail::choose_kernel, tile_rows and transposes_output, under other names in the
  // builds (matmul.cpp).
  decltype(&kernels::matmul_detail::choose_kernel) choose_gemm_kernel;
  decltype(&kernels::matmul_detail::tile_rows) gemm_tile_rows;
  decltype(&kernels::matmul_detail::transposes_output) gemm_transposes_output;
  // pack_bf16's rounding and layout into `words` (Bf16Panels(K, N)'s storage: the panels are
  // made and freed by the caller, outside the kernel builds).
  void (*pack_bf16_words)(bool transpose_b, std::int64_t K, std::int64_t N, const float* b,
                          std::int64_t ldb, std::uint32_t* words);
  // gemm_bf16 on packed B; dpbf16: use vdpbf16ps (only the avx512 build has it, and only a CPU
  // with AVX512_BF16 may be asked to), else widen to float32 FMAs.
  void (*gemm_bf16_panels)(bool transpose_a, std::int64_t M, const float* a, std::int64_t lda,
                           const Bf16Panels& b, float* c, std::int64_t ldc, bool accumulate,
                           bool dpbf16);
  // The kernel derived from the math of the built-in cell `name` (ops/cells.h), or null.
  const CellKernel* (*find_derived_cell)(std::string_view name);
};

// What CPUID and XCR0 report (leaf 1 ECX, leaf 7.0 EBX, leaf 0x80000001 ECX, the highest basic
// leaf) and the x86-64 levels they allow: levels_from is the decision, apart from the reading so
// that tests can feed it CPUs other than the one they run on.
struct CpuidBits {
  unsigned max_leaf = 0, leaf1_ecx = 0, leaf7_ebx = 0, ext1_ecx = 0;
  unsigned leaf7_1_eax = 0;  // leaf 7 subleaf 1 EAX (AVX512_BF16: bit 5)
  unsigned long long xcr0 = 0;  // meaningful only with OSXSAVE (leaf 1 ECX bit 27)
};
struct CpuLevels {
  bool avx2 = false, avx512 = false;  // x86-64-v3, x86-64-v4 (psABI), with the OS's support
  bool avx512_bf16 = false;           // v4 and AVX512_BF16 (vdpbf16ps)
};
CpuLevels levels_from(const CpuidBits& bits);

// Whether this CPU and its OS run AVX512_BF16: whether a table's gemm_bf16_panels may be asked
// to use vdpbf16ps.
bool cpu_has_avx512_bf16();

// The table in use: select_kernels(getenv("TAPEGRAD_KERNELS")) at the first call (isa.h).
const KernelTable& active_kernels();
// The widest runnable table for null or "", else the named one; ValueError naming the runnable
// levels for a name that is not one of them.
const KernelTable& select_kernels(const char* requested);
// The table of the named level, or null when it is not built or this CPU cannot run it: the
// kernel tests run every level this machine has.
const KernelTable* kernels_for(std::string_view isa);

}  // namespace tapegrad::kernels

// One per level built (ops/CMakeLists.txt); the only global symbols of the kernel objects.
extern "C" {
const tapegrad::kernels::KernelTable* tapegrad_kernels_avx512();
const tapegrad::kernels::KernelTable* tapegrad_kernels_avx2();
const tapegrad::kernels::KernelTable* tapegrad_kernels_baseline();
const tapegrad::kernels::KernelTable* tapegrad_kernels_generic();
}
