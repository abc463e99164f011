#include "autograd/grad_mode.h"

#include <cstdint>

#include "autograd/anomaly.h"

namespace tapegrad {
namespace {
thread_local bool grad_enabled = true;
thread_local AnomalyOptions anomaly_settings{};
thread_local MatmulPrecision matmul_precision_setting = MatmulPrecision::float32;
// How many ops were recorded since anomaly mode was last turned on: names an op in messages.
thread_local std::uint64_t anomaly_ops_recorded = 0;
}  // namespace

namespace detail {
thread_local constinit bool anomaly_enabled = false;
}  // namespace detail

bool is_grad_enabled() { return grad_enabled; }
void set_grad_enabled(bool enabled) { grad_enabled = enabled; }

MatmulPrecision matmul_precision() { return matmul_precision_setting; }
void set_matmul_precision(MatmulPrecision precision) { matmul_precision_setting = precision; }

void set_detect_anomaly(bool enabled, AnomalyOptions options) {
  if (enabled && !detail::anomaly_enabled) anomaly_ops_recorded = 0;
  detail::anomaly_enabled = enabled;
  anomaly_settings = options;
}

AnomalyOptions anomaly_options() { return anomaly_settings; }

void DetectAnomalyGuard::restore(bool enabled, AnomalyOptions options) {
  detail::anomaly_enabled = enabled;
  anomaly_settings = options;
}

std::uint64_t next_anomaly_sequence_nr() { return ++anomaly_ops_recorded; }

}  // namespace tapegrad
