// recurrent_layer: the one layer driver. Any cell (ops/recurrent_cell.h) over a sequence, one
// direction, as ONE tape node. Forward:
//   pre_t = x_t W_ih^T + b_ih (+ h_{t-1} W_hh^T + b_hh, or kept apart in pre_h for split cells)
//   (h~_t, c_t) = cell(pre_t, pre_h, h_{t-1}, c_{t-1}, params),  h_t = h~_t W_hr^T (projection)
// x W_ih^T for all T is one product before the loop (Appleyard et al. 2016); each step adds one
// recurrent product and runs the cell's fused step kernel. Backward walks the steps in reverse for
// d pre (cell backward kernel, then d h_{t-1} = d pre W_hh + the cell's direct term), then forms
// every weight gradient with one product over all T*B rows (dW = d pre^T [x | h_prev]).
// Lengths: past its end a sequence keeps its state, its output is zero and its gradient passes
// straight through (PyTorch's packed-sequence semantics).
// Cells that layer-normalise their gate rows (norm_ih, norm_hh; Ba et al. 2016) get
//   pre_t = LN_ih(x_t W_ih^T) + b_ih + LN_hh(h_{t-1} W_hh^T) + b_hh,  LN(v) = gain * xhat + bias
// with each product normalised over its row of G (ops/kernels/row_norm.h); the xhat rows and their
// rstd are saved, and backward takes d pre through LN's backward before the weight gradients.
#include <algorithm>
#include <optional>
#include <utility>

#include "autograd/node.h"
#include "ops/kernels/column_sums.h"
#include "ops/kernels/matmul.h"
#include "ops/kernels/row_norm.h"
#include "ops/recurrent.h"
#include "ops/recurrent_common.h"

namespace tapegrad {

namespace {

// A weight that every step multiplies by (W_hh, W_hr, in the forward and again in the backward):
// read in place in float32; under bfloat16 rounded and packed once per layer call, not per step.
class StepWeight {
 public:
  // M: the rows of every product with it (the batch), which decides whether bfloat16 pays.
  StepWeight(MatmulPrecision precision, std::int64_t M, bool transpose_b, std::int64_t K,
             std::int64_t N, const float* b, std::int64_t ldb)
      : transpose_b_(transpose_b), M_(M), K_(K), N_(N), b_(b), ldb_(ldb) {
    if (precision == MatmulPrecision::bfloat16 && kernels::bf16_pays(M, N, K))
      panels_ = kernels::pack_bf16(transpose_b, K, N, b, ldb);
  }
  // C[M, N] (+)= A[M, K] . op(B)
  void multiply(std::int64_t M, const float* a, std::int64_t lda, float* c, std::int64_t ldc,
                bool accumulate) const {
    check_rows(M);
    if (panels_.empty())
      kernels::gemm(false, transpose_b_, M, N_, K_, a, lda, b_, ldb_, c, ldc, accumulate);
    else
      kernels::gemm_bf16(false, M, a, lda, panels_, c, ldc, accumulate);
  }
  // C[M, N] = the row `bias` + A[M, K] . op(B): added as it stores in float32, a fill first in
  // bfloat16 (the bits are the same either way).
  void multiply_onto(std::int64_t M, const float* a, std::int64_t lda, float* c, std::int64_t ldc,
                     const float* bias) const {
    if (panels_.empty()) {
      check_rows(M);
      kernels::gemm_bias(false, transpose_b_, M, N_, K_, a, lda, b_, ldb_, c, ldc, bias);
      return;
    }
    for (std::int64_t m = 0; m < M; ++m) std::copy_n(bias, N_, c + m * ldc);
    multiply(M, a, lda, c, ldc, true);
  }

 private:
  void check_rows(std::int64_t M) const {
    if (M != M_) {  // the packing decision was made for M_ rows
      throw InternalError("recurrent_layer: a step product of " + std::to_string(M) +
                          " rows with a weight packed for " + std::to_string(M_));
    }
  }

  bool transpose_b_;
  std::int64_t M_, K_, N_;
  const float* b_;
  std::int64_t ldb_;
  kernels::Bf16Panels panels_;
};

std::string gate_rows(std::int64_t gates) {
  return gates == 1 ? "hidden_size" : std::to_string(gates) + "*hidden_size";
}

// next = next + keep * (prev - next), in place.
void blend_previous(float* next, const float* prev, const float* keep, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) next[i] += keep[i] * (prev[i] - next[i]);
}

// proposed = (1 - keep) * grad, kept = keep * grad.
void split_zoneout_grad(float* proposed, float* kept, const float* grad, const float* keep,
                        std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) {
    kept[i] = keep[i] * grad[i];
    proposed[i] = grad[i] - kept[i];
  }
}

void add_into(float* to, const float* values, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) to[i] += values[i];
}

// A cell's gate-row LayerNorm parameters: gain and bias [G] when it normalises that row, else
// none may be given.
void check_layer_norm(const std::string& name, const CellKernel& cell, bool normalised,
                      const char* row, const Tensor& gain, const Tensor& bias, std::int64_t G) {
  const std::string prefix = std::string("layernorm_") + row;
  for (const auto& [what, value] : {std::pair<std::string, const Tensor&>{prefix + "_weight", gain},
                                    {prefix + "_bias", bias}}) {
    if (!normalised) {
      if (value.defined()) {
        throw ValueError(name + ": the " + cell.name + " cell does not layer-normalise its " + row +
                         " gate rows, but " + what + " was given");
      }
      continue;
    }
    if (!value.defined()) {
      throw ValueError(name + ": the " + cell.name + " cell layer-normalises its " + row +
                       " gate rows, so " + what + " [" + std::to_string(G) + "] is needed");
    }
    check_floating(name, what, value);
    check_same_shape(name.c_str(), what.c_str(), Shape{G}, value.shape());
  }
}

// a + b + c elementwise over n, each optional (null: zero): one bias row.
std::vector<float> summed_bias(std::int64_t n, const float* a, const float* b, const float* c) {
  std::vector<float> sum(static_cast<std::size_t>(n), 0.0f);
  for (const float* term : {a, b, c}) {
    if (term == nullptr) continue;
    for (std::int64_t j = 0; j < n; ++j) sum[static_cast<std::size_t>(j)] += term[j];
  }
  return sum;
}

std::vector<double> zeros_double(std::int64_t n) { return std::vector<double>(static_cast<std::size_t>(n), 0.0); }

Tensor to_tensor(const std::vector<double>& values) {
  Tensor out = Tensor::empty({static_cast<std::int64_t>(values.size())});
  for (std::size_t j = 0; j < values.size(); ++j) out.data()[j] = static_cast<float>(values[j]);
  return out;
}

void zero_finished_rows(float* values, std::int64_t B, std::int64_t width,
                        const std::vector<std::int64_t>& lengths, std::int64_t t) {
  if (values == nullptr || lengths.empty()) return;
  for (std::int64_t b = 0; b < B; ++b) {
    if (!recurrent::is_valid(lengths, b, t)) std::fill_n(values + b * width, width, 0.0f);
  }
}

}  // namespace

RecurrentResult recurrent_layer(const std::string& name, const CellKernel& cell, const Tensor& x,
                                const Tensor& h0, const Tensor& c0, const RecurrentWeights& w,
                                const std::vector<std::int64_t>& lengths, bool reverse,
                                const RecurrentMasks& masks) {
  const char* op = name.c_str();
  const recurrent::Dims dims = recurrent::check_input(op, x, lengths);
  // Plain copies, not a structured binding: the backward lambda captures them (clang 14).
  const std::int64_t T = dims.T, B = dims.B, I = dims.I;
  const std::int64_t gates = cell.gates;
  const Tensor& weight_ih = w.weight_ih;
  if (!weight_ih.defined() || weight_ih.dim() != 2 || weight_ih.size(0) % gates != 0 ||
      weight_ih.size(0) == 0) {
    throw ShapeError(name + ": expected weight_ih of shape [" + gate_rows(gates) + ", " +
                     std::to_string(I) + "], got " +
                     (weight_ih.defined() ? format_shape(weight_ih.shape()) : "undefined"));
  }
  const std::int64_t H = weight_ih.size(0) / gates;
  const std::int64_t G = gates * H;
  const bool projected = w.weight_hr.defined();
  if (projected && cell.reads_h_prev) {
    throw ValueError(name + ": the " + cell.name + " cell reads h_prev itself, so it cannot "
                     "take a projection (weight_hr)");
  }
  if (projected && w.weight_hr.dim() != 2) {
    throw ShapeError(name + ": expected weight_hr of shape [proj_size, " + std::to_string(H) +
                     "], got " + format_shape(w.weight_hr.shape()));
  }
  const std::int64_t P = projected ? w.weight_hr.size(0) : H;
  recurrent::check_matrix(op, "weight_ih", weight_ih, G, I);
  recurrent::check_matrix(op, "weight_hh", w.weight_hh, G, P);
  if (projected) recurrent::check_matrix(op, "weight_hr", w.weight_hr, P, H);
  recurrent::check_bias(op, "bias_ih", w.bias_ih, G);
  recurrent::check_bias(op, "bias_hh", w.bias_hh, G);
  recurrent::check_state(op, "h0", h0, B, P);
  const bool stateful = cell.cell_state;
  if (stateful) {
    recurrent::check_state(op, "c0", c0, B, H);
  } else if (c0.defined()) {
    throw ValueError(name + ": the " + cell.name + " cell has no cell state, but c0 was given");
  }
  recurrent::check_sequence_size(op, T, B, std::max(G, P));
  const std::int64_t num_params = cell.params;
  if (static_cast<std::int64_t>(w.cell_params.size()) != num_params) {
    throw ValueError(name + ": the " + cell.name + " cell takes " + std::to_string(num_params) +
                     " parameter vectors, got " + std::to_string(w.cell_params.size()));
  }
  for (const Tensor& param : w.cell_params) {
    if (!param.defined()) throw ValueError(name + ": a parameter of the " + cell.name + " cell is undefined");
    check_floating(name, "cell parameter", param);
    check_same_shape(op, "cell parameter", Shape{H}, param.shape());
  }
  const bool norm_ih = cell.norm_ih, norm_hh = cell.norm_hh;
  check_layer_norm(name, cell, norm_ih, "ih", w.layernorm_ih_weight, w.layernorm_ih_bias, G);
  check_layer_norm(name, cell, norm_hh, "hh", w.layernorm_hh_weight, w.layernorm_hh_bias, G);
  const bool dropped = masks.recurrent.defined();
  const bool zone_h = masks.zoneout_h.defined();
  const bool zone_c = masks.zoneout_c.defined();
  check_floating(name, "recurrent dropout mask", masks.recurrent);  // undefined ones pass
  check_floating(name, "zoneout_h mask", masks.zoneout_h);
  check_floating(name, "zoneout_c mask", masks.zoneout_c);
  if (dropped) check_same_shape(op, "recurrent dropout mask", Shape{B, P}, masks.recurrent.shape());
  if (zone_h) check_same_shape(op, "zoneout_h mask", Shape{T, B, P}, masks.zoneout_h.shape());
  if (zone_c) {
    if (!stateful) throw ValueError(name + ": zoneout_c needs a cell with a cell state, not " + cell.name);
    check_same_shape(op, "zoneout_c mask", Shape{T, B, H}, masks.zoneout_c.shape());
  }

  const std::int64_t rows = T * B;
  const bool split = cell.split_recurrent;
  // Recorded with the node: the backward multiplies at the same precision.
  const MatmulPrecision precision = matmul_precision();
  const float* b_ih = w.bias_ih.defined() ? w.bias_ih.data() : nullptr;
  const float* b_hh = w.bias_hh.defined() ? w.bias_hh.data() : nullptr;
  // Pre-activations of all steps: the biases plus x W_ih^T, one product that adds them as it
  // stores (project_with_bias). The cell kernel overwrites each step's block with its kept
  // values (e.g. the activated gates), so at B=990, H=100, T=10 no second [T, B, G] buffer and
  // its memory traffic are needed.
  Tensor pre = Tensor::empty({T, B, G});
  const float eps = cell.norm_eps;
  // LayerNorm of the gate rows: the normalised rows and their rstd, for backward.
  Tensor xhat_ih = norm_ih ? Tensor::empty({T, B, G}) : Tensor();
  Tensor rstd_ih = norm_ih ? Tensor::empty({rows}) : Tensor();
  Tensor xhat_hh = norm_hh ? Tensor::empty({T, B, G}) : Tensor();
  Tensor rstd_hh = norm_hh ? Tensor::empty({rows}) : Tensor();
  Tensor recurrent_product = norm_hh ? Tensor::empty({B, G}) : Tensor();
  if (norm_ih) {
    kernels::gemm_at(precision, false, true, rows, G, I, x.data(), I, weight_ih.data(), I,
                     pre.data(), G, false);
    const std::vector<float> shift =
        summed_bias(G, w.layernorm_ih_bias.data(), b_ih, split ? nullptr : b_hh);
    kernels::row_norm_forward(pre.data(), xhat_ih.data(), rstd_ih.data(), pre.data(),
                              w.layernorm_ih_weight.data(), shift.data(), rows, G, eps, false);
  } else {
    recurrent::project_with_bias(precision, pre.data(), rows, G, I, x.data(), weight_ih.data(),
                                 b_ih, split ? nullptr : b_hh);
  }
  // The recurrent row's LayerNorm shift: its bias, and b_hh where pre does not hold it already.
  const std::vector<float> shift_hh =
      norm_hh ? summed_bias(G, w.layernorm_hh_bias.data(), split ? b_hh : nullptr, nullptr)
              : std::vector<float>();

  const std::int64_t extra_width = std::max<std::int64_t>(0, cell.kept - gates) * H;
  Tensor kept_extra = extra_width > 0 ? Tensor::empty({T, B, extra_width}) : Tensor();
  const std::int64_t stats_width = cell.row_stats;
  Tensor row_stats = stats_width > 0 ? Tensor::empty({T, B, stats_width}) : Tensor();
  Tensor pre_h = split ? Tensor::empty({B, G}) : Tensor();
  std::vector<float> params(static_cast<std::size_t>(num_params * H));
  for (std::int64_t k = 0; k < num_params; ++k) {
    std::copy_n(w.cell_params[static_cast<std::size_t>(k)].data(), H, params.data() + k * H);
  }
  // State slots: see recurrent::slot_before / slot_after.
  Tensor h_seq = Tensor::empty({T + 1, B, P});
  // With recurrent dropout, the W_hh product (and its weight gradient) reads h_{t-1} * mask.
  Tensor h_dropped = dropped ? Tensor::empty({T, B, P}) : Tensor();
  const Tensor recurrent_mask = masks.recurrent, zoneout_h = masks.zoneout_h,
               zoneout_c = masks.zoneout_c;
  Tensor c_seq = stateful ? Tensor::empty({T + 1, B, H}) : Tensor();
  Tensor h_unprojected = projected ? Tensor::empty({T, B, H}) : Tensor();
  const std::int64_t first = recurrent::first_slot(T, reverse);
  std::copy_n(recurrent::initial_state(h0, B, P).data(), B * P, h_seq.data() + first * B * P);
  if (stateful) {
    std::copy_n(recurrent::initial_state(c0, B, H).data(), B * H, c_seq.data() + first * B * H);
  }
  const Tensor& weight_hh = w.weight_hh;
  const Tensor& weight_hr = w.weight_hr;
  const StepWeight hh_forward(precision, B, true, P, G, weight_hh.data(), P);
  // Split cells' per-step recurrent rows start from b_hh (zeros without it).
  const std::vector<float> bias_hh_row =
      split && !norm_hh ? summed_bias(G, b_hh, nullptr, nullptr) : std::vector<float>();
  const std::optional<StepWeight> hr_forward =
      projected ? std::optional<StepWeight>(std::in_place, precision, B, true, H, P,
                                            weight_hr.data(), H)
                : std::nullopt;

  for (std::int64_t step = 0; step < T; ++step) {
    const std::int64_t t = recurrent::time_at(step, T, reverse);
    const std::int64_t prev = recurrent::slot_before(t, reverse);
    const std::int64_t next = recurrent::slot_after(t, reverse);
    float* pre_t = pre.data() + t * B * G;
    const float* h_prev = h_seq.data() + prev * B * P;
    float* h_next = h_seq.data() + next * B * P;
    const float* c_prev = stateful ? c_seq.data() + prev * B * H : nullptr;
    float* c_next = stateful ? c_seq.data() + next * B * H : nullptr;
    const float* h_recurrent = h_prev;
    if (dropped) {
      float* hd = h_dropped.data() + t * B * P;
      const float* m = recurrent_mask.data();
      for (std::int64_t i = 0; i < B * P; ++i) hd[i] = h_prev[i] * m[i];
      h_recurrent = hd;
    }
    if (norm_hh) {
      // LN_hh(h W_hh^T) + its shift, into pre_h (split cells) or added to pre_t
      hh_forward.multiply(B, h_recurrent, P, recurrent_product.data(), G, false);
      kernels::row_norm_forward(split ? pre_h.data() : pre_t, xhat_hh.data() + t * B * G,
                                rstd_hh.data() + t * B, recurrent_product.data(),
                                w.layernorm_hh_weight.data(), shift_hh.data(), B, G, eps, !split);
    } else if (split) {
      hh_forward.multiply_onto(B, h_recurrent, P, pre_h.data(), G, bias_hh_row.data());
    } else {
      hh_forward.multiply(B, h_recurrent, P, pre_t, G, true);
    }
    float* h_cell = projected ? h_unprojected.data() + t * B * H : h_next;
    cell.forward({pre_t, split ? pre_h.data() : nullptr, h_prev, c_prev, params.data(), h_cell,
                  c_next, extra_width > 0 ? kept_extra.data() + t * B * extra_width : nullptr, B,
                  H, stats_width > 0 ? row_stats.data() + t * B * stats_width : nullptr});
    if (projected) hr_forward->multiply(B, h_cell, H, h_next, P, false);
    // zoneout: the previous state's weight z, h_t = h~ + z (h_{t-1} - h~)
    if (zone_h) blend_previous(h_next, h_prev, zoneout_h.data() + t * B * P, B * P);
    if (zone_c) blend_previous(c_next, c_prev, zoneout_c.data() + t * B * H, B * H);
    recurrent::carry_finished_rows(h_next, h_prev, B, P, lengths, t);
    if (stateful) recurrent::carry_finished_rows(c_next, c_prev, B, H, lengths, t);
  }

  const std::int64_t last = recurrent::last_slot(T, reverse);
  RecurrentResult result{recurrent::gather_outputs(h_seq, T, B, P, lengths, reverse),
                         recurrent::state_at(h_seq, last, B, P),
                         stateful ? recurrent::state_at(c_seq, last, B, H) : Tensor()};

  std::vector<Tensor> inputs{x, h0, c0, weight_ih, weight_hh, w.bias_ih, w.bias_hh, weight_hr,
                             w.layernorm_ih_weight, w.layernorm_ih_bias, w.layernorm_hh_weight,
                             w.layernorm_hh_bias};
  constexpr std::size_t kFirstCellParam = 12;  // inputs before the cell's own parameters
  std::vector<Tensor> saved{x, weight_ih, weight_hh, weight_hr, w.layernorm_ih_weight,
                            w.layernorm_hh_weight};
  for (const Tensor& param : w.cell_params) {
    inputs.push_back(param);
    saved.push_back(param);  // for the in-place version check only; the data is in `params`
  }
  std::vector<Tensor> outputs{result.output, result.h_n};
  if (stateful) outputs.push_back(result.c_n);
  const auto cell_backward = cell.backward;
  const bool reads_h_prev = cell.reads_h_prev;

  record(name, inputs, outputs, saved, [=](BackwardContext& ctx) {
    const Tensor& x_saved = ctx.saved(0);
    const Tensor& w_ih = ctx.saved(1);
    const Tensor& w_hh = ctx.saved(2);
    const Tensor& w_hr = ctx.saved(3);
    const Tensor& gain_ih = ctx.saved(4);
    const Tensor& gain_hh = ctx.saved(5);
    const float* grad_out = ctx.grad_output(0).data();
    Tensor dh = ctx.grad_output(1).clone();
    Tensor dc = stateful ? ctx.grad_output(2).clone() : Tensor();
    Tensor dh_prev = Tensor::empty({B, P});
    Tensor dc_prev = stateful ? Tensor::empty({B, H}) : Tensor();
    Tensor dpre = Tensor::empty({T, B, G});
    Tensor dpre_h = split ? Tensor::empty({T, B, G}) : Tensor();
    // Cell parameter gradients: each step's per-row terms [B, P*H], summed as they come (a
    // [T, B, P*H] buffer would cost its page faults at every backward).
    Tensor dparams = num_params > 0 ? Tensor::empty({B, num_params * H}) : Tensor();
    Tensor dparams_sum = num_params > 0 ? Tensor::zeros({num_params * H}) : Tensor();
    Tensor dh_cell = projected ? Tensor::empty({B, H}) : Tensor();
    Tensor dh_through_mask = dropped ? Tensor::empty({B, P}) : Tensor();
    Tensor dh_kept = zone_h ? Tensor::empty({B, P}) : Tensor();  // z * dh: straight to h_{t-1}
    Tensor dc_kept = zone_c ? Tensor::empty({B, H}) : Tensor();
    Tensor dh_all = projected ? Tensor::zeros({T, B, P}) : Tensor();
    // norm_hh: d (h W_hh^T) of every step, through LN_hh's backward, and its gain's gradient
    Tensor drecurrent = norm_hh ? Tensor::empty({T, B, G}) : Tensor();
    std::vector<double> dgain_hh = zeros_double(norm_hh ? G : 0);
    const StepWeight hh_backward(precision, B, false, G, P, w_hh.data(), P);
    const std::optional<StepWeight> hr_backward =
        projected
            ? std::optional<StepWeight>(std::in_place, precision, B, false, P, H, w_hr.data(), H)
            : std::nullopt;
    for (std::int64_t step = T - 1; step >= 0; --step) {
      const std::int64_t t = recurrent::time_at(step, T, reverse);
      const std::int64_t prev = recurrent::slot_before(t, reverse);
      float* dh_data = dh.data();
      recurrent::add_output_grad(dh_data, grad_out, t, B, P, lengths);
      // zoneout: z * d h_t goes straight to h_{t-1}; the cell sees (1 - z) * d h_t. The full
      // d h_t stays in dh_data for the rows that have ended (carried through unchanged).
      Tensor dh_proposed = dh;
      if (zone_h) {
        dh_proposed = Tensor::empty({B, P});
        split_zoneout_grad(dh_proposed.data(), dh_kept.data(), dh_data,
                           zoneout_h.data() + t * B * P, B * P);
      }
      Tensor dc_proposed = dc;
      if (zone_c) {
        dc_proposed = Tensor::empty({B, H});
        split_zoneout_grad(dc_proposed.data(), dc_kept.data(), dc.data(),
                           zoneout_c.data() + t * B * H, B * H);
      }
      const float* dh_for_cell = dh_proposed.data();
      if (projected) {
        float* dh_t = dh_all.data() + t * B * P;
        for (std::int64_t b = 0; b < B; ++b) {
          if (recurrent::is_valid(lengths, b, t)) std::copy_n(dh_proposed.data() + b * P, P, dh_t + b * P);
        }
        hr_backward->multiply(B, dh_proposed.data(), P, dh_cell.data(), H, false);
        dh_for_cell = dh_cell.data();
      }
      float* dpre_t = dpre.data() + t * B * G;
      float* dpre_h_t = split ? dpre_h.data() + t * B * G : nullptr;
      float* dparams_t = num_params > 0 ? dparams.data() : nullptr;
      cell_backward({dpre_t, dpre_h_t, reads_h_prev ? dh_prev.data() : nullptr,
                     stateful ? dc_prev.data() : nullptr, dparams_t, dh_for_cell,
                     stateful ? dc_proposed.data() : nullptr, pre.data() + t * B * G,
                     extra_width > 0 ? kept_extra.data() + t * B * extra_width : nullptr,
                     h_seq.data() + prev * B * P,
                     stateful ? c_seq.data() + prev * B * H : nullptr, params.data(), B, H,
                     stats_width > 0 ? row_stats.data() + t * B * stats_width : nullptr});
      zero_finished_rows(dpre_t, B, G, lengths, t);
      zero_finished_rows(dpre_h_t, B, G, lengths, t);
      zero_finished_rows(dparams_t, B, num_params * H, lengths, t);
      if (num_params > 0) kernels::add_column_sums(dparams_sum.data(), dparams_t, B, num_params * H);
      if (zone_c) add_into(dc_prev.data(), dc_kept.data(), B * H);
      if (stateful) recurrent::carry_finished_rows(dc_prev.data(), dc.data(), B, H, lengths, t);
      // d h_{t-1}: the path through W_hh (times the dropout mask), the cell's direct term when it
      // reads h_prev, and zoneout's. Rows that have ended take d h_t unchanged (their d pre is 0).
      const float* dgates_recurrent = split ? dpre_h_t : dpre_t;
      if (norm_hh) {
        float* drecurrent_t = drecurrent.data() + t * B * G;
        kernels::row_norm_backward(drecurrent_t, dgain_hh.data(), dgates_recurrent,
                                   xhat_hh.data() + t * B * G, rstd_hh.data() + t * B,
                                   gain_hh.data(), B, G);
        dgates_recurrent = drecurrent_t;
      }
      if (dropped) {
        hh_backward.multiply(B, dgates_recurrent, G, dh_through_mask.data(), P, false);
        float* through = dh_through_mask.data();
        const float* m = recurrent_mask.data();
        float* to = dh_prev.data();
        for (std::int64_t i = 0; i < B * P; ++i) to[i] = (reads_h_prev ? to[i] : 0.0f) + through[i] * m[i];
      } else {
        hh_backward.multiply(B, dgates_recurrent, G, dh_prev.data(), P, reads_h_prev);
      }
      if (zone_h) add_into(dh_prev.data(), dh_kept.data(), B * P);
      recurrent::carry_finished_rows(dh_prev.data(), dh_data, B, P, lengths, t);
      std::swap(dh, dh_prev);
      if (stateful) std::swap(dc, dc_prev);
    }
    // The recurrent side first: the input side's LayerNorm backward (norm_ih) overwrites dpre.
    const float* dgates_recurrent_all =
        norm_hh ? drecurrent.data() : split ? dpre_h.data() : dpre.data();
    if (ctx.needs_grad(4)) {
      const float* h_prev_all = dropped ? h_dropped.data()
                                        : h_seq.data() + recurrent::slot_before(0, reverse) * B * P;
      ctx.accumulate(4, recurrent::weight_grad(dgates_recurrent_all, rows, G, h_prev_all, P,
                                               precision));
    }
    // Bias gradients: column sums of d pre (and of d pre_h for split cells); a LayerNorm bias
    // adds into the same rows, so it gets the same sums.
    const auto column_sums = [&](const float* values) {
      Tensor sums = Tensor::zeros({G});
      kernels::add_column_sums(sums.data(), values, rows, G);
      return sums;
    };
    const bool any_ih_bias = ctx.needs_grad(5) || ctx.needs_grad(9) || (!split && ctx.needs_grad(6)) ||
                             (!split && ctx.needs_grad(11));
    if (any_ih_bias) {
      const Tensor db = column_sums(dpre.data());
      // the engine copies a gradient it receives twice
      for (const std::size_t input : {std::size_t{5}, std::size_t{9}}) {
        if (ctx.needs_grad(input)) ctx.accumulate(input, db);
      }
      if (!split) {
        for (const std::size_t input : {std::size_t{6}, std::size_t{11}}) {
          if (ctx.needs_grad(input)) ctx.accumulate(input, db);
        }
      }
    }
    if (split && (ctx.needs_grad(6) || ctx.needs_grad(11))) {
      const Tensor db = column_sums(dpre_h.data());
      for (const std::size_t input : {std::size_t{6}, std::size_t{11}}) {
        if (ctx.needs_grad(input)) ctx.accumulate(input, db);
      }
    }
    if (norm_hh && ctx.needs_grad(10)) ctx.accumulate(10, to_tensor(dgain_hh));
    // d (x W_ih^T): through LN_ih's backward, in place
    if (norm_ih && (ctx.needs_grad(0) || ctx.needs_grad(3) || ctx.needs_grad(8))) {
      std::vector<double> dgain_ih = zeros_double(G);
      kernels::row_norm_backward(dpre.data(), dgain_ih.data(), dpre.data(), xhat_ih.data(),
                                 rstd_ih.data(), gain_ih.data(), rows, G);
      if (ctx.needs_grad(8)) ctx.accumulate(8, to_tensor(dgain_ih));
    }
    if (ctx.needs_grad(0)) {
      ctx.accumulate(0, recurrent::input_grad(dpre.data(), T, B, G, w_ih, precision));
    }
    if (ctx.needs_grad(1)) ctx.accumulate(1, dh);
    if (stateful && ctx.needs_grad(2)) ctx.accumulate(2, dc);
    if (ctx.needs_grad(3)) {
      ctx.accumulate(3, recurrent::weight_grad(dpre.data(), rows, G, x_saved.data(), I, precision));
    }
    if (ctx.needs_grad(7)) {
      Tensor dw_hr = Tensor::empty({P, H});
      kernels::gemm_at(precision, true, false, P, H, rows, dh_all.data(), P,
                       h_unprojected.data(), H, dw_hr.data(), H, false);
      ctx.accumulate(7, dw_hr);
    }
    if (num_params > 0) {
      const Tensor& sums = dparams_sum;
      for (std::int64_t k = 0; k < num_params; ++k) {
        const std::size_t input = kFirstCellParam + static_cast<std::size_t>(k);
        if (!ctx.needs_grad(input)) continue;
        Tensor grad = Tensor::empty({H});
        std::copy_n(sums.data() + k * H, H, grad.data());
        ctx.accumulate(input, grad);
      }
    }
  });
  return result;
}

}  // namespace tapegrad
