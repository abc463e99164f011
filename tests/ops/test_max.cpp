#include <catch2/catch.hpp>
#include <cmath>
#include <limits>

#include "ops/ops.h"
#include "ops/shape_test_util.h"

using namespace tapegrad;
using tapegrad::testing::distinct_input;
using tapegrad::testing::iota;

TEST_CASE("max(dim): values, keepdim and first-index ties", "[max]") {
  // rows [1 5 3] and [7 2 7]: the second row's maximum is tied at columns 0 and 2
  const Tensor x = Tensor::from_vector({1, 5, 3, 7, 2, 7}, {2, 3});
  REQUIRE_ALL_CLOSE(max(x, 1), Tensor::from_vector({5, 7}, {2}));
  REQUIRE_ALL_CLOSE(max(x, -1, true), Tensor::from_vector({5, 7}, {2, 1}));
  REQUIRE_ALL_CLOSE(max(x, 0), Tensor::from_vector({7, 5, 7}, {3}));
  REQUIRE_ALL_CLOSE(max(x, -2, true), Tensor::from_vector({7, 5, 7}, {1, 3}));
  REQUIRE(argmax(x, 1) == std::vector<std::int64_t>{1, 0});
  REQUIRE(argmax(x, 0) == std::vector<std::int64_t>{1, 0, 1});
  REQUIRE(max(Tensor::scalar(2.5f), 0).item() == 2.5f);
}

TEST_CASE("argmax: row-major over the remaining dims", "[max]") {
  // iota([2, 3, 4]) increases along every dim, so the last index always wins.
  const Tensor x = iota({2, 3, 4});
  REQUIRE(argmax(x, 1) == std::vector<std::int64_t>(8, 2));
  REQUIRE(argmax(x, -1) == std::vector<std::int64_t>(6, 3));
  // Put one larger value at [1, 0, 2]: along dim 1, output position (1, 2) must point at j = 0.
  Tensor y = iota({2, 3, 4});
  y.data()[12 + 2] = 100.0f;
  const std::vector<std::int64_t> along_j = argmax(y, 1);
  REQUIRE(along_j[4 + 2] == 0);
  REQUIRE(along_j[4 + 1] == 2);
  REQUIRE(max(y, 1).at({1, 2}) == 100.0f);
}

TEST_CASE("max(dim): the gradient goes to the first maximal element", "[max]") {
  Tensor x = Tensor::from_vector({1, 5, 3, 7, 2, 7}, {2, 3}, true);
  max(x, 1).backward(Tensor::from_vector({10, 20}, {2}));
  REQUIRE_ALL_CLOSE(x.grad(), Tensor::from_vector({0, 10, 0, 20, 0, 0}, {2, 3}));
}

TEST_CASE("max(): the gradient is split evenly over ties", "[max]") {
  Tensor x = Tensor::from_vector({1, 5, 3, 7, 2, 7}, {2, 3}, true);
  Tensor y = max(x);
  REQUIRE(y.shape() == Shape{});
  REQUIRE(y.item() == 7.0f);
  y.backward();
  REQUIRE_ALL_CLOSE(x.grad(), Tensor::from_vector({0, 0, 0, 0.5f, 0, 0.5f}, {2, 3}));
}

TEST_CASE("max: NaN propagates as the maximum", "[max]") {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const Tensor x = Tensor::from_vector({1, nan, 3, 4}, {2, 2});
  REQUIRE(std::isnan(max(x).item()));
  const Tensor rows = max(x, 1);
  REQUIRE(std::isnan(rows.at({0})));
  REQUIRE(rows.at({1}) == 4.0f);
  REQUIRE(argmax(x, 1) == std::vector<std::int64_t>{1, 1});
}

TEST_CASE("max: gradcheck", "[max][gradcheck]") {
  const Tensor x = distinct_input({2, 3, 4});
  REQUIRE_GRADCHECK([](const std::vector<Tensor>& in) { return max(in[0], 1); }, {x});
  REQUIRE_GRADCHECK([](const std::vector<Tensor>& in) { return max(in[0], -1, true); }, {x});
  REQUIRE_GRADCHECK([](const std::vector<Tensor>& in) { return max(in[0], 0, false); }, {x});
  REQUIRE_GRADCHECK([](const std::vector<Tensor>& in) { return max(in[0]); }, {x});
}

TEST_CASE("max and argmax: bad inputs", "[max][errors]") {
  const Tensor x = iota({2, 3});
  REQUIRE_THROWS_NAMING(max(x, 2), IndexError, "max");
  REQUIRE_THROWS_NAMING(max(x, -3, true), IndexError, "max");
  REQUIRE_THROWS_NAMING(argmax(x, 2), IndexError, "argmax");
  REQUIRE_THROWS_NAMING(max(Tensor::zeros({2, 0}), 1), IndexError, "max");
  REQUIRE_THROWS_NAMING(argmax(Tensor::zeros({0, 3}), 0), IndexError, "argmax");
  REQUIRE_THROWS_NAMING(max(Tensor::zeros({0, 3})), ValueError, "max");
  // Reducing a non-empty dim of an otherwise empty tensor is fine (an empty result).
  REQUIRE(max(Tensor::zeros({0, 3}), 1).shape() == Shape{0});
}
