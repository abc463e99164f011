// where and masked_fill: broadcasting values, gradients (masked, then reduced to each input's
// shape), no gradient for the condition or mask, and shapes that cannot broadcast.
#include <cmath>
#include <limits>
#include <vector>

#include "ops/ops.h"
#include "test_util.h"

using namespace tapegrad;

TEST_CASE("where: picks a where the condition is non-zero, broadcasting all three", "[where]") {
  const Tensor condition = Tensor::from_vector({1, 0}, {2, 1});
  const Tensor a = Tensor::from_vector({1, 2, 3, 4, 5, 6}, {2, 3});
  const Tensor b = Tensor::from_vector({-1, -2, -3}, {3});
  REQUIRE_ALL_CLOSE(where(condition, a, b), Tensor::from_vector({1, 2, 3, -1, -2, -3}, {2, 3}));
  // any non-zero value counts as true, including negatives
  const Tensor mixed = Tensor::from_vector({0, -2, 0.5f}, {3});
  REQUIRE_ALL_CLOSE(where(mixed, b, Tensor::scalar(9)), Tensor::from_vector({9, -2, -3}, {3}));
}

TEST_CASE("where: gradients are masked and reduced to each input's shape", "[where]") {
  const Tensor condition = Tensor::from_vector({1, 0, 0, 1, 1, 0}, {2, 3});
  const Tensor a = Tensor::from_vector({1, 2, 3}, {3}, true);
  const Tensor b = Tensor::from_vector({5, 6}, {2, 1}, true);
  const Tensor grad_out = Tensor::from_vector({1, 2, 3, 4, 5, 6}, {2, 3});
  where(condition, a, b).backward(grad_out);
  // a gets rows' picks summed per column: col0 1+4, col1 5, col2 0
  REQUIRE_ALL_CLOSE(a.grad(), Tensor::from_vector({5, 5, 0}, {3}));
  // b gets the rest summed per row: row0 2+3, row1 6
  REQUIRE_ALL_CLOSE(b.grad(), Tensor::from_vector({5, 6}, {2, 1}));
}

TEST_CASE("where: gradcheck of both branches with broadcasting", "[where][gradcheck]") {
  Generator gen(41);
  const Tensor condition = Tensor::from_vector({1, 0, 1, 0, 0, 1, 1, 1, 0, 0, 1, 0}, {2, 2, 3});
  const Tensor a = Tensor::uniform({2, 1, 3}, -1, 1, gen, true);
  const Tensor b = Tensor::uniform({3}, -1, 1, gen, true);
  REQUIRE_GRADCHECK(
      [condition](const std::vector<Tensor>& in) { return where(condition, in[0], in[1]); },
      {a, b});
}

TEST_CASE("where: the condition never receives a gradient", "[where]") {
  const Tensor condition = Tensor::from_vector({1, 0}, {2}, true);
  const Tensor a = Tensor::ones({2}, true);
  const Tensor b = Tensor::zeros({2});
  REQUIRE_FALSE(where(condition, b, b).requires_grad());
  where(condition, a, b).backward(Tensor::ones({2}));
  REQUIRE_FALSE(condition.grad().defined());
  REQUIRE_ALL_CLOSE(a.grad(), Tensor::from_vector({1, 0}, {2}));
}

TEST_CASE("where: shapes that cannot broadcast throw ShapeError", "[where][errors]") {
  const Tensor condition = Tensor::zeros({2, 3});
  REQUIRE_THROWS_AS(where(condition, Tensor::zeros({4}), Tensor::zeros({3})), ShapeError);
  REQUIRE_THROWS_WITH(where(condition, Tensor::zeros({4}), Tensor::zeros({3})),
                      Catch::Contains("where") && Catch::Contains("[2, 3]") &&
                          Catch::Contains("[4]"));
  REQUIRE_THROWS_AS(where(condition, Tensor::zeros({3}), Tensor::zeros({4, 1})), ShapeError);
}

TEST_CASE("masked_fill: fills where the mask is set, broadcasting the mask", "[masked_fill]") {
  const Tensor x = Tensor::from_vector({1, 2, 3, 4, 5, 6}, {2, 3});
  const Tensor mask = Tensor::from_vector({0, 1, 0}, {3});
  REQUIRE_ALL_CLOSE(masked_fill(x, mask, -7), Tensor::from_vector({1, -7, 3, 4, -7, 6}, {2, 3}));
  const Tensor row_mask = Tensor::from_vector({1, 0}, {2, 1});
  REQUIRE_ALL_CLOSE(masked_fill(x, row_mask, 0), Tensor::from_vector({0, 0, 0, 4, 5, 6}, {2, 3}));
}

TEST_CASE("masked_fill: gradient is zero where masked", "[masked_fill][gradcheck]") {
  Generator gen(42);
  const Tensor x = Tensor::uniform({3, 4}, -1, 1, gen, true);
  const Tensor mask = Tensor::from_vector({1, 0, 0, 1}, {4});
  REQUIRE_GRADCHECK(
      [mask](const std::vector<Tensor>& in) { return masked_fill(in[0], mask, 2.5f); }, {x});
  const Tensor y = masked_fill(x, mask, 2.5f);
  y.backward(Tensor::full({3, 4}, 3.0f));
  for (std::int64_t r = 0; r < 3; ++r) {
    for (std::int64_t c = 0; c < 4; ++c) {
      REQUIRE(x.grad().at({r, c}) == (mask.at({c}) != 0.0f ? 0.0f : 3.0f));
    }
  }
}

TEST_CASE("masked_fill with -inf then softmax: an attention mask", "[masked_fill][extreme]") {
  const float inf = std::numeric_limits<float>::infinity();
  const Tensor scores = Tensor::from_vector({50, -50, 1000, 3}, {2, 2}, true);
  const Tensor causal = Tensor::from_vector({0, 1, 0, 0}, {2, 2});
  const Tensor p = softmax(masked_fill(scores, causal, -inf), 1);
  REQUIRE(testing::all_finite(p));
  REQUIRE(p.at({0, 0}) == 1.0f);
  REQUIRE(p.at({0, 1}) == 0.0f);
  p.backward(Tensor::from_vector({1, 2, 3, 4}, {2, 2}));
  REQUIRE(testing::all_finite(scores.grad()));
  REQUIRE(scores.grad().at({0, 1}) == 0.0f);
}

TEST_CASE("masked_fill: a mask that cannot broadcast to x throws ShapeError", "[masked_fill][errors]") {
  const Tensor x = Tensor::zeros({3});
  // [2, 3] broadcasts WITH [3] but not TO it: the output would be larger than x.
  REQUIRE_THROWS_AS(masked_fill(x, Tensor::zeros({2, 3}), 1), ShapeError);
  REQUIRE_THROWS_WITH(masked_fill(x, Tensor::zeros({2, 3}), 1),
                      Catch::Contains("masked_fill") && Catch::Contains("[2, 3]") &&
                          Catch::Contains("[3]"));
  REQUIRE_THROWS_AS(masked_fill(Tensor::zeros({2, 3}), Tensor::zeros({2}), 1), ShapeError);
}
