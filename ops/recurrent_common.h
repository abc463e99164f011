#pragma once
// Internal helpers shared by the whole-sequence recurrent layer ops (lstm_layer, gru_layer,
// rnn_layer): argument checks, the time order, per-row masks for variable lengths, bias rows.
#include <cstdint>
#include <string>
#include <vector>

#include "autograd/tensor.h"

namespace tapegrad::recurrent {

struct Dims {
  std::int64_t T, B, I;
};

// x must be [T, B, I] with T >= 1; lengths empty or B values in [1, T].
Dims check_input(const char* op, const Tensor& x, const std::vector<std::int64_t>& lengths);
// weight must be 2-D [rows, cols]; names the parameter in the message.
void check_matrix(const char* op, const char* name, const Tensor& weight, std::int64_t rows,
                  std::int64_t cols);
// bias undefined, or [size].
void check_bias(const char* op, const char* name, const Tensor& bias, std::int64_t size);
// state undefined, or [B, size].
void check_state(const char* op, const char* name, const Tensor& state, std::int64_t B,
                 std::int64_t size);

// Time index of the s-th processed step.
inline std::int64_t time_at(std::int64_t step, std::int64_t T, bool reverse) {
  return reverse ? T - 1 - step : step;
}

// True if row b has data at time t.
inline bool is_valid(const std::vector<std::int64_t>& lengths, std::int64_t b, std::int64_t t) {
  return lengths.empty() || t < lengths[static_cast<std::size_t>(b)];
}

// out[r, :] = bias_a + bias_b for every row (either bias may be null); the start of a fused product.
void fill_bias_rows(float* out, std::int64_t rows, std::int64_t width, const float* bias_a,
                    const float* bias_b);
// sums[j] += column sums of values [rows, width], accumulated in double.
void add_column_sums(float* sums, const float* values, std::int64_t rows, std::int64_t width);

// Copies state into a fresh [B, size] tensor, or zeros when undefined.
Tensor initial_state(const Tensor& state, std::int64_t B, std::int64_t size);

}  // namespace tapegrad::recurrent
