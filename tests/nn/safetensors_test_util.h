#pragma once
// Helpers shared by the safetensors tests: scratch directories and hand-made file bytes.
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "nn/serialize.h"

namespace tapegrad::testing {

// A fresh directory per test case, removed afterwards; ctest runs cases in parallel processes.
class ScratchDir {
 public:
  ScratchDir() {
    path_ =
        std::filesystem::temp_directory_path() / ("tapegrad_serialize_" + std::to_string(getpid()) +
                                                  "_" + std::to_string(std::random_device{}()));
    std::filesystem::create_directories(path_);
  }
  ~ScratchDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  std::string file(const std::string& name) const { return (path_ / name).string(); }
  std::set<std::string> listing() const {
    std::set<std::string> names;
    for (const auto& entry : std::filesystem::directory_iterator(path_)) {
      names.insert(entry.path().filename().string());
    }
    return names;
  }

 private:
  std::filesystem::path path_;
};

inline std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

inline void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

inline std::string u64_le(std::uint64_t value) {
  std::string bytes(8, '\0');
  for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>((value >> (8 * i)) & 0xff);
  return bytes;
}

// A file as the format lays it out, with an optional wrong header length.
inline std::string safetensors_bytes(const std::string& header, const std::string& data,
                                     std::optional<std::uint64_t> header_length = std::nullopt) {
  return u64_le(header_length.value_or(header.size())) + header + data;
}

template <typename T>
std::string raw_bytes(const std::vector<T>& values) {
  std::string bytes(values.size() * sizeof(T), '\0');
  if (!values.empty()) std::memcpy(bytes.data(), values.data(), bytes.size());
  return bytes;
}

inline bool same_bits(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() &&
         std::memcmp(a.data(), b.data(), sizeof(float) * static_cast<std::size_t>(a.numel())) == 0;
}

inline NamedTensors sample_tensors() {
  Generator generator(7);
  Tensor special = Tensor::from_vector(
      {-0.0f, std::numeric_limits<float>::infinity(), std::numeric_limits<float>::quiet_NaN(),
       std::numeric_limits<float>::denorm_min(), -3.5f},
      {5});
  // Deliberately not in alphabetical order: the order given must survive.
  return {{"zeta.weight", Tensor::normal({2, 3}, 0.0f, 1.0f, generator)},
          {"alpha", Tensor::scalar(4.25f)},
          {"empty", Tensor::zeros({0, 4})},
          {"special", special},
          {"layer.0.bias", Tensor::uniform({2, 1, 3}, -1.0f, 1.0f, generator)}};
}

}  // namespace tapegrad::testing
