#include "nn/serialize.h"

#include <cmath>
#include <cstdint>
#include <limits>

#include <nlohmann/json.hpp>

#include "autograd/grad_mode.h"
#include "safetensors_test_util.h"
#include "test_util.h"

namespace fs = std::filesystem;
using namespace tapegrad;
using namespace tapegrad::testing;
using Catch::Contains;

TEST_CASE("save_safetensors then load_safetensors round-trips names, order, shapes, values",
          "[serialize]") {
  ScratchDir dir;
  const std::string path = dir.file("model.safetensors");
  const NamedTensors saved = sample_tensors();
  const std::map<std::string, std::string> metadata{{"format", "pt"}, {"step", "12"}};
  save_safetensors(path, saved, metadata);

  std::map<std::string, std::string> loaded_metadata{{"stale", "entry"}};
  const NamedTensors loaded = load_safetensors(path, &loaded_metadata);
  REQUIRE(loaded.size() == saved.size());
  for (std::size_t i = 0; i < saved.size(); ++i) {
    INFO(saved[i].first);
    CHECK(loaded[i].first == saved[i].first);
    CHECK(same_bits(loaded[i].second, saved[i].second));  // bitwise: -0, inf, NaN, denormals
    CHECK_FALSE(loaded[i].second.is_same(saved[i].second));
    CHECK_FALSE(loaded[i].second.requires_grad());
  }
  CHECK(loaded[1].second.dim() == 0);
  CHECK(loaded_metadata == metadata);

  // A file without metadata clears the caller's map.
  save_safetensors(path, {{"x", Tensor::ones({1})}});
  load_safetensors(path, &loaded_metadata);
  CHECK(loaded_metadata.empty());

  // No tensors at all is a valid file too.
  save_safetensors(path, {});
  CHECK(load_safetensors(path).empty());
  CHECK(dir.listing() == std::set<std::string>{"model.safetensors"});
}

TEST_CASE("save_safetensors rejects bad names and undefined tensors", "[serialize]") {
  ScratchDir dir;
  const std::string path = dir.file("bad.safetensors");
  const Tensor t = Tensor::ones({2});
  REQUIRE_THROWS_AS(save_safetensors(path, {{"a", t}, {"", t}}), ValueError);
  REQUIRE_THROWS_WITH(save_safetensors(path, {{"a", t}, {"", t}}),
                      Contains("save_safetensors") && Contains("#1 has an empty name"));
  REQUIRE_THROWS_AS(save_safetensors(path, {{"a", t}, {"b", t}, {"a", t}}), ValueError);
  REQUIRE_THROWS_WITH(save_safetensors(path, {{"a", t}, {"b", t}, {"a", t}}),
                      Contains("duplicate tensor name 'a'"));
  REQUIRE_THROWS_AS(save_safetensors(path, {{"w", Tensor()}}), ValueError);
  REQUIRE_THROWS_WITH(save_safetensors(path, {{"w", Tensor()}}), Contains("'w' is undefined"));
  REQUIRE_THROWS_WITH(save_safetensors(path, {{"__metadata__", t}}), Contains("reserved"));
  REQUIRE_THROWS_AS(save_safetensors(path, {{"bad\xff", t}}), ValueError);
  REQUIRE_THROWS_WITH(save_safetensors(path, {{"ok", t}}, {{"k", "\xc3"}}), Contains("UTF-8"));
  CHECK(dir.listing().empty());  // nothing was created, not even a temporary file
}

TEST_CASE("a failing save leaves the existing file byte-identical and no temporary file",
          "[serialize]") {
  ScratchDir dir;
  const std::string path = dir.file("keep.safetensors");
  save_safetensors(path, sample_tensors(), {{"version", "1"}});
  const std::string before = read_bytes(path);
  const Tensor t = Tensor::ones({3});

  REQUIRE_THROWS_AS(save_safetensors(path, {{"a", t}, {"a", t}}), ValueError);
  REQUIRE_THROWS_AS(save_safetensors(path, {{"a", t}, {"u", Tensor()}}), ValueError);
  CHECK(read_bytes(path) == before);

  // The directory does not exist: the temporary file cannot even be created.
  const std::string missing_dir = dir.file("no_such_dir/out.safetensors");
  REQUIRE_THROWS_AS(save_safetensors(missing_dir, {{"a", t}}), Error);
  REQUIRE_THROWS_WITH(save_safetensors(missing_dir, {{"a", t}}),
                      Contains(missing_dir) && Contains("No such file or directory"));

  // The target is a directory: the temporary file is written, the rename fails, and the
  // temporary file must be cleaned up.
  fs::create_directory(dir.file("a_directory"));
  REQUIRE_THROWS_WITH(save_safetensors(dir.file("a_directory"), {{"a", t}}),
                      Contains("a_directory") && Contains("save_safetensors: cannot write"));
  CHECK(dir.listing() == std::set<std::string>{"keep.safetensors", "a_directory"});
  CHECK(read_bytes(path) == before);

  // A successful save replaces the file and leaves nothing else behind.
  save_safetensors(path, {{"a", t}});
  CHECK(read_bytes(path) != before);
  CHECK(load_safetensors(path).size() == 1);
  CHECK(dir.listing() == std::set<std::string>{"keep.safetensors", "a_directory"});
}

TEST_CASE("load_safetensors rejects a valid file truncated at any point", "[serialize]") {
  ScratchDir dir;
  const std::string good = dir.file("good.safetensors");
  save_safetensors(good, sample_tensors(), {{"format", "pt"}});
  const std::string bytes = read_bytes(good);
  std::uint64_t header_length = 0;
  for (int i = 7; i >= 0; --i)
    header_length = (header_length << 8) | static_cast<unsigned char>(bytes[i]);
  const std::size_t data_start = 8 + header_length;

  const std::string cut_path = dir.file("cut.safetensors");
  struct Cut {
    std::size_t size;
    const char* fragment;
  };
  const std::vector<Cut> cuts = {{0, "too short"},
                                 {7, "too short"},
                                 {8, "is larger than the 0 bytes after it"},
                                 {20, "is larger than"},
                                 {data_start - 1, "is larger than"},
                                 {data_start, "lie outside the data buffer of 0 bytes"},
                                 {data_start + 10, "lie outside the data buffer of 10 bytes"},
                                 {bytes.size() - 1, "lie outside the data buffer"}};
  for (const Cut& cut : cuts) {
    INFO("truncated to " << cut.size << " of " << bytes.size() << " bytes");
    write_bytes(cut_path, bytes.substr(0, cut.size));
    REQUIRE_THROWS_WITH(load_safetensors(cut_path), Contains(cut_path) && Contains(cut.fragment));
  }
  write_bytes(cut_path, bytes + "x");
  REQUIRE_THROWS_WITH(load_safetensors(cut_path), Contains("1 trailing bytes"));
}

TEST_CASE("load_safetensors reads the file PyTorch wrote exactly", "[serialize]") {
  std::ifstream expected_file(TAPEGRAD_FIXTURE_DIR "/torch_tensors.json");
  REQUIRE(expected_file.good());
  const auto expected = nlohmann::json::parse(expected_file);
  std::map<std::string, std::string> metadata;
  const NamedTensors loaded =
      load_safetensors(TAPEGRAD_FIXTURE_DIR "/torch_tensors.safetensors", &metadata);

  CHECK(metadata == expected["metadata"].get<std::map<std::string, std::string>>());
  REQUIRE(loaded.size() == expected["tensors"].size());
  for (std::size_t i = 0; i < loaded.size(); ++i) {
    const auto& want = expected["tensors"][i];
    INFO(want["name"].get<std::string>() << " (" << want["dtype"].get<std::string>() << ")");
    CHECK(loaded[i].first == want["name"].get<std::string>());
    CHECK(loaded[i].second.shape() == want["shape"].get<Shape>());
    std::vector<float> values;
    for (double v : want["values"].get<std::vector<double>>())
      values.push_back(static_cast<float>(v));
    CHECK(loaded[i].second.to_vector() == values);  // exact: json holds the float32 values
  }
}

namespace {

struct Snapshot {
  std::vector<float> values;
  std::uint64_t version;
};

std::vector<Snapshot> snapshot(const NamedTensors& tensors) {
  std::vector<Snapshot> result;
  for (const auto& [name, tensor] : tensors)
    result.push_back({tensor.to_vector(), tensor.version()});
  return result;
}

bool unchanged(const NamedTensors& tensors, const std::vector<Snapshot>& before) {
  const std::vector<Snapshot> now = snapshot(tensors);
  for (std::size_t i = 0; i < now.size(); ++i) {
    if (now[i].values != before[i].values || now[i].version != before[i].version) return false;
  }
  return true;
}

}  // namespace

TEST_CASE("load_into copies values into existing tensors by name", "[serialize]") {
  ScratchDir dir;
  const std::string path = dir.file("params.safetensors");
  const Tensor w_saved = Tensor::from_vector({1, 2, 3, 4, 5, 6}, {2, 3});
  const Tensor b_saved = Tensor::from_vector({-1, -2}, {2});
  save_safetensors(path, {{"w", w_saved}, {"b", b_saved}});

  // Parameters that require grad, in a different order from the file, with grad mode on.
  Tensor w = Tensor::zeros({2, 3}, true);
  Tensor b = Tensor::zeros({2}, true);
  const std::uint64_t w_version = w.version();
  load_into(path, {{"b", b}, {"w", w}});
  REQUIRE_ALL_CLOSE(w, w_saved, 0.0, 0.0);
  REQUIRE_ALL_CLOSE(b, b_saved, 0.0, 0.0);
  CHECK(w.version() > w_version);  // graphs that saved w will notice
  CHECK(w.requires_grad());
  CHECK(is_grad_enabled());

  // strict=false loads what matches and ignores the rest.
  Tensor extra = Tensor::full({4}, 9.0f);
  Tensor w2 = Tensor::zeros({2, 3});
  load_into(path, {{"w", w2}, {"extra", extra}}, /*strict=*/false);
  REQUIRE_ALL_CLOSE(w2, w_saved, 0.0, 0.0);
  CHECK(extra.to_vector() == std::vector<float>(4, 9.0f));
}

TEST_CASE("load_into checks every name and shape first and changes nothing on a mismatch",
          "[serialize]") {
  ScratchDir dir;
  const std::string path = dir.file("params.safetensors");
  save_safetensors(path, {{"w", Tensor::ones({2, 3})}, {"b", Tensor::ones({2})}});

  Tensor w = Tensor::full({2, 3}, 5.0f);
  Tensor b = Tensor::full({2}, 5.0f);
  Tensor c = Tensor::full({1}, 5.0f);
  Tensor w_transposed = Tensor::full({3, 2}, 5.0f);

  SECTION("missing key") {
    const NamedTensors destination{{"w", w}, {"b", b}, {"c", c}};
    const auto before = snapshot(destination);
    REQUIRE_THROWS_AS(load_into(path, destination), ValueError);
    REQUIRE_THROWS_WITH(load_into(path, destination),
                        Contains("load_into: '" + path + "'") && Contains("missing keys") &&
                            Contains("'c'") && !Contains("unexpected"));
    CHECK(unchanged(destination, before));
  }
  SECTION("unexpected key") {
    const NamedTensors destination{{"w", w}};
    const auto before = snapshot(destination);
    REQUIRE_THROWS_AS(load_into(path, destination), ValueError);
    REQUIRE_THROWS_WITH(
        load_into(path, destination),
        Contains("unexpected keys (not in the destination): 'b'") && !Contains("missing"));
    CHECK(unchanged(destination, before));
  }
  SECTION("shape mismatch, also when not strict") {
    const NamedTensors destination{{"b", b}, {"w", w_transposed}};
    const auto before = snapshot(destination);
    for (bool strict : {true, false}) {
      REQUIRE_THROWS_AS(load_into(path, destination, strict), ShapeError);
      REQUIRE_THROWS_WITH(load_into(path, destination, strict),
                          Contains("'w' expected [3, 2] (destination), got [2, 3] (file)"));
    }
    CHECK(unchanged(destination, before));
  }
  SECTION("every problem is listed at once") {
    const NamedTensors destination{{"w", w_transposed}, {"c", c}};
    const auto before = snapshot(destination);
    REQUIRE_THROWS_AS(load_into(path, destination), ValueError);
    REQUIRE_THROWS_WITH(load_into(path, destination),
                        Contains("missing keys (not in the file): 'c'") &&
                            Contains("unexpected keys") && Contains("'b'") &&
                            Contains("shape mismatches: 'w'"));
    CHECK(unchanged(destination, before));
  }
  SECTION("bad destinations and bad files") {
    const NamedTensors destination{{"w", w}, {"b", b}};
    const auto before = snapshot(destination);
    REQUIRE_THROWS_AS(load_into(path, {{"w", w}, {"w", w}}), ValueError);
    REQUIRE_THROWS_WITH(load_into(path, {{"w", w}, {"b", Tensor()}}), Contains("'b' is undefined"));
    const std::string corrupt = dir.file("corrupt.safetensors");
    std::string bytes = read_bytes(path);
    write_bytes(corrupt, bytes.substr(0, bytes.size() - 4));
    REQUIRE_THROWS_WITH(load_into(corrupt, destination), Contains("load_into: '" + corrupt + "'") &&
                                                             Contains("outside the data buffer"));
    CHECK(unchanged(destination, before));
  }
}
