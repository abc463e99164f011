#include "nn/loss.h"
#include "test_util.h"

using namespace tapegrad;

TEST_CASE("loss modules forward to the functional losses with their options", "[loss]") {
  Tensor prediction = Tensor::from_vector({1, 2, 3, 4}, {2, 2});
  Tensor target = Tensor::from_vector({1, 1, 1, 1}, {2, 2});
  REQUIRE(nn::MSELoss{}(prediction, target).item() == Approx((0 + 1 + 4 + 9) / 4.0));
  REQUIRE(nn::MSELoss{.reduction = Reduction::Sum}(prediction, target).item() == Approx(14.0));
  REQUIRE(nn::L1Loss{}(prediction, target).item() == Approx(6.0 / 4.0));
  Tensor logits = Tensor::from_vector({2.0f, -1.0f}, {2});
  Tensor labels = Tensor::from_vector({1.0f, 0.0f}, {2});
  const double expected = (std::log1p(std::exp(-2.0)) + std::log1p(std::exp(-1.0))) / 2;
  REQUIRE(nn::BCEWithLogitsLoss{}(logits, labels).item() == Approx(expected));
  Tensor class_logits = Tensor::from_vector({0, 0, 0, 5, 0, 0}, {2, 3});
  const double uniform = std::log(3.0);
  const double confident = -5.0 + std::log(std::exp(5.0) + 2.0);
  REQUIRE(nn::CrossEntropyLoss{}(class_logits, {0, 0}).item() == Approx((uniform + confident) / 2));
  REQUIRE(nn::CrossEntropyLoss{.options = {.ignore_index = 1}}(class_logits, {1, 0}).item() ==
          Approx(confident));
  REQUIRE_THROWS_AS(nn::MSELoss{}(prediction, Tensor::ones({4})), ShapeError);
}
