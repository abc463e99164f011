// libFuzzer target: the safetensors header parser (nn/safetensors_header.cpp) on arbitrary JSON
// text. Input: 8 bytes of little-endian data-buffer size, then the header text. Every input must
// either parse into entries that tile the buffer exactly, or throw tapegrad::Error; anything else
// (another exception, a crash, a sanitizer report) is a finding.
#include <cstdint>
#include <cstring>
#include <string>

#include "fuzz_support.h"
#include "nn/safetensors_header.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 8) return 0;
  std::uint64_t buffer_size = 0;
  std::memcpy(&buffer_size, data, 8);
  const std::string text(reinterpret_cast<const char*>(data + 8), size - 8);
  try {
    const auto header = tapegrad::safetensors::parse_header("fuzz", text, buffer_size);
    // What parse_header promises: entries sorted by offset, tiling [0, buffer_size), each holding
    // exactly numel(shape) elements.
    std::uint64_t offset = 0;
    for (const auto& entry : header.entries) {
      if (entry.begin != offset || entry.end < entry.begin) fuzz::fail("entries do not tile");
      std::uint64_t numel = 1;
      for (std::int64_t extent : entry.shape) {
        if (extent < 0) fuzz::fail("negative extent accepted");
        numel *= static_cast<std::uint64_t>(extent);
      }
      if (numel * entry.element_size != entry.end - entry.begin) fuzz::fail("size mismatch");
      offset = entry.end;
    }
    if (offset != buffer_size) fuzz::fail("entries do not cover the buffer");
  } catch (const tapegrad::Error&) {
    // a clean refusal
  }
  return 0;
}
