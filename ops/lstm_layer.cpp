// lstm_layer: a whole LSTM layer (one direction) over a sequence as ONE tape node.
// Forward, per PyTorch (https://pytorch.org/docs/stable/generated/torch.nn.LSTM.html):
//   gates_t = x_t W_ih^T + b_ih + b_hh + h_{t-1} W_hh^T          [B, 4H], order i, f, g, o
//   c_t = sigmoid(f) * c_{t-1} + sigmoid(i) * tanh(g),  h_t = (sigmoid(o) * tanh(c_t)) W_hr^T
// x W_ih^T for all T is one product before the loop; each step adds one recurrent product and runs
// the fused gate kernel. Backward walks the steps in reverse for d gates, then forms the weight
// gradients with one product each over all T*B rows (dW = dgates^T [x | h_prev]).
#include <algorithm>
#include <utility>

#include "autograd/node.h"
#include "ops/kernels/lstm_gates.h"
#include "ops/kernels/matmul.h"
#include "ops/recurrent.h"
#include "ops/recurrent_common.h"

namespace tapegrad {

using kernels::gemm;

RecurrentResult lstm_layer(const Tensor& x, const Tensor& h0, const Tensor& c0,
                           const Tensor& weight_ih, const Tensor& weight_hh,
                           const Tensor& bias_ih, const Tensor& bias_hh, const Tensor& weight_hr,
                           const std::vector<std::int64_t>& lengths, bool reverse) {
  constexpr const char* op = "lstm_layer";
  // Plain variables, not a structured binding: the backward lambda captures them (clang 14).
  const recurrent::Dims dims = recurrent::check_input(op, x, lengths);
  const std::int64_t T = dims.T, B = dims.B, I = dims.I;
  if (!weight_ih.defined() || weight_ih.dim() != 2 || weight_ih.size(0) % 4 != 0) {
    throw ShapeError(std::string(op) + ": expected weight_ih of shape [4*hidden_size, " +
                     std::to_string(I) + "], got " +
                     (weight_ih.defined() ? format_shape(weight_ih.shape()) : "undefined"));
  }
  const std::int64_t H = weight_ih.size(0) / 4;
  const std::int64_t G = 4 * H;
  const bool projected = weight_hr.defined();
  if (projected && weight_hr.dim() != 2) {
    throw ShapeError(std::string(op) + ": expected weight_hr of shape [proj_size, " +
                     std::to_string(H) + "], got " + format_shape(weight_hr.shape()));
  }
  const std::int64_t P = projected ? weight_hr.size(0) : H;
  recurrent::check_matrix(op, "weight_ih", weight_ih, G, I);
  recurrent::check_matrix(op, "weight_hh", weight_hh, G, P);
  if (projected) recurrent::check_matrix(op, "weight_hr", weight_hr, P, H);
  recurrent::check_bias(op, "bias_ih", bias_ih, G);
  recurrent::check_bias(op, "bias_hh", bias_hh, G);
  recurrent::check_state(op, "h0", h0, B, P);
  recurrent::check_state(op, "c0", c0, B, H);
  recurrent::check_sequence_size(op, T, B, std::max(G, P));

  const std::int64_t rows = T * B;
  // Pre-activations of all steps: biases, then x W_ih^T in one product.
  Tensor gates = Tensor::empty({T, B, G});
  recurrent::fill_bias_rows(gates.data(), rows, G, bias_ih.defined() ? bias_ih.data() : nullptr,
                            bias_hh.defined() ? bias_hh.data() : nullptr);
  gemm(false, true, rows, G, I, x.data(), I, weight_ih.data(), I, gates.data(), G, true);

  // State slots: see recurrent::slot_before / slot_after.
  Tensor h_seq = Tensor::empty({T + 1, B, P});
  Tensor c_seq = Tensor::empty({T + 1, B, H});
  // The gate kernel activates each step's block in place: the pre-activations are not needed
  // again, and at B=990, H=100, T=10 this saves a 16 MB buffer and its memory traffic.
  Tensor gates_act = gates;
  Tensor tanh_c = Tensor::empty({T, B, H});
  Tensor h_unprojected = projected ? Tensor::empty({T, B, H}) : Tensor();
  const std::int64_t first = recurrent::first_slot(T, reverse);
  std::copy_n(recurrent::initial_state(h0, B, P).data(), B * P, h_seq.data() + first * B * P);
  std::copy_n(recurrent::initial_state(c0, B, H).data(), B * H, c_seq.data() + first * B * H);

  for (std::int64_t step = 0; step < T; ++step) {
    const std::int64_t t = recurrent::time_at(step, T, reverse);
    const std::int64_t prev = recurrent::slot_before(t, reverse);
    const std::int64_t next = recurrent::slot_after(t, reverse);
    float* gates_t = gates.data() + t * B * G;
    const float* h_prev = h_seq.data() + prev * B * P;
    float* h_next = h_seq.data() + next * B * P;
    const float* c_prev = c_seq.data() + prev * B * H;
    float* c_next = c_seq.data() + next * B * H;
    gemm(false, true, B, G, P, h_prev, P, weight_hh.data(), P, gates_t, G, true);
    float* h_cell = projected ? h_unprojected.data() + t * B * H : h_next;
    kernels::lstm_gates_forward(h_cell, c_next, gates_act.data() + t * B * G,
                                tanh_c.data() + t * B * H, gates_t, c_prev, B, H);
    if (projected) gemm(false, true, B, P, H, h_cell, H, weight_hr.data(), H, h_next, P, false);
    recurrent::carry_finished_rows(h_next, h_prev, B, P, lengths, t);
    recurrent::carry_finished_rows(c_next, c_prev, B, H, lengths, t);
  }

  const std::int64_t last = recurrent::last_slot(T, reverse);
  RecurrentResult result{recurrent::gather_outputs(h_seq, T, B, P, lengths, reverse),
                         recurrent::state_at(h_seq, last, B, P), recurrent::state_at(c_seq, last, B, H)};

  record(op, {x, h0, c0, weight_ih, weight_hh, bias_ih, bias_hh, weight_hr},
         {result.output, result.h_n, result.c_n}, {x, weight_ih, weight_hh, weight_hr},
         [=](BackwardContext& ctx) {
           const Tensor& x_saved = ctx.saved(0);
           const Tensor& w_ih = ctx.saved(1);
           const Tensor& w_hh = ctx.saved(2);
           const Tensor& w_hr = ctx.saved(3);
           const float* grad_out = ctx.grad_output(0).data();
           Tensor dh = ctx.grad_output(1).clone();
           Tensor dc = ctx.grad_output(2).clone();
           Tensor dh_prev = Tensor::empty({B, P});
           Tensor dc_prev = Tensor::empty({B, H});
           Tensor dgates = Tensor::empty({T, B, G});
           Tensor dh_cell = projected ? Tensor::empty({B, H}) : Tensor();
           Tensor dh_all = projected ? Tensor::zeros({T, B, P}) : Tensor();
           for (std::int64_t step = T - 1; step >= 0; --step) {
             const std::int64_t t = recurrent::time_at(step, T, reverse);
             const std::int64_t prev = recurrent::slot_before(t, reverse);
             float* dh_data = dh.data();
             recurrent::add_output_grad(dh_data, grad_out, t, B, P, lengths);
             const float* dh_for_cell = dh_data;
             if (projected) {
               float* dh_t = dh_all.data() + t * B * P;
               for (std::int64_t b = 0; b < B; ++b) {
                 if (recurrent::is_valid(lengths, b, t)) std::copy_n(dh_data + b * P, P, dh_t + b * P);
               }
               gemm(false, false, B, H, P, dh_data, P, w_hr.data(), H, dh_cell.data(), H, false);
               dh_for_cell = dh_cell.data();
             }
             float* dgates_t = dgates.data() + t * B * G;
             kernels::lstm_gates_backward(dgates_t, dc_prev.data(), dh_for_cell, dc.data(),
                                          gates_act.data() + t * B * G, tanh_c.data() + t * B * H,
                                          c_seq.data() + prev * B * H, B, H);
             for (std::int64_t b = 0; b < B; ++b) {
               if (!recurrent::is_valid(lengths, b, t)) std::fill_n(dgates_t + b * G, G, 0.0f);
             }
             recurrent::carry_finished_rows(dc_prev.data(), dc.data(), B, H, lengths, t);
             gemm(false, false, B, P, G, dgates_t, G, w_hh.data(), P, dh_prev.data(), P, false);
             recurrent::carry_finished_rows(dh_prev.data(), dh_data, B, P, lengths, t, /*add=*/true);
             std::swap(dh, dh_prev);
             std::swap(dc, dc_prev);
           }
           if (ctx.needs_grad(0)) ctx.accumulate(0, recurrent::input_grad(dgates.data(), T, B, G, w_ih));
           if (ctx.needs_grad(1)) ctx.accumulate(1, dh);
           if (ctx.needs_grad(2)) ctx.accumulate(2, dc);
           if (ctx.needs_grad(3)) {
             ctx.accumulate(3, recurrent::weight_grad(dgates.data(), rows, G, x_saved.data(), I));
           }
           if (ctx.needs_grad(4)) {
             const float* h_prev_all = h_seq.data() + recurrent::slot_before(0, reverse) * B * P;
             ctx.accumulate(4, recurrent::weight_grad(dgates.data(), rows, G, h_prev_all, P));
           }
           if (ctx.needs_grad(5) || ctx.needs_grad(6)) {
             Tensor db = Tensor::zeros({G});
             recurrent::add_column_sums(db.data(), dgates.data(), rows, G);
             ctx.accumulate(5, db);  // the engine copies a gradient it receives twice
             ctx.accumulate(6, db);
           }
           if (ctx.needs_grad(7)) {
             Tensor dw_hr = Tensor::empty({P, H});
             gemm(true, false, P, H, rows, dh_all.data(), P, h_unprojected.data(), H, dw_hr.data(), H, false);
             ctx.accumulate(7, dw_hr);
           }
         });
  return result;
}

}  // namespace tapegrad
