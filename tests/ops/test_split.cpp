#include <catch2/catch.hpp>

#include "ops/ops.h"
#include "ops/shape_test_util.h"

using namespace tapegrad;
using tapegrad::testing::iota;
using tapegrad::testing::random_input;

namespace {

std::vector<Shape> shapes_of(const std::vector<Tensor>& pieces) {
  std::vector<Shape> shapes;
  for (const Tensor& piece : pieces) shapes.push_back(piece.shape());
  return shapes;
}

}  // namespace

TEST_CASE("chunk: PyTorch's ceil(size / chunks) sizing", "[chunk]") {
  const Tensor x = iota({5, 2});
  const std::vector<Tensor> three = chunk(x, 3);
  REQUIRE(shapes_of(three) == std::vector<Shape>{{2, 2}, {2, 2}, {1, 2}});
  REQUIRE(three[2].to_vector() == std::vector<float>{8, 9});
  // 6 in 4 chunks: ceil(6/4) = 2 per chunk, so only 3 chunks
  REQUIRE(shapes_of(chunk(iota({6}), 4)) == std::vector<Shape>{{2}, {2}, {2}});
  REQUIRE(shapes_of(chunk(iota({2, 5}), 2, -1)) == std::vector<Shape>{{2, 3}, {2, 2}});
  REQUIRE(chunk(iota({2, 5}), 2, 1)[1].to_vector() == std::vector<float>{3, 4, 8, 9});
  REQUIRE(shapes_of(chunk(iota({3}), 5)) == std::vector<Shape>{{1}, {1}, {1}});
  REQUIRE(shapes_of(chunk(Tensor::zeros({0, 2}), 3)) == std::vector<Shape>{{0, 2}, {0, 2}, {0, 2}});
}

TEST_CASE("split: by size and by sizes", "[split]") {
  const Tensor x = iota({7});
  const std::vector<Tensor> by_three = split(x, 3);
  REQUIRE(shapes_of(by_three) == std::vector<Shape>{{3}, {3}, {1}});
  REQUIRE(by_three[1].to_vector() == std::vector<float>{3, 4, 5});
  REQUIRE(split(x, 7).size() == 1);
  REQUIRE(split(x, 10)[0].to_vector() == x.to_vector());

  const std::vector<Tensor> pieces = split(iota({2, 7}), std::vector<std::int64_t>{1, 4, 0, 2}, 1);
  REQUIRE(shapes_of(pieces) == std::vector<Shape>{{2, 1}, {2, 4}, {2, 0}, {2, 2}});
  REQUIRE(pieces[1].to_vector() == std::vector<float>{1, 2, 3, 4, 8, 9, 10, 11});
  REQUIRE(pieces[3].to_vector() == std::vector<float>{5, 6, 12, 13});
}

TEST_CASE("unbind: removes the dim", "[unbind]") {
  const Tensor x = iota({2, 3});
  const std::vector<Tensor> columns = unbind(x, 1);
  REQUIRE(shapes_of(columns) == std::vector<Shape>{{2}, {2}, {2}});
  REQUIRE(columns[2].to_vector() == std::vector<float>{2, 5});
  const std::vector<Tensor> rows = unbind(x, -2);
  REQUIRE(rows.size() == 2);
  REQUIRE(rows[1].to_vector() == std::vector<float>{3, 4, 5});
  REQUIRE(unbind(Tensor::zeros({0, 3})).empty());
}

TEST_CASE("split family: one node, unused pieces contribute zeros", "[chunk][split][unbind]") {
  Tensor x = iota({6}, true);
  const std::vector<Tensor> pieces = chunk(x, 3);
  REQUIRE(pieces[0].grad_fn() == pieces[2].grad_fn());
  pieces[1].backward(Tensor::from_vector({5, 7}, {2}));
  REQUIRE_ALL_CLOSE(x.grad(), Tensor::from_vector({0, 0, 5, 7, 0, 0}, {6}));

  Tensor y = iota({2, 3}, true);
  const std::vector<Tensor> steps = unbind(y, 1);
  steps[2].backward(Tensor::from_vector({1, 2}, {2}));
  REQUIRE_ALL_CLOSE(y.grad(), Tensor::from_vector({0, 0, 1, 0, 0, 2}, {2, 3}));
}

TEST_CASE("split family: gradcheck", "[chunk][split][unbind][gradcheck]") {
  const Tensor x = random_input({3, 5, 2});
  // Pieces are put back in a different order, so a gradient routed to the wrong place shows.
  REQUIRE_GRADCHECK(
      [](const std::vector<Tensor>& in) {
        const std::vector<Tensor> p = chunk(in[0], 3, 1);  // sizes 2, 2, 1
        return cat({p[2], p[0], p[1]}, 1);
      },
      {x});
  REQUIRE_GRADCHECK(
      [](const std::vector<Tensor>& in) {
        const std::vector<Tensor> p = split(in[0], 2, 0);  // sizes 2, 1
        return cat({p[1], p[0]}, 0);
      },
      {x});
  REQUIRE_GRADCHECK(
      [](const std::vector<Tensor>& in) {
        const std::vector<Tensor> p = split(in[0], std::vector<std::int64_t>{3, 2}, -2);
        return cat({p[1], p[0]}, 1);
      },
      {x});
  REQUIRE_GRADCHECK(
      [](const std::vector<Tensor>& in) {
        const std::vector<Tensor> p = unbind(in[0], 1);
        return stack({p[4], p[1], p[3], p[0], p[2]}, 0);
      },
      {x});
  // Only some pieces used.
  REQUIRE_GRADCHECK([](const std::vector<Tensor>& in) { return unbind(in[0], -1)[1]; }, {x});
}

TEST_CASE("split family: bad inputs", "[chunk][split][unbind][errors]") {
  const Tensor x = iota({4, 3});
  REQUIRE_THROWS_NAMING(chunk(x, 0), ValueError, "chunk");
  REQUIRE_THROWS_NAMING(chunk(x, 2, 2), IndexError, "chunk");
  REQUIRE_THROWS_NAMING(chunk(Tensor::scalar(1.0f), 1), ShapeError, "chunk");
  REQUIRE_THROWS_NAMING(split(x, 0), ValueError, "split");
  REQUIRE_THROWS_NAMING(split(x, -1), ValueError, "split");
  REQUIRE_THROWS_NAMING(split(x, 2, -3), IndexError, "split");
  REQUIRE_THROWS_NAMING(split(x, std::vector<std::int64_t>{1, 2}), ValueError, "split");
  REQUIRE_THROWS_NAMING(split(x, std::vector<std::int64_t>{5, -1}), ValueError, "split");
  REQUIRE_THROWS_NAMING(unbind(x, 2), IndexError, "unbind");
  REQUIRE_THROWS_NAMING(unbind(Tensor::scalar(1.0f)), ShapeError, "unbind");
}

TEST_CASE("split family: int64 values beyond 2^53 survive exactly",
          "[chunk][split][unbind][dtype]") {
  using tapegrad::testing::require_moved_exactly;
  using tapegrad::testing::wide_ids;
  const Tensor ids = wide_ids({5, 3});
  const Tensor offsets = iota({5, 3});
  const auto require_all_moved = [](const std::vector<Tensor>& id_pieces,
                                    const std::vector<Tensor>& offset_pieces) {
    REQUIRE(id_pieces.size() == offset_pieces.size());
    for (std::size_t k = 0; k < id_pieces.size(); ++k) {
      require_moved_exactly(id_pieces[k], offset_pieces[k]);
    }
  };
  require_all_moved(chunk(ids, 2), chunk(offsets, 2));
  require_all_moved(chunk(ids, 2, -1), chunk(offsets, 2, -1));
  require_all_moved(split(ids, 2), split(offsets, 2));
  require_all_moved(split(ids, std::vector<std::int64_t>{1, 0, 2}, 1),
                    split(offsets, std::vector<std::int64_t>{1, 0, 2}, 1));
  require_all_moved(unbind(ids, 1), unbind(offsets, 1));
  require_all_moved(unbind(ids), unbind(offsets));
}
