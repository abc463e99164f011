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

float* Tensor::data() {
  check_defined("data");
  return impl_->data();
}

const float* Tensor::data() const {
  check_defined("data");
  return impl_->data();
}

float Tensor::item() const {
  if (numel() != 1) {
    throw ShapeError("item: expected a tensor with one element, got shape " +
                     format_shape(shape()));
  }
  return data()[0];
}

float Tensor::at(std::initializer_list<std::int64_t> index) const {
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
  return std::vector<float>(data(), data() + numel());
}

std::string Tensor::to_string() const {
  if (!impl_) return "Tensor(undefined)";
  std::ostringstream out;
  out << "Tensor(shape=" << format_shape(shape()) << ", values=[";
  const std::int64_t n = numel();
  const std::int64_t shown = std::min<std::int64_t>(n, 12);
  for (std::int64_t i = 0; i < shown; ++i) out << (i ? ", " : "") << data()[i];
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
  check_same_shape("backward", "a gradient", shape(), gradient.shape());
  run_backward(*this, gradient, options);
}

Tensor Tensor::detach() const {
  check_defined("detach");
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = impl_->storage;
  impl->shape = impl_->shape;
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
  check_inplace_allowed("fill_", *impl_);
  std::fill_n(data(), numel(), value);
  bump_version();
  return *this;
}

Tensor& Tensor::copy_(const Tensor& source) {
  check_defined("copy_");
  if (!source.defined()) throw ValueError("copy_: the source tensor is undefined");
  check_same_shape("copy_", "a source", shape(), source.shape());
  check_inplace_allowed("copy_", *impl_);
  std::memmove(data(), source.data(), sizeof(float) * static_cast<std::size_t>(numel()));
  bump_version();
  return *this;
}

Tensor& Tensor::add_(const Tensor& other, float alpha) {
  check_defined("add_");
  if (!other.defined()) throw ValueError("add_: the other tensor is undefined");
  check_same_shape("add_", "an operand", shape(), other.shape());
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
  return Tensor(std::move(impl));
}

}  // namespace tapegrad
