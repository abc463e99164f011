#include "nn/init.h"

#include <cmath>
#include <vector>

#include "autograd/grad_mode.h"

namespace tapegrad::nn::init {

namespace {

struct Fans {
  double in;
  double out;
};

Fans compute_fans(const char* op, const Tensor& tensor) {
  if (tensor.dim() < 2) {
    throw ShapeError(std::string(op) + ": fan in and fan out need a tensor with at least 2 dims, got shape " +
                     format_shape(tensor.shape()));
  }
  double receptive = 1.0;
  for (std::int64_t d = 2; d < tensor.dim(); ++d) receptive *= static_cast<double>(tensor.size(d));
  return {static_cast<double>(tensor.size(1)) * receptive,
          static_cast<double>(tensor.size(0)) * receptive};
}

void check_defined(const char* op, const Tensor& tensor) {
  if (!tensor.defined()) throw ValueError(std::string(op) + ": the tensor is undefined");
}

template <typename Draw>
Tensor fill_with(Tensor tensor, Draw&& draw) {
  NoGradGuard no_grad;
  float* values = tensor.data();
  for (std::int64_t i = 0, n = tensor.numel(); i < n; ++i) values[i] = draw();
  tensor.bump_version();
  return tensor;
}

double fan_for(const char* op, const Tensor& tensor, FanMode mode) {
  const Fans fans = compute_fans(op, tensor);
  const double fan = mode == FanMode::FanIn ? fans.in : fans.out;
  if (fan <= 0) throw ValueError(std::string(op) + ": cannot initialise a tensor with a zero fan");
  return fan;
}

}  // namespace

namespace {

// calculate_gain in double, as Python computes it, so that bounds derived from it round as
// PyTorch's do (computed in float, the relu bound differed from PyTorch's for about a fifth of
// fans).
double gain_in_double(const std::string& nonlinearity, double param) {
  if (nonlinearity == "linear" || nonlinearity == "sigmoid" || nonlinearity == "conv1d" ||
      nonlinearity == "conv2d" || nonlinearity == "conv3d") {
    return 1.0;
  }
  if (nonlinearity == "tanh") return 5.0 / 3.0;
  if (nonlinearity == "relu") return std::sqrt(2.0);
  if (nonlinearity == "leaky_relu") return std::sqrt(2.0 / (1.0 + param * param));
  if (nonlinearity == "selu") return 0.75;
  throw ValueError("calculate_gain: unsupported nonlinearity \"" + nonlinearity +
                   "\" (expected linear, sigmoid, tanh, relu, leaky_relu or selu)");
}

}  // namespace

float calculate_gain(const std::string& nonlinearity, float param) {
  return static_cast<float>(gain_in_double(nonlinearity, param));
}

Tensor uniform_(Tensor tensor, float low, float high, Generator& generator) {
  check_defined("uniform_", tensor);
  if (!(low <= high)) {
    throw ValueError("uniform_: expected low <= high, got " + std::to_string(low) + " and " +
                     std::to_string(high));
  }
  return fill_with(tensor, [&] { return generator.uniform(low, high); });
}

Tensor normal_(Tensor tensor, float mean, float stddev, Generator& generator) {
  check_defined("normal_", tensor);
  if (!(stddev >= 0)) throw ValueError("normal_: expected stddev >= 0, got " + std::to_string(stddev));
  return fill_with(tensor, [&] { return generator.normal(mean, stddev); });
}

Tensor constant_(Tensor tensor, float value) {
  check_defined("constant_", tensor);
  return fill_with(tensor, [value] { return value; });
}

Tensor zeros_(Tensor tensor) { return constant_(tensor, 0.0f); }
Tensor ones_(Tensor tensor) { return constant_(tensor, 1.0f); }

Tensor xavier_uniform_(Tensor tensor, Generator& generator, float gain) {
  check_defined("xavier_uniform_", tensor);
  const Fans fans = compute_fans("xavier_uniform_", tensor);
  // PyTorch's order: std = gain * sqrt(2 / (fan_in + fan_out)), bound = sqrt(3) * std.
  const double stddev = gain * std::sqrt(2.0 / static_cast<double>(fans.in + fans.out));
  const auto bound = static_cast<float>(std::sqrt(3.0) * stddev);
  return fill_with(tensor, [&] { return generator.uniform(-bound, bound); });
}

Tensor xavier_normal_(Tensor tensor, Generator& generator, float gain) {
  check_defined("xavier_normal_", tensor);
  const Fans fans = compute_fans("xavier_normal_", tensor);
  const auto stddev = static_cast<float>(gain * std::sqrt(2.0 / (fans.in + fans.out)));
  return fill_with(tensor, [&] { return generator.normal(0.0f, stddev); });
}

Tensor kaiming_uniform_(Tensor tensor, Generator& generator, float a, FanMode mode,
                        const std::string& nonlinearity) {
  check_defined("kaiming_uniform_", tensor);
  const double stddev =
      gain_in_double(nonlinearity, a) / std::sqrt(fan_for("kaiming_uniform_", tensor, mode));
  const auto bound = static_cast<float>(std::sqrt(3.0) * stddev);
  return fill_with(tensor, [&] { return generator.uniform(-bound, bound); });
}

Tensor kaiming_normal_(Tensor tensor, Generator& generator, float a, FanMode mode,
                       const std::string& nonlinearity) {
  check_defined("kaiming_normal_", tensor);
  const auto stddev = static_cast<float>(gain_in_double(nonlinearity, a) /
                                         std::sqrt(fan_for("kaiming_normal_", tensor, mode)));
  return fill_with(tensor, [&] { return generator.normal(0.0f, stddev); });
}

Tensor orthogonal_(Tensor tensor, Generator& generator, float gain) {
  check_defined("orthogonal_", tensor);
  if (tensor.dim() < 2) {
    throw ShapeError("orthogonal_: expected a tensor with at least 2 dims, got shape " +
                     format_shape(tensor.shape()));
  }
  const std::int64_t rows = tensor.size(0);
  const std::int64_t cols = tensor.numel() / std::max<std::int64_t>(rows, 1);
  if (rows == 0 || cols == 0) return tensor;
  // Orthonormalise the columns of a tall normal matrix q [tall, wide] by modified Gram-Schmidt in
  // double (equivalent to QR with R's diagonal made positive, PyTorch's sign correction), then
  // write q or q^T depending on which side is longer.
  const bool transposed = rows < cols;
  const std::int64_t tall = transposed ? cols : rows;
  const std::int64_t wide = transposed ? rows : cols;
  std::vector<double> q(static_cast<std::size_t>(tall * wide));
  for (double& v : q) v = generator.normal();
  for (std::int64_t j = 0; j < wide; ++j) {
    for (std::int64_t k = 0; k < j; ++k) {
      double dot = 0;
      for (std::int64_t i = 0; i < tall; ++i) dot += q[i * wide + j] * q[i * wide + k];
      for (std::int64_t i = 0; i < tall; ++i) q[i * wide + j] -= dot * q[i * wide + k];
    }
    double norm = 0;
    for (std::int64_t i = 0; i < tall; ++i) norm += q[i * wide + j] * q[i * wide + j];
    norm = std::sqrt(norm);
    for (std::int64_t i = 0; i < tall; ++i) q[i * wide + j] /= norm;
  }
  NoGradGuard no_grad;
  float* values = tensor.data();
  for (std::int64_t r = 0; r < rows; ++r) {
    for (std::int64_t c = 0; c < cols; ++c) {
      const double v = transposed ? q[c * wide + r] : q[r * wide + c];
      values[r * cols + c] = static_cast<float>(gain * v);
    }
  }
  tensor.bump_version();
  return tensor;
}

Tensor lstm_forget_gate_bias_(Tensor bias, float value) {
  check_defined("lstm_forget_gate_bias_", bias);
  if (bias.dim() != 1 || bias.size(0) % 4 != 0) {
    throw ShapeError("lstm_forget_gate_bias_: expected a bias of shape [4*hidden_size], got " +
                     format_shape(bias.shape()));
  }
  const std::int64_t hidden = bias.size(0) / 4;
  NoGradGuard no_grad;
  float* values = bias.data();
  for (std::int64_t j = hidden; j < 2 * hidden; ++j) values[j] = value;
  bias.bump_version();
  return bias;
}

}  // namespace tapegrad::nn::init
