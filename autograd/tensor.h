#pragma once
// tapegrad::Tensor: a shared handle to row-major, contiguous storage plus its autograd state:
// float32 elements (the default; every arithmetic op computes in it) or int64 (ids, labels,
// lengths, as torch.long). Copying a Tensor shares data, grad and history (like a PyTorch tensor
// in Python).
// No xtensor type appears here: the implementation lives in tensor_impl.h and .cpp files, so user
// code compiles fast and does not depend on our SIMD flags.
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "autograd/errors.h"
#include "autograd/generator.h"

namespace tapegrad {

struct TensorImpl;
class Node;

// Undoes one registration (a tensor hook, a module hook) when remove() is called. Removing twice,
// or after the tensor or module is gone, does nothing; dropping the handle keeps the hook
// (PyTorch's torch.utils.hooks.RemovableHandle).
class RemovableHandle {
 public:
  RemovableHandle() = default;
  explicit RemovableHandle(std::function<void()> remover) : remover_(std::move(remover)) {}
  RemovableHandle(const RemovableHandle&) = default;
  RemovableHandle& operator=(const RemovableHandle&) = default;
  // A moved-from handle is empty (std::function alone does not promise that).
  RemovableHandle(RemovableHandle&& other) noexcept : remover_(std::move(other.remover_)) {
    other.remover_ = nullptr;
  }
  RemovableHandle& operator=(RemovableHandle&& other) noexcept {
    remover_ = std::move(other.remover_);
    other.remover_ = nullptr;
    return *this;
  }
  ~RemovableHandle() = default;
  void remove() {
    std::function<void()> remover = std::move(remover_);
    remover_ = nullptr;
    if (remover) remover();
  }

 private:
  std::function<void()> remover_;
};

// The element type of a tensor (torch.dtype). float32 is the default of every factory; int64 holds
// ids, labels and lengths. Only float32 tensors can require grad. Every op that computes
// (arithmetic, reductions, matmul, losses) takes float32 only: an int64 tensor given to one is a
// TypeError naming the op (convert with to(Dtype::float32)). The ops that only move data (reshape,
// view, flatten, squeeze, unsqueeze, transpose, permute, expand, slice, select, cat, stack, split,
// chunk, unbind, index_select; clone) take either dtype and keep it, copying values exactly.
enum class Dtype : std::uint8_t { float32, int64 };

// "float32", "int64" (as torch prints them, without the "torch." prefix).
const char* dtype_name(Dtype dtype);
// Bytes per element: 4 or 8.
std::size_t element_size(Dtype dtype);

struct BackwardOptions {
  // Keep the graph's saved values so backward can run through it again.
  bool retain_graph = false;
};

class Tensor {
 public:
  // An undefined tensor (no storage); defined() is false.
  Tensor() = default;
  // A template only so that the literal 0 (a null pointer constant) does not convert: otherwise
  // {0} would be a Tensor as well as a std::vector, and cross_entropy(x, {0}) or
  // embedding(w, {0}, {1}) would be ambiguous between the vector and the int64-tensor overloads.
  template <typename Impl>
    requires std::same_as<Impl, std::shared_ptr<TensorImpl>>
  explicit Tensor(Impl impl) : impl_(std::move(impl)) {}

  // ---- factories (requires_grad defaults to false, as in PyTorch) ----
  // Each checks the shape first: a negative extent, or a shape too large for any tensor (see
  // max_numel in errors.h), is a ShapeError naming the factory and the shape. A failed
  // allocation is an OutOfMemoryError (a std::bad_alloc) naming the shape and the byte count.
  static Tensor empty(const Shape& shape);  // uninitialised storage, for ops' outputs
  static Tensor zeros(const Shape& shape, bool requires_grad = false);
  static Tensor ones(const Shape& shape, bool requires_grad = false);
  static Tensor full(const Shape& shape, float value, bool requires_grad = false);
  static Tensor scalar(float value, bool requires_grad = false);  // 0-D
  // [start, start+step, ...) up to end (exclusive), 1-D.
  static Tensor arange(float start, float end, float step = 1.0f);
  // Copies values; values.size() must equal the product of shape.
  static Tensor from_vector(const std::vector<float>& values, const Shape& shape,
                            bool requires_grad = false);
  static Tensor uniform(const Shape& shape, float low, float high, Generator& generator,
                        bool requires_grad = false);
  static Tensor normal(const Shape& shape, float mean, float stddev, Generator& generator,
                       bool requires_grad = false);
  // Same shape and dtype as other (torch.zeros_like / ones_like); never requires grad.
  static Tensor zeros_like(const Tensor& other) { return zeros(other.shape(), other.dtype()); }
  static Tensor ones_like(const Tensor& other) { return ones(other.shape(), other.dtype()); }

  // ---- factories with a dtype (torch.empty / zeros / ones(..., dtype=torch.long)) ----
  // The same shape checks as above; an int64 tensor holds at most max_numel / 2 elements, so that
  // its byte count is bounded like a float32 tensor's.
  static Tensor empty(const Shape& shape, Dtype dtype);
  static Tensor zeros(const Shape& shape, Dtype dtype);
  static Tensor ones(const Shape& shape, Dtype dtype);
  // An int64 tensor holding a copy of values; values.size() must equal the product of shape.
  // (Not an overload of from_vector: from_vector({1, 2}, {2}) must stay float32.)
  static Tensor from_vector_i64(const std::vector<std::int64_t>& values, const Shape& shape);

  // ---- shape and data ----
  bool defined() const { return impl_ != nullptr; }
  const Shape& shape() const;
  std::int64_t dim() const { return static_cast<std::int64_t>(shape().size()); }
  std::int64_t size(std::int64_t dim) const;  // negative dims count from the end
  std::int64_t numel() const;
  Dtype dtype() const;
  bool is_floating_point() const { return dtype() == Dtype::float32; }
  // Contiguous row-major data. Writing through data() is not tracked by the version counter; use
  // the in-place methods below (or bump_version()) when a saved tensor may be affected.
  // data(), item(), at() and to_vector() read float32 tensors: on an int64 tensor they throw
  // TypeError (use the _i64 accessors); the _i64 accessors throw TypeError on a float32 tensor.
  float* data();
  const float* data() const;
  float item() const;  // the value of a one-element tensor
  float at(std::initializer_list<std::int64_t> index) const;
  std::vector<float> to_vector() const;
  // The first byte of the storage, whatever the dtype (torch.Tensor.data_ptr): for identity
  // checks (do two tensors share storage?), not for reading elements.
  const void* data_ptr() const;
  std::int64_t* data_i64();
  const std::int64_t* data_i64() const;
  std::int64_t item_i64() const;
  std::vector<std::int64_t> to_vector_i64() const;
  // A copy converted to dtype (torch.Tensor.to(dtype)): int64 -> float32 rounds to the nearest
  // float (exact below 2^24); float32 -> int64 truncates toward zero, as .long() does, and throws
  // ValueError for a NaN, an infinity or a value outside int64 (PyTorch leaves those undefined).
  // To the tensor's own dtype it returns this tensor (same handle, as PyTorch). Not
  // differentiable: a converted copy never requires grad (an int64 tensor cannot).
  Tensor to(Dtype dtype) const;
  std::string to_string() const;  // shape, dtype if not float32, (abbreviated) values

  // ---- autograd ----
  bool requires_grad() const;
  // Marks a leaf as requiring grad. Throws on a non-leaf (its grad is decided by its history), and
  // TypeError on an int64 tensor (only float tensors can require gradients, as in PyTorch).
  Tensor& requires_grad_(bool requires_grad = true);
  bool is_leaf() const;
  // The accumulated gradient of a leaf (or of a non-leaf after retain_grad()); undefined until a
  // backward reaches it. Has no history.
  Tensor grad() const;
  void zero_grad();  // drops the gradient (PyTorch's set_to_none=True)
  // Seeds with 1; only valid for a one-element tensor, as in PyTorch.
  void backward(BackwardOptions options = {}) const;
  // Seeds with an explicit gradient of this tensor's shape.
  void backward(const Tensor& gradient, BackwardOptions options = {}) const;
  // A new handle to the same data (and version counter) with no history: truncated BPTT uses it.
  Tensor detach() const;
  // A copy of the data, same dtype. Differentiable: the gradient flows back to this tensor.
  Tensor clone() const;

  // ---- hooks (torch.Tensor.register_hook / retain_grad / register_post_accumulate_grad_hook) ----
  // Calls hook(grad) whenever backward has computed this tensor's gradient: once per backward,
  // with the sum over all its uses (for a leaf, before it is added to .grad). A hook that returns
  // a defined Tensor replaces the gradient (same shape required: else AutogradError), for the next
  // hook and the rest of the graph; one returning void or an undefined Tensor leaves it. Hooks run
  // in registration order, under no-grad, and must not change their argument in place. Hooks on
  // a non-leaf live with its graph, so they fire even if this handle is gone by then; a hook must
  // not capture the tensor it is registered on (a reference cycle). Throws AutogradError if this
  // tensor does not require grad.
  template <typename Hook>
  RemovableHandle register_hook(Hook&& hook) {
    if constexpr (std::is_void_v<std::invoke_result_t<Hook&, const Tensor&>>) {
      return add_gradient_hook([inspect = std::forward<Hook>(hook)](const Tensor& grad) mutable {
        inspect(grad);
        return Tensor();
      });
    } else {
      return add_gradient_hook(std::forward<Hook>(hook));
    }
  }
  // Keeps this non-leaf's gradient in grad() after backward, accumulated like a leaf's; it is the
  // gradient after every hook of this tensor (retain_grad's hook runs last, as since PyTorch 2.0).
  // A no-op on a leaf. Throws AutogradError if this tensor does not require grad.
  void retain_grad();
  bool retains_grad() const;  // false for leaves, as in PyTorch
  // Calls hook(leaf) once in each backward pass that reaches this leaf, after the last of its
  // gradients in that pass (as its register_hook hooks left it) has been added into grad(), so
  // grad() is final for the pass there. Also when the pass gave it no gradient
  // (grad() is then what it was). Hooks run in registration order, under no-grad, on the thread
  // running backward; an exception from one ends the backward. DistributedDataParallel uses it to
  // start averaging a bucket of gradients while backward goes on. Throws AutogradError on a
  // non-leaf or a tensor that does not require grad, as PyTorch does. Removed, like register_hook's
  // hooks, through the returned handle.
  RemovableHandle register_post_accumulate_grad_hook(std::function<void(Tensor&)> hook);

  const std::shared_ptr<Node>& grad_fn() const;
  int output_nr() const;
  const std::string& name() const;
  Tensor& set_name(std::string name);

  // ---- in-place (not differentiable; each bumps the version counter) ----
  // Throws AutogradError if grad mode is on and this tensor requires grad, as PyTorch does for
  // in-place writes to leaves: wrap optimizer-style updates in NoGradGuard.
  // fill_, add_ and mul_ take float32 tensors only (TypeError naming the method on int64; write an
  // int64 tensor through data_i64()). copy_ copies either dtype bit for bit but needs the source's
  // dtype to match (TypeError otherwise: convert with to() first).
  Tensor& fill_(float value);
  Tensor& copy_(const Tensor& source);  // same shape and dtype required
  Tensor& add_(const Tensor& other, float alpha = 1.0f);  // this += alpha * other, same shape
  Tensor& mul_(float factor);
  std::uint64_t version() const;
  void bump_version();

  // The same storage viewed with another shape (same numel and dtype); shares the version counter.
  // Not differentiable: use reshape() from ops.h for that.
  Tensor view_data_as(const Shape& shape) const;

  // True when both handles share one TensorImpl (not value equality).
  bool is_same(const Tensor& other) const { return impl_ == other.impl_; }
  TensorImpl* impl() const { return impl_.get(); }
  const std::shared_ptr<TensorImpl>& impl_ptr() const { return impl_; }

 private:
  void check_defined(const char* what) const;
  RemovableHandle add_gradient_hook(std::function<Tensor(const Tensor&)> hook);
  std::shared_ptr<TensorImpl> impl_;
};

// Throws TypeError("<op>: expected <what> to be float32, got int64 ...") unless tensor is float32
// (an undefined tensor passes: the caller's own check names it). Every op checks its tensor
// arguments with it before anything is allocated or recorded; custom ops can too.
void check_floating(std::string_view op, std::string_view what, const Tensor& tensor);
// The same for int64 arguments (class targets, embedding indices, lengths).
void check_int64(std::string_view op, std::string_view what, const Tensor& tensor);

// The element count of shape, checked as checked_numel (errors.h) does: a negative extent or a
// shape too large for any tensor throws ShapeError naming "numel_of" and the shape.
std::int64_t numel_of(const Shape& shape);

}  // namespace tapegrad
