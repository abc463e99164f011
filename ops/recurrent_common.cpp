#include "ops/recurrent_common.h"

#include <algorithm>
#include <vector>

#include "ops/kernels/matmul.h"

namespace tapegrad::recurrent {

Dims check_input(const char* op, const Tensor& x, const std::vector<std::int64_t>& lengths) {
  if (!x.defined()) throw ValueError(std::string(op) + ": the input is undefined");
  check_floating(op, "the input", x);
  if (x.dim() != 3) {
    throw ShapeError(std::string(op) + ": expected input of shape [T, B, I], got " +
                     format_shape(x.shape()));
  }
  const Dims dims{x.size(0), x.size(1), x.size(2)};
  if (dims.T < 1) {
    throw ShapeError(std::string(op) + ": expected at least one time step, got input of shape " +
                     format_shape(x.shape()));
  }
  if (!lengths.empty()) {
    if (static_cast<std::int64_t>(lengths.size()) != dims.B) {
      throw ShapeError(std::string(op) + ": expected " + std::to_string(dims.B) +
                       " lengths (one per sequence), got " + std::to_string(lengths.size()));
    }
    for (std::size_t b = 0; b < lengths.size(); ++b) {
      if (lengths[b] < 1 || lengths[b] > dims.T) {
        throw ValueError(std::string(op) + ": length " + std::to_string(lengths[b]) +
                         " of sequence " + std::to_string(b) + " is outside [1, " +
                         std::to_string(dims.T) + "]");
      }
    }
  }
  return dims;
}

void check_matrix(const char* op, const char* name, const Tensor& weight, std::int64_t rows,
                  std::int64_t cols) {
  if (!weight.defined()) throw ValueError(std::string(op) + ": " + name + " is undefined");
  check_floating(op, name, weight);
  check_same_shape(op, name, Shape{rows, cols}, weight.shape());
}

void check_bias(const char* op, const char* name, const Tensor& bias, std::int64_t size) {
  check_floating(op, name, bias);
  if (bias.defined()) check_same_shape(op, name, Shape{size}, bias.shape());
}

void check_state(const char* op, const char* name, const Tensor& state, std::int64_t B,
                 std::int64_t size) {
  check_floating(op, name, state);
  if (state.defined()) check_same_shape(op, name, Shape{B, size}, state.shape());
}

void check_sequence_size(const char* op, std::int64_t T, std::int64_t B, std::int64_t width) {
  checked_numel(op, Shape{T + 1, B, width});
}

void project_with_bias(MatmulPrecision precision, float* out, std::int64_t rows, std::int64_t G,
                       std::int64_t I, const float* x, const float* weight, const float* bias_a,
                       const float* bias_b) {
  std::vector<float> row(static_cast<std::size_t>(G), 0.0f);
  for (std::int64_t j = 0; j < G; ++j) {
    row[static_cast<std::size_t>(j)] = (bias_a ? bias_a[j] : 0.0f) + (bias_b ? bias_b[j] : 0.0f);
  }
  kernels::gemm_at_bias(precision, false, true, rows, G, I, x, I, weight, I, out, G, row.data());
}

void carry_finished_rows(float* to, const float* from, std::int64_t B, std::int64_t width,
                         const std::vector<std::int64_t>& lengths, std::int64_t t, bool add) {
  for (std::int64_t b = 0; b < B; ++b) {
    if (is_valid(lengths, b, t)) continue;
    if (add) {
      for (std::int64_t j = 0; j < width; ++j) to[b * width + j] += from[b * width + j];
    } else {
      std::copy_n(from + b * width, width, to + b * width);
    }
  }
}

Tensor gather_outputs(const Tensor& state_seq, std::int64_t T, std::int64_t B, std::int64_t width,
                      const std::vector<std::int64_t>& lengths, bool reverse) {
  Tensor output = Tensor::empty({T, B, width});
  for (std::int64_t t = 0; t < T; ++t) {
    const float* state = state_seq.data() + slot_after(t, reverse) * B * width;
    float* out_t = output.data() + t * B * width;
    for (std::int64_t b = 0; b < B; ++b) {
      if (is_valid(lengths, b, t)) {
        std::copy_n(state + b * width, width, out_t + b * width);
      } else {
        std::fill_n(out_t + b * width, width, 0.0f);
      }
    }
  }
  return output;
}

Tensor state_at(const Tensor& state_seq, std::int64_t slot, std::int64_t B, std::int64_t width) {
  Tensor out = Tensor::empty({B, width});
  std::copy_n(state_seq.data() + slot * B * width, B * width, out.data());
  return out;
}

void add_output_grad(float* dh, const float* grad_output, std::int64_t t, std::int64_t B,
                     std::int64_t width, const std::vector<std::int64_t>& lengths) {
  for (std::int64_t b = 0; b < B; ++b) {
    if (!is_valid(lengths, b, t)) continue;
    const float* g = grad_output + (t * B + b) * width;
    for (std::int64_t j = 0; j < width; ++j) dh[b * width + j] += g[j];
  }
}

Tensor weight_grad(const float* dgates, std::int64_t rows, std::int64_t G, const float* values,
                   std::int64_t width, MatmulPrecision precision) {
  Tensor grad = Tensor::empty({G, width});
  kernels::gemm_at(precision, true, false, G, width, rows, dgates, G, values, width,
                   grad.data(), width, false);
  return grad;
}

Tensor input_grad(const float* dgates, std::int64_t T, std::int64_t B, std::int64_t G,
                  const Tensor& weight_ih, MatmulPrecision precision) {
  const std::int64_t I = weight_ih.size(1);
  Tensor grad = Tensor::empty({T, B, I});
  kernels::gemm_at(precision, false, false, T * B, I, G, dgates, G, weight_ih.data(), I,
                   grad.data(), I, false);
  return grad;
}

Tensor initial_state(const Tensor& state, std::int64_t B, std::int64_t size) {
  Tensor out = Tensor::empty({B, size});
  if (state.defined()) {
    std::copy_n(state.data(), B * size, out.data());
  } else {
    std::fill_n(out.data(), B * size, 0.0f);
  }
  return out;
}

}  // namespace tapegrad::recurrent
