#pragma once
// Internal: the storage and autograd state behind a Tensor handle. Included by tapegrad's .cpp
// files only; users see tensor.h.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "autograd/hook_list.h"
#include "autograd/tensor.h"

namespace tapegrad {

// A 64-byte aligned buffer of numel elements of element_size bytes (4: float32, 8: int64) from
// autograd/aligned_alloc.h, the caching allocator of
// autograd/memory.h. The tape creates and frees many tensor-sized temporaries per step; glibc's
// malloc returned them to the OS and page-faulted them back in (47-54 us per 64x512 tensor
// measured here), and tbbmalloc did the same for blocks of tens of MB (the `large` LSTM step);
// the cache hands them to the next step instead.
// The version counter lives here so every handle on the same data (detach, view) sees one count.
struct Storage {
  // numel must come from a checked shape (make_impl), so numel * element_size cannot overflow.
  Storage(std::int64_t numel, std::size_t element_size);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  void* data = nullptr;
  std::int64_t numel = 0;
  std::size_t element_size = sizeof(float);  // what it was allocated with (aligned_free needs it)
  std::uint64_t version = 0;
};

// A tensor's hooks (Tensor::register_hook, retain_grad, register_post_accumulate_grad_hook).
// Shared by the tensor and, for a non-leaf, by its grad_fn node (NodeExtras::output_hooks), so the
// hooks outlive a dropped handle as long as the graph does; the engine finds a non-leaf's hooks
// through its node, a leaf's through the leaf. Only tensors with hooks pay for one.
struct TensorHooks {
  HookList<std::function<Tensor(const Tensor&)>> gradient;   // register_hook
  HookList<std::function<void(Tensor&)>> post_accumulate;    // a leaf's, after .grad is final
  bool retains_grad = false;
  // The hooked tensor: where retain_grad keeps the gradient. Weak: a node must not own its outputs.
  std::weak_ptr<TensorImpl> tensor;

  // The hooks of `impl`, made on first use and, for a non-leaf, shared with its node.
  static TensorHooks& of(const std::shared_ptr<TensorImpl>& impl);
};

// What anomaly mode remembers about a node: its number among the ops recorded since the mode was
// turned on, and its inputs as they were when it was recorded (shapes, names, producing ops).
struct AnomalyMetadata {
  std::uint64_t sequence_nr = 0;
  std::string inputs;  // "0: [2, 3] 'x' (leaf), 1: [3] from 'tanh' #4"
};

// The rarely used parts of a Node (Node::extras_), made on first use.
struct NodeExtras {
  std::vector<std::shared_ptr<TensorHooks>> output_hooks;  // [k]: the hooks of output k, or null
  std::optional<AnomalyMetadata> anomaly;
};

struct TensorImpl {
  std::shared_ptr<Storage> storage;
  Shape shape;
  // The storage's element type; views of it (detach, view_data_as) copy it. Ops, the engine and
  // gradients only ever see float32 (an int64 tensor cannot require grad).
  Dtype dtype = Dtype::float32;
  bool requires_grad = false;
  // Set for outputs of recorded ops; null for leaves and for tensors made without recording.
  std::shared_ptr<Node> grad_fn;
  int output_nr = 0;
  // A leaf's accumulated gradient: plain data, never with history (a grad with a grad_fn would
  // form the x -> x.grad -> grad_fn -> x cycle of pytorch#7343).
  std::shared_ptr<TensorImpl> grad;
  std::string name;
  std::shared_ptr<TensorHooks> hooks;  // null until a hook or retain_grad is registered

  // The float32 elements; for our own code that has already checked the dtype (the engine, grads).
  float* data() const { return static_cast<float*>(storage->data); }
  std::int64_t numel() const { return storage->numel; }
};

// A fresh tensor with uninitialised storage of this shape and dtype. The shape is checked first
// (checked_numel, and for int64 at most max_numel / 2 elements: ShapeError naming op); a failed
// allocation is an OutOfMemoryError naming the shape and the byte count.
std::shared_ptr<TensorImpl> make_impl(std::string_view op, const Shape& shape,
                                      Dtype dtype = Dtype::float32);

// Runs `hooks` in order on a gradient and returns the final one (the engine calls this under
// no-grad). `describe` names the tensor in errors ("tensor 'h' (output 0 of 'tanh')"); it is only
// called on an error. With `check_finite`, a hook returning NaN (or, per anomaly_options(), an
// infinity) throws, as anomaly mode asks.
Tensor run_gradient_hooks(const TensorHooks& hooks, Tensor grad,
                          const std::function<std::string()>& describe, bool check_finite);
// retain_grad: adds `grad` into the hooked tensor's .grad (a copy the first time), if it still
// exists.
void retain_gradient(const TensorHooks& hooks, const Tensor& grad);

}  // namespace tapegrad
