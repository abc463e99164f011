// int64 fields in the data path (issue 11): datasets, collate functions and the loader carry ids
// and labels bit for bit, beside float features, without a float round trip.
#include <algorithm>
#include <cstdint>
#include <limits>
#include <memory>

#include "data/collate.h"
#include "data/dataset.h"
#include "data/loader.h"
#include "test_util.h"

using namespace tapegrad;
using namespace tapegrad::data;
using Catch::Contains;

namespace {

// Beyond float (and double) precision, so a float round trip anywhere would show.
constexpr std::int64_t kBig = (std::int64_t{1} << 60) + 1;

std::int64_t id_at(std::int64_t row, std::int64_t column) { return kBig + 10 * row + column; }

// features [N, 2] float32, ids [N, 3] int64, labels [N] int64
TensorDataset mixed_dataset(std::int64_t samples) {
  std::vector<float> features;
  std::vector<std::int64_t> ids, labels;
  for (std::int64_t n = 0; n < samples; ++n) {
    features.push_back(static_cast<float>(n) + 0.25f);
    features.push_back(-static_cast<float>(n));
    for (std::int64_t c = 0; c < 3; ++c) ids.push_back(id_at(n, c));
    labels.push_back(-n);
  }
  return TensorDataset({Tensor::from_vector(features, {samples, 2}),
                        Tensor::from_vector_i64(ids, {samples, 3}),
                        Tensor::from_vector_i64(labels, {samples})});
}

void require_rows(const Batch& batch, const std::vector<std::int64_t>& rows) {
  REQUIRE(batch.size() == 3);
  const auto count = static_cast<std::int64_t>(rows.size());
  REQUIRE(batch[0].dtype() == Dtype::float32);
  REQUIRE(batch[1].dtype() == Dtype::int64);
  REQUIRE(batch[2].dtype() == Dtype::int64);
  REQUIRE(batch[1].shape() == Shape{count, 3});
  REQUIRE(batch[2].shape() == Shape{count});
  for (std::int64_t r = 0; r < count; ++r) {
    const std::int64_t n = rows[static_cast<std::size_t>(r)];
    REQUIRE(batch[0].at({r, 0}) == static_cast<float>(n) + 0.25f);
    for (std::int64_t c = 0; c < 3; ++c) REQUIRE(batch[1].data_i64()[r * 3 + c] == id_at(n, c));
    REQUIRE(batch[2].data_i64()[r] == -n);
  }
}

}  // namespace

TEST_CASE("TensorDataset get and gather keep int64 fields exact beside float ones",
          "[dataset][dtype]") {
  const TensorDataset dataset = mixed_dataset(6);
  const Sample sample = dataset.get(4);
  REQUIRE(sample[1].dtype() == Dtype::int64);
  REQUIRE(sample[1].to_vector_i64() ==
          std::vector<std::int64_t>{id_at(4, 0), id_at(4, 1), id_at(4, 2)});
  REQUIRE(sample[2].dim() == 0);
  REQUIRE(sample[2].item_i64() == -4);
  REQUIRE(sample[0].to_vector() == std::vector<float>{4.25f, -4.0f});

  require_rows(dataset.gather({5, 0, 1, 2, 2}), {5, 0, 1, 2, 2});
  require_rows(dataset.gather({}), {});
  // default_collate of the samples gives the same batch as gather's fast path.
  const Batch collated = default_collate({dataset.get(3), dataset.get(1)});
  require_rows(collated, {3, 1});
}

TEST_CASE("DataLoader carries int64 ids and labels bit for bit, shuffled and prefetched",
          "[loader][dtype]") {
  const TensorDataset dataset = mixed_dataset(11);
  for (std::int64_t prefetch : {0, 2}) {
    DataLoader loader(dataset, {.batch_size = 4, .shuffle = true, .seed = 5,
                                .prefetch_batches = prefetch});
    std::vector<std::int64_t> seen;
    for (const Batch& batch : loader) {
      // Labels are -n: they tell each row's sample, which the other fields must match.
      std::vector<std::int64_t> rows;
      for (std::int64_t label : batch[2].to_vector_i64()) rows.push_back(-label);
      require_rows(batch, rows);
      seen.insert(seen.end(), rows.begin(), rows.end());
    }
    std::sort(seen.begin(), seen.end());
    REQUIRE(seen == std::vector<std::int64_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10});
  }
}

TEST_CASE("default_collate refuses a field whose dtype changes between samples",
          "[collate][dtype]") {
  const Sample first{Tensor::from_vector_i64({1, 2}, {2}), Tensor::scalar(1.0f)};
  const Sample second{Tensor::from_vector({1, 2}, {2}), Tensor::scalar(0.0f)};
  REQUIRE_THROWS_AS(default_collate({first, second}), TypeError);
  REQUIRE_THROWS_WITH(default_collate({first, second}),
                      "default_collate: field 0 of sample 1 is float32, expected int64 (the "
                      "dtype of sample 0)");
}

TEST_CASE("pad_sequence pads int64 sequences with an int64 padding value", "[collate][dtype]") {
  const std::vector<Tensor> sequences{Tensor::from_vector_i64({kBig, 2}, {2}),
                                      Tensor::from_vector_i64({3}, {1}),
                                      Tensor::from_vector_i64({4, 5, kBig + 1}, {3})};
  const Tensor time_major = pad_sequence(sequences, /*batch_first=*/false, -1.0f);
  REQUIRE(time_major.dtype() == Dtype::int64);
  REQUIRE(time_major.shape() == Shape{3, 3});
  REQUIRE(time_major.to_vector_i64() ==
          std::vector<std::int64_t>{kBig, 3, 4, 2, -1, 5, -1, -1, kBig + 1});
  const Tensor batch_major = pad_sequence(sequences, /*batch_first=*/true);
  REQUIRE(batch_major.to_vector_i64() ==
          std::vector<std::int64_t>{kBig, 2, 0, 3, 0, 0, 4, 5, kBig + 1});

  REQUIRE_THROWS_MATCHES(pad_sequence(sequences, true, 0.5f), ValueError,
                         Catch::Message("pad_sequence: padding_value 0.500000 is not a whole "
                                        "number within int64, so it cannot pad int64 sequences"));
  REQUIRE_THROWS_AS(pad_sequence(sequences, true, std::numeric_limits<float>::quiet_NaN()),
                    ValueError);
  REQUIRE_THROWS_AS(pad_sequence(sequences, true, 1e19f), ValueError);
  REQUIRE_THROWS_MATCHES(
      pad_sequence({sequences[0], Tensor::from_vector({1.0f}, {1})}), TypeError,
      Catch::Message("pad_sequence: sequence 1 is float32, expected int64 (the dtype of "
                     "sequence 0)"));
}

TEST_CASE("pad_collate pads int64 ids, adds int64 lengths and stacks int64 labels",
          "[collate][dtype]") {
  const std::vector<Sample> samples{
      {Tensor::from_vector_i64({kBig, 7}, {2}), Tensor::from_vector_i64({1}, {}),
       Tensor::from_vector({0.5f}, {1})},
      {Tensor::from_vector_i64({9}, {1}), Tensor::from_vector_i64({0}, {}),
       Tensor::from_vector({1.5f}, {1})}};
  const Batch batch = pad_collate()(samples);
  REQUIRE(batch.size() == 4);  // ids, lengths, labels, features
  REQUIRE(batch[0].dtype() == Dtype::int64);
  REQUIRE(batch[0].to_vector_i64() == std::vector<std::int64_t>{kBig, 7, 9, 0});
  REQUIRE(batch[1].dtype() == Dtype::int64);
  REQUIRE(batch[1].to_vector_i64() == std::vector<std::int64_t>{2, 1});
  REQUIRE(batch[2].to_vector_i64() == std::vector<std::int64_t>{1, 0});
  REQUIRE(batch[3].to_vector() == std::vector<float>{0.5f, 1.5f});
}
