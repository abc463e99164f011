#include <cmath>

#include "autograd/gradcheck.h"
#include "ops/loss_fixtures.h"
#include "ops/losses.h"
#include "test_util.h"

using namespace tapegrad;
using Catch::Contains;

namespace {
Tensor call_mse(const nlohmann::json& c, const Tensor& input, const Tensor& target) {
  return mse_loss(input, target, testing::fixture_reduction(c));
}
}  // namespace

TEST_CASE("mse_loss matches PyTorch 1.13 values and gradients", "[mse_loss][fixture]") {
  const int cases = testing::check_loss_fixtures("mse_loss", call_mse);
  REQUIRE(cases >= 4);
}

TEST_CASE("mse_loss forward by hand", "[mse_loss]") {
  const Tensor x = Tensor::from_vector({1.0f, -2.0f, 3.0f}, {3});
  const Tensor t = Tensor::from_vector({0.0f, 0.0f, 1.0f}, {3});
  REQUIRE(mse_loss(x, t).item() == Approx((1.0 + 4.0 + 4.0) / 3.0));
  REQUIRE(mse_loss(x, t, Reduction::Sum).item() == Approx(9.0));
  REQUIRE_ALL_CLOSE(mse_loss(x, t, Reduction::None), Tensor::from_vector({1.0f, 4.0f, 4.0f}, {3}));
  REQUIRE(mse_loss(x, t).shape().empty());
}

TEST_CASE("mse_loss gradcheck w.r.t. input and target", "[mse_loss][gradcheck]") {
  Generator generator(11);
  const Tensor x = Tensor::normal({3, 4}, 0.0f, 1.0f, generator, true);
  const Tensor t = Tensor::normal({3, 4}, 0.0f, 1.0f, generator, true);
  for (Reduction reduction : {Reduction::None, Reduction::Mean, Reduction::Sum}) {
    REQUIRE_GRADCHECK(
        [reduction](const std::vector<Tensor>& in) { return mse_loss(in[0], in[1], reduction); },
        {x, t});
  }
}

TEST_CASE("mse_loss rejects mismatched shapes instead of broadcasting", "[mse_loss][errors]") {
  const Tensor predictions = Tensor::zeros({3, 1});
  const Tensor target = Tensor::zeros({3});
  REQUIRE_THROWS_AS(mse_loss(predictions, target), ShapeError);
  REQUIRE_THROWS_WITH(mse_loss(predictions, target),
                      Contains("mse_loss") && Contains("[3, 1]") && Contains("[3]"));
  REQUIRE_THROWS_AS(mse_loss(Tensor(), target), ValueError);
  REQUIRE_THROWS_WITH(mse_loss(target, Tensor()), Contains("mse_loss"));
}

TEST_CASE("mse_loss mean of an empty tensor is NaN, as PyTorch", "[mse_loss]") {
  const Tensor empty = Tensor::zeros({0});
  REQUIRE(std::isnan(mse_loss(empty, empty).item()));
  REQUIRE(mse_loss(empty, empty, Reduction::Sum).item() == 0.0f);
}
