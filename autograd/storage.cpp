#include <new>

#include "autograd/aligned_alloc.h"
#include "autograd/tensor_impl.h"

namespace tapegrad {

namespace {
// Always at least one float, so data is never null (0-element tensors are legal).
std::size_t storage_bytes(std::int64_t numel) {
  return sizeof(float) * static_cast<std::size_t>(numel > 0 ? numel : 1);
}
}  // namespace

Storage::Storage(std::int64_t numel_in) : numel(numel_in) {
  data = static_cast<float*>(detail::aligned_allocate(storage_bytes(numel)));
  if (data == nullptr) throw std::bad_alloc();
}

Storage::~Storage() { detail::aligned_free(data, storage_bytes(numel)); }

std::shared_ptr<TensorImpl> make_impl(std::string_view op, const Shape& shape) {
  // Checked first, so the byte counts here and in Storage cannot overflow.
  const std::int64_t numel = checked_numel(op, shape);
  auto impl = std::make_shared<TensorImpl>();
  try {
    impl->storage = std::make_shared<Storage>(numel);
  } catch (const std::bad_alloc&) {
    // The allocator knows only a byte count; say which tensor it was for.
    throw OutOfMemoryError("tensor: cannot allocate " + format_shape(shape) + " (" +
                           std::to_string(numel * std::int64_t{sizeof(float)}) + " bytes)");
  }
  impl->shape = shape;
  return impl;
}

}  // namespace tapegrad
