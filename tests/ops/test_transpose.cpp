#include <catch2/catch.hpp>

#include "ops/ops.h"
#include "ops/shape_test_util.h"

using namespace tapegrad;
using tapegrad::testing::iota;
using tapegrad::testing::random_input;

TEST_CASE("transpose: values", "[transpose]") {
  const Tensor x = iota({2, 3});
  REQUIRE_ALL_CLOSE(transpose(x, 0, 1), Tensor::from_vector({0, 3, 1, 4, 2, 5}, {3, 2}));
  REQUIRE_ALL_CLOSE(transpose(x, -1, 0), Tensor::from_vector({0, 3, 1, 4, 2, 5}, {3, 2}));
  REQUIRE_ALL_CLOSE(transpose(x, 1, 1), x);

  const Tensor z = iota({2, 3, 4});
  const Tensor t = transpose(z, 0, -1);
  REQUIRE(t.shape() == Shape{4, 3, 2});
  for (std::int64_t i = 0; i < 2; ++i) {
    for (std::int64_t j = 0; j < 3; ++j) {
      for (std::int64_t k = 0; k < 4; ++k) REQUIRE(t.at({k, j, i}) == z.at({i, j, k}));
    }
  }
}

TEST_CASE("permute: values", "[permute]") {
  const Tensor x = iota({2, 3, 4});
  const Tensor y = permute(x, {2, 0, 1});
  REQUIRE(y.shape() == Shape{4, 2, 3});
  const Tensor w = permute(x, {-2, -1, 0});  // = {1, 2, 0}
  REQUIRE(w.shape() == Shape{3, 4, 2});
  for (std::int64_t i = 0; i < 2; ++i) {
    for (std::int64_t j = 0; j < 3; ++j) {
      for (std::int64_t k = 0; k < 4; ++k) {
        REQUIRE(y.at({k, i, j}) == static_cast<float>(12 * i + 4 * j + k));
        REQUIRE(w.at({j, k, i}) == static_cast<float>(12 * i + 4 * j + k));
      }
    }
  }
  REQUIRE(permute(Tensor::scalar(2.0f), {}).item() == 2.0f);
}

TEST_CASE("permute and transpose: gradcheck", "[permute][transpose][gradcheck]") {
  const Tensor x = random_input({2, 3, 4});
  REQUIRE_GRADCHECK([](const std::vector<Tensor>& in) { return permute(in[0], {2, 0, 1}); }, {x});
  REQUIRE_GRADCHECK([](const std::vector<Tensor>& in) { return permute(in[0], {1, 2, 0}); }, {x});
  REQUIRE_GRADCHECK([](const std::vector<Tensor>& in) { return permute(in[0], {-1, 0, -2}); }, {x});
  const Tensor q = random_input({2, 1, 3, 2});
  REQUIRE_GRADCHECK([](const std::vector<Tensor>& in) { return transpose(in[0], 1, -1); }, {q});
  REQUIRE_GRADCHECK([](const std::vector<Tensor>& in) { return transpose(in[0], 0, 2); }, {q});
}

TEST_CASE("permute and transpose: bad inputs", "[permute][transpose][errors]") {
  const Tensor x = iota({2, 3, 4});
  REQUIRE_THROWS_NAMING(permute(x, {0, 1}), ShapeError, "permute");
  REQUIRE_THROWS_NAMING(permute(x, {0, 1, 1}), ValueError, "permute");
  REQUIRE_THROWS_NAMING(permute(x, {0, 1, -2}), ValueError, "permute");
  REQUIRE_THROWS_NAMING(permute(x, {0, 1, 3}), IndexError, "permute");
  REQUIRE_THROWS_NAMING(transpose(x, 0, 3), IndexError, "transpose");
  REQUIRE_THROWS_NAMING(transpose(x, -4, 1), IndexError, "transpose");
}

TEST_CASE("permute and transpose: int64 values beyond 2^53 survive exactly",
          "[permute][transpose][dtype]") {
  using tapegrad::testing::require_moved_exactly;
  using tapegrad::testing::wide_ids;
  const Tensor ids = wide_ids({2, 3, 4});
  const Tensor offsets = iota({2, 3, 4});
  require_moved_exactly(transpose(ids, 0, -1), transpose(offsets, 0, -1));
  require_moved_exactly(transpose(ids, 1, 1), transpose(offsets, 1, 1));
  require_moved_exactly(permute(ids, {2, 0, 1}), permute(offsets, {2, 0, 1}));
  require_moved_exactly(permute(wide_ids({}), {}), permute(iota({}), {}));
  // Spelled out once: [[MIN, MAX, 2^53+1], [2^53+2, 2^53+3, 2^53+4]] transposed.
  const std::int64_t min = std::numeric_limits<std::int64_t>::min();
  const std::int64_t max = std::numeric_limits<std::int64_t>::max();
  REQUIRE(transpose(wide_ids({2, 3}), 0, 1).to_vector_i64() ==
          std::vector<std::int64_t>{min, 9007199254740994, max, 9007199254740995,
                                    9007199254740993, 9007199254740996});
}
