// DistributedSampler against the shards PyTorch's DistributedSampler gives (tests/fixtures/
// sampler.json, from make_sampler_fixtures.py), its shuffle, its equal shard lengths (what keeps
// the ranks of a data-parallel job in step), and DataLoader driven by a sampler.
#include <algorithm>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <numeric>
#include <set>

#include "data/loader.h"
#include "data/sampler.h"
#include "test_util.h"

using namespace tapegrad;
using tapegrad::data::DataLoader;
using tapegrad::data::DistributedSampler;
using tapegrad::data::DistributedSamplerOptions;

namespace {

std::vector<std::vector<std::int64_t>> all_shards(std::int64_t size, std::int64_t replicas,
                                                  DistributedSamplerOptions options,
                                                  std::int64_t epoch = 0) {
  std::vector<std::vector<std::int64_t>> shards;
  for (std::int64_t rank = 0; rank < replicas; ++rank) {
    options.num_replicas = replicas;
    options.rank = rank;
    DistributedSampler sampler(size, options);
    sampler.set_epoch(epoch);
    shards.push_back(sampler.indices());
    REQUIRE(static_cast<std::int64_t>(shards.back().size()) == sampler.size());
  }
  return shards;
}

// X[i] = [i], y[i] = i.
data::TensorDataset numbered_dataset(std::int64_t samples) {
  return data::TensorDataset({Tensor::arange(0.0f, static_cast<float>(samples)).view_data_as({samples, 1}),
                              Tensor::arange(0.0f, static_cast<float>(samples))});
}

}  // namespace

TEST_CASE("DistributedSampler without shuffle gives PyTorch's shards, padded or cut",
          "[sampler][fixture]") {
  std::ifstream in(TAPEGRAD_FIXTURE_DIR "/sampler.json");
  REQUIRE(in);
  const nlohmann::json fixture = nlohmann::json::parse(in);
  REQUIRE(fixture.at("cases").size() >= 16);
  for (const auto& c : fixture.at("cases")) {
    const std::int64_t size = c.at("dataset_size");
    const std::int64_t replicas = c.at("num_replicas");
    const bool drop_last = c.at("drop_last");
    INFO("dataset " << size << ", " << replicas << " replicas, drop_last " << drop_last);
    const auto expected = c.at("shards").get<std::vector<std::vector<std::int64_t>>>();
    REQUIRE(all_shards(size, replicas, {.shuffle = false, .drop_last = drop_last}) == expected);
  }
}

TEST_CASE("DistributedSampler shards one seeded permutation per epoch, the same on every rank",
          "[sampler]") {
  const std::int64_t size = 23, replicas = 4;
  const DistributedSamplerOptions options{.shuffle = true, .seed = 7, .drop_last = false};
  const auto epoch0 = all_shards(size, replicas, options, 0);
  const auto epoch1 = all_shards(size, replicas, options, 1);
  REQUIRE(epoch0 != epoch1);
  REQUIRE(all_shards(size, replicas, options, 1) == epoch1);  // a rerun of epoch 1
  REQUIRE(all_shards(size, replicas, {.shuffle = true, .seed = 8}, 0) != epoch0);

  for (const auto& shards : {epoch0, epoch1}) {
    // Interleaving the shards back gives the padded permutation: 23 distinct rows, then the
    // first one again (24 = 6 x 4 positions).
    std::vector<std::int64_t> order;
    for (std::size_t k = 0; k < shards[0].size(); ++k) {
      for (const auto& shard : shards) order.push_back(shard[k]);
    }
    REQUIRE(order.size() == 24);
    std::vector<std::int64_t> first(order.begin(), order.begin() + size);
    std::sort(first.begin(), first.end());
    std::vector<std::int64_t> rows(static_cast<std::size_t>(size));
    std::iota(rows.begin(), rows.end(), std::int64_t{0});
    REQUIRE(first == rows);
    REQUIRE(order[23] == order[0]);
    REQUIRE(order != [&] {
      std::vector<std::int64_t> unshuffled(rows);
      unshuffled.push_back(0);
      return unshuffled;
    }());
  }

  // drop_last: disjoint shards, 5 rows each, 3 rows of the permutation left out.
  const auto cut = all_shards(size, replicas, {.shuffle = true, .seed = 7, .drop_last = true}, 0);
  std::set<std::int64_t> seen;
  for (const auto& shard : cut) {
    REQUIRE(shard.size() == 5);
    seen.insert(shard.begin(), shard.end());
  }
  REQUIRE(seen.size() == 20);
}

TEST_CASE("DistributedSampler gives every rank the same number of batches, so none runs out first",
          "[sampler]") {
  for (std::int64_t size = 1; size <= 40; ++size) {
    for (std::int64_t replicas = 1; replicas <= 6; ++replicas) {
      for (bool drop_last : {false, true}) {
        for (std::int64_t batch_size : {1, 3, 4}) {
          std::set<std::int64_t> batch_counts;
          for (std::int64_t rank = 0; rank < replicas; ++rank) {
            auto sampler = std::make_shared<DistributedSampler>(
                size, DistributedSamplerOptions{.num_replicas = replicas, .rank = rank,
                                                .seed = 1, .drop_last = drop_last});
            DataLoader loader(numbered_dataset(size), sampler, {.batch_size = batch_size});
            std::int64_t batches = 0;
            for (const data::Batch& batch : loader) {
              REQUIRE(batch[0].shape()[0] >= 1);
              ++batches;
            }
            REQUIRE(batches == loader.size());
            batch_counts.insert(batches);
          }
          INFO(size << " rows, " << replicas << " replicas, drop_last " << drop_last
                    << ", batch " << batch_size);
          REQUIRE(batch_counts.size() == 1);
        }
      }
    }
  }
}

TEST_CASE("DataLoader with a sampler batches the sampler's rows in its order, per epoch",
          "[sampler][loader]") {
  auto sampler = std::make_shared<DistributedSampler>(
      10, DistributedSamplerOptions{.num_replicas = 3, .rank = 1, .seed = 3});
  DataLoader loader(numbered_dataset(10), sampler, {.batch_size = 2});
  REQUIRE(loader.num_samples() == 4);
  REQUIRE(loader.size() == 2);
  for (std::int64_t epoch : {0, 1}) {
    sampler->set_epoch(epoch);
    std::vector<std::int64_t> visited;
    for (const data::Batch& batch : loader) {
      for (std::int64_t r = 0; r < batch[1].shape()[0]; ++r) {
        REQUIRE(batch[0].at({r, 0}) == batch[1].at({r}));  // rows stay paired
        visited.push_back(static_cast<std::int64_t>(batch[1].at({r})));
      }
    }
    REQUIRE(visited == sampler->indices());
  }
}

TEST_CASE("DistributedSampler and DataLoader refuse bad arguments", "[sampler][errors]") {
  using Catch::Matchers::Contains;
  REQUIRE_THROWS_WITH(DistributedSampler(10, {.num_replicas = 0}),
                      Contains("num_replicas must be >= 1, got 0"));
  REQUIRE_THROWS_WITH(DistributedSampler(10, {.num_replicas = 2, .rank = 2}),
                      Contains("rank must be in [0, 1] for num_replicas 2, got 2"));
  REQUIRE_THROWS_WITH(DistributedSampler(10, {.num_replicas = 2, .rank = -1}),
                      Contains("got -1"));
  REQUIRE_THROWS_WITH(DistributedSampler(-1, {}), Contains("dataset_size must be >= 0, got -1"));
  REQUIRE(DistributedSampler(0, {.num_replicas = 3}).indices().empty());

  auto sampler = std::make_shared<DistributedSampler>(10, DistributedSamplerOptions{});
  REQUIRE_THROWS_WITH(DataLoader(numbered_dataset(10), sampler, {.shuffle = true}),
                      Contains("shuffle=true with a sampler"));
  REQUIRE_THROWS_WITH(DataLoader(numbered_dataset(10), nullptr), Contains("sampler is null"));
  // A sampler made for a larger dataset: refused at the start of the epoch, naming the index.
  auto too_large = std::make_shared<DistributedSampler>(12, DistributedSamplerOptions{.shuffle = false});
  DataLoader loader(numbered_dataset(10), too_large);
  REQUIRE_THROWS_AS(loader.begin(), IndexError);
  REQUIRE_THROWS_WITH(loader.begin(), Contains("index 10 for a dataset of size 10"));
}
