#include <cmath>
#include <limits>

#include "autograd/gradcheck.h"
#include "ops/loss_fixtures.h"
#include "ops/losses.h"
#include "test_util.h"

using namespace tapegrad;
using Catch::Contains;

namespace {

CrossEntropyOptions fixture_options(const nlohmann::json& c) {
  CrossEntropyOptions options;
  options.weight = testing::fixture_tensor(c, "weight");
  options.ignore_index = c.at("ignore_index");
  options.reduction = testing::fixture_reduction(c);
  options.label_smoothing = static_cast<float>(c.at("label_smoothing").get<double>());
  return options;
}

Tensor call_cross_entropy(const nlohmann::json& c, const Tensor& logits, const Tensor&) {
  return cross_entropy(logits, c.at("target").get<std::vector<std::int64_t>>(), fixture_options(c));
}

Tensor call_nll_loss(const nlohmann::json& c, const Tensor& log_probs, const Tensor&) {
  return nll_loss(log_probs, c.at("target").get<std::vector<std::int64_t>>(), fixture_options(c));
}

bool all_zero(const Tensor& t) {
  for (std::int64_t i = 0; i < t.numel(); ++i) {
    if (t.data()[i] != 0.0f) return false;
  }
  return true;
}

}  // namespace

// ---------------------------------------------------------------- cross_entropy

TEST_CASE("cross_entropy matches PyTorch 1.13 (weight, ignore_index, label smoothing, K-dim)",
          "[cross_entropy][fixture]") {
  const int cases = testing::check_loss_fixtures("cross_entropy", call_cross_entropy);
  REQUIRE(cases >= 30);
}

TEST_CASE("cross_entropy forward by hand", "[cross_entropy]") {
  // Equal logits: the loss is log C whatever the target.
  const Tensor uniform = Tensor::zeros({2, 4});
  REQUIRE(cross_entropy(uniform, {0, 3}).item() == Approx(std::log(4.0)));
  // -log softmax(z)_y for z = [1, 2, 3], y = 0.
  const Tensor z = Tensor::from_vector({1.0f, 2.0f, 3.0f}, {3});
  const double lse = std::log(std::exp(1.0) + std::exp(2.0) + std::exp(3.0));
  REQUIRE(cross_entropy(z, {0}).item() == Approx(lse - 1.0));
  REQUIRE(cross_entropy(z, {0}, {.reduction = Reduction::None}).shape().empty());
  // Label smoothing e mixes in the mean over classes of -log p.
  const double smoothed = 0.9 * (lse - 1.0) + 0.1 / 3.0 * (3.0 * lse - 6.0);
  REQUIRE(cross_entropy(z, {0}, {.label_smoothing = 0.1f}).item() == Approx(smoothed));
}

TEST_CASE("cross_entropy mean divides by the weights of non-ignored targets", "[cross_entropy]") {
  const Tensor z = Tensor::from_vector({0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f}, {3, 2});
  const Tensor w = Tensor::from_vector({1.0f, 3.0f}, {2});
  // Every row costs w_y log 2; rows 0 and 2 count (weights 1 and 3), row 1 is ignored.
  const Tensor loss = cross_entropy(z, {0, -100, 1}, {.weight = w});
  REQUIRE(loss.item() == Approx((1.0 + 3.0) * std::log(2.0) / (1.0 + 3.0)));
  const Tensor summed = cross_entropy(z, {0, -100, 1}, {.weight = w, .reduction = Reduction::Sum});
  REQUIRE(summed.item() == Approx(4.0 * std::log(2.0)));
}

TEST_CASE("cross_entropy gradcheck", "[cross_entropy][gradcheck]") {
  Generator generator(31);
  const Tensor logits = Tensor::normal({4, 5}, 0.0f, 2.0f, generator, true);
  const Tensor w = Tensor::uniform({5}, 0.5f, 2.0f, generator);
  const std::vector<std::int64_t> target = {3, -100, 0, 4};
  for (Reduction reduction : {Reduction::None, Reduction::Mean, Reduction::Sum}) {
    for (float smoothing : {0.0f, 0.15f}) {
      REQUIRE_GRADCHECK(
          [&](const std::vector<Tensor>& in) {
            return cross_entropy(
                in[0], target, {.weight = w, .reduction = reduction, .label_smoothing = smoothing});
          },
          {logits});
    }
  }
  const Tensor unbatched = Tensor::normal({5}, 0.0f, 2.0f, generator, true);
  REQUIRE_GRADCHECK(
      [](const std::vector<Tensor>& in) {
        return cross_entropy(in[0], {2}, {.label_smoothing = 0.1f});
      },
      {unbatched});
  const Tensor spatial = Tensor::normal({2, 3, 4}, 0.0f, 2.0f, generator, true);
  const std::vector<std::int64_t> spatial_target = {0, 1, 2, 2, 1, 0, -100, 2};
  REQUIRE_GRADCHECK(
      [&](const std::vector<Tensor>& in) {
        return cross_entropy(in[0], spatial_target, {.reduction = Reduction::None});
      },
      {spatial});
}

TEST_CASE("cross_entropy at logits +-50 and +-1000 is finite", "[cross_entropy][extreme]") {
  const Tensor logits = Tensor::from_vector(
      {50.0f, -50.0f, 0.0f, 1000.0f, -1000.0f, 0.0f, -1000.0f, 1000.0f, 999.0f}, {3, 3}, true);
  const Tensor loss =
      cross_entropy(logits, {1, 1, 2}, {.reduction = Reduction::None, .label_smoothing = 0.1f});
  REQUIRE(testing::all_finite(loss));
  loss.backward(Tensor::ones({3}));
  REQUIRE(testing::all_finite(logits.grad()));
  const Tensor plain = cross_entropy(logits.detach(), {1, 1, 2}, {.reduction = Reduction::None});
  // Confidently wrong by 100 and 2000; the third row is lse - 999 = log(1 + e).
  REQUIRE_ALL_CLOSE(
      plain,
      Tensor::from_vector({100.0f, 2000.0f, static_cast<float>(std::log1p(std::exp(1.0)))}, {3}));
}

TEST_CASE("cross_entropy with every target ignored: NaN mean and zero gradients, as PyTorch",
          "[cross_entropy]") {
  const Tensor logits = Tensor::from_vector({1.0f, 2.0f, 3.0f, 4.0f}, {2, 2}, true);
  const Tensor mean = cross_entropy(logits, {-100, -100}, {.label_smoothing = 0.1f});
  REQUIRE(std::isnan(mean.item()));
  mean.backward();
  REQUIRE(all_zero(logits.grad()));
  REQUIRE(cross_entropy(logits, {-100, -100}, {.reduction = Reduction::Sum}).item() == 0.0f);
}

TEST_CASE("cross_entropy bad inputs", "[cross_entropy][errors]") {
  const Tensor logits = Tensor::zeros({3, 4});
  REQUIRE_THROWS_AS(cross_entropy(Tensor::scalar(1.0f), {0}), ShapeError);
  REQUIRE_THROWS_WITH(cross_entropy(Tensor::scalar(1.0f), {0}), Contains("cross_entropy"));
  REQUIRE_THROWS_AS(cross_entropy(Tensor(), {0}), ValueError);
  // target size
  REQUIRE_THROWS_AS(cross_entropy(logits, {0, 1}), ShapeError);
  REQUIRE_THROWS_WITH(cross_entropy(logits, {0, 1}),
                      Contains("cross_entropy") && Contains("[3, 4]") && Contains("got 2"));
  REQUIRE_THROWS_AS(cross_entropy(Tensor::zeros({4}), {0, 1}), ShapeError);
  REQUIRE_THROWS_AS(cross_entropy(Tensor::zeros({2, 4, 3}), {0, 1}), ShapeError);
  // class index out of range, naming the index and C
  REQUIRE_THROWS_AS(cross_entropy(logits, {0, 4, 1}), IndexError);
  REQUIRE_THROWS_WITH(cross_entropy(logits, {0, 4, 1}),
                      Contains("cross_entropy") && Contains("target 4") && Contains("4 classes"));
  REQUIRE_THROWS_AS(cross_entropy(logits, {0, -1, 1}), IndexError);
  REQUIRE_NOTHROW(cross_entropy(logits, {0, -1, 1}, {.ignore_index = -1}));
  // weight
  REQUIRE_THROWS_AS(cross_entropy(logits, {0, 1, 2}, {.weight = Tensor::ones({3})}), ShapeError);
  REQUIRE_THROWS_WITH(cross_entropy(logits, {0, 1, 2}, {.weight = Tensor::ones({1, 4})}),
                      Contains("cross_entropy") && Contains("weight") && Contains("[4]"));
  REQUIRE_THROWS_AS(
      cross_entropy(Tensor::zeros({3, 4}, true), {0, 1, 2}, {.weight = Tensor::ones({4}, true)}),
      ValueError);
  // label smoothing
  for (float bad : {-0.1f, 1.5f, std::numeric_limits<float>::quiet_NaN()}) {
    REQUIRE_THROWS_AS(cross_entropy(logits, {0, 1, 2}, {.label_smoothing = bad}), ValueError);
  }
  REQUIRE_THROWS_WITH(cross_entropy(logits, {0, 1, 2}, {.label_smoothing = 1.5f}),
                      Contains("cross_entropy") && Contains("label_smoothing") && Contains("1.5"));
}

// ---------------------------------------------------------------- nll_loss

TEST_CASE("nll_loss matches PyTorch 1.13", "[nll_loss][fixture]") {
  const int cases = testing::check_loss_fixtures("nll_loss", call_nll_loss);
  REQUIRE(cases >= 6);
}

TEST_CASE("nll_loss forward by hand", "[nll_loss]") {
  const Tensor log_probs = Tensor::from_vector({-1.0f, -2.0f, -0.5f, -3.0f}, {2, 2});
  REQUIRE(nll_loss(log_probs, {1, 0}).item() == Approx((2.0 + 0.5) / 2.0));
  const Tensor w = Tensor::from_vector({4.0f, 1.0f}, {2});
  REQUIRE(nll_loss(log_probs, {1, 0}, {.weight = w}).item() == Approx((2.0 + 4.0 * 0.5) / 5.0));
}

TEST_CASE("nll_loss gradcheck", "[nll_loss][gradcheck]") {
  Generator generator(32);
  const Tensor log_probs = Tensor::normal({2, 4, 3}, -1.0f, 1.0f, generator, true);
  const Tensor w = Tensor::uniform({4}, 0.5f, 2.0f, generator);
  const std::vector<std::int64_t> target = {0, 3, -100, 2, 1, 1};
  for (Reduction reduction : {Reduction::None, Reduction::Mean, Reduction::Sum}) {
    REQUIRE_GRADCHECK(
        [&](const std::vector<Tensor>& in) {
          return nll_loss(in[0], target, {.weight = w, .reduction = reduction});
        },
        {log_probs});
  }
}

TEST_CASE("nll_loss bad inputs", "[nll_loss][errors]") {
  const Tensor log_probs = Tensor::zeros({2, 3});
  REQUIRE_THROWS_AS(nll_loss(log_probs, {0, 1}, {.label_smoothing = 0.1f}), ValueError);
  REQUIRE_THROWS_WITH(nll_loss(log_probs, {0, 1}, {.label_smoothing = 0.1f}),
                      Contains("nll_loss") && Contains("label_smoothing"));
  REQUIRE_THROWS_AS(nll_loss(log_probs, {0, 3}), IndexError);
  REQUIRE_THROWS_WITH(nll_loss(log_probs, {0, 3}), Contains("nll_loss") && Contains("3 classes"));
  REQUIRE_THROWS_AS(nll_loss(log_probs, {0}), ShapeError);
  REQUIRE_THROWS_AS(nll_loss(log_probs, {0, 1}, {.weight = Tensor::ones({2})}), ShapeError);
}

// ---- int64 target tensors (issue 11): one implementation with the vector overloads

TEST_CASE("cross_entropy and nll_loss with an int64 target tensor equal the vector overloads",
          "[cross_entropy][nll_loss][dtype]") {
  Generator generator(41);
  const Tensor logits = Tensor::normal({3, 4}, 0.0f, 2.0f, generator);
  const std::vector<std::int64_t> labels = {2, -100, 0};
  const Tensor target = Tensor::from_vector_i64(labels, {3});
  for (Reduction reduction : {Reduction::None, Reduction::Mean, Reduction::Sum}) {
    const CrossEntropyOptions options{.reduction = reduction, .label_smoothing = 0.1f};
    REQUIRE_ALL_CLOSE(cross_entropy(logits, target, options),
                      cross_entropy(logits, labels, options), 0.0, 0.0);
    REQUIRE_ALL_CLOSE(nll_loss(logits, target, {.reduction = reduction}),
                      nll_loss(logits, labels, {.reduction = reduction}), 0.0, 0.0);
  }
  // [C] scores take a 0-D target; [N, C, d1] take [N, d1].
  const Tensor unbatched = Tensor::normal({4}, 0.0f, 1.0f, generator);
  REQUIRE_ALL_CLOSE(cross_entropy(unbatched, Tensor::from_vector_i64({3}, {})),
                    cross_entropy(unbatched, std::vector<std::int64_t>{3}), 0.0, 0.0);
  const Tensor spatial = Tensor::normal({2, 3, 2}, 0.0f, 1.0f, generator);
  const Tensor spatial_loss = cross_entropy(spatial, Tensor::from_vector_i64({0, 2, 1, 1}, {2, 2}),
                                            {.reduction = Reduction::None});
  REQUIRE(spatial_loss.shape() == Shape{2, 2});
  REQUIRE_ALL_CLOSE(spatial_loss,
                    cross_entropy(spatial, std::vector<std::int64_t>{0, 2, 1, 1},
                                  {.reduction = Reduction::None}),
                    0.0, 0.0);
}

TEST_CASE("cross_entropy and nll_loss with an int64 target tensor: gradcheck",
          "[cross_entropy][nll_loss][dtype][gradcheck]") {
  Generator generator(42);
  const Tensor logits = Tensor::normal({4, 5}, 0.0f, 2.0f, generator, true);
  const Tensor w = Tensor::uniform({5}, 0.5f, 2.0f, generator);
  const Tensor target = Tensor::from_vector_i64({3, -100, 0, 4}, {4});
  REQUIRE_GRADCHECK(
      [&](const std::vector<Tensor>& in) {
        return cross_entropy(in[0], target, {.weight = w, .label_smoothing = 0.15f});
      },
      {logits});
  const Tensor spatial = Tensor::normal({2, 5, 3}, -1.0f, 1.0f, generator, true);
  const Tensor spatial_target = Tensor::from_vector_i64({0, 3, -100, 2, 1, 4}, {2, 3});
  REQUIRE_GRADCHECK(
      [&](const std::vector<Tensor>& in) {
        return nll_loss(in[0], spatial_target, {.weight = w, .reduction = Reduction::Sum});
      },
      {spatial});
}

TEST_CASE("cross_entropy and nll_loss with a target tensor: bad inputs",
          "[cross_entropy][nll_loss][dtype][errors]") {
  const Tensor logits = Tensor::zeros({2, 3});
  const Tensor float_target = Tensor::from_vector({0, 1}, {2});
  // A float target, as PyTorch's "expected scalar type Long but found Float".
  REQUIRE_THROWS_AS(cross_entropy(logits, float_target), TypeError);
  REQUIRE_THROWS_WITH(cross_entropy(logits, float_target),
                      Contains("cross_entropy: expected target to be int64, got float32"));
  REQUIRE_THROWS_AS(nll_loss(logits, float_target), TypeError);
  // Shapes name both.
  REQUIRE_THROWS_MATCHES(cross_entropy(logits, Tensor::from_vector_i64({0, 1}, {2, 1})),
                         ShapeError,
                         Catch::Message("cross_entropy: logits of shape [2, 3] need a target of "
                                        "shape [2], got shape [2, 1]"));
  REQUIRE_THROWS_MATCHES(nll_loss(Tensor::zeros({3}), Tensor::from_vector_i64({0}, {1})),
                         ShapeError,
                         Catch::Message("nll_loss: log_probs of shape [3] need a target of "
                                        "shape [], got shape [1]"));
  REQUIRE_THROWS_AS(cross_entropy(Tensor::zeros({2, 3, 4}), Tensor::from_vector_i64({0, 1}, {2})),
                    ShapeError);
  // Values out of range: the same IndexError as the vector overload.
  const Tensor out_of_range = Tensor::from_vector_i64({0, 3}, {2});
  REQUIRE_THROWS_AS(cross_entropy(logits, out_of_range), IndexError);
  REQUIRE_THROWS_WITH(cross_entropy(logits, out_of_range),
                      Contains("cross_entropy: target 3 at position 1 is out of range for 3 "
                               "classes"));
  REQUIRE_THROWS_AS(cross_entropy(logits, Tensor()), ValueError);
  // int64 scores are refused before the target is looked at.
  REQUIRE_THROWS_WITH(cross_entropy(Tensor::zeros({2, 3}, Dtype::int64),
                                    Tensor::from_vector_i64({0, 1}, {2})),
                      Contains("cross_entropy: expected logits to be float32, got int64"));
}
