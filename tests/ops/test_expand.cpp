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

TEST_CASE("expand: a middle and a last broadcast dim under new leading dims", "[expand]") {
  const Tensor x = iota({2, 1, 3, 1});
  const Tensor y = expand(x, {2, 2, 4, 3, 5});
  REQUIRE(y.shape() == Shape{2, 2, 4, 3, 5});
  for (std::int64_t n = 0; n < 2; ++n) {
    for (std::int64_t a = 0; a < 2; ++a) {
      for (std::int64_t b = 0; b < 4; ++b) {
        for (std::int64_t c = 0; c < 3; ++c) {
          for (std::int64_t e = 0; e < 5; ++e) REQUIRE(y.at({n, a, b, c, e}) == x.at({a, 0, c, 0}));
        }
      }
    }
  }
  const Tensor z = random_input({2, 1, 3, 1});
  REQUIRE_GRADCHECK([](const std::vector<Tensor>& in) { return expand(in[0], {2, 2, 4, 3, 5}); },
                    {z});
}

TEST_CASE("expand: int64 values beyond 2^53 survive exactly", "[expand][dtype]") {
  using tapegrad::testing::require_moved_exactly;
  using tapegrad::testing::wide_ids;
  const Tensor ids = wide_ids({3, 1});
  const Tensor offsets = iota({3, 1});
  require_moved_exactly(expand(ids, {2, 3, 4}), expand(offsets, {2, 3, 4}));
  require_moved_exactly(expand(ids, {-1, 1}), expand(offsets, {-1, 1}));
  require_moved_exactly(expand(wide_ids({}), {2, 2}), expand(iota({}), {2, 2}));
  require_moved_exactly(expand(wide_ids({1, 2, 1}), {3, 2, 2}), expand(iota({1, 2, 1}), {3, 2, 2}));
  REQUIRE(expand(ids, {3, 0}).shape() == Shape{3, 0});
  // A new tensor even when nothing is broadcast, as for float.
  REQUIRE_FALSE(expand(ids, {3, 1}).is_same(ids));
  REQUIRE(expand(ids, {3, 1}).data_ptr() != ids.data_ptr());
}
