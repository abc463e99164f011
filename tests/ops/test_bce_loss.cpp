#include <cmath>
#include <limits>

#include "autograd/grad_mode.h"
#include "autograd/gradcheck.h"
#include "ops/loss_fixtures.h"
#include "ops/losses.h"
#include "test_util.h"

using namespace tapegrad;
using Catch::Contains;

namespace {

Tensor call_bce(const nlohmann::json& c, const Tensor& input, const Tensor& target) {
  return binary_cross_entropy(input, target, testing::fixture_tensor(c, "weight"),
                              testing::fixture_reduction(c));
}

Tensor call_bce_logits(const nlohmann::json& c, const Tensor& input, const Tensor& target) {
  return binary_cross_entropy_with_logits(input, target, testing::fixture_tensor(c, "weight"),
                                          testing::fixture_tensor(c, "pos_weight"),
                                          testing::fixture_reduction(c));
}

}  // namespace

// ---------------------------------------------------------------- binary_cross_entropy

TEST_CASE("binary_cross_entropy matches PyTorch 1.13 (weights, 0/1 clamps)", "[bce][fixture]") {
  const int cases = testing::check_loss_fixtures("binary_cross_entropy", call_bce);
  REQUIRE(cases >= 10);
}

TEST_CASE("binary_cross_entropy forward by hand", "[bce]") {
  const Tensor x = Tensor::from_vector({0.8f, 0.25f}, {2});
  const Tensor t = Tensor::from_vector({1.0f, 0.0f}, {2});
  const Tensor w = Tensor::from_vector({2.0f, 1.0f}, {2});
  REQUIRE(binary_cross_entropy(x, t).item() == Approx(-(std::log(0.8) + std::log(0.75)) / 2.0));
  REQUIRE(binary_cross_entropy(x, t, w, Reduction::Sum).item() ==
          Approx(-(2.0 * std::log(0.8) + std::log(0.75))));
}

TEST_CASE("binary_cross_entropy gradcheck w.r.t. input and target", "[bce][gradcheck]") {
  Generator generator(21);
  const Tensor x = Tensor::uniform({4, 3}, 0.1f, 0.9f, generator, true);
  const Tensor t = Tensor::uniform({4, 3}, 0.0f, 1.0f, generator, true);
  const Tensor w = Tensor::uniform({3}, 0.5f, 2.0f, generator);
  for (Reduction reduction : {Reduction::None, Reduction::Mean, Reduction::Sum}) {
    REQUIRE_GRADCHECK(
        [&w, reduction](const std::vector<Tensor>& in) {
          return binary_cross_entropy(in[0], in[1], w, reduction);
        },
        {x, t});
  }
}

TEST_CASE("binary_cross_entropy at probabilities 0 and 1 stays finite", "[bce][extreme]") {
  const Tensor x = Tensor::from_vector({0.0f, 1.0f, 0.0f, 1.0f}, {4}, true);
  const Tensor t = Tensor::from_vector({0.0f, 1.0f, 1.0f, 0.0f}, {4}, true);
  const Tensor loss = binary_cross_entropy(x, t, {}, Reduction::None);
  // log(0) is clamped to -100: a confident wrong answer costs exactly 100.
  REQUIRE_ALL_CLOSE(loss, Tensor::from_vector({0.0f, 0.0f, 100.0f, 100.0f}, {4}));
  loss.backward(Tensor::ones({4}));
  REQUIRE(testing::all_finite(x.grad()));
  REQUIRE(testing::all_finite(t.grad()));  // clamped logs: +-100, where PyTorch gives +-inf
  REQUIRE(t.grad().data()[2] == Approx(100.0f));
}

TEST_CASE("binary_cross_entropy bad inputs", "[bce][errors]") {
  const Tensor t = Tensor::zeros({2, 3});
  Tensor x = Tensor::full({2, 3}, 0.5f);
  x.data()[5] = 1.5f;
  REQUIRE_THROWS_AS(binary_cross_entropy(x, t), ValueError);
  REQUIRE_THROWS_WITH(binary_cross_entropy(x, t),
                      Contains("binary_cross_entropy") && Contains("1.5") && Contains("[1, 2]"));
  x.data()[5] = 0.5f;
  x.data()[1] = std::numeric_limits<float>::quiet_NaN();
  REQUIRE_THROWS_WITH(binary_cross_entropy(x, t), Contains("nan") && Contains("[0, 1]"));
  x.data()[1] = -0.25f;
  REQUIRE_THROWS_AS(binary_cross_entropy(x, t), ValueError);
  x.data()[1] = 0.5f;

  REQUIRE_THROWS_AS(binary_cross_entropy(x, Tensor::zeros({6})), ShapeError);
  REQUIRE_THROWS_WITH(binary_cross_entropy(x, Tensor::zeros({6})),
                      Contains("binary_cross_entropy") && Contains("[2, 3]") && Contains("[6]"));
  // weight must broadcast to the input's shape without growing it
  REQUIRE_THROWS_AS(binary_cross_entropy(x, t, Tensor::ones({2})), ShapeError);
  REQUIRE_THROWS_AS(binary_cross_entropy(x, t, Tensor::ones({4, 2, 3})), ShapeError);
  REQUIRE_THROWS_WITH(binary_cross_entropy(x, t, Tensor::ones({4, 2, 3})),
                      Contains("binary_cross_entropy") && Contains("weight"));
  REQUIRE_NOTHROW(binary_cross_entropy(x, t, Tensor::ones({2, 1})));
}

TEST_CASE("binary_cross_entropy refuses a weight that requires grad, as PyTorch", "[bce][errors]") {
  const Tensor x = Tensor::full({3}, 0.5f, true);
  const Tensor t = Tensor::zeros({3});
  const Tensor w = Tensor::ones({3}, true);
  REQUIRE_THROWS_AS(binary_cross_entropy(x, t, w), ValueError);
  REQUIRE_THROWS_WITH(binary_cross_entropy(x, t, w),
                      Contains("binary_cross_entropy") && Contains("weight"));
  NoGradGuard no_grad;  // nothing is recorded, so nothing to refuse
  REQUIRE_NOTHROW(binary_cross_entropy(x, t, w));
}

// ---------------------------------------------------------------- binary_cross_entropy_with_logits

TEST_CASE("binary_cross_entropy_with_logits matches PyTorch 1.13 (weight, pos_weight, +-1000)",
          "[bce_logits][fixture]") {
  const int cases =
      testing::check_loss_fixtures("binary_cross_entropy_with_logits", call_bce_logits);
  REQUIRE(cases >= 10);
}

TEST_CASE("binary_cross_entropy_with_logits forward by hand", "[bce_logits]") {
  const Tensor x = Tensor::from_vector({2.0f, -1.0f}, {2});
  const Tensor t = Tensor::from_vector({1.0f, 0.0f}, {2});
  const Tensor pos_weight = Tensor::from_vector({3.0f, 3.0f}, {2});
  auto log_sigmoid = [](double z) { return -std::log1p(std::exp(-z)); };
  // -(p t log sigmoid(x) + (1 - t) log(1 - sigmoid(x))), with 1 - sigmoid(x) = sigmoid(-x)
  REQUIRE(binary_cross_entropy_with_logits(x, t, {}, pos_weight, Reduction::Sum).item() ==
          Approx(-(3.0 * log_sigmoid(2.0) + log_sigmoid(1.0))));
}

TEST_CASE("binary_cross_entropy_with_logits gradcheck w.r.t. input and target",
          "[bce_logits][gradcheck]") {
  Generator generator(22);
  const Tensor x = Tensor::normal({4, 3}, 0.0f, 2.0f, generator, true);
  const Tensor t = Tensor::uniform({4, 3}, 0.0f, 1.0f, generator, true);
  const Tensor w = Tensor::uniform({4, 1}, 0.5f, 2.0f, generator);
  const Tensor pos_weight = Tensor::uniform({3}, 0.5f, 4.0f, generator);
  for (Reduction reduction : {Reduction::None, Reduction::Mean, Reduction::Sum}) {
    REQUIRE_GRADCHECK(
        [&](const std::vector<Tensor>& in) {
          return binary_cross_entropy_with_logits(in[0], in[1], w, pos_weight, reduction);
        },
        {x, t});
  }
  REQUIRE_GRADCHECK(
      [](const std::vector<Tensor>& in) { return binary_cross_entropy_with_logits(in[0], in[1]); },
      {x, t});
}

TEST_CASE("binary_cross_entropy_with_logits at +-50 and +-1000 is finite",
          "[bce_logits][extreme]") {
  const Tensor x =
      Tensor::from_vector({50.0f, -50.0f, 1000.0f, -1000.0f, 50.0f, -1000.0f}, {6}, true);
  const Tensor t = Tensor::from_vector({1.0f, 0.0f, 0.0f, 1.0f, 0.0f, 0.0f}, {6}, true);
  const Tensor pos_weight = Tensor::full({6}, 2.0f);
  const Tensor loss = binary_cross_entropy_with_logits(x, t, {}, pos_weight, Reduction::None);
  REQUIRE(testing::all_finite(loss));
  // Confidently wrong costs |x| (times pos_weight for a missed positive); right costs ~0.
  REQUIRE_ALL_CLOSE(loss, Tensor::from_vector({0.0f, 0.0f, 1000.0f, 2000.0f, 50.0f, 0.0f}, {6}));
  loss.backward(Tensor::ones({6}));
  REQUIRE(testing::all_finite(x.grad()));
  REQUIRE(testing::all_finite(t.grad()));
  REQUIRE_ALL_CLOSE(x.grad(), Tensor::from_vector({0.0f, 0.0f, 1.0f, -2.0f, 1.0f, 0.0f}, {6}));
}

TEST_CASE("binary_cross_entropy_with_logits bad inputs", "[bce_logits][errors]") {
  const Tensor x = Tensor::zeros({4, 3}, true);
  const Tensor t = Tensor::zeros({4, 3});
  REQUIRE_THROWS_AS(binary_cross_entropy_with_logits(x, Tensor::zeros({4})), ShapeError);
  REQUIRE_THROWS_WITH(
      binary_cross_entropy_with_logits(Tensor::zeros({4, 1}), Tensor::zeros({4})),
      Contains("binary_cross_entropy_with_logits") && Contains("[4, 1]") && Contains("[4]"));
  REQUIRE_THROWS_AS(binary_cross_entropy_with_logits(x, t, {}, Tensor::ones({4})), ShapeError);
  REQUIRE_THROWS_WITH(binary_cross_entropy_with_logits(x, t, {}, Tensor::ones({4})),
                      Contains("binary_cross_entropy_with_logits") && Contains("pos_weight"));
  REQUIRE_THROWS_AS(binary_cross_entropy_with_logits(x, t, Tensor::ones({2, 4, 3})), ShapeError);
  REQUIRE_THROWS_AS(binary_cross_entropy_with_logits(x, t, Tensor::ones({3}, true)), ValueError);
  REQUIRE_THROWS_WITH(binary_cross_entropy_with_logits(x, t, {}, Tensor::ones({3}, true)),
                      Contains("binary_cross_entropy_with_logits") && Contains("pos_weight"));
}
