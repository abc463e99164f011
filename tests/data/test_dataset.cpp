#include "data/dataset.h"
#include "test_util.h"

using namespace tapegrad;
using tapegrad::data::TensorDataset;

namespace {

// X[i] = [3i, 3i+1, 3i+2], y[i] = 10i: every row tells which sample it came from.
Tensor features(std::int64_t samples) {
  return Tensor::arange(0.0f, static_cast<float>(3 * samples)).view_data_as({samples, 3});
}
Tensor targets(std::int64_t samples) {
  std::vector<float> values;
  for (std::int64_t i = 0; i < samples; ++i) values.push_back(10.0f * static_cast<float>(i));
  return Tensor::from_vector(values, {samples});
}

}  // namespace

TEST_CASE("TensorDataset.get returns row i of each tensor without the first dim", "[dataset]") {
  TensorDataset dataset({features(5), targets(5)});
  REQUIRE(dataset.size() == 5);
  REQUIRE(dataset.tensors().size() == 2);
  for (std::int64_t i = 0; i < 5; ++i) {
    const std::vector<Tensor> sample = dataset.get(i);
    REQUIRE(sample.size() == 2);
    REQUIRE(sample[0].shape() == Shape{3});
    REQUIRE(sample[1].shape() == Shape{});
    const auto base = static_cast<float>(3 * i);
    REQUIRE(sample[0].to_vector() == std::vector<float>{base, base + 1, base + 2});
    REQUIRE(sample[1].item() == 10.0f * static_cast<float>(i));
    REQUIRE_FALSE(sample[0].requires_grad());
  }
}

TEST_CASE("TensorDataset keeps trailing dims and copies rows out", "[dataset]") {
  Tensor cube = Tensor::arange(0.0f, 24.0f).view_data_as({3, 2, 4});
  TensorDataset dataset({cube});
  Tensor row = dataset.get(1)[0];
  REQUIRE(row.shape() == Shape{2, 4});
  REQUIRE(row.at({1, 3}) == cube.at({1, 1, 3}));
  // A sample is a copy: writing to it leaves the dataset alone.
  row.fill_(-1.0f);
  REQUIRE(dataset.get(1)[0].at({0, 0}) == 8.0f);
  // The dataset shares its tensors, as torch's does: writes to them are visible.
  cube.data()[8] = 100.0f;
  REQUIRE(dataset.get(1)[0].at({0, 0}) == 100.0f);
}

TEST_CASE("TensorDataset.gather stacks rows in the given order", "[dataset]") {
  TensorDataset dataset({features(6), targets(6)});
  // Scattered, consecutive (one block copy) and repeated indices.
  const std::vector<std::vector<std::int64_t>> index_lists = {
      {4, 0, 2}, {1, 2, 3}, {5, 5, 0, 1}, {3}};
  for (const auto& indices : index_lists) {
    const data::Batch batch = dataset.gather(indices);
    const auto count = static_cast<std::int64_t>(indices.size());
    REQUIRE(batch[0].shape() == Shape{count, 3});
    REQUIRE(batch[1].shape() == Shape{count});
    for (std::int64_t k = 0; k < count; ++k) {
      const std::int64_t source = indices[static_cast<std::size_t>(k)];
      for (std::int64_t c = 0; c < 3; ++c) {
        REQUIRE(batch[0].at({k, c}) == static_cast<float>(3 * source + c));
      }
      REQUIRE(batch[1].at({k}) == 10.0f * static_cast<float>(source));
    }
  }
}

TEST_CASE("TensorDataset samples never require grad, even from a leaf that does", "[dataset]") {
  Tensor weights = Tensor::ones({4, 2}, /*requires_grad=*/true);
  TensorDataset dataset({weights});
  REQUIRE_FALSE(dataset.get(0)[0].requires_grad());
  REQUIRE_FALSE(dataset.gather({0, 3})[0].requires_grad());
}

TEST_CASE("TensorDataset rejects bad input with the function name", "[dataset][errors]") {
  REQUIRE_THROWS_AS(TensorDataset({}), ValueError);
  REQUIRE_THROWS_WITH(TensorDataset({}), Catch::Contains("TensorDataset") &&
                                             Catch::Contains("empty dataset"));
  REQUIRE_THROWS_AS(TensorDataset({Tensor::zeros({0, 3})}), ValueError);
  REQUIRE_THROWS_WITH(TensorDataset({Tensor::zeros({0, 3})}), Catch::Contains("empty dataset"));

  REQUIRE_THROWS_AS(TensorDataset({features(5), targets(4)}), ShapeError);
  REQUIRE_THROWS_WITH(TensorDataset({features(5), targets(4)}),
                      Catch::Contains("TensorDataset") && Catch::Contains("[5, 3]") &&
                          Catch::Contains("[4]"));
  REQUIRE_THROWS_AS(TensorDataset({Tensor::scalar(1.0f)}), ShapeError);
  REQUIRE_THROWS_AS(TensorDataset({features(2), Tensor()}), ValueError);

  TensorDataset dataset({features(5)});
  REQUIRE_THROWS_AS(dataset.get(5), IndexError);
  REQUIRE_THROWS_WITH(dataset.get(5), Catch::Contains("TensorDataset.get") &&
                                          Catch::Contains("index 5") &&
                                          Catch::Contains("size 5"));
  REQUIRE_THROWS_AS(dataset.get(-1), IndexError);
  REQUIRE_THROWS_AS(dataset.gather({0, 7}), IndexError);
  REQUIRE_THROWS_WITH(dataset.gather({0, 7}), Catch::Contains("TensorDataset.gather") &&
                                                  Catch::Contains("index 7"));
}
