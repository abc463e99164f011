#pragma once
// Internal: the storage and autograd state behind a Tensor handle. Included by tapegrad's .cpp
// files only; users see tensor.h.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "autograd/tensor.h"

namespace tapegrad {

// A 64-byte aligned float buffer from autograd/aligned_alloc.h, the caching allocator of
// autograd/memory.h. The tape creates and frees many tensor-sized temporaries per step; glibc's
// malloc returned them to the OS and page-faulted them back in (47-54 us per 64x512 tensor
// measured here), and tbbmalloc did the same for blocks of tens of MB (the `large` LSTM step);
// the cache hands them to the next step instead.
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

// A leaf's post-accumulate-grad hooks (Tensor::register_post_accumulate_grad_hook), with the key
// each was registered under. Only leaves with hooks pay for one.
struct PostAccumulateGradHooks {
  std::uint64_t next_key = 0;
  std::vector<std::pair<std::uint64_t, std::function<void(Tensor&)>>> hooks;
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
  std::unique_ptr<PostAccumulateGradHooks> post_accumulate_grad_hooks;

  float* data() const { return storage->data; }
  std::int64_t numel() const { return storage->numel; }
};

// A fresh tensor with uninitialised storage of this shape. The shape is checked first
// (checked_numel: ShapeError naming op); a failed allocation is an OutOfMemoryError naming the
// shape and the byte count.
std::shared_ptr<TensorImpl> make_impl(std::string_view op, const Shape& shape);

}  // namespace tapegrad
