#pragma once
// Internal: the storage and autograd state behind a Tensor handle. Included by tapegrad's .cpp
// files only; users see tensor.h.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "autograd/tensor.h"

namespace tapegrad {

// A 64-byte aligned float buffer from autograd/aligned_alloc.h (TBB's scalable allocator unless
// built for sanitizers). The tape creates and frees many tensor-sized temporaries per step;
// glibc's malloc returned them to the OS and page-faulted them back in (47-54 us per 64x512
// tensor measured here), tbbmalloc caches them (about 1 us).
// The version counter lives here so every handle on the same data (detach, view) sees one count.
struct Storage {
  explicit Storage(std::int64_t numel);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  float* data = nullptr;
  std::int64_t numel = 0;
  std::uint64_t version = 0;
};

struct TensorImpl {
  std::shared_ptr<Storage> storage;
  Shape shape;
  bool requires_grad = false;
  // Set for outputs of recorded ops; null for leaves and for tensors made without recording.
  std::shared_ptr<Node> grad_fn;
  int output_nr = 0;
  // A leaf's accumulated gradient: plain data, never with history (a grad with a grad_fn would
  // form the x -> x.grad -> grad_fn -> x cycle of pytorch#7343).
  std::shared_ptr<TensorImpl> grad;
  std::string name;

  float* data() const { return storage->data; }
  std::int64_t numel() const { return storage->numel; }
};

// A fresh tensor with uninitialised storage of this shape.
std::shared_ptr<TensorImpl> make_impl(const Shape& shape);

}  // namespace tapegrad
