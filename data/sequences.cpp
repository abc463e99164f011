#include "data/sequences.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

namespace tapegrad::data {

namespace {

// Windows over a row-major [N, F] buffer. Each window is seq_length consecutive rows, i.e. one
// contiguous block of seq_length * F floats, so one memcpy per window.
Sequences windows(const float* series, std::int64_t length, std::int64_t features,
                  std::int64_t seq_length, std::int64_t horizon) {
  if (seq_length <= 0) {
    throw ValueError("create_sequences: seq_length must be positive, got " +
                     std::to_string(seq_length) + " (series length " + std::to_string(length) +
                     ")");
  }
  if (horizon <= 0) {
    throw ValueError("create_sequences: horizon must be positive, got " + std::to_string(horizon));
  }
  // seq_length + horizon - 1 >= length, rearranged so that no sum of the caller's values is formed
  if (seq_length >= length || horizon > length - seq_length) {
    const std::string needed = horizon == 1 ? "seq_length " + std::to_string(seq_length)
                                            : "seq_length " + std::to_string(seq_length) +
                                                  " + horizon " + std::to_string(horizon) + " - 1";
    throw ValueError("create_sequences: " + needed + " must be less than the series length " +
                     std::to_string(length) + " to give at least one window");
  }
  const std::int64_t count = length - seq_length - horizon + 1;
  // count windows of seq_length rows each: up to length^2 / 4 rows, more than any tensor holds
  checked_numel("create_sequences", {count, seq_length, features});
  Tensor inputs = Tensor::empty({count, seq_length, features});
  Tensor targets = Tensor::empty({count, features});
  const std::int64_t window_numel = seq_length * features;
  if (features > 0) {
    for (std::int64_t i = 0; i < count; ++i) {
      std::memcpy(inputs.data() + i * window_numel, series + i * features,
                  static_cast<std::size_t>(window_numel) * sizeof(float));
      std::memcpy(targets.data() + i * features,
                  series + (i + seq_length + horizon - 1) * features,
                  static_cast<std::size_t>(features) * sizeof(float));
    }
  }
  return {std::move(inputs), std::move(targets)};
}

}  // namespace

Sequences create_sequences(const std::vector<float>& series, std::int64_t seq_length,
                           std::int64_t horizon) {
  return windows(series.data(), static_cast<std::int64_t>(series.size()), 1, seq_length, horizon);
}

Sequences create_sequences(const Tensor& series, std::int64_t seq_length, std::int64_t horizon) {
  if (!series.defined()) throw ValueError("create_sequences: the series tensor is undefined");
  if (series.dim() != 1 && series.dim() != 2) {
    throw ShapeError("create_sequences: expected a series of shape [N] or [N, F], got " +
                     format_shape(series.shape()));
  }
  const std::int64_t features = series.dim() == 2 ? series.shape()[1] : 1;
  return windows(series.data(), series.shape()[0], features, seq_length, horizon);
}

// ---------------------------------------------------------------- MinMaxScaler

MinMaxScaler::MinMaxScaler(float feature_min, float feature_max)
    : feature_min_(feature_min), feature_max_(feature_max) {
  if (!(feature_min < feature_max) || !std::isfinite(feature_min) ||
      !std::isfinite(feature_max)) {
    throw ValueError("MinMaxScaler: feature_range minimum must be smaller than maximum, got (" +
                     std::to_string(feature_min) + ", " + std::to_string(feature_max) + ")");
  }
}

void MinMaxScaler::fit_columns(const char* function, const float* values, std::int64_t rows,
                               std::int64_t features) {
  if (rows == 0 || features == 0) {
    throw ValueError(std::string(function) + ": empty input (" + std::to_string(rows) +
                     " samples, " + std::to_string(features) + " features)");
  }
  std::vector<double> low(static_cast<std::size_t>(features));
  std::vector<double> high(static_cast<std::size_t>(features));
  for (std::int64_t i = 0; i < rows * features; ++i) {
    const double value = values[i];
    if (!std::isfinite(value)) {
      throw ValueError(std::string(function) + ": value " + std::to_string(value) +
                       " at index " + std::to_string(i) + " is not finite");
    }
    const auto column = static_cast<std::size_t>(i % features);
    low[column] = i < features ? value : std::min(low[column], value);
    high[column] = i < features ? value : std::max(high[column], value);
  }
  scale_.assign(low.size(), 0.0);
  for (std::size_t f = 0; f < low.size(); ++f) {
    const double range = high[f] - low[f];
    scale_[f] = (feature_max_ - feature_min_) / (range == 0.0 ? 1.0 : range);
  }
  data_min_ = std::move(low);
  data_max_ = std::move(high);
}

void MinMaxScaler::apply(const char* function, const float* in, float* out, std::int64_t numel,
                         std::int64_t features, bool inverse) const {
  if (!fitted()) {
    throw ValueError(std::string(function) + ": this MinMaxScaler is not fitted yet; call fit "
                     "first");
  }
  if (features != num_features()) {
    throw ShapeError(std::string(function) + ": expected " + std::to_string(num_features()) +
                     " features (as in fit), got " + std::to_string(features));
  }
  for (std::int64_t i = 0; i < numel; ++i) {
    const auto f = static_cast<std::size_t>(i % features);
    const double value = in[i];
    // sklearn computes x * scale + (fmin - data_min * scale); subtracting data_min first is the
    // same map but exact at data_min, so a constant feature gives exactly fmin and back.
    out[i] = static_cast<float>(inverse ? (value - feature_min_) / scale_[f] + data_min_[f]
                                        : (value - data_min_[f]) * scale_[f] + feature_min_);
  }
}

namespace {

// Features of a tensor given to the scaler: [N] is one feature, [N, F] is F.
std::int64_t tensor_features(const char* function, const Tensor& values) {
  if (!values.defined()) throw ValueError(std::string(function) + ": the tensor is undefined");
  if (values.dim() != 1 && values.dim() != 2) {
    throw ShapeError(std::string(function) + ": expected shape [N] or [N, F], got " +
                     format_shape(values.shape()));
  }
  return values.dim() == 2 ? values.shape()[1] : 1;
}

}  // namespace

MinMaxScaler& MinMaxScaler::fit(const std::vector<float>& values) {
  fit_columns("MinMaxScaler.fit", values.data(), static_cast<std::int64_t>(values.size()), 1);
  return *this;
}

MinMaxScaler& MinMaxScaler::fit(const Tensor& values) {
  const std::int64_t features = tensor_features("MinMaxScaler.fit", values);
  fit_columns("MinMaxScaler.fit", values.data(), values.shape()[0], features);
  return *this;
}

std::vector<float> MinMaxScaler::transform(const std::vector<float>& values) const {
  std::vector<float> out(values.size());
  apply("MinMaxScaler.transform", values.data(), out.data(),
        static_cast<std::int64_t>(values.size()), 1, false);
  return out;
}

Tensor MinMaxScaler::transform(const Tensor& values) const {
  const std::int64_t features = tensor_features("MinMaxScaler.transform", values);
  Tensor out = Tensor::empty(values.shape());
  apply("MinMaxScaler.transform", values.data(), out.data(), values.numel(), features, false);
  return out;
}

std::vector<float> MinMaxScaler::inverse_transform(const std::vector<float>& values) const {
  std::vector<float> out(values.size());
  apply("MinMaxScaler.inverse_transform", values.data(), out.data(),
        static_cast<std::int64_t>(values.size()), 1, true);
  return out;
}

Tensor MinMaxScaler::inverse_transform(const Tensor& values) const {
  const std::int64_t features = tensor_features("MinMaxScaler.inverse_transform", values);
  Tensor out = Tensor::empty(values.shape());
  apply("MinMaxScaler.inverse_transform", values.data(), out.data(), values.numel(), features,
        true);
  return out;
}

std::vector<float> MinMaxScaler::fit_transform(const std::vector<float>& values) {
  return fit(values).transform(values);
}

Tensor MinMaxScaler::fit_transform(const Tensor& values) { return fit(values).transform(values); }

}  // namespace tapegrad::data
