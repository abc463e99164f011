// The public kernel functions as calls through the table of the instruction-set build in use
// (isa.h, kernel_table.h). Built for the baseline like the rest of the library: only the tables'
// code uses wider instructions, and only once the CPU has been asked whether it runs them.
#include <cstdlib>
#include <string>
#include <vector>

#include "autograd/errors.h"
#include "ops/kernels/isa.h"
#include "ops/kernels/kernel_table.h"

#if TAPEGRAD_KERNEL_ISAS_X86
#include <cpuid.h>
#endif

namespace tapegrad::kernels {

namespace {

#if TAPEGRAD_KERNEL_ISAS_X86
struct CpuLevels {
  bool avx2 = false, avx512 = false;
};

// The x86-64 levels of the psABI, from CPUID, and whether the OS saves the wider registers
// (XCR0): a CPU can have AVX-512 that its kernel does not enable.
CpuLevels detect_levels() {
  CpuLevels levels;
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx)) return levels;
  const auto bit = [](unsigned reg, int n) { return ((reg >> n) & 1u) != 0; };
  const bool fma = bit(ecx, 12), movbe = bit(ecx, 22), osxsave = bit(ecx, 27), avx = bit(ecx, 28),
             f16c = bit(ecx, 29);
  if (!osxsave || !avx) return levels;
  unsigned xcr0_low = 0, xcr0_high = 0;
  __asm__("xgetbv" : "=a"(xcr0_low), "=d"(xcr0_high) : "c"(0));
  const bool os_ymm = (xcr0_low & 0x6u) == 0x6u;     // SSE and AVX state
  const bool os_zmm = (xcr0_low & 0xe6u) == 0xe6u;   // and opmask, ZMM_Hi256, Hi16_ZMM
  unsigned ext_eax = 0, ext_ebx = 0, ext_ecx = 0, ext_edx = 0;
  const bool lzcnt = __get_cpuid(0x80000001u, &ext_eax, &ext_ebx, &ext_ecx, &ext_edx) &&
                     bit(ext_ecx, 5);
  if (__get_cpuid_max(0, nullptr) < 7) return levels;
  unsigned l7_eax = 0, l7_ebx = 0, l7_ecx = 0, l7_edx = 0;
  __cpuid_count(7, 0, l7_eax, l7_ebx, l7_ecx, l7_edx);
  const bool bmi1 = bit(l7_ebx, 3), avx2 = bit(l7_ebx, 5), bmi2 = bit(l7_ebx, 8);
  levels.avx2 = os_ymm && avx2 && fma && f16c && movbe && lzcnt && bmi1 && bmi2;
  const bool avx512f = bit(l7_ebx, 16), avx512dq = bit(l7_ebx, 17), avx512cd = bit(l7_ebx, 28),
             avx512bw = bit(l7_ebx, 30), avx512vl = bit(l7_ebx, 31);
  levels.avx512 = levels.avx2 && os_zmm && avx512f && avx512dq && avx512cd && avx512bw && avx512vl;
  return levels;
}

// The builds this CPU runs, widest first.
std::vector<const KernelTable*> runnable_tables() {
  const CpuLevels levels = detect_levels();
  std::vector<const KernelTable*> tables;
  if (levels.avx512) tables.push_back(tapegrad_kernels_avx512());
  if (levels.avx2) tables.push_back(tapegrad_kernels_avx2());
  tables.push_back(tapegrad_kernels_baseline());
  return tables;
}
#else
std::vector<const KernelTable*> runnable_tables() { return {tapegrad_kernels_generic()}; }
#endif

const std::vector<const KernelTable*>& runnable() {
  static const std::vector<const KernelTable*> tables = runnable_tables();
  return tables;
}

std::string runnable_names() {
  std::string names;
  for (const KernelTable* table : runnable()) {
    if (!names.empty()) names += ", ";
    names += table->isa;
  }
  return names;
}

}  // namespace

const KernelTable& select_kernels(const char* requested) {
  if (requested == nullptr || *requested == '\0') return *runnable().front();
  if (const KernelTable* table = kernels_for(requested)) return *table;
  throw ValueError(std::string("TAPEGRAD_KERNELS=") + requested +
                   ": not a kernel level this CPU runs; it runs " + runnable_names());
}

const KernelTable* kernels_for(std::string_view isa) {
  for (const KernelTable* table : runnable())
    if (isa == table->isa) return table;
  return nullptr;
}

const KernelTable& active_kernels() {
  static const KernelTable& table = select_kernels(std::getenv("TAPEGRAD_KERNELS"));
  return table;
}

// ---- the public kernel functions ----

void gemm(bool transpose_a, bool transpose_b, std::int64_t M, std::int64_t N, std::int64_t K,
          const float* a, std::int64_t lda, const float* b, std::int64_t ldb, float* c,
          std::int64_t ldc, bool accumulate) {
  active_kernels().gemm(transpose_a, transpose_b, M, N, K, a, lda, b, ldb, c, ldc, accumulate);
}
void gemm_reference(bool transpose_a, bool transpose_b, std::int64_t M, std::int64_t N,
                    std::int64_t K, const float* a, std::int64_t lda, const float* b,
                    std::int64_t ldb, float* c, std::int64_t ldc, bool accumulate) {
  active_kernels().gemm_reference(transpose_a, transpose_b, M, N, K, a, lda, b, ldb, c, ldc,
                                  accumulate);
}
namespace matmul_detail {
Kernel choose_kernel(bool transpose_a, bool transpose_b, Index M) {
  return active_kernels().choose_gemm_kernel(transpose_a, transpose_b, M);
}
Index tile_rows(Kernel kernel) { return active_kernels().gemm_tile_rows(kernel); }
}  // namespace matmul_detail

void sigmoid_forward(float* out, const float* x, std::int64_t n) {
  active_kernels().sigmoid_forward(out, x, n);
}
void tanh_forward(float* out, const float* x, std::int64_t n) {
  active_kernels().tanh_forward(out, x, n);
}
void exp_forward(float* out, const float* x, std::int64_t n) {
  active_kernels().exp_forward(out, x, n);
}
void sigmoid_forward_reference(float* out, const float* x, std::int64_t n) {
  active_kernels().sigmoid_forward_reference(out, x, n);
}
void tanh_forward_reference(float* out, const float* x, std::int64_t n) {
  active_kernels().tanh_forward_reference(out, x, n);
}
void exp_forward_reference(float* out, const float* x, std::int64_t n) {
  active_kernels().exp_forward_reference(out, x, n);
}

void lstm_gates_forward(float* h, float* c, float* gates_act, float* tanh_c,
                        const float* gates_pre, const float* c_prev, std::int64_t B,
                        std::int64_t H) {
  active_kernels().lstm_gates_forward(h, c, gates_act, tanh_c, gates_pre, c_prev, B, H);
}
void lstm_gates_forward_reference(float* h, float* c, float* gates_act, float* tanh_c,
                                  const float* gates_pre, const float* c_prev, std::int64_t B,
                                  std::int64_t H) {
  active_kernels().lstm_gates_forward_reference(h, c, gates_act, tanh_c, gates_pre, c_prev, B, H);
}
void lstm_gates_backward(float* grad_gates_pre, float* grad_c_prev, const float* grad_h,
                         const float* grad_c, const float* gates_act, const float* tanh_c,
                         const float* c_prev, std::int64_t B, std::int64_t H) {
  active_kernels().lstm_gates_backward(grad_gates_pre, grad_c_prev, grad_h, grad_c, gates_act,
                                       tanh_c, c_prev, B, H);
}
void lstm_gates_backward_reference(float* grad_gates_pre, float* grad_c_prev,
                                   const float* grad_h, const float* grad_c,
                                   const float* gates_act, const float* tanh_c,
                                   const float* c_prev, std::int64_t B, std::int64_t H) {
  active_kernels().lstm_gates_backward_reference(grad_gates_pre, grad_c_prev, grad_h, grad_c,
                                                 gates_act, tanh_c, c_prev, B, H);
}

void gru_gates_forward(float* h, float* gates_act, float* hn_saved, const float* gates_x,
                       const float* gates_h, const float* h_prev, std::int64_t B, std::int64_t H) {
  active_kernels().gru_gates_forward(h, gates_act, hn_saved, gates_x, gates_h, h_prev, B, H);
}
void gru_gates_forward_reference(float* h, float* gates_act, float* hn_saved,
                                 const float* gates_x, const float* gates_h, const float* h_prev,
                                 std::int64_t B, std::int64_t H) {
  active_kernels().gru_gates_forward_reference(h, gates_act, hn_saved, gates_x, gates_h, h_prev, B,
                                               H);
}
void gru_gates_backward(float* grad_gates_x, float* grad_gates_h, float* grad_h_prev,
                        const float* grad_h, const float* gates_act, const float* hn_saved,
                        const float* h_prev, std::int64_t B, std::int64_t H) {
  active_kernels().gru_gates_backward(grad_gates_x, grad_gates_h, grad_h_prev, grad_h, gates_act,
                                      hn_saved, h_prev, B, H);
}
void gru_gates_backward_reference(float* grad_gates_x, float* grad_gates_h, float* grad_h_prev,
                                  const float* grad_h, const float* gates_act,
                                  const float* hn_saved, const float* h_prev, std::int64_t B,
                                  std::int64_t H) {
  active_kernels().gru_gates_backward_reference(grad_gates_x, grad_gates_h, grad_h_prev, grad_h,
                                                gates_act, hn_saved, h_prev, B, H);
}

void adam_update(const AdamUpdate& u) { active_kernels().adam_update(u); }
void adam_update_reference(const AdamUpdate& u) { active_kernels().adam_update_reference(u); }

RowStats row_stats(const float* v, std::int64_t n, float eps) {
  return active_kernels().row_stats(v, n, eps);
}
RowGradMeans row_norm_grad_means(const float* grad_y, const float* x, RowStats stats,
                                 std::int64_t n) {
  return active_kernels().row_norm_grad_means(grad_y, x, stats, n);
}
void row_norm_forward(float* out, float* xhat, float* rstd, const float* v, const float* gain,
                      const float* shift, std::int64_t R, std::int64_t W, float eps,
                      bool accumulate) {
  active_kernels().row_norm_forward(out, xhat, rstd, v, gain, shift, R, W, eps, accumulate);
}
void row_norm_backward(float* grad_v, double* grad_gain, const float* grad_out, const float* xhat,
                       const float* rstd, const float* gain, std::int64_t R, std::int64_t W) {
  active_kernels().row_norm_backward(grad_v, grad_gain, grad_out, xhat, rstd, gain, R, W);
}

}  // namespace tapegrad::kernels

namespace tapegrad {

const CellKernel& derived_cell(const std::string& name) {
  if (const CellKernel* cell = kernels::active_kernels().find_derived_cell(name)) return *cell;
  throw ValueError("derived_cell: unknown cell \"" + name +
                   "\"; the derived cells are lstm, gru, rnn_tanh, rnn_relu, peephole_lstm, "
                   "cifg_lstm, ln_lstm");
}

std::string kernel_isa() { return kernels::active_kernels().isa; }

std::vector<std::string> supported_kernel_isas() {
  std::vector<std::string> names;
  for (const kernels::KernelTable* table : kernels::runnable()) names.emplace_back(table->isa);
  return names;
}

}  // namespace tapegrad
