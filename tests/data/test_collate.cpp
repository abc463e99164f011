// default_collate, pad_sequence and pad_collate: against what PyTorch gives (tests/fixtures/
// collate.json, from make_collate_fixtures.py), on known inputs (lengths and pad positions), and
// their bad inputs.
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>

#include "autograd/grad_mode.h"
#include "data/collate.h"
#include "test_util.h"

using namespace tapegrad;
using Catch::Contains;
using tapegrad::data::Batch;
using tapegrad::data::Sample;

namespace {

bool same_bits(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() &&
         std::memcmp(a.data(), b.data(), static_cast<std::size_t>(a.numel()) * sizeof(float)) == 0;
}

Tensor from_json(const nlohmann::json& flat) {
  return Tensor::from_vector(flat.at("values").get<std::vector<float>>(),
                             flat.at("shape").get<Shape>());
}

nlohmann::json fixture() {
  std::ifstream in(TAPEGRAD_FIXTURE_DIR "/collate.json");
  REQUIRE(in);
  return nlohmann::json::parse(in);
}

Tensor ids(const std::vector<float>& values) {
  return Tensor::from_vector(values, {static_cast<std::int64_t>(values.size())});
}

}  // namespace

TEST_CASE("pad_sequence matches PyTorch, time-major and batch-first", "[collate][fixture]") {
  const nlohmann::json cases = fixture().at("pad_sequence");
  REQUIRE(cases.size() >= 5);
  for (const auto& c : cases) {
    std::vector<Tensor> sequences;
    for (const auto& s : c.at("sequences")) sequences.push_back(from_json(s));
    const float padding_value = c.at("padding_value");
    INFO(sequences.size() << " sequences, first of shape " << format_shape(sequences[0].shape()));
    REQUIRE(same_bits(data::pad_sequence(sequences, false, padding_value),
                      from_json(c.at("time_major"))));
    REQUIRE(same_bits(data::pad_sequence(sequences, true, padding_value),
                      from_json(c.at("batch_first"))));
  }
}

TEST_CASE("default_collate stacks each field like PyTorch's and TensorDataset.gather",
          "[collate][fixture]") {
  const nlohmann::json c = fixture().at("default_collate");
  std::vector<Sample> samples;
  for (const auto& sample : c.at("samples")) {
    samples.emplace_back();
    for (const auto& field : sample) samples.back().push_back(from_json(field));
  }
  const Batch batch = data::default_collate(samples);
  REQUIRE(batch.size() == c.at("batch").size());
  for (std::size_t f = 0; f < batch.size(); ++f) {
    REQUIRE(same_bits(batch[f], from_json(c.at("batch")[f])));
    REQUIRE_FALSE(batch[f].requires_grad());
  }

  // The loader's fast path for TensorDataset gives the same bits as collating its rows.
  Generator generator(5);
  const data::TensorDataset dataset({Tensor::normal({9, 2, 3}, 0.0f, 1.0f, generator),
                                     Tensor::normal({9}, 0.0f, 1.0f, generator)});
  const std::vector<std::int64_t> indices{4, 5, 6, 0, 8, 8, 2};
  std::vector<Sample> rows;
  for (std::int64_t index : indices) rows.push_back(dataset.get(index));
  const Batch gathered = dataset.gather(indices);
  const Batch collated = data::default_collate(rows);
  REQUIRE(collated.size() == 2);
  for (std::size_t f = 0; f < 2; ++f) REQUIRE(same_bits(collated[f], gathered[f]));
  // So does the default gather every Dataset inherits.
  const Batch inherited = dataset.data::Dataset::gather(indices);
  for (std::size_t f = 0; f < 2; ++f) REQUIRE(same_bits(inherited[f], gathered[f]));
}

TEST_CASE("pad_collate pads each field to the batch's longest and adds the lengths",
          "[collate]") {
  // Samples {ids [L], label [], features [L, 2]}: fields 0 and 2 are sequences.
  std::vector<Sample> samples;
  const std::vector<std::int64_t> lengths{2, 4, 1};
  for (std::size_t s = 0; s < lengths.size(); ++s) {
    const std::int64_t length = lengths[s];
    std::vector<float> id_values, feature_values;
    for (std::int64_t t = 0; t < length; ++t) {
      id_values.push_back(static_cast<float>(10 * (s + 1) + t));
      feature_values.push_back(static_cast<float>(t));
      feature_values.push_back(-static_cast<float>(s));
    }
    samples.push_back({ids(id_values), Tensor::scalar(static_cast<float>(s) + 0.5f),
                       Tensor::from_vector(feature_values, {length, 2})});
  }
  const Batch batch = data::pad_collate({.fields = {0, 2}, .padding_value = -1.0f})(samples);
  REQUIRE(batch.size() == 5);  // ids, ids lengths, label, features, features lengths
  REQUIRE(batch[0].shape() == Shape{3, 4});
  REQUIRE(batch[0].to_vector() ==
          std::vector<float>{10, 11, -1, -1, 20, 21, 22, 23, 30, -1, -1, -1});
  REQUIRE(batch[1].dtype() == Dtype::int64);
  REQUIRE(batch[1].to_vector_i64() == std::vector<std::int64_t>{2, 4, 1});
  REQUIRE(batch[2].to_vector() == std::vector<float>{0.5f, 1.5f, 2.5f});
  REQUIRE(batch[3].shape() == Shape{3, 4, 2});
  REQUIRE(batch[3].to_vector() == std::vector<float>{0, 0, 1, 0, -1, -1, -1, -1,     //
                                                     0, -1, 1, -1, 2, -1, 3, -1,     //
                                                     0, -2, -1, -1, -1, -1, -1, -1});
  REQUIRE(batch[4].to_vector_i64() == std::vector<std::int64_t>{2, 4, 1});

  // The default pads field 0 with 0 (Vocabulary::pad_id); a batch of equal lengths is not padded.
  const Batch plain = data::pad_collate()({{ids({5, 6}), Tensor::scalar(1)},
                                           {ids({7, 8}), Tensor::scalar(0)}});
  REQUIRE(plain.size() == 3);
  REQUIRE(plain[0].shape() == Shape{2, 2});
  REQUIRE(plain[0].to_vector() == std::vector<float>{5, 6, 7, 8});
  REQUIRE(plain[1].to_vector_i64() == std::vector<std::int64_t>{2, 2});
}

TEST_CASE("default_collate and pad_sequence reject bad input naming the function",
          "[collate][errors]") {
  REQUIRE_THROWS_WITH(data::default_collate({}), Contains("default_collate: no samples"));
  REQUIRE_THROWS_WITH(data::default_collate({{}}),
                      Contains("default_collate: sample 0 has no fields"));
  REQUIRE_THROWS_WITH(data::default_collate({{ids({1})}, {ids({2}), ids({3})}}),
                      Contains("default_collate: sample 1 has 2 fields, expected 1"));
  REQUIRE_THROWS_WITH(data::default_collate({{ids({1})}, {Tensor()}}),
                      Contains("default_collate: field 0 of sample 1 is undefined"));
  REQUIRE_THROWS_AS(data::default_collate({{ids({1, 2})}, {ids({1, 2, 3})}}), ShapeError);
  REQUIRE_THROWS_WITH(data::default_collate({{ids({1, 2})}, {ids({1, 2, 3})}}),
                      Contains("default_collate: field 0 of sample 1 has shape [3], "
                               "expected [2]") && Contains("pad_collate"));

  REQUIRE_THROWS_WITH(data::pad_sequence({}), Contains("pad_sequence: no sequences"));
  REQUIRE_THROWS_WITH(data::pad_sequence({ids({1}), Tensor()}),
                      Contains("pad_sequence: sequence 1 is undefined"));
  REQUIRE_THROWS_AS(data::pad_sequence({Tensor::scalar(1)}), ShapeError);
  REQUIRE_THROWS_WITH(data::pad_sequence({Tensor::zeros({2, 3}), Tensor::zeros({4, 2})}),
                      Contains("pad_sequence: sequence 1 has shape [4, 2]") && Contains("[2, 3]"));
  const Tensor learned = Tensor::zeros({3}, /*requires_grad=*/true);
  REQUIRE_THROWS_WITH(data::pad_sequence({learned}),
                      Contains("pad_sequence: sequence 0 requires grad"));
  NoGradGuard no_grad;
  REQUIRE(data::pad_sequence({learned}).shape() == Shape{3, 1});
}

TEST_CASE("pad_collate rejects bad options and bad samples naming the field",
          "[collate][errors]") {
  REQUIRE_THROWS_WITH(data::pad_collate({.fields = {}}), Contains("pad_collate: no fields"));
  REQUIRE_THROWS_WITH(data::pad_collate({.fields = {0, -1}}),
                      Contains("pad_collate: field indices must be >= 0, got -1"));
  REQUIRE_THROWS_WITH(data::pad_collate({.fields = {1, 0, 1}}),
                      Contains("pad_collate: field 1 is listed twice"));
  const data::CollateFn collate = data::pad_collate({.fields = {0, 2}});
  REQUIRE_THROWS_WITH(collate({{ids({1}), Tensor::scalar(0)}}),
                      Contains("pad_collate: field 2 is not in the samples, which have 2 fields"));
  REQUIRE_THROWS_WITH(data::pad_collate()({{ids({1, 2})}, {Tensor::zeros({0})}}),
                      Contains("pad_collate: field 0 of sample 1 is an empty sequence") &&
                          Contains("lengths >= 1"));
  REQUIRE_THROWS_AS(data::pad_collate()({{Tensor::scalar(3)}}), ShapeError);
  REQUIRE_THROWS_WITH(data::pad_collate()({{ids({1}), Tensor::scalar(0)},
                                           {ids({1}), Tensor::zeros({2})}}),
                      Contains("pad_collate: field 1 of sample 1 has shape [2], expected []"));
}
