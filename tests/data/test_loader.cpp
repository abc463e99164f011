#include <algorithm>
#include <limits>
#include <map>
#include <numeric>

#include "data/loader.h"
#include "test_util.h"

using namespace tapegrad;
using tapegrad::data::DataLoader;
using tapegrad::data::TensorDataset;

namespace {

// X[i] = [2i, 2i+1], y[i] = i: a batch row names its sample, and X/y rows must stay paired.
TensorDataset numbered_dataset(std::int64_t samples) {
  Tensor x = Tensor::arange(0.0f, static_cast<float>(2 * samples)).view_data_as({samples, 2});
  Tensor y = Tensor::arange(0.0f, static_cast<float>(samples));
  return TensorDataset({x, y});
}

// One epoch's sample ids in visiting order, checking every row on the way.
std::vector<std::int64_t> epoch_order(DataLoader& loader) {
  std::vector<std::int64_t> order;
  for (const std::vector<Tensor>& batch : loader) {
    REQUIRE(batch.size() == 2);
    const std::int64_t rows = batch[1].shape()[0];
    REQUIRE(batch[0].shape() == Shape{rows, 2});
    for (std::int64_t r = 0; r < rows; ++r) {
      const auto id = static_cast<std::int64_t>(batch[1].at({r}));
      REQUIRE(batch[0].at({r, 0}) == static_cast<float>(2 * id));
      REQUIRE(batch[0].at({r, 1}) == static_cast<float>(2 * id + 1));
      order.push_back(id);
    }
  }
  return order;
}

std::vector<std::int64_t> iota_ids(std::int64_t count) {
  std::vector<std::int64_t> ids(static_cast<std::size_t>(count));
  std::iota(ids.begin(), ids.end(), std::int64_t{0});
  return ids;
}

}  // namespace

TEST_CASE("DataLoader without shuffle yields batches of consecutive rows", "[loader]") {
  DataLoader loader(numbered_dataset(5), {.batch_size = 2});
  REQUIRE(loader.size() == 3);
  std::vector<Shape> shapes;
  std::int64_t batches = 0;
  for (const std::vector<Tensor>& batch : loader) {
    shapes.push_back(batch[0].shape());
    REQUIRE_FALSE(batch[0].requires_grad());
    ++batches;
  }
  REQUIRE(batches == loader.size());
  REQUIRE(shapes == std::vector<Shape>{{2, 2}, {2, 2}, {1, 2}});
  REQUIRE(epoch_order(loader) == iota_ids(5));
  REQUIRE(epoch_order(loader) == iota_ids(5));  // the next epoch too
}

TEST_CASE("DataLoader batch contents equal the dataset rows", "[loader]") {
  Generator generator(3);
  Tensor x = Tensor::normal({7, 3, 2}, 0.0f, 1.0f, generator);
  TensorDataset dataset({x});
  DataLoader loader(dataset, {.batch_size = 3});
  std::int64_t next = 0;
  for (const std::vector<Tensor>& batch : loader) {
    for (std::int64_t r = 0; r < batch[0].shape()[0]; ++r, ++next) {
      const Tensor row = dataset.get(next)[0];
      for (std::int64_t a = 0; a < 3; ++a)
        for (std::int64_t b = 0; b < 2; ++b) REQUIRE(batch[0].at({r, a, b}) == row.at({a, b}));
    }
  }
  REQUIRE(next == 7);
}

TEST_CASE("DataLoader drop_last drops only a short final batch", "[loader]") {
  DataLoader short_tail(numbered_dataset(5), {.batch_size = 2, .drop_last = true});
  REQUIRE(short_tail.size() == 2);
  REQUIRE(epoch_order(short_tail) == iota_ids(4));

  DataLoader exact(numbered_dataset(6), {.batch_size = 3, .drop_last = true});
  REQUIRE(exact.size() == 2);
  REQUIRE(epoch_order(exact) == iota_ids(6));

  DataLoader too_big(numbered_dataset(3), {.batch_size = 4, .drop_last = true});
  REQUIRE(too_big.size() == 0);
  REQUIRE(epoch_order(too_big).empty());

  DataLoader one_batch(numbered_dataset(3), {.batch_size = 4});
  REQUIRE(one_batch.size() == 1);
  REQUIRE(epoch_order(one_batch) == iota_ids(3));
}

TEST_CASE("DataLoader shuffle visits every sample exactly once per epoch", "[loader]") {
  for (bool drop_last : {false, true}) {
    DataLoader loader(numbered_dataset(23), {.batch_size = 4, .shuffle = true,
                                             .drop_last = drop_last, .seed = 7});
    for (int epoch = 0; epoch < 3; ++epoch) {
      std::vector<std::int64_t> order = epoch_order(loader);
      REQUIRE(order.size() == (drop_last ? 20u : 23u));
      std::sort(order.begin(), order.end());
      REQUIRE(std::adjacent_find(order.begin(), order.end()) == order.end());
      if (!drop_last) REQUIRE(order == iota_ids(23));
    }
  }
}

TEST_CASE("DataLoader shuffle is reproducible per seed and changes every epoch", "[loader]") {
  const TensorDataset dataset = numbered_dataset(20);
  DataLoader first(dataset, {.batch_size = 3, .shuffle = true, .seed = 42});
  DataLoader again(dataset, {.batch_size = 3, .shuffle = true, .seed = 42});
  DataLoader other(dataset, {.batch_size = 3, .shuffle = true, .seed = 43});
  std::vector<std::vector<std::int64_t>> epochs;
  for (int epoch = 0; epoch < 3; ++epoch) {
    epochs.push_back(epoch_order(first));
    REQUIRE(epoch_order(again) == epochs.back());
    REQUIRE(epoch_order(other) != epochs.back());
    REQUIRE(epochs.back() != iota_ids(20));  // 1 in 20! to fail by chance
  }
  REQUIRE(epochs[0] != epochs[1]);
  REQUIRE(epochs[1] != epochs[2]);
}

TEST_CASE("DataLoader shuffle draws all permutations about equally often", "[loader]") {
  // 6000 epochs over 3 samples: each of the 6 orders expects 1000 (sd 29). A biased shuffle such
  // as swapping with any position in [0, n) gives 889 or 1111 for some orders.
  DataLoader loader(numbered_dataset(3), {.batch_size = 3, .shuffle = true, .seed = 11});
  std::map<std::vector<std::int64_t>, int> counts;
  for (int epoch = 0; epoch < 6000; ++epoch) ++counts[epoch_order(loader)];
  REQUIRE(counts.size() == 6);
  for (const auto& [order, count] : counts) {
    INFO("order " << order[0] << order[1] << order[2]);
    REQUIRE(count > 900);
    REQUIRE(count < 1100);
  }
}

TEST_CASE("DataLoader iterators cache the batch and outlive a temporary dataset", "[loader]") {
  DataLoader loader(numbered_dataset(4), {.batch_size = 2});
  auto it = loader.begin();
  const std::vector<Tensor>& batch = *it;
  REQUIRE(&*it == &batch);
  REQUIRE(it->size() == 2);
  ++it;
  REQUIRE((*it)[1].at({0}) == 2.0f);
  it++;
  REQUIRE(it == loader.end());
  REQUIRE_THROWS_AS(*it, IndexError);
}

TEST_CASE("DataLoader rejects a non-positive batch_size", "[loader][errors]") {
  REQUIRE_THROWS_AS(DataLoader(numbered_dataset(4), {.batch_size = 0}), ValueError);
  REQUIRE_THROWS_WITH(DataLoader(numbered_dataset(4), {.batch_size = 0}),
                      Catch::Contains("DataLoader") && Catch::Contains("batch_size") &&
                          Catch::Contains("0"));
  REQUIRE_THROWS_AS(DataLoader(numbered_dataset(4), {.batch_size = -2}), ValueError);
}

TEST_CASE("DataLoader takes a batch_size near INT64_MAX as one batch", "[loader][shape]") {
  // ceil(samples / batch_size) was formed as samples + batch_size - 1, which overflowed.
  const std::int64_t huge = std::numeric_limits<std::int64_t>::max();
  DataLoader loader(numbered_dataset(5), {.batch_size = huge});
  REQUIRE(loader.size() == 1);
  std::vector<Shape> shapes;
  for (const std::vector<Tensor>& batch : loader) shapes.push_back(batch[0].shape());
  REQUIRE(shapes == std::vector<Shape>{{5, 2}});
  DataLoader dropping(numbered_dataset(5), {.batch_size = huge, .drop_last = true});
  REQUIRE(dropping.size() == 0);
}
