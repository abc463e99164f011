// Tensor hooks, retain_grad and post-accumulate-grad hooks (torch.Tensor.register_hook,
// retain_grad, register_post_accumulate_grad_hook): registration here, the calls in engine.cpp.
// Semantics: https://pytorch.org/docs/stable/notes/autograd.html#backward-hooks-execution
#include <algorithm>

#include "autograd/anomaly.h"
#include "autograd/grad_probe.h"
#include "autograd/node.h"
#include "autograd/tensor_impl.h"

namespace tapegrad {

// A non-leaf's hooks are shared with its node so the engine finds them, and they live as long as
// the graph (like PyTorch's grad_fn pre-hooks).
TensorHooks& TensorHooks::of(const std::shared_ptr<TensorImpl>& impl) {
  if (!impl->hooks) {
    impl->hooks = std::make_shared<TensorHooks>();
    impl->hooks->tensor = impl;
    if (Node* node = impl->grad_fn.get()) {
      if (!node->extras_) node->extras_ = std::make_unique<NodeExtras>();
      auto& slots = node->extras_->output_hooks;
      slots.resize(node->output_shapes().size());
      slots[static_cast<std::size_t>(impl->output_nr)] = impl->hooks;
    }
  }
  return *impl->hooks;
}

namespace {

// PyTorch refuses hooks and retain_grad on a tensor without requires_grad: no gradient would ever
// reach it.
void require_grad(const char* what, const char* action, const TensorImpl& impl) {
  if (!impl.requires_grad) {
    throw AutogradError(std::string(what) + ": cannot " + action +
                        " a tensor that does not require grad" +
                        (impl.name.empty() ? std::string() : " ('" + impl.name + "')") +
                        " (call requires_grad_() on the leaf it comes from)");
  }
}

}  // namespace

RemovableHandle Tensor::add_gradient_hook(std::function<Tensor(const Tensor&)> hook) {
  check_defined("register_hook");
  require_grad("register_hook", "register a hook on", *impl_);
  if (!hook) throw ValueError("register_hook: the hook is empty");
  TensorHooks& hooks = TensorHooks::of(impl_);
  return hooks.gradient.add(impl_->hooks, std::move(hook));
}

void Tensor::retain_grad() {
  check_defined("retain_grad");
  require_grad("retain_grad", "retain the gradient of", *impl_);
  if (!impl_->grad_fn) return;  // a leaf keeps its .grad anyway (PyTorch: a no-op)
  TensorHooks::of(impl_).retains_grad = true;
}

bool Tensor::retains_grad() const {
  check_defined("retains_grad");
  return impl_->hooks && impl_->hooks->retains_grad;
}

RemovableHandle Tensor::register_post_accumulate_grad_hook(std::function<void(Tensor&)> hook) {
  check_defined("register_post_accumulate_grad_hook");
  require_grad("register_post_accumulate_grad_hook", "register a hook on", *impl_);
  if (impl_->grad_fn) {
    throw AutogradError("register_post_accumulate_grad_hook: only a leaf accumulates a gradient; "
                        "this tensor is the output of '" + impl_->grad_fn->name() + "'");
  }
  if (!hook) throw ValueError("register_post_accumulate_grad_hook: the hook is empty");
  TensorHooks& hooks = TensorHooks::of(impl_);
  return hooks.post_accumulate.add(impl_->hooks, std::move(hook));
}

Tensor run_gradient_hooks(const TensorHooks& hooks, Tensor grad,
                          const std::function<std::string()>& describe, bool check_finite) {
  if (hooks.gradient.empty()) return grad;
  const auto gradient_hooks = hooks.gradient.snapshot();
  for (std::size_t i = 0; i < gradient_hooks.size(); ++i) {
    Tensor replacement = gradient_hooks[i](grad);
    if (!replacement.defined()) continue;
    if (replacement.shape() != grad.shape()) {
      throw AutogradError("register_hook: hook " + std::to_string(i) + " of " + describe() +
                          " returned a gradient of shape " + format_shape(replacement.shape()) +
                          ", expected " + format_shape(grad.shape()) + " (the tensor's shape)");
    }
    // PyTorch: "hook has changed the type of value". An int64 gradient would become a float
    // parameter's .grad and fail later, in an optimizer's step or a DDP hook, half applied.
    if (replacement.dtype() != grad.dtype()) {
      throw AutogradError("register_hook: hook " + std::to_string(i) + " of " + describe() +
                          " returned a gradient of dtype " + dtype_name(replacement.dtype()) +
                          ", expected " + dtype_name(grad.dtype()));
    }
    if (check_finite) {
      const std::string problem = describe_anomaly(replacement);
      if (!problem.empty()) {
        throw AutogradError("anomaly mode: hook " + std::to_string(i) + " of " + describe() +
                            " returned a gradient holding " + problem);
      }
    }
    grad = replacement.detach();  // data only: the gradient carries no history
  }
  return grad;
}

void retain_gradient(const TensorHooks& hooks, const Tensor& grad) {
  const std::shared_ptr<TensorImpl> impl = hooks.tensor.lock();
  if (!impl) return;  // nobody can read it any more
  if (!impl->grad) {
    Tensor copy = Tensor::empty(grad.shape());
    std::copy_n(grad.data(), grad.numel(), copy.data());
    impl->grad = copy.impl_ptr();
    return;
  }
  float* out = impl->grad->data();
  const float* in = grad.data();
  for (std::int64_t i = 0, n = grad.numel(); i < n; ++i) out[i] += in[i];
}

// ---------------------------------------------------------------- GradProbe

struct GradProbe::Sink {
  Tensor grad;
};

GradProbe::GradProbe(const Tensor& tensor) : sink_(std::make_shared<Sink>()) {
  if (!tensor.defined()) throw ValueError("GradProbe: the tensor is undefined");
  // The hook holds the sink (plain data), never a tensor of the graph.
  hook_ = Tensor(tensor).register_hook([sink = sink_](const Tensor& grad) {
    // A copy: the engine goes on using its gradient buffer after the hooks.
    if (sink->grad.defined()) {
      float* out = sink->grad.data();
      const float* in = grad.data();
      for (std::int64_t i = 0, n = grad.numel(); i < n; ++i) out[i] += in[i];
    } else {
      sink->grad = Tensor::empty(grad.shape());
      std::copy_n(grad.data(), grad.numel(), sink->grad.data());
    }
  });
}

GradProbe& GradProbe::operator=(GradProbe&& other) noexcept {
  if (this != &other) {
    hook_.remove();
    sink_ = std::move(other.sink_);
    hook_ = std::move(other.hook_);
  }
  return *this;
}

Tensor GradProbe::grad() const { return sink_ ? sink_->grad : Tensor(); }

void GradProbe::reset() {
  if (sink_) sink_->grad = Tensor();
}

}  // namespace tapegrad
