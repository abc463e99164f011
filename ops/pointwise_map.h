#pragma once
// Internal loops shared by the pointwise ops (binary.cpp, pow.cpp, minmax_pointwise.cpp, the unary
// files). Plain loops over data(): equal shapes (the common case in a model) take one flat loop;
// only mismatched shapes pay for the broadcast index walk. No xtensor here, so including this
// costs nothing at compile time.
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "autograd/tensor.h"
#include "ops/broadcast.h"

namespace tapegrad::pointwise {

// Throws ValueError("<op>: expected a defined tensor for '<name>', got an undefined tensor").
inline void check_defined(std::string_view op, std::string_view name, const Tensor& t) {
  if (!t.defined()) {
    throw ValueError(std::string(op) + ": expected a defined tensor for '" + std::string(name) +
                     "', got an undefined tensor");
  }
  check_floating(op, name, t);
}

// Checks both operands of a broadcasting binary op and returns the output shape.
inline Shape check_binary(std::string_view op, const Tensor& a, const Tensor& b,
                          std::string_view a_name = "a", std::string_view b_name = "b") {
  check_defined(op, a_name, a);
  check_defined(op, b_name, b);
  if (a.shape() == b.shape()) return a.shape();
  return broadcast_shapes(op, a.shape(), b.shape());
}

// out[i] = f(x[i]) for every element.
template <typename F>
Tensor map_unary(const Tensor& x, F&& f) {
  Tensor out = Tensor::empty(x.shape());
  const float* in = x.data();
  float* values = out.data();
  for (std::int64_t i = 0, n = out.numel(); i < n; ++i) values[i] = f(in[i]);
  return out;
}

// out[i] = f(x[i], y[i]) for two tensors of the same shape (backward of unary ops: f(grad, saved)).
template <typename F>
Tensor map_same_shape(const Tensor& x, const Tensor& y, F&& f) {
  Tensor out = Tensor::empty(x.shape());
  const float* xs = x.data();
  const float* ys = y.data();
  float* values = out.data();
  for (std::int64_t i = 0, n = out.numel(); i < n; ++i) values[i] = f(xs[i], ys[i]);
  return out;
}

namespace detail {

// Element strides of `shape` against the trailing dims of `target`: 0 on broadcast dims.
inline std::vector<std::int64_t> strides_against(const Shape& shape, const Shape& target) {
  std::vector<std::int64_t> strides(target.size(), 0);
  std::int64_t stride = 1;
  for (std::size_t i = 0; i < shape.size(); ++i) {
    const std::size_t d = shape.size() - 1 - i;
    strides[target.size() - 1 - i] = shape[d] == 1 ? 0 : stride;
    stride *= shape[d];
  }
  return strides;
}

template <std::size_t N, typename F, std::size_t... K>
void broadcast_loop(const Shape& out_shape, const std::array<const Tensor*, N>& inputs,
                    float* out, F& f, std::index_sequence<K...>) {
  const std::array<const float*, N> base{inputs[K]->data()...};
  const std::int64_t total = numel_of(out_shape);
  bool same_shape = true;
  for (const Tensor* input : inputs) same_shape = same_shape && input->shape() == out_shape;
  if (same_shape) {
    for (std::int64_t i = 0; i < total; ++i) out[i] = f(base[K][i]...);
    return;
  }
  if (total == 0) return;
  // Here the rank is >= 1: a 0-D output means every input is 0-D, i.e. the same shape.
  const std::size_t rank = out_shape.size();
  const std::array<std::vector<std::int64_t>, N> strides{
      strides_against(inputs[K]->shape(), out_shape)...};
  const std::int64_t inner = out_shape[rank - 1];
  const std::array<std::int64_t, N> inner_stride{strides[K][rank - 1]...};
  std::array<std::int64_t, N> offset{};
  std::vector<std::int64_t> index(rank, 0);
  for (std::int64_t row = 0; row < total; row += inner) {
    for (std::int64_t j = 0; j < inner; ++j) {
      out[row + j] = f(base[K][offset[K] + j * inner_stride[K]]...);
    }
    // Odometer over the outer dims, moving every input's offset with it.
    for (std::size_t d = rank - 1; d-- > 0;) {
      if (++index[d] < out_shape[d]) {
        ((offset[K] += strides[K][d]), ...);
        break;
      }
      ((offset[K] -= strides[K][d] * (out_shape[d] - 1)), ...);
      index[d] = 0;
    }
  }
}

}  // namespace detail

// out = f(inputs...) with each input broadcast to out_shape (which must be their broadcast shape).
// Used by forwards (f(a, b)) and backwards (f(grad_out, a, b)) alike.
template <typename F, typename... Inputs>
Tensor map_broadcast(const Shape& out_shape, F&& f, const Inputs&... inputs) {
  constexpr std::size_t n = sizeof...(Inputs);
  Tensor out = Tensor::empty(out_shape);
  const std::array<const Tensor*, n> pointers{&inputs...};
  detail::broadcast_loop<n>(out_shape, pointers, out.data(), f, std::make_index_sequence<n>{});
  return out;
}

}  // namespace tapegrad::pointwise
