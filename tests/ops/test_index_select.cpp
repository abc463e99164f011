#include <catch2/catch.hpp>

#include "ops/ops.h"
#include "ops/shape_test_util.h"

using namespace tapegrad;
using tapegrad::testing::iota;
using tapegrad::testing::random_input;

TEST_CASE("index_select: values along outer and inner dims, duplicates", "[index_select]") {
  const Tensor x = iota({3, 2});  // [[0 1] [2 3] [4 5]]
  REQUIRE_ALL_CLOSE(index_select(x, 0, {2, 0, 2}), Tensor::from_vector({4, 5, 0, 1, 4, 5}, {3, 2}));
  REQUIRE_ALL_CLOSE(index_select(x, -1, {1, 1, 0}),
                    Tensor::from_vector({1, 1, 0, 3, 3, 2, 5, 5, 4}, {3, 3}));
  REQUIRE(index_select(x, 0, {}).shape() == Shape{0, 2});
  const Tensor z = iota({2, 3, 2});  // z[i, j, k] = 6i + 2j + k
  REQUIRE_ALL_CLOSE(index_select(z, 1, {2}), Tensor::from_vector({4, 5, 10, 11}, {2, 1, 2}));
}

TEST_CASE("index_select: duplicate indices sum their gradients", "[index_select]") {
  Tensor x = iota({3, 2}, true);
  index_select(x, 0, {2, 0, 2}).backward(Tensor::from_vector({1, 2, 3, 4, 5, 6}, {3, 2}));
  REQUIRE_ALL_CLOSE(x.grad(), Tensor::from_vector({3, 4, 0, 0, 6, 8}, {3, 2}));
}

TEST_CASE("embedding: rows gathered into [*index_shape, D]", "[embedding]") {
  const Tensor weight = iota({4, 3});  // row r = [3r, 3r+1, 3r+2]
  const Tensor y = embedding(weight, {1, 3, 1, 0, 2, 3}, {2, 3});
  REQUIRE(y.shape() == Shape{2, 3, 3});
  REQUIRE(y.to_vector() ==
          std::vector<float>{3, 4, 5, 9, 10, 11, 3, 4, 5, 0, 1, 2, 6, 7, 8, 9, 10, 11});
  // The padding row is still looked up (only its gradient is dropped).
  REQUIRE(embedding(weight, {1}, {1}, 1).to_vector() == std::vector<float>{3, 4, 5});
  REQUIRE(embedding(weight, {}, {0, 5}).shape() == Shape{0, 5, 3});
  REQUIRE(embedding(weight, {2}, {}).shape() == Shape{3});
}

TEST_CASE("embedding: scatter-add backward skips padding_idx", "[embedding]") {
  const std::vector<std::int64_t> indices{1, 3, 1, 0};
  const Tensor grad_out = Tensor::from_vector({1, 1, 2, 2, 3, 3, 4, 4}, {2, 2, 2});
  Tensor w = iota({4, 2}, true);
  embedding(w, indices, {2, 2}).backward(grad_out);
  REQUIRE_ALL_CLOSE(w.grad(), Tensor::from_vector({4, 4, 4, 4, 0, 0, 2, 2}, {4, 2}));

  Tensor padded = iota({4, 2}, true);
  embedding(padded, indices, {2, 2}, 1).backward(grad_out);
  REQUIRE_ALL_CLOSE(padded.grad(), Tensor::from_vector({4, 4, 0, 0, 0, 0, 2, 2}, {4, 2}));

  Tensor wrapped = iota({4, 2}, true);  // padding_idx -1 is row 3
  embedding(wrapped, indices, {2, 2}, -1).backward(grad_out);
  REQUIRE_ALL_CLOSE(wrapped.grad(), Tensor::from_vector({4, 4, 4, 4, 0, 0, 0, 0}, {4, 2}));
}

TEST_CASE("index_select and embedding: gradcheck", "[index_select][embedding][gradcheck]") {
  const Tensor x = random_input({4, 3, 2});
  REQUIRE_GRADCHECK(
      [](const std::vector<Tensor>& in) {
        return index_select(in[0], 0, {3, 1, 3, 0});
      },
      {x});
  REQUIRE_GRADCHECK(
      [](const std::vector<Tensor>& in) {
        return index_select(in[0], 1, {2, 2, 0});
      },
      {x});
  REQUIRE_GRADCHECK([](const std::vector<Tensor>& in) { return index_select(in[0], -1, {1}); },
                    {x});
  const Tensor weight = random_input({5, 3});
  REQUIRE_GRADCHECK(
      [](const std::vector<Tensor>& in) {
        return embedding(in[0], {4, 0, 4, 2, 1, 2}, {3, 2});
      },
      {weight});
  // The padding row's gradient is zero by definition while its finite difference is not, so the
  // gradcheck uses a padding_idx that is not looked up (the padding test above covers the rest).
  REQUIRE_GRADCHECK(
      [](const std::vector<Tensor>& in) {
        return embedding(in[0], {4, 0, 4, 2, 1, 2}, {2, 3}, 3);
      },
      {weight});
}

TEST_CASE("index_select and embedding: bad inputs", "[index_select][embedding][errors]") {
  const Tensor x = iota({3, 2});
  REQUIRE_THROWS_NAMING(index_select(x, 0, {0, 3}), IndexError, "index_select");
  REQUIRE_THROWS_WITH(index_select(x, 0, {0, 3}),
                      Catch::Contains("index 3") && Catch::Contains("size 3"));
  REQUIRE_THROWS_NAMING(index_select(x, 1, {-1}), IndexError, "index_select");
  REQUIRE_THROWS_NAMING(index_select(x, 2, {0}), IndexError, "index_select");
  REQUIRE_THROWS_NAMING(index_select(Tensor::scalar(1.0f), 0, {0}), ShapeError, "index_select");

  const Tensor weight = iota({4, 3});
  REQUIRE_THROWS_NAMING(embedding(iota({4, 3, 1}), {0}, {1}), ShapeError, "embedding");
  REQUIRE_THROWS_NAMING(embedding(iota({4}), {0}, {1}), ShapeError, "embedding");
  REQUIRE_THROWS_NAMING(embedding(weight, {0, 1, 2}, {2, 2}), ShapeError, "embedding");
  REQUIRE_THROWS_NAMING(embedding(weight, {0, 4}, {2}), IndexError, "embedding");
  REQUIRE_THROWS_WITH(embedding(weight, {0, 4}, {2}),
                      Catch::Contains("index 4") && Catch::Contains("size 4"));
  REQUIRE_THROWS_NAMING(embedding(weight, {-1}, {1}), IndexError, "embedding");
  REQUIRE_THROWS_NAMING(embedding(weight, {0}, {1}, 4), IndexError, "embedding");
  REQUIRE_THROWS_NAMING(embedding(weight, {0}, {1}, -5), IndexError, "embedding");
  REQUIRE_THROWS_NAMING(embedding(weight, {0}, {-1}), ShapeError, "embedding");
}

// ---- int64 index tensors (issue 11): one implementation with the vector overload

TEST_CASE("embedding with an int64 index tensor of any shape gives [*indices.shape, D]",
          "[embedding][dtype]") {
  const Tensor weight = iota({4, 3});  // row r = [3r, 3r+1, 3r+2]
  const Tensor indices = Tensor::from_vector_i64({1, 3, 1, 0, 2, 3}, {2, 3});
  const Tensor y = embedding(weight, indices);
  REQUIRE(y.shape() == Shape{2, 3, 3});
  REQUIRE(y.to_vector() == embedding(weight, {1, 3, 1, 0, 2, 3}, {2, 3}).to_vector());
  REQUIRE(embedding(weight, Tensor::from_vector_i64({2}, {})).shape() == Shape{3});
  REQUIRE(embedding(weight, Tensor::from_vector_i64({2}, {})).to_vector() ==
          std::vector<float>{6, 7, 8});
  REQUIRE(embedding(weight, Tensor::zeros({0, 5}, Dtype::int64)).shape() == Shape{0, 5, 3});
  // padding_idx: that row gets no gradient.
  Tensor table = iota({4, 3}, true);
  sum(embedding(table, Tensor::from_vector_i64({1, 0, 1}, {3}), 0)).backward();
  REQUIRE(table.grad().to_vector() == std::vector<float>{0, 0, 0, 2, 2, 2, 0, 0, 0, 0, 0, 0});
}

TEST_CASE("embedding with an int64 index tensor: gradcheck", "[embedding][dtype][gradcheck]") {
  const Tensor weight = random_input({5, 3});
  const Tensor indices = Tensor::from_vector_i64({4, 0, 4, 2, 1, 2}, {3, 1, 2});
  REQUIRE_GRADCHECK(
      [&](const std::vector<Tensor>& in) { return embedding(in[0], indices, 3); }, {weight});
}

TEST_CASE("embedding with an index tensor: bad inputs", "[embedding][dtype][errors]") {
  const Tensor weight = iota({4, 3});
  REQUIRE_THROWS_AS(embedding(weight, Tensor::from_vector({1, 2}, {2})), TypeError);
  REQUIRE_THROWS_WITH(embedding(weight, Tensor::from_vector({1, 2}, {2})),
                      Catch::Contains("embedding: expected indices to be int64, got float32"));
  REQUIRE_THROWS_MATCHES(embedding(weight, Tensor::from_vector_i64({1, 4}, {2})), IndexError,
                         Catch::Message("embedding: index 4 (at position 1) is out of range for "
                                        "a weight with num_embeddings of size 4 (expected [0, "
                                        "4))"));
  REQUIRE_THROWS_AS(embedding(weight, Tensor::from_vector_i64({-1}, {1})), IndexError);
  REQUIRE_THROWS_AS(embedding(Tensor::zeros({4}), Tensor::from_vector_i64({1}, {1})),
                    ShapeError);
  REQUIRE_THROWS_AS(embedding(weight, Tensor()), ValueError);
  REQUIRE_THROWS_WITH(embedding(weight.to(Dtype::int64), Tensor::from_vector_i64({1}, {1})),
                      Catch::Contains("embedding: expected weight to be float32, got int64"));
}

TEST_CASE("index_select: int64 values beyond 2^53 survive exactly", "[index_select][dtype]") {
  using tapegrad::testing::require_moved_exactly;
  using tapegrad::testing::wide_ids;
  const Tensor ids = wide_ids({3, 2, 2});
  const Tensor offsets = iota({3, 2, 2});
  require_moved_exactly(index_select(ids, 0, {2, 0, 2}), index_select(offsets, 0, {2, 0, 2}));
  require_moved_exactly(index_select(ids, 1, {1}), index_select(offsets, 1, {1}));
  require_moved_exactly(index_select(ids, -1, {1, 0, 1}), index_select(offsets, -1, {1, 0, 1}));
  require_moved_exactly(index_select(ids, 0, {}), index_select(offsets, 0, {}));
  // Token ids picked by position keep INT64_MIN, INT64_MAX and 2^53 + 1 exactly.
  REQUIRE(index_select(wide_ids({3}), 0, {2, 1, 0}).to_vector_i64() ==
          std::vector<std::int64_t>{9007199254740993, std::numeric_limits<std::int64_t>::max(),
                                    std::numeric_limits<std::int64_t>::min()});
}
