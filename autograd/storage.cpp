#include <tbb/scalable_allocator.h>

#include <new>

#include "autograd/tensor_impl.h"

namespace tapegrad {

Storage::Storage(std::int64_t numel_in) : numel(numel_in) {
  // Always allocate at least one float so data is never null (0-element tensors are legal).
  const std::size_t bytes = sizeof(float) * static_cast<std::size_t>(numel_in > 0 ? numel_in : 1);
  data = static_cast<float*>(scalable_aligned_malloc(bytes, 64));
  if (data == nullptr) throw std::bad_alloc();
}

Storage::~Storage() { scalable_aligned_free(data); }

std::shared_ptr<TensorImpl> make_impl(const Shape& shape) {
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = std::make_shared<Storage>(numel_of(shape));
  impl->shape = shape;
  return impl;
}

}  // namespace tapegrad
