#include "nn/safetensors_header.h"

#include <algorithm>
#include <bit>
#include <cfloat>
#include <cmath>
#include <cstring>
#include <nlohmann/json.hpp>
#include <set>

namespace tapegrad::safetensors {
namespace {

// ordered_json keeps the header's keys in file order, so tensors with equal offsets (empty ones)
// come back in the order they were written.
using Json = nlohmann::ordered_json;

constexpr const char* kMetadataKey = "__metadata__";

std::string in_quotes(const std::string& text) { return "'" + text + "'"; }

// A JSON value for an error message, cut short so a hostile header cannot bloat it.
std::string brief(const Json& value) {
  std::string text = value.dump();
  return text.size() > 40 ? text.substr(0, 37) + "..." : text;
}

// Every problem is reported as "<caller>: '<file>': <problem>".
struct Where {
  const std::string& where;
  [[noreturn]] void fail(const std::string& problem) const { throw Error(where + ": " + problem); }
};

// ---------------------------------------------------------------- dtypes

struct DTypeInfo {
  const char* name;
  DType dtype;
  std::uint64_t size;
};
constexpr DTypeInfo kDTypes[] = {{"F32", DType::F32, 4},
                                 {"F64", DType::F64, 8},
                                 {"F16", DType::F16, 2},
                                 {"BF16", DType::BF16, 2},
                                 {"I64", DType::I64, 8},
                                 {"I32", DType::I32, 4}};

// IEEE binary16: 1 sign, 5 exponent (bias 15), 10 mantissa bits. Subnormals are mant * 2^-24.
float half_to_float(std::uint16_t half) {
  const std::uint32_t sign = static_cast<std::uint32_t>(half >> 15) << 31;
  const std::uint32_t exponent = (half >> 10) & 0x1f;
  const std::uint32_t mantissa = half & 0x3ff;
  if (exponent == 0) {
    const float magnitude = std::ldexp(static_cast<float>(mantissa), -24);
    return sign ? -magnitude : magnitude;
  }
  if (exponent == 0x1f) return std::bit_cast<float>(sign | 0x7f800000u | (mantissa << 13));
  return std::bit_cast<float>(sign | ((exponent + 127 - 15) << 23) | (mantissa << 13));
}

// A plain cast is undefined for finite doubles beyond float's range. Round-to-nearest sends those
// at or above FLT_MAX + half an ulp (2^128 - 2^103) to infinity and the rest down to FLT_MAX.
float double_to_float(double value) {
  const double magnitude = std::abs(value);
  if (!(magnitude > FLT_MAX)) return static_cast<float>(value);  // also NaN
  const float rounded = magnitude >= 0x1p128 - 0x1p103 ? INFINITY : FLT_MAX;
  return std::signbit(value) ? -rounded : rounded;
}

// bfloat16 is the top half of a float32, so widening is a shift.
float bfloat16_to_float(std::uint16_t bits) {
  return std::bit_cast<float>(static_cast<std::uint32_t>(bits) << 16);
}

// ---------------------------------------------------------------- parsing

std::uint64_t parse_index(const Where& ctx, const std::string& what, const Json& value) {
  if (!value.is_number_unsigned()) {
    ctx.fail(what + " must be a non-negative integer, got " + brief(value));
  }
  return value.get<std::uint64_t>();
}

const Json& require_field(const Where& ctx, const std::string& tensor, const Json& entry,
                          const char* field, bool (Json::*has_type)() const noexcept,
                          const char* type_name) {
  const auto found = entry.find(field);
  if (found == entry.end()) {
    ctx.fail("tensor " + in_quotes(tensor) + ": missing field '" + field + "'");
  }
  if (!((*found).*has_type)()) {
    ctx.fail("tensor " + in_quotes(tensor) + ": field '" + field + "' must be " + type_name +
             ", got " + brief(*found));
  }
  return *found;
}

TensorEntry parse_entry(const Where& ctx, const std::string& name, const Json& value,
                        std::uint64_t buffer_size) {
  const std::string tensor = "tensor " + in_quotes(name);
  if (!value.is_object()) {
    ctx.fail(tensor + ": expected an object with dtype, shape and data_offsets, got " +
             brief(value));
  }
  for (const auto& field : value.items()) {
    if (field.key() != "dtype" && field.key() != "shape" && field.key() != "data_offsets") {
      ctx.fail(tensor + ": unexpected field " + in_quotes(field.key()));
    }
  }
  TensorEntry entry{name, DType::F32, 0, {}, 0, 0};

  const auto& dtype_name = require_field(ctx, name, value, "dtype", &Json::is_string, "a string")
                               .get_ref<const std::string&>();
  const DTypeInfo* dtype = nullptr;
  for (const DTypeInfo& info : kDTypes) {
    if (dtype_name == info.name) dtype = &info;
  }
  if (!dtype) {
    ctx.fail(tensor + " has dtype " + dtype_name +
             ", which tapegrad cannot load (supported: F32, and F64, F16, BF16 converted to F32; "
             "I64, and I32 widened to I64)");
  }

  // numel of a shape with a zero extent is 0, but the other extents must still be sane.
  const Json& shape = require_field(ctx, name, value, "shape", &Json::is_array, "an array");
  std::uint64_t nonzero_product = 1;
  bool has_zero = false;
  for (std::size_t d = 0; d < shape.size(); ++d) {
    const std::uint64_t extent =
        parse_index(ctx, tensor + ": shape entry " + std::to_string(d), shape[d]);
    entry.shape.push_back(static_cast<std::int64_t>(extent));  // checked just below
    if (extent == 0) {
      has_zero = true;
    } else if (extent > static_cast<std::uint64_t>(INT64_MAX) ||
               __builtin_mul_overflow(nonzero_product, extent, &nonzero_product) ||
               nonzero_product > static_cast<std::uint64_t>(INT64_MAX)) {
      ctx.fail(tensor + ": shape " + brief(shape) + " has more elements than fit in 64 bits");
    }
  }
  const std::uint64_t numel = has_zero ? 0 : nonzero_product;
  entry.dtype = dtype->dtype;
  entry.element_size = dtype->size;

  const Json& offsets =
      require_field(ctx, name, value, "data_offsets", &Json::is_array, "an array");
  if (offsets.size() != 2) {
    ctx.fail(tensor + ": data_offsets must be [begin, end], got " + brief(offsets));
  }
  entry.begin = parse_index(ctx, tensor + ": data_offsets[0]", offsets[0]);
  entry.end = parse_index(ctx, tensor + ": data_offsets[1]", offsets[1]);
  const std::string span =
      "data_offsets [" + std::to_string(entry.begin) + ", " + std::to_string(entry.end) + "]";
  if (entry.end < entry.begin) ctx.fail(tensor + ": " + span + " end before they begin");
  if (entry.end > buffer_size) {
    ctx.fail(tensor + ": " + span + " lie outside the data buffer of " +
             std::to_string(buffer_size) + " bytes (the file is truncated or the header is wrong)");
  }
  std::uint64_t needed = 0;
  const bool overflow = __builtin_mul_overflow(numel, dtype->size, &needed);
  if (overflow || needed != entry.end - entry.begin) {
    ctx.fail(tensor + ": " + span + " hold " + std::to_string(entry.end - entry.begin) +
             " bytes but shape " + format_shape(entry.shape) + " of " + dtype->name + " needs " +
             (overflow ? std::string("more than 2^64") : std::to_string(needed)));
  }
  return entry;
}

// The tensors must tile the data buffer exactly: no gaps (hidden bytes), no overlaps (aliasing),
// no trailing bytes. Sorting by offset also gives the file's data order, which load returns.
void check_layout(const Where& ctx, std::vector<TensorEntry>& entries, std::uint64_t buffer_size) {
  std::stable_sort(entries.begin(), entries.end(), [](const TensorEntry& a, const TensorEntry& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  std::uint64_t covered = 0;
  const TensorEntry* previous = nullptr;
  for (const TensorEntry& entry : entries) {
    const std::string bytes =
        " (bytes " + std::to_string(entry.begin) + " to " + std::to_string(entry.end) + ")";
    if (entry.begin < covered) {
      ctx.fail("tensor " + in_quotes(entry.name) + bytes + " overlaps tensor " +
               in_quotes(previous->name) + " (bytes " + std::to_string(previous->begin) + " to " +
               std::to_string(previous->end) + ")");
    }
    if (entry.begin > covered) {
      ctx.fail("gap of " + std::to_string(entry.begin - covered) + " bytes before tensor " +
               in_quotes(entry.name) + bytes + ": tensors must tile the data buffer");
    }
    covered = entry.end;
    previous = &entry;
  }
  if (covered != buffer_size) {
    ctx.fail(std::to_string(buffer_size - covered) + " trailing bytes after the last tensor " +
             "(the data buffer has " + std::to_string(buffer_size) + " bytes, tensors cover " +
             std::to_string(covered) + ")");
  }
}

}  // namespace

Header parse_header(const std::string& where, const std::string& text, std::uint64_t buffer_size) {
  const Where ctx{where};
  // nlohmann treats a NUL byte as the end of input, which would hide whatever follows it.
  if (text.find('\0') != std::string::npos) ctx.fail("header contains a NUL byte");
  // A valid header nests at most header -> entry -> shape: refuse deeper input while parsing,
  // before it costs memory, and refuse duplicate keys, which nlohmann would let shadow each other.
  std::set<std::string> tensor_keys, field_keys;
  std::string current_key;
  const Json::parser_callback_t guard = [&](int depth, Json::parse_event_t event, Json& parsed) {
    using Event = Json::parse_event_t;
    if ((event == Event::object_start || event == Event::array_start) && depth >= 3) {
      ctx.fail("header nests deeper than a safetensors header can");
    }
    if (event == Event::object_start && depth == 1) field_keys.clear();
    if (event == Event::key && depth == 1) {
      current_key = parsed.get<std::string>();
      if (!tensor_keys.insert(current_key).second) {
        ctx.fail("header has the key " + in_quotes(current_key) + " twice");
      }
    }
    if (event == Event::key && depth == 2 && !field_keys.insert(parsed.get<std::string>()).second) {
      ctx.fail("header has the key " + in_quotes(parsed.get<std::string>()) + " twice in " +
               in_quotes(current_key));
    }
    return true;
  };
  Json root;
  try {
    root = Json::parse(text, guard);
  } catch (const nlohmann::json::exception& error) {
    ctx.fail(std::string("header is not valid JSON: ") + error.what());
  }
  if (!root.is_object()) ctx.fail("header must be a JSON object, got " + brief(root));

  Header header;
  for (const auto& item : root.items()) {
    if (item.key() != kMetadataKey) {
      header.entries.push_back(parse_entry(ctx, item.key(), item.value(), buffer_size));
      continue;
    }
    if (item.value().is_null()) continue;
    if (!item.value().is_object()) {
      ctx.fail(std::string(kMetadataKey) + " must be an object, got " + brief(item.value()));
    }
    for (const auto& field : item.value().items()) {
      if (!field.value().is_string()) {
        ctx.fail(std::string(kMetadataKey) + " value " + in_quotes(field.key()) +
                 " must be a string, got " + brief(field.value()));
      }
      header.metadata[field.key()] = field.value().get<std::string>();
    }
  }
  check_layout(ctx, header.entries, buffer_size);
  return header;
}

Dtype loaded_dtype(DType dtype) {
  return dtype == DType::I64 || dtype == DType::I32 ? Dtype::int64 : Dtype::float32;
}

void convert_to_int64(DType dtype, const unsigned char* raw, std::int64_t count,
                      std::int64_t* out) {
  if (dtype != DType::I32) throw InternalError("convert_to_int64: only I32 is widened");
  for (std::int64_t i = 0; i < count; ++i) {
    std::int32_t value;
    std::memcpy(&value, raw + 4 * i, sizeof value);
    out[i] = value;
  }
}

void convert_to_float(DType dtype, const unsigned char* raw, std::int64_t count, float* out) {
  for (std::int64_t i = 0; i < count; ++i) {
    if (dtype == DType::F64) {
      double value;
      std::memcpy(&value, raw + 8 * i, sizeof value);
      out[i] = double_to_float(value);
    } else {
      std::uint16_t bits;
      std::memcpy(&bits, raw + 2 * i, sizeof bits);
      out[i] = dtype == DType::F16 ? half_to_float(bits) : bfloat16_to_float(bits);
    }
  }
}

// ---------------------------------------------------------------- writing

namespace {

void check_utf8(const std::string& text, const std::string& what) {
  try {
    (void)Json(text).dump();
  } catch (const nlohmann::json::exception&) {
    throw ValueError("save_safetensors: " + what + " is not valid UTF-8");
  }
}

void check_names(const NamedTensors& tensors) {
  std::set<std::string> names;
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    const std::string& name = tensors[i].first;
    if (name.empty()) {
      throw ValueError("save_safetensors: tensor #" + std::to_string(i) + " has an empty name");
    }
    if (name == kMetadataKey) {
      throw ValueError("save_safetensors: the name '__metadata__' is reserved by the format");
    }
    if (!names.insert(name).second) {
      throw ValueError("save_safetensors: duplicate tensor name " + in_quotes(name));
    }
    if (!tensors[i].second.defined()) {
      throw ValueError("save_safetensors: tensor " + in_quotes(name) + " is undefined");
    }
    check_utf8(name, "tensor name #" + std::to_string(i));
  }
}

}  // namespace

// Laid out as the reference writer does: metadata first, then the entries in data order, padded
// with spaces so the data buffer starts 8-byte aligned.
std::string build_header(const NamedTensors& tensors,
                         const std::map<std::string, std::string>& metadata) {
  check_names(tensors);
  Json root = Json::object();
  if (!metadata.empty()) {
    Json& fields = root[kMetadataKey] = Json::object();
    for (const auto& [key, value] : metadata) {
      check_utf8(key, "a metadata key");
      check_utf8(value, "the metadata value of " + in_quotes(key));
      fields[key] = value;
    }
  }
  std::uint64_t offset = 0;
  for (const auto& [name, tensor] : tensors) {
    const bool is_int64 = tensor.dtype() == Dtype::int64;
    const std::uint64_t bytes =
        static_cast<std::uint64_t>(tensor.numel()) * element_size(tensor.dtype());
    root[name] = {{"dtype", is_int64 ? "I64" : "F32"},
                  {"shape", tensor.shape()},
                  {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  std::string text = root.dump();
  text.append((8 - text.size() % 8) % 8, ' ');
  return text;
}

}  // namespace tapegrad::safetensors
