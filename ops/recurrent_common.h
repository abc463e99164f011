#pragma once
// Internal helpers shared by the whole-sequence recurrent layer ops (lstm_layer, gru_layer,
// rnn_layer): argument checks, the time order, per-row masks for variable lengths, bias rows.
#include <cstdint>
#include <string>
#include <vector>

#include "autograd/grad_mode.h"
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
// The layer's per-step buffers, at most [T + 1, B, width] (width: the widest of the gates, the
// state and the projection), must fit a tensor: T and B come from x and width from the weights,
// so their product is new. Throws ShapeError naming op before anything is allocated; once this
// passes, every T * B * width offset the layer forms fits int64.
void check_sequence_size(const char* op, std::int64_t T, std::int64_t B, std::int64_t width);

// Time index of the s-th processed step.
inline std::int64_t time_at(std::int64_t step, std::int64_t T, bool reverse) {
  return reverse ? T - 1 - step : step;
}

// True if row b has data at time t.
inline bool is_valid(const std::vector<std::int64_t>& lengths, std::int64_t b, std::int64_t t) {
  return lengths.empty() || t < lengths[static_cast<std::size_t>(b)];
}

// State slots of a sequence [T + 1, B, width]: forward runs use slot t as the state before step t
// and t + 1 after it, reverse runs t + 1 before and t after. Either way the states before steps
// 0..T-1 form one contiguous [T * B, width] block (read by the W_hh gradient in one product).
inline std::int64_t slot_before(std::int64_t t, bool reverse) { return reverse ? t + 1 : t; }
inline std::int64_t slot_after(std::int64_t t, bool reverse) { return reverse ? t : t + 1; }
inline std::int64_t first_slot(std::int64_t T, bool reverse) { return reverse ? T : 0; }
inline std::int64_t last_slot(std::int64_t T, bool reverse) { return reverse ? 0 : T; }

// Rows of `to` [B, width] whose sequence has ended by time t take the values of `from` (add them
// when `add`): past its end a sequence keeps its state, and its gradient passes straight through.
void carry_finished_rows(float* to, const float* from, std::int64_t B, std::int64_t width,
                         const std::vector<std::int64_t>& lengths, std::int64_t t,
                         bool add = false);

// The output [T, B, width]: the state after each step, zero where a sequence has ended.
Tensor gather_outputs(const Tensor& state_seq, std::int64_t T, std::int64_t B, std::int64_t width,
                      const std::vector<std::int64_t>& lengths, bool reverse);

// A copy of one [B, width] slot of a state sequence.
Tensor state_at(const Tensor& state_seq, std::int64_t slot, std::int64_t B, std::int64_t width);

// dh [B, width] += grad_output[t] on the rows that still have data at time t.
void add_output_grad(float* dh, const float* grad_output, std::int64_t t, std::int64_t B,
                     std::int64_t width, const std::vector<std::int64_t>& lengths);

// The gradients a layer op forms once over all T*B rows from its per-step gate gradients
// dgates [T*B, G] (flashlight's and cuDNN's trick: one product instead of T):
//   weight_grad: dgates^T . values [T*B, width] -> [G, width]  (dW_ih with x, dW_hh with h_prev)
//   input_grad:  dgates . weight_ih [G, I]      -> [T, B, I]   (dx)
Tensor weight_grad(const float* dgates, std::int64_t rows, std::int64_t G, const float* values,
                   std::int64_t width, MatmulPrecision precision);
Tensor input_grad(const float* dgates, std::int64_t T, std::int64_t B, std::int64_t G,
                  const Tensor& weight_ih, MatmulPrecision precision);

// out [rows, G] = bias_a + bias_b (either may be null) + x [rows, I] . W^T (W [G, I]), at the
// precision recorded (kernels::gemm_at_bias): the bits of filling out with the bias rows and
// accumulating the product onto them.
void project_with_bias(MatmulPrecision precision, float* out, std::int64_t rows, std::int64_t G,
                       std::int64_t I, const float* x, const float* weight, const float* bias_a,
                       const float* bias_b);

// Copies state into a fresh [B, size] tensor, or zeros when undefined.
Tensor initial_state(const Tensor& state, std::int64_t B, std::int64_t size);

}  // namespace tapegrad::recurrent
