#include <catch2/catch.hpp>

#include "ops/ops.h"
#include "ops/shape_test_util.h"

using namespace tapegrad;
using tapegrad::testing::iota;
using tapegrad::testing::random_input;

// x = iota([2, 3, 4]) holds x[i, j, k] = 12i + 4j + k.

TEST_CASE("sum: values over one dim, several dims and all dims", "[sum]") {
  const Tensor x = iota({2, 3, 4});
  // sum_j (12i + 4j + k) = 36i + 12 + 3k
  std::vector<float> expected;
  for (int i = 0; i < 2; ++i) {
    for (int k = 0; k < 4; ++k) expected.push_back(static_cast<float>(36 * i + 12 + 3 * k));
  }
  REQUIRE_ALL_CLOSE(sum(x, {1}), Tensor::from_vector(expected, {2, 4}));
  REQUIRE_ALL_CLOSE(sum(x, {-2}, true), Tensor::from_vector(expected, {2, 1, 4}));
  // sum over i and k: 2 * 4 * 4j + (0 + 48) + 2 * (0+1+2+3) = 32j + 60
  REQUIRE_ALL_CLOSE(sum(x, {0, -1}), Tensor::from_vector({60, 92, 124}, {3}));
  REQUIRE_ALL_CLOSE(sum(x, {2, 0}, true), Tensor::from_vector({60, 92, 124}, {1, 3, 1}));
  // 0 + 1 + ... + 23
  REQUIRE(sum(x).shape() == Shape{});
  REQUIRE(sum(x).item() == 276.0f);
  // An empty dims list reduces everything.
  REQUIRE_ALL_CLOSE(sum(x, {}, true), Tensor::from_vector({276}, {1, 1, 1}));
  REQUIRE(sum(x, {}).shape() == Shape{});
}

TEST_CASE("sum: empty dims give zeros, 0-D input reduces to itself", "[sum]") {
  REQUIRE_ALL_CLOSE(sum(Tensor::zeros({2, 0}), {1}), Tensor::zeros({2}));
  REQUIRE(sum(Tensor::zeros({0})).item() == 0.0f);
  REQUIRE(sum(Tensor::scalar(3.5f), {0}).item() == 3.5f);
}

TEST_CASE("sum: accumulates in double", "[sum]") {
  // A float running sum of 2^20 copies of 0.1f ends at 105891.8 (1% off); in double the result
  // is exact to float rounding.
  const std::int64_t n = 1 << 20;
  const Tensor x = Tensor::full({n}, 0.1f);
  const double exact = static_cast<double>(0.1f) * static_cast<double>(n);
  REQUIRE(sum(x).item() == Approx(exact).epsilon(1e-6));
  REQUIRE(mean(x).item() == Approx(0.1f).epsilon(1e-6));
  REQUIRE(sum(x.view_data_as({1024, 1024}), {0}).at({5}) == Approx(102.4).epsilon(1e-6));
}

TEST_CASE("mean: values", "[mean]") {
  const Tensor x = iota({2, 3, 4});
  std::vector<float> expected;  // (36i + 12 + 3k) / 3
  for (int i = 0; i < 2; ++i) {
    for (int k = 0; k < 4; ++k) expected.push_back(static_cast<float>(12 * i + 4 + k));
  }
  REQUIRE_ALL_CLOSE(mean(x, {1}), Tensor::from_vector(expected, {2, 4}));
  REQUIRE_ALL_CLOSE(mean(x, {1}, true), Tensor::from_vector(expected, {2, 1, 4}));
  REQUIRE_ALL_CLOSE(mean(x, {0, 2}), Tensor::from_vector({7.5f, 11.5f, 15.5f}, {3}));
  REQUIRE(mean(x).item() == 11.5f);
}

TEST_CASE("sum and mean: backward broadcasts the gradient", "[sum][mean]") {
  Tensor x = iota({2, 3}, true);
  Tensor y = sum(x, {0});  // [3]
  y.backward(Tensor::from_vector({1, 2, 3}, {3}));
  REQUIRE_ALL_CLOSE(x.grad(), Tensor::from_vector({1, 2, 3, 1, 2, 3}, {2, 3}));

  Tensor z = iota({2, 3}, true);
  mean(z, {1}, true).backward(Tensor::from_vector({3, 6}, {2, 1}));
  REQUIRE_ALL_CLOSE(z.grad(), Tensor::from_vector({1, 1, 1, 2, 2, 2}, {2, 3}));

  Tensor w = iota({4}, true);
  mean(w).backward();
  REQUIRE_ALL_CLOSE(w.grad(), Tensor::full({4}, 0.25f));
}

TEST_CASE("sum and mean: gradcheck", "[sum][mean][gradcheck]") {
  const Tensor x = random_input({2, 3, 4});
  REQUIRE_GRADCHECK([](const std::vector<Tensor>& in) { return sum(in[0]); }, {x});
  REQUIRE_GRADCHECK([](const std::vector<Tensor>& in) { return sum(in[0], {1}); }, {x});
  REQUIRE_GRADCHECK([](const std::vector<Tensor>& in) { return sum(in[0], {0, -1}, true); }, {x});
  REQUIRE_GRADCHECK([](const std::vector<Tensor>& in) { return mean(in[0]); }, {x});
  REQUIRE_GRADCHECK([](const std::vector<Tensor>& in) { return mean(in[0], {-1}); }, {x});
  REQUIRE_GRADCHECK([](const std::vector<Tensor>& in) { return mean(in[0], {2, 0}, true); }, {x});
}

TEST_CASE("sum and mean: bad inputs", "[sum][mean][errors]") {
  const Tensor x = iota({2, 3, 4});
  REQUIRE_THROWS_NAMING(sum(x, {3}), IndexError, "sum");
  REQUIRE_THROWS_NAMING(sum(x, {-4}), IndexError, "sum");
  REQUIRE_THROWS_NAMING(sum(x, {1, -2}), ValueError, "sum");
  REQUIRE_THROWS_NAMING(mean(x, {0, 0}), ValueError, "mean");
  REQUIRE_THROWS_NAMING(mean(x, {5}, true), IndexError, "mean");
  REQUIRE_THROWS_NAMING(mean(Tensor::zeros({2, 0}), {1}), ValueError, "mean");
  REQUIRE_THROWS_WITH(mean(Tensor::zeros({2, 0}), {1}),
                      Catch::StartsWith("mean: cannot reduce over an empty dim"));
  REQUIRE_THROWS_NAMING(mean(Tensor::zeros({0})), ValueError, "mean");
}
