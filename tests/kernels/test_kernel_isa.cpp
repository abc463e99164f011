// The instruction-set builds of the kernels (ops/kernels/isa.h): which one runs, that each one this
// CPU can run computes what the scalar references compute, and that a bad TAPEGRAD_KERNELS is
// refused by name. The other kernel tests run on the build in use; CTest runs them again with
// TAPEGRAD_KERNELS set to each level (tests/CMakeLists.txt).
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "autograd/errors.h"
#include "ops/kernels/isa.h"
#include "ops/kernels/kernel_table.h"

using namespace tapegrad;
using tapegrad::kernels::KernelTable;

namespace {

std::vector<float> random_floats(std::size_t n, unsigned seed, float scale = 1.0f) {
  std::mt19937 engine(seed);
  std::uniform_real_distribution<float> uniform(-scale, scale);
  std::vector<float> v(n);
  for (float& x : v) x = uniform(engine);
  return v;
}

double max_abs_difference(const std::vector<float>& a, const std::vector<float>& b) {
  double worst = 0.0;
  for (std::size_t i = 0; i < a.size(); ++i)
    worst = std::max(worst, std::fabs(double(a[i]) - double(b[i])));
  return worst;
}

std::vector<const KernelTable*> runnable_tables() {
  std::vector<const KernelTable*> tables;
  for (const std::string& isa : supported_kernel_isas()) {
    const KernelTable* table = kernels::kernels_for(isa);
    REQUIRE(table != nullptr);
    tables.push_back(table);
  }
  return tables;
}

}  // namespace

TEST_CASE("the kernels in use are the widest level this CPU runs, or TAPEGRAD_KERNELS's",
          "[kernels][isa]") {
  const std::vector<std::string> supported = supported_kernel_isas();
  REQUIRE_FALSE(supported.empty());
  const char* requested = std::getenv("TAPEGRAD_KERNELS");
  const std::string expected = requested && *requested ? requested : supported.front();
  CHECK(kernel_isa() == expected);
  CHECK(std::string(kernels::active_kernels().isa) == expected);
  // Every level built runs the baseline; widest first.
  const std::vector<std::string> order = {"avx512", "avx2", "baseline"};
  if (supported.back() != "generic") {
    CHECK(supported.back() == "baseline");
    for (std::size_t i = 1; i < supported.size(); ++i) {
      const auto at = [&](const std::string& isa) {
        return std::find(order.begin(), order.end(), isa) - order.begin();
      };
      CHECK(at(supported[i - 1]) < at(supported[i]));
    }
  }
}

TEST_CASE("the levels found by CPUID agree with the kernel's /proc/cpuinfo flags",
          "[kernels][isa]") {
  std::ifstream cpuinfo("/proc/cpuinfo");
  std::string line;
  std::set<std::string> flags;
  while (std::getline(cpuinfo, line)) {
    if (line.rfind("flags", 0) != 0) continue;
    std::istringstream words(line.substr(line.find(':') + 1));
    for (std::string flag; words >> flag;) flags.insert(flag);
    break;
  }
  if (flags.empty() || supported_kernel_isas().back() == "generic") {
    WARN("skipped: no x86 flags in /proc/cpuinfo");
    return;
  }
  const auto has_all = [&](std::initializer_list<const char*> names) {
    return std::all_of(names.begin(), names.end(),
                       [&](const char* name) { return flags.count(name) > 0; });
  };
  // Linux calls LZCNT "abm", but does not always list it: a Zen 5 VM (kernel 6.18) left "abm" out
  // while CPUID reported LZCNT and lzcnt ran. So LZCNT's bit is left to the levels_from test
  // below, which decodes given CPUID bits.
  const bool avx2 = has_all({"avx", "avx2", "fma", "f16c", "movbe", "bmi1", "bmi2"});
  const bool avx512 =
      avx2 && has_all({"avx512f", "avx512bw", "avx512cd", "avx512dq", "avx512vl"});
  const std::vector<std::string> supported = supported_kernel_isas();
  const auto listed = [&](const char* isa) {
    return std::find(supported.begin(), supported.end(), isa) != supported.end();
  };
  CHECK(listed("avx2") == avx2);
  CHECK(listed("avx512") == avx512);
  CHECK(listed("baseline"));
}

TEST_CASE("levels_from: the x86-64 levels of CPUs other than this one", "[kernels][isa]") {
  // A Zen 4: every bit the levels need, and an OS that saves zmm state.
  kernels::CpuidBits zen4;
  zen4.max_leaf = 16;
  zen4.leaf1_ecx = (1u << 0) | (1u << 9) | (1u << 12) | (1u << 13) | (1u << 19) | (1u << 20) |
                   (1u << 22) | (1u << 23) | (1u << 27) | (1u << 28) | (1u << 29);
  zen4.leaf7_ebx = (1u << 3) | (1u << 5) | (1u << 8) | (1u << 16) | (1u << 17) | (1u << 28) |
                   (1u << 30) | (1u << 31);
  zen4.ext1_ecx = (1u << 0) | (1u << 5);
  zen4.xcr0 = 0xe7;
  const auto levels = [](const kernels::CpuidBits& bits) {
    const kernels::CpuLevels l = kernels::levels_from(bits);
    return std::pair{l.avx2, l.avx512};
  };
  CHECK(levels(zen4) == std::pair{true, true});
  kernels::CpuidBits bits = zen4;
  bits.xcr0 = 0x7;  // the OS does not save zmm state: AVX-512 cannot be used
  CHECK(levels(bits) == std::pair{true, false});
  bits = zen4;
  bits.leaf7_ebx &= ~((1u << 17) | (1u << 30) | (1u << 31));  // Knights Landing: F and CD only
  CHECK(levels(bits) == std::pair{true, false});
  bits = zen4;
  bits.leaf1_ecx &= ~(1u << 27);  // no OSXSAVE: xcr0 is not to be trusted (nor read)
  CHECK(levels(bits) == std::pair{false, false});
  bits = zen4;
  bits.max_leaf = 6;  // no leaf 7: no AVX2 bit to read
  CHECK(levels(bits) == std::pair{false, false});
  for (const auto& [what, cleared] : {std::pair{"popcnt", 23}, std::pair{"sse4.2", 20},
                                      std::pair{"fma", 12}, std::pair{"movbe", 22}}) {
    INFO(what);
    bits = zen4;
    bits.leaf1_ecx &= ~(1u << cleared);
    CHECK(levels(bits) == std::pair{false, false});
  }
  bits = zen4;
  bits.ext1_ecx &= ~(1u << 5);  // no LZCNT, which -march=x86-64-v3 code may use
  CHECK(levels(bits) == std::pair{false, false});
  bits = zen4;
  bits.leaf7_ebx &= ~(1u << 8);  // no BMI2
  CHECK(levels(bits) == std::pair{false, false});
  // AVX512_BF16 (leaf 7 subleaf 1 EAX bit 5) counts only on top of the AVX-512 level.
  // The fixture sets no leaf 7.1 bit: an AVX-512 CPU before AVX512_BF16 (Ice Lake).
  CHECK_FALSE(kernels::levels_from(zen4).avx512_bf16);
  bits = zen4;
  bits.leaf7_1_eax = 1u << 5;
  CHECK(kernels::levels_from(bits).avx512_bf16);
  bits.leaf7_1_eax = ~(1u << 5);  // every other bit of that leaf: not it
  CHECK_FALSE(kernels::levels_from(bits).avx512_bf16);
  bits.leaf7_1_eax = 1u << 5;
  bits.xcr0 = 0x7;  // the bit, but no zmm state saved by the OS
  CHECK_FALSE(kernels::levels_from(bits).avx512_bf16);
}

TEST_CASE("TAPEGRAD_KERNELS: an unknown or unrunnable level is refused, naming those that run",
          "[kernels][isa]") {
  CHECK(&kernels::select_kernels(nullptr) == kernels::kernels_for(supported_kernel_isas().front()));
  CHECK(&kernels::select_kernels("") == kernels::kernels_for(supported_kernel_isas().front()));
  for (const std::string& isa : supported_kernel_isas())
    CHECK(std::string(kernels::select_kernels(isa.c_str()).isa) == isa);
  std::string runs;
  for (const std::string& isa : supported_kernel_isas()) runs += (runs.empty() ? "" : ", ") + isa;
  // Built in pieces: CTest reports a run whose output holds the whole phrase as skipped.
  const std::string phrase = std::string("not a kernel level") + " this CPU runs";
  CHECK_THROWS_MATCHES(kernels::select_kernels("avx1024"), ValueError,
                       Catch::Message("TAPEGRAD_KERNELS=avx1024: " + phrase + "; it runs " + runs));
  CHECK_THROWS_AS(kernels::select_kernels("AVX2"), ValueError);  // names are lower case
  CHECK(kernels::kernels_for("avx1024") == nullptr);
}

TEST_CASE("every level this CPU runs matches the scalar references", "[kernels][isa]") {
  for (const KernelTable* table : runnable_tables()) {
    INFO("kernels " << table->isa);
    // gemm: the dot (M <= 4, B^T), turned (B^T, 8..1024 rows), packed and thin (N <= 4) paths,
    // with tails of every vector width.
    struct Shape {
      bool ta, tb;
      std::int64_t M, N, K;
    };
    for (const Shape s : {Shape{false, true, 3, 37, 70}, Shape{false, true, 40, 33, 29},
                          Shape{false, false, 19, 45, 130}, Shape{true, false, 21, 50, 17},
                          Shape{false, false, 9, 3, 64}, Shape{false, false, 1, 77, 40}}) {
      INFO("gemm " << s.M << "x" << s.N << "x" << s.K << " ta " << s.ta << " tb " << s.tb);
      const std::int64_t lda = s.ta ? s.M : s.K, ldb = s.tb ? s.K : s.N;
      const std::vector<float> a = random_floats(std::size_t(s.M * s.K), 1),
                               b = random_floats(std::size_t(s.K * s.N), 2);
      std::vector<float> c = random_floats(std::size_t(s.M * s.N), 3), expected = c;
      table->gemm(s.ta, s.tb, s.M, s.N, s.K, a.data(), lda, b.data(), ldb, c.data(), s.N, true);
      table->gemm_reference(s.ta, s.tb, s.M, s.N, s.K, a.data(), lda, b.data(), ldb,
                            expected.data(), s.N, true);
      CHECK(max_abs_difference(c, expected) < 2e-5 * double(s.K));
    }
    // Pointwise math and the LSTM gates, at a width with a tail (H = 37).
    const std::int64_t B = 3, H = 37;
    const std::vector<float> x = random_floats(std::size_t(B * 4 * H), 4, 6.0f);
    for (auto [fast, reference] : {std::pair{table->sigmoid_forward, table->sigmoid_forward_reference},
                                   std::pair{table->tanh_forward, table->tanh_forward_reference},
                                   std::pair{table->exp_forward, table->exp_forward_reference}}) {
      std::vector<float> got(x.size()), want(x.size());
      fast(got.data(), x.data(), std::int64_t(x.size()));
      reference(want.data(), x.data(), std::int64_t(x.size()));
      for (std::size_t i = 0; i < x.size(); ++i) CHECK(got[i] == Approx(want[i]).epsilon(1e-5));
    }
    const std::vector<float> c_prev = random_floats(std::size_t(B * H), 5);
    std::vector<float> h(std::size_t(B * H)), c(h.size()), act(x.size()), tanh_c(h.size());
    std::vector<float> h_ref(h.size()), c_ref(h.size()), act_ref(x.size()), tanh_c_ref(h.size());
    table->lstm_gates_forward(h.data(), c.data(), act.data(), tanh_c.data(), x.data(),
                              c_prev.data(), B, H);
    table->lstm_gates_forward_reference(h_ref.data(), c_ref.data(), act_ref.data(),
                                        tanh_c_ref.data(), x.data(), c_prev.data(), B, H);
    CHECK(max_abs_difference(h, h_ref) < 1e-6);
    CHECK(max_abs_difference(c, c_ref) < 1e-6);
    const std::vector<float> grad_h = random_floats(h.size(), 6), grad_c = random_floats(h.size(), 7);
    std::vector<float> grad_pre(x.size()), grad_c_prev(h.size()), grad_pre_ref(x.size()),
        grad_c_prev_ref(h.size());
    table->lstm_gates_backward(grad_pre.data(), grad_c_prev.data(), grad_h.data(), grad_c.data(),
                               act.data(), tanh_c.data(), c_prev.data(), B, H);
    table->lstm_gates_backward_reference(grad_pre_ref.data(), grad_c_prev_ref.data(),
                                         grad_h.data(), grad_c.data(), act.data(), tanh_c.data(),
                                         c_prev.data(), B, H);
    CHECK(max_abs_difference(grad_pre, grad_pre_ref) < 1e-6);
    CHECK(max_abs_difference(grad_c_prev, grad_c_prev_ref) < 1e-6);
    // Adam: the kernel and its scalar twin agree bit for bit at every level.
    std::vector<float> param = random_floats(45, 8), exp_avg = random_floats(45, 9, 0.1f),
                       exp_avg_sq(45, 0.01f), grad = random_floats(45, 10);
    std::vector<float> param_ref = param, exp_avg_ref = exp_avg, exp_avg_sq_ref = exp_avg_sq;
    kernels::AdamUpdate u{param.data(), grad.data(), exp_avg.data(), exp_avg_sq.data(), nullptr,
                          45, 0.9f, 0.999f, 0.1f, 0.001f, 1e-8f, 0.01f, true, 0.9999f, false,
                          -0.01f, 0.05f};
    table->adam_update(u);
    u.param = param_ref.data();
    u.exp_avg = exp_avg_ref.data();
    u.exp_avg_sq = exp_avg_sq_ref.data();
    table->adam_update_reference(u);
    CHECK(param == param_ref);
    CHECK(exp_avg == exp_avg_ref);
    CHECK(exp_avg_sq == exp_avg_sq_ref);
    // GRU gates ([B, 3H] from the input and the state).
    const std::vector<float> gx = random_floats(std::size_t(B * 3 * H), 11, 3.0f),
                             gh = random_floats(gx.size(), 12, 3.0f),
                             h_prev = random_floats(std::size_t(B * H), 13);
    std::vector<float> gru_h(h_prev.size()), gru_act(gx.size()), hn(h_prev.size());
    std::vector<float> gru_h_ref(h_prev.size()), gru_act_ref(gx.size()), hn_ref(h_prev.size());
    table->gru_gates_forward(gru_h.data(), gru_act.data(), hn.data(), gx.data(), gh.data(),
                             h_prev.data(), B, H);
    table->gru_gates_forward_reference(gru_h_ref.data(), gru_act_ref.data(), hn_ref.data(),
                                       gx.data(), gh.data(), h_prev.data(), B, H);
    CHECK(max_abs_difference(gru_h, gru_h_ref) < 1e-6);
    std::vector<float> ggx(gx.size()), ggh(gx.size()), gh_prev(h_prev.size());
    std::vector<float> ggx_ref(gx.size()), ggh_ref(gx.size()), gh_prev_ref(h_prev.size());
    table->gru_gates_backward(ggx.data(), ggh.data(), gh_prev.data(), grad_h.data(),
                              gru_act.data(), hn.data(), h_prev.data(), B, H);
    table->gru_gates_backward_reference(ggx_ref.data(), ggh_ref.data(), gh_prev_ref.data(),
                                        grad_h.data(), gru_act.data(), hn.data(), h_prev.data(),
                                        B, H);
    CHECK(max_abs_difference(ggx, ggx_ref) < 1e-6);
    CHECK(max_abs_difference(ggh, ggh_ref) < 1e-6);
    CHECK(max_abs_difference(gh_prev, gh_prev_ref) < 1e-6);
    // Row statistics against a double-precision mean and variance.
    const kernels::RowStats stats = table->row_stats(x.data(), 4 * H, 1e-5f);
    double mean = 0.0, var = 0.0;
    for (std::int64_t j = 0; j < 4 * H; ++j) mean += x[std::size_t(j)];
    mean /= double(4 * H);
    for (std::int64_t j = 0; j < 4 * H; ++j) {
      const double centred = x[std::size_t(j)] - mean;
      var += centred * centred;
    }
    var /= double(4 * H);
    CHECK(stats.mean == Approx(mean).margin(1e-5));
    CHECK(stats.rstd == Approx(1.0 / std::sqrt(var + 1e-5)).epsilon(1e-5));
    // Column sums over enough rows for several 64-row blocks, a width with a tail.
    const std::vector<float> column_values = random_floats(std::size_t(150 * 37), 14);
    std::vector<float> sums(37, 0.5f), sums_ref(37, 0.5f);
    table->add_column_sums(sums.data(), column_values.data(), 150, 37);
    table->add_column_sums_reference(sums_ref.data(), column_values.data(), 150, 37);
    CHECK(max_abs_difference(sums, sums_ref) < 1e-5);
    CHECK(sums_ref[0] != 0.5f);
    const std::vector<float> before = sums;
    table->add_column_sums(sums.data(), nullptr, 0, 37);  // no rows: nothing added, nothing read
    CHECK(sums == before);
    // The gemm paths are per build (the 6-row tile where there are 16 registers).
    using kernels::matmul_detail::Kernel;
    CHECK(table->choose_gemm_kernel(false, true, 2) == Kernel::dot);
    CHECK(table->choose_gemm_kernel(false, true, 64) == Kernel::turned);
    CHECK(table->choose_gemm_kernel(false, false, 64) == Kernel::packed);
    const std::int64_t tile_rows = table->gemm_tile_rows(Kernel::packed);
    CHECK(tile_rows == (std::string(table->isa) == "avx512" ? 8 : 6));
    // The built-in derived cells are there, by name.
    for (const char* cell : {"lstm", "gru", "rnn_tanh", "rnn_relu", "peephole_lstm", "cifg_lstm",
                             "ln_lstm"}) {
      const CellKernel* kernel = table->find_derived_cell(cell);
      REQUIRE(kernel != nullptr);
      CHECK(kernel->name == cell);
    }
    CHECK(table->find_derived_cell("no_such_cell") == nullptr);
  }
}
