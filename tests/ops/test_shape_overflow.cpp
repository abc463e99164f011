// Ops that form or combine shapes check them (issue 8, item 1): an output too large for any
// tensor, or whose element count overflows int64, is a ShapeError naming the op and the shape,
// raised before anything is allocated or recorded. Most cases use zero extents, which make the
// inputs free to build while their combination is not.
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "ops/ops.h"
#include "test_util.h"

using namespace tapegrad;

namespace {

constexpr std::int64_t kBig = std::int64_t{1} << 40;      // an extent fine on its own
const std::string kBigText = "1099511627776";
constexpr std::int64_t kInt64Max = std::numeric_limits<std::int64_t>::max();

}  // namespace

#define REQUIRE_SHAPE_ERROR(expr, op, shape_text)                                         \
  do {                                                                                    \
    REQUIRE_THROWS_AS(expr, ShapeError);                                                  \
    REQUIRE_THROWS_WITH(expr, Catch::StartsWith(std::string(op) + ": ") &&                \
                                  Catch::Contains(std::string(shape_text)));              \
  } while (0)

TEST_CASE("select().clone() of issue 8 cannot be reached: the shape is refused", "[shape]") {
  // Main built this tensor with 8 floats, then select(t, 0, 1).clone() read past them.
  const Shape wraps_to_eight{(std::int64_t{1} << 61) + 1, 8};
  REQUIRE_SHAPE_ERROR(select(Tensor::zeros(wraps_to_eight), 0, 1).clone(), "zeros",
                      "[2305843009213693953, 8]");
}

TEST_CASE("reshape and view check the requested shape", "[reshape][shape]") {
  Tensor eight = Tensor::zeros({8}, /*requires_grad=*/true);
  const Shape wraps_to_eight{(std::int64_t{1} << 61) + 1, 8};
  REQUIRE_SHAPE_ERROR(reshape(eight, wraps_to_eight), "reshape", "[2305843009213693953, 8]");
  REQUIRE_SHAPE_ERROR(view(eight, wraps_to_eight), "view", "[2305843009213693953, 8]");
  // The known extents' product overflows before the -1 is inferred.
  REQUIRE_SHAPE_ERROR(reshape(eight, {kInt64Max, 2, -1}), "reshape", "-1]");
  // An empty input matches any shape with a zero in it, but not one too large for a tensor.
  REQUIRE_SHAPE_ERROR(reshape(Tensor::zeros({0}), {0, kBig, kBig}), "reshape",
                      "[0, " + kBigText + ", " + kBigText + "]");
  REQUIRE(reshape(Tensor::zeros({0}), {0, kBig}).shape() == Shape{0, kBig});
}

TEST_CASE("expand checks the target shape", "[expand][shape]") {
  Tensor row = Tensor::ones({1, 8});
  REQUIRE_SHAPE_ERROR(expand(row, {(std::int64_t{1} << 61) + 1, 8}), "expand",
                      "[2305843009213693953, 8]");
  REQUIRE_SHAPE_ERROR(expand(Tensor::ones({1, 0}), {kBig, kBig, 0}), "expand",
                      "[" + kBigText + ", " + kBigText + ", 0]");
}

TEST_CASE("broadcasting ops check the broadcast shape", "[binary][where][shape]") {
  // Each operand is empty and fine; broadcast together they would be [0, 2^40, 2^40].
  Tensor column = Tensor::zeros({0, kBig, 1});
  Tensor row = Tensor::zeros({0, 1, kBig});
  const std::string both = "[0, " + kBigText + ", " + kBigText + "]";
  REQUIRE_SHAPE_ERROR(add(column, row), "add", both);
  REQUIRE_SHAPE_ERROR(mul(column, row), "mul", both);
  REQUIRE_SHAPE_ERROR(maximum(column, row), "maximum", both);
  REQUIRE_SHAPE_ERROR(where(column, row, column), "where", both);
}

TEST_CASE("matmul and linear check the output shape", "[matmul][linear][shape]") {
  // [2^40, 0] x [0, 2^40]: a product with 2^80 elements (main allocated one float for it).
  Tensor tall = Tensor::zeros({kBig, 0});
  Tensor wide = Tensor::zeros({0, kBig});
  REQUIRE_SHAPE_ERROR(matmul(tall, wide), "matmul", "[" + kBigText + ", " + kBigText + "]");
  REQUIRE_SHAPE_ERROR(matmul(Tensor::zeros({4, kBig, 0}), wide), "matmul",
                      "[4, " + kBigText + ", " + kBigText + "]");
  REQUIRE_SHAPE_ERROR(linear(tall, tall, Tensor()), "linear",
                      "[" + kBigText + ", " + kBigText + "]");
  // The same layouts with small extents still multiply (to zeros, K being 0).
  Tensor product = matmul(Tensor::zeros({3, 0}), Tensor::zeros({0, 2}));
  REQUIRE(product.shape() == Shape{3, 2});
  REQUIRE(product.to_vector() == std::vector<float>(6, 0.0f));
}

TEST_CASE("cat and stack check the joined extent", "[cat][shape]") {
  // 2^18 + 1 pieces of extent 2^45 sum past INT64_MAX; one handle repeated is cheap.
  Tensor piece = Tensor::zeros({max_numel, 0});
  const std::vector<Tensor> pieces((std::size_t{1} << 18) + 1, piece);
  REQUIRE_THROWS_AS(cat(pieces, 0), ShapeError);
  REQUIRE_THROWS_WITH(cat(pieces, 0), Catch::StartsWith("cat: shape ["));
  REQUIRE_SHAPE_ERROR(cat({piece, piece}, 0), "cat", ", 0]");
  REQUIRE_SHAPE_ERROR(stack({piece, piece}, 0), "stack", "[2, " + std::to_string(max_numel));
  REQUIRE(cat({Tensor::zeros({2, 0}), Tensor::zeros({3, 0})}, 0).shape() == Shape{5, 0});
}

TEST_CASE("index_select and embedding check the gathered shape", "[index_select][shape]") {
  // 2^19 picks of each of max_numel empty rows: 2^64 (nonzero) elements.
  Tensor rows = Tensor::zeros({max_numel, 1, 0});
  const std::vector<std::int64_t> picks(std::size_t{1} << 19, 0);
  REQUIRE_SHAPE_ERROR(index_select(rows, 1, picks), "index_select",
                      "[" + std::to_string(max_numel) + ", 524288, 0]");
  // embedding's index_shape is the caller's: its product wrapped to 8 on main.
  Tensor table = Tensor::ones({4, 2});
  const std::vector<std::int64_t> eight(8, 1);
  REQUIRE_SHAPE_ERROR(embedding(table, eight, {(std::int64_t{1} << 61) + 1, 8}), "embedding",
                      "[2305843009213693953, 8]");
  REQUIRE_SHAPE_ERROR(embedding(table, eight, {2, -4}), "embedding", "[2, -4]");
  REQUIRE_SHAPE_ERROR(embedding(Tensor::zeros({0, kBig}), {}, {0, kBig}), "embedding",
                      "[0, " + kBigText + ", " + kBigText + "]");
}

TEST_CASE("split and chunk take sizes near INT64_MAX", "[split][shape]") {
  Tensor x = Tensor::arange(0.0f, 5.0f);
  // ceil(5 / INT64_MAX) was formed as 5 + INT64_MAX - 1, which overflows.
  const std::vector<Tensor> whole = split(x, kInt64Max);
  REQUIRE(whole.size() == 1);
  REQUIRE(whole[0].to_vector() == x.to_vector());
  const std::vector<Tensor> ones = chunk(x, kInt64Max);
  REQUIRE(ones.size() == 5);
  REQUIRE(ones[4].to_vector() == std::vector<float>{4.0f});
  // Sizes whose int64 sum wrapped around to 5 were accepted on main.
  REQUIRE_THROWS_AS(split(x, std::vector<std::int64_t>{kInt64Max, kInt64Max, 7}), ValueError);
  REQUIRE_THROWS_WITH(split(x, std::vector<std::int64_t>{kInt64Max, kInt64Max, 7}),
                      Catch::StartsWith("split: ") && Catch::Contains("sum to more than 5"));
  REQUIRE_THROWS_WITH(split(x, std::vector<std::int64_t>{2, 2}),
                      Catch::Contains("sum to 4, expected"));
}

TEST_CASE("recurrent layers check the size of their per-step buffers", "[recurrent][shape]") {
  // x [2^20, 2^20, 0] is empty; with 64 gates per row the per-step buffers would hold 2^46.
  const std::int64_t steps = std::int64_t{1} << 20;
  Tensor x = Tensor::zeros({steps, steps, 0});
  const std::string buffers = "[1048577, 1048576, 64]";
  REQUIRE_SHAPE_ERROR(lstm_layer(x, Tensor(), Tensor(), Tensor::zeros({64, 0}),
                                 Tensor::zeros({64, 16}), Tensor(), Tensor(), Tensor()),
                      "lstm_layer", buffers);
  REQUIRE_SHAPE_ERROR(gru_layer(x, Tensor(), Tensor::zeros({66, 0}), Tensor::zeros({66, 22}),
                                Tensor(), Tensor()),
                      "gru_layer", "[1048577, 1048576, 66]");
  REQUIRE_SHAPE_ERROR(rnn_layer(x, Tensor(), Tensor::zeros({64, 0}), Tensor::zeros({64, 64}),
                                Tensor(), Tensor(), RNNNonlinearity::Tanh),
                      "rnn_layer", buffers);
}
