#include <catch2/catch.hpp>

#include "ops/ops.h"
#include "ops/shape_test_util.h"

using namespace tapegrad;
using tapegrad::testing::iota;
using tapegrad::testing::random_input;

TEST_CASE("expand: values, new leading dims and -1", "[expand]") {
  const Tensor x = iota({3, 1});
  const Tensor y = expand(x, {2, 3, 4});
  REQUIRE(y.shape() == Shape{2, 3, 4});
  for (std::int64_t b = 0; b < 2; ++b) {
    for (std::int64_t i = 0; i < 3; ++i) {
      for (std::int64_t j = 0; j < 4; ++j) REQUIRE(y.at({b, i, j}) == static_cast<float>(i));
    }
  }
  REQUIRE_ALL_CLOSE(expand(x, {-1, 2}), Tensor::from_vector({0, 0, 1, 1, 2, 2}, {3, 2}));
  REQUIRE_ALL_CLOSE(expand(Tensor::scalar(7.0f), {2}), Tensor::from_vector({7, 7}, {2}));
  REQUIRE(expand(iota({2, 1}), {2, 0}).shape() == Shape{2, 0});
}

TEST_CASE("expand: to the same shape still returns a new tensor", "[expand]") {
  Tensor x = iota({2, 2});
  const Tensor y = expand(x, {-1, 2});
  REQUIRE_FALSE(y.is_same(x));
  x.fill_(9.0f);
  REQUIRE(y.at({1, 1}) == 3.0f);
}

TEST_CASE("expand: backward sums over the broadcast dims", "[expand]") {
  Tensor x = Tensor::from_vector({1, 2, 3}, {3, 1}, true);
  expand(x, {2, 3, 4}).backward(Tensor::ones({2, 3, 4}));
  REQUIRE_ALL_CLOSE(x.grad(), Tensor::full({3, 1}, 8.0f));
}

TEST_CASE("expand: gradcheck", "[expand][gradcheck]") {
  const Tensor x = random_input({3, 1});
  REQUIRE_GRADCHECK([](const std::vector<Tensor>& in) { return expand(in[0], {2, 3, 4}); }, {x});
  const Tensor row = random_input({1, 4});
  REQUIRE_GRADCHECK([](const std::vector<Tensor>& in) { return expand(in[0], {3, -1}); }, {row});
  REQUIRE_GRADCHECK([](const std::vector<Tensor>& in) { return expand(in[0], {-1, -1}); }, {row});
}

TEST_CASE("expand: bad inputs", "[expand][errors]") {
  const Tensor x = iota({3, 2});
  REQUIRE_THROWS_NAMING(expand(x, {3, 4}), ShapeError, "expand");
  REQUIRE_THROWS_NAMING(expand(x, {2}), ShapeError, "expand");
  REQUIRE_THROWS_NAMING(expand(x, {-1, 3, 2}), ValueError, "expand");
  REQUIRE_THROWS_NAMING(expand(x, {3, -2}), ValueError, "expand");
}
