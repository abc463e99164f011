#pragma once
// Internal to nn/serialize.cpp: the safetensors header (JSON) and element types, apart from the
// file handling. nlohmann-json appears only in safetensors_header.cpp.
#include <bit>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "nn/serialize.h"

namespace tapegrad::safetensors {

// Tensor data is copied between memory and file as raw bytes; the format is little-endian.
static_assert(std::endian::native == std::endian::little,
              "safetensors data is little-endian; a big-endian host would need byte swaps");

// The reference reader's limit; a larger length means a corrupt or foreign file.
constexpr std::uint64_t kMaxHeaderBytes = 100'000'000;

// The file's element types tapegrad reads. Floats load as float32 tensors; integers as int64
// tensors (I32 widened: tapegrad has no int32 dtype, and every int32 value is an exact int64).
enum class DType { F32, F64, F16, BF16, I64, I32 };

// The tapegrad dtype a file dtype loads as.
Dtype loaded_dtype(DType dtype);

// One tensor of the header, validated: its bytes [begin, end) of the data buffer hold exactly
// numel(shape) elements of dtype.
struct TensorEntry {
  std::string name;
  DType dtype;
  std::uint64_t element_size;
  Shape shape;
  std::uint64_t begin;
  std::uint64_t end;
};

struct Header {
  std::vector<TensorEntry> entries;  // in data order: sorted by offset, tiling the buffer
  std::map<std::string, std::string> metadata;
};

// Parses and validates a header for a data buffer of buffer_size bytes. Throws Error with the
// message "<where>: <problem>" (where names the caller and the file) on anything malformed.
Header parse_header(const std::string& where, const std::string& text, std::uint64_t buffer_size);

// The header for writing `tensors` in order, float32 as F32 and int64 as I64, padded with spaces to a multiple of 8 bytes.
// Throws ValueError for an empty, duplicate, reserved or non-UTF-8 name, an undefined tensor or
// non-UTF-8 metadata.
std::string build_header(const NamedTensors& tensors,
                         const std::map<std::string, std::string>& metadata);

// Widens `count` little-endian elements of F64, F16 or BF16 to float32.
void convert_to_float(DType dtype, const unsigned char* raw, std::int64_t count, float* out);
// Widens `count` little-endian I32 elements to int64.
void convert_to_int64(DType dtype, const unsigned char* raw, std::int64_t count, std::int64_t* out);

}  // namespace tapegrad::safetensors
