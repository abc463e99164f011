#include <new>

#include "autograd/aligned_alloc.h"
#include "autograd/tensor_impl.h"

namespace tapegrad {

namespace {
// Always at least one element, so data is never null (0-element tensors are legal).
std::size_t storage_bytes(std::int64_t numel, std::size_t element_size) {
  return element_size * static_cast<std::size_t>(numel > 0 ? numel : 1);
}
}  // namespace

Storage::Storage(std::int64_t numel_in, std::size_t element_size_in)
    : numel(numel_in), element_size(element_size_in) {
  data = detail::aligned_allocate(storage_bytes(numel, element_size));
  if (data == nullptr) throw std::bad_alloc();
}

Storage::~Storage() { detail::aligned_free(data, storage_bytes(numel, element_size)); }

const char* dtype_name(Dtype dtype) {
  switch (dtype) {
    case Dtype::float32: return "float32";
    case Dtype::int64: return "int64";
  }
  throw InternalError("dtype_name: unknown dtype " + std::to_string(static_cast<int>(dtype)));
}

std::size_t element_size(Dtype dtype) {
  switch (dtype) {
    case Dtype::float32: return sizeof(float);
    case Dtype::int64: return sizeof(std::int64_t);
  }
  throw InternalError("element_size: unknown dtype " + std::to_string(static_cast<int>(dtype)));
}

std::shared_ptr<TensorImpl> make_impl(std::string_view op, const Shape& shape, Dtype dtype) {
  // Checked first, so the byte counts here and in Storage cannot overflow: max_numel bounds the
  // bytes of float32 elements; an int64 tensor may hold half as many, for the same bound.
  const std::int64_t numel = checked_numel(op, shape);
  const std::size_t width = element_size(dtype);
  const std::int64_t limit = max_numel / static_cast<std::int64_t>(width / sizeof(float));
  if (numel > limit) {
    throw ShapeError(std::string(op) + ": shape " + format_shape(shape) + " is too large for " +
                     dtype_name(dtype) + " (a tensor holds at most " + std::to_string(limit) +
                     " elements of " + dtype_name(dtype) + ", " +
                     std::to_string(limit * static_cast<std::int64_t>(width)) + " bytes)");
  }
  auto impl = std::make_shared<TensorImpl>();
  try {
    impl->storage = std::make_shared<Storage>(numel, width);
  } catch (const std::bad_alloc&) {
    // The allocator knows only a byte count; say which tensor it was for.
    // (float32 tensors keep the message they always had.)
    const std::string of_dtype =
        dtype == Dtype::float32 ? std::string() : std::string(" of ") + dtype_name(dtype);
    throw OutOfMemoryError("tensor: cannot allocate " + format_shape(shape) + of_dtype + " (" +
                           std::to_string(numel * static_cast<std::int64_t>(width)) + " bytes)");
  }
  impl->shape = shape;
  impl->dtype = dtype;
  return impl;
}

}  // namespace tapegrad
