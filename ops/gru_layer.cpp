// gru_layer: a whole GRU layer (one direction) over a sequence as ONE tape node.
// Forward, per PyTorch (https://pytorch.org/docs/stable/generated/torch.nn.GRU.html):
//   gates_x = x_t W_ih^T + b_ih,  gates_h = h_{t-1} W_hh^T + b_hh        [B, 3H], order r, z, n
//   r = sigmoid(xr + hr), z = sigmoid(xz + hz), n = tanh(xn + r * hn), h_t = (1 - z) n + z h_{t-1}
// b_hh stays inside r * (...), so gates_h is kept apart from gates_x. x W_ih^T for all T is one
// product; each step one recurrent product and the fused kernel. The backward keeps d gates_x and
// d gates_h of every step and forms each weight gradient with one product over all T*B rows.
#include <algorithm>
#include <utility>

#include "autograd/node.h"
#include "ops/kernels/gru_gates.h"
#include "ops/kernels/matmul.h"
#include "ops/recurrent.h"
#include "ops/recurrent_common.h"

namespace tapegrad {

using kernels::gemm;

RecurrentResult gru_layer(const Tensor& x, const Tensor& h0, const Tensor& weight_ih,
                          const Tensor& weight_hh, const Tensor& bias_ih, const Tensor& bias_hh,
                          const std::vector<std::int64_t>& lengths, bool reverse) {
  constexpr const char* op = "gru_layer";
  // Plain variables, not a structured binding: the backward lambda captures them (clang 14).
  const recurrent::Dims dims = recurrent::check_input(op, x, lengths);
  const std::int64_t T = dims.T, B = dims.B, I = dims.I;
  if (!weight_ih.defined() || weight_ih.dim() != 2 || weight_ih.size(0) % 3 != 0) {
    throw ShapeError(std::string(op) + ": expected weight_ih of shape [3*hidden_size, " +
                     std::to_string(I) + "], got " +
                     (weight_ih.defined() ? format_shape(weight_ih.shape()) : "undefined"));
  }
  const std::int64_t H = weight_ih.size(0) / 3;
  const std::int64_t G = 3 * H;
  recurrent::check_matrix(op, "weight_ih", weight_ih, G, I);
  recurrent::check_matrix(op, "weight_hh", weight_hh, G, H);
  recurrent::check_bias(op, "bias_ih", bias_ih, G);
  recurrent::check_bias(op, "bias_hh", bias_hh, G);
  recurrent::check_state(op, "h0", h0, B, H);
  recurrent::check_sequence_size(op, T, B, G);

  const std::int64_t rows = T * B;
  const float* b_hh = bias_hh.defined() ? bias_hh.data() : nullptr;
  Tensor gates_x = Tensor::empty({T, B, G});
  recurrent::fill_bias_rows(gates_x.data(), rows, G, bias_ih.defined() ? bias_ih.data() : nullptr,
                            nullptr);
  gemm(false, true, rows, G, I, x.data(), I, weight_ih.data(), I, gates_x.data(), G, true);

  // State slots: see recurrent::slot_before / slot_after.
  Tensor h_seq = Tensor::empty({T + 1, B, H});
  Tensor gates_act = Tensor::empty({T, B, G});
  Tensor hn_saved = Tensor::empty({T, B, H});
  Tensor gates_h = Tensor::empty({B, G});
  std::copy_n(recurrent::initial_state(h0, B, H).data(), B * H,
              h_seq.data() + recurrent::first_slot(T, reverse) * B * H);
  for (std::int64_t step = 0; step < T; ++step) {
    const std::int64_t t = recurrent::time_at(step, T, reverse);
    const float* h_prev = h_seq.data() + recurrent::slot_before(t, reverse) * B * H;
    float* h_next = h_seq.data() + recurrent::slot_after(t, reverse) * B * H;
    recurrent::fill_bias_rows(gates_h.data(), B, G, b_hh, nullptr);
    gemm(false, true, B, G, H, h_prev, H, weight_hh.data(), H, gates_h.data(), G, true);
    kernels::gru_gates_forward(h_next, gates_act.data() + t * B * G, hn_saved.data() + t * B * H,
                               gates_x.data() + t * B * G, gates_h.data(), h_prev, B, H);
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
           Tensor dgates_x = Tensor::empty({T, B, G});
           Tensor dgates_h = Tensor::empty({T, B, G});
           for (std::int64_t step = T - 1; step >= 0; --step) {
             const std::int64_t t = recurrent::time_at(step, T, reverse);
             const float* h_prev = h_seq.data() + recurrent::slot_before(t, reverse) * B * H;
             float* dh_data = dh.data();
             recurrent::add_output_grad(dh_data, grad_out, t, B, H, lengths);
             float* dgx_t = dgates_x.data() + t * B * G;
             float* dgh_t = dgates_h.data() + t * B * G;
             kernels::gru_gates_backward(dgx_t, dgh_t, dh_prev.data(), dh_data,
                                         gates_act.data() + t * B * G,
                                         hn_saved.data() + t * B * H, h_prev, B, H);
             for (std::int64_t b = 0; b < B; ++b) {
               if (recurrent::is_valid(lengths, b, t)) continue;
               std::fill_n(dgx_t + b * G, G, 0.0f);
               std::fill_n(dgh_t + b * G, G, 0.0f);
             }
             recurrent::carry_finished_rows(dh_prev.data(), dh_data, B, H, lengths, t);
             // the path through gates_h = h_prev W_hh^T
             gemm(false, false, B, H, G, dgh_t, G, w_hh.data(), H, dh_prev.data(), H, true);
             std::swap(dh, dh_prev);
           }
           if (ctx.needs_grad(0)) ctx.accumulate(0, recurrent::input_grad(dgates_x.data(), T, B, G, w_ih));
           if (ctx.needs_grad(1)) ctx.accumulate(1, dh);
           if (ctx.needs_grad(2)) {
             ctx.accumulate(2, recurrent::weight_grad(dgates_x.data(), rows, G, x_saved.data(), I));
           }
           if (ctx.needs_grad(3)) {
             const float* h_prev_all = h_seq.data() + recurrent::slot_before(0, reverse) * B * H;
             ctx.accumulate(3, recurrent::weight_grad(dgates_h.data(), rows, G, h_prev_all, H));
           }
           if (ctx.needs_grad(4)) {
             Tensor db_ih = Tensor::zeros({G});
             recurrent::add_column_sums(db_ih.data(), dgates_x.data(), rows, G);
             ctx.accumulate(4, db_ih);
           }
           if (ctx.needs_grad(5)) {
             Tensor db_hh = Tensor::zeros({G});
             recurrent::add_column_sums(db_hh.data(), dgates_h.data(), rows, G);
             ctx.accumulate(5, db_hh);
           }
         });
  return result;
}

}  // namespace tapegrad
