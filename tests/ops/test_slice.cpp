#include <catch2/catch.hpp>

#include "ops/ops.h"
#include "ops/shape_test_util.h"

using namespace tapegrad;
using tapegrad::testing::iota;
using tapegrad::testing::random_input;

TEST_CASE("slice: Python slicing rules", "[slice]") {
  const Tensor x = iota({10});
  REQUIRE(slice(x, 0, 1, 8, 2).to_vector() == std::vector<float>{1, 3, 5, 7});
  REQUIRE(slice(x, 0, 1, 9, 2).to_vector() == std::vector<float>{1, 3, 5, 7});
  REQUIRE(slice(x, 0, -3, 10).to_vector() == std::vector<float>{7, 8, 9});
  REQUIRE(slice(x, 0, 0, -8).to_vector() == std::vector<float>{0, 1});
  REQUIRE(slice(x, 0, 7, 100).to_vector() == std::vector<float>{7, 8, 9});
  REQUIRE(slice(x, 0, -100, 2).to_vector() == std::vector<float>{0, 1});
  REQUIRE(slice(x, 0, 0, 10, 4).to_vector() == std::vector<float>{0, 4, 8});
  REQUIRE(slice(x, 0, 5, 3).shape() == Shape{0});
  REQUIRE(slice(x, 0, 20, 30).shape() == Shape{0});
  REQUIRE(slice(x, 0, 2, 3, 1000).to_vector() == std::vector<float>{2});
}

TEST_CASE("slice: inner dims", "[slice]") {
  const Tensor x = iota({2, 7});  // x[i, j] = 7i + j
  REQUIRE_ALL_CLOSE(slice(x, 1, 1, 7, 3), Tensor::from_vector({1, 4, 8, 11}, {2, 2}));
  REQUIRE_ALL_CLOSE(slice(x, -1, -2, 7), Tensor::from_vector({5, 6, 12, 13}, {2, 2}));
  REQUIRE_ALL_CLOSE(slice(x, 0, 1, 2), Tensor::from_vector({7, 8, 9, 10, 11, 12, 13}, {1, 7}));
}

TEST_CASE("select: removes the dim, e.g. the last time step of [B, T, H]", "[select]") {
  const Tensor x = iota({2, 3, 4});  // x[b, t, h] = 12b + 4t + h
  const Tensor last = select(x, 1, -1);
  REQUIRE(last.shape() == Shape{2, 4});
  REQUIRE_ALL_CLOSE(last, Tensor::from_vector({8, 9, 10, 11, 20, 21, 22, 23}, {2, 4}));
  REQUIRE_ALL_CLOSE(select(x, 0, 1),
                    Tensor::from_vector({12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23}, {3, 4}));
  REQUIRE_ALL_CLOSE(select(x, -1, 2), Tensor::from_vector({2, 6, 10, 14, 18, 22}, {2, 3}));
  REQUIRE(select(iota({3}), 0, 1).shape() == Shape{});
  REQUIRE(select(iota({3}), 0, -3).item() == 0.0f);
}

TEST_CASE("slice and select: the gradient lands in the selected region only", "[slice][select]") {
  Tensor x = iota({5}, true);
  slice(x, 0, 1, 5, 2).backward(Tensor::from_vector({10, 20}, {2}));
  REQUIRE_ALL_CLOSE(x.grad(), Tensor::from_vector({0, 10, 0, 20, 0}, {5}));

  Tensor y = iota({2, 2}, true);
  select(y, 1, -1).backward(Tensor::from_vector({3, 4}, {2}));
  REQUIRE_ALL_CLOSE(y.grad(), Tensor::from_vector({0, 3, 0, 4}, {2, 2}));
}

TEST_CASE("slice and select: gradcheck", "[slice][select][gradcheck]") {
  const Tensor x = random_input({2, 5, 3});
  REQUIRE_GRADCHECK([](const std::vector<Tensor>& in) { return slice(in[0], 1, 0, 5, 2); }, {x});
  REQUIRE_GRADCHECK([](const std::vector<Tensor>& in) { return slice(in[0], -1, 1, 3); }, {x});
  REQUIRE_GRADCHECK([](const std::vector<Tensor>& in) { return slice(in[0], 0, -1, 2); }, {x});
  REQUIRE_GRADCHECK([](const std::vector<Tensor>& in) { return slice(in[0], 2, -2, 100, 2); }, {x});
  REQUIRE_GRADCHECK([](const std::vector<Tensor>& in) { return select(in[0], 1, -1); }, {x});
  REQUIRE_GRADCHECK([](const std::vector<Tensor>& in) { return select(in[0], 0, 1); }, {x});
  REQUIRE_GRADCHECK([](const std::vector<Tensor>& in) { return select(in[0], -1, 0); }, {x});
}

TEST_CASE("slice and select: bad inputs", "[slice][select][errors]") {
  const Tensor x = iota({2, 3});
  REQUIRE_THROWS_NAMING(slice(x, 0, 0, 2, 0), ValueError, "slice");
  REQUIRE_THROWS_NAMING(slice(x, 0, 2, 0, -1), ValueError, "slice");
  REQUIRE_THROWS_NAMING(slice(x, 2, 0, 1), IndexError, "slice");
  REQUIRE_THROWS_NAMING(slice(Tensor::scalar(1.0f), 0, 0, 1), ShapeError, "slice");
  REQUIRE_THROWS_NAMING(select(x, 1, 3), IndexError, "select");
  REQUIRE_THROWS_WITH(select(x, 1, 3), Catch::Contains("index 3") && Catch::Contains("size 3"));
  REQUIRE_THROWS_NAMING(select(x, 1, -4), IndexError, "select");
  REQUIRE_THROWS_NAMING(select(x, -3, 0), IndexError, "select");
  REQUIRE_THROWS_NAMING(select(Tensor::scalar(1.0f), 0, 0), ShapeError, "select");
}

TEST_CASE("slice and select: int64 values beyond 2^53 survive exactly", "[slice][select][dtype]") {
  using tapegrad::testing::require_moved_exactly;
  using tapegrad::testing::wide_ids;
  const Tensor ids = wide_ids({2, 5, 3});
  const Tensor offsets = iota({2, 5, 3});
  require_moved_exactly(slice(ids, 1, 0, 5, 2), slice(offsets, 1, 0, 5, 2));
  require_moved_exactly(slice(ids, -1, 1, 3), slice(offsets, -1, 1, 3));
  require_moved_exactly(slice(ids, 0, 0, 1), slice(offsets, 0, 0, 1));
  require_moved_exactly(slice(ids, 1, 4, 2), slice(offsets, 1, 4, 2));  // empty
  require_moved_exactly(select(ids, 1, -1), select(offsets, 1, -1));
  require_moved_exactly(select(ids, -1, 0), select(offsets, -1, 0));
  // A label tensor: labels[1:] and labels[0] keep INT64_MAX and 2^53 + 1 exactly.
  const Tensor labels = wide_ids({3});
  REQUIRE(slice(labels, 0, 1, 3).to_vector_i64() ==
          std::vector<std::int64_t>{std::numeric_limits<std::int64_t>::max(), 9007199254740993});
  REQUIRE(select(labels, 0, 0).item_i64() == std::numeric_limits<std::int64_t>::min());
}
