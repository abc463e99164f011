// The safetensors header: what the writer lays out and every way a reader must refuse a file.
// nn/safetensors_header.cpp is internal, so these go through save_safetensors/load_safetensors.
#include "nn/serialize.h"

#include <cmath>
#include <cstdint>
#include <limits>

#include <nlohmann/json.hpp>

#include "safetensors_test_util.h"
#include "test_util.h"

namespace fs = std::filesystem;
using namespace tapegrad;
using namespace tapegrad::testing;
using Catch::Contains;

TEST_CASE("save_safetensors writes the documented layout", "[serialize]") {
  ScratchDir dir;
  const std::string path = dir.file("layout.safetensors");
  const Tensor matrix = Tensor::from_vector({1.0f, 2.0f, 3.0f, 4.0f, 5.0f, 6.0f}, {2, 3});
  const Tensor scalar = Tensor::scalar(-7.5f);
  save_safetensors(path, {{"m", matrix}, {"s", scalar}}, {{"format", "pt"}});

  const std::string bytes = read_bytes(path);
  REQUIRE(bytes.size() >= 8);
  std::uint64_t header_length = 0;
  for (int i = 7; i >= 0; --i)
    header_length = (header_length << 8) | static_cast<unsigned char>(bytes[i]);
  CHECK(header_length % 8 == 0);  // the data buffer starts 8-byte aligned
  REQUIRE(bytes.size() == 8 + header_length + 7 * sizeof(float));

  const std::string header = bytes.substr(8, header_length);
  const std::size_t json_end = header.find_last_not_of(' ') + 1;
  CHECK(header.find_first_not_of(' ', json_end) == std::string::npos);  // padded with spaces
  auto parsed = nlohmann::ordered_json::parse(header.substr(0, json_end));
  std::vector<std::string> keys;
  for (const auto& item : parsed.items()) keys.push_back(item.key());
  CHECK(keys == std::vector<std::string>{"__metadata__", "m", "s"});
  CHECK(parsed["__metadata__"] == nlohmann::ordered_json{{"format", "pt"}});
  CHECK(parsed["m"]["dtype"] == "F32");
  CHECK(parsed["m"]["shape"] == nlohmann::ordered_json::array({2, 3}));
  CHECK(parsed["m"]["data_offsets"] == nlohmann::ordered_json::array({0, 24}));
  CHECK(parsed["s"]["shape"] == nlohmann::ordered_json::array());
  CHECK(parsed["s"]["data_offsets"] == nlohmann::ordered_json::array({24, 28}));
  CHECK(bytes.substr(8 + header_length) ==
        raw_bytes(std::vector<float>{1.0f, 2.0f, 3.0f, 4.0f, 5.0f, 6.0f, -7.5f}));
}

TEST_CASE("load_safetensors rejects each malformed file with a message naming the problem",
          "[serialize]") {
  ScratchDir dir;
  const std::string path = dir.file("bad.safetensors");
  const std::string eight = raw_bytes(std::vector<float>{1.0f, 2.0f});
  const std::string twelve = raw_bytes(std::vector<float>{1.0f, 2.0f, 3.0f});
  const auto f32 = [](const std::string& shape, const std::string& offsets) {
    return R"({"dtype":"F32","shape":)" + shape + R"(,"data_offsets":)" + offsets + "}";
  };
  struct Case {
    const char* label;
    std::string bytes;
    const char* fragment;
  };
  const std::vector<Case> cases = {
      {"empty file", "", "0 bytes is too short"},
      {"5 bytes", std::string(5, '\0'), "too short to hold the 8-byte header length"},
      {"header length past the end", safetensors_bytes("{}", "", 1000),
       "header length 1000 is larger"},
      {"absurd header length", safetensors_bytes("{}", "", std::uint64_t{1} << 40),
       "exceeds the limit"},
      {"maximal header length", safetensors_bytes("{}", "", ~std::uint64_t{0}),
       "exceeds the limit"},
      {"zero header length", safetensors_bytes("", ""), "not valid JSON"},
      {"bad JSON", safetensors_bytes(R"({"a": )", ""), "not valid JSON"},
      {"JSON array", safetensors_bytes("[1, 2]", ""), "header must be a JSON object"},
      {"NUL byte hides garbage", safetensors_bytes(std::string("{}\0 junk", 8), ""), "NUL byte"},
      {"invalid UTF-8", safetensors_bytes("{\"\xff\": 1}", ""), "not valid JSON"},
      {"duplicate key",
       safetensors_bytes(R"({"a":)" + f32("[2]", "[0,8]") + R"(,"a":)" + f32("[2]", "[0,8]") + "}",
                         eight),
       "key 'a' twice"},
      {"duplicate field",
       safetensors_bytes(R"({"a":{"dtype":"F32","dtype":"F64","shape":[2],"data_offsets":[0,8]}})",
                         eight),
       "key 'dtype' twice in 'a'"},
      {"duplicate metadata key", safetensors_bytes(R"({"__metadata__":{"k":"1","k":"2"}})", ""),
       "key 'k' twice in '__metadata__'"},
      {"deep nesting", safetensors_bytes(std::string(100000, '[') + std::string(100000, ']'), ""),
       "nests deeper"},
      {"nested shape", safetensors_bytes(R"({"a":)" + f32("[[2]]", "[0,8]") + "}", eight),
       "nests deeper"},
      {"entry not an object", safetensors_bytes(R"({"a": 5})", ""),
       "tensor 'a': expected an object"},
      {"missing dtype", safetensors_bytes(R"({"a":{"shape":[2],"data_offsets":[0,8]}})", eight),
       "tensor 'a': missing field 'dtype'"},
      {"missing shape", safetensors_bytes(R"({"a":{"dtype":"F32","data_offsets":[0,8]}})", eight),
       "tensor 'a': missing field 'shape'"},
      {"missing offsets", safetensors_bytes(R"({"a":{"dtype":"F32","shape":[2]}})", eight),
       "tensor 'a': missing field 'data_offsets'"},
      {"dtype not a string",
       safetensors_bytes(R"({"a":{"dtype":4,"shape":[2],"data_offsets":[0,8]}})", eight),
       "field 'dtype' must be a string, got 4"},
      {"shape not an array",
       safetensors_bytes(R"({"a":{"dtype":"F32","shape":2,"data_offsets":[0,8]}})", eight),
       "field 'shape' must be an array"},
      {"unknown field",
       safetensors_bytes(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8],"strides":[1]}})",
                         eight),
       "tensor 'a': unexpected field 'strides'"},
      {"wrong dtype",
       safetensors_bytes(R"({"steps":{"dtype":"I16","shape":[4],"data_offsets":[0,8]}})", eight),
       "tensor 'steps' has dtype I16"},
      {"unknown dtype",
       safetensors_bytes(R"({"a":{"dtype":"F128","shape":[],"data_offsets":[0,8]}})", eight),
       "tensor 'a' has dtype F128"},
      {"negative extent", safetensors_bytes(R"({"a":)" + f32("[-1, 2]", "[0,8]") + "}", eight),
       "tensor 'a': shape entry 0 must be a non-negative integer, got -1"},
      {"fractional extent", safetensors_bytes(R"({"a":)" + f32("[2, 1.5]", "[0,8]") + "}", eight),
       "shape entry 1 must be a non-negative integer, got 1.5"},
      {"string extent", safetensors_bytes(R"({"a":)" + f32(R"(["2"])", "[0,8]") + "}", eight),
       "shape entry 0 must be a non-negative integer"},
      {"numel overflow",
       safetensors_bytes(R"({"a":)" + f32("[4294967296, 4294967296]", "[0,8]") + "}", eight),
       "more elements than fit in 64 bits"},
      {"byte count overflow",
       safetensors_bytes(R"({"a":)" + f32("[4611686018427387904]", "[0,8]") + "}", eight),
       "needs more than 2^64"},
      {"offsets not a pair", safetensors_bytes(R"({"a":)" + f32("[2]", "[0]") + "}", eight),
       "data_offsets must be [begin, end]"},
      {"negative offset", safetensors_bytes(R"({"a":)" + f32("[2]", "[-8, 0]") + "}", eight),
       "data_offsets[0] must be a non-negative integer"},
      {"offsets reversed", safetensors_bytes(R"({"a":)" + f32("[2]", "[8, 0]") + "}", eight),
       "end before they begin"},
      {"offsets out of range",
       safetensors_bytes(R"({"a":)" + f32("[100]", "[0, 400]") + "}", eight),
       "tensor 'a': data_offsets [0, 400] lie outside the data buffer of 8 bytes"},
      {"shape/offset mismatch", safetensors_bytes(R"({"a":)" + f32("[3]", "[0, 8]") + "}", eight),
       "tensor 'a': data_offsets [0, 8] hold 8 bytes but shape [3] of F32 needs 12"},
      {"F16 size mismatch",
       safetensors_bytes(R"({"h":{"dtype":"F16","shape":[3],"data_offsets":[0,8]}})", eight),
       "shape [3] of F16 needs 6"},
      {"overlap",
       safetensors_bytes(R"({"a":)" + f32("[2]", "[0,8]") + R"(,"b":)" + f32("[2]", "[4,12]") + "}",
                         twelve),
       "tensor 'b' (bytes 4 to 12) overlaps tensor 'a' (bytes 0 to 8)"},
      {"same bytes twice",
       safetensors_bytes(R"({"a":)" + f32("[2]", "[0,8]") + R"(,"b":)" + f32("[2]", "[0,8]") + "}",
                         eight),
       "overlaps"},
      {"gap",
       safetensors_bytes(R"({"a":)" + f32("[1]", "[0,4]") + R"(,"b":)" + f32("[1]", "[8,12]") + "}",
                         twelve),
       "gap of 4 bytes before tensor 'b'"},
      {"gap at the start", safetensors_bytes(R"({"a":)" + f32("[1]", "[4,8]") + "}", eight),
       "gap of 4 bytes before tensor 'a'"},
      {"trailing garbage", safetensors_bytes(R"({"a":)" + f32("[1]", "[0,4]") + "}", eight),
       "4 trailing bytes after the last tensor"},
      {"data without tensors", safetensors_bytes("{}", eight), "8 trailing bytes"},
      {"metadata not an object", safetensors_bytes(R"({"__metadata__": [1]})", ""),
       "__metadata__ must be an object"},
      {"metadata value not a string", safetensors_bytes(R"({"__metadata__": {"epoch": 3}})", ""),
       "__metadata__ value 'epoch' must be a string, got 3"},
  };
  for (const Case& c : cases) {
    INFO(c.label);
    write_bytes(path, c.bytes);
    REQUIRE_THROWS_AS(load_safetensors(path), Error);
    REQUIRE_THROWS_WITH(load_safetensors(path),
                        Contains("load_safetensors: '" + path + "'") && Contains(c.fragment));
  }

  REQUIRE_THROWS_WITH(load_safetensors(dir.file("absent.safetensors")),
                      Contains("absent.safetensors") && Contains("No such file or directory"));
  fs::create_directory(dir.file("folder"));
  REQUIRE_THROWS_WITH(load_safetensors(dir.file("folder")), Contains("not a regular file"));
}

TEST_CASE("load_safetensors returns tensors in data order and accepts hand-written files",
          "[serialize]") {
  ScratchDir dir;
  const std::string path = dir.file("order.safetensors");
  // Header order b, e, a; data order a, b, then the empty e (offsets [8, 8] sort after [0, 4]).
  write_bytes(path,
              safetensors_bytes(
                  R"({"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]},)"
                  R"("e":{"dtype":"F32","shape":[0],"data_offsets":[8,8]},)"
                  R"("a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"__metadata__":null}  )",
                  raw_bytes(std::vector<float>{10.0f, 20.0f})));
  const NamedTensors loaded = load_safetensors(path);
  REQUIRE(loaded.size() == 3);
  CHECK(loaded[0].first == "a");
  CHECK(loaded[0].second.item() == 10.0f);
  CHECK(loaded[1].first == "b");
  CHECK(loaded[1].second.item() == 20.0f);
  CHECK(loaded[2].first == "e");
  CHECK(loaded[2].second.shape() == Shape{0});
}

TEST_CASE("load_safetensors converts F64, F16 and BF16 to float32", "[serialize]") {
  ScratchDir dir;
  const std::string path = dir.file("dtypes.safetensors");
  const float inf = std::numeric_limits<float>::infinity();
  // IEEE binary16 bit patterns: 1, -2, largest finite, smallest and largest subnormal, +-inf, NaN,
  // -0.
  const std::vector<std::uint16_t> half{0x3c00, 0xc000, 0x7bff, 0x0001, 0x03ff,
                                        0x7c00, 0xfc00, 0x7e00, 0x8000};
  const std::vector<std::uint16_t> bf16{0x3f80, 0xc049, 0x7f80};
  // FLT_MAX + 2^102 is below FLT_MAX + half an ulp (2^103): it rounds down; 2^128 - 2^103 rounds
  // up.
  const double flt_max = std::numeric_limits<float>::max();
  const std::vector<double> f64{0.1, 1e300, -1e300, flt_max + std::ldexp(1.0, 102),
                                std::ldexp(1.0, 128) - std::ldexp(1.0, 103)};
  const std::string data = raw_bytes(half) + raw_bytes(bf16) + raw_bytes(f64);
  write_bytes(path, safetensors_bytes(R"({"h":{"dtype":"F16","shape":[9],"data_offsets":[0,18]},)"
                                      R"("b":{"dtype":"BF16","shape":[3],"data_offsets":[18,24]},)"
                                      R"("d":{"dtype":"F64","shape":[5],"data_offsets":[24,64]}})",
                                      data));
  const NamedTensors loaded = load_safetensors(path);
  REQUIRE(loaded.size() == 3);

  const std::vector<float> h = loaded[0].second.to_vector();
  CHECK(h[0] == 1.0f);
  CHECK(h[1] == -2.0f);
  CHECK(h[2] == 65504.0f);
  CHECK(h[3] == std::ldexp(1.0f, -24));
  CHECK(h[4] == 1023.0f * std::ldexp(1.0f, -24));
  CHECK(h[5] == inf);
  CHECK(h[6] == -inf);
  CHECK(std::isnan(h[7]));
  CHECK(h[8] == 0.0f);
  CHECK(std::signbit(h[8]));

  CHECK(loaded[1].second.to_vector() == std::vector<float>{1.0f, -3.140625f, inf});
  CHECK(loaded[2].second.to_vector() ==
        std::vector<float>{0.1f, inf, -inf, std::numeric_limits<float>::max(), inf});
}
