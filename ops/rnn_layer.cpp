// rnn_layer: a whole Elman RNN layer (one direction) over a sequence as ONE tape node.
// Forward, per PyTorch (https://pytorch.org/docs/stable/generated/torch.nn.RNN.html):
//   h_t = act(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh), act = tanh or relu
// Backward from the saved outputs: d pre = dh * (1 - h^2) for tanh, dh * [h > 0] for relu
// (relu'(0) = 0, as PyTorch). Weight gradients are one product each over all T*B rows.
#include <algorithm>
#include <utility>

#include "autograd/node.h"
#include "ops/kernels/elementwise.h"
#include "ops/kernels/matmul.h"
#include "ops/recurrent.h"
#include "ops/recurrent_common.h"

namespace tapegrad {

using kernels::gemm;

RecurrentResult rnn_layer(const Tensor& x, const Tensor& h0, const Tensor& weight_ih,
                          const Tensor& weight_hh, const Tensor& bias_ih, const Tensor& bias_hh,
                          RNNNonlinearity nonlinearity, const std::vector<std::int64_t>& lengths,
                          bool reverse) {
  constexpr const char* op = "rnn_layer";
  // Plain variables, not a structured binding: the backward lambda captures them (clang 14).
  const recurrent::Dims dims = recurrent::check_input(op, x, lengths);
  const std::int64_t T = dims.T, B = dims.B, I = dims.I;
  if (!weight_ih.defined() || weight_ih.dim() != 2) {
    throw ShapeError(std::string(op) + ": expected weight_ih of shape [hidden_size, " +
                     std::to_string(I) + "], got " +
                     (weight_ih.defined() ? format_shape(weight_ih.shape()) : "undefined"));
  }
  const std::int64_t H = weight_ih.size(0);
  recurrent::check_matrix(op, "weight_ih", weight_ih, H, I);
  recurrent::check_matrix(op, "weight_hh", weight_hh, H, H);
  recurrent::check_bias(op, "bias_ih", bias_ih, H);
  recurrent::check_bias(op, "bias_hh", bias_hh, H);
  recurrent::check_state(op, "h0", h0, B, H);
  recurrent::check_sequence_size(op, T, B, H);
  const bool use_tanh = nonlinearity == RNNNonlinearity::Tanh;

  const std::int64_t rows = T * B;
  Tensor pre = Tensor::empty({T, B, H});
  recurrent::fill_bias_rows(pre.data(), rows, H, bias_ih.defined() ? bias_ih.data() : nullptr,
                            bias_hh.defined() ? bias_hh.data() : nullptr);
  gemm(false, true, rows, H, I, x.data(), I, weight_ih.data(), I, pre.data(), H, true);

  // State slots: see recurrent::slot_before / slot_after.
  Tensor h_seq = Tensor::empty({T + 1, B, H});
  std::copy_n(recurrent::initial_state(h0, B, H).data(), B * H,
              h_seq.data() + recurrent::first_slot(T, reverse) * B * H);
  for (std::int64_t step = 0; step < T; ++step) {
    const std::int64_t t = recurrent::time_at(step, T, reverse);
    const float* h_prev = h_seq.data() + recurrent::slot_before(t, reverse) * B * H;
    float* h_next = h_seq.data() + recurrent::slot_after(t, reverse) * B * H;
    float* pre_t = pre.data() + t * B * H;
    gemm(false, true, B, H, H, h_prev, H, weight_hh.data(), H, pre_t, H, true);
    if (use_tanh) {
      kernels::tanh_forward(h_next, pre_t, B * H);
    } else {
      for (std::int64_t i = 0; i < B * H; ++i) h_next[i] = pre_t[i] > 0.0f ? pre_t[i] : 0.0f;
    }
    recurrent::carry_finished_rows(h_next, h_prev, B, H, lengths, t);
  }

  RecurrentResult result{recurrent::gather_outputs(h_seq, T, B, H, lengths, reverse),
                         recurrent::state_at(h_seq, recurrent::last_slot(T, reverse), B, H),
                         Tensor()};

  record(op, {x, h0, weight_ih, weight_hh, bias_ih, bias_hh}, {result.output, result.h_n},
         {x, weight_ih, weight_hh}, [=](BackwardContext& ctx) {
           const Tensor& x_saved = ctx.saved(0);
           const Tensor& w_ih = ctx.saved(1);
           const Tensor& w_hh = ctx.saved(2);
           const float* grad_out = ctx.grad_output(0).data();
           Tensor dh = ctx.grad_output(1).clone();
           Tensor dh_prev = Tensor::empty({B, H});
           Tensor dpre = Tensor::empty({T, B, H});
           for (std::int64_t step = T - 1; step >= 0; --step) {
             const std::int64_t t = recurrent::time_at(step, T, reverse);
             const float* h_t = h_seq.data() + recurrent::slot_after(t, reverse) * B * H;
             float* dh_data = dh.data();
             float* dpre_t = dpre.data() + t * B * H;
             for (std::int64_t b = 0; b < B; ++b) {
               const bool valid = recurrent::is_valid(lengths, b, t);
               const float* g = grad_out + (t * B + b) * H;
               for (std::int64_t j = 0; j < H; ++j) {
                 const std::int64_t at = b * H + j;
                 if (!valid) {
                   dpre_t[at] = 0.0f;
                   continue;
                 }
                 const float dh_total = dh_data[at] + g[j];
                 const float h = h_t[at];
                 dpre_t[at] = use_tanh ? dh_total * (1.0f - h * h) : (h > 0.0f ? dh_total : 0.0f);
               }
             }
             gemm(false, false, B, H, H, dpre_t, H, w_hh.data(), H, dh_prev.data(), H, false);
             recurrent::carry_finished_rows(dh_prev.data(), dh_data, B, H, lengths, t, /*add=*/true);
             std::swap(dh, dh_prev);
           }
           if (ctx.needs_grad(0)) ctx.accumulate(0, recurrent::input_grad(dpre.data(), T, B, H, w_ih));
           if (ctx.needs_grad(1)) ctx.accumulate(1, dh);
           if (ctx.needs_grad(2)) {
             ctx.accumulate(2, recurrent::weight_grad(dpre.data(), rows, H, x_saved.data(), I));
           }
           if (ctx.needs_grad(3)) {
             const float* h_prev_all = h_seq.data() + recurrent::slot_before(0, reverse) * B * H;
             ctx.accumulate(3, recurrent::weight_grad(dpre.data(), rows, H, h_prev_all, H));
           }
           if (ctx.needs_grad(4) || ctx.needs_grad(5)) {
             Tensor db = Tensor::zeros({H});
             recurrent::add_column_sums(db.data(), dpre.data(), rows, H);
             ctx.accumulate(4, db);
             ctx.accumulate(5, db);
           }
         });
  return result;
}

}  // namespace tapegrad
