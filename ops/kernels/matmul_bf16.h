#pragma once
// Matrix products with bfloat16 operands and float32 accumulation: what the ops run under the
// matmul precision bfloat16 (autograd/grad_mode.h). Letters as in matmul.h.
//
// Both operands are rounded to bfloat16 (to nearest, ties to even; NaN stays NaN, values past
// bfloat16's range become infinite), and every product of two of them is exact in float32. Each
// element of C is, per depth block, a float32 sum over k pairs taken in k order, the odd k of a
// pair before the even one (AVX512_BF16's vdpbf16ps, which computes it on CPUs that have that
// instruction: Zen 4, Zen 5, Sapphire Rapids; elsewhere FMAs compute the same chain, except that
// vdpbf16ps flushes subnormal inputs and results to zero). The result depends on neither the
// thread count nor the tiles, as with gemm.
//
// B comes packed (Bf16Panels): a weight that several products read (W_hh at every step of a
// sequence) is rounded and laid out once.
#include <cstddef>
#include <cstdint>
#include <memory>

namespace tapegrad::kernels {

// float32 -> bfloat16 bits, rounded to nearest even; a NaN stays a (quiet) NaN.
inline std::uint16_t bf16_bits(float x) {
  std::uint32_t bits = 0;
  static_assert(sizeof bits == sizeof x);
  __builtin_memcpy(&bits, &x, sizeof bits);
  if ((bits & 0x7fffffffu) > 0x7f800000u) return static_cast<std::uint16_t>((bits >> 16) | 0x40u);
  bits += 0x7fffu + ((bits >> 16) & 1u);
  return static_cast<std::uint16_t>(bits >> 16);
}
// x rounded to the nearest bfloat16, as a float.
inline float bf16_round(float x) {
  const std::uint32_t bits = static_cast<std::uint32_t>(bf16_bits(x)) << 16;
  float rounded = 0.0f;
  __builtin_memcpy(&rounded, &bits, sizeof rounded);
  return rounded;
}

// op(B)[K, N] in bfloat16, laid out for gemm_bf16: slivers of kColumns columns; in a sliver, one
// 32-bit word per k pair and column, k = 2p in its low half and 2p + 1 in its high half, zero past
// K and N. Slivers follow each other, so a sliver is pairs() * kColumns words.
class Bf16Panels {
 public:
  static constexpr std::int64_t kColumns = 32;

  Bf16Panels() = default;
  // Uninitialised storage for op(B) of K x N (both >= 1, else ValueError); OutOfMemoryError when
  // it is too large.
  Bf16Panels(std::int64_t K, std::int64_t N);

  std::int64_t rows() const { return rows_; }  // K
  std::int64_t cols() const { return cols_; }  // N
  std::int64_t pairs() const { return (rows_ + 1) / 2; }
  std::int64_t slivers() const { return (cols_ + kColumns - 1) / kColumns; }
  bool empty() const { return words_ == nullptr; }
  const std::uint32_t* sliver(std::int64_t s) const {
    return words_.get() + s * pairs() * kColumns;
  }
  std::uint32_t* sliver(std::int64_t s) { return words_.get() + s * pairs() * kColumns; }

 private:
  struct Free {
    std::size_t bytes;
    void operator()(std::uint32_t* words) const;
  };
  std::unique_ptr<std::uint32_t[], Free> words_;
  std::int64_t rows_ = 0, cols_ = 0;
};

// op(B) packed: B stored [K, N] (ldb >= N), or [N, K] when transpose_b (ldb >= K). K, N >= 1.
Bf16Panels pack_bf16(bool transpose_b, std::int64_t K, std::int64_t N, const float* b,
                     std::int64_t ldb);

// C[M, N] (+)= op(A)[M, K] . B, with K and N those of the panels. op(A) = A stored [M, K], or
// [K, M] when transpose_a.
void gemm_bf16(bool transpose_a, std::int64_t M, const float* a, std::int64_t lda,
               const Bf16Panels& b, float* c, std::int64_t ldc, bool accumulate);

// The same without packed B: packs it, then multiplies.
void gemm_bf16(bool transpose_a, bool transpose_b, std::int64_t M, std::int64_t N, std::int64_t K,
               const float* a, std::int64_t lda, const float* b, std::int64_t ldb, float* c,
               std::int64_t ldc, bool accumulate);

// Whether a product of this shape runs in bfloat16 under the matmul precision bfloat16. A product
// with at most 4 rows, columns or depth is memory-bound (a batch-1 step, a Linear(H, 1) head, the
// input product of a one-feature series): bfloat16 would add rounding and packing and save nothing
// (with I = 1 the sine tutorial's products ran 1.7-6.9x slower), so it stays float32. One bound
// for all three dimensions, so that a product and the two of its backward (which trade M, N and
// K) agree.
inline bool bf16_pays(std::int64_t M, std::int64_t N, std::int64_t K) {
  constexpr std::int64_t kThin = 4;
  return M > kThin && N > kThin && K > kThin;
}

// Whether this CPU computes gemm_bf16 with vdpbf16ps (AVX512_BF16, with the OS saving AVX-512
// state) in the kernels in use; false: FMAs on the widened values.
bool bf16_instructions();

}  // namespace tapegrad::kernels
