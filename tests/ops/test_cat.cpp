#include <catch2/catch.hpp>

#include "ops/ops.h"
#include "ops/shape_test_util.h"

using namespace tapegrad;
using tapegrad::testing::iota;
using tapegrad::testing::random_input;

TEST_CASE("cat: values along outer and inner dims", "[cat]") {
  const Tensor a = iota({2, 3});                           // [[0 1 2] [3 4 5]]
  const Tensor b = Tensor::from_vector({10, 20}, {2, 1});  // [[10] [20]]
  const Tensor c = Tensor::from_vector({-1, -2, -3}, {1, 3});
  REQUIRE_ALL_CLOSE(cat({a, b}, 1), Tensor::from_vector({0, 1, 2, 10, 3, 4, 5, 20}, {2, 4}));
  REQUIRE_ALL_CLOSE(cat({b, a}, -1), Tensor::from_vector({10, 0, 1, 2, 20, 3, 4, 5}, {2, 4}));
  REQUIRE_ALL_CLOSE(cat({a, c}), Tensor::from_vector({0, 1, 2, 3, 4, 5, -1, -2, -3}, {3, 3}));
  REQUIRE_ALL_CLOSE(cat({a}), a);
  // An empty piece with matching dims is allowed and contributes nothing.
  REQUIRE_ALL_CLOSE(cat({a, Tensor::zeros({2, 0}), b}, 1), cat({a, b}, 1));
}

TEST_CASE("stack: a new dim", "[stack]") {
  const Tensor a = iota({2, 3});
  const Tensor b = Tensor::full({2, 3}, -1.0f);
  const Tensor s0 = stack({a, b});
  REQUIRE(s0.shape() == Shape{2, 2, 3});
  REQUIRE(s0.to_vector() == std::vector<float>{0, 1, 2, 3, 4, 5, -1, -1, -1, -1, -1, -1});
  const Tensor s1 = stack({a, b}, 1);
  REQUIRE(s1.shape() == Shape{2, 2, 3});
  REQUIRE(s1.to_vector() == std::vector<float>{0, 1, 2, -1, -1, -1, 3, 4, 5, -1, -1, -1});
  const Tensor last = stack({a, b}, -1);
  REQUIRE(last.shape() == Shape{2, 3, 2});
  REQUIRE(last.to_vector() == std::vector<float>{0, -1, 1, -1, 2, -1, 3, -1, 4, -1, 5, -1});
  REQUIRE_ALL_CLOSE(stack({Tensor::scalar(1.0f), Tensor::scalar(2.0f)}),
                    Tensor::from_vector({1, 2}, {2}));
}

TEST_CASE("cat: each input gets its own slab of the gradient", "[cat]") {
  Tensor a = iota({2, 1}, true);
  Tensor b = iota({2, 2}, true);
  cat({a, b}, 1).backward(iota({2, 3}));
  REQUIRE_ALL_CLOSE(a.grad(), Tensor::from_vector({0, 3}, {2, 1}));
  REQUIRE_ALL_CLOSE(b.grad(), Tensor::from_vector({1, 2, 4, 5}, {2, 2}));
  // The same tensor twice receives both slabs.
  Tensor c = iota({2}, true);
  cat({c, c}).backward(Tensor::from_vector({1, 2, 10, 20}, {4}));
  REQUIRE_ALL_CLOSE(c.grad(), Tensor::from_vector({11, 22}, {2}));
}

TEST_CASE("cat and stack: gradcheck", "[cat][stack][gradcheck]") {
  const Tensor a = random_input({2, 3, 2}, 1);
  const Tensor b = random_input({2, 1, 2}, 2);
  const Tensor c = random_input({2, 2, 2}, 3);
  REQUIRE_GRADCHECK([](const std::vector<Tensor>& in) { return cat(in, 1); }, {a, b, c});
  REQUIRE_GRADCHECK([](const std::vector<Tensor>& in) { return cat(in, -2); }, {c, a});
  const Tensor d = random_input({2, 3, 2}, 4);
  REQUIRE_GRADCHECK([](const std::vector<Tensor>& in) { return cat(in, -1); }, {a, d});
  REQUIRE_GRADCHECK([](const std::vector<Tensor>& in) { return cat(in, 0); }, {d, a});
  REQUIRE_GRADCHECK([](const std::vector<Tensor>& in) { return stack(in, 0); }, {a, d});
  REQUIRE_GRADCHECK([](const std::vector<Tensor>& in) { return stack(in, 2); }, {a, d});
  REQUIRE_GRADCHECK([](const std::vector<Tensor>& in) { return stack(in, -1); }, {a, d});
  // Only one input requires grad.
  const Tensor fixed = iota({2, 3, 2});
  REQUIRE_GRADCHECK([](const std::vector<Tensor>& in) { return cat(in, 2); }, {fixed, d});
}

TEST_CASE("cat and stack: bad inputs", "[cat][stack][errors]") {
  const Tensor a = iota({2, 3});
  REQUIRE_THROWS_NAMING(cat({a, iota({3, 3})}, 1), ShapeError, "cat");
  REQUIRE_THROWS_NAMING(cat({a, iota({2, 3, 1})}, 0), ShapeError, "cat");
  REQUIRE_THROWS_NAMING(cat({a, iota({3})}, 0), ShapeError, "cat");
  REQUIRE_THROWS_NAMING(cat({}, 0), ValueError, "cat");
  REQUIRE_THROWS_NAMING(cat({a, Tensor()}, 0), ValueError, "cat");
  REQUIRE_THROWS_NAMING(cat({Tensor::scalar(1.0f), Tensor::scalar(2.0f)}), ShapeError, "cat");
  REQUIRE_THROWS_NAMING(cat({a, a}, 2), IndexError, "cat");
  REQUIRE_THROWS_NAMING(cat({a, Tensor::zeros({0})}, 0), ShapeError, "cat");
  REQUIRE_THROWS_NAMING(stack({a, iota({3, 2})}), ShapeError, "stack");
  REQUIRE_THROWS_NAMING(stack({}), ValueError, "stack");
  REQUIRE_THROWS_NAMING(stack({a, a}, 3), IndexError, "stack");
  REQUIRE_THROWS_NAMING(stack({a, a}, -4), IndexError, "stack");
}

TEST_CASE("cat and stack: int64 values beyond 2^53 survive exactly", "[cat][stack][dtype]") {
  using tapegrad::testing::require_moved_exactly;
  using tapegrad::testing::wide_id;
  using tapegrad::testing::wide_ids;
  // Three batches of token ids cut from one tensor, so the expected values are wide_id(offset).
  const Tensor ids = wide_ids({2, 6});
  const Tensor offsets = iota({2, 6});
  const std::vector<Tensor> id_parts = split(ids, std::vector<std::int64_t>{1, 3, 2}, 1);
  const std::vector<Tensor> offset_parts = split(offsets, std::vector<std::int64_t>{1, 3, 2}, 1);
  require_moved_exactly(cat(id_parts, 1), cat(offset_parts, 1));
  require_moved_exactly(cat({id_parts[2], id_parts[0]}, -1),
                        cat({offset_parts[2], offset_parts[0]}, -1));
  require_moved_exactly(cat({ids, ids}), cat({offsets, offsets}));
  require_moved_exactly(cat({ids, wide_ids({0, 6})}), cat({offsets, iota({0, 6})}));
  require_moved_exactly(stack({ids, ids}, 1), stack({offsets, offsets}, 1));
  require_moved_exactly(stack({ids, ids}, -1), stack({offsets, offsets}, -1));
  require_moved_exactly(stack({wide_ids({}), wide_ids({})}), stack({iota({}), iota({})}));
  REQUIRE(cat({wide_ids({1}), wide_ids({2})}).to_vector_i64() ==
          std::vector<std::int64_t>{wide_id(0), wide_id(0), wide_id(1)});
}

TEST_CASE("cat and stack: mixed dtypes are a TypeError naming both",
          "[cat][stack][dtype][errors]") {
  const Tensor ids = Tensor::from_vector_i64({1, 2, 3, 4, 5, 6}, {2, 3});
  const Tensor x = iota({2, 3}, true);
  REQUIRE_THROWS_NAMING(cat({x, ids}), TypeError, "cat");
  REQUIRE_THROWS_WITH(cat({x, ids}),
                      "cat: expected tensor 1 to have tensor 0's dtype float32, got int64 (mixed "
                      "dtypes are not promoted: convert with to() first)");
  REQUIRE_THROWS_WITH(cat({ids, ids, x}, 1),
                      Catch::StartsWith("cat: expected tensor 2 to have tensor 0's dtype int64, "
                                        "got float32"));
  REQUIRE_THROWS_WITH(stack({ids, x}),
                      Catch::StartsWith("stack: expected tensor 1 to have tensor 0's dtype int64, "
                                        "got float32"));
  REQUIRE_THROWS_NAMING(stack({x, ids}), TypeError, "stack");
  // The dtype is checked before the shapes: a mix with a shape mismatch names the dtypes.
  REQUIRE_THROWS_AS(cat({x, Tensor::from_vector_i64({1}, {1})}), TypeError);
}
