#pragma once
// Grad mode, anomaly mode and the matmul precision: the documented pieces of global state in
// tapegrad. All three are thread-local, so a guard on one thread never affects another.
//
// Grad mode: when it is off, ops record nothing and return plain tensors, which is what eval loops
// and optimizer steps want.
//
// Anomaly mode (torch.autograd.detect_anomaly): off by default. Under a DetectAnomalyGuard the
// first NaN (or infinity) that a recorded op produces throws AutogradError, in the forward (an
// output of the op) or in the backward (a gradient the op's backward returned, or one a tensor
// hook returned), naming the op, its shapes and where it was recorded: its number among the ops
// recorded under the guard (#1 is the first), the shapes and names of its inputs and the ops that
// produced them. Only ops that record a node are checked (under NoGradGuard nothing is). When it
// is off it costs one predictable branch per recorded op and one per backward call.
namespace tapegrad {

bool is_grad_enabled();
void set_grad_enabled(bool enabled);

// RAII: disables recording for its scope and restores the previous mode on exit (PyTorch's
// torch.no_grad()).
class NoGradGuard {
 public:
  NoGradGuard() : previous_(is_grad_enabled()) { set_grad_enabled(false); }
  ~NoGradGuard() { set_grad_enabled(previous_); }
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool previous_;
};

// RAII: forces grad mode on or off for its scope (torch.set_grad_enabled as a context manager).
class GradModeGuard {
 public:
  explicit GradModeGuard(bool enabled) : previous_(is_grad_enabled()) { set_grad_enabled(enabled); }
  ~GradModeGuard() { set_grad_enabled(previous_); }
  GradModeGuard(const GradModeGuard&) = delete;
  GradModeGuard& operator=(const GradModeGuard&) = delete;

 private:
  bool previous_;
};

// Matmul precision: float32 (the default) or bfloat16. Under bfloat16, matmul, linear and the
// recurrent layers (LSTM, GRU, RNN and every cell on the layer driver) multiply operands rounded
// to bfloat16 and accumulate in float32: twice the multiply-adds per cycle on CPUs with
// AVX512_BF16 (Zen 4, Zen 5, Sapphire Rapids), and the same arithmetic, slower, elsewhere.
// Tensors stay float32, and so does everything else: pointwise math, losses, gradients between
// ops, and the optimizers' master weights and moments. Products too thin to gain (at most 4 rows,
// columns or depth: ops/kernels/matmul_bf16.h, bf16_pays) stay float32. PyTorch's
// nearest is torch.autocast("cpu", torch.bfloat16) with float32 parameters, or
// torch.set_float32_matmul_precision("medium") on hardware that honours it.
// bfloat16 has float32's exponent range, so no loss scaling is needed. An op's backward multiplies
// at the precision its forward ran at, wherever backward() is called. Like grad mode it belongs
// to the thread that sets it: ops called on other threads (a tbb::parallel_for body of one's own)
// need a guard there; tapegrad's own kernels take the caller's precision with them.
enum class MatmulPrecision { float32, bfloat16 };
MatmulPrecision matmul_precision();
void set_matmul_precision(MatmulPrecision precision);

// RAII: the matmul precision for its scope, then the previous one back.
class MatmulPrecisionGuard {
 public:
  explicit MatmulPrecisionGuard(MatmulPrecision precision) : previous_(matmul_precision()) {
    set_matmul_precision(precision);
  }
  ~MatmulPrecisionGuard() { set_matmul_precision(previous_); }
  MatmulPrecisionGuard(const MatmulPrecisionGuard&) = delete;
  MatmulPrecisionGuard& operator=(const MatmulPrecisionGuard&) = delete;

 private:
  MatmulPrecision previous_;
};

struct AnomalyOptions {
  // false: only NaN is an anomaly, so code that produces -inf on purpose (masked_fill before a
  // softmax) can run under the guard.
  bool check_inf = true;
};

namespace detail {
// constinit lets every translation unit read the flag directly (no TLS wrapper call).
extern thread_local constinit bool anomaly_enabled;
}  // namespace detail

inline bool is_anomaly_enabled() { return detail::anomaly_enabled; }
// Turning it on from off restarts the op numbering at #1.
void set_detect_anomaly(bool enabled, AnomalyOptions options = {});
AnomalyOptions anomaly_options();

// RAII: anomaly mode on for its scope, then the previous mode and options back (PyTorch's
// torch.autograd.detect_anomaly() / C++ torch::autograd::DetectAnomalyGuard).
class DetectAnomalyGuard {
 public:
  explicit DetectAnomalyGuard(AnomalyOptions options = {})
      : previous_enabled_(is_anomaly_enabled()), previous_options_(anomaly_options()) {
    set_detect_anomaly(true, options);
  }
  ~DetectAnomalyGuard() {
    // Straight to the flag: re-enabling through set_detect_anomaly would restart the numbering.
    restore(previous_enabled_, previous_options_);
  }
  DetectAnomalyGuard(const DetectAnomalyGuard&) = delete;
  DetectAnomalyGuard& operator=(const DetectAnomalyGuard&) = delete;

 private:
  static void restore(bool enabled, AnomalyOptions options);
  bool previous_enabled_;
  AnomalyOptions previous_options_;
};

}  // namespace tapegrad
