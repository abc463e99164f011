#pragma once
// The per-step pointwise part of a recurrent cell, as the layer driver (ops/recurrent_layer.cpp)
// sees it: a descriptor of raw-pointer step kernels. The driver owns everything else (checks,
// the all-steps input product, the per-step recurrent product, lengths, reverse, projection, the
// tape node, backward through time and every weight gradient), so a cell is only this.
//
// Built-in cells come from builtin_cell(); a cell of one's own gets its descriptor from
// ops/kernels/cell_kernel.h, which derives both kernels from the cell's math written once.
//
// Dimension letters: B batch, H hidden, G = gates * H.
// Per step the driver hands the forward kernel
//   pre [B, G]    x_t W_ih^T + b_ih + (h_{t-1} W_hh^T + b_hh unless split_recurrent), gate blocks
//                 of width H side by side (LSTM i, f, g, o);
//   pre_h [B, G]  h_{t-1} W_hh^T + b_hh, only for split_recurrent cells (GRU: r * (W_hn h + b_hn));
//   h_prev [B, H], c_prev [B, H] (cells with a cell state), params [P, H] (the cell's own per-unit
//   parameter vectors, e.g. peephole weights), and it writes h [B, H], c [B, H] and the K = kept
//   values backward needs: kept blocks 0..min(K, gates)-1 overwrite pre in place (every kernel
//   reads a lane block before it writes it), blocks gates..K-1 go to kept_extra [B, (K-gates)*H].
// The backward kernel gets grad_h, grad_c (may be null: zero) and the saved values, and WRITES
// (not adds) grad_pre, grad_pre_h (split cells), grad_h_prev (the direct path only, not through
// W_hh; cells that read h_prev), grad_c_prev (cells with a state; may be null) and grad_params
// [B, P*H] (per-row terms; the driver sums the rows of all steps).
// Cells with row-wise steps (ops/cell_math.h: row_norm) also save per row `row_stats` floats (the
// mean and rstd of each normalised row) in the forward's row_stats [B, row_stats], which backward
// reads back. Gate-row normalisation (norm_ih, norm_hh) is the driver's: the kernels see its result.
#include <cstdint>
#include <string>
#include <vector>

namespace tapegrad {

struct CellStepForward {
  float* pre;
  const float* pre_h;
  const float* h_prev;
  const float* c_prev;
  const float* params;
  float* h;
  float* c;
  float* kept_extra;
  std::int64_t B, H;
  float* row_stats = nullptr;  // [B, CellKernel::row_stats]; cells with row_norm only
};

struct CellStepBackward {
  float* grad_pre;
  float* grad_pre_h;
  float* grad_h_prev;
  float* grad_c_prev;
  float* grad_params;
  const float* grad_h;
  const float* grad_c;
  const float* kept;        // the pre buffer after the forward step
  const float* kept_extra;
  const float* h_prev;
  const float* c_prev;
  const float* params;
  std::int64_t B, H;
  const float* row_stats = nullptr;  // what the forward step saved there
};

struct CellKernel {
  std::string name;              // "lstm", "gru", ...
  std::int64_t gates = 1;        // gate blocks: G = gates * H
  bool cell_state = false;       // carries c besides h
  bool split_recurrent = false;  // pre_h kept apart from pre (GRU)
  bool reads_h_prev = false;     // the pointwise math uses h_prev (GRU); backward writes its
                                 // direct gradient. Such cells cannot take a projection.
  std::int64_t kept = 0;         // H-wide blocks saved per step for backward
  std::int64_t params = 0;       // per-unit parameter vectors [H] of the cell
  void (*forward)(const CellStepForward&) = nullptr;
  void (*backward)(const CellStepBackward&) = nullptr;
  std::int64_t row_stats = 0;    // floats saved per row and step by the cell's row_norms
  // Layer normalisation of the gate rows (ops/cell_math.h, Spec::norm_ih / norm_hh), done by the
  // driver with gains and biases [G] (RecurrentWeights::layernorm_*), eps norm_eps.
  bool norm_ih = false;
  bool norm_hh = false;
  float norm_eps = 1e-5f;
};

// "lstm", "gru", "rnn_tanh", "rnn_relu": the hand-written kernels of ops/kernels/*_gates.cpp.
// Throws ValueError naming the known cells for any other name.
const CellKernel& builtin_cell(const std::string& name);

// The kernels derived from the cells' math in ops/cells.h (ops/kernels/cell_kernel.h): "lstm",
// "gru", "rnn_tanh", "rnn_relu", "peephole_lstm", "cifg_lstm", "ln_lstm". The first four match the
// hand-written kernels (tests/kernels/test_cell_kernel.cpp) and are benched against them.
const CellKernel& derived_cell(const std::string& name);

}  // namespace tapegrad
