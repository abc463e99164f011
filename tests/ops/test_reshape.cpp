#include <catch2/catch.hpp>

#include "autograd/grad_mode.h"
#include "ops/ops.h"
#include "ops/shape_test_util.h"

using namespace tapegrad;
using tapegrad::testing::iota;
using tapegrad::testing::random_input;

TEST_CASE("reshape and view: shapes, -1 inference, row-major values", "[reshape][view]") {
  const Tensor x = iota({2, 3, 4});
  const Tensor y = reshape(x, {4, -1});
  REQUIRE(y.shape() == Shape{4, 6});
  REQUIRE(y.to_vector() == x.to_vector());
  REQUIRE(view(x, {-1}).shape() == Shape{24});
  REQUIRE(view(x, {2, -1, 2}).shape() == Shape{2, 6, 2});
  REQUIRE(reshape(Tensor::scalar(4.0f), {1, 1}).shape() == Shape{1, 1});
  REQUIRE(reshape(Tensor::zeros({0, 3}), {3, 0}).shape() == Shape{3, 0});
  REQUIRE(reshape(Tensor::zeros({0, 3}), {-1, 3}).shape() == Shape{0, 3});
}

TEST_CASE("view, squeeze, unsqueeze share storage, reshape and flatten copy", "[reshape][view]") {
  Tensor x = iota({2, 3});
  const Tensor viewed = view(x, {3, 2});
  const Tensor squeezed = squeeze(unsqueeze(x, 0), 0);
  const Tensor reshaped = reshape(x, {3, 2});
  const Tensor flattened = flatten(x);
  x.fill_(-1.0f);
  REQUIRE(viewed.at({2, 1}) == -1.0f);
  REQUIRE(squeezed.at({1, 2}) == -1.0f);
  REQUIRE(viewed.version() == x.version());  // in-place writes are seen by saved-tensor checks
  REQUIRE(reshaped.at({2, 1}) == 5.0f);
  REQUIRE(flattened.at({5}) == 5.0f);
}

TEST_CASE("flatten, squeeze, unsqueeze: shapes", "[flatten][squeeze][unsqueeze]") {
  const Tensor x = iota({2, 3, 4});
  REQUIRE(flatten(x).shape() == Shape{24});
  REQUIRE(flatten(x, 1).shape() == Shape{2, 12});
  REQUIRE(flatten(x, 0, 1).shape() == Shape{6, 4});
  REQUIRE(flatten(x, -2, -1).shape() == Shape{2, 12});
  REQUIRE(flatten(x, 1, 1).shape() == Shape{2, 3, 4});
  REQUIRE(flatten(Tensor::scalar(1.0f)).shape() == Shape{1});
  REQUIRE(flatten(x, 1).to_vector() == x.to_vector());

  const Tensor s = iota({2, 1, 3});
  REQUIRE(squeeze(s, 1).shape() == Shape{2, 3});
  REQUIRE(squeeze(s, -2).shape() == Shape{2, 3});
  REQUIRE(squeeze(s, 0).shape() == Shape{2, 1, 3});  // extent 2: a no-op, as PyTorch
  REQUIRE(squeeze(s, 1).to_vector() == s.to_vector());
  REQUIRE(squeeze(Tensor::scalar(1.0f), 0).shape() == Shape{});

  const Tensor u = iota({2, 3});
  REQUIRE(unsqueeze(u, 0).shape() == Shape{1, 2, 3});
  REQUIRE(unsqueeze(u, 1).shape() == Shape{2, 1, 3});
  REQUIRE(unsqueeze(u, 2).shape() == Shape{2, 3, 1});
  REQUIRE(unsqueeze(u, -1).shape() == Shape{2, 3, 1});
  REQUIRE(unsqueeze(u, -3).shape() == Shape{1, 2, 3});
  REQUIRE(unsqueeze(Tensor::scalar(1.0f), 0).shape() == Shape{1});
  REQUIRE(unsqueeze(u, 1).to_vector() == u.to_vector());
}

TEST_CASE("reshape family: gradcheck", "[reshape][view][flatten][squeeze][unsqueeze][gradcheck]") {
  const Tensor x = random_input({2, 3, 4});
  REQUIRE_GRADCHECK([](const std::vector<Tensor>& in) { return reshape(in[0], {4, -1}); }, {x});
  REQUIRE_GRADCHECK([](const std::vector<Tensor>& in) { return view(in[0], {6, 4}); }, {x});
  REQUIRE_GRADCHECK([](const std::vector<Tensor>& in) { return flatten(in[0], 0, 1); }, {x});
  REQUIRE_GRADCHECK([](const std::vector<Tensor>& in) { return flatten(in[0], -2); }, {x});
  const Tensor s = random_input({3, 1, 4});
  REQUIRE_GRADCHECK([](const std::vector<Tensor>& in) { return squeeze(in[0], -2); }, {s});
  REQUIRE_GRADCHECK([](const std::vector<Tensor>& in) { return unsqueeze(in[0], 0); }, {s});
  REQUIRE_GRADCHECK([](const std::vector<Tensor>& in) { return unsqueeze(in[0], -1); }, {s});
}

TEST_CASE("view: backward reads the gradient with the input's shape", "[view]") {
  Tensor x = iota({2, 3}, true);
  view(x, {3, 2}).backward(iota({3, 2}));
  REQUIRE_ALL_CLOSE(x.grad(), iota({2, 3}));
  Tensor y = iota({2, 3}, true);
  unsqueeze(y, 1).backward(iota({2, 1, 3}));
  REQUIRE_ALL_CLOSE(y.grad(), iota({2, 3}));
}

TEST_CASE("reshape family: bad inputs", "[reshape][view][flatten][squeeze][unsqueeze][errors]") {
  const Tensor x = iota({2, 3, 4});
  REQUIRE_THROWS_NAMING(reshape(x, {-1, -1}), ValueError, "reshape");
  REQUIRE_THROWS_NAMING(reshape(x, {5, 5}), ShapeError, "reshape");
  REQUIRE_THROWS_NAMING(reshape(x, {5, -1}), ShapeError, "reshape");
  REQUIRE_THROWS_NAMING(reshape(x, {-2, 12}), ValueError, "reshape");
  REQUIRE_THROWS_NAMING(reshape(Tensor::zeros({0, 3}), {0, -1}), ShapeError, "reshape");
  REQUIRE_THROWS_NAMING(view(x, {7, -1}), ShapeError, "view");
  REQUIRE_THROWS_NAMING(view(x, {-1, 2, -1}), ValueError, "view");
  REQUIRE_THROWS_NAMING(flatten(x, 2, 1), ValueError, "flatten");
  REQUIRE_THROWS_NAMING(flatten(x, 0, 3), IndexError, "flatten");
  REQUIRE_THROWS_NAMING(squeeze(x, 3), IndexError, "squeeze");
  REQUIRE_THROWS_NAMING(unsqueeze(x, 4), IndexError, "unsqueeze");
  REQUIRE_THROWS_NAMING(unsqueeze(x, -5), IndexError, "unsqueeze");
}

TEST_CASE("reshape family: int64 values beyond 2^53 survive exactly",
          "[reshape][view][flatten][squeeze][unsqueeze][dtype]") {
  using tapegrad::testing::require_moved_exactly;
  using tapegrad::testing::wide_ids;
  const Tensor ids = wide_ids({2, 3, 2});
  const Tensor offsets = iota({2, 3, 2});
  require_moved_exactly(reshape(ids, {3, -1}), reshape(offsets, {3, -1}));
  require_moved_exactly(view(ids, {-1}), view(offsets, {-1}));
  require_moved_exactly(flatten(ids, 1), flatten(offsets, 1));
  require_moved_exactly(squeeze(view(ids, {1, 12}), 0), squeeze(view(offsets, {1, 12}), 0));
  require_moved_exactly(unsqueeze(ids, -1), unsqueeze(offsets, -1));
  require_moved_exactly(flatten(wide_ids({})), flatten(iota({})));
  // The same sharing as float: view, squeeze and unsqueeze alias the storage, reshape copies.
  REQUIRE(view(ids, {12}).data_ptr() == ids.data_ptr());
  REQUIRE(unsqueeze(ids, 0).data_ptr() == ids.data_ptr());
  REQUIRE(reshape(ids, {12}).data_ptr() != ids.data_ptr());
  // Also under grad mode with float inputs elsewhere recording: no node for an int64 result.
  const Tensor weight = random_input({2, 3});
  const Tensor recorded = reshape(weight, {3, 2});
  REQUIRE(recorded.grad_fn() != nullptr);
  REQUIRE(reshape(ids, {12}).grad_fn() == nullptr);
}
