// int64 tensors in safetensors files (issue 11): saved as I64; I64 loads as int64 and I32 is
// widened to int64; loads into float parameters refuse them.
#include <cstdint>
#include <limits>

#include "nn/layers.h"
#include "nn/serialize.h"
#include "safetensors_test_util.h"
#include "test_util.h"

using namespace tapegrad;
using namespace tapegrad::testing;
using Catch::Contains;

TEST_CASE("int64 tensors round-trip through a file as I64, bit for bit, beside float32",
          "[serialize][dtype]") {
  ScratchDir dir;
  const std::string path = dir.file("mixed.safetensors");
  const std::int64_t big = (std::int64_t{1} << 53) + 1;
  const Tensor ids = Tensor::from_vector_i64(
      {0, -1, big, std::numeric_limits<std::int64_t>::min(),
       std::numeric_limits<std::int64_t>::max(), 7},
      {2, 3});
  const Tensor weight = Tensor::from_vector({0.5f, -1.5f}, {2});
  const Tensor step = Tensor::from_vector_i64({12}, {});
  save_safetensors(path, {{"ids", ids}, {"weight", weight}, {"step", step}});

  // The header says I64 for the int64 tensors, F32 for the float one.
  const std::string bytes = read_bytes(path);
  CHECK(bytes.find(R"("ids":{"dtype":"I64","shape":[2,3],"data_offsets":[0,48]})") !=
        std::string::npos);
  CHECK(bytes.find(R"("weight":{"dtype":"F32","shape":[2],"data_offsets":[48,56]})") !=
        std::string::npos);
  CHECK(bytes.find(R"("step":{"dtype":"I64","shape":[],"data_offsets":[56,64]})") !=
        std::string::npos);

  const NamedTensors loaded = load_safetensors(path);
  REQUIRE(loaded.size() == 3);
  CHECK(loaded[0].first == "ids");
  CHECK(loaded[0].second.dtype() == Dtype::int64);
  CHECK(loaded[0].second.shape() == Shape{2, 3});
  CHECK(loaded[0].second.to_vector_i64() == ids.to_vector_i64());
  CHECK(loaded[1].second.dtype() == Dtype::float32);
  CHECK(same_bits(loaded[1].second, weight));
  CHECK(loaded[2].second.dtype() == Dtype::int64);
  CHECK(loaded[2].second.dim() == 0);
  CHECK(loaded[2].second.item_i64() == 12);
}

TEST_CASE("a hand-made file's I32 entries are widened to int64, I64 read as is",
          "[serialize][dtype]") {
  ScratchDir dir;
  const std::string path = dir.file("ints.safetensors");
  const std::vector<std::int32_t> labels{3, -2, std::numeric_limits<std::int32_t>::min(),
                                         std::numeric_limits<std::int32_t>::max()};
  const std::vector<std::int64_t> lengths{5, std::int64_t{1} << 40};
  const std::string header =
      R"({"labels":{"dtype":"I32","shape":[2,2],"data_offsets":[0,16]},)"
      R"("lengths":{"dtype":"I64","shape":[2],"data_offsets":[16,32]}})";
  write_bytes(path, safetensors_bytes(header, raw_bytes(labels) + raw_bytes(lengths)));

  const NamedTensors loaded = load_safetensors(path);
  REQUIRE(loaded.size() == 2);
  CHECK(loaded[0].first == "labels");
  CHECK(loaded[0].second.dtype() == Dtype::int64);
  CHECK(loaded[0].second.shape() == Shape{2, 2});
  CHECK(loaded[0].second.to_vector_i64() ==
        std::vector<std::int64_t>{3, -2, std::numeric_limits<std::int32_t>::min(),
                                  std::numeric_limits<std::int32_t>::max()});
  CHECK(loaded[1].second.to_vector_i64() == lengths);

  // Saved back, the widened tensor says I64 (and loads the same values).
  const std::string again = dir.file("again.safetensors");
  save_safetensors(again, loaded);
  CHECK(read_bytes(again).find(R"("dtype":"I32")") == std::string::npos);
  CHECK(load_safetensors(again)[0].second.to_vector_i64() == loaded[0].second.to_vector_i64());

  // An I32 entry whose byte count does not match its shape is refused like any other.
  write_bytes(path, safetensors_bytes(
                        R"({"labels":{"dtype":"I32","shape":[3],"data_offsets":[0,8]}})",
                        raw_bytes(std::vector<std::int32_t>{1, 2})));
  REQUIRE_THROWS_WITH(load_safetensors(path),
                      Contains("tensor 'labels'") && Contains("hold 8 bytes but shape [3] of I32 "
                                                              "needs 12"));
}

TEST_CASE("load_into refuses an int64 entry for a float32 tensor, and the reverse, changing nothing",
          "[serialize][dtype]") {
  ScratchDir dir;
  const std::string path = dir.file("ids.safetensors");
  save_safetensors(path, {{"weight", Tensor::from_vector_i64({1, 2, 3, 4}, {2, 2})}});

  Tensor weight = Tensor::full({2, 2}, 5.0f);
  REQUIRE_THROWS_AS(load_into(path, {{"weight", weight}}), TypeError);
  REQUIRE_THROWS_WITH(load_into(path, {{"weight", weight}}),
                      Contains("load_into: '" + path + "' does not match the destination") &&
                          Contains("dtype mismatches: 'weight' expected float32 (destination), "
                                   "got int64 (file)"));
  CHECK(weight.to_vector() == std::vector<float>(4, 5.0f));

  // A shape mismatch as well: ShapeError, both listed.
  Tensor wide = Tensor::full({4}, 5.0f);
  REQUIRE_THROWS_AS(load_into(path, {{"weight", wide}}), ShapeError);
  REQUIRE_THROWS_WITH(load_into(path, {{"weight", wide}}),
                      Contains("shape mismatches") && Contains("dtype mismatches"));

  // int64 destinations load int64 entries (an I32 file too), and refuse float ones.
  Tensor ids = Tensor::zeros({2, 2}, Dtype::int64);
  load_into(path, {{"weight", ids}});
  CHECK(ids.to_vector_i64() == std::vector<std::int64_t>{1, 2, 3, 4});
  save_safetensors(path, {{"weight", Tensor::ones({2, 2})}});
  REQUIRE_THROWS_WITH(load_into(path, {{"weight", ids}}),
                      Contains("'weight' expected int64 (destination), got float32 (file)"));
  CHECK(ids.to_vector_i64() == std::vector<std::int64_t>{1, 2, 3, 4});
}

TEST_CASE("a module refuses int64 values for its float parameters, from a file or a state dict",
          "[serialize][dtype]") {
  ScratchDir dir;
  Generator generator(3);
  nn::Linear linear({.in_features = 2, .out_features = 1}, generator);
  const std::vector<float> before = linear.weight.to_vector();
  const std::string path = dir.file("bad.safetensors");
  save_safetensors(path, {{"weight", Tensor::from_vector_i64({1, 2}, {1, 2})},
                          {"bias", Tensor::from_vector({0.5f}, {1})}});
  REQUIRE_THROWS_AS(nn::load(linear, path), TypeError);
  REQUIRE_THROWS_WITH(nn::load(linear, path),
                      Contains("'weight' expected float32") && Contains("got int64"));
  const NamedTensors state{{"weight", Tensor::from_vector_i64({1, 2}, {1, 2})},
                           {"bias", Tensor::from_vector({0.5f}, {1})}};
  REQUIRE_THROWS_AS(linear.load_state_dict(state), TypeError);
  REQUIRE_THROWS_WITH(linear.load_state_dict(state),
                      Contains("load_state_dict") && Contains("'weight' expected float32 (module), "
                                                              "got int64 (state dict)"));
  CHECK(linear.weight.to_vector() == before);
  CHECK(linear.bias.to_vector() != std::vector<float>{0.5f});
}
