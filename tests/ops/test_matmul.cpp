// matmul at the op level: shapes of every supported rank combination, values against a naive
// double loop, gradients by finite differences and against per-slice products.
#include <vector>

#include "ops/ops.h"
#include "test_util.h"

using namespace tapegrad;

namespace {

// C = A . B for row-major A [M,K] at a, B [K,N] at b, summed in double.
std::vector<float> naive_product(const float* a, const float* b, std::int64_t M, std::int64_t K,
                                 std::int64_t N) {
  std::vector<float> c(static_cast<std::size_t>(M * N));
  for (std::int64_t m = 0; m < M; ++m) {
    for (std::int64_t n = 0; n < N; ++n) {
      double total = 0.0;
      for (std::int64_t k = 0; k < K; ++k) total += double(a[m * K + k]) * double(b[k * N + n]);
      c[m * N + n] = static_cast<float>(total);
    }
  }
  return c;
}

// The sub-tensor a[i] of a 3-D tensor as a fresh leaf.
Tensor slice_of(const Tensor& t, std::int64_t i, bool requires_grad = false) {
  const std::int64_t rows = t.shape()[1], cols = t.shape()[2];
  const float* start = t.data() + i * rows * cols;
  return Tensor::from_vector(std::vector<float>(start, start + rows * cols), {rows, cols},
                             requires_grad);
}

GradcheckOptions linear_in_each_input() {
  // matmul is linear in each operand, so a wide step has no truncation error and less rounding.
  GradcheckOptions options;
  options.eps = 1e-2;
  return options;
}

Tensor call_matmul(const std::vector<Tensor>& in) { return matmul(in[0], in[1]); }

}  // namespace

TEST_CASE("matmul: 2-D product matches hand-computed values", "[matmul]") {
  const Tensor a = Tensor::from_vector({1, 2, 3, 4, 5, 6}, {2, 3});
  const Tensor b = Tensor::from_vector({7, 8, 9, 10, 11, 12}, {3, 2});
  // [1 2 3; 4 5 6] . [7 8; 9 10; 11 12] = [58 64; 139 154]
  REQUIRE_ALL_CLOSE(matmul(a, b), Tensor::from_vector({58, 64, 139, 154}, {2, 2}));
}

TEST_CASE("matmul: 2-D product with awkward sizes matches a naive loop", "[matmul]") {
  Generator gen(1);
  const Tensor a = Tensor::uniform({7, 13}, -1, 1, gen);
  const Tensor b = Tensor::uniform({13, 5}, -1, 1, gen);
  const Tensor expected = Tensor::from_vector(naive_product(a.data(), b.data(), 7, 13, 5), {7, 5});
  REQUIRE_ALL_CLOSE(matmul(a, b), expected, 1e-5, 1e-5);
}

TEST_CASE("matmul: batched and shared-weight products match per-slice products", "[matmul]") {
  Generator gen(2);
  const Tensor a = Tensor::uniform({3, 4, 5}, -1, 1, gen);
  const Tensor b_batched = Tensor::uniform({3, 5, 2}, -1, 1, gen);
  const Tensor b_shared = Tensor::uniform({5, 2}, -1, 1, gen);
  const Tensor batched = matmul(a, b_batched);
  const Tensor shared = matmul(a, b_shared);
  REQUIRE(batched.shape() == Shape{3, 4, 2});
  REQUIRE(shared.shape() == Shape{3, 4, 2});
  for (std::int64_t i = 0; i < 3; ++i) {
    const auto want_batched =
        naive_product(a.data() + i * 20, b_batched.data() + i * 10, 4, 5, 2);
    const auto want_shared = naive_product(a.data() + i * 20, b_shared.data(), 4, 5, 2);
    REQUIRE_ALL_CLOSE(slice_of(batched, i), Tensor::from_vector(want_batched, {4, 2}), 1e-5, 1e-5);
    REQUIRE_ALL_CLOSE(slice_of(shared, i), Tensor::from_vector(want_shared, {4, 2}), 1e-5, 1e-5);
  }
}

TEST_CASE("matmul: a 2-D left operand is shared by every batch of a 3-D right one", "[matmul]") {
  Generator gen(3);
  const Tensor a = Tensor::uniform({4, 5}, -1, 1, gen);
  const Tensor b = Tensor::uniform({3, 5, 2}, -1, 1, gen);
  const Tensor out = matmul(a, b);
  REQUIRE(out.shape() == Shape{3, 4, 2});
  for (std::int64_t i = 0; i < 3; ++i) {
    const auto want = naive_product(a.data(), b.data() + i * 10, 4, 5, 2);
    REQUIRE_ALL_CLOSE(slice_of(out, i), Tensor::from_vector(want, {4, 2}), 1e-5, 1e-5);
  }
}

TEST_CASE("matmul: 1-D operands follow torch.matmul", "[matmul]") {
  const Tensor v = Tensor::from_vector({1, 2}, {2});
  const Tensor m = Tensor::from_vector({1, 2, 3, 4, 5, 6}, {2, 3});
  const Tensor w = Tensor::from_vector({1, 0, -1}, {3});
  // vector . matrix: [1 2] . [1 2 3; 4 5 6] = [9 12 15]
  REQUIRE_ALL_CLOSE(matmul(v, m), Tensor::from_vector({9, 12, 15}, {3}));
  // matrix . vector: [1 2 3; 4 5 6] . [1 0 -1] = [-2 -2]
  REQUIRE_ALL_CLOSE(matmul(m, w), Tensor::from_vector({-2, -2}, {2}));
  // vector . vector is a 0-D dot product
  const Tensor dot = matmul(w, w);
  REQUIRE(dot.shape() == Shape{});
  REQUIRE(dot.item() == Approx(2.0f));
  // batch . vector: [2, 2, 3] . [3] -> [2, 2]
  const Tensor batch = Tensor::from_vector({1, 2, 3, 4, 5, 6, 0, 0, 1, 1, 0, 0}, {2, 2, 3});
  REQUIRE_ALL_CLOSE(matmul(batch, w), Tensor::from_vector({-2, -2, -1, 1}, {2, 2}));
}

TEST_CASE("matmul: gradcheck of a 2-D product", "[matmul][gradcheck]") {
  Generator gen(4);
  const Tensor a = Tensor::uniform({3, 4}, -1, 1, gen, true);
  const Tensor b = Tensor::uniform({4, 5}, -1, 1, gen, true);
  REQUIRE_GRADCHECK(call_matmul, {a, b}, linear_in_each_input());
}

TEST_CASE("matmul: gradcheck of batched, shared-weight and shared-left products",
          "[matmul][gradcheck]") {
  Generator gen(5);
  const Tensor a3 = Tensor::uniform({2, 3, 4}, -1, 1, gen, true);
  const Tensor b3 = Tensor::uniform({2, 4, 3}, -1, 1, gen, true);
  const Tensor a2 = Tensor::uniform({3, 4}, -1, 1, gen, true);
  const Tensor b2 = Tensor::uniform({4, 3}, -1, 1, gen, true);
  REQUIRE_GRADCHECK(call_matmul, {a3, b3}, linear_in_each_input());
  REQUIRE_GRADCHECK(call_matmul, {a3, b2}, linear_in_each_input());
  REQUIRE_GRADCHECK(call_matmul, {a2, b3}, linear_in_each_input());
  // a batch of one broadcasts against a batch of two
  const Tensor a1 = Tensor::uniform({1, 3, 4}, -1, 1, gen, true);
  REQUIRE_GRADCHECK(call_matmul, {a1, b3}, linear_in_each_input());
}

TEST_CASE("matmul: gradcheck with 1-D operands", "[matmul][gradcheck]") {
  Generator gen(6);
  const Tensor v = Tensor::uniform({4}, -1, 1, gen, true);
  const Tensor m = Tensor::uniform({4, 3}, -1, 1, gen, true);
  const Tensor mt = Tensor::uniform({3, 4}, -1, 1, gen, true);
  const Tensor u = Tensor::uniform({4}, -1, 1, gen, true);
  REQUIRE_GRADCHECK(call_matmul, {v, m}, linear_in_each_input());
  REQUIRE_GRADCHECK(call_matmul, {mt, v}, linear_in_each_input());
  REQUIRE_GRADCHECK(call_matmul, {v, u}, linear_in_each_input());
}

TEST_CASE("matmul: shared-weight gradient equals the sum of per-slice gradients", "[matmul]") {
  Generator gen(7);
  const Tensor a = Tensor::uniform({3, 4, 5}, -1, 1, gen, true);
  const Tensor weight = Tensor::uniform({5, 2}, -1, 1, gen, true);
  const Tensor grad_out = Tensor::uniform({3, 4, 2}, -1, 1, gen);
  matmul(a, weight).backward(grad_out);

  const Tensor weight_alone = Tensor::from_vector(weight.to_vector(), {5, 2}, true);
  for (std::int64_t i = 0; i < 3; ++i) {
    const Tensor a_i = slice_of(a, i, true);
    matmul(a_i, weight_alone).backward(slice_of(grad_out, i));
    REQUIRE_ALL_CLOSE(slice_of(a.grad(), i), a_i.grad(), 1e-5, 1e-6);
  }
  REQUIRE_ALL_CLOSE(weight.grad(), weight_alone.grad(), 1e-5, 1e-5);
}

TEST_CASE("matmul: records nothing when no operand requires grad", "[matmul]") {
  const Tensor a = Tensor::ones({2, 2});
  const Tensor b = Tensor::ones({2, 2}, true);
  REQUIRE_FALSE(matmul(a, a).requires_grad());
  REQUIRE(matmul(a, b).requires_grad());
}

TEST_CASE("matmul: bad shapes throw ShapeError naming both shapes", "[matmul][errors]") {
  const Tensor a = Tensor::zeros({2, 3});
  const Tensor b = Tensor::zeros({4, 5});
  REQUIRE_THROWS_AS(matmul(a, b), ShapeError);
  REQUIRE_THROWS_WITH(matmul(a, b), Catch::Contains("matmul") && Catch::Contains("[2, 3]") &&
                                        Catch::Contains("[4, 5]"));
  // batch sizes that neither match nor broadcast
  const Tensor a3 = Tensor::zeros({2, 2, 3});
  const Tensor b3 = Tensor::zeros({3, 3, 4});
  REQUIRE_THROWS_AS(matmul(a3, b3), ShapeError);
  REQUIRE_THROWS_WITH(matmul(a3, b3), Catch::Contains("[2, 2, 3]") && Catch::Contains("[3, 3, 4]"));
  // unsupported ranks name the ranks accepted
  const Tensor a4 = Tensor::zeros({1, 2, 2, 3});
  REQUIRE_THROWS_AS(matmul(a4, Tensor::zeros({3, 2})), ShapeError);
  REQUIRE_THROWS_WITH(matmul(a4, Tensor::zeros({3, 2})),
                      Catch::Contains("matmul") && Catch::Contains("1-D, 2-D or 3-D"));
  REQUIRE_THROWS_AS(matmul(Tensor::scalar(1), Tensor::zeros({3})), ShapeError);
  // a 1-D operand must still agree on K
  REQUIRE_THROWS_AS(matmul(Tensor::zeros({4}), a), ShapeError);
}
