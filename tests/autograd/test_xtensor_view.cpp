// autograd/xtensor_view.h, the opt-in xtensor interop: views share the tensor's storage (both
// ways), from_expression evaluates any expression with its shape, assign is checked like copy_.
#include <catch2/catch.hpp>
#include <xtensor/xarray.hpp>
#include <xtensor/xbuilder.hpp>
#include <xtensor/xmath.hpp>
#include <xtensor/xview.hpp>

#include "autograd/errors.h"
#include "autograd/grad_mode.h"
#include "autograd/xtensor_view.h"
#include "ops/ops.h"

using namespace tapegrad;

TEST_CASE("xtensor_view::of is a zero-copy view: reads the tensor, and writes reach it",
          "[xtensor]") {
  Tensor t = Tensor::from_vector({1, 2, 3, 4, 5, 6}, {2, 3});
  auto view = xtensor_view::of(t);
  REQUIRE(view.shape().size() == 2);
  CHECK(view.shape()[0] == 2);
  CHECK(view.shape()[1] == 3);
  CHECK(view(1, 2) == 6.0f);
  CHECK(&view(0, 0) == t.data());  // the same storage, not a copy
  view(0, 1) = 20.0f;
  CHECK(t.at({0, 1}) == 20.0f);
  const Tensor& read_only = t;
  const auto const_view = xtensor_view::of(read_only);
  CHECK(const_view(0, 1) == 20.0f);
  // Views of an expression: a column sum evaluated by xtensor from the tensor's storage.
  const xt::xarray<float> column_sums = xt::sum(xtensor_view::of(read_only), {0});
  CHECK(column_sums(1) == 25.0f);
}

TEST_CASE("xtensor_view::from_expression: any expression's shape and values, as float",
          "[xtensor]") {
  const xt::xarray<double> source = {{1.5, -2.0}, {3.0, 4.0}, {0.25, 8.0}};
  Tensor t = xtensor_view::from_expression(2.0 * xt::transpose(source));  // lazy, non-contiguous
  CHECK(t.shape() == Shape{2, 3});
  CHECK(t.to_vector() == std::vector<float>{3, 6, 0.5f, -4, 8, 16});
  CHECK_FALSE(t.requires_grad());
  Tensor leaf = xtensor_view::from_expression(xt::arange<float>(4.0f), true);
  CHECK(leaf.requires_grad());
  CHECK(leaf.is_leaf());
  sum(mul(leaf, leaf)).backward();  // an ordinary leaf: gradients reach it
  CHECK(leaf.grad().to_vector() == std::vector<float>{0, 2, 4, 6});
  Tensor scalar = xtensor_view::from_expression(xt::xarray<float>(7.0f));
  CHECK(scalar.dim() == 0);
  CHECK(scalar.item() == 7.0f);
}

TEST_CASE("xtensor_view::assign: shape-checked, version-bumped, refused on a leaf under grad mode",
          "[xtensor]") {
  Tensor t = Tensor::zeros({2, 2});
  const auto version = t.version();
  xtensor_view::assign(t, xt::ones<float>({2, 2}) * 3.0f);
  CHECK(t.to_vector() == std::vector<float>{3, 3, 3, 3});
  CHECK(t.version() > version);  // a backward that saved t sees the write
  // The expression may read the tensor it is assigned to.
  xtensor_view::assign(t, xtensor_view::of(t) + xt::transpose(xtensor_view::of(t)));
  CHECK(t.to_vector() == std::vector<float>{6, 6, 6, 6});
  const std::vector<float> before = t.to_vector();
  CHECK_THROWS_AS(xtensor_view::assign(t, xt::ones<float>({3, 2})), ShapeError);
  CHECK(t.to_vector() == before);  // nothing half-written
  Tensor leaf = Tensor::zeros({2}, true);
  CHECK_THROWS(xtensor_view::assign(leaf, xt::ones<float>({2})));
  NoGradGuard no_grad;
  xtensor_view::assign(leaf, xt::ones<float>({2}));  // the optimizer-style update is allowed
  CHECK(leaf.to_vector() == std::vector<float>{1, 1});
}
