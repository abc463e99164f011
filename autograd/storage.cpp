#include <new>

#include "autograd/aligned_alloc.h"
#include "autograd/tensor_impl.h"

namespace tapegrad {

Storage::Storage(std::int64_t numel_in) : numel(numel_in) {
  // Always allocate at least one float so data is never null (0-element tensors are legal).
  const std::size_t bytes = sizeof(float) * static_cast<std::size_t>(numel_in > 0 ? numel_in : 1);
  data = static_cast<float*>(detail::aligned_allocate(bytes));
  if (data == nullptr) throw std::bad_alloc();
}

Storage::~Storage() { detail::aligned_free(data); }

std::shared_ptr<TensorImpl> make_impl(const Shape& shape) {
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = std::make_shared<Storage>(numel_of(shape));
  impl->shape = shape;
  return impl;
}

}  // namespace tapegrad
