// gemm_bf16 (bfloat16 operands, float32 sums) against gemm_reference run on the operands rounded
// to bfloat16: every product of two bfloat16s is exact in float32, so the two differ by float32
// summation error alone. Every level this CPU runs is tested, and on a CPU with AVX512_BF16 the
// avx512 level both with vdpbf16ps and with its widening fallback.
#include <tbb/task_arena.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

#include "autograd/errors.h"
#include "autograd/generator.h"
#include "ops/kernels/isa.h"
#include "ops/kernels/kernel_table.h"
#include "ops/kernels/matmul.h"
#include "ops/kernels/matmul_bf16.h"
#include "test_util.h"
#include "thread_test_util.h"

namespace {

using tapegrad::Generator;
using tapegrad::kernels::Bf16Panels;
using tapegrad::kernels::bf16_bits;
using tapegrad::kernels::bf16_round;
using tapegrad::kernels::KernelTable;
using Index = std::int64_t;

constexpr float kCPadding = -12345.0f;

float from_bits(std::uint32_t bits) {
  float x = 0.0f;
  std::memcpy(&x, &bits, sizeof x);
  return x;
}

// One way to run gemm_bf16: a level's table, with or without vdpbf16ps.
struct Variant {
  const KernelTable* table;
  bool dpbf16;
  Bf16Panels pack(bool transpose_b, Index K, Index N, const float* b, Index ldb) const {
    Bf16Panels panels(K, N);
    table->pack_bf16_words(transpose_b, K, N, b, ldb, panels.sliver(0));
    return panels;
  }
  std::string name() const {
    return std::string(table->isa) + (dpbf16 ? " vdpbf16ps" : " widening");
  }
};

std::vector<Variant> variants() {
  std::vector<Variant> all;
  for (const std::string& isa : tapegrad::supported_kernel_isas()) {
    const KernelTable* table = tapegrad::kernels::kernels_for(isa);
    REQUIRE(table != nullptr);
    all.push_back({table, false});
    if (isa == "avx512" && tapegrad::kernels::cpu_has_avx512_bf16()) all.push_back({table, true});
  }
  return all;
}

struct Problem {
  bool ta, tb;
  Index M, N, K, lda, ldb, ldc;
  std::vector<float> a, b, c;

  Problem(bool transpose_a, bool transpose_b, Index m, Index n, Index k, Index pad, Generator& gen)
      : ta(transpose_a), tb(transpose_b), M(m), N(n), K(k) {
    const Index a_rows = ta ? K : M, a_cols = ta ? M : K, b_rows = tb ? N : K, b_cols = tb ? K : N;
    lda = a_cols + pad;
    ldb = b_cols + pad;
    ldc = N + pad;
    a = make(a_rows, a_cols, lda, NAN, gen);
    b = make(b_rows, b_cols, ldb, NAN, gen);
    c = make(M, N, ldc, kCPadding, gen);
  }
  static std::vector<float> make(Index rows, Index cols, Index ld, float padding, Generator& gen) {
    std::vector<float> v(static_cast<std::size_t>(rows * ld), padding);
    for (Index r = 0; r < rows; ++r)
      for (Index j = 0; j < cols; ++j) v[r * ld + j] = gen.uniform(-2.0f, 2.0f);
    return v;
  }
  std::string describe() const {
    return std::string(ta ? "T" : "N") + (tb ? "T" : "N") + " M=" + std::to_string(M) +
           " N=" + std::to_string(N) + " K=" + std::to_string(K);
  }
  std::vector<float> run(const Variant& v, bool accumulate) const {
    std::vector<float> out = c;
    const Bf16Panels panels = v.pack(tb, K, N, b.data(), ldb);
    v.table->gemm_bf16_panels(ta, M, a.data(), lda, panels, out.data(), ldc, accumulate, v.dpbf16);
    return out;
  }
  // gemm_reference (double sums) on the operands rounded to bfloat16; padding stays NaN.
  // C bit for bit as matmul_bf16.h documents it: per depth block (kChainPairs pairs), a float32
  // sum from zero over the pairs in k order, the odd k before the even one, then added to C (or
  // stored, for the first block without accumulate). Products of bfloat16s are exact in float32,
  // so a contracted a * b + s gives the same bits.
  std::vector<float> chain_reference(bool accumulate) const {
    constexpr Index kChainPairs = 256;  // matmul_bf16.cpp's kPairBlock
    std::vector<float> out = c;
    const Index pairs = (K + 1) / 2;
    auto product = [&](Index m, Index n, Index k) {
      if (k >= K) return 0.0f;
      return bf16_round(ta ? a[k * lda + m] : a[m * lda + k]) *
             bf16_round(tb ? b[n * ldb + k] : b[k * ldb + n]);
    };
    for (Index m = 0; m < M; ++m)
      for (Index n = 0; n < N; ++n) {
        float total = out[m * ldc + n];
        for (Index pair0 = 0; pair0 < pairs; pair0 += kChainPairs) {
          float sum = 0.0f;
          for (Index q = pair0; q < std::min(pairs, pair0 + kChainPairs); ++q) {
            sum += product(m, n, 2 * q + 1);
            sum += product(m, n, 2 * q);
          }
          total = accumulate || pair0 > 0 ? total + sum : sum;
        }
        out[m * ldc + n] = total;
      }
    return out;
  }
  std::vector<float> reference(bool accumulate) const {
    std::vector<float> a_rounded = a, b_rounded = b, out = c;
    for (float& x : a_rounded) x = std::isnan(x) ? x : bf16_round(x);
    for (float& x : b_rounded) x = std::isnan(x) ? x : bf16_round(x);
    tapegrad::kernels::gemm_reference(ta, tb, M, N, K, a_rounded.data(), lda, b_rounded.data(), ldb,
                                      out.data(), ldc, accumulate);
    return out;
  }
  // "" when within float32 summation error of the reference (relative to sum |a b|, plus |C|)
  // and C's padding untouched.
  std::string compare(const std::vector<float>& got, const std::vector<float>& want,
                      bool accumulate) const {
    const double tolerance = 4.0 * FLT_EPSILON * std::sqrt(double(K) + 1.0);
    for (Index m = 0; m < M; ++m) {
      for (Index n = 0; n < N; ++n) {
        double scale = accumulate ? std::fabs(c[m * ldc + n]) : 0.0;
        for (Index k = 0; k < K; ++k) {
          const float a_mk = ta ? a[k * lda + m] : a[m * lda + k];
          const float b_kn = tb ? b[n * ldb + k] : b[k * ldb + n];
          scale += std::fabs(double(bf16_round(a_mk)) * bf16_round(b_kn));
        }
        const double x = got[m * ldc + n], y = want[m * ldc + n];
        if (!(std::fabs(x - y) <= tolerance * scale))
          return "C[" + std::to_string(m) + "," + std::to_string(n) + "] = " + std::to_string(x) +
                 ", reference " + std::to_string(y);
      }
      for (Index n = N; n < ldc; ++n)
        if (got[m * ldc + n] != kCPadding) return "wrote C's padding in row " + std::to_string(m);
    }
    return "";
  }
};

}  // namespace

TEST_CASE("bf16_bits rounds to nearest even and keeps NaN, infinity and sign", "[kernels][bf16]") {
  CHECK(bf16_bits(1.0f) == 0x3f80);
  CHECK(bf16_bits(-2.0f) == 0xc000);
  // 1 + 2^-8 lies halfway between 1 and 1 + 2^-7: to the even one, 1. 1 + 3 * 2^-8 lies halfway
  // between 1 + 2^-7 and 1 + 2^-6: to the even one, 1 + 2^-6.
  CHECK(bf16_bits(1.0f + 0x1p-8f) == 0x3f80);
  CHECK(bf16_bits(1.0f + 3 * 0x1p-8f) == 0x3f82);
  CHECK(bf16_bits(1.0f + 0x1p-8f + 0x1p-20f) == 0x3f81);  // above halfway: up
  CHECK(bf16_round(3.14159265f) == 3.140625f);
  CHECK(bf16_bits(-0.0f) == 0x8000);
  CHECK(bf16_bits(INFINITY) == 0x7f80);
  CHECK(bf16_bits(-INFINITY) == 0xff80);
  CHECK(bf16_bits(FLT_MAX) == 0x7f80);  // past bfloat16's largest finite value: infinite
  // NaNs whose payload sits in the low bits only would truncate to infinity: they stay NaN.
  CHECK(std::isnan(bf16_round(from_bits(0x7f800001u))));
  CHECK(std::isnan(bf16_round(from_bits(0xff800001u))));
  CHECK(std::isnan(bf16_round(NAN)));
}

TEST_CASE("gemm_bf16 matches the reference on bfloat16 operands, every level and path",
          "[kernels][bf16]") {
  struct Case {
    Index M, N, K;
  };
  // Tails of the 8-row panel and the 32-column sliver, odd K (a half-empty last pair), and
  // K = 1030 across the 256-pair depth block; M = 130 crosses the 128-row block.
  const Case shape = GENERATE(Case{1, 1, 1}, Case{3, 5, 2}, Case{8, 32, 17}, Case{9, 33, 64},
                              Case{7, 70, 1030}, Case{130, 31, 3}, Case{20, 64, 513});
  const bool ta = GENERATE(false, true), tb = GENERATE(false, true);
  const bool accumulate = GENERATE(false, true);
  Generator gen(static_cast<std::uint64_t>(shape.M * 1000 + shape.N * 10 + shape.K));
  const Problem p(ta, tb, shape.M, shape.N, shape.K, 3, gen);
  const std::vector<float> want = p.reference(accumulate);
  for (const Variant& v : variants()) {
    INFO(p.describe() << (accumulate ? " accumulate" : "") << " on " << v.name());
    REQUIRE(p.compare(p.run(v, accumulate), want, accumulate) == "");
  }
}

TEST_CASE("gemm_bf16 really rounds its operands to bfloat16", "[kernels][bf16]") {
  // 1 + 2^-10 is 1 in bfloat16: a float32 product would give 1 + 2^-10 + ..., this one 1 * 1.
  const float a = 1.0f + 0x1p-10f, b = 1.0f + 0x1p-9f;
  for (const Variant& v : variants()) {
    INFO(v.name());
    float c = 0.0f;
    const Bf16Panels panels = v.pack(false, 1, 1, &b, 1);
    v.table->gemm_bf16_panels(false, 1, &a, 1, panels, &c, 1, false, v.dpbf16);
    CHECK(c == 1.0f);
  }
}

TEST_CASE("gemm_bf16 keeps infinities and NaN where float32 would", "[kernels][bf16]") {
  // Padding (rows past M, columns past N, the odd half of a last pair) is zero and meets no
  // infinite element that is stored: inf stays inf, and only a real NaN makes NaN.
  Generator gen(7);
  Problem p(false, false, 9, 33, 5, 0, gen);
  p.b[4 * p.ldb + 32] = INFINITY;  // last k (the lone half of the last pair), last column
  p.a[8 * p.lda + 2] = NAN;        // last row
  for (const Variant& v : variants()) {
    INFO(v.name());
    const std::vector<float> out = p.run(v, false);
    for (Index m = 0; m < 8; ++m) {
      const float a_m4 = p.a[m * p.lda + 4];
      CHECK(out[m * p.ldc + 32] == (a_m4 > 0 ? INFINITY : -INFINITY));
      CHECK(std::isfinite(out[m * p.ldc + 31]));
    }
    for (Index n = 0; n < 33; ++n) CHECK(std::isnan(out[8 * p.ldc + n]));
  }
}

TEST_CASE("gemm_bf16 is bit-identical on 1 and 2 threads", "[kernels][bf16][two_threads]") {
  Generator gen(11);
  const Problem p(false, true, 200, 300, 257, 1, gen);
  namespace detail = tapegrad::kernels::matmul_detail;
  REQUIRE(detail::plan_grid(p.M, p.N, p.K, 2, 8).row_blocks *
              detail::plan_grid(p.M, p.N, p.K, 2, 8).col_blocks >= 4);  // really split
  for (const Variant& v : variants()) {
    INFO(v.name());
    std::vector<float> single, multi;
    tbb::task_arena(1).execute([&] { single = p.run(v, true); });
    REQUIRE(p.compare(single, p.reference(true), true) == "");
    for (int run = 0; run < 2; ++run) {
      if (!tapegrad::testing::run_on_two_threads([&] { multi = p.run(v, true); })) return;
      REQUIRE(std::memcmp(single.data(), multi.data(), sizeof(float) * single.size()) == 0);
    }
  }
}

TEST_CASE("gemm_bf16 with packed and with unpacked B, and an empty depth", "[kernels][bf16]") {
  Generator gen(3);
  const Problem p(true, false, 12, 40, 21, 2, gen);
  std::vector<float> packed = p.c, unpacked = p.c;
  const Bf16Panels panels = tapegrad::kernels::pack_bf16(false, p.K, p.N, p.b.data(), p.ldb);
  CHECK(panels.rows() == 21);
  CHECK(panels.cols() == 40);
  CHECK(panels.pairs() == 11);
  CHECK(panels.slivers() == 2);
  tapegrad::kernels::gemm_bf16(true, p.M, p.a.data(), p.lda, panels, packed.data(), p.ldc, true);
  tapegrad::kernels::gemm_bf16(true, false, p.M, p.N, p.K, p.a.data(), p.lda, p.b.data(), p.ldb,
                               unpacked.data(), p.ldc, true);
  CHECK(std::memcmp(packed.data(), unpacked.data(), sizeof(float) * packed.size()) == 0);
  CHECK(p.compare(packed, p.reference(true), true) == "");
  // K = 0: C = 0, or C unchanged when accumulating, as gemm.
  std::vector<float> c(6, 5.0f);
  tapegrad::kernels::gemm_bf16(false, false, 2, 3, 0, nullptr, 1, nullptr, 3, c.data(), 3, true);
  CHECK(c == std::vector<float>(6, 5.0f));
  tapegrad::kernels::gemm_bf16(false, false, 2, 3, 0, nullptr, 1, nullptr, 3, c.data(), 3, false);
  CHECK(c == std::vector<float>(6, 0.0f));
}

TEST_CASE("Bf16Panels refuses empty and overflowing sizes", "[kernels][bf16]") {
  CHECK_THROWS_AS(Bf16Panels(0, 4), tapegrad::ValueError);
  CHECK_THROWS_WITH(Bf16Panels(0, 4), Catch::Matchers::Contains("pack_bf16") &&
                                          Catch::Matchers::Contains("K = 0, N = 4"));
  CHECK_THROWS_WITH(Bf16Panels(3, -1), Catch::Matchers::Contains("N = -1"));
  const Index huge = Index{1} << 40;
  CHECK_THROWS_AS(Bf16Panels(huge, huge), tapegrad::OutOfMemoryError);
  CHECK_THROWS_WITH(Bf16Panels(huge, huge), Catch::Matchers::Contains("overflow"));
}

TEST_CASE("the AVX512_BF16 reading agrees with the kernel's own CPU flags", "[kernels][bf16]") {
  // A second witness of the CPUID bit: Linux's flags line (a wrong bit would run vdpbf16ps where
  // it faults, or never run it).
  std::ifstream cpuinfo("/proc/cpuinfo");
  std::string line;
  bool listed = false, found = false;
  while (std::getline(cpuinfo, line)) {
    if (line.rfind("flags", 0) != 0) continue;
    found = true;
    listed = (line + " ").find(" avx512_bf16 ") != std::string::npos;
    break;
  }
  if (!found) {
    WARN("SKIPPED: no flags line in /proc/cpuinfo");
    return;
  }
  // Linux lists the flag only when CPUID has it; a kernel older than 5.2 (or clearcpuid=) may not
  // list it when CPUID does, so only that direction is a failure.
  const bool has = tapegrad::kernels::cpu_has_avx512_bf16();
  if (listed) CHECK(has);
  if (has && !listed) WARN("CPUID reports AVX512_BF16 but /proc/cpuinfo does not list it");
  // vdpbf16ps is used only by the avx512 level, and by it whenever the CPU has the instruction.
  CHECK(tapegrad::kernels::bf16_instructions() == (has && tapegrad::kernel_isa() == "avx512"));
}

TEST_CASE("gemm_bf16 adds each pair's odd product before its even one, at every level",
          "[kernels][bf16]") {
  // Products 1, 0, 2^-24, -1 (all exact in bfloat16). In the pair order odd, even:
  // 0 + 0 + 1 = 1, then -1 gives 0, then 2^-24 gives 2^-24. In k order, 1 + 2^-24 rounds back
  // to 1 (a tie, to even) and -1 gives 0. The order is vdpbf16ps's; the widening path must keep it.
  const std::vector<float> a = {1.0f, 0.0f, 0x1p-12f, -1.0f}, b = {1.0f, 0.0f, 0x1p-12f, 1.0f};
  for (const Variant& v : variants()) {
    INFO(v.name());
    float c = 5.0f;
    const Bf16Panels panels = v.pack(false, 4, 1, b.data(), 1);
    v.table->gemm_bf16_panels(false, 1, a.data(), 4, panels, &c, 1, false, v.dpbf16);
    CHECK(c == 0x1p-24f);
  }
}

TEST_CASE("bf16_pays: thin products stay float32", "[kernels][bf16]") {
  using tapegrad::kernels::bf16_pays;
  CHECK(bf16_pays(64, 512, 2048));
  CHECK(bf16_pays(5, 5, 5));
  CHECK_FALSE(bf16_pays(1, 2048, 512));  // one row: a batch-1 step
  CHECK_FALSE(bf16_pays(4, 2048, 512));  // a batch of 4
  CHECK_FALSE(bf16_pays(990, 4, 400));   // a few columns: a Linear(H, 4) head
  CHECK_FALSE(bf16_pays(9900, 400, 1));  // depth 1: a one-feature series' input product
  CHECK_FALSE(bf16_pays(9900, 400, 4));  // and its weight gradient's transposes at 4 features
}

TEST_CASE("vdpbf16ps and the widening fallback give the same bits on normal operands",
          "[kernels][bf16]") {
  // Both add a pair's odd product and then its even one, each rounded once (the instruction's
  // definition); they part only on subnormals, which vdpbf16ps flushes to zero.
  const KernelTable* table = tapegrad::kernels::kernels_for("avx512");
  if (table == nullptr || !tapegrad::kernels::cpu_has_avx512_bf16()) {
    WARN("SKIPPED: this CPU has no AVX512_BF16");
    return;
  }
  Generator gen(13);
  const Problem p(false, true, 64, 96, 999, 0, gen);
  const std::vector<float> with_instruction = p.run({table, true}, false);
  const std::vector<float> widened = p.run({table, false}, false);
  CHECK(std::memcmp(with_instruction.data(), widened.data(), sizeof(float) * widened.size()) == 0);
}

namespace {

// op(B) laid out as matmul_bf16.h documents Bf16Panels, one value at a time: sliver n / kColumns,
// pair k / 2, column n % kColumns; k even in the low half, odd in the high half; zero elsewhere.
std::vector<std::uint32_t> documented_panels(bool tb, Index K, Index N, const float* b, Index ldb) {
  constexpr Index kColumns = Bf16Panels::kColumns;
  const Index pairs = (K + 1) / 2, slivers = (N + kColumns - 1) / kColumns;
  std::vector<std::uint32_t> words(static_cast<std::size_t>(slivers * pairs * kColumns), 0u);
  for (Index n = 0; n < N; ++n)
    for (Index k = 0; k < K; ++k) {
      const std::uint32_t half = bf16_bits(tb ? b[n * ldb + k] : b[k * ldb + n]);
      words[static_cast<std::size_t>(((n / kColumns) * pairs + k / 2) * kColumns + n % kColumns)] |=
          k % 2 == 0 ? half : half << 16;
    }
  return words;
}

}  // namespace

TEST_CASE("pack_bf16 writes the documented layout word for word, at every level",
          "[kernels][bf16]") {
  struct Case {
    Index K, N;
  };
  // Odd K (a lone last half), partial and whole slivers, and 600 x 500 (past 2^18 floats: the
  // slivers are shared among threads when there are several).
  const Case shape = GENERATE(Case{1, 1}, Case{2, 5}, Case{3, 31}, Case{4, 32}, Case{17, 33},
                              Case{64, 70}, Case{513, 64}, Case{600, 500});
  const bool tb = GENERATE(false, true);
  Generator gen(static_cast<std::uint64_t>(shape.K * 100 + shape.N));
  Problem p(false, tb, 1, shape.N, shape.K, 3, gen);
  // Values whose rounding is easy to get wrong: ties to even, NaN with a low-bit payload,
  // infinities, signed zero, past bfloat16's range.
  const float special[] = {1.0f + 0x1p-8f, 1.0f + 3 * 0x1p-8f, from_bits(0x7f800001u), INFINITY,
                           -INFINITY,      -0.0f,              FLT_MAX,                -FLT_MIN};
  const Index b_rows = tb ? shape.N : shape.K, b_cols = tb ? shape.K : shape.N;
  for (Index i = 0; i < 8 && i < b_rows * b_cols; ++i) {
    const Index at = (i * 7919) % (b_rows * b_cols);
    p.b[(at / b_cols) * p.ldb + at % b_cols] = special[i];
  }
  const std::vector<std::uint32_t> want =
      documented_panels(tb, shape.K, shape.N, p.b.data(), p.ldb);
  for (const Variant& v : variants()) {
    if (v.dpbf16) continue;  // the same table's packer as its widening variant
    INFO(p.describe() << " on " << v.name());
    const Bf16Panels panels = v.pack(tb, shape.K, shape.N, p.b.data(), p.ldb);
    REQUIRE(static_cast<std::size_t>(panels.slivers() * panels.pairs() * Bf16Panels::kColumns) ==
            want.size());
    std::vector<std::uint32_t> got(want.size());
    std::memcpy(got.data(), panels.sliver(0), sizeof(std::uint32_t) * got.size());
    Index first_difference = -1;
    for (std::size_t i = 0; i < got.size() && first_difference < 0; ++i)
      if (got[i] != want[i]) first_difference = static_cast<Index>(i);
    INFO("first differing word " << first_difference);
    CHECK(first_difference == -1);
  }
}

TEST_CASE("gemm_bf16 sums in the documented chain order, bit for bit, every level and path",
          "[kernels][bf16]") {
  // A's panels are internal: a word in the wrong place, halves swapped (in A alone, or in A and B
  // alike, which reverses each pair's order) or a pair misplaced changes these bits. Shapes cross
  // the 8-row panel, the 32-column sliver and the 256-pair depth block, with odd K.
  struct Case {
    Index M, N, K;
  };
  const Case shape =
      GENERATE(Case{1, 1, 1}, Case{3, 5, 2}, Case{9, 33, 3}, Case{8, 32, 17}, Case{17, 31, 64},
               Case{7, 70, 1030}, Case{130, 33, 5}, Case{20, 64, 513}, Case{16, 96, 512},
               Case{5, 1, 511});
  const bool ta = GENERATE(false, true), tb = GENERATE(false, true);
  const bool accumulate = GENERATE(false, true);
  Generator gen(static_cast<std::uint64_t>(shape.M * 7000 + shape.N * 30 + shape.K));
  const Problem p(ta, tb, shape.M, shape.N, shape.K, 3, gen);
  const std::vector<float> want = p.chain_reference(accumulate);
  for (const Variant& v : variants()) {
    INFO(p.describe() << (accumulate ? " accumulate" : "") << " on " << v.name());
    const std::vector<float> got = p.run(v, accumulate);
    Index first_difference = -1;
    for (std::size_t i = 0; i < got.size() && first_difference < 0; ++i)
      if (std::memcmp(&got[i], &want[i], sizeof(float)) != 0) first_difference = Index(i);
    INFO("first differing element " << first_difference);
    CHECK(first_difference == -1);
  }
}
