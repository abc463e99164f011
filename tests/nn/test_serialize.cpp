#include "nn/serialize.h"

#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <limits>

#include <nlohmann/json.hpp>

#include "autograd/grad_mode.h"
#include "nn/layers.h"
#include "optim/checkpoint.h"
#include "optim/sgd.h"
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
  std::size_t integer_entries = 0;
  for (std::size_t i = 0; i < loaded.size(); ++i) {
    const auto& want = expected["tensors"][i];
    const std::string dtype = want["dtype"].get<std::string>();
    INFO(want["name"].get<std::string>() << " (" << dtype << ")");
    CHECK(loaded[i].first == want["name"].get<std::string>());
    CHECK(loaded[i].second.shape() == want["shape"].get<Shape>());
    if (dtype == "I64" || dtype == "I32") {
      // Integer entries load as int64 (I32 widened) and hold the JSON integers exactly, read as
      // int64: values such as INT64_MAX and 2^53 + 1 that no double holds.
      ++integer_entries;
      REQUIRE(loaded[i].second.dtype() == Dtype::int64);
      std::vector<std::int64_t> values;
      for (const auto& value : want["values"]) {
        REQUIRE(value.is_number_integer());  // the fixture wrote an integer, not a rounded float
        values.push_back(value.get<std::int64_t>());
      }
      CHECK(loaded[i].second.to_vector_i64() == values);
    } else {
      REQUIRE(loaded[i].second.dtype() == Dtype::float32);
      std::vector<float> values;
      for (double v : want["values"].get<std::vector<double>>())
        values.push_back(static_cast<float>(v));
      CHECK(loaded[i].second.to_vector() == values);  // exact: json holds the float32 values
    }
  }
  CHECK(integer_entries == 4);  // ids_i64, scalar_i64, empty_i64, as_i32

  // The extremes once more, spelled out here rather than read from the json, so the fixture's
  // json and safetensors file cannot agree on a wrong value.
  constexpr std::int64_t int64_min = std::numeric_limits<std::int64_t>::min();
  constexpr std::int64_t int64_max = std::numeric_limits<std::int64_t>::max();
  CHECK(loaded.at("ids_i64").to_vector_i64() ==
        std::vector<std::int64_t>{int64_min, int64_max, 9007199254740993, -9007199254740993, 0,
                                  -1});
  CHECK(loaded.at("scalar_i64").item_i64() == 9007199254740993);
  CHECK(loaded.at("empty_i64").shape() == Shape{2, 0});
  CHECK(loaded.at("empty_i64").dtype() == Dtype::int64);
  CHECK(loaded.at("as_i32").to_vector_i64() ==
        std::vector<std::int64_t>{std::numeric_limits<std::int32_t>::min(),
                                  std::numeric_limits<std::int32_t>::max(), 16777217, -7, 0});
}

namespace {

struct Snapshot {
  std::vector<float> values;
  std::uint64_t version = 0;
};

std::vector<Snapshot> snapshot(const NamedTensors& tensors) {
  std::vector<Snapshot> result;
  for (const auto& [name, tensor] : tensors) {
    result.push_back(tensor.defined() ? Snapshot{tensor.to_vector(), tensor.version()} : Snapshot{});
  }
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

// ---- load_into from memory: the same check as from a file

namespace {

// The file message with the file named as the memory version names its source.
std::string as_memory_message(std::string message, const std::string& path) {
  const auto replace_all = [&message](const std::string& from, const std::string& to) {
    for (std::size_t at = 0; (at = message.find(from, at)) != std::string::npos; at += to.size())
      message.replace(at, from.size(), to);
  };
  replace_all("'" + path + "'", "the source");
  replace_all("the file", "the source");
  replace_all("(file)", "(source)");
  return message;
}

template <class Load>
std::pair<std::string, std::string> error_of(Load load) {
  try {
    load();
  } catch (const ShapeError& e) {
    return {"ShapeError", e.what()};
  } catch (const ValueError& e) {
    return {"ValueError", e.what()};
  }
  return {"none", ""};
}

}  // namespace

TEST_CASE("load_into from memory gives the file's errors and results, from the same check",
          "[serialize][state_dict]") {
  ScratchDir dir;
  const std::string path = dir.file("params.safetensors");
  const NamedTensors source{{"w", Tensor::ones({2, 3})}, {"b", Tensor::ones({2})}};
  save_safetensors(path, source);
  const Tensor w = Tensor::full({2, 3}, 5.0f), b = Tensor::full({2}, 5.0f), c = Tensor::full({1}, 5.0f);
  const Tensor w_transposed = Tensor::full({3, 2}, 5.0f);
  const std::vector<NamedTensors> destinations{
      {{"w", w}, {"b", b}, {"c", c}},  // missing
      {{"w", w}},                      // unexpected
      {{"b", b}, {"w", w_transposed}},  // shape
      {{"w", w_transposed}, {"c", c}},  // everything at once
      {{"w", w}, {"w", w}},             // a repeated destination
      {{"w", w}, {"b", Tensor()}},      // an undefined destination
  };
  for (std::size_t i = 0; i < destinations.size(); ++i) {
    for (bool strict : {true, false}) {
      INFO("destination " << i << (strict ? " strict" : " not strict"));
      const auto before = snapshot(destinations[i]);
      const auto [file_kind, file_message] =
          error_of([&] { load_into(path, destinations[i], strict); });
      const auto [memory_kind, memory_message] =
          error_of([&] { load_into(source, destinations[i], strict); });
      REQUIRE(memory_kind == file_kind);
      REQUIRE(memory_message == as_memory_message(file_message, path));
      if (file_kind != "none") {
        CHECK(unchanged(destinations[i], before));
      }
    }
  }
  // strict=false: what was left out, the same both ways.
  Tensor w2 = Tensor::zeros({2, 3});
  const NamedTensors partial{{"w", w2}, {"extra", Tensor::zeros({4})}};
  const IncompatibleKeys from_file = load_into(path, partial, false);
  const IncompatibleKeys from_memory = load_into(source, partial, false);
  CHECK(from_file.missing_keys == std::vector<std::string>{"extra"});
  CHECK(from_file.unexpected_keys == std::vector<std::string>{"b"});
  CHECK(from_memory.missing_keys == from_file.missing_keys);
  CHECK(from_memory.unexpected_keys == from_file.unexpected_keys);
  CHECK(w2.to_vector() == std::vector<float>(6, 1.0f));
  CHECK(load_into(source, {{"w", w2}, {"b", Tensor::zeros({2})}}).missing_keys.empty());
}

TEST_CASE("load_into from memory: bad sources, shared storage, labels", "[serialize][state_dict]") {
  Tensor a = Tensor::from_vector({1, 2}, {2});
  Tensor b = Tensor::from_vector({3, 4}, {2});
  REQUIRE_THROWS_WITH(load_into({{"a", Tensor()}}, {{"a", a}}),
                      Contains("load_into: source entry 'a' is undefined"));
  REQUIRE_THROWS_WITH(load_into({{"a", b}, {"a", b}}, {{"a", a}}),
                      Contains("load_into: the source has 'a' twice"));
  CHECK(a.to_vector() == std::vector<float>{1, 2});

  // Swapped names over the same storage: every value is read before any is written.
  const std::uint64_t version = a.version();
  load_into({{"a", b}, {"b", a}}, {{"a", a}, {"b", b}});
  CHECK(a.to_vector() == std::vector<float>{3, 4});
  CHECK(b.to_vector() == std::vector<float>{1, 2});
  CHECK(a.version() > version);
  load_into({{"a", a}}, {{"a", a}});  // onto itself
  CHECK(a.to_vector() == std::vector<float>{3, 4});

  REQUIRE_THROWS_WITH(load_into({{"a", a}}, {{"z", b}}, true, {.op = "load_state_dict",
                                                            .source = "state dict",
                                                            .destination = "module"}),
                      Contains("load_state_dict: the state dict does not match the module; "
                               "missing keys (not in the state dict): 'z'; unexpected keys (not in "
                               "the module): 'a'"));
}

TEST_CASE("NamedTensors: what load_safetensors returns is looked up by name", "[serialize]") {
  ScratchDir dir;
  const std::string path = dir.file("lookup.safetensors");
  save_safetensors(path,
                   {{"lstm.weight_ih_l0", Tensor::ones({4, 2})}, {"head.bias", Tensor::zeros({1})}});
  NamedTensors loaded = load_safetensors(path);
  CHECK(loaded.at("head.bias").shape() == Shape{1});
  CHECK(loaded.at(0).first == "lstm.weight_ih_l0");  // by position, as before
  CHECK(loaded.contains("lstm.weight_ih_l0"));
  CHECK_FALSE(loaded.contains("lstm"));
  CHECK(loaded.find("missing") == loaded.end());
  loaded.at("head.bias") = Tensor::ones({1});
  CHECK(loaded.at("head.bias").item() == 1.0f);
  REQUIRE_THROWS_AS(loaded.at("head.weight"), IndexError);
  REQUIRE_THROWS_WITH(std::as_const(loaded).at("head.weight"),
                      Contains("NamedTensors::at: no tensor named 'head.weight' among the 2: "
                               "'lstm.weight_ih_l0', 'head.bias'"));
}

// ---- leftovers of killed saves (nn/serialize.cpp's temporary-file rule)

namespace {

std::int64_t boot_clock_ns() {
  timespec now{};
  clock_gettime(CLOCK_BOOTTIME, &now);
  return static_cast<std::int64_t>(now.tv_sec) * 1'000'000'000 + now.tv_nsec;
}

// Waits until two clock ticks have passed since now, so that a process forked afterwards has a
// start time (which the kernel counts in whole ticks) later than every instant taken before.
void let_two_ticks_pass() {
  const std::int64_t until = boot_clock_ns() + 2 * (1'000'000'000 / sysconf(_SC_CLK_TCK));
  while (boot_clock_ns() <= until) usleep(1000);
}

// Runs `work` in a child process and returns its wait status (exit 0 when work returned). The
// child is a new process, as the next run of a training program would be.
template <class Work>
int in_child_process(Work work) {
  const pid_t child = fork();
  if (child == 0) {
    int code = 1;
    try {
      work();
      code = 0;
    } catch (...) {
    }
    _exit(code);
  }
  int status = -1;
  waitpid(child, &status, 0);
  return status;
}

bool exited_cleanly(int status) { return WIFEXITED(status) && WEXITSTATUS(status) == 0; }

// The id of a process that has exited and been reaped.
pid_t dead_pid() {
  const pid_t child = fork();
  if (child == 0) _exit(0);
  waitpid(child, nullptr, 0);
  return child;
}

std::set<std::string> temp_files_of(const ScratchDir& dir, const std::string& target_name) {
  std::set<std::string> temps;
  for (const std::string& name : dir.listing()) {
    if (name.starts_with(target_name + ".tmp.")) temps.insert(name);
  }
  return temps;
}

}  // namespace

TEST_CASE("a save removes its target's temp files left by dead savers and nothing else",
          "[serialize][stale_temp]") {
  ScratchDir dir;
  const std::string prefix = "model.safetensors.tmp.";
  const std::string dead = std::to_string(dead_pid());
  // A live saver: a process that runs until we close its pipe.
  int pipe_ends[2];
  REQUIRE(pipe(pipe_ends) == 0);
  const pid_t live_pid = fork();
  if (live_pid == 0) {
    close(pipe_ends[1]);
    char byte;
    while (read(pipe_ends[0], &byte, 1) > 0) {
    }
    _exit(0);
  }
  close(pipe_ends[0]);
  const std::string live = std::to_string(live_pid);
  let_two_ticks_pass();
  const std::string named = std::to_string(boot_clock_ns());  // after the live saver started

  const std::set<std::string> stale = {
      prefix + dead + "." + named + ".0",  // its saver is dead
      prefix + dead + ".1.15",             // the same, from long ago
      prefix + live + ".1.0",              // named before the process that now has its pid began
  };
  const std::set<std::string> kept = {
      prefix + live + "." + named + ".0",  // its saver may still be writing
      // Not exactly the pattern: two or four numbers, signs, empty or non-digit parts, a leading
      // zero, pid 0, a pid beyond int64, another target, another spelling.
      prefix + dead + ".1", prefix + dead + ".1.0.partial", prefix + dead + ".1.0 ",
      prefix + dead + ".1.x", prefix + "+" + dead + ".1.0", prefix + dead + "..0",
      prefix + dead + ".-1.0", prefix + "0" + dead + ".1.0", prefix + "0.1.0",
      prefix + "99999999999999999999.1.0",
      "other.safetensors.tmp." + dead + ".1.0", "xmodel.safetensors.tmp." + dead + ".1.0",
      "model.safetensors.tmp" + dead + ".1.0", "model.safetensors.TMP." + dead + ".1.0",
      "model.tmp." + dead + ".1.0", "victim"};
  for (const auto* names : {&stale, &kept}) {
    for (const std::string& name : *names) write_bytes(dir.file(name), "x");
  }
  // Of the form but not regular files: a directory and a symlink (whose target must survive).
  fs::create_directory(dir.file(prefix + dead + ".2.0"));
  fs::create_symlink(dir.file("victim"), dir.file(prefix + dead + ".3.0"));
  // Of the form but in another directory.
  fs::create_directory(dir.file("sub"));
  write_bytes(dir.file("sub/" + prefix + dead + ".1.0"), "x");

  let_two_ticks_pass();
  const int status = in_child_process(
      [&] { save_safetensors(dir.file("model.safetensors"), {{"w", Tensor::ones({2})}}); });
  close(pipe_ends[1]);
  waitpid(live_pid, nullptr, 0);
  REQUIRE(exited_cleanly(status));

  std::set<std::string> expected = kept;
  expected.insert({"model.safetensors", prefix + dead + ".2.0", prefix + dead + ".3.0", "sub"});
  CHECK(dir.listing() == expected);
  CHECK(fs::exists(dir.file("sub/" + prefix + dead + ".1.0")));
  CHECK(read_bytes(dir.file("victim")) == "x");
}

TEST_CASE("a temp file named after this process started is kept, whatever its pid",
          "[serialize][stale_temp]") {
  // It may belong to a saver that is running now; only a later process may judge it.
  ScratchDir dir;
  const std::string target = dir.file("model.safetensors");
  const std::string fresh =
      "model.safetensors.tmp." + std::to_string(dead_pid()) + "." +
      std::to_string(boot_clock_ns()) + ".0";
  write_bytes(dir.file(fresh), "x");
  save_safetensors(target, {{"w", Tensor::ones({2})}});
  CHECK(dir.listing() == std::set<std::string>{"model.safetensors", fresh});
  let_two_ticks_pass();
  const auto save_again = [&] { save_safetensors(target, {{"w", Tensor::ones({2})}}); };
  REQUIRE(exited_cleanly(in_child_process(save_again)));
  CHECK(dir.listing() == std::set<std::string>{"model.safetensors"});
}

TEST_CASE("a save killed mid-write leaves a temp file that the next run's save removes",
          "[serialize][stale_temp]") {
  ScratchDir dir;
  const std::string target = dir.file("model.safetensors");
  save_safetensors(target, {{"w", Tensor::zeros({4})}});  // the previous checkpoint
  const std::string previous = read_bytes(target);
  const Tensor big = Tensor::ones({1 << 20});  // 4 MiB of data
  constexpr rlim_t kWrittenBeforeKill = 1 << 20;

  const int killed = in_child_process([&] {
    // The write that crosses the 1 MiB file-size limit raises SIGXFSZ; its handler SIGKILLs the
    // process there, mid-save, as `kill -9` or the OOM killer would: no destructor runs.
    signal(SIGXFSZ, +[](int) { kill(getpid(), SIGKILL); });
    const rlimit no_core{0, 0};
    const rlimit file_size{kWrittenBeforeKill, kWrittenBeforeKill};
    setrlimit(RLIMIT_CORE, &no_core);
    setrlimit(RLIMIT_FSIZE, &file_size);
    save_safetensors(target, {{"w", big}});
  });
  REQUIRE(WIFSIGNALED(killed));
  REQUIRE(WTERMSIG(killed) == SIGKILL);
  const std::set<std::string> litter = temp_files_of(dir, "model.safetensors");
  REQUIRE(litter.size() == 1);
  const std::string leftover = dir.file(*litter.begin());
  CHECK(fs::file_size(leftover) == kWrittenBeforeKill);
  CHECK(read_bytes(target) == previous);  // the kill never reached the checkpoint

  // This process started before the killed save, so to it the file may be a live saver's.
  save_safetensors(target, {{"w", Tensor::zeros({4})}});
  CHECK(fs::exists(leftover));
  // The next run of the program removes it (and saves).
  let_two_ticks_pass();
  REQUIRE(exited_cleanly(in_child_process([&] { save_safetensors(target, {{"w", big}}); })));
  CHECK(dir.listing() == std::set<std::string>{"model.safetensors"});
  CHECK(same_bits(load_safetensors(target).at(0).second, big));
}

TEST_CASE("model and optimizer checkpoints clean up through the same temp files",
          "[serialize][stale_temp]") {
  ScratchDir dir;
  Generator generator(3);
  nn::Linear linear({.in_features = 2, .out_features = 1}, generator);
  optim::SGD sgd(linear.parameters(), {.lr = 0.1f, .momentum = 0.9f});
  const std::string dead = std::to_string(dead_pid());
  // Named 1 ns after boot by a dead process: stale for any process.
  const std::string model_litter = "model.safetensors.tmp." + dead + ".1.0";
  const std::string optimizer_litter = "sgd.safetensors.tmp." + dead + ".1.0";
  write_bytes(dir.file(model_litter), "x");
  write_bytes(dir.file(optimizer_litter), "x");

  nn::save(linear, dir.file("model.safetensors"));
  CHECK(dir.listing() == std::set<std::string>{"model.safetensors", optimizer_litter});
  optim::save(sgd, dir.file("sgd.safetensors"));
  CHECK(dir.listing() == std::set<std::string>{"model.safetensors", "sgd.safetensors"});
}
