#include "autograd/gradcheck.h"
#include "ops/loss_fixtures.h"
#include "ops/losses.h"
#include "test_util.h"

using namespace tapegrad;
using Catch::Contains;

namespace {
Tensor call_l1(const nlohmann::json& c, const Tensor& input, const Tensor& target) {
  return l1_loss(input, target, testing::fixture_reduction(c));
}
}  // namespace

TEST_CASE("l1_loss matches PyTorch 1.13 values and gradients", "[l1_loss][fixture]") {
  const int cases = testing::check_loss_fixtures("l1_loss", call_l1);
  REQUIRE(cases >= 4);
}

TEST_CASE("l1_loss forward by hand, and zero gradient at a tie", "[l1_loss]") {
  const Tensor x = Tensor::from_vector({1.0f, -2.0f, 3.0f, 0.5f}, {2, 2}, true);
  const Tensor t = Tensor::from_vector({0.0f, 0.0f, 1.0f, 0.5f}, {2, 2});
  REQUIRE(l1_loss(x, t, Reduction::Sum).item() == Approx(5.0));
  const Tensor loss = l1_loss(x, t);
  REQUIRE(loss.item() == Approx(5.0 / 4.0));
  loss.backward();
  REQUIRE_ALL_CLOSE(x.grad(), Tensor::from_vector({0.25f, -0.25f, 0.25f, 0.0f}, {2, 2}));
}

TEST_CASE("l1_loss gradcheck w.r.t. input and target", "[l1_loss][gradcheck]") {
  // Keep every |x - t| >= 0.1, away from the kink at x == t.
  Generator generator(12);
  const Tensor x = Tensor::uniform({3, 4}, -1.0f, 1.0f, generator, true);
  Tensor t = Tensor::zeros({3, 4});
  for (std::int64_t i = 0; i < t.numel(); ++i) {
    const float offset = generator.uniform(0.1f, 1.0f);
    t.data()[i] = x.data()[i] + (generator.uniform() < 0.5f ? -offset : offset);
  }
  t.requires_grad_();
  for (Reduction reduction : {Reduction::None, Reduction::Mean, Reduction::Sum}) {
    REQUIRE_GRADCHECK(
        [reduction](const std::vector<Tensor>& in) { return l1_loss(in[0], in[1], reduction); },
        {x, t});
  }
}

TEST_CASE("l1_loss rejects mismatched shapes instead of broadcasting", "[l1_loss][errors]") {
  REQUIRE_THROWS_AS(l1_loss(Tensor::zeros({4}), Tensor::zeros({4, 1})), ShapeError);
  REQUIRE_THROWS_WITH(l1_loss(Tensor::zeros({4}), Tensor::zeros({4, 1})),
                      Contains("l1_loss") && Contains("[4]") && Contains("[4, 1]"));
  REQUIRE_THROWS_AS(l1_loss(Tensor::zeros({4}), Tensor()), ValueError);
}
