#pragma once
// Sliding windows over a time series and min-max scaling: the two preprocessing helpers of the
// PyTorch LSTM forecasting tutorials (their `create_sequences` and sklearn's MinMaxScaler).
#include <cstdint>
#include <vector>

#include "autograd/tensor.h"

namespace tapegrad::data {

// inputs [n, seq_length, F] and targets [n, F]; use as `auto [X, y] = create_sequences(...)`.
struct Sequences {
  Tensor inputs;
  Tensor targets;
};

// The tutorials' helper, for i in [0, n):
//   inputs[i]  = series[i : i + seq_length]
//   targets[i] = series[i + seq_length + horizon - 1]
// with n = N - seq_length - horizon + 1. horizon = 1 (the default) is the tutorial's
// `for i in range(len(data) - seq_length)`, predicting the next value. Needs
// 0 < seq_length and seq_length + horizon - 1 < N; otherwise ValueError naming the numbers.
// A univariate series gives inputs [n, seq_length, 1] and targets [n, 1].
Sequences create_sequences(const std::vector<float>& series, std::int64_t seq_length,
                           std::int64_t horizon = 1);
// Multi-feature: series [N, F] (a 1-D [N] counts as [N, 1]) -> inputs [n, seq_length, F],
// targets [n, F]. Copies; the result never requires grad.
Sequences create_sequences(const Tensor& series, std::int64_t seq_length,
                           std::int64_t horizon = 1);

// sklearn.preprocessing.MinMaxScaler: per feature (column), x' = (x - data_min) * scale + fmin with
// scale = (fmax - fmin) / (data_max - data_min). A constant feature (data_max == data_min) uses
// a range of 1 instead, as sklearn does, so it maps to fmin and inverts exactly, never 0/0.
// A std::vector<float> or a 1-D tensor is one feature; a 2-D tensor [N, F] has F features.
// Statistics are kept in double; results are float and never require grad.
class MinMaxScaler {
 public:
  // feature_range = (feature_min, feature_max); ValueError unless feature_min < feature_max.
  explicit MinMaxScaler(float feature_min = 0.0f, float feature_max = 1.0f);

  // ValueError on empty input or a non-finite value (naming its index).
  MinMaxScaler& fit(const std::vector<float>& values);
  MinMaxScaler& fit(const Tensor& values);

  // ValueError before fit; ShapeError when the feature count differs from fit's.
  std::vector<float> transform(const std::vector<float>& values) const;
  Tensor transform(const Tensor& values) const;
  std::vector<float> inverse_transform(const std::vector<float>& values) const;
  Tensor inverse_transform(const Tensor& values) const;

  std::vector<float> fit_transform(const std::vector<float>& values);
  Tensor fit_transform(const Tensor& values);

  bool fitted() const { return !data_min_.empty(); }
  std::int64_t num_features() const { return static_cast<std::int64_t>(data_min_.size()); }
  const std::vector<double>& data_min() const { return data_min_; }
  const std::vector<double>& data_max() const { return data_max_; }
  const std::vector<double>& scale() const { return scale_; }

 private:
  void fit_columns(const char* function, const float* values, std::int64_t rows,
                   std::int64_t features);
  void apply(const char* function, const float* in, float* out, std::int64_t numel,
             std::int64_t features, bool inverse) const;

  double feature_min_;
  double feature_max_;
  std::vector<double> data_min_;
  std::vector<double> data_max_;
  std::vector<double> scale_;  // (fmax - fmin) / (data_max - data_min), or fmax - fmin
};

}  // namespace tapegrad::data
