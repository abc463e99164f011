// The public kernel functions as calls through the table of the instruction-set build in use
// (isa.h, kernel_table.h). Built for the baseline like the rest of the library: only the tables'
// code uses wider instructions, and only once the CPU has been asked whether it runs them.
#include <algorithm>
#include <array>
#include <cstdlib>
#include <span>
#include <string>
#include <vector>

#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>

#include "autograd/aligned_alloc.h"
#include "autograd/errors.h"
#include "autograd/stream_split.h"
#include "autograd/threads.h"
#include "ops/kernels/isa.h"
#include "ops/kernels/kernel_table.h"

#ifndef TAPEGRAD_KERNEL_ISAS_X86
#error "TAPEGRAD_KERNEL_ISAS_X86 is set by ops/CMakeLists.txt: 1 with the x86-64 levels, 0 without"
#endif
#if TAPEGRAD_KERNEL_ISAS_X86
#include <cpuid.h>
#endif

namespace tapegrad::kernels {

namespace {

// The builds this CPU runs, widest first; never destroyed, so a static destructor may still ask.
struct Runnable {
  std::array<const KernelTable*, TAPEGRAD_KERNEL_ISAS_X86 ? 3 : 1> tables{};
  std::size_t count = 0;
};

#if TAPEGRAD_KERNEL_ISAS_X86
CpuidBits read_cpuid() {
  CpuidBits bits;
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  bits.max_leaf = __get_cpuid_max(0, nullptr);
  if (bits.max_leaf < 1) return bits;
  __cpuid(1, eax, ebx, ecx, edx);
  bits.leaf1_ecx = ecx;
  if (bits.max_leaf >= 7) {
    __cpuid_count(7, 0, eax, ebx, ecx, edx);
    bits.leaf7_ebx = ebx;
    if (eax >= 1) {  // leaf 7's highest subleaf
      __cpuid_count(7, 1, eax, ebx, ecx, edx);
      bits.leaf7_1_eax = eax;
    }
  }
  if (__get_cpuid(0x80000001u, &eax, &ebx, &ecx, &edx)) bits.ext1_ecx = ecx;
  // xgetbv faults without OSXSAVE; volatile keeps the compiler from hoisting it above the test.
  if ((bits.leaf1_ecx >> 27) & 1u) {
    unsigned low = 0, high = 0;
    __asm__ volatile("xgetbv" : "=a"(low), "=d"(high) : "c"(0));
    bits.xcr0 = (static_cast<unsigned long long>(high) << 32) | low;
  }
  return bits;
}

Runnable find_runnable() {
  const CpuLevels levels = levels_from(read_cpuid());
  Runnable runnable;
  if (levels.avx512) runnable.tables[runnable.count++] = tapegrad_kernels_avx512();
  if (levels.avx2) runnable.tables[runnable.count++] = tapegrad_kernels_avx2();
  runnable.tables[runnable.count++] = tapegrad_kernels_baseline();
  return runnable;
}
#else
Runnable find_runnable() { return {{tapegrad_kernels_generic()}, 1}; }
#endif

std::span<const KernelTable* const> runnable() {
  static const Runnable found = find_runnable();
  return {found.tables.data(), found.count};
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

CpuLevels levels_from(const CpuidBits& bits) {
  const auto bit = [](unsigned long long reg, int n) { return ((reg >> n) & 1u) != 0; };
  CpuLevels levels;
  if (bits.max_leaf < 7) return levels;
  const unsigned ecx = bits.leaf1_ecx, ebx7 = bits.leaf7_ebx, ext = bits.ext1_ecx;
  // x86-64-v2, which the compiler may use at v3 too: SSE3, SSSE3, CMPXCHG16B, SSE4.1, SSE4.2,
  // POPCNT, LAHF/SAHF.
  const bool v2 = bit(ecx, 0) && bit(ecx, 9) && bit(ecx, 13) && bit(ecx, 19) && bit(ecx, 20) &&
                  bit(ecx, 23) && bit(ext, 0);
  // v3: FMA, MOVBE, AVX, F16C, LZCNT, BMI1, AVX2, BMI2, and the OS saving xmm/ymm (XCR0 1, 2).
  const bool osxsave = bit(ecx, 27);
  const bool os_ymm = osxsave && (bits.xcr0 & 0x6u) == 0x6u;
  levels.avx2 = v2 && os_ymm && bit(ecx, 12) && bit(ecx, 22) && bit(ecx, 28) && bit(ecx, 29) &&
                bit(ext, 5) && bit(ebx7, 3) && bit(ebx7, 5) && bit(ebx7, 8);
  // v4: AVX-512 F, DQ, CD, BW, VL, and the OS saving opmask, ZMM_Hi256, Hi16_ZMM (XCR0 5-7).
  const bool os_zmm = osxsave && (bits.xcr0 & 0xe6u) == 0xe6u;
  levels.avx512 = levels.avx2 && os_zmm && bit(ebx7, 16) && bit(ebx7, 17) && bit(ebx7, 28) &&
                  bit(ebx7, 30) && bit(ebx7, 31);
  levels.avx512_bf16 = levels.avx512 && bit(bits.leaf7_1_eax, 5);
  return levels;
}

const KernelTable& select_kernels(const char* requested) {
  if (requested == nullptr || *requested == '\0') return *runnable().front();
  if (const KernelTable* table = kernels_for(requested)) return *table;
  throw ValueError(std::string("TAPEGRAD_KERNELS=") + requested +
                   ": not a kernel level this CPU runs; it runs " + runnable_names());
}

bool cpu_has_avx512_bf16() {
#if TAPEGRAD_KERNEL_ISAS_X86
  static const bool has = levels_from(read_cpuid()).avx512_bf16;
  return has;
#else
  return false;
#endif
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
void gemm_bias(bool transpose_a, bool transpose_b, std::int64_t M, std::int64_t N, std::int64_t K,
               const float* a, std::int64_t lda, const float* b, std::int64_t ldb, float* c,
               std::int64_t ldc, const float* bias) {
  active_kernels().gemm_bias(transpose_a, transpose_b, M, N, K, a, lda, b, ldb, c, ldc, bias);
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
bool transposes_output(bool transpose_a, bool transpose_b, Index M, Index N, Index K,
                       bool accumulate) {
  return active_kernels().gemm_transposes_output(transpose_a, transpose_b, M, N, K, accumulate);
}
}  // namespace matmul_detail

Bf16Panels::Bf16Panels(std::int64_t K, std::int64_t N) : rows_(K), cols_(N) {
  if (K < 1 || N < 1)
    throw ValueError("pack_bf16: K and N must be at least 1, got K = " + std::to_string(K) +
                     ", N = " + std::to_string(N));
  // words = pairs * slivers * kColumns; K and N are bounded first so that pairs() and slivers()
  // cannot overflow themselves.
  constexpr std::int64_t kMaxSide = std::int64_t{1} << 61;
  std::int64_t words = 0, bytes = 0;
  if (K > kMaxSide || N > kMaxSide ||
      __builtin_mul_overflow(pairs(), slivers() * kColumns, &words) ||
      __builtin_mul_overflow(words, std::int64_t{sizeof(std::uint32_t)}, &bytes))
    throw OutOfMemoryError("pack_bf16: " + std::to_string(K) + " x " + std::to_string(N) +
                           " bfloat16 panels overflow the address space");
  void* p = tapegrad::detail::aligned_allocate(static_cast<std::size_t>(bytes));
  if (p == nullptr)
    throw OutOfMemoryError("pack_bf16: cannot allocate " + std::to_string(bytes) +
                           " bytes of bfloat16 panels");
  words_ = std::unique_ptr<std::uint32_t[], Free>(static_cast<std::uint32_t*>(p),
                                                   Free{static_cast<std::size_t>(bytes)});
}

void Bf16Panels::Free::operator()(std::uint32_t* words) const {
  tapegrad::detail::aligned_free(words, bytes);
}

Bf16Panels pack_bf16(bool transpose_b, std::int64_t K, std::int64_t N, const float* b,
                     std::int64_t ldb) {
  Bf16Panels panels(K, N);
  active_kernels().pack_bf16_words(transpose_b, K, N, b, ldb, panels.sliver(0));
  return panels;
}

bool bf16_instructions() {
  return std::string_view(active_kernels().isa) == "avx512" && cpu_has_avx512_bf16();
}

void gemm_bf16(bool transpose_a, std::int64_t M, const float* a, std::int64_t lda,
               const Bf16Panels& b, float* c, std::int64_t ldc, bool accumulate) {
  active_kernels().gemm_bf16_panels(transpose_a, M, a, lda, b, c, ldc, accumulate,
                                    bf16_instructions());
}

void gemm_bf16(bool transpose_a, bool transpose_b, std::int64_t M, std::int64_t N, std::int64_t K,
               const float* a, std::int64_t lda, const float* b, std::int64_t ldb, float* c,
               std::int64_t ldc, bool accumulate) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0) {  // an empty sum, as gemm
    if (!accumulate)
      for (std::int64_t m = 0; m < M; ++m) std::fill(c + m * ldc, c + m * ldc + N, 0.0f);
    return;
  }
  gemm_bf16(transpose_a, M, a, lda, pack_bf16(transpose_b, K, N, b, ldb), c, ldc, accumulate);
}

void gemm_at_bias(MatmulPrecision precision, bool transpose_a, bool transpose_b, std::int64_t M,
                  std::int64_t N, std::int64_t K, const float* a, std::int64_t lda, const float* b,
                  std::int64_t ldb, float* c, std::int64_t ldc, const float* bias) {
  if (!runs_bf16(precision, M, N, K)) {
    gemm_bias(transpose_a, transpose_b, M, N, K, a, lda, b, ldb, c, ldc, bias);
    return;
  }
  const auto fill = [&](std::int64_t m0, std::int64_t m1) {
    for (std::int64_t m = m0; m < m1; ++m) std::copy_n(bias, N, c + m * ldc);
  };
  // A large layer's [T * B, G] is 52 MB: on one core of two its fill cost the bf16 step 6%.
  if (num_threads() > 1 && M * N >= tapegrad::detail::kParallelStreamFloats) {
    tbb::parallel_for(tbb::blocked_range<std::int64_t>(0, M),
                      [&](const tbb::blocked_range<std::int64_t>& r) { fill(r.begin(), r.end()); });
  } else {
    fill(0, M);
  }
  gemm_bf16(transpose_a, transpose_b, M, N, K, a, lda, b, ldb, c, ldc, true);
}

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

void add_column_sums(float* sums, const float* values, std::int64_t rows, std::int64_t width) {
  active_kernels().add_column_sums(sums, values, rows, width);
}
void add_column_sums_reference(float* sums, const float* values, std::int64_t rows,
                               std::int64_t width) {
  active_kernels().add_column_sums_reference(sums, values, rows, width);
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
