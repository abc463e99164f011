#pragma once
// Internal to data/: a tensor's storage as bytes, for the copies that move samples into batches
// (dataset rows, collate, padding). Copying bytes keeps every dtype (float32 features, int64 ids
// and labels) and every bit. Not installed: it reaches into TensorImpl.
#include "autograd/tensor_impl.h"

namespace tapegrad::data::detail {

inline const unsigned char* bytes_of(const Tensor& tensor) {
  return static_cast<const unsigned char*>(tensor.data_ptr());
}
inline unsigned char* bytes_of(Tensor& tensor) {
  return static_cast<unsigned char*>(tensor.impl()->storage->data);
}

}  // namespace tapegrad::data::detail
