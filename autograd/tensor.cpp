#include "autograd/tensor.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <sstream>

#include "autograd/engine.h"
#include "autograd/grad_mode.h"
#include "autograd/node.h"
#include "autograd/tensor_impl.h"

namespace tapegrad {

std::int64_t numel_of(const Shape& shape) { return checked_numel("numel_of", shape); }

namespace {
[[noreturn]] void throw_wrong_dtype(std::string_view op, std::string_view what, Dtype expected,
                                    Dtype actual) {
  std::string hint;
  if (expected == Dtype::float32) {
    hint = " (ops compute in float32: convert with to(Dtype::float32))";
  } else if (expected == Dtype::int64) {
    hint = " (indices and class targets are int64, like torch.long: convert with "
           "to(Dtype::int64))";
  }
  throw TypeError(std::string(op) + ": expected " + std::string(what) + " to be " +
                  dtype_name(expected) + ", got " + dtype_name(actual) + hint);
}
}  // namespace

void check_floating(std::string_view op, std::string_view what, const Tensor& tensor) {
  if (tensor.defined() && tensor.dtype() != Dtype::float32) {
    throw_wrong_dtype(op, what, Dtype::float32, tensor.dtype());
  }
}

void check_int64(std::string_view op, std::string_view what, const Tensor& tensor) {
  if (tensor.defined() && tensor.dtype() != Dtype::int64) {
    throw_wrong_dtype(op, what, Dtype::int64, tensor.dtype());
  }
}

// ---------------------------------------------------------------- factories

// Each factory checks the shape under its own name ("zeros: shape [..] is too large").
namespace {

Tensor filled(std::string_view op, const Shape& shape, float value, bool requires_grad) {
  Tensor out(make_impl(op, shape));
  std::fill_n(out.data(), out.numel(), value);
  out.impl()->requires_grad = requires_grad;
  return out;
}

}  // namespace

Tensor Tensor::empty(const Shape& shape) { return Tensor(make_impl("empty", shape)); }

Tensor Tensor::empty(const Shape& shape, Dtype dtype) {
  return Tensor(make_impl("empty", shape, dtype));
}

Tensor Tensor::zeros(const Shape& shape, Dtype dtype) {
  if (dtype == Dtype::float32) return filled("zeros", shape, 0.0f, false);
  Tensor out(make_impl("zeros", shape, dtype));
  std::fill_n(out.data_i64(), out.numel(), std::int64_t{0});
  return out;
}

Tensor Tensor::ones(const Shape& shape, Dtype dtype) {
  if (dtype == Dtype::float32) return filled("ones", shape, 1.0f, false);
  Tensor out(make_impl("ones", shape, dtype));
  std::fill_n(out.data_i64(), out.numel(), std::int64_t{1});
  return out;
}

Tensor Tensor::from_vector_i64(const std::vector<std::int64_t>& values, const Shape& shape) {
  const std::int64_t count = checked_numel("from_vector_i64", shape);
  if (static_cast<std::int64_t>(values.size()) != count) {
    throw ShapeError("from_vector_i64: shape " + format_shape(shape) + " needs " +
                     std::to_string(count) + " values, got " + std::to_string(values.size()));
  }
  Tensor out(make_impl("from_vector_i64", shape, Dtype::int64));
  std::copy(values.begin(), values.end(), out.data_i64());
  return out;
}

Tensor Tensor::full(const Shape& shape, float value, bool requires_grad) {
  return filled("full", shape, value, requires_grad);
}

Tensor Tensor::zeros(const Shape& shape, bool requires_grad) {
  return filled("zeros", shape, 0.0f, requires_grad);
}

Tensor Tensor::ones(const Shape& shape, bool requires_grad) {
  return filled("ones", shape, 1.0f, requires_grad);
}

Tensor Tensor::scalar(float value, bool requires_grad) { return full({}, value, requires_grad); }

Tensor Tensor::arange(float start, float end, float step) {
  if (step == 0.0f || !std::isfinite(step) || !std::isfinite(start) || !std::isfinite(end)) {
    throw ValueError("arange: expected finite start, end and a non-zero step, got start=" +
                     std::to_string(start) + " end=" + std::to_string(end) +
                     " step=" + std::to_string(step));
  }
  const double span = std::ceil((static_cast<double>(end) - start) / step);
  // Checked before the conversion: a double beyond int64 does not convert (undefined behaviour).
  if (span > static_cast<double>(max_numel)) {
    throw ShapeError("arange: start=" + std::to_string(start) + " end=" + std::to_string(end) +
                     " step=" + std::to_string(step) + " gives more than the " +
                     std::to_string(max_numel) + " elements a tensor holds");
  }
  const auto count = static_cast<std::int64_t>(std::max(0.0, span));
  Tensor out(make_impl("arange", {count}));
  for (std::int64_t i = 0; i < count; ++i) {
    out.data()[i] = static_cast<float>(start + static_cast<double>(step) * static_cast<double>(i));
  }
  return out;
}

Tensor Tensor::from_vector(const std::vector<float>& values, const Shape& shape,
                           bool requires_grad) {
  const std::int64_t count = checked_numel("from_vector", shape);
  if (static_cast<std::int64_t>(values.size()) != count) {
    throw ShapeError("from_vector: shape " + format_shape(shape) + " needs " +
                     std::to_string(count) + " values, got " + std::to_string(values.size()));
  }
  Tensor out(make_impl("from_vector", shape));
  std::copy(values.begin(), values.end(), out.data());
  out.impl_->requires_grad = requires_grad;
  return out;
}

Tensor Tensor::uniform(const Shape& shape, float low, float high, Generator& generator,
                       bool requires_grad) {
  if (!(low <= high)) {
    throw ValueError("uniform: expected low <= high, got low=" + std::to_string(low) +
                     " high=" + std::to_string(high));
  }
  Tensor out(make_impl("uniform", shape));
  float* values = out.data();
  for (std::int64_t i = 0; i < out.numel(); ++i) values[i] = generator.uniform(low, high);
  out.impl_->requires_grad = requires_grad;
  return out;
}

Tensor Tensor::normal(const Shape& shape, float mean, float stddev, Generator& generator,
                      bool requires_grad) {
  if (!(stddev >= 0.0f)) {
    throw ValueError("normal: expected stddev >= 0, got " + std::to_string(stddev));
  }
  Tensor out(make_impl("normal", shape));
  float* values = out.data();
  for (std::int64_t i = 0; i < out.numel(); ++i) values[i] = generator.normal(mean, stddev);
  out.impl_->requires_grad = requires_grad;
  return out;
}

// ---------------------------------------------------------------- shape and data

void Tensor::check_defined(const char* what) const {
  if (!impl_) throw ValueError(std::string(what) + ": the tensor is undefined");
}

const Shape& Tensor::shape() const {
  check_defined("shape");
  return impl_->shape;
}

std::int64_t Tensor::size(std::int64_t d) const {
  return shape()[static_cast<std::size_t>(wrap_dim("size", d, dim()))];
}

std::int64_t Tensor::numel() const {
  check_defined("numel");
  // The storage's count: the shape was checked when the storage was made (make_impl), and a view
  // (detach, view_data_as) keeps the same count, so this equals the product of shape().
  return impl_->numel();
}

Dtype Tensor::dtype() const {
  check_defined("dtype");
  return impl_->dtype;
}

// The backstop behind every op's own dtype check: float code never reads an int64 buffer.
float* Tensor::data() {
  check_defined("data");
  if (impl_->dtype != Dtype::float32) {
    throw TypeError("Tensor::data: tensor is " + std::string(dtype_name(impl_->dtype)) +
                    "; use data_i64(), or to(Dtype::float32) for a float copy");
  }
  return impl_->data();
}

const float* Tensor::data() const { return const_cast<Tensor*>(this)->data(); }

const void* Tensor::data_ptr() const {
  check_defined("data_ptr");
  return impl_->storage->data;
}

std::int64_t* Tensor::data_i64() {
  check_defined("data_i64");
  if (impl_->dtype != Dtype::int64) {
    throw TypeError("Tensor::data_i64: tensor is " + std::string(dtype_name(impl_->dtype)) +
                    "; use data(), or to(Dtype::int64) for an int64 copy");
  }
  return static_cast<std::int64_t*>(impl_->storage->data);
}

const std::int64_t* Tensor::data_i64() const { return const_cast<Tensor*>(this)->data_i64(); }

std::int64_t Tensor::item_i64() const {
  check_int64("item_i64", "the tensor (use item() for float32)", *this);
  if (numel() != 1) {
    throw ShapeError("item_i64: expected a tensor with one element, got shape " +
                     format_shape(shape()));
  }
  return data_i64()[0];
}

std::vector<std::int64_t> Tensor::to_vector_i64() const {
  return std::vector<std::int64_t>(data_i64(), data_i64() + numel());
}

Tensor Tensor::to(Dtype target) const {
  check_defined("to");
  if (impl_->dtype == target) return *this;
  Tensor out(make_impl("to", shape(), target));
  const std::int64_t n = numel();
  if (target == Dtype::float32) {
    const std::int64_t* in = data_i64();
    float* values = out.data();
    for (std::int64_t i = 0; i < n; ++i) values[i] = static_cast<float>(in[i]);
    return out;
  }
  const float* in = data();
  std::int64_t* values = out.data_i64();
  // [-2^63, 2^63): both bounds are exact floats; a float in it truncates to a valid int64.
  constexpr float lowest = -9223372036854775808.0f;
  for (std::int64_t i = 0; i < n; ++i) {
    if (!(in[i] >= lowest && in[i] < -lowest)) {
      std::ostringstream value;
      value << in[i];
      throw ValueError("to: cannot convert " + value.str() + " at flat index " +
                       std::to_string(i) + " to int64 (NaN, infinite or out of range)");
    }
    values[i] = static_cast<std::int64_t>(in[i]);  // truncates toward zero, as .long()
  }
  return out;
}

float Tensor::item() const {
  check_floating("item", "the tensor (use item_i64() for int64)", *this);
  if (numel() != 1) {
    throw ShapeError("item: expected a tensor with one element, got shape " +
                     format_shape(shape()));
  }
  return data()[0];
}

float Tensor::at(std::initializer_list<std::int64_t> index) const {
  check_floating("at", "the tensor", *this);
  const Shape& s = shape();
  if (index.size() != s.size()) {
    throw IndexError("at: expected " + std::to_string(s.size()) + " indices for shape " +
                     format_shape(s) + ", got " + std::to_string(index.size()));
  }
  std::int64_t offset = 0;
  std::size_t d = 0;
  for (std::int64_t i : index) {
    const std::int64_t extent = s[d];
    if (i < -extent || i >= extent) {
      throw IndexError("at: index " + std::to_string(i) + " is out of range for dim " +
                       std::to_string(d) + " of size " + std::to_string(extent));
    }
    offset = offset * extent + (i < 0 ? i + extent : i);
    ++d;
  }
  return data()[offset];
}

std::vector<float> Tensor::to_vector() const {
  check_floating("to_vector", "the tensor (use to_vector_i64() for int64)", *this);
  return std::vector<float>(data(), data() + numel());
}

std::string Tensor::to_string() const {
  if (!impl_) return "Tensor(undefined)";
  std::ostringstream out;
  out << "Tensor(shape=" << format_shape(shape());
  if (dtype() != Dtype::float32) out << ", dtype=" << dtype_name(dtype());
  out << ", values=[";
  const std::int64_t n = numel();
  const std::int64_t shown = std::min<std::int64_t>(n, 12);
  for (std::int64_t i = 0; i < shown; ++i) {
    out << (i ? ", " : "");
    if (dtype() == Dtype::int64) {
      out << data_i64()[i];
    } else {
      out << data()[i];
    }
  }
  if (shown < n) out << ", ...";
  out << "]" << (requires_grad() ? ", requires_grad" : "") << ")";
  return out.str();
}

// ---------------------------------------------------------------- autograd

bool Tensor::requires_grad() const {
  check_defined("requires_grad");
  return impl_->requires_grad;
}

Tensor& Tensor::requires_grad_(bool requires_grad) {
  check_defined("requires_grad_");
  if (impl_->grad_fn) {
    throw AutogradError("requires_grad_: can only be set on a leaf tensor; this one is the output "
                        "of '" + impl_->grad_fn->name() + "' (use detach() first)");
  }
  if (requires_grad && impl_->dtype != Dtype::float32) {
    throw TypeError("requires_grad_: only float32 tensors can require gradients, this one is " +
                    std::string(dtype_name(impl_->dtype)) +
                    " (as in PyTorch: indices and labels are not differentiable)");
  }
  impl_->requires_grad = requires_grad;
  return *this;
}

bool Tensor::is_leaf() const {
  check_defined("is_leaf");
  return impl_->grad_fn == nullptr;
}

Tensor Tensor::grad() const {
  check_defined("grad");
  return Tensor(impl_->grad);
}

void Tensor::zero_grad() {
  check_defined("zero_grad");
  impl_->grad.reset();
}

void Tensor::backward(BackwardOptions options) const {
  check_defined("backward");
  if (numel() != 1) {
    throw AutogradError("backward: a gradient can be created implicitly only for a one-element "
                        "output, got shape " + format_shape(shape()) +
                        " (pass an explicit gradient)");
  }
  run_backward(*this, Tensor::ones(shape()), options);
}

void Tensor::backward(const Tensor& gradient, BackwardOptions options) const {
  check_defined("backward");
  if (!gradient.defined()) throw ValueError("backward: the gradient is undefined");
  check_floating("backward", "the gradient", gradient);
  check_same_shape("backward", "a gradient", shape(), gradient.shape());
  run_backward(*this, gradient, options);
}

Tensor Tensor::detach() const {
  check_defined("detach");
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = impl_->storage;
  impl->shape = impl_->shape;
  impl->dtype = impl_->dtype;
  return Tensor(std::move(impl));
}

const std::shared_ptr<Node>& Tensor::grad_fn() const {
  check_defined("grad_fn");
  return impl_->grad_fn;
}

int Tensor::output_nr() const {
  check_defined("output_nr");
  return impl_->output_nr;
}

const std::string& Tensor::name() const {
  check_defined("name");
  return impl_->name;
}

Tensor& Tensor::set_name(std::string name) {
  check_defined("set_name");
  impl_->name = std::move(name);
  return *this;
}

Tensor Tensor::clone() const {
  check_defined("clone");
  if (dtype() != Dtype::float32) {
    // Not recorded: a non-float tensor never requires grad.
    Tensor copy = empty(shape(), dtype());
    std::memcpy(copy.impl_->storage->data, impl_->storage->data,
                impl_->storage->element_size * static_cast<std::size_t>(numel()));
    return copy;
  }
  Tensor out = empty(shape());
  std::copy_n(data(), numel(), out.data());
  record("clone", {*this}, {out}, {}, [](BackwardContext& ctx) {
    if (ctx.needs_grad(0)) ctx.accumulate(0, ctx.grad_output(0));
  });
  return out;
}

// ---------------------------------------------------------------- in-place

namespace {
void check_inplace_allowed(const char* op, const TensorImpl& impl) {
  if (is_grad_enabled() && (impl.requires_grad || impl.grad_fn)) {
    throw AutogradError(std::string(op) +
                        ": in-place write to a tensor that requires grad while grad mode is on "
                        "(wrap the update in NoGradGuard, as optimizers do)");
  }
}
}  // namespace

Tensor& Tensor::fill_(float value) {
  check_defined("fill_");
  check_floating("fill_", "the tensor", *this);
  check_inplace_allowed("fill_", *impl_);
  std::fill_n(data(), numel(), value);
  bump_version();
  return *this;
}

Tensor& Tensor::copy_(const Tensor& source) {
  check_defined("copy_");
  if (!source.defined()) throw ValueError("copy_: the source tensor is undefined");
  check_same_shape("copy_", "a source", shape(), source.shape());
  if (source.dtype() != dtype()) {
    throw TypeError(std::string("copy_: expected a source of dtype ") + dtype_name(dtype()) +
                    ", got " + dtype_name(source.dtype()) + " (convert it with to() first)");
  }
  check_inplace_allowed("copy_", *impl_);
  std::memmove(impl_->storage->data, source.impl_->storage->data,
               impl_->storage->element_size * static_cast<std::size_t>(numel()));
  bump_version();
  return *this;
}

Tensor& Tensor::add_(const Tensor& other, float alpha) {
  check_defined("add_");
  if (!other.defined()) throw ValueError("add_: the other tensor is undefined");
  check_same_shape("add_", "an operand", shape(), other.shape());
  check_floating("add_", "the tensor", *this);
  check_floating("add_", "the other tensor", other);
  check_inplace_allowed("add_", *impl_);
  float* values = data();
  const float* addend = other.data();
  const std::int64_t n = numel();
  for (std::int64_t i = 0; i < n; ++i) values[i] += alpha * addend[i];
  bump_version();
  return *this;
}

Tensor& Tensor::mul_(float factor) {
  check_defined("mul_");
  check_floating("mul_", "the tensor", *this);
  check_inplace_allowed("mul_", *impl_);
  float* values = data();
  const std::int64_t n = numel();
  for (std::int64_t i = 0; i < n; ++i) values[i] *= factor;
  bump_version();
  return *this;
}

std::uint64_t Tensor::version() const {
  check_defined("version");
  return impl_->storage->version;
}

void Tensor::bump_version() {
  check_defined("bump_version");
  ++impl_->storage->version;
}

Tensor Tensor::view_data_as(const Shape& new_shape) const {
  check_defined("view_data_as");
  if (checked_numel("view_data_as", new_shape) != numel()) {
    throw ShapeError("view_data_as: cannot view shape " + format_shape(shape()) + " (" +
                     std::to_string(numel()) + " elements) as " + format_shape(new_shape));
  }
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = impl_->storage;
  impl->shape = new_shape;
  impl->dtype = impl_->dtype;
  return Tensor(std::move(impl));
}

}  // namespace tapegrad
