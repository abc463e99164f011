#pragma once
// Shared by the libFuzzer targets: the loaders under test read files, so each input is written to
// a file of this process's own first, and the model and optimizer they load into are compared
// before and after, because a failed load must change nothing.
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "autograd/tensor.h"

namespace fuzz {

// One scratch file per process and target (libFuzzer's -fork/-jobs modes run several processes).
inline const std::string& scratch_path(const char* target) {
  static const std::string path = [target] {
    const char* dir = std::getenv("TMPDIR");
    return std::string(dir != nullptr && *dir != '\0' ? dir : "/tmp") + "/tapegrad_fuzz_" + target +
           "_" + std::to_string(getpid()) + ".safetensors";
  }();
  return path;
}

inline void write_file(const std::string& path, const std::uint8_t* data, std::size_t size) {
  std::FILE* file = std::fopen(path.c_str(), "wb");
  if (file == nullptr) std::abort();  // the harness's own failure, not a finding
  if (size > 0 && std::fwrite(data, 1, size, file) != size) std::abort();
  std::fclose(file);
}

// Copies of the values, to compare after a load.
inline std::vector<std::vector<float>> snapshot(const std::vector<tapegrad::Tensor>& tensors) {
  std::vector<std::vector<float>> values;
  for (const tapegrad::Tensor& t : tensors) {
    values.emplace_back(t.data(), t.data() + t.numel());
  }
  return values;
}

// Bitwise equality (a NaN parameter must stay the same NaN).
inline bool same_bits(const std::vector<std::vector<float>>& a,
                      const std::vector<std::vector<float>>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (a[i].size() != b[i].size()) return false;
    if (!a[i].empty() && std::memcmp(a[i].data(), b[i].data(), a[i].size() * sizeof(float)) != 0) {
      return false;
    }
  }
  return true;
}

// A finding: the fuzzer reports the crash and keeps the input.
[[noreturn]] inline void fail(const char* what) {
  std::fprintf(stderr, "fuzz property violated: %s\n", what);
  std::abort();
}

}  // namespace fuzz
